#include "bert_embed/evaluation/similarity.h"

#include <cmath>
#include <limits>
#include <stdexcept>
#include <string>
#include <tuple>

namespace bert_embed {
namespace {

at::Tensor as_tensor(const std::vector<double>& values) {
  return at::tensor(at::ArrayRef<double>(values), at::kDouble);
}

void check_paired(const std::vector<double>& x, const std::vector<double>& y, const char* what) {
  if (x.size() != y.size() || x.size() < 2) {
    throw std::invalid_argument(std::string(what) + " correlation needs two series of equal length, at least 2, got " +
                                std::to_string(x.size()) + " and " + std::to_string(y.size()) + " values");
  }
}

// As scipy.stats.pearsonr: centred, each scaled to unit norm before the dot
// product (so that r stays within [-1, 1] up to rounding), then clipped.
double pearson_of(const at::Tensor& x, const at::Tensor& y) {
  if (x.eq(x[0]).all().item<bool>() || y.eq(y[0]).all().item<bool>())
    return std::numeric_limits<double>::quiet_NaN();
  const at::Tensor x_centred = x - x.mean();
  const at::Tensor y_centred = y - y.mean();
  const double r = at::dot(x_centred / x_centred.norm(), y_centred / y_centred.norm()).item<double>();
  return 100.0 * std::max(-1.0, std::min(1.0, r));
}

// 1-based ranks, tied values sharing the average of the ranks they span (as
// scipy.stats.rankdata's "average" method).
at::Tensor average_ranks(const at::Tensor& values) {
  at::Tensor sorted, order;
  std::tie(sorted, order) = at::sort(values);
  at::Tensor distinct, group, counts;
  std::tie(distinct, group, counts) = at::unique_consecutive(sorted, /*return_inverse=*/true, /*return_counts=*/true);
  const at::Tensor group_sizes = counts.to(at::kDouble);
  const at::Tensor group_ranks = group_sizes.cumsum(0) - (group_sizes - 1.0) / 2.0;
  return at::empty_like(values).index_put_({order}, group_ranks.index_select(0, group));
}

}  // namespace

at::Tensor row_cosines(const at::Tensor& first, const at::Tensor& second) {
  if (first.dim() != 2 || first.sizes() != second.sizes() || !at::isFloatingType(first.scalar_type()) ||
      !at::isFloatingType(second.scalar_type())) {
    throw std::invalid_argument("row_cosines: expected two floating [n, d] tensors of one shape, got " +
                                c10::str(first.scalar_type(), " ", first.sizes(), " and ",
                                         second.scalar_type(), " ", second.sizes()));
  }
  const at::Tensor a = first.to(at::kDouble);
  const at::Tensor b = second.to(at::kDouble);
  const at::Tensor dots = (a * b).sum(1);
  const at::Tensor norms = a.norm(2, 1) * b.norm(2, 1);
  return at::where(norms > 0, dots / norms, at::zeros_like(dots));
}

double pearson_correlation(const std::vector<double>& x, const std::vector<double>& y) {
  check_paired(x, y, "Pearson");
  return pearson_of(as_tensor(x), as_tensor(y));
}

double spearman_correlation(const std::vector<double>& x, const std::vector<double>& y) {
  check_paired(x, y, "Spearman");
  const at::Tensor xs = as_tensor(x);
  const at::Tensor ys = as_tensor(y);
  if (at::isnan(xs).any().item<bool>() || at::isnan(ys).any().item<bool>())
    return std::numeric_limits<double>::quiet_NaN();
  return pearson_of(average_ranks(xs), average_ranks(ys));
}

SimilarityScores score_similarity(const at::Tensor& first, const at::Tensor& second,
                                  const std::vector<double>& gold) {
  const at::Tensor cosines = row_cosines(first, second).contiguous();
  if (static_cast<std::size_t>(cosines.size(0)) != gold.size()) {
    throw std::invalid_argument("score_similarity: " + std::to_string(cosines.size(0)) + " pairs but " +
                                std::to_string(gold.size()) + " gold scores");
  }
  const double* begin = cosines.data_ptr<double>();
  const std::vector<double> cosine_values(begin, begin + cosines.size(0));
  SimilarityScores scores;
  scores.spearman = spearman_correlation(cosine_values, gold);
  scores.pearson = pearson_correlation(cosine_values, gold);
  scores.n = gold.size();
  return scores;
}

}  // namespace bert_embed
