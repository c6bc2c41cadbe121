// Bounded reads of tokenizer files, and the special tokens a description
// names by id.
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <stdexcept>
#include <string>

#include "bert_embed/text/tokenizer.h"

namespace bert_embed {

// Throws std::runtime_error naming file unless it is a regular file (symbolic
// links followed) of at most kMaxTokenizerFileBytes.
void check_tokenizer_file(const std::filesystem::path& file);

// The whole file, after check_tokenizer_file().
std::string read_tokenizer_file(const std::filesystem::path& file);

// Sets each token of options (cls_token, ...) whose id is given and lies in
// the vocabulary to the vocabulary's token at that id, token_at(id). Other
// ids past the vocabulary are left to the caller (added tokens, checked by
// make_tokenizer()), but not the unknown token's, which the piece tokenizer
// itself emits: std::runtime_error naming file and origin.
template <typename Options, typename TokenAt>
void set_special_tokens(Options& options, const SpecialTokenIds& ids, std::size_t vocab_size, TokenAt token_at,
                        const std::filesystem::path& file, const std::string& origin) {
  if (ids.unk >= 0 && static_cast<std::uint64_t>(ids.unk) >= vocab_size) {
    throw std::runtime_error(file.string() + ": has " + std::to_string(vocab_size) +
                             " tokens, so no unk token id " + std::to_string(ids.unk) + " as " + origin + " gives");
  }
  const auto set = [&](std::int64_t id, std::string& token) {
    if (id >= 0 && static_cast<std::uint64_t>(id) < vocab_size) token = token_at(id);
  };
  set(ids.cls, options.cls_token);
  set(ids.sep, options.sep_token);
  set(ids.pad, options.pad_token);
  set(ids.unk, options.unk_token);
  set(ids.mask, options.mask_token);
}

}  // namespace bert_embed
