"""The tokenizer section of bundle.json: which piece tokenizer, its files and
settings, the framing template, the special ids and the no-split tokens, read
from a checkpoint's tokenizer files as HF 4.29.2's slow tokenizers load them
(from_pretrained: tokenizer_config.json, then special_tokens_map.json, then
added_tokens.json)."""

import json
from pathlib import Path
from typing import Dict, List, Optional, Tuple

from .checkpoint import read_json
from .errors import ExportError

SPECIAL_NAMES = ("cls", "sep", "pad", "unk", "mask")
# What AlbertTokenizer, XLNetTokenizer and XLMRobertaTokenizer wrap: <mask> strips on its left.
MASK_STRIPS_LEFT = {"mask": (True, False)}


class TokenizerFiles:
    def __init__(self, kind: str, files: List[Path], settings: dict, framing: str, special_ids: Dict[str, int],
                 added_tokens: List[dict], vocab_size: int, config: dict):
        self.kind = kind
        self.files = files
        self.settings = settings
        self.framing = framing
        self.special_ids = special_ids  # -1 where the tokenizer has none
        self.added_tokens = added_tokens
        self.vocab_size = vocab_size
        self.config = config  # tokenizer_config.json to write: the source's with effective settings

    def section(self) -> dict:
        """bundle.json's "tokenizer"."""
        return {
            "kind": self.kind,
            "files": [path.name for path in self.files] + ["tokenizer_config.json"],
            **self.settings,
            "framing": self.framing,
            "special_ids": self.special_ids,
            "added_tokens": self.added_tokens,
        }


def read_wordpiece_vocab(vocab_txt: Optional[Path], tokenizer_json: Optional[Path]) -> Dict[str, int]:
    """token -> id as BertTokenizer (vocab.txt, one token per line) or the tokenizer.json
    WordPiece model (plus its added tokens) define it."""
    if vocab_txt is not None:
        try:
            lines = vocab_txt.read_text(encoding="utf-8").split("\n")
        except (OSError, UnicodeDecodeError) as error:
            raise ExportError(f"{vocab_txt}: cannot read: {error}") from None
        if lines and lines[-1] == "":
            lines.pop()
        # Later duplicates win, as in BertTokenizer.
        return {line: index for index, line in enumerate(lines)}
    document = read_json(tokenizer_json)
    model = document.get("model")
    if not isinstance(model, dict) or model.get("type") != "WordPiece" or not isinstance(model.get("vocab"), dict):
        raise ExportError(f"{tokenizer_json}: not a WordPiece tokenizer (model.type is "
                          f"{model.get('type') if isinstance(model, dict) else None!r})")
    vocab = dict(model["vocab"])
    for added in document.get("added_tokens") or []:
        if isinstance(added, dict) and isinstance(added.get("content"), str) and isinstance(added.get("id"), int):
            vocab[added["content"]] = added["id"]
    return vocab


def read_varint(data: bytes, position: int, path: Path) -> Tuple[int, int]:
    value, shift = 0, 0
    while True:
        if position >= len(data) or shift > 63:
            raise ExportError(f"{path}: corrupt SentencePiece model (truncated varint at byte {position})")
        byte = data[position]
        position += 1
        value |= (byte & 0x7F) << shift
        shift += 7
        if byte < 0x80:
            return value, position


def protobuf_fields(data: bytes, path: Path):
    """Yields (field number, value) of a protobuf message; value is bytes for
    length-delimited fields, else None (skipped)."""
    position = 0
    while position < len(data):
        key, position = read_varint(data, position, path)
        field, wire_type = key >> 3, key & 7
        if wire_type == 0:
            _, position = read_varint(data, position, path)
            yield field, None
        elif wire_type in (1, 5):
            position += 8 if wire_type == 1 else 4
            yield field, None
        elif wire_type == 2:
            length, position = read_varint(data, position, path)
            if position + length > len(data):
                raise ExportError(f"{path}: corrupt SentencePiece model (field {field} overruns the file)")
            yield field, data[position:position + length]
            position += length
        else:
            raise ExportError(f"{path}: corrupt SentencePiece model (wire type {wire_type} at byte {position})")
    if position != len(data):
        raise ExportError(f"{path}: corrupt SentencePiece model (truncated)")


def read_sentencepiece_vocab(path: Path) -> Dict[str, int]:
    """piece -> id from a SentencePiece ModelProto (field 1: pieces; piece field 1: text)."""
    try:
        data = path.read_bytes()
    except OSError as error:
        raise ExportError(f"{path}: cannot read: {error}") from None
    vocab = {}
    index = 0
    for field, payload in protobuf_fields(data, path):
        if field != 1 or payload is None:
            continue
        texts = [value for number, value in protobuf_fields(payload, path) if number == 1 and value is not None]
        if not texts:
            raise ExportError(f"{path}: corrupt SentencePiece model (piece {index} has no text)")
        vocab.setdefault(texts[0].decode("utf-8", errors="replace"), index)
        index += 1
    if not vocab:
        raise ExportError(f"{path}: not a SentencePiece model (no pieces)")
    return vocab




