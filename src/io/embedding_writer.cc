#include "bert_embed/io/embedding_writer.h"

#include <stdexcept>

#include "bert_embed/io/jsonl_writer.h"
#include "bert_embed/io/npy_writer.h"

namespace bert_embed {

OutputFormat output_format_for(const std::filesystem::path& output) {
  return output.extension() == ".npy" ? OutputFormat::kNpy : OutputFormat::kJsonl;
}

EmbeddingWriter::EmbeddingWriter(OutputSet& outputs, const WriterOptions& options,
                                 Manifest provenance)
    : outputs_(outputs),
      manifest_(std::move(provenance)),
      format_(options.format),
      slot_labels_(options.slot_labels),
      per_token_(options.per_token),
      dim_(options.dim),
      first_index_(static_cast<std::int64_t>(manifest_.input.first_record)),
      next_index_(first_index_ + (options.resume ? options.resume->records : 0)),
      rows_(options.resume ? options.resume->rows : 0) {
  if (slot_labels_.empty()) throw std::invalid_argument("EmbeddingWriter: no slot labels");
  if (dim_ < 0) throw std::invalid_argument("EmbeddingWriter: negative dim");
}

void EmbeddingWriter::check_record(std::int64_t index, bool per_token, const at::Tensor& values) {
  const std::string record = "record " + std::to_string(index);
  if (finished_) throw std::logic_error(record + " written after finish()");
  if (per_token != per_token_) {
    throw std::logic_error(record + ": a " + (per_token ? "per-token" : "pooled") +
                           " record given to a writer of " + (per_token_ ? "per-token" : "pooled") +
                           " records");
  }
  if (index != next_index_) {
    throw std::logic_error(record + " arrived out of order: expected record " +
                           std::to_string(next_index_));
  }
  const std::int64_t expected_dims = per_token ? 3 : 2;
  if (values.scalar_type() != at::kFloat || values.dim() != expected_dims ||
      values.size(0) != static_cast<std::int64_t>(slots())) {
    throw std::invalid_argument(record + ": expected float32 " +
                                (per_token ? "[slots, tokens, dim]" : "[slots, dim]") + " with " +
                                std::to_string(slots()) + " slots, got " +
                                c10::str(values.scalar_type(), " ", values.sizes()));
  }
  const std::int64_t width = values.size(-1);
  if (dim_ == 0) dim_ = width;
  if (width != dim_) {
    throw std::invalid_argument(record + ": vectors of width " + std::to_string(width) +
                                " after vectors of width " + std::to_string(dim_));
  }
}

void EmbeddingWriter::write(const PooledRecord& record) {
  check_record(record.index, false, record.vectors);
  write_pooled(record);
  ++next_index_;
  ++rows_;
}

void EmbeddingWriter::write(const TokenRecord& record) {
  check_record(record.index, true, record.embeddings);
  const auto tokens = static_cast<std::int64_t>(record.tokens.size());
  if (record.spans.size() != record.tokens.size() || record.embeddings.size(1) != tokens) {
    throw std::invalid_argument("record " + std::to_string(record.index) + ": " +
                                std::to_string(record.tokens.size()) + " tokens, " +
                                std::to_string(record.spans.size()) + " spans and " +
                                std::to_string(record.embeddings.size(1)) + " embeddings");
  }
  write_tokens(record);
  ++next_index_;
  rows_ += tokens;
}

void EmbeddingWriter::flush() { flush_output(); }

void EmbeddingWriter::finish() {
  if (finished_) throw std::logic_error("EmbeddingWriter::finish called twice");
  Manifest manifest = std::move(manifest_);
  manifest.format = output_format_name(format_);
  manifest.rows = rows_;
  manifest.input.end_record = manifest.input.first_record + static_cast<std::uint64_t>(records_written());
  manifest.dim = dim_;
  // A run that did not count its input first (no --shard) covered all of it.
  if (manifest.shard.total_records == 0) manifest.shard.end = manifest.shard.total_records = manifest.input.end_record;
  manifest.shard.complete = true;
  outputs_.add_manifest(std::move(manifest), finish_output());
  finished_ = true;
}

std::unique_ptr<EmbeddingWriter> make_embedding_writer(OutputSet& outputs,
                                                       const WriterOptions& options,
                                                       Manifest provenance) {
  switch (options.format) {
    case OutputFormat::kJsonl:
      return std::make_unique<JsonlWriter>(outputs, options, std::move(provenance));
    case OutputFormat::kNpy:
      return std::make_unique<NpyWriter>(outputs, options, std::move(provenance));
  }
  throw std::logic_error("make_embedding_writer: unknown format");
}

}  // namespace bert_embed
