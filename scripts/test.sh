#!/usr/bin/env bash
# Installs the dependencies, builds, and runs every test:
#  1. the unit and end-to-end tests (Release build, CTest);
#  2. the unit tests again under AddressSanitizer + UndefinedBehaviorSanitizer;
#  3. the tokenizer fuzz target on hostile inputs and for a bounded time.
# CI runs exactly this (.ci/run). Fixtures are read from ../shared/fixtures
# (or $BERT_EMBED_FIXTURES).
set -euo pipefail
cd "$(dirname "$0")/.."
jobs=$(nproc)

scripts/install-deps.sh

fixtures=${BERT_EMBED_FIXTURES:-$PWD/../shared/fixtures}
if [ ! -d "$fixtures" ]; then
  echo "test: fixtures not found at $fixtures (set BERT_EMBED_FIXTURES)" >&2
  exit 1
fi

echo "== Release build and tests" >&2
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release -DBERT_EMBED_BUILD_TESTS=ON -DBERT_EMBED_FIXTURES="$fixtures"
cmake --build build -j "$jobs"
(cd build && ctest --output-on-failure --no-tests=error -j "$jobs")

echo "== Sanitizer build (address, undefined) of the unit tests" >&2
cmake -S . -B build-sanitize -DCMAKE_BUILD_TYPE=RelWithDebInfo -DBERT_EMBED_SANITIZE=ON -DBERT_EMBED_BUILD_TESTS=ON \
  -DBERT_EMBED_FIXTURES="$fixtures"
cmake --build build-sanitize --target text_tests model_tests -j "$jobs"
(cd build-sanitize && ctest --output-on-failure --no-tests=error -j "$jobs" -L unit)

echo "== Fuzzing the tokenizers" >&2
scripts/fuzz.sh "${BERT_EMBED_FUZZ_SECONDS:-60}"
