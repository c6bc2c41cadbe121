#!/usr/bin/python3
"""Co-process latency of bert-embed: one process keeps bert-embed running on a
pipe, writes one line at a time and waits for that line's vector.

    bench/coprocess_latency.py BINARY BUNDLE [--count 100] [--text "..."] [-- bert-embed options]

Starts `BINARY -m BUNDLE -q [options]` with stdin and stdout pipes (stdin stays
open between lines, as a co-process keeps it), then:
- first vector: process start to the first line's vector (model loading included);
- latency: for each of --count lines, the time from writing the line to reading
  its whole JSONL line back; median and 99th percentile (nearest rank);
- encode time of the same line alone, for comparison: the steady-state cost of
  one line that is a batch of its own, (T_k - T_1) / (k - 1), where T_k is the
  wall time of `BINARY -m BUNDLE -q --batch-tokens 1 [options]` over k copies of
  the line from a file (median of --encode-runs runs). Latency minus this is
  what the co-process path itself adds (the target: 100 ms at most).
Python's standard library only.
"""

import argparse
import json
import math
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import List, Tuple

DEFAULT_TEXT = "The quick brown fox jumps over the lazy dog near the river bank."


class BenchError(Exception):
    """The benchmark could not run: reported as one line, exit status 1."""


def nearest_rank(sorted_values: List[float], fraction: float) -> float:
    """The nearest-rank percentile: the smallest value with at least `fraction` of the values at or below it."""
    return sorted_values[max(0, math.ceil(fraction * len(sorted_values)) - 1)]


def read_vector_line(process: subprocess.Popen, command: List[str]) -> bytes:
    line = process.stdout.readline()
    if not line.endswith(b"\n"):
        stderr = process.stderr.read().decode(errors="replace")
        raise BenchError(f"{' '.join(command)}: output ended (exit status {process.wait()}): {stderr.strip()[-500:]}")
    return line


def coprocess_latencies(command: List[str], text: str, count: int) -> Tuple[float, List[float], int]:
    """Seconds to the first vector, then the latency of each of `count` lines, and the vector size."""
    request = (text + "\n").encode()
    started = time.perf_counter()
    process = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        process.stdin.write(request)
        process.stdin.flush()
        first = read_vector_line(process, command)
        first_vector_seconds = time.perf_counter() - started
        record = json.loads(first)
        dimensions = len(record["embedding"]) if isinstance(record, dict) and "embedding" in record else -1
        latencies = []
        for _ in range(count):
            sent = time.perf_counter()
            process.stdin.write(request)
            process.stdin.flush()
            read_vector_line(process, command)
            latencies.append(time.perf_counter() - sent)
        process.stdin.close()
        stderr = process.stderr.read().decode(errors="replace")
        if process.wait() != 0:
            raise BenchError(f"{' '.join(command)}: exit status {process.returncode}: {stderr.strip()[-500:]}")
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    return first_vector_seconds, latencies, dimensions


def wall_seconds(command: List[str], input_path: Path) -> float:
    with open(input_path, "rb") as lines:
        started = time.perf_counter()
        result = subprocess.run(command, stdin=lines, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        seconds = time.perf_counter() - started
    if result.returncode != 0:
        raise BenchError(f"{' '.join(command)}: exit status {result.returncode}: "
                         f"{result.stderr.decode(errors='replace').strip()[-500:]}")
    return seconds


def encode_seconds(command: List[str], text: str, copies: int, runs: int) -> float:
    """Steady-state seconds per line when each line is a batch of its own (loading excluded)."""
    with tempfile.TemporaryDirectory(prefix="coprocess-latency-") as scratch:
        one, many = Path(scratch, "one.txt"), Path(scratch, "many.txt")
        one.write_text(text + "\n", encoding="utf-8")
        many.write_text((text + "\n") * copies, encoding="utf-8")
        batch_of_one = command + ["--batch-tokens", "1"]
        per_line = []
        for _ in range(runs):
            t_one = wall_seconds(batch_of_one, one)
            t_many = wall_seconds(batch_of_one, many)
            per_line.append((t_many - t_one) / (copies - 1))
    return statistics.median(per_line)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("binary", type=Path, help="the bert-embed binary")
    parser.add_argument("bundle", type=Path, help="the model bundle directory")
    parser.add_argument("--count", type=int, default=100, help="lines written one at a time (default 100)")
    parser.add_argument("--text", default=DEFAULT_TEXT, help="the line written each time")
    parser.add_argument("--encode-copies", type=int, default=50,
                        help="copies of the line for the encode time (default 50; 0 skips it)")
    parser.add_argument("--encode-runs", type=int, default=3, help="runs of the encode measurement (default 3)")
    parser.epilog = "bert-embed options go after --, e.g. -- --threads 2"
    # argparse takes a positional list only next to the other positionals, so the
    # bert-embed options are split off at -- first.
    argv = sys.argv[1:]
    split = argv.index("--") if "--" in argv else len(argv)
    args = parser.parse_args(argv[:split])
    args.options = argv[split + 1:]
    if args.count < 1:
        parser.error("--count must be at least 1")
    if args.encode_copies == 1 or args.encode_copies < 0:
        parser.error("--encode-copies must be 0 or at least 2")
    if "\n" in args.text or not args.text.strip():
        parser.error("--text must be one non-blank line")

    command = [str(args.binary), "-m", str(args.bundle), "-q"] + args.options
    try:
        first_vector, latencies, dimensions = coprocess_latencies(command, args.text, args.count)
        encode = (encode_seconds(command, args.text, args.encode_copies, args.encode_runs)
                  if args.encode_copies else None)
    except (BenchError, OSError) as error:
        print(f"coprocess_latency: {error}", file=sys.stderr)
        return 1

    ordered = sorted(latencies)
    median, p99 = statistics.median(ordered), nearest_rank(ordered, 0.99)
    print(f"command: {' '.join(command)}")
    print(f"line: {args.text!r}; vector size {dimensions}; load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    print(f"first vector (load included): {first_vector * 1000:.1f} ms")
    print(f"latency over {len(ordered)} lines: median {median * 1000:.1f} ms, 99th percentile {p99 * 1000:.1f} ms, "
          f"min {ordered[0] * 1000:.1f} ms, max {ordered[-1] * 1000:.1f} ms")
    if encode is not None:
        print(f"encode alone (batch of one, steady state over {args.encode_copies} lines, median of "
              f"{args.encode_runs}): {encode * 1000:.1f} ms; median latency minus encode: "
              f"{(median - encode) * 1000:.1f} ms, 99th percentile minus encode: {(p99 - encode) * 1000:.1f} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
