#!/usr/bin/env bash
# Downloads a checkpoint (an architecture scripts/export_model.py knows) from the HuggingFace hub and exports it
# as a bert-embed bundle with scripts/export_model.py.
#   scripts/fetch_model.sh NAME [BUNDLE_DIR] [export_model.py options, e.g. --int8 --force]
# NAME is a hub model id (bert-base-uncased, google/bert_uncased_L-2_H-128_A-2).
# The checkpoint files are cached in models/NAME-src (or $BERT_EMBED_CACHE/NAME)
# and the bundle is written to BUNDLE_DIR (default models/NAME). $HF_ENDPOINT
# replaces https://huggingface.co (a mirror).
# Without network, download the files elsewhere and run
#   scripts/export_model.py /path/to/checkpoint models/NAME
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
hub=${HF_ENDPOINT:-https://huggingface.co}

usage() {
  echo "usage: fetch_model.sh NAME [BUNDLE_DIR] [export_model.py options]" >&2
  exit 2
}
# die LINE...: the first line prefixed with the script name, the others as given.
die() {
  {
    printf 'fetch_model.sh: %s\n' "$1"
    shift
    [ $# -eq 0 ] || printf '%s\n' "$@"
  } >&2
  exit 1
}

[ $# -ge 1 ] || usage
case $1 in
  -h | --help) sed -n '2,10s/^# \{0,1\}//p' "$0"; exit 0 ;;
  -*) usage ;;
esac
name=$1
shift
if [[ ! $name =~ ^[A-Za-z0-9][A-Za-z0-9._-]*(/[A-Za-z0-9][A-Za-z0-9._-]*)?$ ]]; then
  echo "fetch_model.sh: '$name' is not a hub model id (like bert-base-uncased or org/model)" >&2
  usage
fi
bundle=$root/models/$name
if [ $# -ge 1 ] && [[ $1 != -* ]]; then
  bundle=$1
  shift
fi
if [ -n "${BERT_EMBED_CACHE:-}" ]; then
  cache=$BERT_EMBED_CACHE/$name
else
  cache=$root/models/$name-src
fi

offline() {
  die "cannot reach $hub ($1; is this machine offline?)" \
    "Download the checkpoint elsewhere (config.json; the tokenizer files;" \
    "tokenizer_config.json; model.safetensors or pytorch_model.bin) and export that local" \
    "HuggingFace directory instead:" \
    "  scripts/export_model.py /path/to/checkpoint models/$name"
}

# request OUTPUT URL [CURL_OPTION...]: prints the HTTP status (000: no connection).
request() {
  local output=$1 url=$2 status curl_status=0
  shift 2
  status=$(curl --show-error --location --connect-timeout 10 --max-time 3600 "$@" \
    --output "$output" --write-out '%{http_code}' "$url") || curl_status=$?
  if [ "$curl_status" != 0 ]; then
    [ "$status" = 000 ] && offline "curl exit status $curl_status"
    die "downloading $url failed (curl exit status $curl_status)"
  fi
  case $status in
    401 | 403) die "$hub/$name: access denied (HTTP $status): no such model, or it is private or gated" ;;
    200 | 404) echo "$status" ;;
    *) die "downloading $url failed (HTTP $status)" ;;
  esac
}

# fetch FILE [CURL_OPTION...]: downloads FILE of the model into the cache unless
# it is there already. Returns 1 when the hub has no such file.
fetch() {
  local file=$1 target=$cache/$1 status
  shift
  [ -s "$target" ] && return 0
  mkdir -p "$(dirname "$target")"
  status=$(request "$target.part" "$hub/$name/resolve/main/$file" "$@") || exit 1
  if [ "$status" = 200 ]; then
    mv "$target.part" "$target" || die "cannot write $target"
  else
    rm -f "$target.part"
    return 1
  fi
}

# on_hub FILE: whether the model has FILE (a HEAD request; nothing is downloaded).
on_hub() {
  local status
  [ -s "$cache/$1" ] && return 0
  status=$(request /dev/null "$hub/$name/resolve/main/$1" --silent --head --retry 3) || exit 1
  [ "$status" = 200 ]
}

mkdir -p "$cache"
trap 'rmdir "$cache" 2>/dev/null || true' EXIT  # leaves no empty cache behind a failure
# The first request has no retries so that an offline machine gives up at once.
fetch config.json --silent || die "$hub/$name has no config.json; is it a transformers model?"
# Whatever tokenizer files the architecture uses (WordPiece, SentencePiece, byte-level
# BPE), and a sentence-transformers directory's module files where there are some.
for file in tokenizer_config.json special_tokens_map.json added_tokens.json vocab.txt tokenizer.json \
  spiece.model sentencepiece.bpe.model vocab.json merges.txt modules.json; do
  fetch "$file" --silent --retry 3 || true
done
if [ -s "$cache/modules.json" ]; then
  for file in sentence_bert_config.json 1_Pooling/config.json; do
    fetch "$file" --silent --retry 3 || true
  done
fi
weights=
for file in model.safetensors pytorch_model.bin; do
  if on_hub "$file"; then
    weights=$file
    break
  fi
done
[ -n "$weights" ] ||
  die "$hub/$name has neither model.safetensors nor pytorch_model.bin (sharded and TensorFlow-only checkpoints are not supported)"
fetch "$weights" --progress-bar --retry 3 || die "$hub/$name/resolve/main/$weights disappeared during the download"

exec "$root/scripts/export_model.py" "$@" "$cache" "$bundle"
