"""scripts/export_model.py's implementation: HuggingFace checkpoints to bert-embed bundles."""
