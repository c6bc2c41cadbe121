#!/usr/bin/python3
"""Export a HuggingFace BERT or ALBERT checkpoint as a bert-embed bundle.

A bundle is a directory holding model.pt (TorchScript encoder with forward()
and encode()), optionally model.int8.pt (Linear layers dynamically quantized),
the tokenizer files with the effective tokenizer_config.json, and bundle.json;
src/model/bundle.cc and src/model/encoder.cc read it.

The encoder is written here in PyTorch rather than taken from transformers
(not available on the target machines); its arithmetic follows HF BertModel /
AlbertModel v4.29.2 in float32, with the query/key/value projections fused
into one matrix product.
"""

import argparse
import hashlib
import json
import math
import os
import shutil
import signal
import struct
import sys
import tempfile
import time
from pathlib import Path
from typing import Callable, Dict, List, Optional, Tuple

import torch
from torch import Tensor, nn

# 2: bundle.json records the sha256 of every file of the bundle ("files").
FORMAT_VERSION = 2
SCRIPT_NAME = "scripts/export_model.py"
PROG = "export_model.py"


class ExportError(Exception):
    """An expected problem with the input: reported as one line, exit status 1."""


class Terminated(BaseException):
    """SIGTERM, raised like KeyboardInterrupt so that the partial bundle is removed."""


# ---------------------------------------------------------------------------
# Model configuration


# HF BertConfig / AlbertConfig defaults, applied to fields config.json omits.
HF_DEFAULTS = {
    "bert": dict(vocab_size=30522, hidden_size=768, num_hidden_layers=12, num_attention_heads=12,
                 intermediate_size=3072, hidden_act="gelu", max_position_embeddings=512,
                 type_vocab_size=2, layer_norm_eps=1e-12, pad_token_id=0,
                 position_embedding_type="absolute"),
    "albert": dict(vocab_size=30000, embedding_size=128, hidden_size=4096, num_hidden_layers=12,
                   num_hidden_groups=1, num_attention_heads=64, intermediate_size=16384,
                   inner_group_num=1, hidden_act="gelu_new", max_position_embeddings=512,
                   type_vocab_size=2, layer_norm_eps=1e-12, pad_token_id=0,
                   position_embedding_type="absolute"),
}

# Transformer sizes for --random-init --preset (the vocabulary comes from --vocab).
PRESETS = {
    "bert-tiny": dict(model_type="bert", num_hidden_layers=2, hidden_size=128, num_attention_heads=2,
                      intermediate_size=512),
    "bert-mini": dict(model_type="bert", num_hidden_layers=4, hidden_size=256, num_attention_heads=4,
                      intermediate_size=1024),
    "bert-small": dict(model_type="bert", num_hidden_layers=4, hidden_size=512, num_attention_heads=8,
                       intermediate_size=2048),
    "bert-medium": dict(model_type="bert", num_hidden_layers=8, hidden_size=512, num_attention_heads=8,
                        intermediate_size=2048),
    "bert-base": dict(model_type="bert", num_hidden_layers=12, hidden_size=768, num_attention_heads=12,
                      intermediate_size=3072),
    "bert-large": dict(model_type="bert", num_hidden_layers=24, hidden_size=1024, num_attention_heads=16,
                       intermediate_size=4096),
    "albert-base": dict(model_type="albert", num_hidden_layers=12, hidden_size=768, num_attention_heads=12,
                        intermediate_size=3072, embedding_size=128),
    "albert-large": dict(model_type="albert", num_hidden_layers=24, hidden_size=1024,
                         num_attention_heads=16, intermediate_size=4096, embedding_size=128),
}

# config.json field <- command-line size flag (argparse dest).
SIZE_FLAGS = {
    "num_hidden_layers": "num_layers",
    "hidden_size": "hidden_size",
    "num_attention_heads": "num_heads",
    "intermediate_size": "intermediate_size",
    "embedding_size": "embedding_size",
    "max_position_embeddings": "max_positions",
}

# HF hidden_act names whose function torch provides exactly.
ACTIVATIONS = {
    "gelu": lambda: nn.GELU(),  # erf form
    "gelu_new": lambda: nn.GELU(approximate="tanh"),
    "gelu_pytorch_tanh": lambda: nn.GELU(approximate="tanh"),
    "relu": lambda: nn.ReLU(),
}


class EncoderConfig:
    """The architecture fields of config.json that the encoder depends on."""

    def __init__(self, raw: dict, origin: str):
        self.origin = origin
        model_type = raw.get("model_type")
        if model_type is None:
            raise ExportError(f"{origin}: no model_type; expected \"bert\" or \"albert\"")
        if model_type not in HF_DEFAULTS:
            raise ExportError(f"{origin}: model_type {model_type!r} is not supported "
                              "(bert-embed exports \"bert\" and \"albert\" checkpoints)")
        self.architecture = model_type
        fields = dict(HF_DEFAULTS[model_type])
        fields.update({key: value for key, value in raw.items() if value is not None})
        self.fields = fields

        self.num_layers = self._positive_int("num_hidden_layers")
        self.hidden_size = self._positive_int("hidden_size")
        self.num_heads = self._positive_int("num_attention_heads")
        self.intermediate_size = self._positive_int("intermediate_size")
        self.max_positions = self._positive_int("max_position_embeddings")
        self.type_vocab_size = self._positive_int("type_vocab_size")
        self.vocab_size = self._positive_int("vocab_size")
        self.pad_token_id = fields["pad_token_id"]
        self.layer_norm_eps = fields["layer_norm_eps"]
        if isinstance(self.layer_norm_eps, bool) or not isinstance(self.layer_norm_eps, (int, float)) \
                or not self.layer_norm_eps > 0:
            raise ExportError(f"{origin}: layer_norm_eps must be a positive number, got {self.layer_norm_eps!r}")
        self.layer_norm_eps = float(self.layer_norm_eps)

        self.hidden_act = fields["hidden_act"]
        if self.hidden_act not in ACTIVATIONS:
            raise ExportError(f"{origin}: hidden_act {self.hidden_act!r} is not supported "
                              f"(supported: {', '.join(ACTIVATIONS)})")
        if fields["position_embedding_type"] != "absolute":
            raise ExportError(f"{origin}: position_embedding_type {fields['position_embedding_type']!r} "
                              "is not supported (only \"absolute\")")
        if fields.get("is_decoder") or fields.get("add_cross_attention"):
            raise ExportError(f"{origin}: decoder checkpoints (is_decoder / add_cross_attention) "
                              "are not supported; bert-embed needs a bidirectional encoder")
        if self.hidden_size % self.num_heads != 0:
            raise ExportError(f"{origin}: hidden_size {self.hidden_size} is not a multiple of "
                              f"num_attention_heads {self.num_heads}")
        if not isinstance(self.pad_token_id, int) or not 0 <= self.pad_token_id < self.vocab_size:
            raise ExportError(f"{origin}: pad_token_id {self.pad_token_id!r} is not an id below "
                              f"vocab_size {self.vocab_size}")

        if model_type == "albert":
            self.embedding_size = self._positive_int("embedding_size")
            for field in ("num_hidden_groups", "inner_group_num"):
                if fields[field] != 1:
                    raise ExportError(f"{origin}: {field} = {fields[field]!r} is not supported; "
                                      "bert-embed exports ALBERT with one shared layer "
                                      "(num_hidden_groups = inner_group_num = 1)")
        else:
            self.embedding_size = self.hidden_size

    def _positive_int(self, field: str) -> int:
        value = self.fields[field]
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ExportError(f"{self.origin}: {field} must be a positive integer, got {value!r}")
        return value

    @property
    def layers_per_block(self) -> List[int]:
        """How many times each distinct transformer layer is applied, in order."""
        if self.architecture == "albert":
            return [self.num_layers]
        return [1] * self.num_layers


