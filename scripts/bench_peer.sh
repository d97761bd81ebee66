#!/usr/bin/env bash
# `npm run bench:peer`: our page against wllama (llama.cpp compiled to WebAssembly) on the
# same SmolLM2 GGUF in the same headless Chromium, CPU only (scripts/bench_peer.mjs says what
# each side computes). Fetches SmolLM2 (scripts/models.sh), installs wllama from npm if it is
# missing, builds the page (scripts/build.sh), then times both. ROUNDS=5 overrides.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/models.sh >&2
[ -f node_modules/@wllama/wllama/esm/index.js ] || npm install --no-audit --no-fund >&2
bash scripts/build.sh >&2
node scripts/bench_peer.mjs --rounds "${ROUNDS:-5}"
