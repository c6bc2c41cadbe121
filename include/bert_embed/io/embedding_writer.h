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
#include "bert_embed/io/manifest.h"
#include "bert_embed/io/output_set.h"
#include "bert_embed/text/tokenizer.h"

namespace bert_embed {

enum class OutputFormat { kJsonl, kNpy };
inline constexpr EnumNames<OutputFormat, 2> kOutputFormatNames{
    {{"jsonl", OutputFormat::kJsonl}, {"npy", OutputFormat::kNpy}}};
inline OutputFormat parse_output_format(std::string_view name) {
  return parse_name(kOutputFormatNames, name, "output format");
}
// "jsonl" or "npy", as in a manifest.
inline std::string output_format_name(OutputFormat format) {
  return std::string(name_of(kOutputFormatNames, format));
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

// How much of its output a writer has written: records (input lines) and
// vectors (NPY rows; per token, token rows).
struct WriterProgress {
  std::int64_t records = 0;
  std::int64_t rows = 0;
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
  // A resumable output going on from a checkpoint: its files (partial files,
  // output_set.h) already hold this much, which is not written again.
  std::optional<WriterProgress> resume;
};

// Checks every record against the options (kind, input order, slots, width)
// before the format sees it. Its files belong to an OutputSet, which commits
// them: nothing is left at the output path unless finish() and then the
// set's commit() succeed.
class EmbeddingWriter {
 public:
  // provenance: the manifest with what the pipeline knows (kind, source,
  // postprocess, input); finish() fills in the format, rows, dim and files.
  EmbeddingWriter(OutputSet& outputs, const WriterOptions& options, Manifest provenance);
  virtual ~EmbeddingWriter() = default;
  EmbeddingWriter(const EmbeddingWriter&) = delete;
  EmbeddingWriter& operator=(const EmbeddingWriter&) = delete;

  // Records must come with consecutive indices from provenance.input.first_record
  // (plus options.resume's records) on (std::logic_error otherwise);
  // the shapes are checked with std::invalid_argument.
  void write(const PooledRecord& record);
  void write(const TokenRecord& record);
  // Passes what was written so far on to standard output or a pipe, for a
  // reader that waits for each batch's vectors.
  void flush();
  // Completes the output (NPY: the final shape in the header, the token
  // offsets) and adds its manifest to the set; the set's commit() follows.
  void finish();

  std::int64_t records_written() const { return next_index_ - first_index_; }
  // Vectors written: pooled, one per record; per token, one per token.
  std::int64_t rows_written() const { return rows_; }
  WriterProgress progress() const { return {records_written(), rows_}; }

 protected:
  std::size_t slots() const { return slot_labels_.size(); }
  bool layers_apart() const { return slot_labels_.size() > 1; }
  const std::vector<std::string>& slot_labels() const { return slot_labels_; }
  std::int64_t dim() const { return dim_; }  // 0 until known

 private:
  virtual void write_pooled(const PooledRecord& record) = 0;
  virtual void write_tokens(const TokenRecord& record) = 0;
  virtual void flush_output() = 0;
  // Returns the files written, for the manifest.
  virtual std::vector<CoveredFile> finish_output() = 0;

  // values: [slots, dim] for pooled records, [slots, tokens, dim] per token.
  void check_record(std::int64_t index, bool per_token, const at::Tensor& values);

  OutputSet& outputs_;
  Manifest manifest_;
  OutputFormat format_;
  std::vector<std::string> slot_labels_;
  bool per_token_;
  std::int64_t dim_;
  std::int64_t first_index_;
  std::int64_t next_index_;
  std::int64_t rows_;
  bool finished_ = false;
};

// Opens the output in `outputs` (errors name the path) and returns the
// writer of the format.
std::unique_ptr<EmbeddingWriter> make_embedding_writer(OutputSet& outputs,
                                                       const WriterOptions& options,
                                                       Manifest provenance);

}  // namespace bert_embed
