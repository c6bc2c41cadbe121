// Reads the goldens' .npy files (little-endian f4 or i8, C order) through the
// product's bounded reader, bert_embed/io/npy_reader.h.
#pragma once

#include <cstdint>
#include <filesystem>
#include <vector>

namespace bert_embed::test {

struct NpyArray {
  std::vector<std::int64_t> shape;
  std::vector<float> f32;         // when dtype is <f4
  std::vector<std::int64_t> i64;  // when dtype is <i8
};

NpyArray read_npy(const std::filesystem::path& file);

}  // namespace bert_embed::test
