#!/usr/bin/env bash
# The bert-embed benchmark (issue 5): this machine's libtorch GEMM peak per dtype,
# then bert-embed with a BERT-base-sized bundle (random weights, exported once and
# cached under $BUILD_DIR/bench/) over ../shared/fixtures/corpora/english.txt and a
# prefix of news.txt, mean pooling, 2 threads, float32 / bfloat16 / int8; prints a
# Markdown table (see bench/bench.py for the definitions). About 10 minutes on 2 cores.
#
#   scripts/bench.sh [--runs N] [--news-lines N] [--dtypes float32,bfloat16,int8] [--rss-lines 10000,100000]
#                    [--latency | --latency-only] [--latency-count 100]
#
# BUILD_DIR (default: build) is the CMake build directory to use; it is configured
# (Release) when missing, and bert-embed and gemm_bench are brought up to date.
set -euo pipefail
cd "$(dirname "$0")/.."
build=${BUILD_DIR:-build}

if [ ! -f "$build/CMakeCache.txt" ]; then
  cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Release
fi
build_type=$(sed -n 's/^CMAKE_BUILD_TYPE:[A-Z]*=//p' "$build/CMakeCache.txt")
if [ "$build_type" != "Release" ]; then
  echo "bench: warning: $build is a '$build_type' build; figures are meant for Release" >&2
fi
cmake --build "$build" --target bert-embed gemm_bench -j "$(nproc)"
exec /usr/bin/python3 bench/bench.py --build-dir "$build" "$@"
