#!/usr/bin/python3
"""The bert-embed benchmark of issue 5 (run it through scripts/bench.sh).

Measures, in one run on this machine: the libtorch GEMM peak per dtype
(bench/gemm_bench, a 1024x768 by 768x3072 product), then bert-embed with a
BERT-base-sized bundle (random weights, exported once and cached) over the
English corpus and a prefix of the news corpus, mean pooling, for float32,
bfloat16 and int8; and prints one table.

Definitions:
- lines/s and real tokens/s are steady-state rates: (lines - 1) / (T_corpus - T_1),
  where T_1 is the wall time of the same command on a 1-line input, so that
  model loading is not counted; "whole run" lines/s is lines / T_corpus.
- padding overhead: padded tokens computed per real token, minus 1 (from the
  summary line bert-embed prints on stderr).
- % of GEMM peak: real tokens/s x the FLOPs of BERT-base's linear layers per
  token (12 x (4x768x768 + 2x768x3072) x 2 = 169.9 MFLOP; attention scores,
  the pooler and the embeddings are not counted) / the GEMM peak of the dtype.
- time to first vector: process start to the first JSONL line on a pipe, 1-line input.
- peak RSS: the largest resident set of the process (getrusage), over the corpus runs.
- cosine: of each line's pooled vector to the float32 one (min and mean over lines).
Every time is the median of --runs runs.
"""

import argparse
import hashlib
import json
import os
import platform
import re
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Dict, List, NamedTuple, Tuple

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
DTYPES = ("float32", "bfloat16", "int8")
THREADS = 2
HIDDEN, INTERMEDIATE, LAYERS = 768, 3072, 12
LINEAR_FLOP_PER_TOKEN = LAYERS * (4 * HIDDEN * HIDDEN + 2 * HIDDEN * INTERMEDIATE) * 2
SUMMARY = re.compile(r"(\d+) lines, (\d+) tokens \((\d+) truncated lines, ([\d.]+)% padding\)")


class BenchError(Exception):
    """A step of the benchmark failed: reported as one line, exit status 1."""


class Run(NamedTuple):
    seconds: float
    max_rss_bytes: int
    stderr: str


def run_measured(command: List[str], stdout=subprocess.DEVNULL) -> Run:
    """Runs a command to completion; wall time and the child's own peak RSS."""
    started = time.perf_counter()
    process = subprocess.Popen(command, stdout=stdout, stderr=subprocess.PIPE, text=True)
    stderr = process.stderr.read()
    _, status, usage = os.wait4(process.pid, 0)
    seconds = time.perf_counter() - started
    process.returncode = os.waitstatus_to_exitcode(status)
    if process.returncode != 0:
        raise BenchError(f"{' '.join(command)}: exit status {process.returncode}: {stderr.strip()[-500:]}")
    return Run(seconds, usage.ru_maxrss * 1024, stderr)


def time_to_first_line(command: List[str]) -> float:
    """Seconds from spawning `command` to the first complete line on its stdout (a pipe)."""
    started = time.perf_counter()
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    first = process.stdout.readline()
    seconds = time.perf_counter() - started
    process.stdout.read()
    stderr = process.stderr.read().decode(errors="replace")
    if process.wait() != 0 or not first.endswith(b"\n"):
        raise BenchError(f"{' '.join(command)}: no output line (exit status {process.returncode}): {stderr[-500:]}")
    return seconds


def load_average() -> str:
    return " ".join(f"{value:.1f}" for value in os.getloadavg())


def cpu_description() -> str:
    model, flags = "unknown CPU", set()
    with open("/proc/cpuinfo", encoding="utf-8") as stream:
        for line in stream:
            key, _, value = line.partition(":")
            if key.strip() == "model name":
                model = value.strip()
            elif key.strip() == "flags":
                flags = set(value.split())
    features = [flag for flag in ("avx512f", "avx512_vnni", "avx512_bf16", "amx_bf16", "amx_int8") if flag in flags]
    return f"{model}, {os.cpu_count()} logical cores, {', '.join(features) or 'no AVX-512'}"


