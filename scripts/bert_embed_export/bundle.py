"""Writing a bundle: model.pt (and model.int8.pt) scripted and smoke-tested, the
tokenizer files, bundle.json with the sha256 of every file; written into a
staging directory beside the destination and published with renames."""

import hashlib
import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import List, Optional, Tuple

import torch
from torch import Tensor, nn

from .architecture import Architecture
from .checkpoint import sha256_of
from .config import ModelConfig
from .errors import ExportError
from .layers import HiddenStateEncoder
from .tokenizer import TokenizerFiles

# 2: bundle.json records the sha256 of every file of the bundle ("files").
FORMAT_VERSION = 2
SCRIPT_NAME = "scripts/export_model.py"

def init_random_weights(model: HiddenStateEncoder, config: ModelConfig, seed: int) -> str:
    """HF's _init_weights with a seeded generator; returns the sha256 of the weights."""
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, (nn.Linear, nn.Embedding)):
                module.weight.normal_(0.0, 0.02, generator=generator)
            if isinstance(module, nn.Linear) and module.bias is not None:
                module.bias.zero_()
            elif isinstance(module, nn.LayerNorm):
                module.weight.fill_(1.0)
                module.bias.zero_()
        for name, parameter in model.named_parameters(recurse=True):
            if "." in name and name.rsplit(".", 1)[1] in ("content_bias", "position_bias", "segment_bias",
                                                           "segment_embeddings"):
                parameter.normal_(0.0, 0.02, generator=generator)
        if config.pad_token_id is not None:
            model.word_embeddings.weight[config.pad_token_id].zero_()
    digest = hashlib.sha256()
    for name, tensor in model.state_dict().items():
        digest.update(name.encode())
        digest.update(memoryview(tensor.contiguous().numpy()))
    return digest.hexdigest()


def quantized(model: HiddenStateEncoder) -> nn.Module:
    """Linear layers with int8 weights, one scale per output channel (a per-tensor scale
    is set by the largest weight of the whole matrix and costs accuracy at the same speed)."""
    return torch.quantization.quantize_dynamic(model, {nn.Linear: torch.quantization.per_channel_dynamic_qconfig},
                                               dtype=torch.qint8)


