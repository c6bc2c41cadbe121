// The output stage: one record per input line, in input order, written as
// JSONL or NPY (jsonl_writer.h, npy_writer.h).
#pragma once

#include <ATen/ATen.h>

#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "bert_embed/enum_names.h"
#include "bert_embed/text/tokenizer.h"

namespace bert_embed {

enum class OutputFormat { kJsonl, kNpy };
inline constexpr EnumNames<OutputFormat, 2> kOutputFormatNames{
    {{"jsonl", OutputFormat::kJsonl}, {"npy", OutputFormat::kNpy}}};
inline OutputFormat parse_output_format(std::string_view name) {
  return parse_name(kOutputFormatNames, name, "output format");
}
// The format a path implies: NPY for "*.npy", JSONL for anything else and stdout.
OutputFormat output_format_for(const std::filesystem::path& output);

// One vector (per slot) for one input line.
struct PooledRecord {
  std::int64_t index = 0;
  std::optional<std::string_view> id;
  at::Tensor vectors;  // float32 [slots, dim]
};

// One vector (per slot) for each token of one input line.
struct TokenRecord {
  std::int64_t index = 0;
  std::optional<std::string_view> id;
  std::vector<std::string> tokens;
  std::vector<Span> spans;  // byte spans in the line, one per token
  at::Tensor embeddings;    // float32 [slots, tokens, dim]
};

struct WriterOptions {
  OutputFormat format = OutputFormat::kJsonl;
  std::filesystem::path output;  // "-" or empty: standard output
  bool per_token = false;        // TokenRecords rather than PooledRecords
  // One label per slot. A single slot is written as a plain vector; several
  // are layers kept apart, keyed by these labels (JSONL) or stacked in this
  // order (NPY).
  std::vector<std::string> slot_labels = {"-1"};
  // The vector width when known beforehand, else 0 (taken from the first
  // record). It gives an empty NPY output its shape, [0, dim].
  std::int64_t dim = 0;
};

// Checks every record against the options (kind, input order, slots, width)
// before the format sees it. Nothing is left at the output path unless
// finish() succeeds.
class EmbeddingWriter {
 public:
  explicit EmbeddingWriter(const WriterOptions& options);
  virtual ~EmbeddingWriter() = default;
  EmbeddingWriter(const EmbeddingWriter&) = delete;
  EmbeddingWriter& operator=(const EmbeddingWriter&) = delete;

  // Records must come with index 0, 1, 2, ... (std::logic_error otherwise);
  // the shapes are checked with std::invalid_argument.
  void write(const PooledRecord& record);
  void write(const TokenRecord& record);
  // Completes the output (NPY: the final shape in the header) and commits it.
  void finish();
  // Pushes the records written so far to a stream output (stdout, a pipe),
  // for a reader waiting on them; nothing for outputs committed at the end.
  virtual void flush() {}

  std::int64_t records_written() const { return next_index_; }

 protected:
  std::size_t slots() const { return slot_labels_.size(); }
  bool layers_apart() const { return slot_labels_.size() > 1; }
  const std::vector<std::string>& slot_labels() const { return slot_labels_; }
  std::int64_t dim() const { return dim_; }  // 0 until known

 private:
  virtual void write_pooled(const PooledRecord& record) = 0;
  virtual void write_tokens(const TokenRecord& record) = 0;
  virtual void finish_output() = 0;

  // values: [slots, dim] for pooled records, [slots, tokens, dim] per token.
  void check_record(std::int64_t index, bool per_token, const at::Tensor& values);

  std::vector<std::string> slot_labels_;
  bool per_token_;
  std::int64_t dim_;
  std::int64_t next_index_ = 0;
  bool finished_ = false;
};

// Opens the output (errors name the path) and returns the writer of the format.
std::unique_ptr<EmbeddingWriter> make_embedding_writer(const WriterOptions& options);

}  // namespace bert_embed
