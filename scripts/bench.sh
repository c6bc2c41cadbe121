#!/usr/bin/env bash
# The bert-embed benchmark (issues 5 and 13): this machine's GEMM peak per dtype,
# then bert-embed with a BERT-base-sized bundle (random weights, exported once and
# cached under $BUILD_DIR/bench/) over the first 1,000 lines of
# ../shared/fixtures/corpora/english.txt and 300 of news.txt, mean pooling, 2 threads,
# float32 / bfloat16 / int8 / auto, against ONNX Runtime float32 and int8 on an ONNX
# export of the same weights; prints a Markdown table (see bench/bench.py for the
# definitions). About 15 minutes on 2 cores.
#
#   scripts/bench.sh [--runs N] [--english-lines N] [--news-lines N] [--dtypes float32,bfloat16,int8,auto]
#                    [--no-ort] [--omp-wait-policy] [--rss-lines 10000,100000]
#                    [--latency | --latency-only] [--latency-count 100]
#
# ONNX Runtime is onnxruntime-node from the npm registry, installed once into
# $BUILD_DIR/bench-node (a benchmark tool, not a dependency of bert-embed); its
# install script, which fetches CUDA libraries, is skipped: the package ships its
# CPU library. The ONNX export needs Debian's python3-torch and python3-onnx.
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
ort_version=1.30.0
if [[ " $* " != *" --no-ort "* ]] && [ ! -d "$build/bench-node/node_modules/onnxruntime-node" ]; then
  mkdir -p "$build/bench-node"
  npm install --prefix "$build/bench-node" --no-audit --no-fund --ignore-scripts "onnxruntime-node@$ort_version" >&2
fi
exec /usr/bin/python3 bench/bench.py --build-dir "$build" "$@"
