// A temporary file of float32 rows, written once and read back in pieces:
// what a two-pass run (statistics fitted on its own input) keeps between its
// passes instead of memory. The file is unlinked as soon as it is created,
// so nothing is left behind however the process ends.
#pragma once

#include <cstdint>
#include <filesystem>
#include <vector>

#include <ATen/ATen.h>

namespace bert_embed {

class RowSpool {
 public:
  // Creates the unlinked file in `directory`; std::runtime_error naming the
  // directory when that fails.
  explicit RowSpool(const std::filesystem::path& directory);
  ~RowSpool();
  RowSpool(const RowSpool&) = delete;
  RowSpool& operator=(const RowSpool&) = delete;

  // rows: float32 [n, ...]; every call must have the same row shape.
  // std::runtime_error on a write error (disk full).
  void append(const at::Tensor& rows);
  std::int64_t rows() const { return rows_; }
  // Rows [first, first + count), shaped as appended.
  at::Tensor read(std::int64_t first, std::int64_t count) const;

 private:
  std::filesystem::path directory_;  // for messages
  int fd_ = -1;
  std::vector<std::int64_t> row_shape_;  // set by the first rows appended
  std::int64_t row_bytes_ = 0;
  std::int64_t rows_ = 0;
};

}  // namespace bert_embed
