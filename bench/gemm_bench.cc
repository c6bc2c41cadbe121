// gemm_bench [--threads N] [--dtype float32|bfloat16|int8|onednn-float32]
//
// Times libtorch's product of a 1024x768 activation by a 768x3072 weight (the
// shape of a BERT-base feed-forward layer on a 1024-token batch) and prints one
// JSON line with the median over the timed runs. The BLAS kernels are the ones
// bert-embed runs (use_fastest_blas_kernels, as its main does). int8 runs the
// operator that dynamically quantized Linear layers (model.int8.pt) call:
// quantized::linear_dynamic, with float activations and int8 weights packed by
// quantized::linear_prepack for the current quantized engine. onednn-float32
// calls oneDNN's dnnl_sgemm (libtorch's oneDNN) for the same product: the
// other float32 kernel available here.
#include <algorithm>
#include <charconv>
#include <chrono>
#include <cstdio>
#include <functional>
#include <iostream>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <ATen/core/dispatch/Dispatcher.h>
#include <ATen/core/stack.h>
#include <dlfcn.h>

#include "bert_embed/model/runtime.h"

namespace {

constexpr std::int64_t kRows = 1024;
constexpr std::int64_t kInner = 768;
constexpr std::int64_t kColumns = 3072;
constexpr int kWarmupRuns = 3;
constexpr int kTimedRuns = 15;

struct Options {
  int threads = 0;  // 0: all cores
  std::string dtype = "float32";
};

Options parse_options(int argc, char** argv) {
  Options options;
  for (int i = 1; i < argc; ++i) {
    const std::string flag = argv[i];
    if (i + 1 >= argc || (flag != "--threads" && flag != "--dtype")) {
      throw std::invalid_argument("usage: gemm_bench [--threads N] [--dtype float32|bfloat16|int8|onednn-float32]");
    }
    const std::string value = argv[++i];
    if (flag == "--threads") {
      const auto [end, error] = std::from_chars(value.data(), value.data() + value.size(), options.threads);
      if (error != std::errc() || end != value.data() + value.size() || options.threads < 0) {
        throw std::invalid_argument("--threads: expected a count >= 0, got '" + value + "'");
      }
    } else {
      options.dtype = value;
    }
  }
  return options;
}

c10::IValue call_quantized_op(const char* name, std::vector<c10::IValue> arguments) {
  const c10::OperatorHandle op = c10::Dispatcher::singleton().findSchemaOrThrow(name, "");
  torch::jit::Stack stack(std::move(arguments));
  op.callBoxed(&stack);
  return stack.at(0);
}

// Returns the product to time; its inputs live in the closure.
std::function<at::Tensor()> make_product(const std::string& dtype) {
  const at::Tensor activations = at::randn({kRows, kInner});
  const at::Tensor weight = at::randn({kColumns, kInner});  // Linear layout: [out, in]
  if (dtype == "float32" || dtype == "bfloat16") {
    const at::ScalarType type = dtype == "float32" ? at::kFloat : at::kBFloat16;
    const at::Tensor left = activations.to(type);
    const at::Tensor right = weight.t().to(type);
    return [left, right] { return at::matmul(left, right); };
  }
  if (dtype == "onednn-float32") {
    // dnnl_status_t dnnl_sgemm(char transa, char transb, dnnl_dim_t M, N, K, float alpha, const float* A,
    // dnnl_dim_t lda, const float* B, dnnl_dim_t ldb, float beta, float* C, dnnl_dim_t ldc): row-major.
    using Sgemm = int(char, char, std::int64_t, std::int64_t, std::int64_t, float, const float*, std::int64_t,
                      const float*, std::int64_t, float, float*, std::int64_t);
    const auto sgemm = reinterpret_cast<Sgemm*>(dlsym(RTLD_DEFAULT, "dnnl_sgemm"));
    if (sgemm == nullptr) throw std::invalid_argument("--dtype onednn-float32: oneDNN is not loaded");
    const at::Tensor right = weight.t().contiguous();
    return [sgemm, activations, right] {
      at::Tensor product = at::empty({kRows, kColumns});
      sgemm('N', 'N', kRows, kColumns, kInner, 1.0f, activations.data_ptr<float>(), kInner, right.data_ptr<float>(),
            kColumns, 0.0f, product.data_ptr<float>(), kColumns);
      return product;
    };
  }
  if (dtype == "int8") {
    const double scale = weight.abs().max().item<double>() / 127.0;
    const at::Tensor quantized_weight = at::quantize_per_tensor(weight, scale, 0, at::kQInt8);
    const c10::IValue packed =
        call_quantized_op("quantized::linear_prepack", {quantized_weight, c10::optional<at::Tensor>()});
    return [activations, packed] {
      return call_quantized_op("quantized::linear_dynamic", {activations, packed, false}).toTensor();
    };
  }
  throw std::invalid_argument("--dtype: expected float32, bfloat16, int8 or onednn-float32, got '" + dtype + "'");
}

}  // namespace

int main(int argc, char** argv) {
  bert_embed::use_fastest_blas_kernels();
  try {
    const Options options = parse_options(argc, argv);
    const int threads =
        options.threads > 0 ? options.threads : static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
    at::set_num_threads(threads);
    at::manual_seed(0);
    const std::function<at::Tensor()> product = make_product(options.dtype);

    for (int run = 0; run < kWarmupRuns; ++run) product();
    std::vector<double> seconds;
    for (int run = 0; run < kTimedRuns; ++run) {
      const auto start = std::chrono::steady_clock::now();
      product();
      seconds.push_back(std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
    }
    std::nth_element(seconds.begin(), seconds.begin() + kTimedRuns / 2, seconds.end());
    const double median = seconds[kTimedRuns / 2];
    const double flops = 2.0 * kRows * kInner * kColumns;
    std::printf(
        "{\"bench\": \"gemm\", \"dtype\": \"%s\", \"threads\": %d, \"m\": %lld, \"k\": %lld, \"n\": %lld, "
        "\"runs\": %d, \"median_ms\": %.3f, \"gflops\": %.2f, \"blas\": \"%s\"}\n",
        options.dtype.c_str(), threads, static_cast<long long>(kRows), static_cast<long long>(kInner),
        static_cast<long long>(kColumns), kTimedRuns, median * 1e3, flops / median / 1e9,
        bert_embed::blas_kernels().c_str());
    return 0;
  } catch (const std::exception& error) {
    std::cerr << "gemm_bench: " << error.what() << '\n';
    return 1;
  }
}
