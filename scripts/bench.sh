#!/usr/bin/env bash
# `npm run bench [MODEL]`: our CPU and GPU paths (`llm-xray bench --backend all`) and PyTorch
# eager (scripts/bench_pytorch.py: transformers, every part of the trace recorded) on the
# same model, token ids and thread count (1), then our CPU time as a ratio to PyTorch's.
# MODEL (a model folder or a .gguf file) defaults to the first model of www/models/index.json,
# else tests/fixtures/tiny-hf. The machine may be shared, so the two are timed in turns,
# ROUNDS times (the first round also times the GPU), each time the median of REPEAT runs;
# the ratio printed is the median over the rounds of each round's ratio.
# Then the page in headless Chromium (scripts/bench_page.mjs, after scripts/build.sh), unless
# PAGE=0 or MODEL was given (the page bench uses the page's own models).
# Then training (unless TRAIN=0): `llm-xray bench --train` and PyTorch eager
# (scripts/bench_train.py) on the same new GPT-2 (the induction recipe's shape, written by
# `llm-xray train --steps 0`) and the same 20 batches of 16 × 64 tokens, 1 thread each, in
# turns ROUNDS times; steps/s, tokens/s, and our step time as a ratio to PyTorch's.
# TOKENS=16,64,128, REPEAT=9 and ROUNDS=3 override.
set -euo pipefail
cd "$(dirname "$0")/.."
# Mesa's device-select layer complains about XDG_RUNTIME_DIR on every Vulkan instance.
export NODEVICE_SELECT=1

model="${1:-}"
if [ -z "$model" ]; then
  folder=$(python3 -c "import json; print(json.load(open('www/models/index.json'))['models'][0]['folder'])" 2>/dev/null || true)
  if [ -n "$folder" ] && [ -f "www/models/$folder/config.json" ]; then model="www/models/$folder"; else model=tests/fixtures/tiny-hf; fi
fi
tokens="${TOKENS:-16,64,128}"
repeat="${REPEAT:-9}"
rounds="${ROUNDS:-3}"
target="${CARGO_TARGET_DIR:-target}"

echo "== building (release)"
cargo build --release --locked --bin llm-xray
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

have_torch=1
python3 -c "import torch, transformers" 2>/dev/null || have_torch=0
for round in $(seq "$rounds"); do
  backend=cpu
  [ "$round" = 1 ] && backend=all
  echo
  echo "== round $round/$rounds: llm-xray ($backend) on $model"
  "$target/release/llm-xray" bench --model "$model" --backend "$backend" --tokens "$tokens" --repeat "$repeat" | tee "$work/ours.$round"
  if [ "$have_torch" = 1 ]; then
    echo
    echo "== round $round/$rounds: PyTorch (transformers, eager, every part recorded) on $model"
    python3 scripts/bench_pytorch.py "$model" --tokens "$tokens" --threads 1 --repeat "$repeat" | tee "$work/theirs.$round"
  fi
done

page() {
  if [ "${PAGE:-1}" = 0 ] || [ -n "${1:-}" ]; then return; fi
  echo
  echo "== the page (built by scripts/build.sh) in headless Chromium, CPU backend (WebAssembly)"
  bash scripts/build.sh
  node scripts/bench_page.mjs
}

train_bench() {
  if [ "${TRAIN:-1}" = 0 ]; then return; fi
  echo
  echo "== training: a new GPT-2 of the induction recipe's shape, the same batches, 1 thread each"
  "$target/release/llm-xray" train --init layers=2,heads=4,width=64,context=64 --seed 1 --task induction --steps 0 --out "$work/train-init" 2>/dev/null
  local vocab
  vocab=$(python3 -c "import json, sys; print(json.load(open(sys.argv[1]))['vocab_size'])" "$work/train-init/config.json")
  python3 scripts/bench_train.py --make-batches "$work/batches.json" --vocab "$vocab" --count 20 --batch 16 --seq 64
  for round in $(seq "$rounds"); do
    "$target/release/llm-xray" bench --train --model "$work/train-init" --batches "$work/batches.json" | tee "$work/train-ours.$round"
    if [ "$have_torch" = 1 ]; then
      OMP_NUM_THREADS=1 python3 scripts/bench_train.py "$work/train-init" "$work/batches.json" --threads 1 | tee "$work/train-theirs.$round"
    fi
  done
  if [ "$have_torch" = 1 ]; then
    echo "training: our step time / PyTorch eager's (below 1: we are faster), 1 thread each; median over $rounds round(s) [each round]"
    for round in $(seq "$rounds"); do
      awk 'FNR == NR && $1 == "train" && $2 ~ /^[0-9]+$/ { ours = $4; next } $1 == "pytorch-train" { printf "%.2f\n", ours / $4 }' "$work/train-ours.$round" "$work/train-theirs.$round"
    done | sort -n | awk '{ r[NR] = $1; all = all " " $1 } END { printf "train step ratio %.2f [%s ]\n", r[int((NR + 1) / 2)], all }'
  fi
}

if [ "$have_torch" = 0 ]; then
  echo "(python3 with torch and transformers not found: skipped the PyTorch peer)"
  train_bench
  page "${1:-}"
  exit 0
fi
echo
echo "our CPU time / PyTorch time (below 1: we are faster), 1 thread each; median over $rounds round(s) [each round]"
for round in $(seq "$rounds"); do
  awk -v r="$round" '
    FNR == NR && $1 == "cpu" && NF == 6 { trace[$2] = $3; step[$2] = $5; next }
    FNR != NR && $1 == "pytorch" && ($2 in trace) { print $2, r, trace[$2] / $3, step[$2] / $4 }
  ' "$work/ours.$round" "$work/theirs.$round"
done | sort -k1,1n -k2,2n | awk '
  function median(s,   a, n, i, j, t) {
    n = split(s, a, " ")
    for (i = 1; i <= n; i++) for (j = i + 1; j <= n; j++) if (a[j] + 0 < a[i] + 0) { t = a[i]; a[i] = a[j]; a[j] = t }
    return a[int((n + 1) / 2)]
  }
  { tr[$1] = tr[$1] " " sprintf("%.2f", $3); st[$1] = st[$1] " " sprintf("%.2f", $4); if (!($1 in seen)) { seen[$1] = 1; order[++k] = $1 } }
  END { for (i = 1; i <= k; i++) { t = order[i]; printf "%6s tokens   trace %5.2f [%s ]   step %5.2f [%s ]\n", t, median(tr[t]), tr[t], median(st[t]), st[t] } }
'

train_bench
page "${1:-}"
