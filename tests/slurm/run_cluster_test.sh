#!/usr/bin/env bash
# The Slurm recipe (scripts/slurm/) on a real one-node Slurm cluster: munged, slurmctld and
# slurmd from Debian's packages, started here as root with a private configuration, state
# and spool under a temporary folder, and stopped on every exit (even a failure).
#
#   tests/slurm/run_cluster_test.sh BERT_EMBED BUNDLE CORPUS
#
# The test: submit.sh submits 4 shards over CORPUS (repeated $SLURM_TEST_REPEAT times, 12 by default, so
# that a task runs long enough to be caught) and the merge job; tasks 1 and 3 are cancelled
# (scancel: SIGTERM) after their first checkpoint; the merge job is then left waiting with
# DependencyNeverSatisfied; requeue_failed.sh requeues both, which resume, and the merge job
# runs. The merged output must equal a one-process run byte for byte. Then the cancelled
# tasks are resubmitted (`--array 1,3`: they see SLURM_ARRAY_TASK_COUNT=2), find their shards
# complete, exit 0 at once, and the new merge makes the same bytes again.
# The job states and times are printed from `scontrol show job` (no accounting database, so
# no sacct) and every task's log.
set -euo pipefail

if [ $# -ne 3 ]; then
  echo "usage: $0 BERT_EMBED BUNDLE CORPUS" >&2
  exit 2
fi
repo=$(cd "$(dirname "$0")/../.." && pwd)
# shellcheck source=scripts/lib/shard_names.sh
source "$repo/scripts/lib/shard_names.sh"
bert_embed=$(realpath "$1") bundle=$(realpath "$2") corpus=$(realpath "$3")
# 12 copies: with 4, a task once finished its shard between its first checkpoint and the
# cancel (2026-12-02: tiny-uncased, tasks done in 6 s), so there was no checkpoint left to check.
repeat=${SLURM_TEST_REPEAT:-12}
shards=4 cancelled_tasks=(1 3)

log() { echo "slurm-test: $(date +%T) $*" >&2; }
# seconds_since NANOSECONDS: the time since then, to a tenth of a second.
seconds_since() {
  local tenths=$((($(date +%s%N) - $1) / 100000000))
  echo "$((tenths / 10)).$((tenths % 10))"
}
fail() { log "FAIL: $*"; exit 1; }

[ "$(id -u)" -eq 0 ] || fail "needs root: munged and slurmd run as root (run it with sudo)"
python=${BERT_EMBED_PYTHON:-/usr/bin/python3}
for command in munged mungekey slurmctld slurmd sbatch scontrol scancel squeue jq "$python"; do
  command -v "$command" >/dev/null || fail "$command not found (scripts/install-deps.sh installs it)"
done

# munged refuses a socket folder that others may write to: the folders are 755, the key 600.
work=$(mktemp -d "${TMPDIR:-/tmp}/bert-embed-slurm-test.XXXXXX")
chmod 755 "$work"
mkdir -m 755 "$work/munge" "$work/state" "$work/spool" "$work/logs" "$work/out"
export SLURM_CONF=$work/slurm.conf

daemon_pids=()
stop_cluster() {
  local status=$? pid
  trap - EXIT INT TERM
  if [ ${#daemon_pids[@]} -gt 0 ]; then
    # Jobs first, while slurmctld and slurmd can still end them (SIGTERM, then SIGKILL after
    # KillWait), then the daemons in the reverse order of their start.
    scancel --quiet --full --user=root 2>/dev/null || true
    for _ in $(seq 50); do
      [ -z "$(squeue --noheader 2>/dev/null)" ] && break
      sleep 0.2
    done
    for ((i = ${#daemon_pids[@]} - 1; i >= 0; i--)); do
      pid=${daemon_pids[i]}
      kill -TERM "$pid" 2>/dev/null || continue
      for _ in $(seq 50); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
      done
      kill -KILL "$pid" 2>/dev/null || true
      wait "$pid" 2>/dev/null || true
    done
  fi
  if [ "$status" -ne 0 ]; then
    for file in "$work"/logs/*.{log,out,txt}; do
      [ -f "$file" ] && { echo "---- ${file#"$work"/}"; tail -n 30 "$file"; } >&2
    done
  fi
  if [ -n "${SLURM_TEST_KEEP:-}" ]; then
    log "kept $work"
  else
    rm -rf "$work"
  fi
  exit "$status"
}
trap stop_cluster EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

read -r controller_port node_port < <("$python" -c '
import socket
sockets = [socket.socket() for _ in range(2)]
for s in sockets:
    s.bind(("127.0.0.1", 0))
print(*(s.getsockname()[1] for s in sockets))')
host=$(hostname -s)
# The node declares 4 CPUs whatever the machine has (config_overrides), so that the 4 tasks
# run at once; each task gets 1 CPU, hence bert-embed --threads 1.
# A requeued task waits cred_expire (5 s here, 120 s by default), then a scheduler pass:
# the main scheduler, which runs every second here (sched_interval, 60 s by default).
cat >"$SLURM_CONF" <<EOF
ClusterName=bertembedtest
SlurmctldHost=$host(127.0.0.1)
SlurmUser=root
SlurmctldPort=$controller_port
SlurmdPort=$node_port
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$work/munge/munge.socket,cred_expire=5
StateSaveLocation=$work/state
SlurmdSpoolDir=$work/spool
SlurmctldPidFile=$work/slurmctld.pid
SlurmdPidFile=$work/slurmd.pid
SlurmctldLogFile=$work/logs/slurmctld.log
SlurmdLogFile=$work/logs/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
JobCompType=jobcomp/filetxt
JobCompLoc=$work/logs/jobcomp.txt
MailProg=/bin/true
MpiDefault=none
ReturnToService=2
KillWait=5
MinJobAge=3600
SchedulerParameters=sched_interval=1
SlurmdParameters=config_overrides
NodeName=node0 NodeAddr=127.0.0.1 NodeHostname=$host CPUs=$shards State=UNKNOWN
PartitionName=test Nodes=node0 Default=YES MaxTime=INFINITE State=UP
EOF

started=$(date +%s%N)
mungekey --create --keyfile="$work/munge/munge.key"
chmod 600 "$work/munge/munge.key"
munged --foreground --socket="$work/munge/munge.socket" --key-file="$work/munge/munge.key" \
  --pid-file="$work/munge/munged.pid" --seed-file="$work/munge/munged.seed" \
  --log-file=/dev/null >"$work/logs/munged.log" 2>&1 &
daemon_pids+=($!)
for _ in $(seq 50); do
  [ -S "$work/munge/munge.socket" ] && break
  sleep 0.1
done
[ -S "$work/munge/munge.socket" ] || fail "munged did not start"
slurmctld -D -f "$SLURM_CONF" >"$work/logs/slurmctld.console" 2>&1 &
daemon_pids+=($!)
slurmd -D -f "$SLURM_CONF" -N node0 >"$work/logs/slurmd.console" 2>&1 &
daemon_pids+=($!)
for _ in $(seq 150); do
  [ "$(sinfo --noheader --nodes=node0 --format=%T 2>/dev/null)" = idle ] && break
  sleep 0.2
done
[ "$(sinfo --noheader --nodes=node0 --format=%T 2>/dev/null)" = idle ] || fail "the node did not become idle"
log "cluster up in $(seconds_since "$started") s: $(sinfo --noheader --format='%P %a %D %T %c CPUs %N')"

# job_field JOB FIELD: a field of `scontrol show job` for one job or array task.
job_field() {
  scontrol --oneliner show job "$1" | grep -o " $2=[^ ]*" | head -n 1 | cut -d= -f2
}
# wait_for JOB FIELD VALUE SECONDS: until the job's field has that value.
wait_for() {
  local value
  for ((tick = 0; tick < $4 * 5; tick++)); do
    value=$(job_field "$1" "$2")
    [ "$value" = "$3" ] && return 0
    sleep 0.2
  done
  fail "job $1: $2=$value after $4 s, not $3 (JobState=$(job_field "$1" JobState) Reason=$(job_field "$1" Reason))"
}
# show_jobs ARRAY_JOB MERGE_JOB: the states and times the lead quotes.
show_jobs() {
  scontrol --oneliner show job "$1" | while read -r record; do
    echo " $(grep -oE ' (ArrayJobId|ArrayTaskId|JobState|Restarts|ExitCode|StartTime|EndTime|RunTime)=[^ ]*' <<<" $record" | tr -d '\n')"
  done | sort -V
  echo "  merge job $2:$(scontrol --oneliner show job "$2" | grep -oE ' (JobState|Reason|Dependency|ExitCode|StartTime|EndTime)=[^ ]*' | tr -d '\n')"
}

for ((copy = 0; copy < repeat; copy++)); do cat "$corpus"; done >"$work/corpus.txt"
lines=$(wc -l <"$work/corpus.txt")
# Windows of 256 lines and a checkpoint after each, and a small token budget (many batches),
# so that a task has checkpoints to resume from and runs long enough to be cancelled between
# them. The options that decide the bytes are the same for the shards and the reference.
embed_options=(-m "$bundle" -i "$work/corpus.txt" --batch-tokens 256 --window-lines 256)
shard_options=(--checkpoint-lines 256)

reference_started=$(date +%s%N)
"$bert_embed" embed "${embed_options[@]}" --threads 1 -o "$work/reference.npy"
log "one process, 1 thread: $lines lines in $(seconds_since "$reference_started") s"

output=$work/out/vectors.npy
submit_options=(--shards "$shards" -o "$output" --bert-embed "$bert_embed"
  --logs "$work/logs")
read -r array_job merge_job < <("$repo/scripts/slurm/submit.sh" "${submit_options[@]}" \
  -- "${embed_options[@]}" "${shard_options[@]}")
log "submitted array job $array_job ($shards tasks) and merge job $merge_job"

# Each victim is cancelled once it has made its first checkpoint (OUT.checkpoint.json).
for task in "${cancelled_tasks[@]}"; do
  victim=${array_job}_$task
  checkpoint=$(shard_output "$output" "$task" "$shards").checkpoint.json
  wait_for "$victim" JobState RUNNING 60
  for ((tick = 0; tick < 600; tick++)); do
    [ -e "$checkpoint" ] || [ "$(job_field "$victim" JobState)" != RUNNING ] && break
    sleep 0.1
  done
  if ! [ -e "$checkpoint" ] || [ "$(job_field "$victim" JobState)" != RUNNING ]; then
    fail "task $victim is $(job_field "$victim" JobState) with no checkpoint to cancel it after: raise SLURM_TEST_REPEAT"
  fi
  progress=$(jq -r '"\(.input.end_record) of its records [\(.shard.begin), \(.shard.end))"' "$checkpoint")
  scancel "$victim"
  log "cancelled task $victim after it ran $(job_field "$victim" RunTime): its checkpoint was then at record" \
    "$progress"
  wait_for "$victim" JobState CANCELLED 30
  [ -e "$checkpoint" ] || fail "the cancel (SIGTERM) removed task $victim's checkpoint"
done
for ((task = 0; task < shards; task++)); do
  [[ " ${cancelled_tasks[*]} " == *" $task "* ]] || wait_for "${array_job}_$task" JobState COMPLETED 600
done
# Slurm evaluates dependencies every few seconds.
wait_for "$merge_job" Reason DependencyNeverSatisfied 60
[ ! -e "$output" ] || fail "the merge ran although tasks were cancelled"
log "after the cancels:"
show_jobs "$array_job" "$merge_job" >&2

log "scripts/slurm/requeue_failed.sh $array_job $merge_job"
"$repo/scripts/slurm/requeue_failed.sh" "$array_job" "$merge_job"
for task in "${cancelled_tasks[@]}"; do
  wait_for "${array_job}_$task" JobState COMPLETED 600
done
wait_for "$merge_job" JobState COMPLETED 300
log "after requeue_failed.sh:"
show_jobs "$array_job" "$merge_job" >&2
for task in "${cancelled_tasks[@]}"; do
  victim=${array_job}_$task
  [ "$(job_field "$victim" Restarts)" = 1 ] || fail "task $victim restarted $(job_field "$victim" Restarts) times, expected 1"
  log "log of task $victim:"
  sed 's/^/  /' "$work/logs/bert-embed-shard-$victim.out" >&2
  grep -q "resuming .* at record" "$work/logs/bert-embed-shard-$victim.out" ||
    fail "the requeued task $victim did not resume from its checkpoint"
done
log "log of merge job $merge_job:"
sed 's/^/  /' "$work/logs/bert-embed-merge-$merge_job.out" >&2
cmp "$work/reference.npy" "$output" || fail "the merged output differs from the one-process run"
log "merged output identical to the one-process run ($(stat -c %s "$output") bytes)"

# The cancelled tasks resubmitted (an array of 2 tasks of the 4 shards): their shards are
# complete, so they do nothing.
rm "$output"
resubmitted=$(IFS=,; echo "${cancelled_tasks[*]}")
read -r again_job again_merge < <("$repo/scripts/slurm/submit.sh" "${submit_options[@]}" \
  --array "$resubmitted" -- "${embed_options[@]}" "${shard_options[@]}")
for task in "${cancelled_tasks[@]}"; do
  wait_for "${again_job}_$task" JobState COMPLETED 120
done
wait_for "$again_merge" JobState COMPLETED 120
log "resubmitted tasks $resubmitted:"
show_jobs "$again_job" "$again_merge" >&2
for task in "${cancelled_tasks[@]}"; do
  sed 's/^/  /' "$work/logs/bert-embed-shard-${again_job}_$task.out" >&2
  grep -q "is complete .*nothing to do" "$work/logs/bert-embed-shard-${again_job}_$task.out" ||
    fail "the resubmitted task ${again_job}_$task did not find its shard complete"
done
cmp "$work/reference.npy" "$output" || fail "the second merge differs from the one-process run"
log "PASS: $shards shards, tasks $resubmitted cancelled, requeued and resubmitted; merged output identical"
