#!/usr/bin/env python3
"""Writes a GPT-2-small-shaped checkpoint with random weights (124M parameters: 12 layers,
12 heads, width 768, 50257-token vocabulary, 1024-token context) for the GPU tests and the
benchmark: the real model's shapes without downloading it. Not committed (~500 MB).

usage: python3 scripts/make_gpt2_small_random.py [OUT_DIR]   (default: target/gpt2-small-random)

Uses the real GPT-2 tokenizer from tests/fixtures/gpt2/tokenizer.json. Deterministic (seed 0).
"""
import os
import shutil
import sys

import torch
from transformers import GPT2Config, GPT2LMHeadModel

root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(root, "target", "gpt2-small-random")
os.makedirs(out, exist_ok=True)
torch.manual_seed(0)
config = GPT2Config()  # the defaults are GPT-2 small
model = GPT2LMHeadModel(config).eval()
model.save_pretrained(out, safe_serialization=True)
shutil.copy(os.path.join(root, "tests", "fixtures", "gpt2", "tokenizer.json"), os.path.join(out, "tokenizer.json"))
n = sum(p.numel() for p in model.parameters())
print(f"wrote {out}: {n / 1e6:.1f}M parameters")
