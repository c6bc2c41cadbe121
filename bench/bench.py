#!/usr/bin/python3
"""The bert-embed benchmark of issues 5 and 13 (run it through scripts/bench.sh).

Measures, in one run on this machine: the GEMM peak per dtype (bench/gemm_bench,
a 1024x768 by 768x3072 product; float32 with bert-embed's OpenBLAS kernels and
with oneDNN's sgemm, the better one being the hardware's float32 peak), then
bert-embed with a BERT-base-sized bundle (random weights, exported once and
cached) over a prefix of the English corpus and of the news corpus, mean pooling,
for float32, bfloat16, int8 and auto, against ONNX Runtime (onnxruntime-node,
bench/ort_embed.js) running an ONNX export of the same weights
(bench/export_onnx.py) in float32 and int8 on the same token ids (bert-embed
tokenize), batches sorted by length; and prints one table. Systems alternate
within each round, so that a change of load hits them alike.

Definitions:
- lines/s and real tokens/s are steady-state rates: (lines - 1) / (T_corpus - T_1),
  where T_1 is the wall time of the same command on a 1-line input, so that
  model loading is not counted; "whole run" lines/s is lines / T_corpus.
- padding overhead: padded tokens computed per real token, minus 1 (from the
  summary line bert-embed prints on stderr).
  For ONNX Runtime, lines/s is lines / the time of its session.run calls (token
  ids precomputed, session creation excluded).
- % of f32 peak: real tokens/s x the FLOPs of BERT-base's linear layers per
  token (12 x (4x768x768 + 2x768x3072) x 2 = 169.9 MFLOP; attention scores,
  the pooler and the embeddings are not counted) / the float32 GEMM peak (the
  better of OpenBLAS and oneDNN): how close float32 comes to what this CPU's
  float32 units do; above 100% for formats with faster units.
- vs ORT: lines/s over ONNX Runtime's float32 (or int8) lines/s at batch 32.
- time to first vector: process start to the first vector, 1-line input (bert-embed:
  the first JSONL line on a pipe; ONNX Runtime: its first batch's output).
- peak RSS: the largest resident set of the process (getrusage), over the corpus runs.
- cosine: of each line's pooled vector to bert-embed float32's (min and mean over lines).
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
import tempfile
import time
from pathlib import Path
from typing import Dict, List, NamedTuple, Optional, Tuple

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
DTYPES = ("float32", "bfloat16", "int8", "auto")
ORT_BATCHES = {"english": (32,), "news": (32, 8)}  # ONNX Runtime is fastest at 8 on long texts
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
    stdout: str  # empty unless captured


def run_measured(command: List[str], stdout=subprocess.DEVNULL, env: Dict[str, str] = None) -> Run:
    """Runs a command to completion; wall time, the child's own peak RSS, stderr (and stdout if a pipe)."""
    with tempfile.TemporaryFile() as stderr_file:
        started = time.perf_counter()
        process = subprocess.Popen(command, stdout=stdout, stderr=stderr_file, env=env)
        output = process.stdout.read().decode() if stdout == subprocess.PIPE else ""
        _, status, usage = os.wait4(process.pid, 0)
        seconds = time.perf_counter() - started
        stderr_file.seek(0)
        stderr = stderr_file.read().decode(errors="replace")
    if os.waitstatus_to_exitcode(status) != 0:
        raise BenchError(f"{' '.join(command)}: exit status {os.waitstatus_to_exitcode(status)}: "
                         f"{stderr.strip()[-500:]}")
    return Run(seconds, usage.ru_maxrss * 1024, stderr, output)


def time_to_first_line(command: List[str], env: Dict[str, str] = None) -> float:
    """Seconds from spawning `command` to the first complete line on its stdout (a pipe)."""
    started = time.perf_counter()
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
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
    """The BERT-base bundle with random weights, re-exported when the exporter (export_model.py or
    any module of its package) changes."""
    bundle = bench_dir / "bert-base-random"
    exporter = ROOT / "scripts" / "export_model.py"
    vocab = ROOT.parent / "shared" / "fixtures" / "vocab" / "bert-base-uncased"
    stamp = bench_dir / "bert-base-random.sha256"
    sources = [exporter, *sorted((ROOT / "scripts" / "bert_embed_export").rglob("*.py"))]
    key = hashlib.sha256("".join(file_digest(source) for source in sources).encode()).hexdigest()
    if stamp.exists() and stamp.read_text().strip() == key and (bundle / "model.int8.pt").exists():
        return bundle
    print(f"bench: exporting {bundle} (BERT-base size, random weights, --int8)", file=sys.stderr)
    subprocess.run([python, str(exporter), "--force", "--int8", "--random-init", "--preset", "bert-base",
                    "--vocab", str(vocab), str(bundle)], check=True)
    stamp.write_text(key + "\n")
    return bundle


