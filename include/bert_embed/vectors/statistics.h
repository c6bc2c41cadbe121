// Sufficient statistics of vectors for fitting post-processing: per slot (a
// layer kept apart), the number of vectors, their sum and the sum of their
// outer products, in float64, and each dimension's range (the smallest and
// largest value: what int8 quantization calibrates on). Statistics of separate shards merge exactly,
// so vectors can be counted chunk by chunk, or on separate machines, and
// fitted once. Whitening, removal of top directions and standardization are
// affine maps, so the moments after each follow from these alone.
//
// The sums are taken about a shift, the mean of the first vectors added:
// BERT vectors have dimensions whose mean is tens of times their standard
// deviation, and a covariance computed from sums about zero loses the square
// of that ratio in precision (it moved full whitening of 256-dim vectors
// offset by 20 deviations by 6e-5; with the shift, every float32 output
// equals that of a fit on the centred vectors held in memory).
#pragma once

#include <ATen/ATen.h>

#include <cstdint>

namespace bert_embed {

class VectorStatistics {
 public:
  // No vectors of no shape; add() and merge() refuse it.
  VectorStatistics() = default;
  VectorStatistics(std::int64_t slots, std::int64_t dim);
  // From saved moments: shift and sum float64 [slots, dim], outer float64
  // [slots, dim, dim], and the range, minimum and maximum float64
  // [slots, dim], or both undefined when it is not known (has_range() is then
  // false); std::invalid_argument when they do not fit together.
  VectorStatistics(std::int64_t count, at::Tensor shift, at::Tensor sum, at::Tensor outer,
                   at::Tensor minimum = {}, at::Tensor maximum = {});

  // rows: float32 [n, slots, dim] of the shape given at construction.
  // std::runtime_error when a value is NaN or infinite (nothing is added).
  void add(const at::Tensor& rows);
  // Adds the vectors counted in `other` (same slots and dim): the result is
  // that of add() on both sets, up to the rounding of one addition (the range
  // exactly; unknown when either's is).
  void merge(const VectorStatistics& other);

  std::int64_t count() const { return count_; }
  std::int64_t slots() const { return slots_; }
  std::int64_t dim() const { return dim_; }
  const at::Tensor& shift() const { return shift_; }  // float64 [slots, dim]
  const at::Tensor& sum() const { return sum_; }      // float64 [slots, dim]: sum of x - shift
  // float64 [slots, dim, dim]: sum of (x - shift)^T (x - shift)
  const at::Tensor& outer() const { return outer_; }

  // Whether minimum() and maximum() are known: statistics saved without them
  // (by hand, or before they were kept) do not have them.
  bool has_range() const { return minimum_.defined(); }
  // float64 [slots, dim]: the smallest and largest value of each dimension
  // (+inf and -inf before any vector).
  const at::Tensor& minimum() const { return minimum_; }
  const at::Tensor& maximum() const { return maximum_; }

  // float64 [slots, dim]; needs count() >= 1.
  at::Tensor mean() const;
  // Sample covariance (divided by n - 1), float64 [slots, dim, dim]; needs
  // count() >= 2.
  at::Tensor covariance() const;

 private:
  void check_shape(std::int64_t slots, std::int64_t dim, const char* what) const;

  std::int64_t count_ = 0;
  std::int64_t slots_ = 0;
  std::int64_t dim_ = 0;
  at::Tensor shift_;
  at::Tensor sum_;
  at::Tensor outer_;
  at::Tensor minimum_;
  at::Tensor maximum_;
};

}  // namespace bert_embed
