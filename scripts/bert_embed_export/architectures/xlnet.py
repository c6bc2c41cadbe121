"""XLNet (HF XLNetModel v4.29.2) as an encoder: attn_type "bi", no memory, the
content stream only (no query stream, target mapping or permutation mask).
Hidden state 0 is the word embeddings; positions enter inside attention as
relative sinusoidal encodings, token types as relative segments (same or
different), so that neither depends on padding. The [d_model, heads, head]
projections are loaded as nn.Linear, which int8 quantization knows."""

import math
import re
from pathlib import Path
from typing import Dict, List

import torch
from torch import Tensor, nn

from ..architecture import Architecture, SizeCheck, WeightSource, register
from ..config import ModelConfig
from ..errors import ExportError
from ..layers import ACTIVATIONS, Float32LayerNorm, HiddenStateEncoder, padding_bias
from ..tokenizer import MASK_STRIPS_LEFT, TokenizerFiles, read_sentencepiece


def relative_sinusoids(max_positions: int, width: int) -> Tensor:
    """[2 * max_positions, width]: XLNetModel.relative_positional_encoding for relative
    positions max_positions down to -max_positions + 1, in float32 as HF computes them;
    a sequence of length T uses rows max_positions - T .. max_positions + T - 1."""
    freq_seq = torch.arange(0, width, 2.0, dtype=torch.float)
    inv_freq = 1 / torch.pow(10000, (freq_seq / width))
    pos_seq = torch.arange(max_positions, -max_positions, -1.0)
    sinusoid_inp = torch.einsum("i,d->id", pos_seq, inv_freq)
    return torch.cat([torch.sin(sinusoid_inp), torch.cos(sinusoid_inp)], dim=-1)


class XLNetLayer(nn.Module):
    """XLNetLayer's content stream: relative attention (content, position and segment
    terms), post-LayerNorm, then the feed-forward block."""

    __constants__ = ["num_heads", "head_size", "scale"]

    def __init__(self, config: ModelConfig):
        super().__init__()
        hidden = config.hidden_size
        self.num_heads = config.num_heads
        self.head_size = hidden // config.num_heads
        self.scale = 1.0 / math.sqrt(self.head_size)
        self.qkv = nn.Linear(hidden, 3 * hidden, bias=False)
        self.position = nn.Linear(hidden, hidden, bias=False)
        self.attention_output = nn.Linear(hidden, hidden, bias=False)
        self.content_bias = nn.Parameter(torch.zeros(self.num_heads, 1, self.head_size))
        self.position_bias = nn.Parameter(torch.zeros(self.num_heads, 1, self.head_size))
        self.segment_bias = nn.Parameter(torch.zeros(self.num_heads, 1, self.head_size))
        self.segment_embeddings = nn.Parameter(torch.zeros(self.num_heads, self.head_size, 2))
        self.attention_norm = Float32LayerNorm(hidden, eps=config.layer_norm_eps)
        self.intermediate = nn.Linear(hidden, config.intermediate_size)
        self.activation = ACTIVATIONS[config.hidden_act]()
        self.output = nn.Linear(config.intermediate_size, hidden)
        self.output_norm = Float32LayerNorm(hidden, eps=config.layer_norm_eps)

    def forward(self, hidden: Tensor, context: Dict[str, Tensor]) -> Tensor:
        """context: "attention_bias" [batch, 1, 1, seq] (padding), "relative_positions"
        [2 * seq, width], "same_segment" / "other_segment" [batch, 1, seq, seq] (1 or 0)."""
        batch = hidden.size(0)
        seq = hidden.size(1)
        width = hidden.size(2)
        # [3, batch, heads, seq, head]
        qkv = (self.qkv(hidden).view(batch, seq, 3, self.num_heads, self.head_size).permute(2, 0, 3, 1, 4))
        query = qkv[0]
        # [heads, 2 * seq, head]
        position_keys = (self.position(context["relative_positions"])
                         .view(2 * seq, self.num_heads, self.head_size).transpose(0, 1))
        content = torch.matmul(query + self.content_bias, qkv[1].transpose(-1, -2))
        # Score of query i for relative position p = max .. -max + 1, then XLNet's rel_shift
        # picks p = i - j for key j.
        position = torch.matmul(query + self.position_bias, position_keys.transpose(-1, -2))
        position = (position.reshape(batch, self.num_heads, 2 * seq, seq)[:, :, 1:, :]
                    .reshape(batch, self.num_heads, seq, 2 * seq - 1)[:, :, :, :seq])
        # [batch, heads, seq, 2]: query i's score for a key in its segment (0) or not (1)
        segment = torch.matmul(query + self.segment_bias, self.segment_embeddings)
        segment = segment[:, :, :, 0:1] * context["same_segment"] + segment[:, :, :, 1:2] * context["other_segment"]
        scores = (content + position + segment) * self.scale + context["attention_bias"]
        attended = (torch.matmul(torch.softmax(scores, dim=-1), qkv[2])
                    .transpose(1, 2)
                    .reshape(batch, seq, width))
        attended = self.attention_norm(self.attention_output(attended) + hidden)
        return self.output_norm(self.output(self.activation(self.intermediate(attended))) + attended)


