"""ALBERT (HF AlbertModel v4.29.2): factorized embeddings projected to the hidden
size, one transformer layer shared by all num_hidden_layers applications."""

from pathlib import Path
from typing import Dict, List

from ..architecture import register
from ..config import ModelConfig
from ..errors import ExportError
from ..layers import HiddenStateEncoder
from ..tokenizer import MASK_STRIPS_LEFT, TokenizerFiles, read_sentencepiece
from .bert import BertArchitecture, BertStyleEncoder


class AlbertArchitecture(BertArchitecture):
    name = "albert"
    model_types = ("albert",)
    task_prefix = "albert."
    names = {**BertArchitecture.names, "embedding_size": "embedding_size"}
    defaults = dict(vocab_size=30000, embedding_size=128, hidden_size=4096, num_hidden_layers=12,
                    num_hidden_groups=1, num_attention_heads=64, intermediate_size=16384,
                    inner_group_num=1, hidden_act="gelu_new", max_position_embeddings=512,
                    type_vocab_size=2, layer_norm_eps=1e-12, pad_token_id=0,
                    position_embedding_type="absolute")
    special_tokens = {"cls": "[CLS]", "sep": "[SEP]", "pad": "<pad>", "unk": "<unk>", "mask": "[MASK]"}
    layer_names = {
        "qkv": ["attention.query", "attention.key", "attention.value"],
        "attention_output": ["attention.dense"],
        "attention_norm": ["attention.LayerNorm"],
        "intermediate": ["ffn"],
        "output": ["ffn_output"],
        "output_norm": ["full_layer_layer_norm"],
    }
    pooler_name = "pooler"

    def check_config(self, config: ModelConfig) -> None:
        super().check_config(config)
        for field in ("num_hidden_groups", "inner_group_num"):
            if config.fields[field] != 1:
                raise ExportError(f"{config.origin}: {field} = {config.fields[field]!r} is not supported; "
                                  "bert-embed exports ALBERT with one shared layer "
                                  "(num_hidden_groups = inner_group_num = 1)")

    def build(self, config: ModelConfig, has_pooler: bool) -> HiddenStateEncoder:
        return BertStyleEncoder(config, has_pooler, projection=True, layers_per_block=[config.num_layers])

    def layer_prefixes(self, config: ModelConfig) -> List[str]:
        return ["encoder.albert_layer_groups.0.albert_layers.0."]

    def embedding_modules(self) -> Dict[str, List[str]]:
        return {**super().embedding_modules(), "embedding_projection": ["encoder.embedding_hidden_mapping_in"]}

    def read_tokenizer(self, directory: Path) -> TokenizerFiles:
        return read_sentencepiece(directory, "spiece.model", self.special_tokens, self.framing, MASK_STRIPS_LEFT)


register(AlbertArchitecture())