def read_json(path: Path) -> dict:
    try:
        with open(path, encoding="utf-8") as stream:
            value = json.load(stream)
    except FileNotFoundError:
        raise ExportError(f"{path}: file not found") from None
    except (OSError, UnicodeDecodeError) as error:
        raise ExportError(f"{path}: cannot read: {error}") from None
    except json.JSONDecodeError as error:
        raise ExportError(f"{path}: invalid JSON: {error}") from None
    if not isinstance(value, dict):
        raise ExportError(f"{path}: expected a JSON object, got {type(value).__name__}")
    return value


# ---------------------------------------------------------------------------
# The encoder (TorchScript-able)


class Float32LayerNorm(nn.LayerNorm):
    """LayerNorm computed in float32 whatever the activations' dtype, its result cast back.

    After module.to(torch.bfloat16), ATen 1.13's bfloat16 LayerNorm on CPU is about 4x
    slower than casting to float32 and back (30% of a BERT-base bfloat16 forward instead of
    7%), and float32 statistics are more accurate. For float32 activations the casts are no-ops.
    """

    def forward(self, x: Tensor) -> Tensor:
        return nn.functional.layer_norm(x.float(), self.normalized_shape, self.weight.float(),
                                        self.bias.float(), self.eps).to(x.dtype)


class TransformerLayer(nn.Module):
    """One post-LayerNorm transformer layer: BertLayer / AlbertLayer in eval mode."""

    __constants__ = ["num_heads", "head_size", "scale"]

    def __init__(self, config: EncoderConfig):
        super().__init__()
        hidden = config.hidden_size
        self.num_heads = config.num_heads
        self.head_size = hidden // config.num_heads
        self.scale = 1.0 / math.sqrt(self.head_size)
        self.qkv = nn.Linear(hidden, 3 * hidden)
        self.attention_output = nn.Linear(hidden, hidden)
        self.attention_norm = Float32LayerNorm(hidden, eps=config.layer_norm_eps)
        self.intermediate = nn.Linear(hidden, config.intermediate_size)
        self.activation = ACTIVATIONS[config.hidden_act]()
        self.output = nn.Linear(config.intermediate_size, hidden)
        self.output_norm = Float32LayerNorm(hidden, eps=config.layer_norm_eps)

    def forward(self, hidden: Tensor, key_bias: Tensor) -> Tensor:
        """hidden [batch, seq, width]; key_bias [batch * heads, 1, seq] is added to the
        attention scores: 0 for real keys, the dtype's lowest value for padding. The
        attention products run in key_bias's dtype."""
        batch = hidden.size(0)
        seq = hidden.size(1)
        width = hidden.size(2)
        # Each relayout below is one copy: to() makes it when it changes the dtype
        # (reshape is then a view), else to() is a no-op and reshape makes it.
        # [3, batch * heads, seq, head]; q, k, v are views of it.
        qkv = (self.qkv(hidden)
               .view(batch, seq, 3, self.num_heads, self.head_size)
               .permute(2, 0, 3, 1, 4)
               .to(key_bias.dtype, memory_format=torch.contiguous_format)
               .reshape(3, batch * self.num_heads, seq, self.head_size))
        scores = torch.baddbmm(key_bias, qkv[0], qkv[1].transpose(1, 2), alpha=self.scale)
        context = (torch.bmm(torch.softmax(scores, dim=-1), qkv[2])
                   .view(batch, self.num_heads, seq, self.head_size)
                   .transpose(1, 2)
                   .to(hidden.dtype, memory_format=torch.contiguous_format)
                   .reshape(batch, seq, width))
        attended = self.attention_norm(self.attention_output(context) + hidden)
        return self.output_norm(self.output(self.activation(self.intermediate(attended))) + attended)


