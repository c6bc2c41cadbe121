// Reads the goldens' and outputs' .npy files (little-endian f4, f2, i8, i1 or
// u1, C order) through the product's bounded reader, bert_embed/io/npy_reader.h.
#pragma once

#include <cstdint>
#include <filesystem>
#include <vector>

namespace bert_embed::test {

struct NpyArray {
  std::vector<std::int64_t> shape;
  std::vector<float> f32;         // when dtype is <f4 or <f2 (converted exactly)
  std::vector<std::int64_t> i64;  // when dtype is <i8
  std::vector<std::int8_t> i8;    // when dtype is |i1
  std::vector<std::uint8_t> u8;   // when dtype is |u1
};

NpyArray read_npy(const std::filesystem::path& file);

}  // namespace bert_embed::test
