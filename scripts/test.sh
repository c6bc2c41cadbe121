#!/usr/bin/env bash
# Installs the dependencies, builds, and runs every test:
#  1. the unit and end-to-end tests (Release build, CTest), and the Slurm recipe on a
#     one-node Slurm cluster started for the test (tests/slurm/run_cluster_test.sh);
#  2. the stage tests and the end-to-end tests again under AddressSanitizer +
#     UndefinedBehaviorSanitizer (bert-embed itself sanitized); not the Python
#     exporter's tests or the Kubernetes recipe's, which run no sanitized code of theirs;
#  3. the pipeline's tests (its threads) under ThreadSanitizer;
#  4. the tokenizer fuzz target on hostile inputs and for a bounded time.
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

# Three builds of the same sources: ccache (keyed on paths relative to the
# checkout) lets a rerun, or a CI run on a machine that built before, skip
# unchanged files.
export CCACHE_BASEDIR="$PWD"
launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache)

echo "== Release build and tests" >&2
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release -DBERT_EMBED_BUILD_TESTS=ON -DBERT_EMBED_FIXTURES="$fixtures" "${launcher[@]}"
cmake --build build -j "$jobs"
(cd build && ctest --output-on-failure --no-tests=error -j "$jobs")

echo "== The Slurm recipe (scripts/slurm) on a real one-node Slurm cluster" >&2
# It starts munged, slurmctld and slurmd, which run as root.
as_root=()
[ "$(id -u)" -eq 0 ] || as_root=(sudo)
"${as_root[@]}" tests/slurm/run_cluster_test.sh build/bert-embed build/test-bundles/tiny-uncased "$fixtures/corpora/english.txt"

# The sanitizer builds test with the Release build's bundles rather than
# exporting the 13 test models twice more. They compile at -O1 with line
# tables only (-g1), which is what a sanitizer report needs: file and line of
# every frame. -O2 -g compiled src/model/encoder.cc under AddressSanitizer in
# 31 s, -O1 -g1 in 16 s, and the AddressSanitizer build was CI's longest step.
bundles=(-DBERT_EMBED_TEST_BUNDLES="$PWD/build/test-bundles")
sanitizer_flags=(-DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="-O1 -g1 -DNDEBUG")

echo "== AddressSanitizer + UndefinedBehaviorSanitizer build of the stage and end-to-end tests" >&2
cmake -S . -B build-sanitize "${sanitizer_flags[@]}" -DBERT_EMBED_SANITIZE=address \
  -DBERT_EMBED_BUILD_TESTS=ON -DBERT_EMBED_FIXTURES="$fixtures" "${bundles[@]}" "${launcher[@]}"
cmake --build build-sanitize -j "$jobs" \
  --target text_tests model_tests vectors_tests io_tests pipeline_tests evaluation_tests cli_tests
(cd build-sanitize && ctest --output-on-failure --no-tests=error -j "$jobs" -LE scripts)

echo "== ThreadSanitizer build of the pipeline's tests" >&2
cmake -S . -B build-tsan "${sanitizer_flags[@]}" -DBERT_EMBED_SANITIZE=thread \
  -DBERT_EMBED_BUILD_TESTS=ON -DBERT_EMBED_FIXTURES="$fixtures" "${bundles[@]}" "${launcher[@]}"
cmake --build build-tsan --target pipeline_tests -j "$jobs"
(cd build-tsan && ctest --output-on-failure --no-tests=error -j "$jobs" -L pipeline_tests)

echo "== Fuzzing the tokenizers" >&2
scripts/fuzz.sh "${BERT_EMBED_FUZZ_SECONDS:-60}"