class Encoder(nn.Module):
    """BertModel / AlbertModel without dropout, returning the hidden states asked for.

    Distinct layers are applied in order, each `layers_per_block[i]` times: BERT has
    num_layers layers applied once, ALBERT one shared layer applied num_layers times.
    """

    __constants__ = ["num_layers", "num_heads", "max_positions"]

    def __init__(self, config: EncoderConfig, has_pooler: bool):
        super().__init__()
        self.num_layers = config.num_layers
        self.num_heads = config.num_heads
        self.max_positions = config.max_positions
        self.layers_per_block = config.layers_per_block
        self.word_embeddings = nn.Embedding(config.vocab_size, config.embedding_size)
        self.position_embeddings = nn.Embedding(config.max_positions, config.embedding_size)
        self.token_type_embeddings = nn.Embedding(config.type_vocab_size, config.embedding_size)
        self.embedding_norm = Float32LayerNorm(config.embedding_size, eps=config.layer_norm_eps)
        self.embedding_projection = (nn.Linear(config.embedding_size, config.hidden_size)
                                     if config.architecture == "albert" else None)
        self.layers = nn.ModuleList([TransformerLayer(config) for _ in self.layers_per_block])
        self.pooler = nn.Linear(config.hidden_size, config.hidden_size) if has_pooler else None
        # Run the attention products (scores, softmax, context) in bfloat16. Meant for
        # model.int8.pt on CPUs with AVX512-BF16: libtorch 1.13 runs float32 batched products
        # as a serial loop of small BLAS calls, bfloat16 ones as one parallel oneDNN call.
        # The encoder sets it before torch::jit::freeze, which folds it.
        self.bfloat16_attention = False

    def forward(self, input_ids: Tensor, attention_mask: Tensor, token_type_ids: Tensor) -> Tuple[Tensor, Tensor]:
        return self.encode(input_ids, attention_mask, token_type_ids,
                           list(range(self.num_layers + 1)), self.pooler is not None)

    @torch.jit.export
    def encode(self, input_ids: Tensor, attention_mask: Tensor, token_type_ids: Tensor,
               layers: List[int], want_pooler: bool) -> Tuple[Tensor, Tensor]:
        if len(layers) == 0:
            raise ValueError("encode: no layers requested")
        for index in layers:
            if index < 0 or index > self.num_layers:
                raise ValueError(f"encode: layer {index} is outside [0, {self.num_layers}]")
        seq = input_ids.size(1)
        if seq > self.max_positions:
            raise ValueError(f"encode: {seq} tokens exceed the model's {self.max_positions} positions")

        run_pooler = want_pooler and self.pooler is not None
        last_layer = self.num_layers if run_pooler else max(layers)

        # Sum in HF's order (word + type, then + position) for identical rounding.
        hidden = self.word_embeddings(input_ids) + self.token_type_embeddings(token_type_ids)
        hidden = self.embedding_norm(hidden + self.position_embeddings.weight[:seq])
        if self.embedding_projection is not None:
            hidden = self.embedding_projection(hidden)

        kept: Dict[int, Tensor] = {}
        if 0 in layers:
            kept[0] = hidden
        key_bias = self._key_bias(attention_mask, torch.bfloat16 if self.bfloat16_attention else hidden.dtype)
        depth = 0
        for block, transformer_layer in enumerate(self.layers):
            for _ in range(min(self.layers_per_block[block], last_layer - depth)):
                hidden = transformer_layer(hidden, key_bias)
                depth += 1
                if depth in layers:
                    kept[depth] = hidden
        selected = torch.stack([kept[index] for index in layers])

        pooled = torch.zeros(0, dtype=hidden.dtype, device=hidden.device)
        pooler = self.pooler
        if run_pooler and pooler is not None:
            pooled = torch.tanh(pooler(hidden[:, 0]))
        return selected, pooled

    def _key_bias(self, attention_mask: Tensor, dtype: torch.dtype) -> Tensor:
        """[batch * heads, 1, seq]: 0 for real tokens, the lowest finite value of `dtype`
        (HF's torch.finfo(dtype).min; nan_to_num maps -inf to it) for padding, so that
        padded keys get exactly zero attention weight."""
        batch = attention_mask.size(0)
        seq = attention_mask.size(1)
        bias = (torch.zeros([batch, seq], dtype=dtype, device=attention_mask.device)
                .masked_fill(attention_mask == 0, float("-inf"))
                .nan_to_num())
        return bias.view(batch, 1, 1, seq).expand(batch, self.num_heads, 1, seq).reshape(
            batch * self.num_heads, 1, seq)


# ---------------------------------------------------------------------------
# Reading checkpoints

SAFETENSORS_DTYPES = {
    "F64": torch.float64, "F32": torch.float32, "F16": torch.float16, "BF16": torch.bfloat16,
    "I64": torch.int64, "I32": torch.int32, "I16": torch.int16, "I8": torch.int8,
    "U8": torch.uint8, "BOOL": torch.bool,
}


# (begin, end, name, dtype, shape) of one tensor in a safetensors data section.
TensorSpan = Tuple[int, int, str, torch.dtype, List[int]]


def safetensors_layout(path: Path) -> Tuple[int, int, List[TensorSpan]]:
    """Reads and validates a .safetensors header (u64 little-endian header size, JSON
    header, tensor bytes) without reading the tensors: returns where the data section
    starts, its size, and the tensors' spans in it, sorted."""
    def corrupt(problem: str) -> ExportError:
        return ExportError(f"{path}: corrupt safetensors file: {problem}")

    if sys.byteorder != "little":
        raise ExportError(f"{path}: safetensors files are little-endian; this host is not")
    try:
        with open(path, "rb") as stream:
            file_size = os.fstat(stream.fileno()).st_size
            if file_size < 8:
                raise corrupt(f"{file_size} bytes, shorter than the 8-byte header size")
            (header_size,) = struct.unpack("<Q", stream.read(8))
            if header_size > file_size - 8:
                raise corrupt(f"header size {header_size} exceeds the file size {file_size}")
            try:
                header = json.loads(stream.read(header_size).decode("utf-8"))
            except (UnicodeDecodeError, json.JSONDecodeError) as error:
                raise corrupt(f"header is not JSON: {error}") from None
    except OSError as error:
        raise ExportError(f"{path}: cannot read: {error}") from None
    if not isinstance(header, dict):
        raise corrupt("header is not a JSON object")
    data_size = file_size - 8 - header_size

    spans = []
    for name, entry in header.items():
        if name == "__metadata__":
            continue
        if not isinstance(entry, dict):
            raise corrupt(f"tensor {name!r}: entry is not an object")
        dtype = SAFETENSORS_DTYPES.get(entry.get("dtype"))
        shape = entry.get("shape")
        offsets = entry.get("data_offsets")
        if dtype is None:
            raise corrupt(f"tensor {name!r}: unsupported dtype {entry.get('dtype')!r}")
        if not isinstance(shape, list) or not all(isinstance(d, int) and not isinstance(d, bool) and d >= 0
                                                  for d in shape):
            raise corrupt(f"tensor {name!r}: invalid shape {shape!r}")
        if not (isinstance(offsets, list) and len(offsets) == 2
                and all(isinstance(o, int) and not isinstance(o, bool) for o in offsets)
                and 0 <= offsets[0] <= offsets[1] <= data_size):
            raise corrupt(f"tensor {name!r}: data_offsets {offsets!r} outside the "
                          f"{data_size}-byte data section")
        expected_bytes = math.prod(shape) * torch.empty(0, dtype=dtype).element_size()
        if offsets[1] - offsets[0] != expected_bytes:
            raise corrupt(f"tensor {name!r}: {offsets[1] - offsets[0]} bytes for shape {shape} "
                          f"of {entry['dtype']} (expected {expected_bytes})")
        spans.append((offsets[0], offsets[1], name, dtype, shape))

    spans.sort()
    previous_end, previous_name = 0, None
    for begin, end, name, _, _ in spans:
        if begin < previous_end:
            raise corrupt(f"tensors {previous_name!r} and {name!r} overlap")
        previous_end, previous_name = end, name
    return 8 + header_size, data_size, spans


