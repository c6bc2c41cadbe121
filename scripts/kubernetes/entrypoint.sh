#!/usr/bin/env bash
# The container's entry point for the Kubernetes recipe (embed-job.yaml, merge-job.yaml).
#
#   entrypoint.sh embed EMBED_OPTION...   shard $JOB_COMPLETION_INDEX of $BERT_EMBED_SHARDS
#   entrypoint.sh merge                   every shard into $BERT_EMBED_OUTPUT
#
# Environment: BERT_EMBED_SHARDS (the shard count, equal to the Job's completions),
# BERT_EMBED_OUTPUT (the merged output, on the shared volume; shard I of N is written beside
# it as NAME.shard-IIII-of-NNNN.EXT), JOB_COMPLETION_INDEX (set by an Indexed Job),
# BERT_EMBED_THREADS (--threads unless the options give it; the manifest sets it from the
# container's CPU limit), BERT_EMBED (the binary, default bert-embed on PATH).
# A pod restarted on the same index (restartPolicy: OnFailure, a lost node) resumes from its
# shard's last checkpoint; one whose shard is already complete exits 0 at once.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=scripts/lib/shard_names.sh
source "$here/../lib/shard_names.sh"

usage() {
  echo "usage: $0 embed EMBED_OPTION... | $0 merge" >&2
  exit 2
}
[ $# -ge 1 ] || usage
mode=$1
shift
shards=${BERT_EMBED_SHARDS:-}
output=${BERT_EMBED_OUTPUT:-}
bert_embed=${BERT_EMBED:-bert-embed}
[[ $shards =~ ^[1-9][0-9]*$ ]] || { echo "entrypoint.sh: BERT_EMBED_SHARDS must be a positive count, not '$shards'" >&2; exit 2; }
[ -n "$output" ] || { echo "entrypoint.sh: BERT_EMBED_OUTPUT is not set" >&2; exit 2; }

case $mode in
  embed)
    index=${JOB_COMPLETION_INDEX:-}
    if ! [[ $index =~ ^[0-9]+$ ]] || ((index >= shards)); then
      echo "entrypoint.sh: JOB_COMPLETION_INDEX '$index' is not a shard of $shards (completionMode: Indexed sets it)" >&2
      exit 2
    fi
    threads=()
    if [ -n "${BERT_EMBED_THREADS:-}" ] && ! [[ " $* " =~ \ --threads[\ =] ]]; then
      threads=(--threads "$BERT_EMBED_THREADS")
    fi
    shard=$(shard_output "$output" "$index" "$shards")
    mkdir -p "$(dirname "$shard")"
    echo "$(date -Is) shard $index/$shards on $(hostname): $shard" >&2
    exec "$bert_embed" embed "$@" "${threads[@]}" --shard "$index/$shards" -o "$shard"
    ;;
  merge)
    [ $# -eq 0 ] || usage
    mapfile -t shard_files < <(shard_outputs "$output" "$shards")
    echo "$(date -Is) merging $shards shards into $output" >&2
    exec "$bert_embed" merge "${shard_files[@]}" -o "$output"
    ;;
  *) usage ;;
esac