class XLNetEncoder(HiddenStateEncoder):
    def __init__(self, config: ModelConfig):
        super().__init__(config, [XLNetLayer(config) for _ in range(config.num_layers)], [1] * config.num_layers,
                         has_pooler=False)
        self.word_embeddings = nn.Embedding(config.vocab_size, config.hidden_size)
        self.register_buffer("sinusoids", relative_sinusoids(config.max_positions, config.hidden_size))

    def embed(self, input_ids: Tensor, attention_mask: Tensor, token_type_ids: Tensor) -> Tensor:
        return self.word_embeddings(input_ids)

    def attention_context(self, input_ids: Tensor, attention_mask: Tensor, token_type_ids: Tensor,
                          dtype: torch.dtype) -> Dict[str, Tensor]:
        batch = input_ids.size(0)
        seq = input_ids.size(1)
        same = (token_type_ids.view(batch, 1, seq, 1) == token_type_ids.view(batch, 1, 1, seq))
        return {
            "attention_bias": padding_bias(attention_mask, dtype).view(batch, 1, 1, seq),
            "relative_positions": self.sinusoids[self.max_positions - seq:self.max_positions + seq].to(dtype),
            "same_segment": same.to(dtype),
            "other_segment": (token_type_ids.view(batch, 1, seq, 1) != token_type_ids.view(batch, 1, 1, seq)).to(dtype),
        }


def heads_in(tensor: Tensor) -> Tensor:
    """[d_model, heads, head] (q, k, v, r) as nn.Linear's [heads * head, d_model]."""
    return tensor.reshape(tensor.size(0), -1).t().contiguous()


def heads_out(tensor: Tensor) -> Tensor:
    """[d_model, heads, head] (o) as nn.Linear's [d_model, heads * head]."""
    return tensor.reshape(tensor.size(0), -1).contiguous()