def safetensors_shapes(path: Path) -> Dict[str, Tensor]:
    """The tensors of a .safetensors file on the meta device: shapes and dtypes, no data."""
    _, _, spans = safetensors_layout(path)
    return {name: torch.empty(shape, dtype=dtype, device="meta") for _, _, name, dtype, shape in spans}


def read_safetensors(path: Path) -> Dict[str, Tensor]:
    data_offset, data_size, spans = safetensors_layout(path)
    data = bytearray(data_size)
    try:
        with open(path, "rb") as stream:
            stream.seek(data_offset)
            if stream.readinto(data) != len(data):
                raise ExportError(f"{path}: corrupt safetensors file: file shrank while reading")
    except OSError as error:
        raise ExportError(f"{path}: cannot read: {error}") from None
    tensors = {}
    for begin, _, name, dtype, shape in spans:
        count = math.prod(shape)
        if count == 0:
            tensors[name] = torch.empty(shape, dtype=dtype)
        else:
            # clone(): own, aligned storage instead of a view into the file buffer.
            tensors[name] = torch.frombuffer(data, dtype=dtype, count=count, offset=begin).reshape(shape).clone()
    return tensors


def read_torch_checkpoint(path: Path, device: str = "cpu") -> Dict[str, Tensor]:
    try:
        # weights_only: unpickles tensors and containers only, never code.
        state = torch.load(path, map_location=device, weights_only=True)
    except Exception as error:  # torch reports corrupt archives with assorted exception types
        raise ExportError(f"{path}: cannot read PyTorch weights: {error}") from None
    if not isinstance(state, dict) or not all(isinstance(k, str) and isinstance(v, Tensor)
                                              for k, v in state.items()):
        raise ExportError(f"{path}: expected a state dict (parameter name -> tensor)")
    return state


def torch_checkpoint_shapes(path: Path) -> Dict[str, Tensor]:
    """The tensors of a pytorch_model.bin on the meta device: shapes and dtypes, no data."""
    return read_torch_checkpoint(path, device="meta")


# File name, reader of the tensors, reader of their shapes alone.
WeightFile = Tuple[str, Callable[[Path], Dict[str, Tensor]], Callable[[Path], Dict[str, Tensor]]]
WEIGHT_FILES: Tuple[WeightFile, ...] = (("model.safetensors", read_safetensors, safetensors_shapes),
                                        ("pytorch_model.bin", read_torch_checkpoint, torch_checkpoint_shapes))


