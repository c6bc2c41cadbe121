// Limited-memory BFGS minimisation of a smooth function of a float64 vector,
// for the linear probes (linear_probe.h). Nocedal & Wright, Numerical
// Optimization (2nd ed.): the two-loop recursion (Algorithm 7.4) with the
// initial scaling of (7.20), and a line search for the strong Wolfe
// conditions (Algorithms 3.5 and 3.6) with cubic interpolation.
#pragma once

#include <cstddef>
#include <functional>

#include <ATen/ATen.h>

namespace bert_embed {

struct LbfgsOptions {
  std::size_t max_iterations = 10000;
  // Converged when the gradient's largest component is at most this.
  double gradient_tolerance = 1e-6;
  // Or when an iteration lowers the value by at most this fraction of
  // max(|value|, 1): no further progress is possible in float64. 64 machine
  // epsilons, scikit-learn's setting for scipy's L-BFGS-B.
  double value_tolerance = 64 * 2.220446049250313e-16;
  std::size_t history = 10;  // correction pairs kept, as scipy's default
};

struct LbfgsResult {
  at::Tensor x;  // the minimiser found
  double value = 0;
  std::size_t iterations = 0;
  std::size_t evaluations = 0;
  // One of the tolerances was met; false when max_iterations ran out or the
  // line search found no lower value along steepest descent.
  bool converged = false;
};

// The value of the function at x; writes its gradient (same shape as x) to
// `gradient`.
using Objective = std::function<double(const at::Tensor& x, at::Tensor& gradient)>;

// Minimises `objective` from `start` (float64, 1-D). Throws
// std::invalid_argument for another start and std::runtime_error when the
// objective gives a value that is not finite at the start.
LbfgsResult minimize_lbfgs(const Objective& objective, const at::Tensor& start,
                           const LbfgsOptions& options = {});

}  // namespace bert_embed
