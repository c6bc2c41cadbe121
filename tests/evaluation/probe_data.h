// Labelled vectors for the probe tests: Gaussian clusters that overlap, with
// correlated noise and features of very different scales and offsets (so
// that standardizing matters), float32 as the encoder gives them.
#pragma once

#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>

#include <cmath>
#include <cstdint>

namespace bert_embed::test {

struct LabelledVectors {
  at::Tensor features;  // float32 [rows, dim]
  at::Tensor labels;    // int64 [rows]
};

// The class centres are about `separation` from the origin (so about
// separation * sqrt(2) apart), against noise of at least unit size in every
// direction.
inline LabelledVectors gaussian_clusters(std::int64_t rows, std::int64_t dim, std::int64_t classes,
                                         double separation, std::uint64_t seed) {
  constexpr std::int64_t kFactors = 8;  // shared by all features: correlated noise
  const at::Generator generator = at::make_generator<at::CPUGeneratorImpl>(seed);
  const at::Tensor labels = at::randint(classes, {rows}, generator, at::kLong);
  const at::Tensor centres =
      at::randn({classes, dim}, generator, at::kDouble) * (separation / std::sqrt(static_cast<double>(dim)));
  const at::Tensor loadings = at::randn({kFactors, dim}, generator, at::kDouble);
  const at::Tensor noise = at::randn({rows, dim}, generator, at::kDouble) +
                           at::randn({rows, kFactors}, generator, at::kDouble).mm(loadings);
  const at::Tensor scales = at::randn({dim}, generator, at::kDouble).exp_();
  const at::Tensor offsets = at::randn({dim}, generator, at::kDouble) * 5;
  return {((centres.index_select(0, labels) + noise) * scales + offsets).to(at::kFloat), labels};
}

}  // namespace bert_embed::test
