#include "bert_embed/model/encoder.h"

#include "bert_embed/model/attention_fusion.h"
#include "bert_embed/model/bundle_files.h"
#include "bert_embed/model/module_check.h"
#include "bert_embed/model/runtime.h"
#include "model/export_command.h"
#include "model/torch_error.h"

#include <algorithm>
#include <charconv>
#include <chrono>
#include <stdexcept>
#include <tuple>
#include <utility>

#include <ATen/detail/CUDAHooksInterface.h>
#include <spdlog/spdlog.h>
#include <torch/cuda.h>
#include <torch/script.h>

namespace bert_embed {
namespace {

namespace fs = std::filesystem;

std::string shape_string(at::IntArrayRef shape) {
  std::string text = "[";
  for (std::size_t i = 0; i < shape.size(); ++i) {
    text += (i == 0 ? "" : ", ") + std::to_string(shape[i]);
  }
  return text + "]";
}

int parse_cuda_index(const std::string& spec) {
  const std::string_view digits = std::string_view(spec).substr(std::string_view("cuda:").size());
  int index = -1;
  const auto [end, error] = std::from_chars(digits.data(), digits.data() + digits.size(), index);
  if (digits.empty() || error != std::errc() || end != digits.data() + digits.size() || index < 0) {
    throw std::invalid_argument("device '" + spec + "': expected cpu, cuda or cuda:N");
  }
  return index;
}

torch::Device parse_device(const std::string& spec) {
  if (spec == "cpu") return torch::Device(torch::kCPU);
  int index = 0;
  if (spec.rfind("cuda:", 0) == 0) {
    index = parse_cuda_index(spec);
  } else if (spec != "cuda") {
    throw std::invalid_argument("device '" + spec + "': expected cpu, cuda or cuda:N");
  }
  // The CUDA hooks are registered only when libtorch_cuda is linked in, which
  // tells "no CUDA build" apart from "no GPU" without CUDA headers.
  if (!at::CUDAHooksRegistry()->Has("CUDAHooks")) {
    throw std::invalid_argument("CUDA requested (device '" + spec +
                                "') but this build has no CUDA support; use the cpu device");
  }
  const std::size_t device_count = torch::cuda::device_count();
  if (static_cast<std::size_t>(index) >= device_count) {
    throw std::invalid_argument("CUDA requested (device '" + spec + "') but there is no device " +
                                std::to_string(index) + " (" + std::to_string(device_count) +
                                " visible)");
  }
  return torch::Device(torch::kCUDA, static_cast<c10::DeviceIndex>(index));
}

void check_dtype_on_device(DType dtype, const torch::Device& device) {
  if (dtype == DType::kFloat16 && device.is_cpu()) {
    throw std::invalid_argument(
        "dtype float16 needs a CUDA device (libtorch has no float16 matrix products on CPU); "
        "use bfloat16 or float32 on CPU");
  }
  if (dtype == DType::kInt8 && !device.is_cpu()) {
    throw std::invalid_argument("dtype int8 runs on CPU only (dynamic quantization has no CUDA kernels)");
  }
}

fs::path model_file(const BundleInfo& info, DType dtype) {
  if (dtype != DType::kInt8) return info.dir / "model.pt";
  if (!info.has_int8_model) {
    throw std::runtime_error("bundle " + info.dir.string() + " has no int8 model (" +
                             (info.dir / "bundle.json").string() +
                             ": int8_model is false); re-export it with " + std::string(kInt8ExportUsage));
  }
  return info.dir / "model.int8.pt";
}

// The files a run uses: the model of its dtype and the tokenizer files,
// verified here whoever reads them (1 ms for bert-base's).
void verify_used_files(const BundleInfo& info, const fs::path& model) {
  verify_bundle_file(info, model.filename().string());
  verify_tokenizer_files(info);
}

// The file's hash has matched and its operators passed the allow-list.
torch::jit::Module load_module(const fs::path& file, const torch::Device& device) {
  try {
    return torch::jit::load(file.string(), device);
  } catch (const std::exception& error) {
    throw std::runtime_error(file.string() + ": not a loadable TorchScript module (" + torch_error_summary(error) +
                             "); re-export the bundle with " + std::string(kExportUsage));
  }
}

at::Tensor word_embedding_weight(const torch::jit::Module& module, const fs::path& file) {
  constexpr std::string_view kSuffix = "word_embeddings.weight";
  for (const auto& parameter : module.named_parameters(/*recurse=*/true)) {
    const std::string_view name = parameter.name;
    if (name.size() >= kSuffix.size() && name.substr(name.size() - kSuffix.size()) == kSuffix) {
      return parameter.value;
    }
  }
  throw std::runtime_error(file.string() + ": no parameter named *" + std::string(kSuffix) +
                           "; not a bert-embed model");
}

std::runtime_error disagreement(const BundleInfo& info, const fs::path& file, const std::string& field,
                                const std::string& declared, const std::string& what_module_has) {
  return std::runtime_error((info.dir / "bundle.json").string() + " gives " + field + " " + declared +
                            " but " + file.string() + " " + what_module_has +
                            "; the bundle is inconsistent, re-export it");
}

void check_embedding_matches(const BundleInfo& info, const torch::jit::Module& module, const fs::path& file) {
  const at::Tensor weight = word_embedding_weight(module, file);
  if (weight.dim() != 2) {
    throw std::runtime_error(file.string() + ": word embedding weight has shape " +
                             shape_string(weight.sizes()) + ", expected [vocab, width]");
  }
  if (weight.size(0) != info.vocab_size) {
    throw disagreement(info, file, "vocab_size", std::to_string(info.vocab_size),
                       "has " + std::to_string(weight.size(0)) + " word embedding rows");
  }
  // ALBERT and ELECTRA embed below the hidden size and project up.
  const bool factorized = info.embedding_size != info.hidden_size;
  const int declared_width = factorized ? info.embedding_size : info.hidden_size;
  if (weight.size(1) != declared_width) {
    throw disagreement(info, file, factorized ? "embedding_size" : "hidden_size", std::to_string(declared_width),
                       "has word embeddings " + std::to_string(weight.size(1)) + " wide");
  }
}

ModelInput probe_input() {
  const Encoding probe{{0, 0}, {0, 0}, {}, {}, false};
  return make_model_input({&probe}, 0);
}

// Both methods return (hidden, pooler).
std::pair<at::Tensor, at::Tensor> run_method(torch::jit::Module& module, const std::string& method,
                                             std::vector<c10::IValue> arguments, const fs::path& file) {
  try {
    const c10::IValue result = module.get_method(method)(std::move(arguments));
    const auto& elements = result.toTupleRef().elements();
    TORCH_CHECK(elements.size() == 2, "returned a tuple of ", elements.size(), " values, expected 2");
    return {elements[0].toTensor(), elements[1].toTensor()};
  } catch (const std::exception& error) {
    throw std::runtime_error(file.string() + ": " + method + "() failed: " + torch_error_summary(error));
  }
}

// forward() returns every hidden state, so one tiny batch shows how many
// layers the module has, how wide they are and whether it has a pooler.
void check_outputs_match(const BundleInfo& info, torch::jit::Module& module, const fs::path& file,
                         const torch::Device& device) {
  const ModelInput probe = probe_input();
  const auto [hidden, pooler] = run_method(
      module, "forward",
      {probe.input_ids.to(device), probe.attention_mask.to(device), probe.token_type_ids.to(device)}, file);
  if (hidden.dim() != 4) {
    throw std::runtime_error(file.string() + ": forward() returned hidden states of shape " +
                             shape_string(hidden.sizes()) + ", expected [layers + 1, batch, seq, hidden]");
  }
  if (hidden.size(0) != info.num_layers + 1) {
    throw disagreement(info, file, "num_layers", std::to_string(info.num_layers),
                       "has " + std::to_string(hidden.size(0) - 1) + " layers");
  }
  if (hidden.size(3) != info.hidden_size) {
    throw disagreement(info, file, "hidden_size", std::to_string(info.hidden_size),
                       "returns hidden states " + std::to_string(hidden.size(3)) + " wide");
  }
  const bool module_has_pooler = pooler.numel() > 0;
  if (module_has_pooler != info.has_pooler) {
    throw disagreement(info, file, "has_pooler", info.has_pooler ? "true" : "false",
                       module_has_pooler ? "has a pooler" : "has no pooler");
  }
}

at::ScalarType compute_type(DType dtype) {
  switch (dtype) {
    case DType::kBFloat16:
      return at::kBFloat16;
    case DType::kFloat16:
      return at::kHalf;
    case DType::kFloat32:
    case DType::kInt8:
      break;
  }
  return at::kFloat;
}

// Module::to (unlike Python's) casts integer buffers such as position ids too.
void cast_floating_state(torch::jit::Module& module, at::ScalarType type) {
  const auto cast = [type](at::Tensor tensor) {
    if (tensor.is_floating_point()) tensor.set_data(tensor.to(type));
  };
  for (const at::Tensor& parameter : module.parameters()) cast(parameter);
  for (const at::Tensor& buffer : module.buffers()) cast(buffer);
}

// Freezing inlines the weights and submodules into the methods: outputs are
// bit-identical and the first call is faster (bert-base: 0.28 s instead of
// 0.40 s), later calls as fast or faster. freeze keeps only forward() unless
// other methods are named. optimize_for_inference is not applied: within 1e-6
// too, but bert-base ran 10-15% slower on CPU and took 1-2 s more to load.
torch::jit::Module freeze(const torch::jit::Module& module, const fs::path& file) {
  try {
    return torch::jit::freeze(module, std::vector<std::string>{"encode"});
  } catch (const std::exception& error) {
    throw std::runtime_error(file.string() + ": cannot freeze the TorchScript module: " + torch_error_summary(error));
  }
}

// Called outside InferenceMode on purpose: the copy is a normal tensor that
// later stages may update in place, which inference tensors forbid.
at::Tensor to_output(const at::Tensor& tensor) {
  return tensor.to(at::kCPU, at::kFloat, /*non_blocking=*/false, /*copy=*/true);
}

void check_input(const ModelInput& input, int max_positions) {
  const at::Tensor* tensors[] = {&input.input_ids, &input.attention_mask, &input.token_type_ids};
  for (const at::Tensor* tensor : tensors) {
    if (!tensor->defined() || tensor->dim() != 2 || tensor->scalar_type() != at::kLong ||
        tensor->sizes() != input.input_ids.sizes()) {
      throw std::invalid_argument("model input must be three int64 [batch, seq] tensors of one shape");
    }
  }
  if (input.input_ids.numel() == 0) throw std::invalid_argument("model input is empty");
  if (input.input_ids.size(1) > max_positions) {
    throw std::invalid_argument("model input has " + std::to_string(input.input_ids.size(1)) +
                                " tokens per row but the model has " + std::to_string(max_positions) +
                                " positions");
  }
}

void check_layers(const std::vector<int>& layers, const BundleInfo& info) {
  if (layers.empty()) throw std::invalid_argument("no layers asked for");
  for (int layer : layers) {
    if (layer < 0 || layer > info.num_layers) {
      throw std::out_of_range("layer " + std::to_string(layer) + " out of range: bundle " +
                              info.dir.string() + " has hidden states 0.." + std::to_string(info.num_layers));
    }
  }
}

}  // namespace

ModelInput make_model_input(const std::vector<const Encoding*>& batch, std::int64_t pad_id) {
  if (batch.empty()) throw std::invalid_argument("make_model_input: empty batch");
  std::size_t seq = 0;
  for (const Encoding* encoding : batch) {
    if (encoding->type_ids.size() != encoding->ids.size()) {
      throw std::invalid_argument("make_model_input: an encoding has " + std::to_string(encoding->ids.size()) +
                                  " ids but " + std::to_string(encoding->type_ids.size()) + " type ids");
    }
    seq = std::max(seq, encoding->size());
  }
  const auto rows = static_cast<std::int64_t>(batch.size());
  const auto columns = static_cast<std::int64_t>(seq);
  ModelInput input{at::full({rows, columns}, pad_id, at::kLong), at::zeros({rows, columns}, at::kLong),
                   at::zeros({rows, columns}, at::kLong)};
  for (std::int64_t row = 0; row < rows; ++row) {
    const Encoding& encoding = *batch[row];
    const std::int64_t offset = row * columns;
    std::copy(encoding.ids.begin(), encoding.ids.end(), input.input_ids.data_ptr<std::int64_t>() + offset);
    std::copy(encoding.type_ids.begin(), encoding.type_ids.end(),
              input.token_type_ids.data_ptr<std::int64_t>() + offset);
    std::fill_n(input.attention_mask.data_ptr<std::int64_t>() + offset, encoding.size(), 1);
  }
  return input;
}

struct Encoder::Impl {
  BundleInfo info;
  fs::path file;
  torch::Device device;
  torch::jit::Module module;
};

Encoder::Encoder(const fs::path& bundle_dir, const EncoderOptions& options) {
  const torch::Device device = parse_device(options.device);
  check_dtype_on_device(options.dtype, device);

  BundleInfo info = read_bundle_info(bundle_dir);
  const fs::path file = model_file(info, options.dtype);
  // Hashes first, so that a modified file never reaches the TorchScript
  // parser. bert-base (model.pt 438 MB), one core of this 2-core machine:
  // hashes 0.30 s (SHA-NI), operator check 0.02 s, load 0.26 s, ready 0.72 s.
  // Hashing beside the load saved 0.03 s: both read the file from memory and
  // slowed each other to 0.6 s.
  const auto started = std::chrono::steady_clock::now();
  const auto seconds_since_start = [started] {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  };
  verify_used_files(info, file);
  const double verified_after = seconds_since_start();
  check_module_operators(file);
  const double checked_after = seconds_since_start();
  torch::jit::Module module = load_module(file, device);
  const double loaded_after = seconds_since_start();
  check_embedding_matches(info, module, file);

  module.eval();
  cast_floating_state(module, compute_type(options.dtype));
  module = freeze(module, file);
  // Rewritten before the first run, which compiles each method's graph once.
  const int fused_attention = fuse_attention(module);
  c10::InferenceMode guard;
  check_outputs_match(info, module, file, device);
  spdlog::debug("{}: sha256 of the files verified after {:.3f} s, operators checked after {:.3f} s, loaded after "
                "{:.3f} s, ready after {:.3f} s; {} attention subgraphs fused",
                file.string(), verified_after, checked_after, loaded_after, seconds_since_start(),
                fused_attention);
  impl_ = std::make_unique<Impl>(Impl{std::move(info), file, device, std::move(module)});
}

Encoder::~Encoder() = default;

const BundleInfo& Encoder::info() const { return impl_->info; }

EncoderOutput Encoder::encode(const ModelInput& input, const std::vector<int>& layers, bool want_pooler) const {
  const BundleInfo& info = impl_->info;
  check_input(input, info.max_positions);
  check_layers(layers, info);
  if (want_pooler && !info.has_pooler) {
    throw std::invalid_argument("bundle " + info.dir.string() +
                                " has no pooler (its checkpoint had none); choose another pooling");
  }

  at::Tensor hidden;
  at::Tensor pooler;
  {
    c10::InferenceMode guard;
    const torch::Device& device = impl_->device;
    std::tie(hidden, pooler) = run_method(
        impl_->module, "encode",
        {input.input_ids.to(device), input.attention_mask.to(device), input.token_type_ids.to(device),
         c10::List<std::int64_t>(std::vector<std::int64_t>(layers.begin(), layers.end())), want_pooler},
        impl_->file);
  }
  const std::vector<std::int64_t> expected{static_cast<std::int64_t>(layers.size()), input.input_ids.size(0),
                                           input.input_ids.size(1), info.hidden_size};
  if (hidden.sizes() != at::IntArrayRef(expected)) {
    throw std::runtime_error(impl_->file.string() + ": encode() returned hidden states of shape " +
                             shape_string(hidden.sizes()) + ", expected " + shape_string(expected));
  }
  EncoderOutput output{to_output(hidden), want_pooler ? to_output(pooler) : at::Tensor()};
  release_free_heap_pages();
  return output;
}

}  // namespace bert_embed
