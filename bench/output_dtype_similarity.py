#!/usr/bin/python3
"""How well each --output-dtype keeps similarity: the Spearman correlation,
over the STS-B test pairs, of each compact format's pair scores with the
float32 pair cosines of the same model.

    bench/output_dtype_similarity.py BINARY BUNDLE... [--pairs sts-test.csv] [-- bert-embed options]

For each bundle, both sentences of every pair (tab-separated columns 6 and 7;
columns after the 7th are ignored) are embedded in one run per dtype, so int8
is calibrated on all of them. Scores: cosine of the stored numbers for
float32, float16 and int8 (what a vector index computes on them), Hamming
similarity (dimensions minus the Hamming distance) for binary. Prints a
Markdown table: per model and dtype, the bytes per vector and the Spearman
correlation with float32 (and, for reference, with the human scores).
Needs numpy.
"""

import argparse
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

DTYPES = ["float32", "float16", "int8", "binary"]


def read_pairs(path):
    first, second, gold = [], [], []
    with open(path, encoding="utf-8") as rows:
        for row in rows:
            columns = row.rstrip("\n").split("\t")
            if len(columns) < 7:
                continue
            gold.append(float(columns[4]))
            first.append(columns[5])
            second.append(columns[6])
    return first, second, np.array(gold)


def ranks(values):
    """Average ranks, ties sharing the mean of their positions."""
    order = np.argsort(values, kind="mergesort")
    ranked = np.empty(len(values))
    sorted_values = values[order]
    start = 0
    while start < len(values):
        end = start
        while end + 1 < len(values) and sorted_values[end + 1] == sorted_values[start]:
            end += 1
        ranked[order[start:end + 1]] = (start + end) / 2
        start = end + 1
    return ranked


def spearman(a, b):
    return float(np.corrcoef(ranks(a), ranks(b))[0, 1])


def pair_scores(vectors, pairs, dtype, dim):
    a, b = vectors[:pairs], vectors[pairs:]
    if dtype == "binary":
        differing = np.unpackbits(np.bitwise_xor(a, b), axis=-1)[:, :dim].sum(axis=-1)
        return (dim - differing).astype(np.float64)
    a = a.astype(np.float64)
    b = b.astype(np.float64)
    norms = np.linalg.norm(a, axis=-1) * np.linalg.norm(b, axis=-1)
    return (a * b).sum(axis=-1) / np.where(norms > 0, norms, 1)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("binary")
    parser.add_argument("bundles", nargs="+")
    parser.add_argument("--pairs", default=os.path.join(
        os.environ.get("BERT_EMBED_FIXTURES", "/work/shared/fixtures"), "eval/stsb/sts-test.csv"))
    argv = sys.argv[1:]
    split = argv.index("--") if "--" in argv else len(argv)
    args = parser.parse_args(argv[:split])
    extra = argv[split + 1:]
    first, second, gold = read_pairs(args.pairs)
    print(f"{len(first)} STS-B pairs from {args.pairs}; options: {' '.join(extra) or 'defaults'}\n")
    print("| model | dim | dtype | bytes per vector | Spearman vs float32 | Spearman vs STS-B labels |")
    print("|---|---|---|---|---|---|")
    with tempfile.TemporaryDirectory() as folder:
        sentences = Path(folder) / "sentences.txt"
        sentences.write_text("".join(line.replace("\r", " ") + "\n" for line in first + second), encoding="utf-8")
        for bundle in args.bundles:
            reference = None
            for dtype in DTYPES:
                output = Path(folder) / f"{dtype}.npy"
                subprocess.run([args.binary, "-q", "-m", bundle, "-i", str(sentences), "-o", str(output),
                                "--output-dtype", dtype] + extra, check=True)
                vectors = np.load(output)
                if dtype == "float32":
                    dim = vectors.shape[-1]
                scores = pair_scores(vectors, len(first), dtype, dim)
                if reference is None:
                    reference = scores
                print(f"| {Path(bundle).name} | {dim} | {dtype} | {vectors[0].nbytes} | "
                      f"{spearman(scores, reference):.4f} | {spearman(scores, gold):.4f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