def gemm_peaks(gemm_bench: Path, kinds: List[str], runs: int) -> Dict[str, float]:
    """Median GFLOP/s of gemm_bench per kind over `runs` rounds (each a median itself), kinds alternating."""
    rates: Dict[str, List[float]] = {kind: [] for kind in kinds}
    for _ in range(runs):
        for kind in kinds:
            output = subprocess.run([str(gemm_bench), "--dtype", kind, "--threads", str(THREADS)],
                                    check=True, capture_output=True, text=True).stdout
            rates[kind].append(json.loads(output)["gflops"])
    return {kind: statistics.median(values) for kind, values in rates.items()}


def cached_onnx_models(bundle: Path, bench_dir: Path, python: str) -> Path:
    """model.onnx and model.int8.onnx of the bundle, exported again when the bundle or the exporter changes."""
    directory = bench_dir / "onnx"
    exporter = ROOT / "bench" / "export_onnx.py"
    stamp = directory / "source.sha256"
    key = hashlib.sha256((file_digest(exporter) + file_digest(bundle / "bundle.json")).encode()).hexdigest()
    if stamp.exists() and stamp.read_text().strip() == key and (directory / "model.int8.onnx").exists():
        return directory
    print(f"bench: exporting {directory}/model.onnx and model.int8.onnx", file=sys.stderr)
    subprocess.run([python, str(exporter), str(bundle), str(directory)], check=True, stderr=subprocess.DEVNULL)
    stamp.write_text(key + "\n")
    return directory


class Corpus(NamedTuple):
    name: str
    text: Path
    ids: Path                 # bert-embed tokenize's output: the token ids every system runs
    lengths: List[int]        # tokens per line

    @property
    def tokens(self) -> int:
        return sum(self.lengths)


def tokenized_corpus(binary: Path, bundle: Path, name: str, text: Path, bench_dir: Path) -> Corpus:
    ids = bench_dir / f"{text.stem}.ids.jsonl"
    with open(ids, "w", encoding="utf-8") as stream:
        subprocess.run([str(binary), "tokenize", "-m", str(bundle), "-i", str(text)], check=True, stdout=stream)
    with open(ids, encoding="utf-8") as stream:
        lengths = [len(json.loads(line)["ids"]) for line in stream]
    return Corpus(name, text, ids, lengths)


class Measured(NamedTuple):
    """One system on one corpus, medians over the rounds."""
    lines: int
    tokens: int
    padded_tokens: float
    steady_seconds: float     # without loading (see the module's docstring)
    whole_seconds: float
    max_rss_bytes: int
    vectors: np.ndarray


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



class BertEmbed:
    """bert-embed in one dtype; its steady state subtracts the run on a 1-line input."""

    def __init__(self, binary: Path, bundle: Path, dtype: str, bench_dir: Path,
                 extra_env: Optional[Dict[str, str]] = None):
        self.binary, self.bundle, self.dtype, self.bench_dir = binary, bundle, dtype, bench_dir
        self.env = {**os.environ, **(extra_env or {})}
        suffix = "".join(f" {key}={value}" for key, value in (extra_env or {}).items())
        self.name = f"{dtype}{suffix.replace(' ', '.').replace('=', '-')}"
        self.label = f"bert-embed {dtype}{suffix}"
        self.one_line_seconds = 0.0
        self.first_vector_seconds = 0.0

    def output(self, corpus: Corpus) -> Path:
        return self.bench_dir / f"out.{corpus.text.stem}.{self.name}.npy"

    def measure_startup(self, one_line: Corpus, runs: int) -> None:
        one_line_output = str(self.bench_dir / "one-line.npy")
        whole = [run_measured(embed_command(self.binary, self.bundle, self.dtype, one_line.text, one_line_output),
                              env=self.env).seconds for _ in range(runs)]
        first = [time_to_first_line(embed_command(self.binary, self.bundle, self.dtype, one_line.text, "-")
                                    + ["--format", "jsonl"], env=self.env) for _ in range(runs)]
        self.one_line_seconds, self.first_vector_seconds = statistics.median(whole), statistics.median(first)
        if self.dtype == "auto":
            manifest = json.loads(Path(one_line_output + ".manifest.json").read_text(encoding="utf-8"))
            self.label += f" (picked {manifest['source']['dtype']})"

    def run(self, corpus: Corpus) -> Run:
        return run_measured(embed_command(self.binary, self.bundle, self.dtype, corpus.text,
                                          str(self.output(corpus))), env=self.env)

    def summarize(self, corpus: Corpus, runs: List[Run]) -> Measured:
        lines, tokens, padded = parse_summary(runs[0].stderr, embed_command(self.binary, self.bundle, self.dtype,
                                                                            corpus.text, ""))
        whole = statistics.median(run.seconds for run in runs)
        return Measured(lines, tokens, padded, (whole - self.one_line_seconds) * lines / (lines - 1), whole,
                        max(run.max_rss_bytes for run in runs), np.load(self.output(corpus)))


