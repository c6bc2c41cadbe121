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

// Sets each token of options (cls_token, ...) whose id is given (not -1) to
// the vocabulary's token at that id, token_at(id). Throws std::runtime_error
// naming file and origin when an id is outside the vocabulary.
template <typename Options, typename TokenAt>
void set_special_tokens(Options& options, const SpecialTokenIds& ids, std::size_t vocab_size, TokenAt token_at,
                        const std::filesystem::path& file, const std::string& origin) {
  const auto set = [&](std::int64_t id, const char* role, std::string& token) {
    if (id < 0) return;
    if (static_cast<std::uint64_t>(id) >= vocab_size) {
      throw std::runtime_error(file.string() + ": has " + std::to_string(vocab_size) + " tokens, so no " + role +
                               " token id " + std::to_string(id) + " as " + origin + " gives");
    }
    token = token_at(id);
  };
  set(ids.cls, "cls", options.cls_token);
  set(ids.sep, "sep", options.sep_token);
  set(ids.pad, "pad", options.pad_token);
  set(ids.unk, "unk", options.unk_token);
  set(ids.mask, "mask", options.mask_token);
}

}  // namespace bert_embed
