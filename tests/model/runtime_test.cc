#include "bert_embed/model/runtime.h"

#include <cstdint>
#include <cstdlib>
#include <fstream>
#include <optional>
#include <regex>
#include <sstream>
#include <stdexcept>
#include <string>
#include <utility>

#include <ATen/ATen.h>
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

// The VmFlags line of the mapping in /proc/self/smaps that holds `address`
// ("rd wr mr mw me ac hg ..."; hg: marked for transparent huge pages).
std::string mapping_flags(std::uintptr_t address) {
  std::ifstream smaps("/proc/self/smaps");
  bool inside = false;
  for (std::string line; std::getline(smaps, line);) {
    std::uintptr_t start = 0, end = 0;
    char dash = 0;
    if (std::istringstream(line) >> std::hex >> start >> dash >> end && dash == '-') {  // "start-end perms ..."
      inside = start <= address && address < end;
    } else if (inside && line.rfind("VmFlags:", 0) == 0) {
      return line.substr(8) + " ";
    }
  }
  return "";
}

TEST(RuntimeSettings, PlacesLargeTensorsOnHugePages) {
  apply_runtime_settings(RuntimeSettings{1, DType::kFloat32});
  constexpr std::uintptr_t kHugePage = std::uintptr_t{2} << 20;
  const at::Tensor large = at::zeros({3, 1 << 20});  // 12 MiB
  const at::Tensor small = at::zeros({1000});
  const auto large_address = reinterpret_cast<std::uintptr_t>(large.data_ptr());
  EXPECT_EQ(large_address % kHugePage, 0U);
  EXPECT_EQ(reinterpret_cast<std::uintptr_t>(small.data_ptr()) % 64, 0U);  // libtorch's own alignment

  std::ifstream thp_setting("/sys/kernel/mm/transparent_hugepage/enabled");
  std::string modes;
  if (!std::getline(thp_setting, modes) || modes.find("[never]") != std::string::npos) {
    GTEST_SKIP() << "this kernel has transparent huge pages off or not built in (" << modes << ")";
  }
  EXPECT_NE(mapping_flags(large_address).find(" hg "), std::string::npos) << mapping_flags(large_address);
}

constexpr CpuFeatures kSse{};
constexpr CpuFeatures kAvx2{true, false, false, false};
constexpr CpuFeatures kAvx512{true, true, false, false};
constexpr CpuFeatures kAvx512Bf16{true, true, true, false};
constexpr CpuFeatures kAmx{true, true, true, true};

TEST(OpenBlasCores, BestCoreUsesTheWidestInstructionsTheCpuHas) {
  EXPECT_EQ(best_openblas_core(kSse), "");
  EXPECT_EQ(best_openblas_core(kAvx2), "Haswell");
  EXPECT_EQ(best_openblas_core(kAvx512), "SkylakeX");
  EXPECT_EQ(best_openblas_core(kAvx512Bf16), "Cooperlake");
  EXPECT_EQ(best_openblas_core(kAmx), "Cooperlake");  // OpenBLAS 0.3.21 has no newer core
}

// OpenBLAS 0.3.21 on a Xeon newer than itself (family 6, model 207) chose
// Prescott: SSE3 kernels, a quarter of the speed.
TEST(OpenBlasCores, ForcesTheBestCoreWhenOpenBlasFellBackToNarrowerKernels) {
  EXPECT_EQ(openblas_core_to_force(kAvx512Bf16, "Prescott", nullptr), "Cooperlake");
  EXPECT_EQ(openblas_core_to_force(kAvx512, "Nehalem", nullptr), "SkylakeX");
  EXPECT_EQ(openblas_core_to_force(kAvx512Bf16, "Haswell", nullptr), "Cooperlake");
  EXPECT_EQ(openblas_core_to_force(kAvx2, "Sandybridge", nullptr), "Haswell");
  EXPECT_EQ(openblas_core_to_force(kAvx2, "Unknown", nullptr), "Haswell");
}

TEST(OpenBlasCores, KeepsACoreAsWideAsTheBest) {
  EXPECT_EQ(openblas_core_to_force(kAvx512Bf16, "Cooperlake", nullptr), "");
  EXPECT_EQ(openblas_core_to_force(kAvx512, "SkylakeX", nullptr), "");
  EXPECT_EQ(openblas_core_to_force(kAvx2, "Zen", nullptr), "");  // AMD's own AVX2 tuning stays
  EXPECT_EQ(openblas_core_to_force(kAvx512, "Cooperlake", nullptr), "");
  EXPECT_EQ(openblas_core_to_force(kSse, "Prescott", nullptr), "");  // nothing faster runs here
}

