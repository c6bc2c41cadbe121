#include "bert_embed/model/runtime.h"

#ifdef __GLIBC__
#include <malloc.h>
#endif

#include <algorithm>
#include <cstdlib>
#include <stdexcept>
#include <string>
#include <thread>

#include <ATen/Parallel.h>

namespace bert_embed {
namespace {

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
// without it. oneDNN reads the capacity once, at its first primitive, so this
// runs before a module is loaded; a capacity the user set is kept.
void limit_onednn_primitive_cache(DType dtype) {
  if (std::getenv("ONEDNN_PRIMITIVE_CACHE_CAPACITY") == nullptr &&
      std::getenv("DNNL_PRIMITIVE_CACHE_CAPACITY") == nullptr) {
    setenv("ONEDNN_PRIMITIVE_CACHE_CAPACITY", dtype == DType::kBFloat16 ? "128" : "0", /*overwrite=*/0);
  }
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

}  // namespace

void apply_runtime_settings(const RuntimeSettings& settings) {
  set_threads(settings.threads);
  limit_onednn_primitive_cache(settings.dtype);
  keep_large_blocks_in_heap();
}

// The encoder's temporaries, of ever-changing shapes, fragment glibc's heap,
// and it keeps the free pages: peak RSS creeps up with the input (bert-base
// bfloat16, trimmed once per 4096-line window of bert-embed: 767 MiB at
// 10,000 lines, 1,032 MiB at 100,000). Handing them back after every batch
// keeps it flat (641 MiB at 12,000 and at 30,000 lines) for 3-4% of the
// throughput.
void release_free_heap_pages() {
#ifdef __GLIBC__
  malloc_trim(0);
#endif
}

}  // namespace bert_embed
