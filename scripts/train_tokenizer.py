#!/usr/bin/env python3
"""Byte-level BPE tokenizer for the default model, trained on the training split only.

The vocabulary size is chosen by experiment (`--sweep`): for each candidate size, the share
of the held-out plays' words (GPT-2 pre-tokenizer pieces that contain a letter) that come out
as one whole token. Users should see "dog", not "d","og"; a larger vocabulary costs
embedding parameters and unembedding time, so we take the smallest size past the knee.

Usage: python3 scripts/train_tokenizer.py --corpus target/corpus --vocab 4096 --out DIR
       python3 scripts/train_tokenizer.py --corpus target/corpus --sweep 1024,2048,4096,8192
"""
import argparse, json, os, re
from tokenizers import Tokenizer, models, pre_tokenizers, decoders, trainers

EOT = "<|endoftext|>"


def train(corpus, vocab):
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    tr = trainers.BpeTrainer(vocab_size=vocab, special_tokens=[EOT], show_progress=False,
                             initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tok.train([os.path.join(corpus, "train.txt")], tr)
    return tok


def whole_word_share(tok, text):
    pieces = pre_tokenizers.ByteLevel(add_prefix_space=False).pre_tokenize_str(text)
    words = [p for p, _ in pieces if re.search(r"[A-Za-z]", p)]
    counts = {}
    for w in words:
        counts[w] = counts.get(w, 0) + 1
    whole = 0
    for w, c in counts.items():
        # w is in byte-level chars; a word is whole when it is itself a vocabulary entry.
        if tok.token_to_id(w) is not None:
            whole += c
    total_tokens = len(tok.encode(text).ids)
    return whole / len(words), total_tokens


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--corpus", default="target/corpus")
    ap.add_argument("--vocab", type=int, default=4096)
    ap.add_argument("--out")
    ap.add_argument("--sweep")
    a = ap.parse_args()
    val = open(os.path.join(a.corpus, "val.txt"), encoding="utf-8").read()
    if a.sweep:
        print("vocab  whole-word share (held-out)  bytes/token (held-out)")
        for v in [int(x) for x in a.sweep.split(",")]:
            share, n = whole_word_share(train(a.corpus, v), val)
            print(f"{v:5d}  {100*share:26.1f}%  {len(val.encode())/n:22.2f}")
        return
    tok = train(a.corpus, a.vocab)
    os.makedirs(a.out, exist_ok=True)
    path = os.path.join(a.out, "tokenizer.json")
    tok.save(path)
    share, n = whole_word_share(tok, val)
    print(f"tokenizer: vocab {tok.get_vocab_size()}, {100*share:.1f}% of held-out words are one token, "
          f"{len(val.encode())/n:.2f} bytes/token -> {path}")


if __name__ == "__main__":
    main()