def read_bpe_vocab(path: Path) -> Dict[str, int]:
    """token -> id of a byte-level BPE vocab.json."""
    try:
        with open(path, encoding="utf-8") as stream:
            vocab = json.load(stream)
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise ExportError(f"{path}: cannot read: {error}") from None
    if not isinstance(vocab, dict) or not vocab or not all(isinstance(token_id, int) and not isinstance(token_id, bool)
                                                           and token_id >= 0 for token_id in vocab.values()):
        raise ExportError(f"{path}: expected a JSON object mapping tokens to non-negative ids")
    return vocab


def boolean_setting(config: dict, field: str, default: Optional[bool], path: Path) -> Optional[bool]:
    value = config.get(field, default)
    if value is not None and not isinstance(value, bool):
        raise ExportError(f"{path}: {field} must be true, false or null, got {value!r}")
    return value


# (lstrip, rstrip) of a special token in AddedToken form.
Strips = Tuple[bool, bool]


def special_token(value, field: str, path: Path, wrapped: Optional[Strips] = None) -> Optional[Tuple[str, bool, bool]]:
    """(content, lstrip, rstrip) of a special token as tokenizer_config.json or
    special_tokens_map.json give it: a serialized AddedToken strips the sides it says;
    a plain string strips both (PreTrainedTokenizer.tokenize in HF 4.29.2) unless the
    tokenizer class wraps it in an AddedToken of its own (`wrapped`: RobertaTokenizer's
    <mask> strips on its left only, its other special tokens on neither side)."""
    if value is None:
        return None
    if isinstance(value, dict):
        content = value.get("content")
        strips = (value.get("lstrip", False), value.get("rstrip", False))
    else:
        content, strips = value, wrapped or (True, True)
    if not isinstance(content, str) or not content or not all(isinstance(flag, bool) for flag in strips):
        raise ExportError(f"{path}: {field} must be a token string or an AddedToken object, got {value!r}")
    return content, strips[0], strips[1]


class TokenizerSource:
    """A checkpoint's tokenizer files as from_pretrained merges them."""

    def __init__(self, directory: Path, special_defaults: Dict[str, Optional[str]],
                 wrapped: Optional[Dict[str, Strips]] = None):
        self.directory = directory
        self.config_path = directory / "tokenizer_config.json"
        self.config = read_json(self.config_path) if self.config_path.exists() else {}
        map_path = directory / "special_tokens_map.json"
        special_map = read_json(map_path) if map_path.exists() else {}
        self.specials: Dict[str, Optional[Tuple[str, bool, bool]]] = {}
        self.additional: List[Tuple[str, bool, bool]] = []
        for name, default in special_defaults.items():
            field = name + "_token"
            origin = map_path if field in special_map else self.config_path
            value = special_map.get(field, self.config.get(field, default))
            self.specials[name] = special_token(value, field, origin, (wrapped or {}).get(name))
        extra = special_map.get("additional_special_tokens", self.config.get("additional_special_tokens")) or []
        if not isinstance(extra, list):
            raise ExportError(f"{map_path}: additional_special_tokens must be a list, got {extra!r}")
        self.additional = [special_token(value, "additional_special_tokens", map_path) for value in extra]
        added_path = directory / "added_tokens.json"
        self.added: Dict[str, int] = {}
        if added_path.exists():
            added = read_json(added_path)
            if not all(isinstance(token_id, int) and not isinstance(token_id, bool) for token_id in added.values()):
                raise ExportError(f"{added_path}: expected an object mapping tokens to ids")
            self.added = added
        self.extra_files = [path for path in (map_path, added_path) if path.exists()]

    def setting(self, field: str, default: Optional[bool]) -> Optional[bool]:
        return boolean_setting(self.config, field, default, self.config_path)

    def finish(self, kind: str, files: List[Path], vocab: Dict[str, int], settings: dict, framing: str,
               required: Tuple[str, ...], vocab_size: Optional[int] = None) -> TokenizerFiles:
        """Resolves the special ids (-1 for a special token the tokenizer has none of;
        a required one must be in the vocabulary) and the no-split tokens."""
        vocab = {**vocab, **self.added}
        special_ids = {}
        for name in SPECIAL_NAMES:
            token = self.specials.get(name)
            if token is not None and token[0] in vocab:
                special_ids[name] = vocab[token[0]]
            elif name in required:
                shown = token[0] if token is not None else None
                raise ExportError(f"{files[0]}: special token {shown!r} ({name}_token) is not in the vocabulary")
            else:
                special_ids[name] = -1
        no_split: Dict[str, dict] = {}
        # A directory save_pretrained wrote (special_tokens_map.json, added_tokens.json) is
        # loaded as from_pretrained loads it: its special tokens are no-split tokens. Without
        # those files the tokenizer is the one the BERT and ALBERT goldens were made with,
        # constructed directly, which cuts out no literal special token (ALBERT splits a
        # literal "[CLS]" into pieces; BERT keeps it whole by its own never_split).
        every_special = ([token for token in self.specials.values() if token is not None] + self.additional
                         if self.extra_files else [])
        for content, lstrip, rstrip in every_special:
            if content in vocab and content not in no_split:
                no_split[content] = {"content": content, "id": vocab[content], "lstrip": lstrip, "rstrip": rstrip}
        for content, token_id in self.added.items():
            no_split.setdefault(content, {"content": content, "id": token_id, "lstrip": True, "rstrip": True})
        return TokenizerFiles(kind, files + self.extra_files, settings, framing, special_ids,
                              sorted(no_split.values(), key=lambda token: token["id"]),
                              vocab_size if vocab_size is not None else max(vocab.values()) + 1,
                              {**self.config, **settings})


