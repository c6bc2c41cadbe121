#include "bert_embed/model/runtime.h"

#include <cstdlib>
#include <stdexcept>
#include <string>
#include <utility>

#include <ATen/Parallel.h>
#include <gtest/gtest.h>

namespace bert_embed {
namespace {

TEST(RuntimeSettings, SetsTheThreadCount) {
  apply_runtime_settings(RuntimeSettings{1, DType::kFloat32});
  EXPECT_EQ(at::get_num_threads(), 1);
}

TEST(RuntimeSettings, RefusesNegativeThreads) {
  EXPECT_THROW(apply_runtime_settings(RuntimeSettings{-1, DType::kFloat32}), std::invalid_argument);
}

// oneDNN's primitive cache grows with every new batch shape (see runtime.cc):
// bfloat16 keeps a small one, float32 and int8 none, and a capacity the user
// chose is theirs.
TEST(RuntimeSettings, BoundsTheOneDnnPrimitiveCache) {
  constexpr const char* kCapacity = "ONEDNN_PRIMITIVE_CACHE_CAPACITY";
  const auto capacity_after_applying = [&](DType dtype) {
    apply_runtime_settings(RuntimeSettings{1, dtype});
    const char* value = std::getenv(kCapacity);
    return std::string(value == nullptr ? "unset" : value);
  };
  unsetenv("DNNL_PRIMITIVE_CACHE_CAPACITY");
  for (const auto& [dtype, expected] : {std::pair{DType::kFloat32, "0"}, std::pair{DType::kBFloat16, "128"},
                                        std::pair{DType::kInt8, "0"}}) {
    unsetenv(kCapacity);
    EXPECT_EQ(capacity_after_applying(dtype), expected) << to_string(dtype);
  }
  setenv(kCapacity, "16", /*overwrite=*/1);
  EXPECT_EQ(capacity_after_applying(DType::kInt8), "16");
  unsetenv(kCapacity);
}

}  // namespace
}  // namespace bert_embed
