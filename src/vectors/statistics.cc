#include "bert_embed/vectors/statistics.h"

#include <limits>
#include <stdexcept>
#include <string>
#include <utility>

namespace bert_embed {

VectorStatistics::VectorStatistics(std::int64_t slots, std::int64_t dim)
    : slots_(slots),
      dim_(dim),
      shift_(at::zeros({slots, dim}, at::kDouble)),
      sum_(at::zeros({slots, dim}, at::kDouble)),
      outer_(at::zeros({slots, dim, dim}, at::kDouble)),
      minimum_(at::full({slots, dim}, std::numeric_limits<double>::infinity(), at::kDouble)),
      maximum_(at::full({slots, dim}, -std::numeric_limits<double>::infinity(), at::kDouble)) {
  if (slots <= 0 || dim <= 0) {
    throw std::invalid_argument("VectorStatistics: slots and dim must be positive, got " +
                                std::to_string(slots) + " and " + std::to_string(dim));
  }
}

VectorStatistics::VectorStatistics(std::int64_t count, at::Tensor shift, at::Tensor sum,
                                   at::Tensor outer, at::Tensor minimum, at::Tensor maximum)
    : count_(count),
      shift_(std::move(shift)),
      sum_(std::move(sum)),
      outer_(std::move(outer)),
      minimum_(std::move(minimum)),
      maximum_(std::move(maximum)) {
  const auto fits_sum = [this](const at::Tensor& array) {
    return array.scalar_type() == at::kDouble && array.sizes() == sum_.sizes();
  };
  const bool range_fits = minimum_.defined() == maximum_.defined() &&
                          (!minimum_.defined() || (fits_sum(minimum_) && fits_sum(maximum_)));
  if (count < 0 || sum_.scalar_type() != at::kDouble || sum_.dim() != 2 || !fits_sum(shift_) ||
      outer_.scalar_type() != at::kDouble || outer_.dim() != 3 || outer_.size(0) != sum_.size(0) ||
      outer_.size(1) != sum_.size(1) || outer_.size(2) != sum_.size(1) || !range_fits) {
    const auto described = [](const at::Tensor& array) {
      return array.defined() ? c10::str(array.scalar_type(), array.sizes()) : std::string("none");
    };
    throw std::invalid_argument("VectorStatistics: count " + std::to_string(count) + ", shift " +
                                described(shift_) + ", sum " + described(sum_) + ", outer " +
                                described(outer_) + ", minimum " + described(minimum_) +
                                " and maximum " + described(maximum_) +
                                " are not the statistics of one set of vectors");
  }
  slots_ = sum_.size(0);
  dim_ = sum_.size(1);
  shift_ = shift_.contiguous();
  sum_ = sum_.contiguous();
  outer_ = outer_.contiguous();
  if (has_range()) {
    minimum_ = minimum_.contiguous();
    maximum_ = maximum_.contiguous();
  }
}

void VectorStatistics::check_shape(std::int64_t slots, std::int64_t dim, const char* what) const {
  if (slots_ == 0)
    throw std::logic_error(std::string("VectorStatistics::") + what + " without a shape");
  if (slots != slots_ || dim != dim_) {
    throw std::runtime_error("statistics of " + std::to_string(slots_) + " slot(s) of dimension " +
                             std::to_string(dim_) + " cannot take vectors of " +
                             std::to_string(slots) + " slot(s) of dimension " +
                             std::to_string(dim));
  }
}

void VectorStatistics::add(const at::Tensor& rows) {
  if (rows.scalar_type() != at::kFloat || rows.dim() != 3) {
    throw std::invalid_argument("VectorStatistics::add: expected float32 [rows, slots, dim], got " +
                                c10::str(rows.scalar_type(), " ", rows.sizes()));
  }
  check_shape(rows.size(1), rows.size(2), "add");
  if (!at::isfinite(rows).all().item<bool>()) {
    throw std::runtime_error(
        "cannot fit post-processing statistics: the vectors hold NaN or infinity");
  }
  if (rows.size(0) == 0) return;
  const at::Tensor by_slot = rows.to(at::kDouble).transpose(0, 1);  // [slots, n, dim]
  if (count_ == 0) shift_ = by_slot.mean(1);
  const at::Tensor shifted = by_slot - shift_.unsqueeze(1);
  // New tensors rather than in-place updates: copies of this object share
  // their tensors, and must not see each other's additions.
  sum_ = sum_ + shifted.sum(1);
  outer_ = at::baddbmm(outer_, shifted.transpose(1, 2), shifted);
  if (has_range()) {
    minimum_ = at::minimum(minimum_, by_slot.amin(1));
    maximum_ = at::maximum(maximum_, by_slot.amax(1));
  }
  count_ += rows.size(0);
}

void VectorStatistics::merge(const VectorStatistics& other) {
  check_shape(other.slots_, other.dim_, "merge");
  if (other.count_ == 0) return;
  if (count_ == 0) {
    *this = other;
    return;
  }
  if (has_range() && other.has_range()) {
    minimum_ = at::minimum(minimum_, other.minimum_);
    maximum_ = at::maximum(maximum_, other.maximum_);
  } else {
    minimum_ = maximum_ = at::Tensor();
  }
  // The other's sums moved to this shift: x - shift = (x - other.shift) + delta.
  const at::Tensor delta = other.shift_ - shift_;
  const double n = static_cast<double>(other.count_);
  const at::Tensor cross = other.sum_.unsqueeze(2) * delta.unsqueeze(1);
  sum_ = sum_ + other.sum_ + n * delta;
  outer_ = outer_ + other.outer_ + cross + cross.transpose(1, 2) +
           n * delta.unsqueeze(2) * delta.unsqueeze(1);
  count_ += other.count_;
}

at::Tensor VectorStatistics::mean() const {
  if (count_ < 1) throw std::logic_error("VectorStatistics::mean of no vectors");
  return shift_ + sum_ / static_cast<double>(count_);
}

at::Tensor VectorStatistics::covariance() const {
  if (count_ < 2) throw std::logic_error("VectorStatistics::covariance of fewer than 2 vectors");
  const double n = static_cast<double>(count_);
  const at::Tensor centred_outer = outer_ - sum_.unsqueeze(2) * sum_.unsqueeze(1) / n;
  // Symmetric in exact arithmetic; made so in floating point for the eigensolver.
  return (centred_outer + centred_outer.transpose(1, 2)) / (2 * (n - 1));
}

}  // namespace bert_embed