def read_wordpiece(directory: Path, special_defaults: Dict[str, Optional[str]], framing: str,
                   wrapped: Optional[Dict[str, Strips]] = None) -> TokenizerFiles:
    """BertTokenizer's vocab.txt (or a WordPiece tokenizer.json) and settings."""
    source = TokenizerSource(directory, special_defaults, wrapped)
    vocab_txt = directory / "vocab.txt"
    tokenizer_json = directory / "tokenizer.json"
    files = [path for path in (vocab_txt, tokenizer_json) if path.is_file()]
    if not files:
        raise ExportError(f"{directory}: no WordPiece vocabulary (expected vocab.txt or tokenizer.json)")
    vocab = read_wordpiece_vocab(vocab_txt if vocab_txt.is_file() else None,
                                 tokenizer_json if tokenizer_json.is_file() else None)
    do_lower_case = source.setting("do_lower_case", True)
    strip_accents = source.setting("strip_accents", None)
    settings = {
        "do_lower_case": do_lower_case,
        # BertTokenizer: strip_accents unset follows do_lower_case.
        "strip_accents": do_lower_case if strip_accents is None else strip_accents,
        "tokenize_chinese_chars": source.setting("tokenize_chinese_chars", True),
    }
    return source.finish("wordpiece", files, vocab, settings, framing, ("cls", "sep", "pad", "unk"))


def read_sentencepiece(directory: Path, model_file: str, special_defaults: Dict[str, Optional[str]], framing: str,
                       wrapped: Dict[str, Strips], fairseq: bool = False,
                       lower_case_default: bool = True) -> TokenizerFiles:
    """AlbertTokenizer / XLNetTokenizer (the text preprocessed as the settings say), or
    with `fairseq` XLMRobertaTokenizer: pieces as SentencePiece splits the raw text, ids
    shifted by one behind <s> <pad> </s> <unk>, <mask> after the last piece."""
    source = TokenizerSource(directory, special_defaults, wrapped)
    path = directory / model_file
    if not path.is_file():
        raise ExportError(f"{directory}: no {model_file} (the SentencePiece model)")
    pieces = read_sentencepiece_vocab(path)
    if fairseq:
        vocab = {piece: index + 1 for piece, index in pieces.items() if index > 0}
        vocab.update({"<s>": 0, "<pad>": 1, "</s>": 2, "<unk>": 3, "<mask>": len(pieces) + 1})
        settings = {"do_lower_case": False, "remove_space": False, "keep_accents": True, "id_offset": 1}
    else:
        vocab = pieces
        settings = {
            "do_lower_case": source.setting("do_lower_case", lower_case_default),
            "remove_space": source.setting("remove_space", True),
            "keep_accents": source.setting("keep_accents", False),
            "id_offset": 0,
        }
    return source.finish("sentencepiece", [path], vocab, settings, framing, ("cls", "sep", "pad", "unk"))


def read_bpe(directory: Path, special_defaults: Dict[str, Optional[str]], framing: str,
             required: Tuple[str, ...], wrapped: Dict[str, Strips]) -> TokenizerFiles:
    """RobertaTokenizer / GPT2Tokenizer: byte-level BPE from vocab.json and merges.txt."""
    source = TokenizerSource(directory, special_defaults, wrapped)
    vocab_json = directory / "vocab.json"
    merges = directory / "merges.txt"
    for path in (vocab_json, merges):
        if not path.is_file():
            raise ExportError(f"{directory}: no {path.name} (byte-level BPE needs vocab.json and merges.txt)")
    add_prefix_space = source.setting("add_prefix_space", False)
    if add_prefix_space:
        raise ExportError(f"{source.config_path}: add_prefix_space true is not supported "
                          "(bert-embed's byte-level BPE tokenizes as HF does without it)")
    settings = {"add_prefix_space": False}
    return source.finish("bpe", [vocab_json, merges], read_bpe_vocab(vocab_json), settings, framing, required)
