#!/usr/bin/env python3
"""The PyTorch peer of `llm-xray bench`: times Hugging Face transformers' GPT2LMHeadModel
(eager attention, output_attentions and output_hidden_states on, as our trace records every
part) on the same model folder, the same token ids and the same number of CPU threads.

usage: python3 scripts/bench_pytorch.py MODEL_DIR [--tokens 16,64,128] [--threads 1] [--repeat 5]

Prints one row per length: `pytorch TOKENS FULL_MS STEP_MS` (median ms of a full forward of
TOKENS tokens, and of one KV-cache step after TOKENS-1 cached tokens).
"""
import argparse
import statistics
import time

import warnings

import torch
from transformers import GPT2LMHeadModel

ap = argparse.ArgumentParser()
ap.add_argument("model")
ap.add_argument("--tokens", default="16,64,128")
ap.add_argument("--threads", type=int, default=1, help="our CPU path is single-threaded")
ap.add_argument("--repeat", type=int, default=5)
args = ap.parse_args()

warnings.filterwarnings("ignore", category=FutureWarning)  # past_key_values → cache rename
torch.set_num_threads(args.threads)
model = GPT2LMHeadModel.from_pretrained(args.model, attn_implementation="eager", dtype=torch.float32).eval()
cfg = model.config
print(f"pytorch: torch {torch.__version__}, {torch.get_num_threads()} thread(s), eager attention, fp32")
print(f"{'backend':<7} {'tokens':>6} {'trace ms':>12} {'step ms':>12}")
kw = dict(output_attentions=True, output_hidden_states=True, return_dict=True)


def ms(f):
    t0 = time.perf_counter()
    f()
    return (time.perf_counter() - t0) * 1e3


with torch.inference_mode():
    # Same ids as `llm-xray bench`: (i · 7919) mod vocab_size.
    first = True
    for t in [int(x) for x in args.tokens.split(",")]:
        if t < 2 or t > cfg.n_positions:
            continue
        ids = torch.tensor([[(i * 7919) % cfg.vocab_size for i in range(t)]])
        if first:
            model(ids, **kw)  # warm-up, as ours
            first = False
        full = [ms(lambda: model(ids, use_cache=False, **kw)) for _ in range(args.repeat)]
        steps = []
        for _ in range(args.repeat):
            past = model(ids[:, :-1], use_cache=True).past_key_values
            steps.append(ms(lambda: model(ids[:, -1:], past_key_values=past, use_cache=True, **kw)))
        print(f"{'pytorch':<7} {t:>6} {statistics.median(full):>12.2f} {statistics.median(steps):>12.3f}")