class OnnxRuntime:
    """bench/ort_embed.js on the ONNX export; its steady state is the time of its session.run calls."""

    def __init__(self, model: Path, precision: str, batch: int, node_modules: Path, bench_dir: Path):
        self.model, self.precision, self.batch, self.bench_dir = model, precision, batch, bench_dir
        self.env = {**os.environ, "NODE_PATH": str(node_modules)}
        self.label = f"ONNX Runtime {precision}, batch {batch}"
        self.first_vector_seconds = 0.0

    def command(self, ids: Path, output: Path) -> List[str]:
        return ["node", str(ROOT / "bench" / "ort_embed.js"), str(self.model), str(ids), str(output),
                "--batch", str(self.batch), "--threads", str(THREADS)]

    def output(self, corpus: Corpus) -> Path:
        return self.bench_dir / f"out.{corpus.text.stem}.ort-{self.precision}-{self.batch}.f32"

    def measure_startup(self, one_line: Corpus, runs: int) -> None:
        reports = [json.loads(run_measured(self.command(one_line.ids, self.output(one_line)),
                                           stdout=subprocess.PIPE, env=self.env).stdout) for _ in range(runs)]
        self.first_vector_seconds = statistics.median(report["first_vector_seconds"] for report in reports)

    def run(self, corpus: Corpus) -> Run:
        return run_measured(self.command(corpus.ids, self.output(corpus)), stdout=subprocess.PIPE, env=self.env)

    def summarize(self, corpus: Corpus, runs: List[Run]) -> Measured:
        reports = [json.loads(run.stdout) for run in runs]
        by_length = sorted(corpus.lengths)
        padded = sum(len(by_length[i:i + self.batch]) * by_length[min(i + self.batch, len(by_length)) - 1]
                     for i in range(0, len(by_length), self.batch))
        vectors = np.fromfile(self.output(corpus), dtype=np.float32).reshape(reports[0]["rows"], reports[0]["dim"])
        return Measured(len(corpus.lengths), corpus.tokens, padded,
                        statistics.median(report["inference_seconds"] for report in reports),
                        statistics.median(run.seconds for run in runs), max(run.max_rss_bytes for run in runs),
                        vectors)


def measure_corpus(systems: list, corpus: Corpus, runs: int) -> Dict[str, Measured]:
    """Runs every system in turn, `runs` rounds, so that a change of load hits them alike."""
    measured: Dict[str, List[Run]] = {system.label: [] for system in systems}
    for _ in range(runs):
        for system in systems:
            print(f"bench: {system.label} on {corpus.name} ...", file=sys.stderr)
            measured[system.label].append(system.run(corpus))
    return {system.label: system.summarize(corpus, measured[system.label]) for system in systems}


def blas_line(binary: Path) -> str:
    version = subprocess.run([str(binary), "--version"], check=True, capture_output=True, text=True).stdout
    return "; ".join(line for line in version.splitlines() if line.startswith(("BLAS", "oneDNN")))


def omp_wait_policy_ab(binary: Path, bundle: Path, corpus: Corpus, bench_dir: Path, runs: int) -> None:
    """bert-embed float32 with OMP_WAIT_POLICY unset and passive, alternating: what the README's advice rests on."""
    systems = [BertEmbed(binary, bundle, "float32", bench_dir),
               BertEmbed(binary, bundle, "float32", bench_dir, {"OMP_WAIT_POLICY": "passive"})]
    print(f"\nOMP_WAIT_POLICY A/B on {corpus.name} ({runs} rounds, alternating; whole-run lines/s, median):")
    for system, result in zip(systems, measure_corpus(systems, corpus, runs).values()):
        print(f"  {system.label:45} {result.lines / result.whole_seconds:7.1f} lines/s")


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


def ratio(rate: float, reference: Optional[float]) -> str:
    return f"{rate / reference:.2f}x" if reference else "-"


