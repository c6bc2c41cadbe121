"""ELECTRA (HF ElectraModel v4.29.2, the discriminator): BERT with embeddings of
embedding_size projected to the hidden size (hidden state 0 is after the
projection), no pooler."""

from typing import Dict, List

from ..architecture import register
from ..config import ModelConfig
from ..layers import HiddenStateEncoder
from .bert import BertArchitecture, BertStyleEncoder


class ElectraArchitecture(BertArchitecture):
    name = "electra"
    model_types = ("electra",)
    task_prefix = "electra."
    namespaces = ("embeddings", "embeddings_project", "encoder")
    names = {**BertArchitecture.names, "embedding_size": "embedding_size"}
    defaults = {**BertArchitecture.defaults, "embedding_size": 128, "hidden_size": 256,
                "num_attention_heads": 4, "intermediate_size": 1024}

    def build(self, config: ModelConfig, has_pooler: bool) -> HiddenStateEncoder:
        return BertStyleEncoder(config, has_pooler, projection=config.embedding_size != config.hidden_size)

    def embedding_modules(self) -> Dict[str, List[str]]:
        # ElectraModel has embeddings_project only when the sizes differ.
        return {**super().embedding_modules(), "embedding_projection": ["embeddings_project"]}

    def sources(self, config: ModelConfig, has_pooler: bool):
        sources = super().sources(config, has_pooler)
        if config.embedding_size == config.hidden_size:
            del sources["embedding_projection.weight"], sources["embedding_projection.bias"]
        return sources


register(ElectraArchitecture())
