#!/usr/bin/env bash
# The page in headless Chromium: builds the wasm (release) and dist/, then runs
# tests/browser/run.mjs against the CLI's answers. Called by scripts/test.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
CLI="${LLM_XRAY_CLI:-${CARGO_TARGET_DIR:-target}/release/llm-xray}"
if [ ! -x "$CLI" ]; then
  echo "== building the CLI (cargo build --release), which the browser tests compare against"
  cargo build --release --locked --bin llm-xray
fi
export LLM_XRAY_CLI="$(cd "$(dirname "$CLI")" && pwd)/$(basename "$CLI")"
bash scripts/build.sh
timeout 600 node tests/browser/run.mjs "$@"
