#!/usr/bin/env bash
# One command from a fresh Debian bookworm machine to a result: installs the
# dependencies, builds bert-embed, makes a model bundle and prints the cosine
# similarity matrix of a few example sentences.
#   scripts/demo.sh                      fetch bert-base-uncased from the HuggingFace hub
#   scripts/demo.sh CHECKPOINT_DIR       use a local HuggingFace checkpoint directory
#   scripts/demo.sh BUNDLE_DIR           use a bundle made by scripts/export_model.py
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/install-deps.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release -DBERT_EMBED_BUILD_TESTS=OFF >/dev/null
cmake --build build --target bert-embed -j "$(nproc)"

source=${1:-}
if [ -z "$source" ]; then
  bundle=models/bert-base-uncased
  if [ ! -f "$bundle/bundle.json" ] && ! scripts/fetch_model.sh bert-base-uncased "$bundle"; then
    echo "demo: no model to run. Pass a local HuggingFace checkpoint directory instead:" >&2
    echo "  scripts/demo.sh /path/to/bert-base-uncased      (e.g. scripts/demo.sh ../shared/fixtures/models/tiny-uncased)" >&2
    exit 1
  fi
elif [ -f "$source/bundle.json" ]; then
  bundle=$source
elif [ -f "$source/config.json" ]; then
  bundle=models/$(basename "$(cd "$source" && pwd)")
  scripts/export_model.py --force "$source" "$bundle"
else
  echo "demo: $source is neither a HuggingFace checkpoint (config.json) nor a bundle (bundle.json)" >&2
  exit 1
fi

sentences=(
  "A man is playing a guitar."
  "Someone is playing an instrument."
  "A woman is slicing an onion."
  "The stock market fell sharply today."
  "Shares dropped as investors worried about inflation."
)
printf '%s\n' "${sentences[@]}" |
  build/bert-embed -m "$bundle" --pooling mean --normalize l2 --quiet |
  /usr/bin/python3 scripts/similarity_matrix.py "${sentences[@]}"