def find_weights(source: Path) -> Tuple[Path, WeightFile]:
    for weight_file in WEIGHT_FILES:
        path = source / weight_file[0]
        if path.is_file():
            return path, weight_file
    sharded = [name + ".index.json" for name, _, _ in WEIGHT_FILES if (source / (name + ".index.json")).exists()]
    if sharded:
        raise ExportError(f"{source / sharded[0]}: sharded checkpoints are not supported; "
                          "merge the shards into one model.safetensors or pytorch_model.bin")
    raise ExportError(f"{source}: no weights found (expected "
                      f"{' or '.join(name for name, _, _ in WEIGHT_FILES)})")


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as stream:
        for chunk in iter(lambda: stream.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


# ---------------------------------------------------------------------------
# Mapping HF parameter names onto the Encoder

ENCODER_NAMESPACES = ("embeddings", "encoder", "pooler")
# Buffers HF saves in some versions; recomputed, never loaded.
IGNORED_BUFFERS = ("embeddings.position_ids", "embeddings.token_type_ids")

# Encoder submodule -> HF submodule(s); several are concatenated along dim 0 (fused QKV).
EMBEDDING_SOURCES = {
    "word_embeddings": ["embeddings.word_embeddings"],
    "position_embeddings": ["embeddings.position_embeddings"],
    "token_type_embeddings": ["embeddings.token_type_embeddings"],
    "embedding_norm": ["embeddings.LayerNorm"],
}
LAYER_SOURCES = {
    "bert": {
        "qkv": ["attention.self.query", "attention.self.key", "attention.self.value"],
        "attention_output": ["attention.output.dense"],
        "attention_norm": ["attention.output.LayerNorm"],
        "intermediate": ["intermediate.dense"],
        "output": ["output.dense"],
        "output_norm": ["output.LayerNorm"],
    },
    "albert": {
        "qkv": ["attention.query", "attention.key", "attention.value"],
        "attention_output": ["attention.dense"],
        "attention_norm": ["attention.LayerNorm"],
        "intermediate": ["ffn"],
        "output": ["ffn_output"],
        "output_norm": ["full_layer_layer_norm"],
    },
}


def module_sources(config: EncoderConfig, has_pooler: bool) -> Dict[str, List[str]]:
    """Encoder submodule name -> the HF submodule names its parameters come from."""
    sources = dict(EMBEDDING_SOURCES)
    if config.architecture == "bert":
        layer_prefixes = [f"encoder.layer.{i}." for i in range(config.num_layers)]
        pooler = "pooler.dense"
    else:
        sources["embedding_projection"] = ["encoder.embedding_hidden_mapping_in"]
        layer_prefixes = ["encoder.albert_layer_groups.0.albert_layers.0."]
        pooler = "pooler"
    for index, prefix in enumerate(layer_prefixes):
        for ours, theirs in LAYER_SOURCES[config.architecture].items():
            sources[f"layers.{index}.{ours}"] = [prefix + name for name in theirs]
    if has_pooler:
        sources["pooler"] = [pooler]
    return sources


def normalize_checkpoint_keys(state: Dict[str, Tensor], architecture: str,
                              path: Path) -> Tuple[Dict[str, Tensor], str]:
    """Drops the task-model prefix ('bert.' / 'albert.'), renames TF-era LayerNorm
    gamma/beta as HF does, keeps only the encoder namespace (task heads are ignored).
    Returns the encoder parameters and the prefix the checkpoint used ('' if none)."""
    prefix = architecture + "."
    key_prefix = prefix if any(key.startswith(prefix) for key in state) else ""
    encoder_state = {}
    for key, tensor in state.items():
        name = key[len(prefix):] if key.startswith(prefix) else key
        if name.endswith(".gamma"):
            name = name[:-len("gamma")] + "weight"
        elif name.endswith(".beta"):
            name = name[:-len("beta")] + "bias"
        if name.split(".", 1)[0] not in ENCODER_NAMESPACES or name in IGNORED_BUFFERS:
            continue
        if name in encoder_state:
            raise ExportError(f"{path}: parameter {name!r} appears twice (with and without {prefix!r})")
        encoder_state[name] = tensor
    return encoder_state, key_prefix


def check_config_sizes(config: EncoderConfig, shapes: Dict[str, Tensor], key_prefix: str, path: Path) -> None:
    """Compares the sizes config.json gives with the checkpoint's tensor shapes (meta
    tensors: no data) before a model of those sizes is allocated: a config that does not
    describe the weights would otherwise allocate whatever it asks for (vocab_size
    8000000 at hidden 768: 24 GB) before failing."""
    if config.architecture == "bert":
        layer = "encoder.layer.0."
    else:
        layer = "encoder.albert_layer_groups.0.albert_layers.0."
    sources = LAYER_SOURCES[config.architecture]
    width_field = "embedding_size" if config.architecture == "albert" else "hidden_size"
    # (config.json field, its value, tensor, dimension the field sizes)
    checks = [
        ("vocab_size", config.vocab_size, "embeddings.word_embeddings.weight", 0),
        (width_field, config.embedding_size, "embeddings.word_embeddings.weight", 1),
        ("max_position_embeddings", config.max_positions, "embeddings.position_embeddings.weight", 0),
        ("type_vocab_size", config.type_vocab_size, "embeddings.token_type_embeddings.weight", 0),
        ("hidden_size", config.hidden_size, layer + sources["qkv"][0] + ".weight", 0),
        ("intermediate_size", config.intermediate_size, layer + sources["intermediate"][0] + ".weight", 0),
    ]
    for field, value, name, dimension in checks:
        tensor = shapes.get(name)
        if tensor is None:
            raise ExportError(f"{path}: weights do not match {config.origin}: missing {key_prefix}{name}, "
                              f"which sizes {field}")
        if tensor.dim() != 2 or tensor.shape[dimension] != value:
            raise ExportError(f"{config.origin}: {field} is {value} but {path.name} has {key_prefix}{name} "
                              f"of shape {list(tensor.shape)}; config.json does not describe these weights")
    if config.architecture == "bert":
        indices = {int(key.split(".")[2]) for key in shapes
                   if key.startswith("encoder.layer.") and key.split(".")[2].isdigit()}
        if max(indices) + 1 != config.num_layers:
            raise ExportError(f"{config.origin}: num_hidden_layers is {config.num_layers} but {path.name} has "
                              f"{max(indices) + 1} layers ({key_prefix}encoder.layer.0 to {max(indices)}); "
                              "config.json does not describe these weights")


def describe_keys(keys: List[str], key_prefix: str, limit: int = 12) -> str:
    keys = sorted(keys)
    shown = ", ".join(key_prefix + key for key in keys[:limit])
    return shown + (f", ... ({len(keys) - limit} more)" if len(keys) > limit else "")


def load_checkpoint_weights(model: Encoder, config: EncoderConfig, state: Dict[str, Tensor], key_prefix: str,
                            path: Path) -> None:
    """Fills `model` from the HF encoder parameters, strictly: every parameter present,
    none extra, every shape as config.json implies."""
    expected = model.state_dict()
    sources = module_sources(config, model.pooler is not None)
    assembled = {}
    missing, mismatched, used = [], [], set()
    for ours, theirs in sources.items():
        for parameter in ("weight", "bias"):
            target = f"{ours}.{parameter}"
            if target not in expected:
                continue
            part_shape = list(expected[target].shape)
            part_shape[0] //= len(theirs)
            parts = []
            for name in (f"{source}.{parameter}" for source in theirs):
                tensor = state.get(name)
                if tensor is None:
                    missing.append(name)
                    continue
                used.add(name)
                if list(tensor.shape) != part_shape:
                    mismatched.append(f"{name} {list(tensor.shape)} (expected {part_shape})")
                elif not tensor.is_floating_point():
                    mismatched.append(f"{name} has dtype {tensor.dtype} (expected floating point)")
                else:
                    parts.append(tensor.to(torch.float32))
            if len(parts) == len(theirs):
                assembled[target] = torch.cat(parts) if len(parts) > 1 else parts[0]
    unexpected = [name for name in state if name not in used]
    problems = []
    if missing:
        problems.append(f"missing {describe_keys(missing, key_prefix)}")
    if unexpected:
        problems.append(f"unexpected {describe_keys(unexpected, key_prefix)}")
    if mismatched:
        problems.append(f"mismatched {describe_keys(mismatched, key_prefix)}")
    if problems:
        raise ExportError(f"{path}: weights do not match {config.origin} "
                          f"({config.architecture}, {config.num_layers} layers, hidden {config.hidden_size}): "
                          + "; ".join(problems))
    model.load_state_dict(assembled, strict=True)


def init_random_weights(model: Encoder, config: EncoderConfig, seed: int) -> str:
    """HF's _init_weights with a seeded generator; returns the sha256 of the weights."""
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, (nn.Linear, nn.Embedding)):
                module.weight.normal_(0.0, 0.02, generator=generator)
            if isinstance(module, nn.Linear):
                module.bias.zero_()
            elif isinstance(module, nn.LayerNorm):
                module.weight.fill_(1.0)
                module.bias.zero_()
        model.word_embeddings.weight[config.pad_token_id].zero_()
    digest = hashlib.sha256()
    for name, tensor in model.state_dict().items():
        digest.update(name.encode())
        digest.update(memoryview(tensor.numpy()))
    return digest.hexdigest()


