#include "npy_reader.h"

#include <stdexcept>

#include "bert_embed/io/npy_reader.h"

namespace bert_embed::test {

NpyArray read_npy(const std::filesystem::path& file) {
  const NpyReader reader(file);
  NpyArray array;
  array.shape = reader.shape();
  switch (reader.dtype()) {
    case NpyDtype::kFloat32:
      array.f32 = reader.read_all<float>();
      break;
    case NpyDtype::kInt64:
      array.i64 = reader.read_all<std::int64_t>();
      break;
    case NpyDtype::kFloat64:
      throw std::runtime_error(file.string() + ": float64 goldens are not expected");
  }
  return array;
}

}  // namespace bert_embed::test
