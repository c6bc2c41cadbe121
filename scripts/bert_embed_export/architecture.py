"""What an architecture module declares, the registry of them, and the strict
mapping of a checkpoint's parameters onto an encoder.

Adding an architecture is one new module in bert_embed_export/architectures/
that defines an Architecture subclass and calls register() on an instance: the
config.json fields it reads, its HF parameter names, how its module is built,
its tokenizer and framing."""

import importlib
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Dict, List, Optional, Tuple

import torch
from torch import Tensor

from .config import ModelConfig
from .errors import ExportError
from .layers import ACTIVATIONS, HiddenStateEncoder
from .tokenizer import TokenizerFiles


@dataclass
class WeightSource:
    """Where one parameter of the encoder comes from: HF parameter names (without the
    task-model prefix), concatenated along dim 0 when several (fused QKV). `shape` is
    each name's expected shape when `convert` changes the layout (GPT-2's Conv1D,
    XLNet's [d_model, heads, head] projections); without it the expected shape is the
    encoder parameter's, split along dim 0."""
    names: List[str]
    shape: Optional[List[int]] = None
    convert: Optional[Callable[[Tensor], Tensor]] = None


# (config field, its value, HF tensor, the dimension the field sizes)
SizeCheck = Tuple[str, int, str, int]


class Architecture:
    name: str = ""                        # bundle.json "architecture"
    model_types: Tuple[str, ...] = ()     # config.json model_type values it exports
    task_prefix: str = ""                 # prefix of the encoder in task models ("roberta.")
    namespaces: Tuple[str, ...] = ()      # top-level HF names of the encoder's parameters
    ignored: Tuple[str, ...] = ()         # HF buffers and parameters recomputed or unused, never loaded
    names: Dict[str, str] = {}            # canonical config field -> config.json field
    defaults: dict = {}                   # HF config defaults for fields config.json omits
    fixed: dict = {}                      # canonical fields config.json does not give
    layer_pattern = re.compile(r"^encoder\.layer\.(\d+)\.")  # finds the layer count in the weights
    framing: str = "bert"

    def config(self, raw: dict, origin: str) -> ModelConfig:
        config = ModelConfig(self.name, raw, origin, self.names, self.defaults, self.fixed)
        if config.hidden_act not in ACTIVATIONS:
            raise ExportError(f"{origin}: {config.name_of('hidden_act')} {config.hidden_act!r} is not supported "
                              f"(supported: {', '.join(ACTIVATIONS)})")
        self.check_config(config)
        return config

    def check_config(self, config: ModelConfig) -> None:
        """Refuses configurations the module does not implement."""

    def build(self, config: ModelConfig, has_pooler: bool) -> HiddenStateEncoder:
        raise NotImplementedError

    def sources(self, config: ModelConfig, has_pooler: bool) -> Dict[str, WeightSource]:
        """Encoder parameter name -> where it comes from."""
        raise NotImplementedError

    def size_checks(self, config: ModelConfig) -> List[SizeCheck]:
        raise NotImplementedError

    def checkpoint_has_pooler(self, state: Dict[str, Tensor]) -> bool:
        return any(key.startswith("pooler.") for key in state)

    def read_tokenizer(self, directory: Path) -> TokenizerFiles:
        raise NotImplementedError

    def sample_ids(self, tokenizer: TokenizerFiles, content: Tensor, length: int) -> Tensor:
        """`content` framed as this architecture's tokenizer frames one text, cut to `length`
        (for the export's smoke test)."""
        ids = content.clone()
        specials = tokenizer.special_ids
        if self.framing in ("bert", "roberta"):
            ids[0] = specials["cls"]
            ids[length - 1] = specials["sep"]
        elif self.framing == "xlnet":
            ids[length - 2] = specials["sep"]
            ids[length - 1] = specials["cls"]
        return ids


ARCHITECTURES: Dict[str, Architecture] = {}


def register(architecture: Architecture) -> Architecture:
    for model_type in architecture.model_types:
        ARCHITECTURES[model_type] = architecture
    return architecture


def architecture_for(raw: dict, origin: str) -> Architecture:
    importlib.import_module(f"{__package__}.architectures")  # registers every module of the package
    model_type = raw.get("model_type")
    supported = ", ".join(f'"{name}"' for name in sorted(ARCHITECTURES))
    if model_type is None:
        raise ExportError(f"{origin}: no model_type; expected one of {supported}")
    if model_type not in ARCHITECTURES:
        raise ExportError(f"{origin}: model_type {model_type!r} is not supported "
                          f"(bert-embed exports {supported} checkpoints)")
    return ARCHITECTURES[model_type]


