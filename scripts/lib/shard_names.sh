# Names of shard outputs, shared by the Slurm, Kubernetes and GNU parallel recipes (sourced).
# Shard I of N of OUT=DIR/NAME.EXT is DIR/NAME.shard-IIII-of-NNNN.EXT: the zero-padded
# numbers make a glob list the shards in order, and the extension keeps the format
# bert-embed infers from it (.npy, .jsonl).

# shard_output_pattern OUT N: a printf format of the shard outputs, taking the index.
shard_output_pattern() {
  local output=$1 count=$2 stem extension=""
  local name=${output##*/}
  if [[ $name == ?*.* ]]; then
    extension=.${name##*.}
    stem=${output%.*}
  else
    stem=$output
  fi
  printf '%s.shard-%%04d-of-%04d%s' "${stem//%/%%}" "$count" "${extension//%/%%}"
}

# shard_output OUT I N: the output of shard I of N.
shard_output() {
  local pattern
  pattern=$(shard_output_pattern "$1" "$3")
  # shellcheck disable=SC2059 # the pattern is the format
  printf "$pattern" "$2"
}

# shard_outputs OUT N: every shard output, one a line, in shard order.
shard_outputs() {
  local pattern index
  pattern=$(shard_output_pattern "$1" "$2")
  for ((index = 0; index < $2; index++)); do
    # shellcheck disable=SC2059
    printf "$pattern\n" "$index"
  done
}
