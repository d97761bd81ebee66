#!/usr/bin/env bash
# `npm test`: every test the project has, on a fresh machine of this kind. Installs what it
# needs (system packages, the wasm target, wasm-bindgen-cli) when missing, then runs the
# Rust tests (CPU, and GPU on Mesa's llvmpipe Vulkan adapter), the wasm tests and the page
# in headless Chromium.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/setup.sh

echo "== Rust tests (CPU reference, tokenizer, parity with HF transformers, bad input)"
cargo test --release --locked

echo "== Browser tests (wasm build, the page in headless Chromium, WebGPU on SwiftShader)"
bash scripts/test-web.sh