def sample_batch(architecture: Architecture, tokenizer: TokenizerFiles, vocab_size: int,
                 max_positions: int) -> Tuple[Tensor, Tensor, Tensor]:
    """Two framed sequences of random ids, the second shorter and padded on the right;
    token types 0, then 1 from the middle of the first."""
    generator = torch.Generator().manual_seed(0)
    length = min(12, max_positions)
    content = torch.randint(0, min(vocab_size, tokenizer.vocab_size), (2, length), generator=generator)
    short = max(2, length // 2)
    ids = torch.full((2, length), tokenizer.special_ids["pad"], dtype=torch.int64)
    ids[0] = architecture.sample_ids(tokenizer, content[0], length)
    ids[1, :short] = architecture.sample_ids(tokenizer, content[1, :short], short)
    mask = torch.zeros(2, length, dtype=torch.int64)
    mask[0] = 1
    mask[1, :short] = 1
    types = torch.zeros_like(ids)
    types[0, length // 2:] = 1
    return ids, mask, types


def smoke_test(path: Path, reference: nn.Module, inputs: Tuple[Tensor, Tensor, Tensor],
               config: ModelConfig, has_pooler: bool, check_padding: bool) -> None:
    """Loads a written module back and checks it against the eager one, its encode()
    against forward(), and (float models) that padding does not change a real token's
    vector. Dynamic int8 quantization scales activations per batch, so a padded
    batch legitimately shifts int8 results a little."""
    def check(condition: bool, problem: str) -> None:
        if not condition:
            raise ExportError(f"{path.name}: smoke test of the written module failed: {problem}")

    def max_difference(a: Tensor, b: Tensor) -> float:
        return float((a - b).abs().max()) if a.numel() else 0.0

    tolerance = 1e-4
    module = torch.jit.load(str(path))
    ids, mask, types = inputs
    with torch.inference_mode():
        hidden, pooled = module(ids, mask, types)
        expected_hidden, expected_pooled = reference(ids, mask, types)
        check(list(hidden.shape) == [config.num_layers + 1, *ids.shape, config.hidden_size],
              f"hidden shape {list(hidden.shape)}")
        check(list(pooled.shape) == ([ids.size(0), config.hidden_size] if has_pooler else [0]),
              f"pooler shape {list(pooled.shape)}")
        check(bool(torch.isfinite(hidden).all()), "non-finite hidden states")
        difference = max(max_difference(hidden, expected_hidden), max_difference(pooled, expected_pooled))
        check(difference <= tolerance, f"TorchScript output differs from the eager module by {difference:.3g}")
        selected, _ = module.encode(ids, mask, types, [config.num_layers, 0], False)
        check(torch.equal(selected, hidden[[config.num_layers, 0]]), "encode() differs from forward()")
        if check_padding:
            length = int(mask[1].sum())
            alone, _ = module(ids[1:, :length], mask[1:, :length], types[1:, :length])
            difference = max_difference(alone[:, 0], hidden[:, 1, :length])
            check(difference <= tolerance, f"padding changes real tokens by {difference:.3g}")


def check_destination(bundle: Path, force: bool, inputs: List[Path]) -> None:
    """Refuses to overwrite a non-empty bundle without --force, or ever a directory holding an input."""
    if bundle.exists() or bundle.is_symlink():
        if not bundle.is_dir():
            raise ExportError(f"{bundle}: exists and is not a directory")
        if any(bundle.iterdir()) and not force:
            raise ExportError(f"{bundle}: exists and is not empty; pass --force to replace it")
    resolved = bundle.resolve()
    for path in inputs:
        if resolved == path.resolve() or resolved in path.resolve().parents:
            raise ExportError(f"{bundle}: refusing to replace a directory holding the input {path}")


def make_staging_dir(bundle: Path) -> Path:
    """An empty directory beside `bundle`, with the permissions a new directory would get."""
    bundle.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{bundle.name}.", suffix=".tmp", dir=bundle.parent))
    umask = os.umask(0)
    os.umask(umask)
    staging.chmod(0o777 & ~umask)
    return staging


def publish_bundle(staging: Path, bundle: Path) -> None:
    """Replaces `bundle` by `staging` with renames, so readers never see a partial bundle."""
    if bundle.exists():
        retired = Path(tempfile.mkdtemp(prefix=f".{bundle.name}.", suffix=".old", dir=bundle.parent))
        os.rename(bundle, retired / "bundle")
        os.rename(staging, bundle)
        shutil.rmtree(retired)
    else:
        os.rename(staging, bundle)


def write_bundle(staging: Path, architecture: Architecture, model: HiddenStateEncoder, config: ModelConfig,
                 tokenizer: TokenizerFiles, source: dict, int8: bool, defaults: Optional[dict]) -> None:
    has_pooler = model.pooler is not None
    inputs = sample_batch(architecture, tokenizer, config.vocab_size, config.max_positions)
    torch.jit.save(torch.jit.script(model), str(staging / "model.pt"))
    smoke_test(staging / "model.pt", model, inputs, config, has_pooler, check_padding=True)
    if int8:
        int8_model = quantized(model)
        torch.jit.save(torch.jit.script(int8_model), str(staging / "model.int8.pt"))
        smoke_test(staging / "model.int8.pt", int8_model, inputs, config, has_pooler, check_padding=False)

    for path in tokenizer.files:
        shutil.copyfile(path, staging / path.name)
    with open(staging / "tokenizer_config.json", "w", encoding="utf-8") as stream:
        json.dump(tokenizer.config, stream, indent=2, ensure_ascii=False)
        stream.write("\n")
    # bert-embed verifies the files a run uses against these before using them.
    file_hashes = {path.name: sha256_of(path) for path in sorted(staging.iterdir())}

    bundle_info = {
        "format_version": FORMAT_VERSION,
        "architecture": architecture.name,
        "num_layers": config.num_layers,
        "hidden_size": config.hidden_size,
        "num_attention_heads": config.num_heads,
        "intermediate_size": config.intermediate_size,
        # The longest sequence the model takes (RoBERTa: its position table less padding_idx + 1).
        "max_position_embeddings": config.max_positions,
        "type_vocab_size": config.type_vocab_size,
        "vocab_size": config.vocab_size,
        "embedding_size": config.embedding_size,
        "hidden_act": config.hidden_act,
        "layer_norm_eps": config.layer_norm_eps,
        "has_pooler": has_pooler,
        "int8_model": int8,
        "tokenizer": tokenizer.section(),
        **({"defaults": defaults} if defaults is not None else {}),
        "source": source,
        "files": file_hashes,
        "exporter": {"torch_version": torch.__version__, "script": SCRIPT_NAME},
    }
    with open(staging / "bundle.json", "w", encoding="utf-8") as stream:
        json.dump(bundle_info, stream, indent=2, ensure_ascii=False)
        stream.write("\n")
