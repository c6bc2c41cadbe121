#!/usr/bin/python3
"""Export a HuggingFace checkpoint as a bert-embed bundle: see --help.

A bundle is a directory holding model.pt (TorchScript encoder with forward()
and encode()), optionally model.int8.pt (Linear layers dynamically quantized),
the tokenizer files with the effective tokenizer_config.json, and bundle.json;
src/model/bundle.cc and src/model/encoder.cc read it.

The encoders are written in PyTorch in bert_embed_export/architectures/, one
module per architecture (transformers is not available on the target
machines); their arithmetic follows HF transformers v4.29.2 in float32.
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bert_embed_export.cli import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
