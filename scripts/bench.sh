#!/usr/bin/env bash
# `npm run bench [MODEL_DIR]`: our CPU and GPU paths (`llm-xray bench --backend all`) and
# PyTorch eager (scripts/bench_pytorch.py) on the same model, token ids and thread count,
# then our CPU time as a ratio to PyTorch's. MODEL_DIR defaults to the first model of
# www/models/index.json, else tests/fixtures/tiny-hf. TOKENS=16,64,128 and REPEAT=5 override.
set -euo pipefail
cd "$(dirname "$0")/.."

model="${1:-}"
if [ -z "$model" ]; then
  folder=$(python3 -c "import json; print(json.load(open('www/models/index.json'))['models'][0]['folder'])" 2>/dev/null || true)
  if [ -n "$folder" ] && [ -f "www/models/$folder/config.json" ]; then model="www/models/$folder"; else model=tests/fixtures/tiny-hf; fi
fi
tokens="${TOKENS:-16,64,128}"
repeat="${REPEAT:-5}"
target="${CARGO_TARGET_DIR:-target}"

echo "== building (release)"
cargo build --release --locked --bin llm-xray
ours=$(mktemp)
theirs=$(mktemp)
trap 'rm -f "$ours" "$theirs"' EXIT

echo "== llm-xray on $model"
"$target/release/llm-xray" bench --model "$model" --backend all --tokens "$tokens" --repeat "$repeat" | tee "$ours"

echo
echo "== PyTorch (transformers GPT2LMHeadModel) on $model"
if python3 -c "import torch, transformers" 2>/dev/null; then
  python3 scripts/bench_pytorch.py "$model" --tokens "$tokens" --threads 1 --repeat "$repeat" | tee "$theirs"
  echo
  echo "our CPU time / PyTorch time (below 1: we are faster), 1 thread each"
  awk '
    FNR == NR && $1 == "cpu" && NF == 6 { trace[$2] = $3; step[$2] = $5; next }
    FNR != NR && $1 == "pytorch" && ($2 in trace) { printf "%6s tokens   trace %6.2f   step %6.2f\n", $2, trace[$2] / $3, step[$2] / $4 }
  ' "$ours" "$theirs"
else
  echo "(python3 with torch and transformers not found: skipping the PyTorch peer)"
fi