# ---------------------------------------------------------------------------
# Tokenizer

WORDPIECE_DEFAULTS = {"cls_token": "[CLS]", "sep_token": "[SEP]", "pad_token": "[PAD]",
                      "unk_token": "[UNK]", "mask_token": "[MASK]"}
SENTENCEPIECE_DEFAULTS = {"cls_token": "[CLS]", "sep_token": "[SEP]", "pad_token": "<pad>",
                          "unk_token": "<unk>", "mask_token": "[MASK]"}
REQUIRED_SPECIALS = ("cls", "sep", "pad", "unk")


class TokenizerFiles:
    def __init__(self, kind: str, files: List[Path], settings: dict, special_ids: Dict[str, int],
                 vocab_size: int, config: dict):
        self.kind = kind
        self.files = files
        self.settings = settings
        self.special_ids = special_ids
        self.vocab_size = vocab_size
        self.config = config  # tokenizer_config.json to write: the source's with effective settings


def read_wordpiece_vocab(vocab_txt: Optional[Path], tokenizer_json: Optional[Path]) -> Dict[str, int]:
    """token -> id as BertTokenizer (vocab.txt, one token per line) or the tokenizer.json
    WordPiece model (plus its added tokens) define it."""
    if vocab_txt is not None:
        try:
            lines = vocab_txt.read_text(encoding="utf-8").split("\n")
        except (OSError, UnicodeDecodeError) as error:
            raise ExportError(f"{vocab_txt}: cannot read: {error}") from None
        if lines and lines[-1] == "":
            lines.pop()
        # Later duplicates win, as in BertTokenizer.
        return {line: index for index, line in enumerate(lines)}
    document = read_json(tokenizer_json)
    model = document.get("model")
    if not isinstance(model, dict) or model.get("type") != "WordPiece" or not isinstance(model.get("vocab"), dict):
        raise ExportError(f"{tokenizer_json}: not a WordPiece tokenizer (model.type is "
                          f"{model.get('type') if isinstance(model, dict) else None!r})")
    vocab = dict(model["vocab"])
    for added in document.get("added_tokens") or []:
        if isinstance(added, dict) and isinstance(added.get("content"), str) and isinstance(added.get("id"), int):
            vocab[added["content"]] = added["id"]
    return vocab


def read_varint(data: bytes, position: int, path: Path) -> Tuple[int, int]:
    value, shift = 0, 0
    while True:
        if position >= len(data) or shift > 63:
            raise ExportError(f"{path}: corrupt SentencePiece model (truncated varint at byte {position})")
        byte = data[position]
        position += 1
        value |= (byte & 0x7F) << shift
        shift += 7
        if byte < 0x80:
            return value, position


def protobuf_fields(data: bytes, path: Path):
    """Yields (field number, value) of a protobuf message; value is bytes for
    length-delimited fields, else None (skipped)."""
    position = 0
    while position < len(data):
        key, position = read_varint(data, position, path)
        field, wire_type = key >> 3, key & 7
        if wire_type == 0:
            _, position = read_varint(data, position, path)
            yield field, None
        elif wire_type in (1, 5):
            position += 8 if wire_type == 1 else 4
            yield field, None
        elif wire_type == 2:
            length, position = read_varint(data, position, path)
            if position + length > len(data):
                raise ExportError(f"{path}: corrupt SentencePiece model (field {field} overruns the file)")
            yield field, data[position:position + length]
            position += length
        else:
            raise ExportError(f"{path}: corrupt SentencePiece model (wire type {wire_type} at byte {position})")
    if position != len(data):
        raise ExportError(f"{path}: corrupt SentencePiece model (truncated)")


def read_sentencepiece_vocab(path: Path) -> Dict[str, int]:
    """piece -> id from a SentencePiece ModelProto (field 1: pieces; piece field 1: text)."""
    try:
        data = path.read_bytes()
    except OSError as error:
        raise ExportError(f"{path}: cannot read: {error}") from None
    vocab = {}
    index = 0
    for field, payload in protobuf_fields(data, path):
        if field != 1 or payload is None:
            continue
        texts = [value for number, value in protobuf_fields(payload, path) if number == 1 and value is not None]
        if not texts:
            raise ExportError(f"{path}: corrupt SentencePiece model (piece {index} has no text)")
        vocab.setdefault(texts[0].decode("utf-8", errors="replace"), index)
        index += 1
    if not vocab:
        raise ExportError(f"{path}: not a SentencePiece model (no pieces)")
    return vocab


def token_text(value, field: str, path: Path) -> str:
    """A special token as tokenizer_config.json gives it: a string or a serialized AddedToken."""
    if isinstance(value, dict):
        value = value.get("content")
    if not isinstance(value, str):
        raise ExportError(f"{path}: {field} must be a string, got {value!r}")
    return value


def boolean_setting(config: dict, field: str, default: Optional[bool], path: Path) -> Optional[bool]:
    value = config.get(field, default)
    if value is not None and not isinstance(value, bool):
        raise ExportError(f"{path}: {field} must be true, false or null, got {value!r}")
    return value


