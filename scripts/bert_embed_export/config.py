"""The architecture fields of config.json an encoder depends on, under one set of
names whatever the architecture calls them (GPT-2's n_embd, DistilBERT's dim,
XLNet's d_model are all hidden_size here)."""

from typing import Dict, Optional

from .errors import ExportError

# Canonical field -> what it sizes, for messages.
CANONICAL_FIELDS = ("num_layers", "hidden_size", "num_heads", "intermediate_size", "max_positions",
                    "vocab_size", "embedding_size", "type_vocab_size", "hidden_act", "layer_norm_eps",
                    "pad_token_id")


class ModelConfig:
    """config.json read through an architecture's field names and defaults.

    `names` maps a canonical field to the config.json field that holds it; a canonical
    field missing from `names` takes `fixed[field]` (XLNet has no position limit of
    its own: 512, its tokenizer's model_max_length). Canonical names are attributes."""

    def __init__(self, architecture: str, raw: dict, origin: str, names: Dict[str, str],
                 defaults: dict, fixed: Optional[dict] = None):
        self.origin = origin
        self.architecture = architecture
        self.names = names
        fields = dict(defaults)
        fields.update({key: value for key, value in raw.items() if value is not None})
        self.fields = fields
        values = dict(fixed or {})
        for canonical, field in names.items():
            values[canonical] = fields.get(field)
        self.num_layers = self._positive_int(values, "num_layers")
        self.hidden_size = self._positive_int(values, "hidden_size")
        self.num_heads = self._positive_int(values, "num_heads")
        self.intermediate_size = self._positive_int(values, "intermediate_size")
        # The position table's rows; max_positions, the longest sequence, is fewer where
        # positions start after padding_idx (RoBERTa).
        self.max_position_embeddings = self._positive_int(values, "max_positions")
        self.max_positions = self.max_position_embeddings
        self.vocab_size = self._positive_int(values, "vocab_size")
        self.embedding_size = (self._positive_int(values, "embedding_size") if values.get("embedding_size")
                               is not None else self.hidden_size)
        type_vocab_size = values.get("type_vocab_size")
        self.type_vocab_size = 0 if type_vocab_size is None else self._positive_int(values, "type_vocab_size")
        self.hidden_act = values.get("hidden_act")
        self.layer_norm_eps = values.get("layer_norm_eps")
        if isinstance(self.layer_norm_eps, bool) or not isinstance(self.layer_norm_eps, (int, float)) \
                or not self.layer_norm_eps > 0:
            raise ExportError(f"{origin}: {self.name_of('layer_norm_eps')} must be a positive number, "
                              f"got {self.layer_norm_eps!r}")
        self.layer_norm_eps = float(self.layer_norm_eps)
        self.pad_token_id = values.get("pad_token_id")
        if self.hidden_size % self.num_heads != 0:
            raise ExportError(f"{origin}: {self.name_of('hidden_size')} {self.hidden_size} is not a multiple of "
                              f"{self.name_of('num_heads')} {self.num_heads}")
        if self.pad_token_id is not None and (not isinstance(self.pad_token_id, int)
                                              or not 0 <= self.pad_token_id < self.vocab_size):
            raise ExportError(f"{origin}: pad_token_id {self.pad_token_id!r} is not an id below "
                              f"vocab_size {self.vocab_size}")
        if fields.get("is_decoder") or fields.get("add_cross_attention"):
            raise ExportError(f"{origin}: decoder checkpoints (is_decoder / add_cross_attention) "
                              "are not supported; bert-embed needs an encoder without cross-attention")

    def name_of(self, canonical: str) -> str:
        """The config.json field of a canonical one (for messages)."""
        return self.names.get(canonical, canonical)

    def require(self, field: str, allowed, why: str) -> None:
        """Refuses a config.json value this exporter does not implement."""
        if self.fields.get(field) not in allowed:
            raise ExportError(f"{self.origin}: {field} = {self.fields.get(field)!r} is not supported; {why}")

    def _positive_int(self, values: dict, canonical: str) -> int:
        value = values.get(canonical)
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ExportError(f"{self.origin}: {self.name_of(canonical)} must be a positive integer, got {value!r}")
        return value
