#!/usr/bin/env python3
"""The PyTorch peer of `llm-xray bench`: Hugging Face transformers in eager mode, fp32, on the
same model, the same token ids and the same number of CPU threads, recording what our trace
records (`Parts::all()`), so both sides pay for the same tensors.

usage: python3 scripts/bench_pytorch.py MODEL [--tokens 16,64,128] [--threads 1] [--repeat 9]

MODEL is a Hugging Face folder (GPT-2 or Llama family, AutoModelForCausalLM) or a .gguf file
(loaded as `from_pretrained(dir, gguf_file=name)`, dequantized to fp32 as our loader does).

What is recorded, per run, as references to the tensors the model computes (forward hooks
that keep a module's input or output; nothing is copied beyond what the model itself
allocates; everything is dropped before the next run):
- the embeddings: token-embedding rows (wte / embed_tokens output), GPT-2's position rows
  (wpe output), and `output_hidden_states` (the residual stream after every block);
- per layer: ln_1 (input_layernorm) output; the q/k/v projection (GPT-2: c_attn's fused
  output; Llama: q_proj, k_proj, v_proj outputs); Llama's rotated queries and keys (the
  attention function's inputs); the attention scores q·kᵀ/√hd with the causal mask, before
  softmax, and the probabilities (`output_attentions`); the heads' weighted values (the
  output projection's input) and the attention block's output; the residual after attention
  (ln_2's / post_attention_layernorm's input) and ln_2's output; the MLP's pre-activation and
  activation (GPT-2: c_fc output, act output; Llama: gate_proj and up_proj outputs, and
  down_proj's input act(gate)·up) and its output;
- ln_f (norm) output, the logits of every position (lm_head output), and the softmax over
  the vocabulary of every position's logits (our trace records the probabilities).
Scores come from the eager attention function registered here under the name "recorded":
transformers' eager attention (matmul, scale, additive causal mask, fp32 softmax, matmul;
key/value heads repeated for grouped-query attention), keeping the scores it computes.

Prints one row per length: `pytorch TOKENS FULL_MS STEP_MS` (median ms of a full forward of
TOKENS tokens, and of one KV-cache step after TOKENS-1 cached tokens, every part recorded).
"""
import argparse
import os
import statistics
import time
import warnings

import torch
import transformers
from transformers import AutoModelForCausalLM, AttentionInterface
from transformers.masking_utils import AttentionMaskInterface, eager_mask

ap = argparse.ArgumentParser()
ap.add_argument("model")
ap.add_argument("--tokens", default="16,64,128")
ap.add_argument("--threads", type=int, default=1, help="our CPU path is single-threaded")
ap.add_argument("--repeat", type=int, default=9)
args = ap.parse_args()

warnings.filterwarnings("ignore")  # deprecation notes about cache argument names
transformers.logging.set_verbosity_error()
transformers.logging.disable_progress_bar()
torch.set_num_threads(args.threads)

kept = []  # every recorded tensor of the current run


def recorded_attention(module, query, key, value, attention_mask, scaling=None, dropout=0.0, **kwargs):
    """transformers' eager attention (GPT-2's and Llama's are the same ops), keeping the
    queries and keys it is given (Llama: rotated) and the masked scores it computes."""
    if scaling is None:
        scaling = query.size(-1) ** -0.5
    kept.append(query)
    kept.append(key)
    groups = query.shape[1] // key.shape[1]
    if groups > 1:  # grouped-query attention: each key/value head serves `groups` query heads
        key = key.repeat_interleave(groups, dim=1)
        value = value.repeat_interleave(groups, dim=1)
    scores = torch.matmul(query, key.transpose(2, 3)) * scaling
    if attention_mask is not None:
        scores = scores + attention_mask
    kept.append(scores)
    probs = torch.nn.functional.softmax(scores, dim=-1, dtype=torch.float32).to(query.dtype)
    out = torch.matmul(probs, value).transpose(1, 2).contiguous()
    return out, probs


AttentionInterface.register("recorded", recorded_attention)
AttentionMaskInterface.register("recorded", eager_mask)

