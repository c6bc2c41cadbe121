#!/usr/bin/python3
"""Compare a bert-embed bundle's TorchScript model with HuggingFace goldens.

For each golden directory (ids.jsonl, hidden.npy, offsets.npy, pooler.npy) the
token ids are run through the bundle's model one line at a time and in shuffled
padded batches; the report gives the largest absolute difference of every
hidden state (and of the pooler output) from the golden, and the smallest
cosine similarity per token, which is what reduced precision is judged by.

  scripts/check_bundle.py BUNDLE_DIR GOLDEN_DIR... [--model model.int8.pt] [--dtype bfloat16]
                          [--bfloat16-attention]

Exit status 1 when a float32 difference exceeds --tolerance or a cosine falls
below --min-cosine.
"""

import argparse
import hashlib
import json
import random
import sys
from pathlib import Path
from typing import List, Tuple

import numpy as np
import torch


def read_golden(directory: Path) -> Tuple[List[List[int]], List[List[int]], np.ndarray, np.ndarray, np.ndarray]:
    """ids and token types per line (tokens.jsonl where the golden has one: sentence pairs
    have types 0 and 1, XLNet's 2), every hidden state, the line offsets and the pooler."""
    tokens = directory / "tokens.jsonl"
    with open(tokens if tokens.exists() else directory / "ids.jsonl", encoding="utf-8") as stream:
        records = [json.loads(line) for line in stream if line.strip()]
    ids = [record["ids"] if isinstance(record, dict) else record for record in records]
    types = [record.get("token_type_ids") or [0] * len(record["ids"]) if isinstance(record, dict)
             else [0] * len(record) for record in records]
    hidden = np.load(directory / "hidden.npy")
    offsets = np.load(directory / "offsets.npy")
    pooler_path = directory / "pooler.npy"
    pooler = np.load(pooler_path) if pooler_path.exists() else None
    if len(offsets) != len(ids) + 1:
        raise SystemExit(f"{directory}: {len(ids)} lines in ids.jsonl but {len(offsets) - 1} in offsets.npy")
    return ids, types, hidden, offsets, pooler


def verify_sha256(bundle: Path, name: str, info: dict) -> None:
    """The model file must be the one the export wrote (bundle.json format 2): a
    TorchScript file is code, and torch.jit.load runs part of it."""
    recorded = info.get("files", {}).get(name)
    if recorded is None:
        raise SystemExit(f"{bundle / 'bundle.json'}: records no sha256 for {name}; re-export the bundle")
    digest = hashlib.sha256()
    with open(bundle / name, "rb") as stream:
        for chunk in iter(lambda: stream.read(1 << 20), b""):
            digest.update(chunk)
    if digest.hexdigest() != recorded:
        raise SystemExit(f"{bundle / name}: sha256 {digest.hexdigest()} but bundle.json records {recorded}")


def run_batches(module, ids: List[List[int]], types: List[List[int]], batch_size: int, pad_id: int,
                dtype: torch.dtype, order: List[int]) -> Tuple[List[np.ndarray], List[np.ndarray]]:
    """Hidden states [layers+1, length, hidden] and pooler output per line, in input order."""
    hidden = [None] * len(ids)
    pooled = [None] * len(ids)
    for start in range(0, len(order), batch_size):
        lines = order[start:start + batch_size]
        width = max(len(ids[line]) for line in lines)
        input_ids = torch.full((len(lines), width), pad_id, dtype=torch.int64)
        mask = torch.zeros((len(lines), width), dtype=torch.int64)
        token_types = torch.zeros((len(lines), width), dtype=torch.int64)
        for row, line in enumerate(lines):
            input_ids[row, :len(ids[line])] = torch.tensor(ids[line])
            token_types[row, :len(ids[line])] = torch.tensor(types[line])
            mask[row, :len(ids[line])] = 1
        with torch.inference_mode():
            states, pooler = module(input_ids, mask, token_types)
        states = states.to(torch.float32).numpy()
        pooler = pooler.to(torch.float32).numpy()
        for row, line in enumerate(lines):
            hidden[line] = states[:, row, :len(ids[line])]
            pooled[line] = pooler[row] if pooler.size else None
    return hidden, pooled


