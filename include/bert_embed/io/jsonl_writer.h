// JSON Lines output: one object per input line,
//   {"index": i, "id": "...", "embedding": [...]}
//   {"index": i, "tokens": [...], "spans": [[begin, end], ...], "embeddings": [[...], ...]}
// with several slots under "layers": {"<label>": [...], ...} in place of
// "embedding" / "embeddings". "id" only when the record has one.
#pragma once

#include <string>
#include <string_view>

#include "bert_embed/io/embedding_writer.h"
#include "bert_embed/io/output_file.h"

namespace bert_embed {

// Appends `text` as a JSON string literal: quotes, backslashes and control
// characters escaped (\", \\, \u00XX); the rest, UTF-8, passes through.
void append_json_string(std::string& out, std::string_view text);

// Appends the shortest decimal form that parses back to the same float
// (std::to_chars; -0 as "-0.0", so that its sign survives). Throws std::invalid_argument for NaN
// and infinities, which JSON cannot represent.
void append_json_float(std::string& out, float value);

class JsonlWriter final : public EmbeddingWriter {
 public:
  JsonlWriter(OutputSet& outputs, const WriterOptions& options, Manifest provenance);

 private:
  void write_pooled(const PooledRecord& record) override;
  void write_tokens(const TokenRecord& record) override;
  void flush_output() override;
  std::vector<CoveredFile> finish_output(Manifest& manifest) override;

  // Starts line_ with the index and id; refuses values JSON cannot hold.
  void begin_line(std::int64_t index, const std::optional<std::string_view>& id,
                  const at::Tensor& values);
  void end_line();

  OutputFile& out_;
  std::string line_;  // reused, so that a line is one write
};

}  // namespace bert_embed
