// A model bundle: the directory written by scripts/export_model.py, holding
// model.pt (TorchScript), bundle.json and the tokenizer files.
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <string>

#include "bert_embed/text/tokenizer.h"
#include "bert_embed/text/tokenizer_description.h"

namespace bert_embed {

// bundle.json's "defaults": the options a model is meant to be run with (what
// a sentence-transformers directory implies). Unset: bert-embed's own
// default. The values are option values as on the command line, checked where
// the options are (commands/embed.cc).
struct BundleDefaults {
  std::optional<std::string> pooling;    // --pooling
  std::optional<std::string> layers;     // --layers
  std::optional<std::string> normalize;  // --normalize
  std::optional<std::size_t> max_length; // --max-length
  std::optional<bool> strip_text;        // --strip-text
  std::optional<std::string> prefix;     // --prefix
};

struct BundleInfo {
  std::filesystem::path dir;
  std::string architecture;  // "bert" or "albert"
  int num_layers = 0;        // transformer layers; hidden states are num_layers + 1
  int hidden_size = 0;
  int embedding_size = 0;    // width of the word embeddings (albert factorizes; bert: hidden_size)
  int max_positions = 0;
  std::int64_t vocab_size = 0;
  bool has_pooler = false;
  bool has_int8_model = false;  // model.int8.pt present
  TokenizerDescription tokenizer;  // bundle.json's tokenizer section
  BundleDefaults defaults;
  std::string weights_sha256;
  // Every file of the bundle but bundle.json -> its sha256 (64 lowercase hex
  // digits); see bundle_files.h.
  std::map<std::string, std::string> file_sha256;
};

// Reads and validates bundle.json; errors name the file and the field.
BundleInfo read_bundle_info(const std::filesystem::path& dir);

// The tokenizer bundle.json describes (make_tokenizer()), checked with
// check_tokenizer_vocab_size(): what a bert-embed run tokenizes with. Its
// files are verified first by verify_tokenizer_files() (bundle_files.h).
std::unique_ptr<Tokenizer> load_bundle_tokenizer(const BundleInfo& info);

// Throws when the bundle's tokenizer has more ids than the model has
// embedding rows, so a token could never be looked up. A smaller tokenizer is
// fine: checkpoints often pad their embedding matrix.
void check_tokenizer_vocab_size(const BundleInfo& info, std::size_t tokenizer_vocab_size);

}  // namespace bert_embed
