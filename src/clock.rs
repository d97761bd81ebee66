//! Milliseconds for run timings. `std::time::Instant` panics on wasm32-unknown-unknown, so
//! the browser build asks the page's `performance.now()`.

#[cfg(not(target_arch = "wasm32"))]
pub fn now_ms() -> f64 {
    use std::sync::OnceLock;
    use std::time::Instant;
    static START: OnceLock<Instant> = OnceLock::new();
    START.get_or_init(Instant::now).elapsed().as_secs_f64() * 1e3
}

/// `performance.now()` of the global scope, which is a Window on the page and a
/// WorkerGlobalScope in the worker; looked up by name so both work.
#[cfg(target_arch = "wasm32")]
pub fn now_ms() -> f64 {
    use wasm_bindgen::JsCast;
    js_sys::Reflect::get(&js_sys::global(), &"performance".into()).ok().and_then(|p| p.dyn_into::<web_sys::Performance>().ok()).map_or(0.0, |p| p.now())
}
