#include "bert_embed/evaluation/linear_probe.h"

#include <algorithm>
#include <cmath>
#include <stdexcept>
#include <string>

#include "bert_embed/evaluation/lbfgs.h"

namespace bert_embed {
namespace {

void check_features(const at::Tensor& features, const char* what) {
  if (features.dim() != 2 || !at::isFloatingType(features.scalar_type())) {
    throw std::invalid_argument(std::string(what) + ": expected floating features [n, d], got " +
                                c10::str(features.scalar_type(), " ", features.sizes()));
  }
}

// L-BFGS starts from a multiple of the identity as its Hessian and refines
// it from 10 corrections: on correlated features (as an encoder's are) the
// Hessian's eigenvalues spread over orders of magnitude and it crawls. So
// the probe is solved for T, the weights in the eigenbasis V of the
// standardized features' covariance S = x^T x / n with each direction j
// scaled by the square root of the objective's curvature there at the
// start, h_j = s lambda_j + 1 / (C n), s = (1 / k)(1 - 1 / k) the softmax's
// curvature when every class is equally likely: W = T P^T with
// P = V diag(h)^-1/2, and ||W||^2 = sum_j ||T_j||^2 / h_j (rotations keep
// the L2 norm). The minimum is the same; the Hessian in T is close to the
// identity. probe_bench, one thread: a WNUT-sized probe (62,000 x 768,
// 13 tags) takes 50 iterations instead of 340; an SST-2-sized one
// (785 x 768) 37 instead of 206.
struct Preconditioner {
  Preconditioner(const at::Tensor& x, std::int64_t classes, double c) {
    const double rows = static_cast<double>(x.size(0));
    const double softmax_curvature = (1.0 / classes) * (1.0 - 1.0 / classes);
    const auto [eigenvalues, eigenvectors] = at::linalg_eigh(at::mm(x.t(), x).div_(rows));
    const at::Tensor curvature = eigenvalues.clamp_min(0).mul_(softmax_curvature).add_(1.0 / (c * rows));
    basis = eigenvectors * curvature.rsqrt();
    penalties = curvature.reciprocal().div_(c * rows);
  }
  at::Tensor basis;      // double [d, d]: P
  at::Tensor penalties;  // double [d]: 1 / (C n h_j)
};

// scikit-learn's multinomial objective divided by C * n, in the variables
// of Preconditioner: the mean log-loss of softmax(x P T^T + b) plus
// sum_j penalty_j ||T_j||^2 / 2, over flat parameters [T (k x d, row-major),
// b (k)]. The weights go through P at each evaluation (k d^2 operations),
// not the features (n d^2 once, and a second copy of them).
class MultinomialObjective {
 public:
  MultinomialObjective(const at::Tensor& x, const Preconditioner& preconditioner, const at::Tensor& targets,
                       std::int64_t classes)
      : x_(x),
        preconditioner_(preconditioner),
        targets_(targets.unsqueeze(1)),
        one_hot_(at::one_hot(targets, classes).to(at::kDouble)),
        classes_(classes),
        rows_(static_cast<double>(x.size(0))) {}

  std::int64_t parameters() const { return classes_ * (x_.size(1) + 1); }
  at::Tensor preconditioned_weights(const at::Tensor& parameters) const {
    return parameters.narrow(0, 0, classes_ * x_.size(1)).view({classes_, x_.size(1)});
  }
  // W = T P^T: the weights of the standardized features.
  at::Tensor weights(const at::Tensor& parameters) const {
    return at::mm(preconditioned_weights(parameters), preconditioner_.basis.t());
  }
  at::Tensor bias(const at::Tensor& parameters) const {
    return parameters.narrow(0, classes_ * x_.size(1), classes_);
  }

  double operator()(const at::Tensor& parameters, at::Tensor& gradient) const {
    const at::Tensor t = preconditioned_weights(parameters);
    const at::Tensor logits = at::addmm(bias(parameters), x_, weights(parameters).t());
    const at::Tensor log_probabilities = logits - logits.logsumexp(1, /*keepdim=*/true);
    const double log_loss = -log_probabilities.gather(1, targets_).sum().item<double>() / rows_;
    const at::Tensor penalty_gradient = t * preconditioner_.penalties;
    const double penalty = 0.5 * at::dot(penalty_gradient.view(-1), t.reshape(-1)).item<double>();
    const at::Tensor residual = log_probabilities.exp_().sub_(one_hot_);
    at::Tensor weight_gradient = preconditioned_weights(gradient);
    at::mm_out(weight_gradient, at::mm(residual.t(), x_), preconditioner_.basis);
    weight_gradient.div_(rows_).add_(penalty_gradient);
    at::Tensor bias_gradient = bias(gradient);
    at::sum_out(bias_gradient, residual, {0}).div_(rows_);
    return log_loss + penalty;
  }

 private:
  at::Tensor x_;
  const Preconditioner& preconditioner_;
  at::Tensor targets_;  // int64 [n, 1], for gather
  at::Tensor one_hot_;  // double [n, k]
  std::int64_t classes_;
  double rows_;
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

  seen_classes_ = at::bincount(labels, {}, classes).nonzero().squeeze(1);
  const std::int64_t seen = seen_classes_.size(0);
  // The model's classes are the seen ones, renumbered 0 to seen - 1.
  const at::Tensor model_class = at::full({classes}, -1, at::kLong).index_put_({seen_classes_}, at::arange(seen));
  const at::Tensor targets = model_class.index_select(0, labels);
  // A single class has no curvature to scale by; any scaling will do.
  const Preconditioner preconditioner(x, std::max<std::int64_t>(seen, 2), options.c);
  const MultinomialObjective objective(x, preconditioner, targets, seen);
  LbfgsOptions solver;
  solver.max_iterations = options.max_iterations;
  solver.gradient_tolerance = options.tolerance;
  const LbfgsResult result = minimize_lbfgs(
      [&objective](const at::Tensor& parameters, at::Tensor& gradient) { return objective(parameters, gradient); },
      at::zeros({objective.parameters()}, at::kDouble), solver);
  weights_ = objective.weights(result.x);
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
