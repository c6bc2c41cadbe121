"""The parts every exported encoder shares, and the TorchScript contract
src/model/encoder.cc calls:

    forward(input_ids, attention_mask, token_type_ids) -> (hidden, pooled)
    encode(input_ids, attention_mask, token_type_ids, layers, want_pooler) -> (hidden, pooled)

Inputs are int64 [batch, seq], real tokens first and padding on the right
(attention_mask 0). hidden is [len(layers), batch, seq, width]: hidden state 0 is
the embedding output as HF's output_hidden_states gives it, k the output of layer
k. pooled is [batch, width] when asked for and the model has a pooler, else
empty. Each module ignores the inputs its architecture does not use and computes
its positions itself, so that padding never changes a real token's vector.
"""

import math
from typing import Dict, List, Tuple

import torch
from torch import Tensor, nn

from .config import ModelConfig

# HF activation names whose function torch provides exactly.
ACTIVATIONS = {
    "gelu": lambda: nn.GELU(),  # erf form
    "gelu_new": lambda: nn.GELU(approximate="tanh"),
    "gelu_pytorch_tanh": lambda: nn.GELU(approximate="tanh"),
    "relu": lambda: nn.ReLU(),
}


class Float32LayerNorm(nn.LayerNorm):
    """LayerNorm computed in float32 whatever the activations' dtype, its result cast back.

    After module.to(torch.bfloat16), ATen 1.13's bfloat16 LayerNorm on CPU is about 4x
    slower than casting to float32 and back (30% of a BERT-base bfloat16 forward instead of
    7%), and float32 statistics are more accurate. For float32 activations the casts are no-ops.
    """

    def forward(self, x: Tensor) -> Tensor:
        return nn.functional.layer_norm(x.float(), self.normalized_shape, self.weight.float(),
                                        self.bias.float(), self.eps).to(x.dtype)


def padding_bias(attention_mask: Tensor, dtype: torch.dtype) -> Tensor:
    """[batch, 1, seq]: 0 for real keys, the lowest finite value of `dtype` (HF's
    torch.finfo(dtype).min; nan_to_num maps -inf to it) for padding, so that padded
    keys get exactly zero attention weight."""
    batch = attention_mask.size(0)
    seq = attention_mask.size(1)
    bias = (torch.zeros([batch, seq], dtype=dtype, device=attention_mask.device)
            .masked_fill(attention_mask == 0, float("-inf"))
            .nan_to_num())
    return bias.view(batch, 1, seq)


def per_head(bias: Tensor, num_heads: int) -> Tensor:
    """[batch, rows, seq] -> [batch * heads, rows, seq], the layout of the batched products."""
    batch = bias.size(0)
    rows = bias.size(1)
    seq = bias.size(2)
    return bias.view(batch, 1, rows, seq).expand(batch, num_heads, rows, seq).reshape(batch * num_heads, rows, seq)


def fused_attention(qkv: Tensor, attention_bias: Tensor, num_heads: int, head_size: int, scale: float) -> Tensor:
    """Scaled dot-product attention from fused query/key/value projections qkv [batch, seq,
    3 * width]; attention_bias [batch * heads, 1 or seq, seq] is added to the scaled scores.
    The products run in attention_bias's dtype; the result [batch, seq, width] has qkv's.

    bert-embed rewrites this function's frozen graph, operator for operator, into one operator
    of its own (src/model/attention_fusion.cc): change both together.
    tests/model/attention_fusion_test.cc fails when an exported architecture's attention is no
    longer rewritten."""
    batch = qkv.size(0)
    seq = qkv.size(1)
    width = num_heads * head_size
    # Each relayout below is one copy: to() makes it when it changes the dtype
    # (reshape is then a view), else to() is a no-op and reshape makes it.
    # [3, batch * heads, seq, head]; q, k, v are views of it.
    heads = (qkv.view(batch, seq, 3, num_heads, head_size)
             .permute(2, 0, 3, 1, 4)
             .to(attention_bias.dtype, memory_format=torch.contiguous_format)
             .reshape(3, batch * num_heads, seq, head_size))
    scores = torch.baddbmm(attention_bias, heads[0], heads[1].transpose(1, 2), alpha=scale)
    return (torch.bmm(torch.softmax(scores, dim=-1), heads[2])
            .view(batch, num_heads, seq, head_size)
            .transpose(1, 2)
            .to(qkv.dtype, memory_format=torch.contiguous_format)
            .reshape(batch, seq, width))


