// NPY output (format version 1.0, little-endian float32, C order), as
// numpy.load reads it: pooled [lines, dim], or [lines, slots, dim] with
// several slots; per token [total_tokens, dim] or [total_tokens, slots, dim],
// plus int64 [lines + 1] token offsets in a second file beside it (line i's
// tokens are rows offsets[i] to offsets[i+1]). The row count is known only at
// the end: each header is written with room for any shape and rewritten by
// finish(), so the outputs must be regular files; data and offsets stream to
// their files as they come, so that memory stays flat and a resumable output
// holds all it was given at each checkpoint.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "bert_embed/io/embedding_writer.h"
#include "bert_embed/io/output_file.h"

namespace bert_embed {

// Writes a whole array, header and `bytes` of data (descr: "<f8", "<i8", ...),
// to `file`, which the caller commits.
void write_npy_array(OutputFile& file, const char* descr, const std::vector<std::int64_t>& shape,
                     const void* data, std::size_t bytes);

// The header NpyWriter writes: room for any shape of shape.size() dimensions,
// padded with spaces to a multiple of 64 bytes.
std::string reserved_npy_header(const char* descr, const std::vector<std::int64_t>& shape);

// OUT.npy -> OUT.offsets.npy; a path without ".npy" gets ".offsets.npy" appended.
std::filesystem::path npy_offsets_path(const std::filesystem::path& output);

class NpyWriter final : public EmbeddingWriter {
 public:
  NpyWriter(OutputSet& outputs, const WriterOptions& options, Manifest provenance);

 private:
  void write_pooled(const PooledRecord& record) override;
  void write_tokens(const TokenRecord& record) override;
  void flush_output() override;
  std::vector<CoveredFile> finish_output() override;

  void write_rows(const at::Tensor& rows);
  void write_offset(std::int64_t offset);
  std::vector<std::int64_t> shape() const;

  OutputFile& data_;
  OutputFile* offsets_file_ = nullptr;  // per token only: token rows before each line, and in all
  std::int64_t rows_ = 0;
};

}  // namespace bert_embed
