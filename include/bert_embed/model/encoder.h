// The encoder stage: runs a bundle's TorchScript module on a padded batch and
// returns the hidden states of the layers asked for.
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include <ATen/ATen.h>

#include "bert_embed/enum_names.h"
#include "bert_embed/model/bundle.h"
#include "bert_embed/text/tokenizer.h"

namespace bert_embed {

// The precision the model computes in. Outputs are float32 whatever it is.
// float16 needs CUDA; int8 (dynamically quantized Linear layers, from
// model.int8.pt) runs on CPU only.
enum class DType { kFloat32, kBFloat16, kFloat16, kInt8 };

inline constexpr EnumNames<DType, 4> kDTypeNames{{{"float32", DType::kFloat32},
                                                  {"bfloat16", DType::kBFloat16},
                                                  {"float16", DType::kFloat16},
                                                  {"int8", DType::kInt8}}};
inline DType parse_dtype(std::string_view name) { return parse_name(kDTypeNames, name, "dtype"); }
inline std::string to_string(DType dtype) { return std::string(name_of(kDTypeNames, dtype)); }

struct EncoderOptions {
  std::string device = "cpu";  // "cpu", "cuda" or "cuda:N"
  DType dtype = DType::kFloat32;
};

// int64 [batch, seq] tensors, padded on the right.
struct ModelInput {
  at::Tensor input_ids;
  at::Tensor attention_mask;  // 1 for real tokens, 0 for padding
  at::Tensor token_type_ids;
};

// Pads every encoding (non-null) to the longest with pad_id, mask 0 and type 0.
ModelInput make_model_input(const std::vector<const Encoding*>& batch, std::int64_t pad_id);

// Fresh tensors of their own: later stages may update them in place.
struct EncoderOutput {
  at::Tensor hidden;  // float32, CPU, [layers.size(), batch, seq, hidden]
  at::Tensor pooler;  // float32, CPU, [batch, hidden]; undefined unless asked for
};

class Encoder {
 public:
  // Loads bundle_dir/model.pt (model.int8.pt for DType::kInt8) and checks it
  // against bundle.json. Before loading, verifies the sha256 of the model and
  // of the tokenizer files (bundle_files.h) and refuses operators outside the
  // encoder's allow-list (module_check.h). Throws std::invalid_argument for
  // bad options and std::runtime_error (one line, naming the file) for a
  // missing, modified, corrupt, inconsistent or refused bundle. Process-wide settings (threads, caches) are the
  // command's: see runtime.h. encode() hands free heap pages back to the
  // system after every batch.
  Encoder(const std::filesystem::path& bundle_dir, const EncoderOptions& options);
  ~Encoder();
  Encoder(const Encoder&) = delete;
  Encoder& operator=(const Encoder&) = delete;

  const BundleInfo& info() const;

  // layers are hidden-state indices in [0, num_layers]; 0 is the embedding
  // output. Padding never changes a real token's vector. want_pooler throws
  // when the bundle has no pooler.
  EncoderOutput encode(const ModelInput& input, const std::vector<int>& layers,
                       bool want_pooler = false) const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace bert_embed
