// Similarity scores (sts): how well the cosines of pairs of vectors follow
// gold similarity scores, as Spearman's and Pearson's correlation x100
// (SentEval's and MTEB's convention).
#pragma once

#include <cstddef>
#include <vector>

#include <ATen/ATen.h>

namespace bert_embed {

// Row-wise cosine of first [n, d] and second [n, d] (any floating type),
// computed in float64: double [n]. A zero row has cosine 0. Throws
// std::invalid_argument for other shapes or types.
at::Tensor row_cosines(const at::Tensor& first, const at::Tensor& second);

// Pearson's r and Spearman's rho (average ranks for ties, as
// scipy.stats.spearmanr) of x and y, x100. Throws std::invalid_argument for
// fewer than 2 values or different lengths; a constant input gives NaN.
double pearson_correlation(const std::vector<double>& x, const std::vector<double>& y);
double spearman_correlation(const std::vector<double>& x, const std::vector<double>& y);

struct SimilarityScores {
  double spearman = 0;  // x100
  double pearson = 0;   // x100
  std::size_t n = 0;
};
// Correlations between the pairs' cosines and the gold scores. Throws
// std::invalid_argument when gold does not hold one score per pair.
SimilarityScores score_similarity(const at::Tensor& first, const at::Tensor& second,
                                  const std::vector<double>& gold);

}  // namespace bert_embed
