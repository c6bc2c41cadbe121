#!/usr/bin/python3
"""Prints the cosine similarity matrix of bert-embed JSONL vectors (stdin).

Arguments are the sentences, used as row labels.
"""
import json
import math
import sys


def main() -> int:
    labels = sys.argv[1:]
    vectors = [json.loads(line)["embedding"] for line in sys.stdin if line.strip()]
    if len(vectors) != len(labels):
        print(f"similarity_matrix: {len(vectors)} vectors for {len(labels)} sentences", file=sys.stderr)
        return 1

    def cosine(a, b):
        dot = sum(x * y for x, y in zip(a, b))
        return dot / (math.sqrt(sum(x * x for x in a)) * math.sqrt(sum(y * y for y in b)) or 1.0)

    width = max(len(label) for label in labels)
    print(" " * (width + 4) + "".join(f"{f'[{j + 1}]':>7}" for j in range(len(labels))))
    for i, label in enumerate(labels):
        row = "".join(f"{cosine(vectors[i], vectors[j]):7.3f}" for j in range(len(labels)))
        print(f"[{i + 1}] {label:<{width}}{row}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
