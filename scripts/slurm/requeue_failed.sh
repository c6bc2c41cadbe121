#!/usr/bin/env bash
# Reruns the failed tasks of a job array submitted by scripts/slurm/submit.sh, in place:
#
#   scripts/slurm/requeue_failed.sh ARRAY_JOB_ID MERGE_JOB_ID
#
# Every task that ended without success (FAILED, CANCELLED, TIMEOUT, NODE_FAIL, PREEMPTED,
# OUT_OF_MEMORY, ...) is requeued with `scontrol requeue` and resumes from its shard's last
# checkpoint. The merge job, left pending with DependencyNeverSatisfied, is pointed at the
# requeued tasks: Slurm remembers an array's failure, so a dependency on the whole array
# would never be satisfied again, while one on the tasks themselves is.
# Slurm keeps a finished task's record only for MinJobAge seconds (`scontrol show config`);
# after that, resubmit instead: scancel the merge job and run submit.sh again with the same
# arguments (completed shards exit 0 at once), or with --array naming the failed tasks.
set -euo pipefail

if [ $# -ne 2 ]; then
  echo "usage: $0 ARRAY_JOB_ID MERGE_JOB_ID" >&2
  exit 2
fi
array_job=$1 merge_job=$2

failed=() unfinished=()
while read -r record; do
  task=$(grep -o ' ArrayTaskId=[^ ]*' <<<" $record" | cut -d= -f2)
  state=$(grep -o ' JobState=[^ ]*' <<<" $record" | cut -d= -f2)
  case $state in
    COMPLETED) ;;
    PENDING | RUNNING | CONFIGURING | COMPLETING | SUSPENDED | REQUEUED | RESIZING | STOPPED | SIGNALING)
      unfinished+=("${array_job}_$task($state)") ;;
    *) failed+=("${array_job}_$task") ;;
  esac
done < <(scontrol --oneliner show job "$array_job")

if [ ${#unfinished[@]} -gt 0 ]; then
  echo "requeue_failed.sh: tasks not finished yet: ${unfinished[*]}; run again when they have ended" >&2
  exit 1
fi
if [ ${#failed[@]} -eq 0 ]; then
  echo "requeue_failed.sh: every task of array job $array_job completed; nothing to requeue" >&2
  exit 0
fi
scontrol requeue "$(IFS=,; echo "${failed[*]}")"
scontrol update JobId="$merge_job" Dependency="afterok:$(IFS=:; echo "${failed[*]}")"
echo "requeue_failed.sh: requeued ${failed[*]}; merge job $merge_job now waits for them" >&2
