#!/usr/bin/python3
"""Where the encoder's time goes: torch.profiler over a bundle's frozen encode(), as bert-embed
runs it (same libtorch, same threads, batches cut from length-sorted token ids under bert-embed's
limits), grouped into what each operator is: linear layers, attention products, element-wise
work. Prints a Markdown table and, per group, its share of the time and its GFLOP/s.

    bench/profile_encoder.py BUNDLE IDS.jsonl [--dtype float32|bfloat16] [--threads 2]
                             [--batch-tokens 8192] [--batch-lines 256] [--layer 12]

IDS.jsonl is `bert-embed tokenize`'s output (scripts/bench.sh leaves english.ids.jsonl and
news.ids.jsonl in build/bench/). Debian's python3-torch runs the same libtorch 1.13 as
bert-embed; OpenBLAS picks its kernels from OPENBLAS_CORETYPE or its own table, as it does for
bert-embed when bert-embed does not correct it (see --log-level info).
"""
import argparse
import collections
import ctypes
import json
import sys
import time
from typing import Dict, List, Tuple

import torch

# What each operator of the frozen module is, by its name in the profile.
GROUPS = {
    "linear layers": ("aten::addmm", "aten::linear", "aten::mm", "aten::mkldnn_linear"),
    "attention products": ("aten::bmm", "aten::matmul", "aten::baddbmm"),
    "softmax": ("aten::softmax", "aten::_softmax"),
    "GELU": ("aten::gelu",),
    "LayerNorm": ("aten::layer_norm", "aten::native_layer_norm"),
    "copies and relayouts": ("aten::contiguous", "aten::clone", "aten::copy_", "aten::reshape", "aten::view",
                             "aten::permute", "aten::transpose", "aten::_reshape_alias", "aten::to",
                             "aten::_to_copy", "aten::expand", "aten::select", "aten::slice", "aten::stack",
                             "aten::index_select", "aten::unsqueeze", "aten::empty", "aten::empty_strided",
                             "aten::resize_", "aten::as_strided"),
    "residual adds, masks, scaling": ("aten::add", "aten::add_", "aten::mul", "aten::div", "aten::sub",
                                      "aten::rsub", "aten::masked_fill", "aten::where"),
}


def batches(lengths: List[int], max_tokens: int, max_lines: int, batch_cost: int = 64) -> List[List[int]]:
    """bert-embed's batches (src/pipeline/batcher.cc, plan_batches): the lines sorted longest first,
    cut where the padded tokens plus a fixed cost per batch add up to the least."""
    order = sorted(range(len(lengths)), key=lambda i: -lengths[i])
    cost = [0] + [float("inf")] * len(order)
    start = [0] * (len(order) + 1)
    for end in range(1, len(order) + 1):
        for first in range(end - 1, -1, -1):
            lines = end - first
            padded = lines * lengths[order[first]]
            if lines > max_lines or (lines > 1 and padded > max_tokens):
                break
            if cost[first] + padded + batch_cost < cost[end]:
                cost[end], start[end] = cost[first] + padded + batch_cost, first
    result: List[List[int]] = []
    end = len(order)
    while end > 0:
        result.append(order[start[end]:end])
        end = start[end]
    return result[::-1]


def model_input(rows: List[List[int]]) -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    width = max(len(row) for row in rows)
    ids = torch.zeros(len(rows), width, dtype=torch.long)
    mask = torch.zeros(len(rows), width, dtype=torch.long)
    for i, row in enumerate(rows):
        ids[i, :len(row)] = torch.tensor(row)
        mask[i, :len(row)] = 1
    return ids, mask, torch.zeros_like(ids)


def group_of(name: str) -> str:
    for group, names in GROUPS.items():
        if name in names:
            return group
    return "other"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("bundle")
    parser.add_argument("ids")
    parser.add_argument("--dtype", choices=("float32", "bfloat16"), default="float32")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--batch-tokens", type=int, default=8192)
    parser.add_argument("--batch-lines", type=int, default=256)
    parser.add_argument("--layer", type=int, default=12)
    args = parser.parse_args()

    torch.set_num_threads(args.threads)
    # bert-embed's heap policy (src/model/runtime.cc): large blocks stay in glibc's heap, so that
    # each layer's activations do not fault fresh pages in (Python's default would add that cost).
    libc = ctypes.CDLL(None)
    m_trim_threshold, m_mmap_threshold = -1, -3
    libc.mallopt(m_mmap_threshold, 1 << 30)
    libc.mallopt(m_trim_threshold, 1 << 30)
    config = json.load(open(f"{args.bundle}/bundle.json", encoding="utf-8"))
    hidden, layers = config["hidden_size"], config["num_layers"]
    module = torch.jit.load(f"{args.bundle}/model.pt").eval()
    if args.dtype == "bfloat16":
        module = module.to(torch.bfloat16)
    module = torch.jit.freeze(module, preserved_attrs=["encode"])
    with open(args.ids, encoding="utf-8") as stream:
        texts = [json.loads(line)["ids"] for line in stream]
    lengths = [len(ids) for ids in texts]
    planned = [model_input([texts[i] for i in batch])
               for batch in batches(lengths, args.batch_tokens, args.batch_lines)]
    chosen = [args.layer]

    with torch.inference_mode():
        for ids, mask, types in planned[:2]:  # the profiling executor's first runs
            module.encode(ids, mask, types, chosen, False)
        started = time.perf_counter()
        with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU]) as profile:
            for ids, mask, types in planned:
                module.encode(ids, mask, types, chosen, False)
        wall = time.perf_counter() - started

    self_us: Dict[str, float] = collections.Counter()
    calls: Dict[str, int] = collections.Counter()
    for event in profile.key_averages():
        self_us[event.key] += event.self_cpu_time_total
        calls[event.key] += event.count
    total_us = sum(self_us.values())
    groups: Dict[str, float] = collections.Counter()
    for name, us in self_us.items():
        groups[group_of(name)] += us

    real = sum(lengths)
    padded = sum(ids.numel() for ids, _, _ in planned)
    linear_flops = real * layers * (4 * hidden * hidden + 2 * hidden * 4 * hidden) * 2
    padded_linear_flops = padded * layers * (4 * hidden * hidden + 2 * hidden * 4 * hidden) * 2
    attention_flops = sum(ids.size(0) * ids.size(1) ** 2 * hidden * 4 * layers for ids, _, _ in planned)
    print(f"{len(texts)} lines, {real} real tokens, {padded} padded ({padded / real - 1:.1%} padding), "
          f"{len(planned)} batches; {wall:.2f} s with the profiler on, {real / wall:.0f} real tokens/s; "
          f"{args.threads} threads, {args.dtype}")
    print()
    print("| operator group | share of operator time | seconds | GFLOP/s of its work |")
    print("|---|---:|---:|---:|")
    for group, us in sorted(groups.items(), key=lambda item: -item[1]):
        rate = ""
        if group == "linear layers":
            rate = f"{padded_linear_flops / (us / 1e6) / 1e9:.0f}"
        elif group == "attention products":
            rate = f"{attention_flops / (us / 1e6) / 1e9:.0f}"
        print(f"| {group} | {us / total_us:.1%} | {us / 1e6:.2f} | {rate} |")
    print()
    print(f"real-token linear-layer GFLOP/s over the whole run: {linear_flops / wall / 1e9:.0f}")
    print()
    print("| operator | calls | self seconds | share |")
    print("|---|---:|---:|---:|")
    for name, us in sorted(self_us.items(), key=lambda item: -item[1])[:15]:
        print(f"| {name} | {calls[name]} | {us / 1e6:.3f} | {us / total_us:.1%} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
