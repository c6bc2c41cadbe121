"""MPNet (HF MPNetModel v4.29.2): RoBERTa-style embeddings without token types, BERT's
layers with a relative position bias added to the attention scores, computed once
from the token distances and shared by all layers."""

import math
from pathlib import Path
from typing import Dict, List

import torch
from torch import Tensor, nn

from ..architecture import SizeCheck, WeightSource, register
from ..config import ModelConfig
from ..layers import HiddenStateEncoder, padding_bias
from ..tokenizer import TokenizerFiles, read_wordpiece
from .bert import BertStyleEncoder
from .roberta import ROBERTA_STRIPS, RobertaArchitecture

# MPNetEncoder.compute_position_bias calls relative_position_bucket with its defaults,
# whatever relative_attention_num_buckets says (which sizes only the bias table).
NUM_BUCKETS = 32
MAX_DISTANCE = 128


def relative_position_buckets(length: int) -> Tensor:
    """[length, length]: MPNetEncoder.relative_position_bucket(key - query), HF's arithmetic."""
    positions = torch.arange(length, dtype=torch.long)
    relative_position = positions[None, :] - positions[:, None]
    n = -relative_position
    num_buckets = NUM_BUCKETS // 2
    ret = (n < 0).to(torch.long) * num_buckets
    n = torch.abs(n)
    max_exact = num_buckets // 2
    is_small = n < max_exact
    val_if_large = max_exact + (torch.log(n.float() / max_exact) / math.log(MAX_DISTANCE / max_exact)
                                * (num_buckets - max_exact)).to(torch.long)
    val_if_large = torch.min(val_if_large, torch.full_like(val_if_large, num_buckets - 1))
    return ret + torch.where(is_small, n, val_if_large)


class MPNetEncoder(BertStyleEncoder):
    def __init__(self, config: ModelConfig, has_pooler: bool, num_buckets: int, padding_idx: int):
        super().__init__(config, has_pooler, token_types="none", position_padding_idx=padding_idx)
        self.relative_attention_bias = nn.Embedding(num_buckets, config.num_heads)
        # The buckets depend on the distances alone, computed here (the log and the
        # rounding as HF does them) rather than in the module.
        self.register_buffer("position_buckets", relative_position_buckets(config.max_positions), persistent=True)

    def attention_context(self, input_ids: Tensor, attention_mask: Tensor, token_type_ids: Tensor,
                          dtype: torch.dtype) -> Dict[str, Tensor]:
        batch = input_ids.size(0)
        seq = input_ids.size(1)
        # [heads, seq, seq] + [batch, 1, 1, seq] -> [batch * heads, seq, seq]
        position_bias = (self.relative_attention_bias(self.position_buckets[:seq, :seq])
                         .permute(2, 0, 1).to(dtype))
        bias = position_bias.unsqueeze(0) + padding_bias(attention_mask, dtype).view(batch, 1, 1, seq)
        return {"attention_bias": bias.reshape(batch * self.num_heads, seq, seq)}


class MPNetArchitecture(RobertaArchitecture):
    name = "mpnet"
    model_types = ("mpnet",)
    task_prefix = "mpnet."
    defaults = dict(vocab_size=30527, hidden_size=768, num_hidden_layers=12, num_attention_heads=12,
                    intermediate_size=3072, hidden_act="gelu", max_position_embeddings=512,
                    layer_norm_eps=1e-12, relative_attention_num_buckets=32, pad_token_id=1)
    ignored = ("embeddings.position_ids",)
    special_tokens = {"cls": "<s>", "sep": "</s>", "pad": "<pad>", "unk": "[UNK]", "mask": "<mask>",
                      "bos": "<s>", "eos": "</s>"}
    token_types = "none"
    layer_names = {
        "qkv": ["attention.attn.q", "attention.attn.k", "attention.attn.v"],
        "attention_output": ["attention.attn.o"],
        "attention_norm": ["attention.LayerNorm"],
        "intermediate": ["intermediate.dense"],
        "output": ["output.dense"],
        "output_norm": ["output.LayerNorm"],
    }

    def num_buckets(self, config: ModelConfig) -> int:
        return config.fields["relative_attention_num_buckets"]

    def build(self, config: ModelConfig, has_pooler: bool) -> HiddenStateEncoder:
        return MPNetEncoder(config, has_pooler, self.num_buckets(config), config.pad_token_id)

    def sources(self, config: ModelConfig, has_pooler: bool) -> Dict[str, WeightSource]:
        return {**super().sources(config, has_pooler),
                "relative_attention_bias.weight": WeightSource(["encoder.relative_attention_bias.weight"])}

    def size_checks(self, config: ModelConfig) -> List[SizeCheck]:
        return super().size_checks(config) + [
            ("relative_attention_num_buckets", self.num_buckets(config), "encoder.relative_attention_bias.weight", 0)]

    def read_tokenizer(self, directory: Path) -> TokenizerFiles:
        return read_wordpiece(directory, self.special_tokens, self.framing, ROBERTA_STRIPS)


register(MPNetArchitecture())
