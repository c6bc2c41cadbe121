#include "bert_embed/model/runtime.h"

#include <dlfcn.h>
#include <sys/mman.h>
#include <unistd.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif

#include <algorithm>
#include <array>
#include <charconv>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <thread>
#include <utility>

#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <c10/core/CPUAllocator.h>
#include <c10/core/InferenceMode.h>
#include <c10/core/impl/alloc_cpu.h>
#include <c10/util/Exception.h>
#include <fmt/format.h>
#include <spdlog/spdlog.h>

namespace bert_embed {
namespace {

// How wide the vectors of an OpenBLAS core's kernels are.
enum class VectorWidth { kSse, kAvx, kAvx2, kAvx512 };

// OpenBLAS 0.3.21's x86-64 cores (the names OPENBLAS_CORETYPE takes and
// openblas_get_corename returns) by the widest instructions of their kernels.
constexpr std::array<std::pair<std::string_view, VectorWidth>, 26> kOpenBlasCores{{
    {"Katmai", VectorWidth::kSse},        {"Coppermine", VectorWidth::kSse}, {"Northwood", VectorWidth::kSse},
    {"Prescott", VectorWidth::kSse},      {"Banias", VectorWidth::kSse},     {"Atom", VectorWidth::kSse},
    {"Core2", VectorWidth::kSse},         {"Penryn", VectorWidth::kSse},     {"Dunnington", VectorWidth::kSse},
    {"Nehalem", VectorWidth::kSse},       {"Athlon", VectorWidth::kSse},     {"Opteron", VectorWidth::kSse},
    {"Opteron_SSE3", VectorWidth::kSse},  {"Barcelona", VectorWidth::kSse},  {"Nano", VectorWidth::kSse},
    {"Bobcat", VectorWidth::kSse},        {"Unknown", VectorWidth::kSse},    {"Sandybridge", VectorWidth::kAvx},
    {"Bulldozer", VectorWidth::kAvx},     {"Piledriver", VectorWidth::kAvx}, {"Steamroller", VectorWidth::kAvx},
    {"Excavator", VectorWidth::kAvx2},    {"Haswell", VectorWidth::kAvx2},   {"Zen", VectorWidth::kAvx2},
    {"SkylakeX", VectorWidth::kAvx512},   {"Cooperlake", VectorWidth::kAvx512},
}};

std::optional<VectorWidth> core_width(std::string_view core) {
  for (const auto& [name, width] : kOpenBlasCores) {
    if (name == core) return width;
  }
  return std::nullopt;
}

// What use_fastest_blas_kernels did, for the log; empty when nothing.
std::string& blas_correction() {
  static std::string what;
  return what;
}

// OpenBLAS's and oneDNN's functions, looked up at run time: libtorch links
// whichever BLAS the system's libblas.so.3 points to, and bert-embed itself
// links neither library.
template <typename Function>
Function* find_symbol(const char* name) {
  return reinterpret_cast<Function*>(dlsym(RTLD_DEFAULT, name));
}

std::string openblas_core() {
  const auto get_corename = find_symbol<char*()>("openblas_get_corename");
  return get_corename == nullptr ? std::string() : std::string(get_corename());
}

void set_threads(int threads) {
  if (threads < 0) {
    throw std::invalid_argument("threads must be >= 0 (0: all cores), got " + std::to_string(threads));
  }
  const int all_cores = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  at::set_num_threads(threads == 0 ? all_cores : threads);
}

// oneDNN keeps every primitive it creates in a cache of 1024 entries keyed by
// shape, and batch shapes keep changing, so the cache grows with the input
// (peak RSS, bert-base bfloat16: 0.91 GB at 10,000 lines, 1.46 GB at
// 100,000; tiny-uncased float32: 333 MB at 12,000, 403 MB at 100,000, and a
// flat 253 MB without the cache). Only bfloat16 gains from it, through reuse
// within one forward pass, which 128 entries serve as well as 1024. Dynamic
// int8 layers quantize each input with its own scale, part of the key, so
// their entries never hit yet hold about 1.5 MB each; float32 runs as fast
// without it. oneDNN reads the capacity from the environment at its first
// primitive, and takes it through its API later; a capacity the user set is
// kept.
void limit_onednn_primitive_cache(DType dtype) {
  if (std::getenv("ONEDNN_PRIMITIVE_CACHE_CAPACITY") != nullptr ||
      std::getenv("DNNL_PRIMITIVE_CACHE_CAPACITY") != nullptr) {
    return;
  }
  const int capacity = dtype == DType::kBFloat16 ? 128 : 0;
  setenv("ONEDNN_PRIMITIVE_CACHE_CAPACITY", std::to_string(capacity).c_str(), /*overwrite=*/0);
  // --dtype auto's timing may have started oneDNN already; its API sets the
  // capacity then (and drops the entries beyond it).
  if (const auto set_capacity = find_symbol<int(int)>("dnnl_set_primitive_cache_capacity")) set_capacity(capacity);
}

// glibc serves blocks above its mmap threshold (which it raises up to 32 MB)
// with fresh mappings, and the kernel zeroes every page of them on first
// touch. The encoder's activations are such blocks (bert-base, 8192 tokens:
// 100 MB per feed-forward output), so each layer would fault its pages in
// again (english.txt: 1.7 million faults, about 5% of the run). Kept in the
// heap, a block one layer frees serves the next.
void keep_large_blocks_in_heap() {
#ifdef __GLIBC__
  constexpr int kLargestMappedBlock = 1 << 30;
  mallopt(M_MMAP_THRESHOLD, kLargestMappedBlock);
  mallopt(M_TRIM_THRESHOLD, kLargestMappedBlock);
#endif
}

// The kernel backs memory with 2 MiB pages (transparent huge pages) only
// where a mapping asks for them, on most distributions' default setting
// ("madvise"), and glibc's heap never asks. Faulting bert-base's 438 MB of
// weights in as 4 KiB pages took 130,000 faults at about 10 us each on a
// 2-vCPU AMD EPYC VM. So every tensor of 2 MiB or more gets whole 2 MiB
// pages, on a 2 MiB boundary and marked for huge pages, within glibc's heap,
// whose reuse of freed blocks keep_large_blocks_in_heap relies on. Measured
// there (bert-base float32, one line, 8 alternating runs): 24,000 faults,
// first vector 1.9 s against 2.9 s; peak RSS 694 against 630 MB, the
// weights' rounding up. Advising only the whole pages inside each tensor
// kept 630 MB but faulted 40,000 times.
class HugePageCpuAllocator final : public c10::Allocator {
 public:
  c10::DataPtr allocate(std::size_t bytes) const override {
    void* data = bytes < kHugePage ? c10::alloc_cpu(bytes) : huge_page_aligned(bytes);
    return {data, data, raw_deleter(), c10::Device(c10::DeviceType::CPU)};
  }
  c10::DeleterFnPtr raw_deleter() const override { return &c10::free_cpu; }  // free(), as posix_memalign needs

