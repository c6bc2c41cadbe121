#!/usr/bin/env bash
# Submits a bert-embed run to Slurm: a job array with one task per shard, and a merge job
# that runs once every task has succeeded (--dependency=afterok on the array).
#
#   scripts/slurm/submit.sh --shards 16 -o out/vectors.npy [--bert-embed PATH] [--logs DIR] \
#       [--array LIST] [--sbatch OPTION]... -- -m models/bert-base-uncased -i corpus.txt [EMBED_OPTION...]
#
# Shard I's output is out/vectors.shard-IIII-of-0016.npy (its manifest beside it); the merge
# writes out/vectors.npy. Options after `--` go to `bert-embed embed` (every shard gets the
# same ones); --threads defaults to the CPUs Slurm allocates (--sbatch --cpus-per-task=8).
# --sbatch passes an option to both sbatch calls (partition, time, account); SBATCH_* variables
# work too. --logs DIR puts the tasks' logs in DIR/bert-embed-shard-ARRAYID_TASK.out and the
# merge job's in DIR/bert-embed-merge-JOBID.out (else sbatch's default, slurm-*.out here).
# --array submits only those tasks (`--array 3,7`, shards to run again: the shard count stays
# --shards), or limits how many run at once (`--array 0-63%16`). Prints "ARRAY_JOB_ID
# MERGE_JOB_ID" on stdout.
# Paths are kept as given: the jobs run in the current directory (sbatch's default), so it
# must be reachable from the compute nodes.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=scripts/lib/shard_names.sh
source "$here/../lib/shard_names.sh"

usage() {
  echo "usage: $0 --shards N -o OUTPUT [--bert-embed PATH] [--logs DIR] [--array LIST] [--sbatch OPTION]... -- EMBED_OPTION..." >&2
  exit 2
}

shards="" output="" bert_embed="" logs="" array="" sbatch_options=()
while [ $# -gt 0 ]; do
  case $1 in
    --shards) shards=${2:?--shards needs a count}; shift 2 ;;
    -o | --output) output=${2:?-o needs a file}; shift 2 ;;
    --bert-embed) bert_embed=${2:?--bert-embed needs a path}; shift 2 ;;
    --logs) logs=${2:?--logs needs a folder}; shift 2 ;;
    --array) array=${2:?--array needs task ids}; shift 2 ;;
    --sbatch) sbatch_options+=("${2:?--sbatch needs an option}"); shift 2 ;;
    --) shift; break ;;
    *) echo "submit.sh: unknown option $1 (options of bert-embed go after --)" >&2; usage ;;
  esac
done
[[ $shards =~ ^[1-9][0-9]*$ ]] || { echo "submit.sh: --shards must be a positive count, not '$shards'" >&2; usage; }
[ -n "$output" ] || { echo "submit.sh: -o OUTPUT is required" >&2; usage; }
for option in "$@"; do
  case $option in
    -o | --output | --output=* | --shard | --shard=*)
      echo "submit.sh: $option is set by submit.sh, not among the embed options" >&2; usage ;;
  esac
done
if [ -z "$bert_embed" ]; then
  bert_embed=$(command -v bert-embed) || { echo "submit.sh: bert-embed is not on PATH: give --bert-embed" >&2; exit 2; }
fi
# The jobs run elsewhere, maybe from another directory's PATH: name the binary absolutely.
bert_embed=$(realpath "$bert_embed")
[ -x "$bert_embed" ] || { echo "submit.sh: $bert_embed is not executable" >&2; exit 2; }
mkdir -p "$(dirname "$output")"
task_logs=() merge_logs=()
if [ -n "$logs" ]; then
  mkdir -p "$logs"
  task_logs=(--output="$logs/%x-%A_%a.out")
  merge_logs=(--output="$logs/%x-%j.out")
fi

array_job=$(sbatch --parsable --array="${array:-0-$((shards - 1))}" "${sbatch_options[@]}" "${task_logs[@]}" \
  "$here/embed_shard.sbatch" "$shards" "$(shard_output_pattern "$output" "$shards")" "$bert_embed" "$@")
array_job=${array_job%%;*}   # --parsable prints "id;cluster" on a federation
mapfile -t shard_files < <(shard_outputs "$output" "$shards")
merge_job=$(sbatch --parsable --dependency="afterok:$array_job" "${sbatch_options[@]}" "${merge_logs[@]}" \
  "$here/merge_shards.sbatch" "$bert_embed" "$output" "${shard_files[@]}")
merge_job=${merge_job%%;*}
echo "submit.sh: array job $array_job (tasks ${array:-0-$((shards - 1))} of $shards shards), merge job $merge_job" >&2
echo "$array_job $merge_job"