def file_digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def cached_bundle(bench_dir: Path, python: str) -> Path:
    """The BERT-base bundle with random weights, re-exported when the exporter changes."""
    bundle = bench_dir / "bert-base-random"
    exporter = ROOT / "scripts" / "export_model.py"
    vocab = ROOT.parent / "shared" / "fixtures" / "vocab" / "bert-base-uncased"
    stamp = bench_dir / "bert-base-random.sha256"
    key = file_digest(exporter)
    if stamp.exists() and stamp.read_text().strip() == key and (bundle / "model.int8.pt").exists():
        return bundle
    print(f"bench: exporting {bundle} (BERT-base size, random weights, --int8)", file=sys.stderr)
    subprocess.run([python, str(exporter), "--force", "--int8", "--random-init", "--preset", "bert-base",
                    "--vocab", str(vocab), str(bundle)], check=True)
    stamp.write_text(key + "\n")
    return bundle


def gemm_peak(gemm_bench: Path, dtype: str, runs: int) -> float:
    """Median GFLOP/s of gemm_bench over `runs` invocations (each a median itself)."""
    rates = []
    for _ in range(runs):
        output = subprocess.run([str(gemm_bench), "--dtype", dtype, "--threads", str(THREADS)],
                                check=True, capture_output=True, text=True).stdout
        rates.append(json.loads(output)["gflops"])
    return statistics.median(rates)


class CorpusRun(NamedTuple):
    lines: int
    tokens: int
    padded_tokens: float
    seconds: float
    max_rss_bytes: int


def parse_summary(stderr: str, command: List[str]) -> Tuple[int, int, float]:
    """Lines, real tokens and padded tokens from the summary line bert-embed prints."""
    match = SUMMARY.search(stderr)
    if match is None:
        raise BenchError(f"{' '.join(command)}: no summary line on stderr: {stderr.strip()[-300:]}")
    lines, tokens, _, padding_percent = match.groups()
    padded = int(tokens) / (1.0 - float(padding_percent) / 100.0)
    return int(lines), int(tokens), padded


def embed_command(binary: Path, bundle: Path, dtype: str, corpus: Path, output: str) -> List[str]:
    return [str(binary), "-m", str(bundle), "-i", str(corpus), "-o", output, "--pooling", "mean",
            "--threads", str(THREADS), "--dtype", dtype]


class Startup(NamedTuple):
    one_line_seconds: float    # the whole run on a 1-line input
    first_vector_seconds: float


def measure_startup(binary: Path, bundle: Path, dtypes: List[str], one_line: Path, bench_dir: Path,
                    runs: int) -> Dict[str, Startup]:
    startup = {}
    for dtype in dtypes:
        whole = [run_measured(embed_command(binary, bundle, dtype, one_line, str(bench_dir / "one-line.npy"))).seconds
                 for _ in range(runs)]
        first = [time_to_first_line(embed_command(binary, bundle, dtype, one_line, "-") + ["--format", "jsonl"])
                 for _ in range(runs)]
        startup[dtype] = Startup(statistics.median(whole), statistics.median(first))
    return startup


def measure_corpus(binary: Path, bundle: Path, dtypes: List[str], corpus: Path, bench_dir: Path,
                   runs: int) -> Tuple[Dict[str, CorpusRun], Dict[str, np.ndarray]]:
    """Runs every dtype in turn, `runs` rounds, so that a change of load hits them alike."""
    outputs = {dtype: bench_dir / f"out.{corpus.stem}.{dtype}.npy" for dtype in dtypes}
    measured: Dict[str, List[Run]] = {dtype: [] for dtype in dtypes}
    for _ in range(runs):
        for dtype in dtypes:
            print(f"bench: {dtype} on {corpus.name} ...", file=sys.stderr)
            measured[dtype].append(run_measured(embed_command(binary, bundle, dtype, corpus, str(outputs[dtype]))))
    results = {}
    for dtype, runs_of_dtype in measured.items():
        lines, tokens, padded = parse_summary(runs_of_dtype[0].stderr, embed_command(binary, bundle, dtype, corpus, ""))
        results[dtype] = CorpusRun(lines, tokens, padded, statistics.median(run.seconds for run in runs_of_dtype),
                                   max(run.max_rss_bytes for run in runs_of_dtype))
    return results, {dtype: np.load(path) for dtype, path in outputs.items()}


