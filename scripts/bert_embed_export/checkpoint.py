"""Reading HuggingFace checkpoints: config.json, model.safetensors or
pytorch_model.bin (tensors or, before any allocation, their shapes alone), and
loading their tensors strictly into an encoder module."""

import hashlib
import json
import math
import os
import struct
import sys
from pathlib import Path
from typing import Callable, Dict, List, Tuple

import torch
from torch import Tensor

from .errors import ExportError

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

