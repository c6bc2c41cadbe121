"""GPT-2 (HF GPT2Model v4.29.2): pre-LayerNorm decoder blocks with causal attention;
hidden state 0 is wte + wpe, the last one ln_f of the last block's output. Its
Conv1D weights ([in, out]) are loaded transposed into nn.Linear, which int8
quantization knows."""

import math
import re
from pathlib import Path
from typing import Dict, List

import torch
from torch import Tensor, nn

from ..architecture import Architecture, SizeCheck, WeightSource, register
from ..config import ModelConfig
from ..layers import ACTIVATIONS, Float32LayerNorm, HiddenStateEncoder, fused_attention, padding_bias, per_head
from ..tokenizer import TokenizerFiles, read_bpe


class GPT2Block(nn.Module):
    __constants__ = ["num_heads", "head_size", "scale"]

    def __init__(self, config: ModelConfig):
        super().__init__()
        hidden = config.hidden_size
        self.num_heads = config.num_heads
        self.head_size = hidden // config.num_heads
        self.scale = 1.0 / math.sqrt(self.head_size)
        self.attention_norm = Float32LayerNorm(hidden, eps=config.layer_norm_eps)
        self.qkv = nn.Linear(hidden, 3 * hidden)
        self.attention_output = nn.Linear(hidden, hidden)
        self.mlp_norm = Float32LayerNorm(hidden, eps=config.layer_norm_eps)
        self.intermediate = nn.Linear(hidden, config.intermediate_size)
        self.activation = ACTIVATIONS[config.hidden_act]()
        self.output = nn.Linear(config.intermediate_size, hidden)

    def forward(self, hidden: Tensor, context: Dict[str, Tensor]) -> Tensor:
        """context["attention_bias"]: [batch * heads, seq, seq], causal and padding."""
        attended = fused_attention(self.qkv(self.attention_norm(hidden)), context["attention_bias"], self.num_heads,
                                   self.head_size, self.scale)
        hidden = self.attention_output(attended) + hidden
        return hidden + self.output(self.activation(self.intermediate(self.mlp_norm(hidden))))


class GPT2Encoder(HiddenStateEncoder):
    def __init__(self, config: ModelConfig):
        super().__init__(config, [GPT2Block(config) for _ in range(config.num_layers)], [1] * config.num_layers,
                         has_pooler=False)
        self.word_embeddings = nn.Embedding(config.vocab_size, config.hidden_size)
        self.position_embeddings = nn.Embedding(config.max_positions, config.hidden_size)
        self.final_norm = Float32LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
        # The complement of HF's attn.bias: key j is hidden from query i when j > i.
        self.register_buffer("future", torch.triu(torch.ones(config.max_positions, config.max_positions,
                                                             dtype=torch.bool), diagonal=1))

    def embed(self, input_ids: Tensor, attention_mask: Tensor, token_type_ids: Tensor) -> Tensor:
        return self.word_embeddings(input_ids) + self.position_embeddings.weight[:input_ids.size(1)]

    def attention_context(self, input_ids: Tensor, attention_mask: Tensor, token_type_ids: Tensor,
                          dtype: torch.dtype) -> Dict[str, Tensor]:
        seq = input_ids.size(1)
        # Padding keys come after every real token, so a real query never sees them
        # through the causal mask; the padding bias keeps padded queries finite.
        bias = (padding_bias(attention_mask, dtype)
                .masked_fill(self.future[:seq, :seq], float("-inf"))
                .nan_to_num())
        return {"attention_bias": per_head(bias, self.num_heads)}


def conv1d(tensor: Tensor) -> Tensor:
    """Conv1D's [in, out] weight as nn.Linear's [out, in]."""
    return tensor.t().contiguous()