// A newer OpenBLAS names cores this table does not know (SapphireRapids):
// it knows the CPU better than the table.
TEST(OpenBlasCores, KeepsACoreItDoesNotKnow) {
  EXPECT_EQ(openblas_core_to_force(kAmx, "SapphireRapids", nullptr), "");
  EXPECT_EQ(openblas_core_to_force(kAvx512, "", nullptr), "");  // not OpenBLAS
}

TEST(OpenBlasCores, NeverOverridesTheUsersCoreType) {
  EXPECT_EQ(openblas_core_to_force(kAvx512Bf16, "Prescott", "Prescott"), "");
  EXPECT_EQ(openblas_core_to_force(kAvx512Bf16, "Prescott", ""), "");
}

// Choosing again can never go on: the forced core is the best, which is
// never forced again, whatever the CPU.
TEST(OpenBlasCores, ForcesAtMostOnce) {
  for (const CpuFeatures& features : {kSse, kAvx2, kAvx512, kAvx512Bf16, kAmx}) {
    const std::string forced = openblas_core_to_force(features, "Prescott", nullptr);
    EXPECT_EQ(openblas_core_to_force(features, forced, nullptr), "") << describe(features);
  }
}

TEST(OpenBlasCores, DescribesTheFeatures) {
  EXPECT_EQ(describe(kAvx512Bf16), "avx2+fma, avx512, avx512_bf16");
  EXPECT_EQ(describe(kSse), "none of avx2, avx512, amx");
}

TEST(AutoDType, CpuFeaturesDecideExceptBFloat16ProductsWithoutAmx) {
  EXPECT_EQ(auto_dtype_by_features(kAmx, false, 0), DType::kBFloat16);
  EXPECT_EQ(auto_dtype_by_features(kAvx512Bf16, false, 0), std::nullopt);  // timed
  EXPECT_EQ(auto_dtype_by_features(kAvx512, false, 0), DType::kFloat32);   // bfloat16 emulated
  EXPECT_EQ(auto_dtype_by_features(kSse, false, 0), DType::kFloat32);
}

TEST(AutoDType, CudaPicksBFloat16FromAmpereOnAndFloat16Before) {
  EXPECT_EQ(auto_dtype_by_features(kSse, true, 8), DType::kBFloat16);
  EXPECT_EQ(auto_dtype_by_features(kSse, true, 9), DType::kBFloat16);
  EXPECT_EQ(auto_dtype_by_features(kSse, true, 7), DType::kFloat16);
  EXPECT_EQ(auto_dtype_by_features(kSse, true, 0), DType::kFloat16);  // capability unknown
}

TEST(AutoDType, BFloat16OnlyWhenItsProductsAreClearlyFaster) {
  EXPECT_EQ(faster_dtype({205, 412}), DType::kBFloat16);  // this AMD EPYC
  EXPECT_EQ(faster_dtype({300, 190}), DType::kFloat32);
  EXPECT_EQ(faster_dtype({200, 220}), DType::kFloat32);  // within the margin
}

TEST(AutoDType, TimesBothProductsWithTheThreadsSet) {
  apply_runtime_settings(RuntimeSettings{1, DType::kFloat32});
  const ProductRates rates = time_matrix_products();
  EXPECT_GT(rates.float32, 0.5);  // GFLOP/s: even SSE kernels on one thread reach more
  EXPECT_GT(rates.bfloat16, 0.0);
}

TEST(AutoDType, ResolvesForThisCpuSaysWhyAndRefusesAnUnknownDevice) {
  const AutoDType resolved = resolve_auto_dtype("cpu");
  const std::optional<DType> by_features = auto_dtype_by_features(detect_cpu_features(), false, 0);
  if (by_features) {
    EXPECT_EQ(resolved.dtype, *by_features);
  }
  EXPECT_NE(resolved.dtype, DType::kInt8);
  EXPECT_NE(resolved.dtype, DType::kFloat16);
  EXPECT_FALSE(resolved.reason.empty());
  const DType applied = apply_runtime_settings(RuntimeSettings{1, std::nullopt, "cpu"});
  if (by_features) {
    EXPECT_EQ(applied, *by_features);
  }
  EXPECT_TRUE(applied == DType::kFloat32 || applied == DType::kBFloat16) << to_string(applied);
  EXPECT_THROW(resolve_auto_dtype("gpu:1"), std::invalid_argument);
  EXPECT_THROW(resolve_auto_dtype("cuda:x"), std::invalid_argument);
}

TEST(OpenBlasCores, NamesTheLibraryAndItsCore) {
  const std::string kernels = blas_kernels();
  if (kernels.rfind("OpenBLAS", 0) != 0) GTEST_SKIP() << kernels;
  EXPECT_TRUE(std::regex_search(kernels, std::regex("^OpenBLAS [0-9.]+ .*; core [A-Za-z0-9_]+ \\((chosen by "
                                                     "OpenBLAS|OPENBLAS_CORETYPE=|set by bert-embed)")))
      << kernels;
}

}  // namespace
}  // namespace bert_embed