path = args.model
if path.endswith(".gguf"):
    model = AutoModelForCausalLM.from_pretrained(os.path.dirname(os.path.abspath(path)), gguf_file=os.path.basename(path), attn_implementation="recorded", dtype=torch.float32)
else:
    model = AutoModelForCausalLM.from_pretrained(path, attn_implementation="recorded", dtype=torch.float32)
model = model.eval()
cfg = model.config
n_ctx = getattr(cfg, "n_positions", None) or cfg.max_position_embeddings


def keep_output(module, inputs, output):
    kept.append(output[0] if isinstance(output, tuple) else output)


def keep_input(module, inputs):
    kept.append(inputs[0])


def keep_input_and_output(module, inputs, output):
    kept.append(inputs[0])
    kept.append(output)


def keep_logits_and_probs(module, inputs, logits):
    kept.append(logits)
    kept.append(torch.softmax(logits, dim=-1))


if cfg.model_type == "gpt2":
    body = model.transformer
    body.wte.register_forward_hook(keep_output)
    body.wpe.register_forward_hook(keep_output)
    for block in body.h:
        block.ln_1.register_forward_hook(keep_output)
        block.attn.c_attn.register_forward_hook(keep_output)  # q | k | v
        block.attn.c_proj.register_forward_pre_hook(keep_input)  # the heads' outputs
        block.attn.register_forward_hook(keep_output)  # attention output
        block.ln_2.register_forward_hook(keep_input_and_output)  # residual mid, ln_2
        block.mlp.c_fc.register_forward_hook(keep_output)  # pre-activation
        block.mlp.act.register_forward_hook(keep_output)  # activation
        block.mlp.register_forward_hook(keep_output)  # MLP output
    body.ln_f.register_forward_hook(keep_output)
else:  # Llama family
    body = model.model
    body.embed_tokens.register_forward_hook(keep_output)
    for block in body.layers:
        block.input_layernorm.register_forward_hook(keep_output)
        for proj in (block.self_attn.q_proj, block.self_attn.k_proj, block.self_attn.v_proj):
            proj.register_forward_hook(keep_output)
        block.self_attn.o_proj.register_forward_pre_hook(keep_input)  # the heads' outputs
        block.self_attn.register_forward_hook(keep_output)  # attention output
        block.post_attention_layernorm.register_forward_hook(keep_input_and_output)
        block.mlp.gate_proj.register_forward_hook(keep_output)
        block.mlp.up_proj.register_forward_hook(keep_output)
        block.mlp.down_proj.register_forward_pre_hook(keep_input)  # act(gate)·up
        block.mlp.register_forward_hook(keep_output)  # MLP output
    body.norm.register_forward_hook(keep_output)
model.lm_head.register_forward_hook(keep_logits_and_probs)

print(f"pytorch: torch {torch.__version__}, {torch.get_num_threads()} thread(s), eager attention, fp32, {cfg.model_type}, every part recorded")
print(f"{'backend':<7} {'tokens':>6} {'trace ms':>12} {'step ms':>12}")
kw = dict(output_attentions=True, output_hidden_states=True, return_dict=True)


def timed(f):
    kept.clear()
    t0 = time.perf_counter()
    out = f()
    ms = (time.perf_counter() - t0) * 1e3
    del out
    kept.clear()
    return ms


with torch.inference_mode():
    # Same ids as `llm-xray bench`: (i · 7919) mod vocab_size.
    first = True
    for t in [int(x) for x in args.tokens.split(",")]:
        if t < 2 or t > n_ctx:
            continue
        ids = torch.tensor([[(i * 7919) % cfg.vocab_size for i in range(t)]])
        if first:
            timed(lambda: model(ids, **kw))  # warm-up, as ours
            first = False
        full, steps = [], []
        for _ in range(args.repeat):  # interleaved, as ours
            full.append(timed(lambda: model(ids, use_cache=False, **kw)))
            past = model(ids[:, :-1], use_cache=True).past_key_values
            kept.clear()
            steps.append(timed(lambda: model(ids[:, -1:], past_key_values=past, use_cache=True, **kw)))
        print(f"{'pytorch':<7} {t:>6} {statistics.median(full):>12.2f} {statistics.median(steps):>12.3f}")
