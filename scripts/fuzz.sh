#!/usr/bin/env bash
# Builds the tokenizer fuzz target with clang (libFuzzer + ASan + UBSan), runs
# it once on hostile inputs (1 MB line, 100,000 combining marks, NUL and stray
# continuation bytes), then fuzzes for a bounded time.
#   scripts/fuzz.sh [SECONDS]   (default 60)
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-60}
fixtures=${BERT_EMBED_FIXTURES:-$PWD/../shared/fixtures}
build=build-fuzz

CXX=clang++ cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DBERT_EMBED_TEXT_ONLY=ON -DBERT_EMBED_FUZZ=ON >/dev/null
cmake --build "$build" --target tokenizer_fuzz -j "$(nproc)"

export BERT_EMBED_FUZZ_WORDPIECE="$fixtures/vocab/bert-base-uncased"
export BERT_EMBED_FUZZ_SENTENCEPIECE="$fixtures/models/tiny-albert"

hostile="$build/hostile"
corpus="$build/corpus"
rm -rf "$hostile"
mkdir -p "$hostile" "$corpus"
/usr/bin/python3 - "$hostile" "$corpus" "$fixtures/corpora/edge_cases.txt" <<'PY'
import os, sys
hostile, corpus, edge_cases = sys.argv[1:]
cases = {
    "megabyte_line": b"word " * 200_000,
    "combining_marks": "a".encode() + "\u0301".encode() * 100_000,
    "nul_and_continuations": b"a\x00b\x80\x80c\xbf" * 1000,
    "long_word": b"x" * 1_000_000,
    "cjk_run": "\u4e2d".encode() * 20_000,
    # Past the 64 KiB chunks WordPiece works in, with words of every kind at the cuts.
    "long_mixed": "\u00dcn\u00efcode [MASK] \u4e2d\u6587 word\u0301s\t".encode() * 20_000,
    "truncated_sequence": b"abc\xe4\xb8",
}
for name, text in cases.items():
    for selector in (0, 1):
        with open(os.path.join(hostile, f"{name}_{selector}"), "wb") as f:
            f.write(bytes([selector]) + text)
with open(edge_cases, "rb") as f:
    for i, line in enumerate(f.read().split(b"\n")):
        for selector in (0, 1):
            with open(os.path.join(corpus, f"edge_{i}_{selector}"), "wb") as f:
                f.write(bytes([selector]) + line)
PY

echo "fuzz: hostile inputs" >&2
"$build/tests/fuzz/tokenizer_fuzz" -timeout=300 -rss_limit_mb=4096 "$hostile"/*
echo "fuzz: fuzzing for ${seconds}s" >&2
"$build/tests/fuzz/tokenizer_fuzz" -max_total_time="$seconds" -timeout=10 -max_len=4096 \
  -rss_limit_mb=4096 -print_final_stats=1 "$corpus"
