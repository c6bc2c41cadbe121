#include "bert_embed/evaluation/linear_probe.h"

#include <cmath>
#include <stdexcept>
#include <string>
#include <tuple>

#include "bert_embed/evaluation/lbfgs.h"

namespace bert_embed {
namespace {

void check_features(const at::Tensor& features, const char* what) {
  if (features.dim() != 2 || !at::isFloatingType(features.scalar_type())) {
    throw std::invalid_argument(std::string(what) + ": expected floating features [n, d], got " +
                                c10::str(features.scalar_type(), " ", features.sizes()));
  }
}

// scikit-learn's multinomial objective divided by C * n: the mean log-loss
// of softmax(x W^T + b) plus ||W||^2 / (2 C n), over flat parameters
// [W (k x d, row-major), b (k)].
class MultinomialObjective {
 public:
  MultinomialObjective(const at::Tensor& x, const at::Tensor& targets, std::int64_t classes, double c)
      : x_(x),
        targets_(targets.unsqueeze(1)),
        one_hot_(at::one_hot(targets, classes).to(at::kDouble)),
        classes_(classes),
        rows_(static_cast<double>(x.size(0))),
        penalty_(1.0 / (c * rows_)) {}

  std::int64_t parameters() const { return classes_ * (x_.size(1) + 1); }
  at::Tensor weights(const at::Tensor& parameters) const {
    return parameters.narrow(0, 0, classes_ * x_.size(1)).view({classes_, x_.size(1)});
  }
  at::Tensor bias(const at::Tensor& parameters) const {
    return parameters.narrow(0, classes_ * x_.size(1), classes_);
  }

  double operator()(const at::Tensor& parameters, at::Tensor& gradient) const {
    const at::Tensor w = weights(parameters);
    const at::Tensor logits = at::addmm(bias(parameters), x_, w.t());
    const at::Tensor log_probabilities = logits - logits.logsumexp(1, /*keepdim=*/true);
    const double log_loss = -log_probabilities.gather(1, targets_).sum().item<double>() / rows_;
    const at::Tensor flat_weights = parameters.narrow(0, 0, w.numel());
    const double penalty = 0.5 * penalty_ * at::dot(flat_weights, flat_weights).item<double>();
    const at::Tensor residual = log_probabilities.exp_().sub_(one_hot_);
    at::Tensor weight_gradient = weights(gradient);
    at::mm_out(weight_gradient, residual.t(), x_);
    weight_gradient.div_(rows_).add_(w, penalty_);
    at::Tensor bias_gradient = bias(gradient);
    at::sum_out(bias_gradient, residual, {0}).div_(rows_);
    return log_loss + penalty;
  }

 private:
  at::Tensor x_;
  at::Tensor targets_;  // int64 [n, 1], for gather
  at::Tensor one_hot_;  // double [n, k]
  std::int64_t classes_;
  double rows_;
  double penalty_;
};

}  // namespace

LinearProbe::LinearProbe(const at::Tensor& features, const at::Tensor& labels, std::int64_t classes,
                         const ProbeOptions& options) {
  check_features(features, "LinearProbe");
  if (labels.scalar_type() != at::kLong || labels.dim() != 1 || labels.size(0) != features.size(0) ||
      features.size(0) == 0) {
    throw std::invalid_argument("LinearProbe: expected int64 labels [n] for features " +
                                c10::str(features.sizes()) + " (n > 0), got " +
                                c10::str(labels.scalar_type(), " ", labels.sizes()));
  }
  if (classes < 1 || labels.min().item<std::int64_t>() < 0 || labels.max().item<std::int64_t>() >= classes) {
    throw std::invalid_argument("LinearProbe: labels from " + std::to_string(labels.min().item<std::int64_t>()) +
                                " to " + std::to_string(labels.max().item<std::int64_t>()) +
                                " are not all in [0, " + std::to_string(classes) + ")");
  }
  if (!(options.c > 0) || !std::isfinite(options.c))
    throw std::invalid_argument("LinearProbe: C must be positive and finite, got " + std::to_string(options.c));

  at::Tensor x = features.to(at::kDouble, /*non_blocking=*/false, /*copy=*/true);
  if (!at::isfinite(x).all().item<bool>())
    throw std::invalid_argument("LinearProbe: the features hold NaN or infinity");
  mean_ = x.mean(0);
  scale_ = x.var(0, /*unbiased=*/false).sqrt_();
  scale_.masked_fill_(scale_ == 0, 1.0);
  x.sub_(mean_).div_(scale_);

  at::Tensor targets;
  std::tie(seen_classes_, targets, std::ignore) = at::_unique2(labels, /*sorted=*/true, /*return_inverse=*/true);
  const MultinomialObjective objective(x, targets, seen_classes_.size(0), options.c);
  LbfgsOptions solver;
  solver.max_iterations = options.max_iterations;
  solver.gradient_tolerance = options.tolerance;
  const LbfgsResult result = minimize_lbfgs(
      [&objective](const at::Tensor& parameters, at::Tensor& gradient) { return objective(parameters, gradient); },
      at::zeros({objective.parameters()}, at::kDouble), solver);
  weights_ = objective.weights(result.x).clone();
  bias_ = objective.bias(result.x).clone();
  iterations_ = result.iterations;
  converged_ = result.converged;
}

at::Tensor LinearProbe::standardized(const at::Tensor& features) const {
  check_features(features, "LinearProbe::predict");
  if (features.size(1) != mean_.size(0)) {
    throw std::invalid_argument("LinearProbe::predict: the probe was trained on " +
                                std::to_string(mean_.size(0)) + " features, got " + c10::str(features.sizes()));
  }
  return (features.to(at::kDouble) - mean_) / scale_;
}

at::Tensor LinearProbe::predict(const at::Tensor& features) const {
  const at::Tensor logits = at::addmm(bias_, standardized(features), weights_.t());
  return seen_classes_.index_select(0, logits.argmax(1));
}

}  // namespace bert_embed