def read_tokenizer(directory: Path) -> TokenizerFiles:
    """Picks the tokenizer as bert-embed's load_tokenizer() does: spiece.model ->
    SentencePiece, else vocab.txt and/or a WordPiece tokenizer.json."""
    config_path = directory / "tokenizer_config.json"
    config = read_json(config_path) if config_path.exists() else {}
    spiece = directory / "spiece.model"
    vocab_txt = directory / "vocab.txt"
    tokenizer_json = directory / "tokenizer.json"
    if spiece.is_file():
        kind, files, defaults = "sentencepiece", [spiece], SENTENCEPIECE_DEFAULTS
        vocab = read_sentencepiece_vocab(spiece)
        settings = {
            "do_lower_case": boolean_setting(config, "do_lower_case", True, config_path),
            "remove_space": boolean_setting(config, "remove_space", True, config_path),
            "keep_accents": boolean_setting(config, "keep_accents", False, config_path),
        }
    elif vocab_txt.is_file() or tokenizer_json.is_file():
        kind, defaults = "wordpiece", WORDPIECE_DEFAULTS
        files = [path for path in (vocab_txt, tokenizer_json) if path.is_file()]
        vocab = read_wordpiece_vocab(vocab_txt if vocab_txt.is_file() else None,
                                     tokenizer_json if tokenizer_json.is_file() else None)
        do_lower_case = boolean_setting(config, "do_lower_case", True, config_path)
        strip_accents = boolean_setting(config, "strip_accents", None, config_path)
        settings = {
            "do_lower_case": do_lower_case,
            # BertTokenizer: strip_accents unset follows do_lower_case.
            "strip_accents": do_lower_case if strip_accents is None else strip_accents,
            "tokenize_chinese_chars": boolean_setting(config, "tokenize_chinese_chars", True, config_path),
        }
    else:
        raise ExportError(f"{directory}: no tokenizer files (expected vocab.txt, tokenizer.json or spiece.model)")

    special_ids = {}
    for name in ("cls", "sep", "pad", "unk", "mask"):
        field = name + "_token"
        token = token_text(config.get(field, defaults[field]), field, config_path)
        if token in vocab:
            special_ids[name] = vocab[token]
        elif name in REQUIRED_SPECIALS:
            raise ExportError(f"{files[0]}: special token {token!r} ({field}) is not in the vocabulary")
    return TokenizerFiles(kind, files, settings, special_ids, max(vocab.values()) + 1,
                          {**config, **settings})


# ---------------------------------------------------------------------------
# Export


def quantized(model: Encoder) -> nn.Module:
    """Linear layers with int8 weights, one scale per output channel (a per-tensor scale
    is set by the largest weight of the whole matrix and costs accuracy at the same speed)."""
    return torch.quantization.quantize_dynamic(model, {nn.Linear: torch.quantization.per_channel_dynamic_qconfig},
                                               dtype=torch.qint8)


def sample_batch(tokenizer: TokenizerFiles, vocab_size: int, max_positions: int) -> Tuple[Tensor, Tensor, Tensor]:
    """Two framed sequences of random ids, the second shorter and padded on the right."""
    generator = torch.Generator().manual_seed(0)
    length = min(12, max_positions)
    ids = torch.randint(0, min(vocab_size, tokenizer.vocab_size), (2, length), generator=generator)
    mask = torch.ones(2, length, dtype=torch.int64)
    short = max(2, length // 2)
    ids[:, 0] = tokenizer.special_ids["cls"]
    ids[0, length - 1] = tokenizer.special_ids["sep"]
    ids[1, short - 1] = tokenizer.special_ids["sep"]
    ids[1, short:] = tokenizer.special_ids["pad"]
    mask[1, short:] = 0
    types = torch.zeros_like(ids)
    return ids, mask, types


def smoke_test(path: Path, reference: nn.Module, inputs: Tuple[Tensor, Tensor, Tensor],
               config: EncoderConfig, has_pooler: bool, check_padding: bool) -> None:
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


def write_bundle(staging: Path, model: Encoder, config: EncoderConfig, tokenizer: TokenizerFiles,
                 source: dict, int8: bool) -> None:
    has_pooler = model.pooler is not None
    inputs = sample_batch(tokenizer, config.vocab_size, config.max_positions)
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
        "architecture": config.architecture,
        "num_layers": config.num_layers,
        "hidden_size": config.hidden_size,
        "num_attention_heads": config.num_heads,
        "intermediate_size": config.intermediate_size,
        "max_position_embeddings": config.max_positions,
        "type_vocab_size": config.type_vocab_size,
        "vocab_size": config.vocab_size,
        "embedding_size": config.embedding_size,
        "hidden_act": config.hidden_act,
        "layer_norm_eps": config.layer_norm_eps,
        "has_pooler": has_pooler,
        "int8_model": int8,
        "tokenizer": {
            "kind": tokenizer.kind,
            "files": [path.name for path in tokenizer.files] + ["tokenizer_config.json"],
            **tokenizer.settings,
            "special_ids": tokenizer.special_ids,
        },
        "source": source,
        "files": file_hashes,
        "exporter": {"torch_version": torch.__version__, "script": SCRIPT_NAME},
    }
    with open(staging / "bundle.json", "w", encoding="utf-8") as stream:
        json.dump(bundle_info, stream, indent=2)
        stream.write("\n")


def random_init_config(args, source: Optional[Path]) -> Tuple[dict, str]:
    """config.json fields for --random-init and where they came from."""
    if args.preset is not None:
        raw, origin = dict(PRESETS[args.preset]), f"preset {args.preset}"
    elif args.config is not None:
        raw, origin = read_json(args.config), str(args.config)
    else:
        raw, origin = read_json(source / "config.json"), str(source / "config.json")
    overrides = {field: getattr(args, dest) for field, dest in SIZE_FLAGS.items() if getattr(args, dest) is not None}
    if overrides:
        raw.update(overrides)
        origin += " with " + ", ".join(f"{field}={value}" for field, value in overrides.items())
    return raw, origin


