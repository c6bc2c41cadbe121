// Post-processing of vectors, in this fixed order: whitening, removal of top
// principal directions, standardization, L2 normalization. The statistics of
// the first three are fitted on data or read from a file.
#pragma once

#include <filesystem>
#include <string_view>

#include <ATen/ATen.h>

namespace bert_embed {

struct PostProcessOptions {
  int whiten_components = 0;  // --whiten K; 0: off
  int remove_top = 0;         // --remove-top D; 0: off
  bool standardize = false;
  bool l2_normalize = false;
};

class PostProcessor {
 public:
  explicit PostProcessor(const PostProcessOptions& options);

  // True when a fitted transform (whitening, removal, standardization) is on.
  bool needs_statistics() const;
  bool fitted() const { return fitted_; }

  // rows: [n, slots, dim]; statistics are fitted per slot (layer kept apart).
  void fit(const at::Tensor& rows);
  at::Tensor apply(const at::Tensor& rows) const;

  void save(const std::filesystem::path& file) const;
  // Reads statistics written by save(); the file's transforms must match the options.
  void load(const std::filesystem::path& file);

 private:
  PostProcessOptions options_;
  bool fitted_ = false;
  at::Tensor mean_;          // [slots, dim] before whitening / removal
  at::Tensor whitening_;     // [slots, dim, k]
  at::Tensor top_directions_;  // [slots, dim, d]
  at::Tensor std_mean_;      // [slots, dim'] for standardization
  at::Tensor std_scale_;     // [slots, dim']
};

}  // namespace bert_embed
