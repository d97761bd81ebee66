//! The wasm API for the page (being written).
