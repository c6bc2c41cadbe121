// Bounded reading of NPY files (numpy's format, versions 1.0 to 3.0), for
// statistics files and the tests' goldens: little-endian float32,
// float64 or int64 in C order. Everything is checked before a byte of data is
// read or allocated: the file is a regular file, the header is a well-formed
// dictionary of bounded length, and the data size the shape implies is the
// size of the rest of the file. Every error names the file. No libtorch here,
// so the test support reads goldens with it too.
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

namespace bert_embed {

enum class NpyDtype { kFloat32, kFloat64, kInt64 };  // "<f4", "<f8", "<i8"

const char* npy_descr(NpyDtype dtype);  // "<f4", ...
std::size_t npy_item_size(NpyDtype dtype);  // bytes of one element: 4, 8, 8

class NpyReader {
 public:
  // Opens the file and validates its header against its size; throws
  // std::runtime_error naming the file.
  explicit NpyReader(const std::filesystem::path& file);
  NpyReader(const NpyReader&) = delete;
  NpyReader& operator=(const NpyReader&) = delete;

  const std::filesystem::path& path() const { return path_; }
  NpyDtype dtype() const { return dtype_; }
  const std::vector<std::int64_t>& shape() const { return shape_; }
  // shape()[0]; 1 for a 0-dimensional array.
  std::int64_t rows() const;
  // Elements in one row: the product of shape()[1:].
  std::int64_t row_elements() const { return row_elements_; }
  // Where the data begins in the file: the header's size.
  std::uint64_t data_offset() const { return data_offset_; }

  // Throws std::runtime_error naming the file unless the array has this
  // dtype and shape, e.g. "sum: float64 [2, 16] where float64 [2, 32] was expected".
  void expect(NpyDtype dtype, const std::vector<std::int64_t>& shape) const;

  // Reads rows [first, first + count) into out, which holds count *
  // row_elements() values of the array's type (std::logic_error on another
  // type or a range outside the array; std::runtime_error on a read error).
  template <typename T>
  void read_rows(std::int64_t first, std::int64_t count, T* out) const;

  // The whole array, of the array's type.
  template <typename T>
  std::vector<T> read_all() const;

 private:
  // Reads size bytes at offset; std::runtime_error when the file ends first.
  void read_at(void* out, std::size_t size, std::uint64_t offset) const;

  // Closed on destruction, also when the constructor throws.
  struct FileDescriptor {
    int fd = -1;
    ~FileDescriptor();
  };

  std::filesystem::path path_;
  FileDescriptor file_;
  NpyDtype dtype_ = NpyDtype::kFloat32;
  std::vector<std::int64_t> shape_;
  std::int64_t row_elements_ = 1;
  std::uint64_t data_offset_ = 0;
};

extern template void NpyReader::read_rows(std::int64_t, std::int64_t, float*) const;
extern template void NpyReader::read_rows(std::int64_t, std::int64_t, double*) const;
extern template void NpyReader::read_rows(std::int64_t, std::int64_t, std::int64_t*) const;
extern template std::vector<float> NpyReader::read_all() const;
extern template std::vector<double> NpyReader::read_all() const;
extern template std::vector<std::int64_t> NpyReader::read_all() const;

// Shape as numpy prints it: "[2, 16]".
std::string format_shape(const std::vector<std::int64_t>& shape);

}  // namespace bert_embed
