// Post-processing of vectors, in this fixed order: whitening, removal of top
// principal directions, standardization, L2 normalization. The statistics of
// the first three are fitted on data or read from a file.
#pragma once

#include <ATen/ATen.h>

#include <cstdint>
#include <filesystem>
#include <string>

namespace bert_embed {

struct PostProcessOptions {
  int whiten_components = 0;  // --whiten K; 0: off
  int remove_top = 0;         // --remove-top D; 0: off
  bool standardize = false;
  bool l2_normalize = false;
};

// Statistics are fitted in float64, per slot (a layer kept apart), each
// transform on the output of the one before:
// - whitening (BERT-whitening, Su et al. 2021): mu = mean, C = sample
//   covariance (n - 1) of x - mu, C = U S U^T, W = U[:, :K] / sqrt(S[:K]),
//   y = (x - mu) W; the whitened training vectors have identity covariance.
// - removal of the top D directions (all-but-the-top, Mu & Viswanath 2018):
//   centre, then subtract the projections on the top D principal directions.
// - standardization: z-score per dimension with the population variance; a
//   dimension without variance (below 1e-10 of the largest RMS of the slot)
//   is only centred.
// - L2 normalization; a zero vector stays zero.
// apply() transforms each vector on its own, with a fixed order of
// operations, so a vector's result does not depend on the rows around it:
// statistics loaded from a file reproduce the fitting run bit for bit.
class PostProcessor {
 public:
  explicit PostProcessor(const PostProcessOptions& options);

  // Before any vector exists: throws std::invalid_argument when the options
  // cannot apply to vectors `dim` wide.
  void check_dimensions(std::int64_t dim) const;

  // True when a fitted transform (whitening, removal, standardization) is on.
  bool needs_statistics() const;
  bool fitted() const { return slots_ > 0; }

  // rows: float32 [n, slots, dim] with n >= 2 (std::runtime_error otherwise).
  // Does nothing when no fitted transform is on.
  void fit(const at::Tensor& rows);
  // rows: float32 [n, slots, dim] -> float32 [n, slots, dim'], where dim' is
  // K after whitening; slots and dim must be those fitted.
  at::Tensor apply(const at::Tensor& rows) const;

  // A JSON file: the transforms with their parameters and, for each, its
  // float64 arrays as {"dtype": "<f8", "shape": [...], "base64": ...} (raw
  // little-endian bytes, so that values round-trip exactly). Written to a
  // temporary file and renamed, like every output.
  void save(const std::filesystem::path& file) const;
  // Reads statistics written by save(); the file's transforms must match the
  // options. Errors name the file.
  void load(const std::filesystem::path& file);

 private:
  void check_input(const at::Tensor& rows, const char* what) const;

  PostProcessOptions options_;
  std::string source_;  // where the statistics come from, for error messages
  std::int64_t fitted_rows_ = 0;
  std::int64_t slots_ = 0;  // 0 until fitted or loaded
  std::int64_t dim_ = 0;
  // float64, contiguous; undefined when their transform is off.
  at::Tensor whiten_mean_;        // [slots, dim]
  at::Tensor whiten_matrix_;      // [slots, dim, K]
  at::Tensor remove_mean_;        // [slots, dim1], dim1 = K when whitening, else dim
  at::Tensor remove_directions_;  // [slots, D, dim1], orthonormal rows
  at::Tensor standardize_mean_;   // [slots, dim1]
  at::Tensor standardize_scale_;  // [slots, dim1]
};

}  // namespace bert_embed
