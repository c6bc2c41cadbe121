"""DistilBERT (HF DistilBertModel v4.29.2): BERT's layers under other names, no
token-type embedding, no pooler."""

import re

from ..architecture import register
from .bert import BertArchitecture


class DistilBertArchitecture(BertArchitecture):
    name = "distilbert"
    model_types = ("distilbert",)
    task_prefix = "distilbert."
    namespaces = ("embeddings", "transformer")
    names = {"num_layers": "n_layers", "hidden_size": "dim", "num_heads": "n_heads",
             "intermediate_size": "hidden_dim", "max_positions": "max_position_embeddings",
             "vocab_size": "vocab_size", "hidden_act": "activation", "pad_token_id": "pad_token_id"}
    # DistilBERT's LayerNorms use eps 1e-12 whatever the config says.
    fixed = {"layer_norm_eps": 1e-12}
    defaults = dict(vocab_size=30522, max_position_embeddings=512, n_layers=6, n_heads=12, dim=768,
                    hidden_dim=3072, activation="gelu", pad_token_id=0)
    token_types = "none"
    layer_prefix = "transformer.layer.{}."
    layer_pattern = re.compile(r"^transformer\.layer\.(\d+)\.")
    layer_names = {
        "qkv": ["attention.q_lin", "attention.k_lin", "attention.v_lin"],
        "attention_output": ["attention.out_lin"],
        "attention_norm": ["sa_layer_norm"],
        "intermediate": ["ffn.lin1"],
        "output": ["ffn.lin2"],
        "output_norm": ["output_layer_norm"],
    }


register(DistilBertArchitecture())