def encoder_parameters(architecture: Architecture, state: Dict[str, Tensor],
                       path: Path) -> Tuple[Dict[str, Tensor], str]:
    """Drops the task-model prefix ('bert.', 'roberta.', 'transformer.'), renames TF-era
    LayerNorm gamma/beta as HF does, keeps only the encoder's namespaces (task heads
    such as lm_head, cls.*, classifier are ignored). Returns the encoder parameters and
    the prefix the checkpoint used ('' if none)."""
    prefix = architecture.task_prefix
    key_prefix = prefix if prefix and any(key.startswith(prefix) for key in state) else ""
    encoder_state = {}
    for key, tensor in state.items():
        name = key[len(key_prefix):] if key_prefix and key.startswith(key_prefix) else key
        if name.endswith(".gamma"):
            name = name[:-len("gamma")] + "weight"
        elif name.endswith(".beta"):
            name = name[:-len("beta")] + "bias"
        if name.split(".", 1)[0] not in architecture.namespaces or name in architecture.ignored \
                or re.sub(r"\.\d+\.", ".N.", name) in architecture.ignored:
            continue
        if name in encoder_state:
            raise ExportError(f"{path}: parameter {name!r} appears twice (with and without {prefix!r})")
        encoder_state[name] = tensor
    return encoder_state, key_prefix


def check_config_sizes(architecture: Architecture, config: ModelConfig, shapes: Dict[str, Tensor],
                       key_prefix: str, path: Path) -> None:
    """Compares the sizes config.json gives with the checkpoint's tensor shapes (meta
    tensors: no data) before a model of those sizes is allocated: a config that does not
    describe the weights would otherwise allocate whatever it asks for (vocab_size
    8000000 at hidden 768: 24 GB) before failing."""
    for field, value, name, dimension in architecture.size_checks(config):
        tensor = shapes.get(name)
        if tensor is None:
            raise ExportError(f"{path}: weights do not match {config.origin}: missing {key_prefix}{name}, "
                              f"which sizes {field}")
        if tensor.dim() <= dimension or tensor.shape[dimension] != value:
            raise ExportError(f"{config.origin}: {field} is {value} but {path.name} has {key_prefix}{name} "
                              f"of shape {list(tensor.shape)}; config.json does not describe these weights")
    indices = {int(match.group(1)) for match in map(architecture.layer_pattern.match, shapes) if match}
    layers = max(indices) + 1 if indices else 0
    if indices and layers != config.num_layers:
        first = next(key for key in sorted(shapes) if architecture.layer_pattern.match(key))
        stem = first[:architecture.layer_pattern.match(first).start(1)]
        raise ExportError(f"{config.origin}: {config.name_of('num_layers')} is {config.num_layers} but "
                          f"{path.name} has {layers} layers ({key_prefix}{stem}0 to {layers - 1}); "
                          "config.json does not describe these weights")


def describe_keys(keys: List[str], key_prefix: str, limit: int = 12) -> str:
    keys = sorted(keys)
    shown = ", ".join(key_prefix + key for key in keys[:limit])
    return shown + (f", ... ({len(keys) - limit} more)" if len(keys) > limit else "")


def load_weights(architecture: Architecture, model: HiddenStateEncoder, config: ModelConfig,
                 state: Dict[str, Tensor], key_prefix: str, path: Path) -> None:
    """Fills `model` from the HF encoder parameters, strictly: every parameter present,
    none extra, every shape as config.json implies."""
    expected = model.state_dict()
    sources = architecture.sources(config, model.pooler is not None)
    assembled = {}
    missing, mismatched, used = [], [], set()
    for target, source in sources.items():
        if source.shape is not None:
            part_shape = list(source.shape)
        else:
            part_shape = list(expected[target].shape)
            part_shape[0] //= len(source.names)
        parts = []
        for name in source.names:
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
                tensor = tensor.to(torch.float32)
                parts.append(source.convert(tensor) if source.convert is not None else tensor)
        if len(parts) == len(source.names):
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
    buffers = {name for name, _ in model.named_buffers()}
    unfilled = [name for name in expected if name not in assembled and name not in buffers]
    if unfilled:
        raise AssertionError(f"{architecture.name}: no source for {', '.join(unfilled)}")
    model.load_state_dict({**{name: expected[name] for name in buffers}, **assembled}, strict=True)