def cosine(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    a = a.astype(np.float64)
    b = b.astype(np.float64)
    return (a * b).sum(-1) / np.maximum(np.linalg.norm(a, axis=-1) * np.linalg.norm(b, axis=-1), 1e-30)


def compare(name: str, hidden: List[np.ndarray], pooled: List[np.ndarray], golden_hidden: np.ndarray,
            offsets: np.ndarray, golden_pooler) -> dict:
    """Lines without tokens (GPT-2 on an empty line) have no hidden states in the goldens
    and NaN pooled rows: they are left out."""
    lines = [i for i in range(len(hidden)) if hidden[i] is not None]
    ours = np.concatenate([hidden[i] for i in lines], axis=1)
    token_cosine = cosine(ours, golden_hidden)
    mean_cosine = cosine(np.stack([hidden[i][-1].mean(0) for i in lines]),
                         np.stack([golden_hidden[-1, offsets[i]:offsets[i + 1]].mean(0) for i in lines]))
    result = {"mode": name, "hidden_max_abs": float(np.abs(ours - golden_hidden).max()),
              "token_cosine_min": float(token_cosine.min()), "token_cosine_mean": float(token_cosine.mean()),
              "mean_pooled_cosine_min": float(mean_cosine.min())}
    if golden_pooler is not None and pooled[lines[0]] is not None:
        ours_pooler = np.stack([pooled[i] for i in lines])
        result["pooler_max_abs"] = float(np.abs(ours_pooler - golden_pooler[lines]).max())
        result["pooler_cosine_min"] = float(cosine(ours_pooler, golden_pooler[lines]).min())
    return result


def main(argv: List[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("bundle", type=Path)
    parser.add_argument("goldens", type=Path, nargs="+")
    parser.add_argument("--model", default="model.pt", help="model file in the bundle (default model.pt)")
    parser.add_argument("--dtype", choices=["float32", "bfloat16"], default="float32")
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--seed", type=int, default=0, help="seed of the batch shuffle")
    parser.add_argument("--tolerance", type=float, default=1e-4, help="float32 max abs difference allowed")
    parser.add_argument("--min-cosine", type=float, default=0.99, help="reduced precision: lowest cosine allowed")
    args = parser.parse_args(argv)

    info = json.loads((args.bundle / "bundle.json").read_text())
    pad_id = info["tokenizer"]["special_ids"]["pad"]
    dtype = getattr(torch, args.dtype)
    verify_sha256(args.bundle, args.model, info)
    module = torch.jit.load(str(args.bundle / args.model))
    module.to(dtype)
    exact = args.dtype == "float32" and "int8" not in args.model

    failed = False
    for golden in args.goldens:
        ids, types, golden_hidden, offsets, golden_pooler = read_golden(golden)
        if not info["has_pooler"]:
            golden_pooler = None
        with_tokens = [line for line in range(len(ids)) if ids[line]]
        shuffled = list(with_tokens)
        random.Random(args.seed).shuffle(shuffled)
        for mode, batch_size, order in (("single", 1, with_tokens),
                                        (f"batch{args.batch_size}", args.batch_size, shuffled)):
            hidden, pooled = run_batches(module, ids, types, batch_size, pad_id, dtype, order)
            result = compare(mode, hidden, pooled, golden_hidden, offsets, golden_pooler)
            if exact:
                ok = result["hidden_max_abs"] <= args.tolerance and result.get("pooler_max_abs", 0) <= args.tolerance
            else:
                ok = min(result["token_cosine_min"], result.get("pooler_cosine_min", 1.0)) >= args.min_cosine
            failed |= not ok
            print(json.dumps({"bundle": args.bundle.name, "model": args.model, "dtype": args.dtype,
                              "golden": f"{golden.parent.name}/{golden.name}", "lines": len(ids),
                              "ok": ok, **result}))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