def cosines(vectors: np.ndarray, reference: np.ndarray) -> np.ndarray:
    a = vectors.astype(np.float64)
    b = reference.astype(np.float64)
    return (a * b).sum(1) / np.maximum(np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1), 1e-30)


def prefix_file(source: Path, lines: int, destination: Path) -> Path:
    with open(source, encoding="utf-8") as stream:
        head = [line for _, line in zip(range(lines), stream)]
    if len(head) < lines:
        raise BenchError(f"{source}: has {len(head)} lines, fewer than the {lines} asked for")
    destination.write_text("".join(head), encoding="utf-8")
    return destination


def repeated_file(source: Path, lines: int, destination: Path) -> Path:
    """`lines` lines cycling through `source`."""
    base = source.read_text(encoding="utf-8").splitlines(keepends=True)
    with open(destination, "w", encoding="utf-8") as stream:
        for index in range(lines):
            stream.write(base[index % len(base)])
    return destination


def rss_flatness(binary: Path, bundle: Path, dtype: str, english: Path, sizes: List[int], bench_dir: Path) -> None:
    print(f"\nPeak RSS against input size ({dtype}, JSONL to a file, default options):")
    peaks = []
    for size in sizes:
        corpus = repeated_file(english, size, bench_dir / f"english.x{size}.txt")
        output = bench_dir / f"rss.{size}.jsonl"
        run = run_measured(embed_command(binary, bundle, dtype, corpus, str(output)))
        corpus.unlink()
        output.unlink()
        peaks.append(run.max_rss_bytes)
        print(f"  {size:>8} lines: peak RSS {run.max_rss_bytes / 2**20:7.0f} MiB in {run.seconds:7.1f} s")
    growth = max(peaks) / min(peaks) - 1.0
    print(f"  growth {100 * growth:.1f}% (target: within 10%) -> {'met' if growth <= 0.10 else 'MISSED'}")


def print_table(header: List[str], rows: List[List[str]]) -> None:
    """A Markdown table, columns padded to their widest cell."""
    widths = [max(len(row[column]) for row in [header] + rows) for column in range(len(header))]
    print("| " + " | ".join(cell.ljust(width) for cell, width in zip(header, widths)) + " |")
    print("|" + "|".join("-" * (width + 2) for width in widths) + "|")
    for row in rows:
        print("| " + " | ".join(cell.rjust(width) for cell, width in zip(row, widths)) + " |")


def coprocess_latency(binary: Path, bundle: Path, count: int) -> None:
    """Prints the co-process latency figures of bench/coprocess_latency.py (float32, THREADS threads)."""
    subprocess.run([sys.executable, str(ROOT / "bench" / "coprocess_latency.py"), str(binary), str(bundle),
                    "--count", str(count), "--", "--threads", str(THREADS)], check=True)


