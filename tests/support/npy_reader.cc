#include "npy_reader.h"

#include <cmath>
#include <stdexcept>

#include "bert_embed/io/npy_reader.h"

namespace bert_embed::test {
namespace {

// IEEE 754 binary16 -> float, exactly (every half is a float).
float half_to_float(std::uint16_t bits) {
  const int sign = bits >> 15 ? -1 : 1;
  const int exponent = (bits >> 10) & 0x1f;
  const int fraction = bits & 0x3ff;
  if (exponent == 0x1f) return fraction != 0 ? NAN : sign * INFINITY;
  if (exponent == 0) return sign * std::ldexp(static_cast<float>(fraction), -24);
  return sign * std::ldexp(static_cast<float>(fraction | 0x400), exponent - 25);
}

}  // namespace

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
    case NpyDtype::kFloat16:
      for (const std::uint16_t bits : reader.read_all<std::uint16_t>()) array.f32.push_back(half_to_float(bits));
      break;
    case NpyDtype::kInt8:
      array.i8 = reader.read_all<std::int8_t>();
      break;
    case NpyDtype::kUInt8:
      array.u8 = reader.read_all<std::uint8_t>();
      break;
    case NpyDtype::kFloat64:
      throw std::runtime_error(file.string() + ": float64 goldens are not expected");
  }
  return array;
}

}  // namespace bert_embed::test
