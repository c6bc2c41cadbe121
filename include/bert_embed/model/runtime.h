// Process-wide settings for inference, in one visible place: main calls
// use_fastest_blas_kernels first, and a command applies the rest once, before
// it loads a model. Nothing else in bert-embed chooses BLAS kernels, sets
// libtorch's thread count or CPU allocator, oneDNN's cache or glibc's
// allocator policy.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "bert_embed/model/encoder.h"

namespace bert_embed {

// What this CPU runs (CPUID, with the OS saving the registers involved).
struct CpuFeatures {
  bool avx2_fma = false;     // AVX2 and FMA3 (Haswell's set)
  bool avx512 = false;       // AVX-512 F, CD, BW, DQ and VL (Skylake-X's set)
  bool avx512_bf16 = false;  // AVX512-BF16 (Cooper Lake's addition)
  bool amx_bf16 = false;     // AMX tiles with bfloat16 products (Sapphire Rapids)
};

CpuFeatures detect_cpu_features();

// "avx2+fma, avx512, avx512_bf16, amx_bf16", or "none of avx2, avx512, amx".
std::string describe(const CpuFeatures& features);

// The OpenBLAS core, as OPENBLAS_CORETYPE names it (OpenBLAS 0.3.21 knows no
// newer one), whose kernels use the widest instructions these features
// allow: "Cooperlake", "SkylakeX", "Haswell"; "" when none of them runs.
std::string best_openblas_core(const CpuFeatures& features);

// The core to force on OpenBLAS, or "" to keep the one it chose: only when
// it chose a core of narrower vectors than best_openblas_core (it fell back,
// as 0.3.21 does to "Prescott" on CPUs newer than itself), never when the
// user set OPENBLAS_CORETYPE (user_coretype not null) and never for a core
// name this table does not know (a newer OpenBLAS knows better).
std::string openblas_core_to_force(const CpuFeatures& features, std::string_view chosen_core,
                                   const char* user_coretype);

// Called first thing in main, before any BLAS call. OpenBLAS picks its
// kernels as it loads, from OPENBLAS_CORETYPE or its own table of CPU models;
// when openblas_core_to_force names a core, this has OpenBLAS pick again,
// through its own DYNAMIC_ARCH entry points (gotoblas_dynamic_quit, then
// gotoblas_dynamic_init with OPENBLAS_CORETYPE set for that call only). A
// restart of the process would do the same at twice the start-up time.
// Without those entry points the kernels stay slow, and blas_kernels() says so.
void use_fastest_blas_kernels();

// The BLAS library and the kernels it runs, for --version and the log:
// "OpenBLAS 0.3.21 (...), core Cooperlake (...)" or "a BLAS other than OpenBLAS".
std::string blas_kernels();

// oneDNN's version and instruction set (bfloat16 products, batched attention
// products): "oneDNN 2.6.3, ISA avx512_core_bf16", or "" when not loaded.
std::string onednn_kernels();

// `--dtype auto`: the fastest number format whose pooled vectors stay within
// a cosine of 0.999 of float32's (bfloat16 keeps 0.99996 on BERT-base; int8
// only when asked for). CUDA: bfloat16 on compute capability 8.0 and later,
// float16 before. CPU: float32 where bfloat16 products are emulated (no
// AVX512-BF16), bfloat16 where AMX multiplies it, and in between (AVX512-BF16
// without AMX) no rule holds: on a 2-vCPU Xeon of family 6 model 207
// bfloat16 ran BERT-base at 0.65x float32's speed, on a 2-vCPU AMD EPYC at
// 1.5x. std::nullopt then: time both (time_matrix_products, faster_dtype).
std::optional<DType> auto_dtype_by_features(const CpuFeatures& features, bool cuda, int cuda_major_capability);

// Float32 and bfloat16 matrix products of BERT-base's feed-forward shape
// ([256 x 768] by [768 x 3072]) on this CPU with the threads set, GFLOP/s.
struct ProductRates {
  double float32 = 0;
  double bfloat16 = 0;
};
ProductRates time_matrix_products();

// bfloat16 when its products are enough faster to make the whole model
// faster (the rest of a layer gains less from it), else float32.
DType faster_dtype(const ProductRates& rates);

struct AutoDType {
  DType dtype = DType::kFloat32;
  std::string reason;  // for the log: "AMX multiplies bfloat16", "... bfloat16 products 703 GFLOP/s, float32 201 ..."
};

// --dtype auto for a --device ("cpu", "cuda", "cuda:N"): this CPU's features
// (timing the products where they do not decide), or the GPU's compute
// capability (from the CUDA runtime libtorch loaded). Throws
// std::invalid_argument for a device name it cannot read.
AutoDType resolve_auto_dtype(const std::string& device);

struct RuntimeSettings {
  int threads = 0;                           // intra-op threads; 0: all cores
  std::optional<DType> dtype = DType::kFloat32;  // the number format; none: --dtype auto, resolved for `device`
  std::string device = "cpu";
};

// Sets libtorch's intra-op thread count, resolves --dtype auto (after the
// thread count, which its timing needs), bounds oneDNN's primitive cache for
// the number format (unless the environment sets a capacity), keeps large
// blocks in glibc's heap, has libtorch place CPU tensors of 2 MiB or more on
// 2 MiB boundaries marked for transparent huge pages, and logs the kernels in
// use and the format (info).
// Returns the number format the model is to run in. Throws
// std::invalid_argument for a negative thread count or an unreadable device.
DType apply_runtime_settings(const RuntimeSettings& settings);

// Hands the heap's free pages back to the system once they outgrow a slack
// (half the live heap, at least 64 MiB), so that memory stays flat without
// faulting every batch's pages in again; the encoder calls it after every
// batch, a two-pass fit after every window it replays (see runtime.cc for
// the measurements behind both policies).
void release_free_heap_pages();

}  // namespace bert_embed
