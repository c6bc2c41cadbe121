"""BERT (HF BertModel v4.29.2), and the BERT-style encoder the other post-LayerNorm
architectures (ALBERT, RoBERTa, XLM-RoBERTa, DistilBERT, ELECTRA, MPNet) build on."""

from pathlib import Path
from typing import Dict, List, Optional

import torch
from torch import Tensor, nn

from ..architecture import Architecture, SizeCheck, WeightSource, register
from ..config import ModelConfig
from ..layers import Float32LayerNorm, HiddenStateEncoder, TransformerLayer
from ..tokenizer import TokenizerFiles, read_wordpiece

BERT_SPECIAL_TOKENS = {"cls": "[CLS]", "sep": "[SEP]", "pad": "[PAD]", "unk": "[UNK]", "mask": "[MASK]"}


class BertStyleEncoder(HiddenStateEncoder):
    """Word + token type + position embeddings, LayerNorm, an optional projection to the
    hidden size (ALBERT, ELECTRA), then post-LayerNorm transformer layers.

    token_types: "input" adds the token_type_ids' embeddings (BERT, ALBERT, ELECTRA),
    "zero" type 0's whatever the input says (RoBERTa's tokenizer gives none), "none"
    has no token-type embedding (DistilBERT, MPNet). position_padding_idx < 0: positions
    0.., else RoBERTa's padding_idx + cumsum over non-pad ids (pad ids get padding_idx),
    which right padding leaves unchanged for the real tokens."""

    __constants__ = ["num_layers", "num_heads", "max_positions", "types_from_input", "position_padding_idx"]

    def __init__(self, config: ModelConfig, has_pooler: bool, token_types: str = "input",
                 position_padding_idx: int = -1, projection: bool = False,
                 layers_per_block: Optional[List[int]] = None):
        layers_per_block = layers_per_block or [1] * config.num_layers
        super().__init__(config, [TransformerLayer(config) for _ in layers_per_block], layers_per_block, has_pooler)
        self.types_from_input = token_types == "input"
        self.position_padding_idx = position_padding_idx
        self.word_embeddings = nn.Embedding(config.vocab_size, config.embedding_size)
        self.position_embeddings = nn.Embedding(config.max_position_embeddings, config.embedding_size)
        self.token_type_embeddings = (nn.Embedding(config.type_vocab_size, config.embedding_size)
                                      if token_types != "none" else None)
        self.embedding_norm = Float32LayerNorm(config.embedding_size, eps=config.layer_norm_eps)
        self.embedding_projection = nn.Linear(config.embedding_size, config.hidden_size) if projection else None

    def embed(self, input_ids: Tensor, attention_mask: Tensor, token_type_ids: Tensor) -> Tensor:
        # Summed in HF's order (word + type, then + position) for identical rounding.
        hidden = self.word_embeddings(input_ids)
        token_type_embeddings = self.token_type_embeddings
        if token_type_embeddings is not None:
            if self.types_from_input:
                hidden = hidden + token_type_embeddings(token_type_ids)
            else:
                hidden = hidden + token_type_embeddings.weight[0]
        if self.position_padding_idx < 0:
            hidden = hidden + self.position_embeddings.weight[:input_ids.size(1)]
        else:
            real = (input_ids != self.position_padding_idx).to(torch.long)
            hidden = hidden + self.position_embeddings(torch.cumsum(real, dim=1) * real + self.position_padding_idx)
        hidden = self.embedding_norm(hidden)
        embedding_projection = self.embedding_projection
        if embedding_projection is not None:
            hidden = embedding_projection(hidden)
        return hidden


# Our TransformerLayer submodule -> BertLayer's (several: fused along dim 0).
BERT_LAYER = {
    "qkv": ["attention.self.query", "attention.self.key", "attention.self.value"],
    "attention_output": ["attention.output.dense"],
    "attention_norm": ["attention.output.LayerNorm"],
    "intermediate": ["intermediate.dense"],
    "output": ["output.dense"],
    "output_norm": ["output.LayerNorm"],
}
BERT_EMBEDDINGS = {
    "word_embeddings": "embeddings.word_embeddings",
    "position_embeddings": "embeddings.position_embeddings",
    "token_type_embeddings": "embeddings.token_type_embeddings",
    "embedding_norm": "embeddings.LayerNorm",
}


