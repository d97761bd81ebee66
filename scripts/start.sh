#!/usr/bin/env bash
# `npm start`: sets up what is missing (wasm target, wasm-bindgen-cli, npm packages, …),
# builds the page (release wasm, wasm-opt) and serves it on localhost, printing the URL.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/setup.sh
bash scripts/build.sh
exec node scripts/serve.mjs dist "${PORT:-8080}"
