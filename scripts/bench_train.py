#!/usr/bin/env python3
"""The PyTorch peer of `llm-xray bench --train`: training steps of the same GPT-2 folder on
the same batches file, in PyTorch eager (transformers' GPT2LMHeadModel, fp32, no dropout, its
default attention), one thread: forward, mean cross-entropy over every position, backward,
clipping by global norm 1.0, AdamW (lr 3e-3, betas 0.9/0.95, eps 1e-8, weight decay 0.1 on
tensors of two or more dimensions), as the issue's trainer does.

usage: python3 scripts/bench_train.py MODEL_DIR BATCHES.json [--threads 1]
       python3 scripts/bench_train.py --make-batches OUT.json --vocab V --count K --batch B --seq T

Prints `pytorch-train B T STEP_MS STEPS_PER_S TOKENS_PER_S` (the median over the steps after
the first, which is not timed).
"""
import argparse
import json
import random
import sys
import time


def make_batches(a):
    rng = random.Random(1)
    batches = [[[rng.randrange(1, a.vocab) for _ in range(a.seq + 1)] for _ in range(a.batch)] for _ in range(a.count)]
    with open(a.make_batches, "w") as f:
        json.dump(batches, f)


def bench(a):
    import torch
    import torch.nn.functional as F
    from transformers import GPT2LMHeadModel

    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    model = GPT2LMHeadModel.from_pretrained(a.model, torch_dtype=torch.float32, resid_pdrop=0.0, embd_pdrop=0.0, attn_pdrop=0.0)
    model.train()
    params = [p for p in model.parameters() if p.requires_grad]
    decay = [p for p in params if p.dim() >= 2]
    rest = [p for p in params if p.dim() < 2]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": 0.1}, {"params": rest, "weight_decay": 0.0}], lr=3e-3, betas=(0.9, 0.95), eps=1e-8)
    with open(a.batches) as f:
        batches = [torch.tensor(b, dtype=torch.long) for b in json.load(f)]
    times = []
    for k, b in enumerate(batches):
        start = time.perf_counter()
        logits = model(b[:, :-1]).logits
        loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), b[:, 1:].reshape(-1))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        if not torch.isfinite(loss):
            sys.exit(f"error: the loss is {loss.item()} at step {k + 1}")
        if k > 0:
            times.append((time.perf_counter() - start) * 1e3)
    times.sort()
    ms = times[len(times) // 2]
    bsz, t = batches[0].shape[0], batches[0].shape[1] - 1
    print(f"{'pytorch-train':<13} {bsz:>6} {t:>6} {ms:>10.2f} {1e3 / ms:>10.2f} {bsz * t * 1e3 / ms:>12.0f}")


def main():
    p = argparse.ArgumentParser()
    p.add_argument("model", nargs="?")
    p.add_argument("batches", nargs="?")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--make-batches")
    p.add_argument("--vocab", type=int)
    p.add_argument("--count", type=int, default=20)
    p.add_argument("--batch", type=int, default=16)
    p.add_argument("--seq", type=int, default=64)
    a = p.parse_args()
    if a.make_batches:
        make_batches(a)
    elif a.model and a.batches:
        bench(a)
    else:
        p.error("give MODEL_DIR BATCHES.json, or --make-batches OUT.json --vocab V")


if __name__ == "__main__":
    main()