def module_sources(modules: Dict[str, List[str]], parameters=("weight", "bias")) -> Dict[str, WeightSource]:
    """Encoder submodule -> HF submodules, expanded to their weight and bias."""
    return {f"{ours}.{parameter}": WeightSource([f"{name}.{parameter}" for name in theirs])
            for ours, theirs in modules.items() for parameter in parameters}


class BertArchitecture(Architecture):
    name = "bert"
    model_types = ("bert",)
    task_prefix = "bert."
    namespaces = ("embeddings", "encoder", "pooler")
    ignored = ("embeddings.position_ids", "embeddings.token_type_ids")
    names = {"num_layers": "num_hidden_layers", "hidden_size": "hidden_size", "num_heads": "num_attention_heads",
             "intermediate_size": "intermediate_size", "max_positions": "max_position_embeddings",
             "vocab_size": "vocab_size", "type_vocab_size": "type_vocab_size", "hidden_act": "hidden_act",
             "layer_norm_eps": "layer_norm_eps", "pad_token_id": "pad_token_id"}
    defaults = dict(vocab_size=30522, hidden_size=768, num_hidden_layers=12, num_attention_heads=12,
                    intermediate_size=3072, hidden_act="gelu", max_position_embeddings=512,
                    type_vocab_size=2, layer_norm_eps=1e-12, pad_token_id=0, position_embedding_type="absolute")
    framing = "bert"
    special_tokens = BERT_SPECIAL_TOKENS
    token_types = "input"         # see BertStyleEncoder
    layer_names = BERT_LAYER
    embedding_names = BERT_EMBEDDINGS
    layer_prefix = "encoder.layer.{}."
    pooler_name = "pooler.dense"

    def check_config(self, config: ModelConfig) -> None:
        if "position_embedding_type" in self.defaults:
            config.require("position_embedding_type", ("absolute",), 'bert-embed implements "absolute" positions')

    def position_padding_idx(self, config: ModelConfig) -> int:
        return -1

    def build(self, config: ModelConfig, has_pooler: bool) -> HiddenStateEncoder:
        return BertStyleEncoder(config, has_pooler, self.token_types, self.position_padding_idx(config))

    def embedding_modules(self) -> Dict[str, List[str]]:
        modules = {ours: [theirs] for ours, theirs in self.embedding_names.items()}
        if self.token_types == "none":
            del modules["token_type_embeddings"]
        return modules

    def layer_prefixes(self, config: ModelConfig) -> List[str]:
        return [self.layer_prefix.format(index) for index in range(config.num_layers)]

    def sources(self, config: ModelConfig, has_pooler: bool) -> Dict[str, WeightSource]:
        modules = self.embedding_modules()
        for index, prefix in enumerate(self.layer_prefixes(config)):
            for ours, theirs in self.layer_names.items():
                modules[f"layers.{index}.{ours}"] = [prefix + name for name in theirs]
        if has_pooler:
            modules["pooler"] = [self.pooler_name]
        sources = module_sources(modules)
        del sources["word_embeddings.bias"], sources["position_embeddings.bias"]
        sources.pop("token_type_embeddings.bias", None)
        return sources

    def size_checks(self, config: ModelConfig) -> List[SizeCheck]:
        layer = self.layer_prefixes(config)[0]
        width_field = config.name_of("embedding_size" if "embedding_size" in self.names else "hidden_size")
        checks = [
            (config.name_of("vocab_size"), config.vocab_size, self.embedding_names["word_embeddings"] + ".weight", 0),
            (width_field, config.embedding_size, self.embedding_names["word_embeddings"] + ".weight", 1),
            (config.name_of("max_positions"), config.max_position_embeddings,
             self.embedding_names["position_embeddings"] + ".weight", 0),
            (config.name_of("hidden_size"), config.hidden_size, layer + self.layer_names["qkv"][0] + ".weight", 0),
            (config.name_of("intermediate_size"), config.intermediate_size,
             layer + self.layer_names["intermediate"][0] + ".weight", 0),
        ]
        if self.token_types != "none":
            checks.append((config.name_of("type_vocab_size"), config.type_vocab_size,
                           self.embedding_names["token_type_embeddings"] + ".weight", 0))
        return checks

    def read_tokenizer(self, directory: Path) -> TokenizerFiles:
        return read_wordpiece(directory, self.special_tokens, self.framing)


register(BertArchitecture())