class TransformerLayer(nn.Module):
    """One post-LayerNorm transformer layer in eval mode: BertLayer, AlbertLayer,
    DistilBERT's TransformerBlock, MPNetLayer. Query, key and value projections are
    fused into one matrix product."""

    __constants__ = ["num_heads", "head_size", "scale"]

    def __init__(self, config: ModelConfig):
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

    def forward(self, hidden: Tensor, context: Dict[str, Tensor]) -> Tensor:
        """hidden [batch, seq, width]; context["attention_bias"] [batch * heads, 1 or seq,
        seq] is added to the scaled attention scores. The attention products run in its dtype."""
        context_vectors = fused_attention(self.qkv(hidden), context["attention_bias"], self.num_heads,
                                          self.head_size, self.scale)
        attended = self.attention_norm(self.attention_output(context_vectors) + hidden)
        return self.output_norm(self.output(self.activation(self.intermediate(attended))) + attended)


class HiddenStateEncoder(nn.Module):
    """The encode() loop every architecture shares. A subclass provides embed() (hidden
    state 0) and, where its attention needs more than the padding bias,
    attention_context(); its layers take (hidden, context). Distinct layers are applied
    in order, each layers_per_block[i] times (ALBERT: one shared layer applied
    num_layers times). final_norm, where set, is applied to the last layer's output
    (GPT-2's ln_f); pooler, where set, is tanh(W h_L[0] + b)."""

    __constants__ = ["num_layers", "num_heads", "max_positions"]

    def __init__(self, config: ModelConfig, layers: List[nn.Module], layers_per_block: List[int], has_pooler: bool):
        super().__init__()
        self.num_layers = config.num_layers
        self.num_heads = config.num_heads
        self.max_positions = config.max_positions
        self.layers_per_block = layers_per_block
        self.layers = nn.ModuleList(layers)
        self.pooler = nn.Linear(config.hidden_size, config.hidden_size) if has_pooler else None
        self.final_norm = None

    def forward(self, input_ids: Tensor, attention_mask: Tensor, token_type_ids: Tensor) -> Tuple[Tensor, Tensor]:
        return self.encode(input_ids, attention_mask, token_type_ids,
                           list(range(self.num_layers + 1)), self.pooler is not None)

    def embed(self, input_ids: Tensor, attention_mask: Tensor, token_type_ids: Tensor) -> Tensor:
        raise NotImplementedError

    def attention_context(self, input_ids: Tensor, attention_mask: Tensor, token_type_ids: Tensor,
                          dtype: torch.dtype) -> Dict[str, Tensor]:
        return {"attention_bias": per_head(padding_bias(attention_mask, dtype), self.num_heads)}

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

        hidden = self.embed(input_ids, attention_mask, token_type_ids)
        kept: Dict[int, Tensor] = {}
        if 0 in layers:
            kept[0] = hidden
        context = self.attention_context(input_ids, attention_mask, token_type_ids, hidden.dtype)
        depth = 0
        for block, transformer_layer in enumerate(self.layers):
            for _ in range(min(self.layers_per_block[block], last_layer - depth)):
                hidden = transformer_layer(hidden, context)
                depth += 1
                if depth == self.num_layers:
                    final_norm = self.final_norm
                    if final_norm is not None:
                        hidden = final_norm(hidden)
                if depth in layers:
                    kept[depth] = hidden
        selected = torch.stack([kept[index] for index in layers])

        pooled = torch.zeros(0, dtype=hidden.dtype, device=hidden.device)
        pooler = self.pooler
        if run_pooler and pooler is not None:
            pooled = torch.tanh(pooler(hidden[:, 0]))
        return selected, pooled
