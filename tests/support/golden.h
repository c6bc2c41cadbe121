// Reads the HuggingFace goldens: fixtures/goldens/<model>/<corpus>, laid out
// as the fixtures' README describes (input lines, token ids and type ids,
// every hidden state of every token, pooled vectors).
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "npy_reader.h"

namespace bert_embed::test {

// One input line as the reference tokenized it.
struct GoldenTokens {
  std::vector<std::int64_t> ids;
  std::vector<std::int64_t> type_ids;  // all 0 where the golden gives none
  std::vector<std::string> tokens;     // empty where the golden has no tokens.jsonl
};

// One input line: a text, or a sentence pair (input.tsv, "a<TAB>b").
struct GoldenInput {
  std::string text;
  std::string pair;  // empty for single texts
};

class Golden {
 public:
  // Fails with the path when the directory is missing.
  Golden(const std::string& model, const std::string& corpus);

  const std::filesystem::path& dir() const { return dir_; }
  const std::string& model() const { return model_; }

  // input.txt, or input.tsv for sentence pairs.
  std::filesystem::path input_file() const;
  bool is_pairs() const;
  // The input lines, split on '\n' only as the goldens were made.
  std::vector<GoldenInput> inputs() const;

  // tokens.jsonl where there is one, else ids.jsonl.
  std::vector<GoldenTokens> tokens() const;

  NpyArray hidden() const;                 // [layers + 1, total tokens, hidden], f32
  std::vector<std::int64_t> offsets() const;  // [lines + 1]: line i is offsets[i]:offsets[i + 1]
  NpyArray cls() const;                    // [lines, layers + 1, hidden]
  NpyArray mean() const;                   // [lines, layers + 1, hidden], over all tokens
  bool has_last() const;                   // whether last.npy exists (the goldens of issue 10's models)
  NpyArray last() const;                   // [lines, layers + 1, hidden], the last token
  bool has_pooler() const;                 // whether pooler.npy exists (not for ALBERT)
  NpyArray pooler() const;                 // [lines, hidden]

  // The checkpoint's config.json pad_token_id; GPT-2, which has none, pads
  // with its eos_token_id (<|endoftext|>), as bert-embed's bundle says.
  std::int64_t pad_id() const;

 private:
  std::string model_;
  std::filesystem::path dir_;
};

// Rows [lines, hidden] of one layer of a pooled golden [lines, layers + 1,
// hidden] (cls, mean); a negative layer counts from the last.
std::vector<float> pooled_layer(const NpyArray& pooled, int layer);

// Rows [tokens, hidden] of one layer of hidden.npy; a negative layer counts
// from the last.
std::vector<float> hidden_layer(const NpyArray& hidden, int layer);

// A JSON list of ids per line: ids.jsonl and the tokenizer goldens.
std::vector<std::vector<std::int64_t>> read_ids_jsonl(const std::filesystem::path& file);

}  // namespace bert_embed::test
