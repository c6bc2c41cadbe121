// Linear probes (classify, tokens): multinomial logistic regression with an
// L2 penalty on standardized features, as scikit-learn's
// LogisticRegression(C, multi_class="multinomial", solver="lbfgs") defines it,
// solved to convergence with L-BFGS (lbfgs.h) in float64.
#pragma once

#include <cstddef>
#include <cstdint>

#include <ATen/ATen.h>

namespace bert_embed {

struct ProbeOptions {
  // Inverse L2 strength as scikit-learn defines it: minimises
  // C * sum_i log_loss_i + 0.5 * ||W||^2 (the intercept is not penalised).
  double c = 1.0;
  std::size_t max_iterations = 10000;
  // On the largest component of the gradient of that objective divided by
  // C * n (the mean log-loss plus ||W||^2 / (2 C n)), the scale on which
  // scikit-learn's tol applies (its default, 1e-4, stops earlier), taken in
  // the preconditioned variables the solver works in (linear_probe.cc: the
  // weights in the features' eigenbasis, each direction scaled to unit
  // curvature).
  double tolerance = 1e-6;
};

// Multinomial logistic regression on standardized features: each feature is
// centred and scaled by the mean and standard deviation (ddof 0, as
// scikit-learn's StandardScaler) of the training rows (a constant feature is
// only centred), and the same transform is applied to what predict() is
// given. Classes without a training row are left out of the model, as
// scikit-learn fits only the classes it sees: predict() never gives them.
class LinearProbe {
 public:
  // features: floating [n, d]; labels: int64 [n] in [0, classes). Throws
  // std::invalid_argument for mismatched shapes, labels out of range, no
  // rows, C <= 0 or features that are not finite.
  LinearProbe(const at::Tensor& features, const at::Tensor& labels, std::int64_t classes,
              const ProbeOptions& options = {});
  // int64 [m]: the most probable class of each row (the lowest class among
  // equally probable ones). Throws std::invalid_argument for a floating
  // [m, d] of another d.
  at::Tensor predict(const at::Tensor& features) const;
  // Iterations the solver took; converged() is false when it stopped at
  // max_iterations (or could lower the objective no further without meeting
  // the tolerance).
  std::size_t iterations() const { return iterations_; }
  bool converged() const { return converged_; }

 private:
  at::Tensor standardized(const at::Tensor& features) const;

  at::Tensor mean_, scale_;  // double [d]
  at::Tensor weights_;       // double [k, d], k the classes seen in training
  at::Tensor bias_;          // double [k]
  at::Tensor seen_classes_;  // int64 [k]: the label of each row of weights_
  std::size_t iterations_ = 0;
  bool converged_ = false;
};

}  // namespace bert_embed
