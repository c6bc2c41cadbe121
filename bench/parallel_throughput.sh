#!/usr/bin/env bash
# Throughput of the README's one-machine recipe: N bert-embed processes started by GNU
# parallel, each embedding one shard with THREADS/N inference threads, then `bert-embed merge`,
# against one process using all THREADS threads over the same input. Prints both figures
# (whole runs: model loading and the merge included) and checks that both outputs are
# byte-identical.
#
#   bench/parallel_throughput.sh --bundle DIR [--corpus FILE] [--lines N] [--processes N]
#                                [--threads N] [--bert-embed PATH] [-- EMBED_OPTION...]
#
# Defaults: the corpus ../shared/fixtures/corpora/news.txt (or $BERT_EMBED_FIXTURES), all its
# lines, 2 processes, `nproc` threads, build/bert-embed. A BERT-base-sized bundle gives
# figures that mean something (scripts/bench.sh exports one to build/bench/bert-base-random).
# Shards lie on the grid of windows (--window-lines, 4096 lines by default): a corpus of fewer
# than PROCESSES windows leaves shards empty (a warning says so); pass -- --window-lines N.
# The machine must be otherwise idle for the figures to mean anything.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source=scripts/lib/shard_names.sh
source "$repo/scripts/lib/shard_names.sh"

bundle="" corpus=${BERT_EMBED_FIXTURES:-$repo/../shared/fixtures}/corpora/news.txt lines=""
processes=2 threads=$(nproc) bert_embed=$repo/build/bert-embed
while [ $# -gt 0 ]; do
  case $1 in
    --bundle) bundle=$2; shift 2 ;;
    --corpus) corpus=$2; shift 2 ;;
    --lines) lines=$2; shift 2 ;;
    --processes) processes=$2; shift 2 ;;
    --threads) threads=$2; shift 2 ;;
    --bert-embed) bert_embed=$2; shift 2 ;;
    --) shift; break ;;
    *) echo "usage: $0 --bundle DIR [--corpus FILE] [--lines N] [--processes N] [--threads N] [--bert-embed PATH] [-- EMBED_OPTION...]" >&2
       exit 2 ;;
  esac
done
[ -n "$bundle" ] || { echo "parallel_throughput.sh: --bundle DIR is required" >&2; exit 2; }
command -v parallel >/dev/null || { echo "parallel_throughput.sh: GNU parallel not found (apt-get install parallel)" >&2; exit 1; }
if ((threads % processes != 0)); then
  echo "parallel_throughput.sh: $threads threads do not split evenly over $processes processes" >&2
  exit 2
fi

work=$(mktemp -d "${TMPDIR:-/tmp}/bert-embed-parallel.XXXXXX")
trap 'rm -rf "$work"' EXIT
if [ -n "$lines" ]; then head -n "$lines" "$corpus"; else cat "$corpus"; fi >"$work/corpus.txt"
count=$(wc -l <"$work/corpus.txt")
options=(-m "$bundle" -i "$work/corpus.txt" --quiet "$@")

now() { date +%s.%N; }
report() { # LABEL START END
  /usr/bin/python3 -c "import sys; s = float(sys.argv[3]) - float(sys.argv[2]); print(f'{sys.argv[1]}: {$count} lines in {s:.2f} s, {$count / s:.1f} lines/s')" "$@"
}

echo "machine: $(nproc) CPUs, load average $(cut -d' ' -f1-3 /proc/loadavg) before the runs" >&2
start=$(now)
"$bert_embed" embed "${options[@]}" --threads "$threads" -o "$work/one.npy"
end=$(now)
report "1 process, --threads $threads" "$start" "$end"

output=$work/parallel/vectors.npy
mkdir -p "$(dirname "$output")"
start=$(now)
# One line per shard: its index and its output name.
paste <(seq 0 $((processes - 1))) <(shard_outputs "$output" "$processes") |
  parallel -q --colsep '\t' -j "$processes" --halt now,fail=1 \
    "$bert_embed" embed "${options[@]}" --threads $((threads / processes)) --shard "{1}/$processes" -o "{2}"
mapfile -t shard_files < <(shard_outputs "$output" "$processes")
"$bert_embed" merge "${shard_files[@]}" -o "$output"
end=$(now)
report "$processes processes, --threads $((threads / processes)) each (GNU parallel), then merge" "$start" "$end"
for shard in "${shard_files[@]}"; do
  if [ "$(jq .rows "$shard.manifest.json")" = 0 ]; then
    echo "warning: $(basename "$shard") is empty: the corpus has fewer windows than processes (pass -- --window-lines N)" >&2
  fi
done

cmp "$work/one.npy" "$output" && echo "outputs byte-identical" >&2