 private:
  static constexpr std::size_t kHugePage = std::size_t{2} << 20;

  static void* huge_page_aligned(std::size_t bytes) {
    const std::size_t whole_pages = (bytes + kHugePage - 1) / kHugePage * kHugePage;
    void* data = nullptr;
    const int error = posix_memalign(&data, kHugePage, whole_pages);
    TORCH_CHECK(error == 0, "cannot allocate ", bytes, " bytes for a tensor: ", std::strerror(error));
    // Advice only: where the kernel has no huge pages the tensor gets small ones.
    madvise(data, whole_pages, MADV_HUGEPAGE);
    return data;
  }
};

void use_huge_pages_for_large_tensors() {
  // Never destroyed: libtorch may allocate until the process exits.
  static HugePageCpuAllocator* const allocator = new HugePageCpuAllocator;
  c10::SetCPUAllocator(allocator);
}

// This process's resident memory, from /proc/self/statm (0 where unreadable).
std::int64_t resident_bytes() {
  std::ifstream statm("/proc/self/statm");
  std::int64_t size_pages = 0, resident_pages = 0;
  if (!(statm >> size_pages >> resident_pages)) return 0;
  return resident_pages * static_cast<std::int64_t>(::sysconf(_SC_PAGESIZE));
}

}  // namespace

CpuFeatures detect_cpu_features() {
  CpuFeatures features;
#if defined(__x86_64__) && defined(__GNUC__)
  // libgcc checks that the OS saves the AVX and AVX-512 registers too.
  features.avx2_fma = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
  features.avx512 = __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512cd") &&
                    __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512dq") &&
                    __builtin_cpu_supports("avx512vl");
  features.avx512_bf16 = features.avx512 && __builtin_cpu_supports("avx512bf16");
  features.amx_bf16 = __builtin_cpu_supports("amx-bf16") && __builtin_cpu_supports("amx-tile");
#endif
  return features;
}

std::string describe(const CpuFeatures& features) {
  std::string named;
  for (const auto& [present, name] : {std::pair{features.avx2_fma, "avx2+fma"}, std::pair{features.avx512, "avx512"},
                                      std::pair{features.avx512_bf16, "avx512_bf16"},
                                      std::pair{features.amx_bf16, "amx_bf16"}}) {
    if (present) named += (named.empty() ? "" : ", ") + std::string(name);
  }
  return named.empty() ? "none of avx2, avx512, amx" : named;
}

std::string best_openblas_core(const CpuFeatures& features) {
  if (features.avx512 && features.avx512_bf16) return "Cooperlake";
  if (features.avx512) return "SkylakeX";
  if (features.avx2_fma) return "Haswell";
  return "";
}

std::string openblas_core_to_force(const CpuFeatures& features, std::string_view chosen_core,
                                   const char* user_coretype) {
  const std::string best = best_openblas_core(features);
  const std::optional<VectorWidth> chosen_width = core_width(chosen_core);
  if (user_coretype != nullptr || best.empty() || !chosen_width) return "";
  return *chosen_width < *core_width(best) ? best : "";
}

void use_fastest_blas_kernels() {
  const std::string chosen = openblas_core();
  const std::string forced = openblas_core_to_force(detect_cpu_features(), chosen, std::getenv("OPENBLAS_CORETYPE"));
  if (forced.empty()) return;
  // OpenBLAS's DYNAMIC_ARCH entry points: quit forgets the core, init picks
  // one again as at load time, from OPENBLAS_CORETYPE, and sets up its
  // kernels' parameters. No BLAS call has run yet, so nothing used the old ones.
  const auto quit = find_symbol<void()>("gotoblas_dynamic_quit");
  const auto init = find_symbol<void()>("gotoblas_dynamic_init");
  if (quit == nullptr || init == nullptr) {
    blas_correction() = "slow: OpenBLAS chose " + chosen + " and exports no way to choose again";
    return;
  }
  setenv("OPENBLAS_CORETYPE", forced.c_str(), /*overwrite=*/1);
  quit();
  init();
  unsetenv("OPENBLAS_CORETYPE");  // the environment stays as the user gave it
  blas_correction() = "set by bert-embed: OpenBLAS chose " + chosen + " for this CPU (" +
                      describe(detect_cpu_features()) + ")";
}

std::string blas_kernels() {
  const auto get_config = find_symbol<char*()>("openblas_get_config");
  if (get_config == nullptr) return "a BLAS other than OpenBLAS (its kernels unknown to bert-embed)";
  std::string description = std::string(get_config()) + "; core " + openblas_core();
  const char* coretype = std::getenv("OPENBLAS_CORETYPE");
  if (!blas_correction().empty()) {
    description += " (" + blas_correction() + ")";
  } else if (coretype != nullptr) {
    description += " (OPENBLAS_CORETYPE=" + std::string(coretype) + ")";
  } else {
    description += " (chosen by OpenBLAS)";
  }
  return description;
}

std::string onednn_kernels() {
  struct Version {
    int major, minor, patch;
    const char* hash;
    unsigned cpu_runtime, gpu_runtime;
  };
  const auto version = find_symbol<const Version*()>("dnnl_version");
  const auto effective_isa = find_symbol<int()>("dnnl_get_effective_cpu_isa");
  if (version == nullptr || effective_isa == nullptr) return "";
  // dnnl_cpu_isa_t of oneDNN 2.x (dnnl_types.h).
  constexpr std::array<std::pair<int, const char*>, 10> kIsaNames{{{0x1, "sse41"},
                                                                   {0x3, "avx"},
                                                                   {0x7, "avx2"},
                                                                   {0xf, "avx512_mic"},
                                                                   {0x1f, "avx512_mic_4ops"},
                                                                   {0x27, "avx512_core"},
                                                                   {0x67, "avx512_core_vnni"},
                                                                   {0xe7, "avx512_core_bf16"},
                                                                   {0x3e7, "avx512_core_amx"},
                                                                   {0x407, "avx2_vnni"}}};
  const int isa = effective_isa();
  std::string isa_name = "number " + std::to_string(isa);
  for (const auto& [value, name] : kIsaNames) {
    if (value == isa) isa_name = name;
  }
  const Version* v = version();
  return "oneDNN " + std::to_string(v->major) + "." + std::to_string(v->minor) + "." + std::to_string(v->patch) +
         ", ISA " + isa_name;
}

std::optional<DType> auto_dtype_by_features(const CpuFeatures& features, bool cuda, int cuda_major_capability) {
  if (cuda) return cuda_major_capability >= 8 ? DType::kBFloat16 : DType::kFloat16;
  if (features.amx_bf16) return DType::kBFloat16;
  if (!features.avx512_bf16) return DType::kFloat32;
  return std::nullopt;
}

ProductRates time_matrix_products() {
  constexpr std::int64_t kRows = 256, kWidth = 768, kInner = 3072;
  constexpr double kFlops = 2.0 * kRows * kWidth * kInner;
  constexpr int kTimedRuns = 3;
  c10::InferenceMode guard;
  const auto rate = [&](at::ScalarType type) {
    const at::Tensor input = at::rand({kRows, kWidth}).to(type);
    const at::Tensor weight = at::rand({kInner, kWidth}).to(type);
    at::linear(input, weight);  // the first run sets up the kernels (oneDNN builds its own)
    double best = 0;
    for (int run = 0; run < kTimedRuns; ++run) {
      const auto start = std::chrono::steady_clock::now();
      at::linear(input, weight);
      const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
      best = std::max(best, kFlops / seconds / 1e9);
    }
    return best;
  };
  return {rate(at::kFloat), rate(at::kBFloat16)};
}

// Matrix products are most of BERT-base's time in float32 (70% of its
// operator time on english.txt, bench/profile_encoder.py), so the model
// gains less than they do: on the AMD EPYC above, products 2.0x faster in
// bfloat16 (bench/gemm_bench), english.txt and news.txt 1.5x. The margin
// keeps float32 where the model's gain would be within the timing's noise.
DType faster_dtype(const ProductRates& rates) {
  constexpr double kMargin = 1.2;
  return rates.bfloat16 >= kMargin * rates.float32 ? DType::kBFloat16 : DType::kFloat32;
}

AutoDType resolve_auto_dtype(const std::string& device) {
  if (device == "cpu") {
    const CpuFeatures features = detect_cpu_features();
    if (const std::optional<DType> decided = auto_dtype_by_features(features, false, 0)) {
      return {*decided, features.amx_bf16 ? "AMX multiplies bfloat16" : "no native bfloat16 products"};
    }
    const ProductRates rates = time_matrix_products();
    return {faster_dtype(rates), fmt::format("AVX512-BF16 without AMX: bfloat16 products {:.0f} GFLOP/s, float32 "
                                             "{:.0f}, timed at start-up",
                                             rates.bfloat16, rates.float32)};
  }
  int index = 0;
  if (device != "cuda") {
    const std::string prefix = "cuda:";
    const std::string number = device.substr(std::min(device.size(), prefix.size()));
    const auto [end, error] = std::from_chars(number.data(), number.data() + number.size(), index);
    if (device.rfind(prefix, 0) != 0 || error != std::errc() || end != number.data() + number.size()) {
      throw std::invalid_argument("device '" + device + "': expected cpu, cuda or cuda:N");
    }
  }
  // cudaDeviceGetAttribute(&value, cudaDevAttrComputeCapabilityMajor = 75, device):
  // present only when libtorch's CUDA library (and so the CUDA runtime) is loaded.
  constexpr int kComputeCapabilityMajor = 75;
  const auto get_attribute = find_symbol<int(int*, int, int)>("cudaDeviceGetAttribute");
  int major = 0;
  if (get_attribute == nullptr || get_attribute(&major, kComputeCapabilityMajor, index) != 0) major = 0;
  return {*auto_dtype_by_features(CpuFeatures{}, true, major),
          major == 0 ? std::string("compute capability unknown") : "compute capability " + std::to_string(major)};
}

DType apply_runtime_settings(const RuntimeSettings& settings) {
  set_threads(settings.threads);
  keep_large_blocks_in_heap();
  use_huge_pages_for_large_tensors();
  DType dtype = DType::kFloat32;
  if (settings.dtype) {
    dtype = *settings.dtype;
  } else {
    const AutoDType resolved = resolve_auto_dtype(settings.device);
    dtype = resolved.dtype;
    spdlog::info("--dtype auto: {} on {} ({})", to_string(dtype), settings.device, resolved.reason);
  }
  limit_onednn_primitive_cache(dtype);
  spdlog::info("kernels: {}; {}", blas_kernels(), onednn_kernels());
  return dtype;
}

// The encoder's temporaries, of ever-changing shapes, fragment glibc's heap,
// and it keeps the free pages: peak RSS creeps up with the input (bert-base
// bfloat16, trimmed once per 4096-line window of bert-embed: 767 MiB at
// 10,000 lines, 1,032 MiB at 100,000). Handing them back after every batch
// kept it flat (641 MiB at 12,000 and at 30,000 lines), but every batch then
// faulted its working set in again, and faults are dear on some machines: on
// a 2-vCPU AMD EPYC VM (about 10 us each) that cost bert-base float32 12-20%
// of its speed on english.txt (256,000 faults and 2.6 s of system time
// against 156,000 and 1.9 s). So the free pages go back only once they
// outgrow a slack, half the live heap and at least 64 MiB: steady batches
// reuse their pages, and fragmentation stays bounded.
void release_free_heap_pages() {
#ifdef __GLIBC__
  static std::mutex mutex;
  static std::optional<std::int64_t> settled_overhead;  // RSS beyond the live heap just after a trim
  const std::lock_guard<std::mutex> lock(mutex);
  const auto live_heap_bytes = [] {
    const struct mallinfo2 heap = mallinfo2();
    return static_cast<std::int64_t>(heap.uordblks + heap.hblkhd);
  };
  const std::int64_t live = live_heap_bytes();
  const std::int64_t free_resident = settled_overhead ? resident_bytes() - live - *settled_overhead : 0;
  constexpr std::int64_t kMinimumSlack = std::int64_t{64} << 20;
  if (settled_overhead && free_resident <= std::max(kMinimumSlack, live / 2)) return;
  malloc_trim(0);
  settled_overhead = resident_bytes() - live_heap_bytes();
#endif
}

}  // namespace bert_embed