class XLNetArchitecture(Architecture):
    name = "xlnet"
    model_types = ("xlnet",)
    task_prefix = "transformer."
    namespaces = ("word_embedding", "layer", "mask_emb")
    ignored = ("mask_emb",)  # the query stream's
    names = {"num_layers": "n_layer", "hidden_size": "d_model", "num_heads": "n_head",
             "intermediate_size": "d_inner", "vocab_size": "vocab_size", "hidden_act": "ff_activation",
             "layer_norm_eps": "layer_norm_eps", "pad_token_id": "pad_token_id"}
    # No position limit of its own: the tokenizer's model_max_length.
    fixed = {"max_positions": 512}
    defaults = dict(vocab_size=32000, d_model=1024, n_layer=24, n_head=16, d_inner=4096, ff_activation="gelu",
                    layer_norm_eps=1e-12, attn_type="bi", bi_data=False, clamp_len=-1, pad_token_id=5)
    layer_pattern = re.compile(r"^layer\.(\d+)\.")
    framing = "xlnet"
    special_tokens = {"cls": "<cls>", "sep": "<sep>", "pad": "<pad>", "unk": "<unk>", "mask": "<mask>",
                      "bos": "<s>", "eos": "</s>"}

    def check_config(self, config: ModelConfig) -> None:
        config.require("attn_type", ("bi",), 'bert-embed runs XLNet as a bidirectional encoder (attn_type "bi")')
        config.require("bi_data", (False,), "bert-embed runs XLNet's forward positions only")
        clamp_len = config.fields.get("clamp_len")
        if not isinstance(clamp_len, int) or 0 < clamp_len < config.max_positions:
            raise ExportError(f"{config.origin}: clamp_len = {clamp_len!r} is not supported "
                              "(bert-embed implements unclamped relative positions)")
        d_head = config.fields.get("d_head", config.hidden_size // config.num_heads)
        if d_head * config.num_heads != config.hidden_size:
            raise ExportError(f"{config.origin}: d_head {d_head} times n_head {config.num_heads} is not "
                              f"d_model {config.hidden_size}")

    def build(self, config: ModelConfig, has_pooler: bool) -> HiddenStateEncoder:
        return XLNetEncoder(config)

    def checkpoint_has_pooler(self, state: Dict[str, Tensor]) -> bool:
        return False

    def sources(self, config: ModelConfig, has_pooler: bool) -> Dict[str, WeightSource]:
        hidden, heads = config.hidden_size, config.num_heads
        head = hidden // heads
        projection = [hidden, heads, head]
        sources = {"word_embeddings.weight": WeightSource(["word_embedding.weight"])}
        for index in range(config.num_layers):
            ours, attention, ff = f"layers.{index}.", f"layer.{index}.rel_attn.", f"layer.{index}.ff."
            sources[ours + "qkv.weight"] = WeightSource([attention + name for name in ("q", "k", "v")],
                                                        projection, heads_in)
            sources[ours + "position.weight"] = WeightSource([attention + "r"], projection, heads_in)
            sources[ours + "attention_output.weight"] = WeightSource([attention + "o"], projection, heads_out)
            for bias, name in (("content_bias", "r_w_bias"), ("position_bias", "r_r_bias"),
                               ("segment_bias", "r_s_bias")):
                sources[ours + bias] = WeightSource([attention + name], [heads, head],
                                                    lambda tensor: tensor.unsqueeze(1).contiguous())
            sources[ours + "segment_embeddings"] = WeightSource([attention + "seg_embed"], [2, heads, head],
                                                                lambda tensor: tensor.permute(1, 2, 0).contiguous())
            for parameter in ("weight", "bias"):
                sources[f"{ours}attention_norm.{parameter}"] = WeightSource([f"{attention}layer_norm.{parameter}"])
                sources[f"{ours}output_norm.{parameter}"] = WeightSource([f"{ff}layer_norm.{parameter}"])
                sources[f"{ours}intermediate.{parameter}"] = WeightSource([f"{ff}layer_1.{parameter}"])
                sources[f"{ours}output.{parameter}"] = WeightSource([f"{ff}layer_2.{parameter}"])
        return sources

    def size_checks(self, config: ModelConfig) -> List[SizeCheck]:
        return [
            ("vocab_size", config.vocab_size, "word_embedding.weight", 0),
            ("d_model", config.hidden_size, "word_embedding.weight", 1),
            ("n_head", config.num_heads, "layer.0.rel_attn.q", 1),
            ("d_inner", config.intermediate_size, "layer.0.ff.layer_1.weight", 0),
        ]

    def read_tokenizer(self, directory: Path) -> TokenizerFiles:
        return read_sentencepiece(directory, "spiece.model", self.special_tokens, self.framing, MASK_STRIPS_LEFT,
                                  lower_case_default=False)


register(XLNetArchitecture())
