"""sentence-transformers model directories: modules.json naming a Transformer, a
Pooling and optionally a Normalize module. The Transformer is exported as any
checkpoint; the rest becomes the bundle's "defaults", which bert-embed applies
unless options override them, so that `bert-embed -m BUNDLE` gives what
SentenceTransformer.encode gives."""

import json
from pathlib import Path
from typing import Optional, Tuple

from .checkpoint import read_json
from .errors import ExportError

TRANSFORMER = "sentence_transformers.models.Transformer"
POOLING = "sentence_transformers.models.Pooling"
NORMALIZE = "sentence_transformers.models.Normalize"

# Pooling config flag -> bert-embed pooling.
POOLING_MODES = {
    "pooling_mode_cls_token": "cls",
    "pooling_mode_mean_tokens": "mean",
    "pooling_mode_max_tokens": "max",
    "pooling_mode_lasttoken": "last",
}
UNSUPPORTED_POOLING_MODES = ("pooling_mode_mean_sqrt_len_tokens", "pooling_mode_weightedmean_tokens")


def is_sentence_transformers_dir(source: Path) -> bool:
    return (source / "modules.json").is_file()


def read_modules(source: Path) -> list:
    path = source / "modules.json"
    try:
        modules = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise ExportError(f"{path}: cannot read: {error}") from None
    if not isinstance(modules, list) or not all(isinstance(module, dict) and isinstance(module.get("type"), str)
                                                and isinstance(module.get("path", ""), str)
                                                for module in modules):
        raise ExportError(f"{path}: expected a list of modules with \"type\" and \"path\"")
    return sorted(modules, key=lambda module: module.get("idx", 0))


def pooling_of(config_path: Path) -> str:
    config = read_json(config_path)
    for flag in UNSUPPORTED_POOLING_MODES:
        if config.get(flag):
            raise ExportError(f"{config_path}: {flag} is not supported (bert-embed pools with "
                              f"{', '.join(sorted(set(POOLING_MODES.values())))})")
    modes = [mode for flag, mode in POOLING_MODES.items() if config.get(flag)]
    if len(modes) != 1:
        raise ExportError(f"{config_path}: expected exactly one pooling mode set among "
                          f"{', '.join(POOLING_MODES)}, found {len(modes)}")
    return modes[0]


def read_sentence_transformers(source: Path) -> Tuple[Path, dict]:
    """The Transformer's checkpoint directory and the bundle defaults the other modules imply."""
    modules = read_modules(source)
    modules_path = source / "modules.json"
    types = [module["type"] for module in modules]
    for module in modules:
        if module["type"] not in (TRANSFORMER, POOLING, NORMALIZE):
            raise ExportError(f"{modules_path}: module {module['type']} (at {module.get('path')!r}) is not "
                              "supported: bert-embed exports a Transformer followed by Pooling and optionally "
                              "Normalize (a Dense projection would change the vectors)")
    if types[:2] != [TRANSFORMER, POOLING] or types[2:] not in ([], [NORMALIZE]):
        raise ExportError(f"{modules_path}: modules {', '.join(types)} are not supported: expected "
                          f"{TRANSFORMER}, {POOLING} and optionally {NORMALIZE}, in that order")
    transformer_dir = source / modules[0].get("path", "")
    config_path = transformer_dir / "sentence_bert_config.json"
    settings = read_json(config_path) if config_path.exists() else {}
    if settings.get("do_lower_case"):
        raise ExportError(f"{config_path}: do_lower_case true is not supported (bert-embed does not "
                          "lowercase the text before its tokenizer)")
    max_length: Optional[int] = settings.get("max_seq_length")
    if max_length is not None and (isinstance(max_length, bool) or not isinstance(max_length, int) or max_length < 1):
        raise ExportError(f"{config_path}: max_seq_length must be a positive integer, got {max_length!r}")
    defaults = {
        "pooling": pooling_of(source / modules[1].get("path", "") / "config.json"),
        "layers": "-1",
        "normalize": "l2" if len(modules) == 3 else "none",
        "strip_text": True,
        "prefix": "",
    }
    if max_length is not None:
        defaults["max_length"] = max_length
    return transformer_dir, defaults
