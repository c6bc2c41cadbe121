#include "bert_embed/evaluation/lbfgs.h"

#include <gtest/gtest.h>

#include <stdexcept>

#include "expect_error.h"

namespace bert_embed {
namespace {

// Rosenbrock's valley, minimum 0 at (1, 1): curved and badly scaled.
double rosenbrock(const at::Tensor& x, at::Tensor& gradient) {
  const double a = x[0].item<double>(), b = x[1].item<double>();
  gradient[0] = -2 * (1 - a) - 400 * a * (b - a * a);
  gradient[1] = 200 * (b - a * a);
  return (1 - a) * (1 - a) + 100 * (b - a * a) * (b - a * a);
}

TEST(MinimizeLbfgs, FindsRosenbrocksMinimum) {
  const LbfgsResult result = minimize_lbfgs(rosenbrock, at::tensor({-1.2, 1.0}, at::kDouble));
  EXPECT_TRUE(result.converged);
  EXPECT_NEAR(result.x[0].item<double>(), 1.0, 1e-5);
  EXPECT_NEAR(result.x[1].item<double>(), 1.0, 1e-5);
  EXPECT_LT(result.value, 1e-10);
  EXPECT_LT(result.iterations, 100u);
}

// An ill-conditioned quadratic 0.5 x'Ax - b'x (condition number 1e4) in 50
// dimensions: the gradient tolerance is met, so x solves A x = b.
TEST(MinimizeLbfgs, SolvesAnIllConditionedQuadraticToTheTolerance) {
  const at::Tensor curvatures = at::logspace(0, 4, 50, 10.0, at::kDouble);
  const at::Tensor b = at::linspace(-1.0, 1.0, 50, at::kDouble);
  LbfgsOptions options;
  options.value_tolerance = 0;  // only the gradient, or no progress at all, stops it
  const LbfgsResult result = minimize_lbfgs(
      [&](const at::Tensor& x, at::Tensor& gradient) {
        gradient.copy_(curvatures * x - b);
        return (0.5 * curvatures * x * x - b * x).sum().item<double>();
      },
      at::zeros({50}, at::kDouble), options);
  EXPECT_TRUE(result.converged);
  EXPECT_LE(((curvatures * result.x - b).abs().max()).item<double>(), 1e-6);
}

TEST(MinimizeLbfgs, StopsUnconvergedAtTheIterationLimit) {
  LbfgsOptions options;
  options.max_iterations = 3;
  const LbfgsResult result = minimize_lbfgs(rosenbrock, at::tensor({-1.2, 1.0}, at::kDouble), options);
  EXPECT_FALSE(result.converged);
  EXPECT_EQ(result.iterations, 3u);
}

TEST(MinimizeLbfgs, ConvergesAtOnceFromTheMinimum) {
  const LbfgsResult result = minimize_lbfgs(rosenbrock, at::tensor({1.0, 1.0}, at::kDouble));
  EXPECT_TRUE(result.converged);
  EXPECT_EQ(result.iterations, 0u);
  EXPECT_EQ(result.evaluations, 1u);
}

TEST(MinimizeLbfgs, RefusesAStartThatIsNotAFloat64Vector) {
  EXPECT_CONTAINS(test::error_message<std::invalid_argument>(
                      [] { minimize_lbfgs(rosenbrock, at::zeros({2}, at::kFloat)); }),
                  "float64 vector");
  EXPECT_CONTAINS(test::error_message<std::runtime_error>([] {
                    minimize_lbfgs([](const at::Tensor&, at::Tensor&) { return std::nan(""); },
                                   at::zeros({2}, at::kDouble));
                  }),
                  "at the start");
}

}  // namespace
}  // namespace bert_embed
