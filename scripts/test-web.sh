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
# A hung browser ends the run rather than CI's clock; the suite takes about 12 minutes on a
# busy 2-core machine (the 0.5B-shaped model from the Hub stand-in alone takes 100 s).
timeout 1800 node tests/browser/run.mjs "$@"
