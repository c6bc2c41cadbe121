#!/bin/bash
# Peak RSS of `bert-embed stats` and `bert-embed postprocess` over N saved
# vectors (synthetic, made with numpy as NPY + manifest), for each N given:
# flat memory means the same peak at 100,000 and 1,000,000 vectors.
#
#   bench/postprocess_memory.sh BINARY DIR [DIM] [N...]
#
# DIR holds the synthetic files (N x DIM x 4 bytes each, plus outputs).
set -euo pipefail
binary=$1
dir=$2
dim=${3:-128}
shift $(($# < 3 ? $# : 3))
counts=("${@:-100000 1000000}")
mkdir -p "$dir"
peak() {  # prints "peak_kb seconds" of a command
  /usr/bin/time -f '%M %e' -o "$dir/time.txt" "$@" >/dev/null 2>"$dir/err.txt" || { cat "$dir/err.txt"; exit 1; }
  cat "$dir/time.txt"
}
echo "| command | vectors | dim | peak RSS (MiB) | seconds |"
echo "|---|---|---|---|---|"
for count in ${counts[*]}; do
  vectors="$dir/vectors-$count.npy"
  /usr/bin/python3 - "$vectors" "$count" "$dim" <<'PY'
import json, os, sys
import numpy as np
path, count, dim = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
rng = np.random.default_rng(0)
mixing = rng.standard_normal((dim, dim)).astype(np.float32) / np.sqrt(dim)
offset = rng.standard_normal(dim).astype(np.float32) * 3
out = np.lib.format.open_memmap(path, mode="w+", dtype="<f4", shape=(count, dim))
for start in range(0, count, 65536):
    rows = min(65536, count - start)
    out[start:start + rows] = rng.standard_normal((rows, dim)).astype(np.float32) @ mixing + offset
out.flush()
del out
manifest = {
    "manifest_version": 1, "kind": "vectors", "bert_embed_version": "synthetic",
    "source": {"architecture": "bert", "weights_sha256": "synthetic", "layers": [12], "slot_labels": ["-1"],
               "layer_aggregation": "none", "pooling": "mean", "exclude_special": False, "dtype": "float32",
               "dim": dim},
    "postprocess": "none",
    "input": {"name": "synthetic", "size_bytes": None, "first_record": 0, "end_record": count},
    "format": "npy", "output_dtype": "float32", "rows": count, "dim": dim,
    "files": [{"name": os.path.basename(path), "size_bytes": os.path.getsize(path), "rows": count}],
}
json.dump(manifest, open(path + ".manifest.json", "w"), indent=2)
PY
  read -r kb seconds < <(peak "$binary" stats "$vectors" -o "$dir/stats.json" --whiten "$((dim / 2))" -q)
  echo "| stats --whiten $((dim / 2)) | $count | $dim | $((kb / 1024)) | $seconds |"
  read -r kb seconds < <(peak "$binary" postprocess "$vectors" -o "$dir/out.npy" --stats "$dir/stats.json" \
                            --normalize l2 -q)
  echo "| postprocess --stats --normalize l2 | $count | $dim | $((kb / 1024)) | $seconds |"
  read -r kb seconds < <(peak "$binary" postprocess "$vectors" -o "$dir/out.npy" --output-dtype int8 -q)
  echo "| postprocess --output-dtype int8 | $count | $dim | $((kb / 1024)) | $seconds |"
  rm -f "$vectors" "$vectors.manifest.json" "$dir"/out.npy*
done