def main(argv: List[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--build-dir", type=Path, default=ROOT / "build")
    parser.add_argument("--python", default="/usr/bin/python3", help="Python with torch and onnx, for the exporters")
    parser.add_argument("--runs", type=int, default=3, help="rounds per measurement (median)")
    parser.add_argument("--english-lines", type=int, default=1000, help="lines of english.txt to embed")
    parser.add_argument("--news-lines", type=int, default=300, help="lines of news.txt to embed")
    parser.add_argument("--dtypes", default=",".join(DTYPES))
    parser.add_argument("--no-ort", action="store_true", help="leave ONNX Runtime out")
    parser.add_argument("--node-modules", type=Path, default=None,
                        help="node_modules with onnxruntime-node (default: BUILD_DIR/bench-node/node_modules)")
    parser.add_argument("--omp-wait-policy", action="store_true",
                        help="also A/B OMP_WAIT_POLICY unset against passive (bert-embed float32, news)")
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
    node_modules = args.node_modules or args.build_dir / "bench-node" / "node_modules"
    for path in (binary, gemm_bench) + (() if args.no_ort else (node_modules / "onnxruntime-node",)):
        if not path.exists():
            raise BenchError(f"{path} not found; scripts/bench.sh builds and installs it")
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

    peak_kinds = ["float32", "onednn-float32"] + [dtype for dtype in dtypes if dtype in ("bfloat16", "int8")]
    peaks = gemm_peaks(gemm_bench, peak_kinds, args.runs)
    float32_peak = max(peaks["float32"], peaks["onednn-float32"])
    corpora = [tokenized_corpus(binary, bundle, name, prefix_file(fixtures / "corpora" / f"{name}.txt", lines,
                                                                  bench_dir / f"{name}.{lines}.txt"), bench_dir)
               for name, lines in (("english", args.english_lines), ("news", args.news_lines))]
    one_line = tokenized_corpus(binary, bundle, "one line", prefix_file(english, 1, bench_dir / "one-line.txt"),
                                bench_dir)
    bert_embed = [BertEmbed(binary, bundle, dtype, bench_dir) for dtype in dtypes]
    ort: Dict[str, list] = {corpus.name: [] for corpus in corpora}
    if not args.no_ort:
        onnx_dir = cached_onnx_models(bundle, bench_dir, args.python)
        for corpus in corpora:
            ort[corpus.name] = [OnnxRuntime(onnx_dir / f"model{suffix}.onnx", precision, batch, node_modules,
                                            bench_dir)
                                for batch in ORT_BATCHES[corpus.name]
                                for precision, suffix in (("float32", ""), ("int8", ".int8"))]
    startup_systems = bert_embed + ort[corpora[0].name]
    for system in startup_systems:
        system.measure_startup(one_line, args.runs)
    measured = {corpus.name: measure_corpus(bert_embed + ort[corpus.name], corpus, args.runs) for corpus in corpora}

    print(f"bert-embed benchmark: BERT-base size (12 layers, hidden 768, random weights), mean pooling, "
          f"{THREADS} threads, median of {args.runs} rounds, systems alternating within each round")
    print(f"machine: {cpu_description()}; {platform.system()} {platform.release()}")
    print(f"kernels: {blas_line(binary)}")
    print(f"load average before: {load_before}, after: {load_average()} (other processes skew every figure)")
    print("GEMM peak (1024x768 by 768x3072, bench/gemm_bench): "
          + ", ".join(f"{kind} {peak:.0f} GFLOP/s" for kind, peak in peaks.items())
          + f"; float32 peak {float32_peak:.0f}")
    first_vector = {system.label: system.first_vector_seconds for system in startup_systems}
    rows = []
    for corpus in corpora:
        results = measured[corpus.name]
        reference = results[bert_embed[0].label].vectors
        rate_of = {label: result.lines / result.steady_seconds for label, result in results.items()}
        ort_float32 = rate_of.get("ONNX Runtime float32, batch 32")
        ort_int8 = rate_of.get("ONNX Runtime int8, batch 32")
        for label, result in results.items():
            token_rate = result.tokens / result.steady_seconds
            values = cosines(result.vectors, reference)
            rows.append([label, f"{corpus.name} ({result.lines})", f"{rate_of[label]:.1f}",
                         f"{result.lines / result.whole_seconds:.1f}", f"{token_rate:.0f}",
                         f"{100 * (result.padded_tokens / result.tokens - 1):.1f}%",
                         f"{100 * token_rate * LINEAR_FLOP_PER_TOKEN / (float32_peak * 1e9):.0f}%",
                         ratio(rate_of[label], ort_float32), ratio(rate_of[label], ort_int8),
                         f"{first_vector[label]:.2f} s" if label in first_vector else "-",
                         f"{result.max_rss_bytes / 2**20:.0f} MiB", f"{values.min():.5f} / {values.mean():.5f}"])
    print_table(["system", "corpus (lines)", "lines/s", "whole run lines/s", "real tokens/s", "padding",
                 "% of f32 peak", "vs ORT f32", "vs ORT int8", "first vector", "peak RSS",
                 "cosine to bert-embed f32 min / mean"], rows)
    print("(bert-embed: steady state = whole run minus the run on a 1-line input: "
          + ", ".join(f"{system.dtype} {system.one_line_seconds:.2f} s" for system in bert_embed)
          + "; ONNX Runtime: its session.run calls on precomputed token ids)")

    if args.omp_wait_policy:
        omp_wait_policy_ab(binary, bundle, corpora[1], bench_dir, args.runs)
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
