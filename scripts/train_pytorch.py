#!/usr/bin/env python3
"""PyTorch's side of `llm-xray train --model M --batches FILE.json`: the same GPT-2 (Hugging
Face GPT2LMHeadModel, eager attention), the same batches, AdamW as nanoGPT configures it
(weight decay on tensors of two or more dimensions only), clip_grad_norm_, mean
cross-entropy over every position.

  --check   run in float64 and compare with llm-xray: each step's loss (relative error)
            and each tensor's update, final - initial (relative error by norm), against
            DIR2 written by `llm-xray train ... --out DIR2`.
  --bench   run in float32 on --threads threads and print steps/s and tokens/s, the
            line scripts/bench.sh reads ("pytorch-train ...").

Examples:
  python3 scripts/train_pytorch.py --model M --batches B.json --check --trained DIR2
  python3 scripts/train_pytorch.py --model M --batches B.json --bench --threads 1
"""
import argparse
import json
import math
import os
import sys
import time

import torch
import torch.nn.functional as F
from transformers import GPT2LMHeadModel


def load(model, dtype):
    m = GPT2LMHeadModel.from_pretrained(model, dtype=dtype, attn_implementation="eager")
    m.train()
    return m


def optimizer(m, a):
    params = dict(m.named_parameters())
    decay = [p for p in params.values() if p.dim() >= 2]
    no_decay = [p for p in params.values() if p.dim() < 2]
    return torch.optim.AdamW([{"params": decay, "weight_decay": a.weight_decay}, {"params": no_decay, "weight_decay": 0.0}],
                             lr=a.lr, betas=(a.beta1, a.beta2), eps=a.eps)


def step(m, opt, batch, clip):
    ids = torch.tensor(batch)
    logits = m(input_ids=ids[:, :-1]).logits
    loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), ids[:, 1:].reshape(-1))
    opt.zero_grad(set_to_none=True)
    loss.backward()
    if clip > 0:
        torch.nn.utils.clip_grad_norm_(m.parameters(), clip)
    opt.step()
    return loss.item()


def check(a, batches):
    import subprocess
    m = load(a.model, torch.float64)
    initial = {n: p.detach().clone() for n, p in m.named_parameters()}
    opt = optimizer(m, a)
    ours = None
    if a.trained is None:
        sys.exit("--check needs --trained DIR2 (the folder `llm-xray train ... --out DIR2` wrote) and --losses FILE (its stdout)")
    with open(a.losses) as f:
        ours = [float(l.split()[3]) for l in f if l.startswith("step ")]
    worst = 0.0
    for k, b in enumerate(batches):
        loss = step(m, opt, b, a.grad_clip)
        e = abs(ours[k] - loss) / abs(loss)
        worst = max(worst, e)
        print(f"step {k + 1} loss pytorch {loss:.8f} llm-xray {ours[k]:.8f} relative error {e:.2e}")
    print(f"worst loss error {worst:.2e} (allowed 1e-4)")
    from safetensors.torch import load_file
    trained = load_file(os.path.join(a.trained, "model.safetensors"))
    d = m.config.n_embd
    worst_u = (0.0, "")
    for n, p in m.named_parameters():
        key = n if n in trained else n.replace("transformer.", "")
        theirs = (p.detach() - initial[n]).flatten()
        mine = (trained[key].to(torch.float64) - initial[n]).flatten()
        if n.endswith("c_attn.bias"):
            keep = torch.ones_like(theirs, dtype=torch.bool)
            keep[d:2 * d] = False
            theirs, mine = theirs[keep], mine[keep]
        e = ((mine - theirs).norm() / theirs.norm()).item() if theirs.norm() > 0 else 0.0
        if e > worst_u[0]:
            worst_u = (e, n)
        if e > 2e-3 or a.verbose:
            print(f"update of {n}: relative error {e:.2e}")
    print(f"worst update error {worst_u[0]:.2e} ({worst_u[1]}; allowed 2e-3)")
    ok = worst <= 1e-4 and worst_u[0] <= 2e-3
    print("agrees with PyTorch float64" if ok else "DIFFERS from PyTorch float64")
    sys.exit(0 if ok else 1)


def bench(a, batches):
    torch.set_num_threads(a.threads)
    m = load(a.model, torch.float32)
    opt = optimizer(m, a)
    step(m, opt, batches[0], a.grad_clip)  # warm-up
    t0, c0 = time.perf_counter(), time.process_time()
    tokens = 0
    for b in batches[1:]:
        step(m, opt, b, a.grad_clip)
        tokens += len(b) * (len(b[0]) - 1)
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    n = len(batches) - 1
    print(f"pytorch-train steps {n} wall_s {wall:.3f} cpu_s {cpu:.3f} steps_per_s {n / wall:.2f} tokens_per_s {tokens / wall:.0f} threads {a.threads}")


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", required=True)
    p.add_argument("--batches", required=True)
    p.add_argument("--lr", type=float, default=3e-3)
    p.add_argument("--weight-decay", type=float, default=0.1)
    p.add_argument("--beta1", type=float, default=0.9)
    p.add_argument("--beta2", type=float, default=0.95)
    p.add_argument("--eps", type=float, default=1e-8)
    p.add_argument("--grad-clip", type=float, default=1.0)
    p.add_argument("--check", action="store_true")
    p.add_argument("--trained")
    p.add_argument("--losses")
    p.add_argument("--verbose", action="store_true")
    p.add_argument("--bench", action="store_true")
    p.add_argument("--threads", type=int, default=1)
    a = p.parse_args()
    with open(a.batches) as f:
        batches = json.load(f)
    if a.check:
        torch.set_num_threads(a.threads)
        check(a, batches)
    else:
        bench(a, batches)


if __name__ == "__main__":
    main()