def export(args) -> Path:
    started = time.monotonic()
    if len(args.paths) == 2:
        source, bundle = Path(args.paths[0]), Path(args.paths[1])
        if not source.is_dir():
            raise ExportError(f"{source}: not a directory (expected a HuggingFace checkpoint directory)")
    else:
        source, bundle = None, Path(args.paths[0])
    tokenizer_dir = args.vocab if args.vocab is not None else source
    if not tokenizer_dir.is_dir():
        raise ExportError(f"{tokenizer_dir}: not a directory")
    check_destination(bundle, args.force, [path for path in (source, tokenizer_dir, args.config) if path is not None])

    if args.random_init:
        raw_config, origin = random_init_config(args, source)
    else:
        raw_config, origin = read_json(source / "config.json"), str(source / "config.json")
    if args.preset is not None:
        # A preset sizes the transformer; the vocabulary is the tokenizer's.
        tokenizer = read_tokenizer(tokenizer_dir)
        raw_config["vocab_size"] = tokenizer.vocab_size
        config = EncoderConfig(raw_config, origin)
    else:
        config = EncoderConfig(raw_config, origin)
        tokenizer = read_tokenizer(tokenizer_dir)
    if tokenizer.vocab_size > config.vocab_size:
        raise ExportError(f"{tokenizer.files[0]}: the tokenizer has {tokenizer.vocab_size} ids but {origin} "
                          f"gives vocab_size {config.vocab_size}; the tokenizer does not belong to this model")

    if args.random_init:
        model = Encoder(config, has_pooler=True)
        digest = init_random_weights(model, config, args.seed)
        source_info = {"dir": (source or tokenizer_dir).resolve().name, "weights_file": None,
                       "sha256": digest, "random_init": True, "seed": args.seed}
    else:
        weights_path, (_, read_weights, read_shapes) = find_weights(source)
        shapes, key_prefix = normalize_checkpoint_keys(read_shapes(weights_path), config.architecture, weights_path)
        check_config_sizes(config, shapes, key_prefix, weights_path)
        state, key_prefix = normalize_checkpoint_keys(read_weights(weights_path), config.architecture, weights_path)
        model = Encoder(config, has_pooler=any(key.startswith("pooler.") for key in state))
        load_checkpoint_weights(model, config, state, key_prefix, weights_path)
        del state
        source_info = {"dir": source.resolve().name, "weights_file": weights_path.name,
                       "sha256": sha256_of(weights_path), "random_init": False}
    model.eval()

    staging = make_staging_dir(bundle)
    try:
        write_bundle(staging, model, config, tokenizer, source_info, args.int8)
        publish_bundle(staging, bundle)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    print(f"{PROG}: wrote {bundle} ({config.architecture}, {config.num_layers} layers, hidden "
          f"{config.hidden_size}, {'pooler' if model.pooler is not None else 'no pooler'}"
          f"{', int8' if args.int8 else ''}) in {time.monotonic() - started:.1f} s", file=sys.stderr)
    return bundle


def parse_args(argv: List[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog=PROG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        usage="%(prog)s [options] SOURCE_DIR BUNDLE_DIR\n"
              "       %(prog)s --random-init (--preset NAME | --config FILE) --vocab DIR [options] BUNDLE_DIR",
        description="Export a HuggingFace BERT or ALBERT checkpoint directory (config.json, "
                    "model.safetensors or pytorch_model.bin, vocab.txt / tokenizer.json / spiece.model, "
                    "tokenizer_config.json) as a bert-embed bundle.",
        epilog="examples:\n"
               "  %(prog)s ~/checkpoints/bert-base-uncased models/bert-base-uncased --int8\n"
               "  %(prog)s --random-init --preset bert-base --vocab ../shared/fixtures/vocab/bert-base-uncased "
               "models/random-bert-base\n"
               "  %(prog)s --random-init --preset albert-base --vocab ../shared/fixtures/vocab/albert-base-v2-spm "
               "models/random-albert-base\n"
               "  %(prog)s --random-init --num-layers 6 CHECKPOINT_DIR models/random-6-layers\n"
               "\nerrors are reported as one line on stderr with exit status 1 (2 for usage errors).")
    parser.add_argument("paths", nargs="+", metavar="SOURCE_DIR BUNDLE_DIR",
                        help="checkpoint directory and bundle directory to write (with --random-init and "
                             "--preset/--config only BUNDLE_DIR)")
    parser.add_argument("--int8", action="store_true",
                        help="also write model.int8.pt (Linear layers dynamically quantized to int8)")
    parser.add_argument("--force", action="store_true", help="replace an existing non-empty BUNDLE_DIR")
    random_init = parser.add_argument_group("random weights (for benchmarks)")
    random_init.add_argument("--random-init", action="store_true",
                             help="seeded random weights at the configured size instead of a checkpoint's")
    random_init.add_argument("--preset", choices=PRESETS, metavar="NAME",
                             help=f"transformer size: {', '.join(PRESETS)}")
    random_init.add_argument("--config", type=Path, metavar="FILE", help="HuggingFace config.json to use")
    random_init.add_argument("--vocab", type=Path, metavar="DIR",
                             help="directory with the tokenizer files (default: SOURCE_DIR)")
    random_init.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    for field, dest in SIZE_FLAGS.items():
        random_init.add_argument("--" + dest.replace("_", "-"), dest=dest, type=int, metavar="N",
                                 help=f"override {field}")
    args = parser.parse_args(argv)

    size_flags = [dest for dest in SIZE_FLAGS.values() if getattr(args, dest) is not None]
    if not args.random_init:
        used = [flag for flag, value in (("--preset", args.preset), ("--config", args.config),
                                         ("--vocab", args.vocab)) if value is not None]
        used += ["--" + dest.replace("_", "-") for dest in size_flags]
        if used:
            parser.error(f"{', '.join(used)}: need --random-init")
        if len(args.paths) != 2:
            parser.error("expected SOURCE_DIR BUNDLE_DIR")
    else:
        if args.preset is not None and args.config is not None:
            parser.error("give --preset or --config, not both")
        named = args.preset is not None or args.config is not None
        if len(args.paths) == 2 and named:
            parser.error("give either SOURCE_DIR or --preset/--config, not both")
        if len(args.paths) == 1 and not named:
            parser.error("--random-init needs SOURCE_DIR (with config.json) or --preset/--config")
        if len(args.paths) == 1 and args.vocab is None:
            parser.error("--random-init with --preset/--config needs --vocab DIR (tokenizer files)")
        if len(args.paths) > 2:
            parser.error("expected [SOURCE_DIR] BUNDLE_DIR")
    return args


def stop_on_signal(signum: int, frame) -> None:
    """SIGINT and SIGTERM end the export through an exception, which removes the
    partial bundle (up to the size of model.pt) on its way out; further signals are
    ignored so that the clean-up finishes."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    raise KeyboardInterrupt if signum == signal.SIGINT else Terminated


def main(argv: List[str]) -> int:
    args = parse_args(argv)
    signal.signal(signal.SIGINT, stop_on_signal)
    signal.signal(signal.SIGTERM, stop_on_signal)
    try:
        with torch.no_grad():
            export(args)
    except ExportError as error:
        print(f"{PROG}: error: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted; removed the partial bundle", file=sys.stderr)
        return 128 + signal.SIGINT
    except Terminated:
        print(f"{PROG}: terminated; removed the partial bundle", file=sys.stderr)
        return 128 + signal.SIGTERM
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