def main(argv: List[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--build-dir", type=Path, default=ROOT / "build")
    parser.add_argument("--python", default="/usr/bin/python3", help="Python with torch, for the exporter")
    parser.add_argument("--runs", type=int, default=3, help="runs per measurement (median)")
    parser.add_argument("--news-lines", type=int, default=500, help="lines of news.txt to embed")
    parser.add_argument("--dtypes", default=",".join(DTYPES))
    parser.add_argument("--rss-lines", default="", help="comma-separated input sizes for the RSS flatness check "
                                                        "(e.g. 10000,100000); off by default (it takes long)")
    parser.add_argument("--rss-dtype", default="bfloat16", help="dtype of the RSS flatness check")
    parser.add_argument("--rss-only", action="store_true", help="run only the RSS flatness check")
    parser.add_argument("--latency", action="store_true",
                        help="also measure the co-process latency (bench/coprocess_latency.py) on the bundle")
    parser.add_argument("--latency-only", action="store_true", help="run only the co-process latency")
    parser.add_argument("--latency-count", type=int, default=100, help="lines written one at a time (--latency)")
    args = parser.parse_args(argv)
    if args.rss_only and not args.rss_lines:
        parser.error("--rss-only needs --rss-lines")
    dtypes = args.dtypes.split(",")
    if dtypes[0] != "float32":
        parser.error("--dtypes must start with float32 (the reference of the ratios and cosines)")

    binary = args.build_dir / "bert-embed"
    gemm_bench = args.build_dir / "bench" / "gemm_bench"
    bench_dir = args.build_dir / "bench"
    for path in (binary, gemm_bench):
        if not path.exists():
            raise BenchError(f"{path} not found; build it first (scripts/bench.sh does)")
    fixtures = ROOT.parent / "shared" / "fixtures"
    started = time.monotonic()
    load_before = load_average()
    bundle = cached_bundle(bench_dir, args.python)
    english = fixtures / "corpora" / "english.txt"
    rss_sizes = [int(size) for size in args.rss_lines.split(",")] if args.rss_lines else []
    if args.latency_only:
        coprocess_latency(binary, bundle, args.latency_count)
        return 0
    if args.rss_only:
        rss_flatness(binary, bundle, args.rss_dtype, english, rss_sizes, bench_dir)
        if args.latency:
            coprocess_latency(binary, bundle, args.latency_count)
        return 0

    peaks = {dtype: gemm_peak(gemm_bench, dtype, args.runs) for dtype in dtypes}
    corpora = {"english": english,
               f"news[:{args.news_lines}]": prefix_file(fixtures / "corpora" / "news.txt", args.news_lines,
                                                        bench_dir / f"news.{args.news_lines}.txt")}
    one_line = prefix_file(corpora["english"], 1, bench_dir / "one-line.txt")
    startup = measure_startup(binary, bundle, dtypes, one_line, bench_dir, args.runs)
    measured = {name: measure_corpus(binary, bundle, dtypes, corpus, bench_dir, args.runs)
                for name, corpus in corpora.items()}

    print(f"bert-embed benchmark: BERT-base size (12 layers, hidden 768, random weights), mean pooling, "
          f"{THREADS} threads, median of {args.runs} runs")
    print(f"machine: {cpu_description()}; {platform.system()} {platform.release()}")
    print(f"load average before: {load_before}, after: {load_average()} (other processes skew every figure)")
    print("GEMM peak (1024x768 by 768x3072, bench/gemm_bench): "
          + ", ".join(f"{dtype} {peak:.0f} GFLOP/s" for dtype, peak in peaks.items()))
    rows = []
    for corpus_name, (results, vectors) in measured.items():
        reference_rate = None
        for dtype in dtypes:
            run = results[dtype]
            steady_seconds = run.seconds - startup[dtype].one_line_seconds
            line_rate = (run.lines - 1) / steady_seconds
            token_rate = run.tokens * (run.lines - 1) / run.lines / steady_seconds
            reference_rate = reference_rate or line_rate
            if dtype == "float32":
                similarity = "reference"
            else:
                values = cosines(vectors[dtype], vectors["float32"])
                similarity = f"{values.min():.5f} / {values.mean():.5f}"
            rows.append([dtype, corpus_name, f"{run.lines}", f"{line_rate:.1f}", f"{run.lines / run.seconds:.1f}",
                         f"{token_rate:.0f}", f"{100 * (run.padded_tokens / run.tokens - 1):.1f}%",
                         f"{100 * token_rate * LINEAR_FLOP_PER_TOKEN / (peaks[dtype] * 1e9):.1f}%",
                         f"{line_rate / reference_rate:.2f}x", f"{startup[dtype].first_vector_seconds:.2f} s",
                         f"{run.max_rss_bytes / 2**20:.0f} MiB", similarity])
    print_table(["dtype", "corpus", "lines", "lines/s", "whole run lines/s", "real tokens/s", "padding",
                 "% of GEMM peak", "vs float32", "first vector", "peak RSS", "cosine to f32 min / mean"], rows)
    print("(whole run on a 1-line input, subtracted for the steady-state rates: "
          + ", ".join(f"{dtype} {startup[dtype].one_line_seconds:.2f} s" for dtype in dtypes) + ")")

    if rss_sizes:
        rss_flatness(binary, bundle, args.rss_dtype, english, rss_sizes, bench_dir)
    if args.latency:
        coprocess_latency(binary, bundle, args.latency_count)
    print(f"benchmark took {time.monotonic() - started:.0f} s")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main(sys.argv[1:]))
    except (BenchError, subprocess.CalledProcessError) as error:
        print(f"bench: error: {error}", file=sys.stderr)
        sys.exit(1)