class GPT2Architecture(Architecture):
    name = "gpt2"
    model_types = ("gpt2",)
    task_prefix = "transformer."
    namespaces = ("wte", "wpe", "h", "ln_f")
    ignored = ("h.N.attn.bias", "h.N.attn.masked_bias")
    names = {"num_layers": "n_layer", "hidden_size": "n_embd", "num_heads": "n_head",
             "intermediate_size": "n_inner", "max_positions": "n_positions", "vocab_size": "vocab_size",
             "hidden_act": "activation_function", "layer_norm_eps": "layer_norm_epsilon"}
    defaults = dict(vocab_size=50257, n_positions=1024, n_embd=768, n_layer=12, n_head=12, n_inner=None,
                    activation_function="gelu_new", layer_norm_epsilon=1e-5, scale_attn_weights=True,
                    scale_attn_by_inverse_layer_idx=False, reorder_and_upcast_attn=False)
    layer_pattern = re.compile(r"^h\.(\d+)\.")
    framing = "none"
    special_tokens = {"unk": "<|endoftext|>", "bos": "<|endoftext|>", "eos": "<|endoftext|>", "pad": None,
                      "cls": None, "sep": None, "mask": None}

    def config(self, raw: dict, origin: str) -> ModelConfig:
        raw = dict(raw)
        if raw.get("n_inner") is None:
            raw["n_inner"] = 4 * raw.get("n_embd", self.defaults["n_embd"])
        return super().config(raw, origin)

    def check_config(self, config: ModelConfig) -> None:
        config.require("scale_attn_weights", (True,), "bert-embed implements GPT-2's scaled attention")
        config.require("scale_attn_by_inverse_layer_idx", (False,), "bert-embed implements GPT-2's attention")

    def build(self, config: ModelConfig, has_pooler: bool) -> HiddenStateEncoder:
        return GPT2Encoder(config)

    def checkpoint_has_pooler(self, state: Dict[str, Tensor]) -> bool:
        return False

    def sources(self, config: ModelConfig, has_pooler: bool) -> Dict[str, WeightSource]:
        hidden, inner = config.hidden_size, config.intermediate_size
        sources = {
            "word_embeddings.weight": WeightSource(["wte.weight"]),
            "position_embeddings.weight": WeightSource(["wpe.weight"]),
            "final_norm.weight": WeightSource(["ln_f.weight"]),
            "final_norm.bias": WeightSource(["ln_f.bias"]),
        }
        linear = {"qkv": ("attn.c_attn", hidden, 3 * hidden), "attention_output": ("attn.c_proj", hidden, hidden),
                  "intermediate": ("mlp.c_fc", hidden, inner), "output": ("mlp.c_proj", inner, hidden)}
        for index in range(config.num_layers):
            ours, theirs = f"layers.{index}.", f"h.{index}."
            for norm, name in (("attention_norm", "ln_1"), ("mlp_norm", "ln_2")):
                for parameter in ("weight", "bias"):
                    sources[f"{ours}{norm}.{parameter}"] = WeightSource([f"{theirs}{name}.{parameter}"])
            for module, (name, inputs, outputs) in linear.items():
                sources[f"{ours}{module}.weight"] = WeightSource([f"{theirs}{name}.weight"], [inputs, outputs], conv1d)
                sources[f"{ours}{module}.bias"] = WeightSource([f"{theirs}{name}.bias"])
        return sources

    def size_checks(self, config: ModelConfig) -> List[SizeCheck]:
        return [
            ("vocab_size", config.vocab_size, "wte.weight", 0),
            ("n_embd", config.hidden_size, "wte.weight", 1),
            ("n_positions", config.max_positions, "wpe.weight", 0),
            ("n_inner", config.intermediate_size, "h.0.mlp.c_fc.weight", 1),
        ]

    def read_tokenizer(self, directory: Path) -> TokenizerFiles:
        tokenizer = read_bpe(directory, self.special_tokens, self.framing, ("unk",),
                             {name: (False, False) for name in self.special_tokens})
        # GPT-2 has no padding token: batches are padded with <|endoftext|>, which the
        # attention mask and the causal mask keep away from every real token.
        if tokenizer.special_ids["pad"] < 0:
            tokenizer.special_ids["pad"] = tokenizer.special_ids["unk"]
        return tokenizer


register(GPT2Architecture())
