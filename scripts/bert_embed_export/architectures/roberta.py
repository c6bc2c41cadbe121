"""RoBERTa and XLM-RoBERTa (HF RobertaModel / XLMRobertaModel v4.29.2): BERT's layers,
positions counted from padding_idx + 1 over non-pad ids, token type 0 always.
RoBERTa tokenizes with byte-level BPE, XLM-R with SentencePiece and fairseq ids."""

from pathlib import Path

from ..architecture import register
from ..config import ModelConfig
from ..errors import ExportError
from ..tokenizer import MASK_STRIPS_LEFT, TokenizerFiles, read_bpe, read_sentencepiece
from .bert import BertArchitecture

ROBERTA_SPECIAL_TOKENS = {"cls": "<s>", "sep": "</s>", "pad": "<pad>", "unk": "<unk>", "mask": "<mask>",
                          "bos": "<s>", "eos": "</s>"}
# RobertaTokenizer and MPNetTokenizer wrap every special token given as a string in an
# AddedToken that strips nothing, except <mask>, which strips on its left.
ROBERTA_STRIPS = {**{name: (False, False) for name in ROBERTA_SPECIAL_TOKENS}, **MASK_STRIPS_LEFT}


class RobertaArchitecture(BertArchitecture):
    name = "roberta"
    model_types = ("roberta",)
    task_prefix = "roberta."
    defaults = {**BertArchitecture.defaults, "vocab_size": 50265, "pad_token_id": 1,
                "max_position_embeddings": 514, "type_vocab_size": 1, "layer_norm_eps": 1e-5}
    framing = "roberta"
    special_tokens = ROBERTA_SPECIAL_TOKENS
    token_types = "zero"

    def check_config(self, config: ModelConfig) -> None:
        super().check_config(config)
        if config.pad_token_id is None:
            raise ExportError(f"{config.origin}: no pad_token_id; {self.name} positions start after it")
        config.max_positions = config.max_position_embeddings - config.pad_token_id - 1
        if config.max_positions < 1:
            raise ExportError(f"{config.origin}: max_position_embeddings {config.max_position_embeddings} leaves "
                              f"no position after padding_idx {config.pad_token_id}")

    def position_padding_idx(self, config: ModelConfig) -> int:
        return config.pad_token_id

    def read_tokenizer(self, directory: Path) -> TokenizerFiles:
        return read_bpe(directory, self.special_tokens, self.framing, ("cls", "sep", "pad", "unk"), ROBERTA_STRIPS)


class XLMRobertaArchitecture(RobertaArchitecture):
    name = "xlm-roberta"
    model_types = ("xlm-roberta",)
    defaults = {**RobertaArchitecture.defaults, "vocab_size": 250002}

    def read_tokenizer(self, directory: Path) -> TokenizerFiles:
        return read_sentencepiece(directory, "sentencepiece.bpe.model", self.special_tokens, self.framing,
                                  MASK_STRIPS_LEFT, fairseq=True)


register(RobertaArchitecture())
register(XLMRobertaArchitecture())
