// Post-processing of vectors, in this fixed order: whitening, removal of top
// principal directions, standardization, L2 normalization. The first three
// are fitted from the sufficient statistics of the raw vectors
// (VectorStatistics), counted in one pass or merged from shards, or read
// from a statistics file.
#pragma once

#include <ATen/ATen.h>

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "bert_embed/io/manifest.h"
#include "bert_embed/io/output_set.h"
#include "bert_embed/vectors/statistics.h"

namespace bert_embed {

struct PostProcessOptions {
  int whiten_components = 0;  // --whiten K; 0: off
  int remove_top = 0;         // --remove-top D; 0: off
  bool standardize = false;
  bool l2_normalize = false;
};

// The transforms that are on, as manifests record them:
// "whiten:256,remove-top:2,standardize,normalize:l2", or "none".
std::string postprocess_label(const PostProcessOptions& options);
// The options a label names; std::invalid_argument unless it is a label
// postprocess_label() writes.
PostProcessOptions parse_postprocess_label(const std::string& label);
// The fitted transforms a statistics file holds (its "postprocess");
// std::runtime_error naming the file when it is no statistics file.
PostProcessOptions statistics_file_options(const std::filesystem::path& file);

// Statistics are fitted in float64, per slot (a layer kept apart), each
// transform on the output of the one before, whose mean and covariance follow
// exactly from the raw vectors' (mean' = (mean - mu) A, cov' = A^T cov A):
// - whitening (BERT-whitening, Su et al. 2021): mu = mean, C = sample
//   covariance (n - 1) of x - mu, C = U S U^T, W = U[:, :K] / sqrt(S[:K]),
//   y = (x - mu) W; the whitened training vectors have identity covariance.
// - removal of the top D directions (all-but-the-top, Mu & Viswanath 2018):
//   centre, then subtract the projections on the top D principal directions.
// - standardization: z-score per dimension with the population variance; a
//   dimension without variance (below 1e-10 of the largest RMS of the slot)
//   is only centred.
// - L2 normalization; a zero vector stays zero.
// Each principal direction's sign is fixed (its largest component is
// positive), so that fits of nearly equal statistics agree.
// apply() transforms each vector on its own, with a fixed order of
// operations, so a vector's result does not depend on the rows around it:
// statistics loaded from a file reproduce the fitting run bit for bit.
class PostProcessor {
 public:
  explicit PostProcessor(const PostProcessOptions& options);

  // True when a fitted transform (whitening, removal, standardization) is on.
  bool needs_statistics() const;
  bool fitted() const { return slots_ > 0; }

  // Before any vector is computed: std::invalid_argument unless the options
  // fit vectors of width `dim` (whiten K <= dim; remove-top D below the width
  // it works on, K or dim).
  void check_dimensions(std::int64_t dim) const;
  // The width of the output for vectors of width `dim`: K with whitening.
  std::int64_t output_dim(std::int64_t dim) const;

  // Fits the transforms from the statistics of the raw vectors; when no
  // fitted transform is on, only keeps the statistics (for save()). std::invalid_argument as
  // check_dimensions(); std::runtime_error when the vectors are too few
  // (whiten K needs K + 1, remove-top D needs D + 2, anything 2) or span too
  // few directions.
  void fit(const VectorStatistics& statistics);
  // The same from rows float32 [n, slots, dim] held in memory.
  void fit(const at::Tensor& rows);
  // rows: float32 [n, slots, dim] -> float32 [n, slots, dim'], where dim' is
  // K after whitening; slots and dim must be those fitted.
  at::Tensor apply(const at::Tensor& rows) const;

  // The moments the transforms were fitted from (fitted or loaded), to be
  // merged with other shards' and fitted again.
  const VectorStatistics& statistics() const { return statistics_; }

  // A statistics file: FILE is a JSON manifest (kind "statistics", `source`
  // the vectors counted, `postprocess` the fitted transforms, "none" when
  // only the moments were counted, `rows` the number of vectors, `files` the
  // arrays), and beside it float64 NPY arrays that numpy.load reads, named
  // after FILE without ".json": the moments (VectorStatistics) STEM.shift.npy
  // and STEM.sum.npy [slots, dim], STEM.outer.npy [slots, dim, dim] (mean =
  // shift + sum / rows), the range STEM.min.npy and STEM.max.npy [slots, dim]
  // (optional when loading), then the
  // fitted transforms: STEM.whiten-mean.npy [slots, dim],
  // STEM.whiten-matrix.npy [slots, dim, K], STEM.remove-top-mean.npy
  // [slots, w], STEM.remove-top-directions.npy [slots, D, w],
  // STEM.standardize-mean.npy [slots, w], STEM.standardize-scale.npy
  // [slots, w], where w is K with whitening, else dim. The arrays are
  // added to `outputs`, which commits them with the run's other files, the
  // manifest last. `source` must describe the fitted vectors (slots, dim).
  // `input`, when known, says which texts the statistics were fitted on.
  void save(OutputSet& outputs, const std::filesystem::path& file, const VectorSource& source,
            const InputDescription& input = {}) const;
  // The same in a set of its own, committed at once.
  void save(const std::filesystem::path& file, const VectorSource& source) const;
  // Reads statistics written by save(). Refused, naming the file: a manifest
  // over 1 MiB or of another kind, transforms other than the options'
  // (L2 normalization aside), vectors of another source than `expected`
  // (naming each difference; `expected_name` names the vectors, as "this run"
  // or "vectors.npy"), an array that is missing, not a regular file, of
  // another dtype or shape, truncated, or holding NaN or infinity.
  void load(const std::filesystem::path& file, const VectorSource& expected,
            const std::string& expected_name = "this run");

 private:
  void check_input(const at::Tensor& rows, const char* what) const;

  // A fitted transform's array in a statistics file: STEM.<role>.npy.
  struct FittedArray {
    const char* role;
    at::Tensor PostProcessor::*member;
    std::vector<std::int64_t> shape;
  };
  // Those of the transforms that are on, in the order they run.
  std::vector<FittedArray> fitted_arrays() const;

  PostProcessOptions options_;
  std::string source_;  // where the statistics come from, for error messages
  VectorStatistics statistics_;
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
