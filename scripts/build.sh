#!/usr/bin/env bash
# `npm run build`: builds the engine for the browser (release, wasm-bindgen, wasm-opt) into
# www/pkg/ and writes the static site to dist/ (index.html + www/), ready for any static host.
#   scripts/build.sh            wasm + dist/
#   scripts/build.sh --no-opt   skip wasm-opt (faster while developing)
set -euo pipefail
cd "$(dirname "$0")/.."
OPT=1
[ "${1:-}" = "--no-opt" ] && OPT=0

TARGET_DIR="${CARGO_TARGET_DIR:-target}"
echo "== building the engine for wasm32 (release)"
cargo build --lib --release --locked --target wasm32-unknown-unknown
WASM="$TARGET_DIR/wasm32-unknown-unknown/release/llm_xray.wasm"

echo "== wasm-bindgen → www/pkg/"
rm -rf www/pkg
wasm-bindgen --target web --no-typescript --out-dir www/pkg "$WASM"

if [ "$OPT" = 1 ]; then
  if [ -x node_modules/.bin/wasm-opt ]; then WASM_OPT=node_modules/.bin/wasm-opt
  elif command -v wasm-opt >/dev/null; then WASM_OPT=wasm-opt
  else WASM_OPT=""; fi
  if [ -n "$WASM_OPT" ]; then
    echo "== wasm-opt -O3 ($WASM_OPT)"
    "$WASM_OPT" -O3 --enable-bulk-memory --enable-multivalue --enable-mutable-globals \
      --enable-nontrapping-float-to-int --enable-reference-types --enable-sign-ext --enable-simd \
      www/pkg/llm_xray_bg.wasm -o www/pkg/llm_xray_bg.opt.wasm
    mv www/pkg/llm_xray_bg.opt.wasm www/pkg/llm_xray_bg.wasm
  else
    echo "   (no wasm-opt found; the unoptimized module works, only larger)"
  fi
fi
echo "   www/pkg/llm_xray_bg.wasm: $(du -h www/pkg/llm_xray_bg.wasm | cut -f1)"

echo "== dist/"
rm -rf dist
mkdir -p dist
cp index.html dist/
cp -r www dist/www
echo "   static site in dist/ (serve it with: node scripts/serve.mjs dist)"
