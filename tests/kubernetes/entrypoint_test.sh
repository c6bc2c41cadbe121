#!/usr/bin/env bash
# The Kubernetes recipe without a cluster: scripts/kubernetes/entrypoint.sh run as the pods
# of the Indexed Job would run it (JOB_COMPLETION_INDEX set), then as the merge Job.
#
#   tests/kubernetes/entrypoint_test.sh BERT_EMBED BUNDLE CORPUS
#
# Checks: each index embeds its own shard (the shard's manifest names index/count, and its
# rows are the one-process run's rows begin..end); a rerun of a completed index exits 0 and
# rewrites nothing; an index outside the shards, or none, is refused (exit 2); the merge
# equals the one-process run byte for byte; the manifests agree with the entry script
# (completions = BERT_EMBED_SHARDS, the same output in both Jobs).
set -euo pipefail

if [ $# -ne 3 ]; then
  echo "usage: $0 BERT_EMBED BUNDLE CORPUS" >&2
  exit 2
fi
repo=$(cd "$(dirname "$0")/../.." && pwd)
entrypoint=$repo/scripts/kubernetes/entrypoint.sh
bert_embed=$(realpath "$1") bundle=$(realpath "$2") corpus=$(realpath "$3")
shards=3
python=${BERT_EMBED_PYTHON:-/usr/bin/python3}  # Debian's, with numpy and yaml

fail() { echo "kubernetes-test: FAIL: $*" >&2; exit 1; }
work=$(mktemp -d "${TMPDIR:-/tmp}/bert-embed-kubernetes-test.XXXXXX")
trap 'rm -rf "$work"' EXIT

# The first 600 lines, in windows of 64: shards lie on their grid, so that none of the 3 is empty.
head -n 600 "$corpus" >"$work/corpus.txt"
options=(-m "$bundle" -i "$work/corpus.txt" --window-lines 64 --quiet)
# With the pods' thread count: BLAS kernels may sum in another order with
# another one (OpenBLAS's Haswell kernels do), and the bytes are promised for
# the same options.
"$bert_embed" embed "${options[@]}" --threads 1 -o "$work/reference.npy"

export BERT_EMBED=$bert_embed BERT_EMBED_SHARDS=$shards BERT_EMBED_OUTPUT=$work/out/vectors.npy BERT_EMBED_THREADS=1
# pod INDEX ARGUMENT...: the entry script as the pod of that index runs it.
pod() {
  local index=$1
  shift
  JOB_COMPLETION_INDEX=$index "$entrypoint" "$@"
}

# The indices in another order than the shards': each pod picks its shard from its index.
for index in 2 0 1; do
  pod "$index" embed "${options[@]}" || fail "index $index exited $?"
done
for ((index = 0; index < shards; index++)); do
  shard=$work/out/vectors.shard-000$index-of-000$shards.npy
  [ -f "$shard" ] || fail "index $index did not write $shard"
  "$python" - "$work/reference.npy" "$shard" "$index" "$shards" <<'EOF' || fail "index $index: wrong shard"
import json, sys
import numpy
reference, shard, index, count = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
described = json.load(open(shard + ".manifest.json"))["shard"]
assert (described["index"], described["count"]) == (index, count), described
assert described["complete"], described
assert described["end"] > described["begin"], f"an empty shard: {described}"
rows = numpy.load(shard)
assert rows.shape[0] == described["end"] - described["begin"], (rows.shape, described)
assert numpy.array_equal(rows, numpy.load(reference)[described["begin"]:described["end"]]), "rows differ"
print(f"index {index}: shard {index}/{count}, records {described['begin']}..{described['end']} of {described['total_records']}")
EOF
done

# A pod restarted on a completed index: exit 0, nothing rewritten.
shard=$work/out/vectors.shard-0001-of-000$shards.npy
before=$(stat -c '%i %y' "$shard" "$shard.manifest.json")
pod 1 embed "${options[@]}" || fail "rerun of index 1 exited $?"
[ "$(stat -c '%i %y' "$shard" "$shard.manifest.json")" = "$before" ] || fail "rerun of index 1 rewrote its shard"
echo "index 1 again: exit 0, shard and manifest untouched" >&2

# Indices that are no shard.
for index in "$shards" -1 "" x; do
  status=0
  pod "$index" embed "${options[@]}" 2>"$work/refused.txt" || status=$?
  [ "$status" -eq 2 ] || fail "JOB_COMPLETION_INDEX='$index' exited $status, not 2"
  grep -q "is not a shard of $shards" "$work/refused.txt" || fail "JOB_COMPLETION_INDEX='$index': $(cat "$work/refused.txt")"
done
[ ! -e "$work/out/vectors.shard-0003-of-0003.npy" ] || fail "index $shards wrote a shard"

# The merge Job.
"$entrypoint" merge || fail "merge exited $?"
cmp "$work/reference.npy" "$BERT_EMBED_OUTPUT" || fail "the merged output differs from the one-process run"
echo "merge: identical to the one-process run" >&2

# The Jobs' manifests agree with each other and with the entry script.
"$python" - "$repo/scripts/kubernetes" <<'EOF' || fail "the Job manifests disagree"
import sys
import yaml
folder = sys.argv[1]
def container(path):
    job = yaml.safe_load(open(f"{folder}/{path}"))
    return job, job["spec"]["template"]["spec"]["containers"][0]
def env(container):
    return {variable["name"]: variable.get("value") for variable in container["env"]}
embed_job, embed = container("embed-job.yaml")
merge_job, merge = container("merge-job.yaml")
spec = embed_job["spec"]
assert spec["completionMode"] == "Indexed", spec
assert spec["completions"] == int(env(embed)["BERT_EMBED_SHARDS"]), "completions differ from BERT_EMBED_SHARDS"
for variable in ("BERT_EMBED_SHARDS", "BERT_EMBED_OUTPUT"):
    assert env(embed)[variable] == env(merge)[variable], f"{variable} differs between the Jobs"
assert embed["command"][-1] == "embed" and merge["command"][-1] == "merge"
assert embed["command"][0].endswith("/scripts/kubernetes/entrypoint.sh"), embed["command"]
mounted = {mount["mountPath"] for mount in embed["volumeMounts"]}
assert any(env(embed)["BERT_EMBED_OUTPUT"].startswith(path + "/") for path in mounted), "the output is not on a volume"
EOF
echo "kubernetes-test: PASS" >&2
