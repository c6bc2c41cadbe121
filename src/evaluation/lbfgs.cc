#include "bert_embed/evaluation/lbfgs.h"

#include <algorithm>
#include <cmath>
#include <deque>
#include <limits>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

namespace bert_embed {
namespace {

// Strong Wolfe constants: c1 for sufficient decrease, c2 for curvature
// (0.9, Nocedal & Wright's choice for quasi-Newton directions).
constexpr double kSufficientDecrease = 1e-4;
constexpr double kCurvature = 0.9;
// Evaluations one line search may spend; scikit-learn gives scipy's line
// search 50.
constexpr int kMaxLineSearchEvaluations = 50;

double dot_product(const at::Tensor& a, const at::Tensor& b) { return at::dot(a, b).item<double>(); }

double largest_component(const at::Tensor& gradient) { return gradient.abs().max().item<double>(); }

// One point along the search direction.
struct Trial {
  double step = 0;
  double value = 0;
  double slope = 0;  // the directional derivative there
  at::Tensor x, gradient;
};

// The minimiser, clamped to [low, high], of the cubic that interpolates the
// values and slopes at a and b; the midpoint when the cubic has none (or
// the values are not finite).
double cubic_minimum(const Trial& a, const Trial& b, double low, double high) {
  const double d1 = a.slope + b.slope - 3 * (a.value - b.value) / (a.step - b.step);
  const double square = d1 * d1 - a.slope * b.slope;
  if (square >= 0) {
    const double d2 = std::copysign(std::sqrt(square), b.step - a.step);
    const double step = b.step - (b.step - a.step) * (b.slope + d2 - d1) / (b.slope - a.slope + 2 * d2);
    if (std::isfinite(step)) return std::min(std::max(step, low), high);
  }
  return (low + high) / 2;
}

// A step along `direction` from `origin` (its value, gradient and slope
// along `direction` known) that satisfies the strong Wolfe
// conditions; failing that within the evaluations allowed, the lowest step
// found with sufficient decrease; failing that, none.
class LineSearch {
 public:
  LineSearch(const Objective& objective, const Trial& origin, const at::Tensor& direction,
             std::size_t& evaluations)
      : objective_(objective), origin_(origin), direction_(direction), evaluations_(evaluations) {
    origin_.step = 0;
  }

  std::optional<Trial> search(double initial_step) {
    Trial previous = origin_;
    double step = initial_step;
    for (int i = 0; i < kMaxLineSearchEvaluations; ++i) {
      Trial current = evaluate(step);
      if (!decreases_enough(current) || (i > 0 && current.value >= previous.value))
        return zoom(std::move(previous), std::move(current));
      if (flat_enough(current)) return current;
      if (current.slope >= 0) return zoom(std::move(current), std::move(previous));
      // Still descending: extrapolate, at least a little and at most tenfold.
      step = cubic_minimum(previous, current, current.step + 0.01 * (current.step - previous.step),
                           10 * current.step);
      previous = std::move(current);
    }
    return previous.step > 0 ? std::optional<Trial>(std::move(previous)) : std::nullopt;
  }

 private:
  Trial evaluate(double step) {
    Trial trial;
    trial.step = step;
    trial.x = origin_.x + step * direction_;
    trial.gradient = at::empty_like(trial.x);
    trial.value = objective_(trial.x, trial.gradient);
    trial.slope = dot_product(trial.gradient, direction_);
    ++evaluations_;
    ++spent_;
    return trial;
  }

  bool decreases_enough(const Trial& trial) const {
    return std::isfinite(trial.value) &&
           trial.value <= origin_.value + kSufficientDecrease * trial.step * origin_.slope;
  }
  bool flat_enough(const Trial& trial) const { return std::abs(trial.slope) <= -kCurvature * origin_.slope; }

  // Algorithm 3.6: `low` decreases enough and is the lowest point so far;
  // the minimum lies between low and high.
  std::optional<Trial> zoom(Trial low, Trial high) {
    while (spent_ < kMaxLineSearchEvaluations) {
      const double left = std::min(low.step, high.step);
      const double right = std::max(low.step, high.step);
      const double width = right - left;
      if (width <= std::numeric_limits<double>::epsilon() * right) break;
      double step = cubic_minimum(low, high, left, right);
      // Interpolation near an end of the interval shrinks it slowly: bisect.
      if (step - left < 0.1 * width || right - step < 0.1 * width) step = left + width / 2;
      Trial current = evaluate(step);
      if (!decreases_enough(current) || current.value >= low.value) {
        high = std::move(current);
        continue;
      }
      if (flat_enough(current)) return current;
      if (current.slope * (high.step - low.step) >= 0) high = std::move(low);
      low = std::move(current);
    }
    return low.step > 0 ? std::optional<Trial>(std::move(low)) : std::nullopt;
  }

  const Objective& objective_;
  Trial origin_;  // step 0
  const at::Tensor& direction_;
  std::size_t& evaluations_;
  int spent_ = 0;
};

struct Correction {
  at::Tensor s, y;  // the change of x and of the gradient over one iteration
  double rho;       // 1 / (y . s)
};

// Algorithm 7.4: the quasi-Newton direction -H g, H being the inverse
// Hessian approximation of the corrections kept, scaled by (7.20).
at::Tensor quasi_newton_direction(const at::Tensor& gradient, const std::deque<Correction>& history) {
  at::Tensor q = -gradient;
  if (history.empty()) return q;
  std::vector<double> alphas(history.size());
  for (std::size_t i = history.size(); i-- > 0;) {
    alphas[i] = history[i].rho * dot_product(history[i].s, q);
    q.add_(history[i].y, -alphas[i]);
  }
  const Correction& newest = history.back();
  q.mul_(1.0 / (newest.rho * dot_product(newest.y, newest.y)));
  for (std::size_t i = 0; i < history.size(); ++i) {
    const double beta = history[i].rho * dot_product(history[i].y, q);
    q.add_(history[i].s, alphas[i] - beta);
  }
  return q;
}

}  // namespace

LbfgsResult minimize_lbfgs(const Objective& objective, const at::Tensor& start, const LbfgsOptions& options) {
  if (start.scalar_type() != at::kDouble || start.dim() != 1) {
    throw std::invalid_argument("minimize_lbfgs: the start must be a float64 vector, got " +
                                c10::str(start.scalar_type(), " ", start.sizes()));
  }
  LbfgsResult result;
  Trial point;
  point.x = start.clone();
  point.gradient = at::empty_like(point.x);
  point.value = objective(point.x, point.gradient);
  result.evaluations = 1;
  if (!std::isfinite(point.value))
    throw std::runtime_error("minimize_lbfgs: the objective is " + std::to_string(point.value) + " at the start");

  std::deque<Correction> history;
  result.converged = largest_component(point.gradient) <= options.gradient_tolerance;
  while (!result.converged && result.iterations < options.max_iterations) {
    ++result.iterations;
    at::Tensor direction = quasi_newton_direction(point.gradient, history);
    point.slope = dot_product(point.gradient, direction);
    if (!(point.slope < 0)) {  // rounding has spoilt the approximation
      history.clear();
      direction = -point.gradient;
      point.slope = -dot_product(point.gradient, point.gradient);
    }
    // Without curvature information, a first step of unit length.
    const double initial_step =
        history.empty() ? std::min(1.0, 1.0 / point.gradient.norm().item<double>()) : 1.0;
    std::optional<Trial> next = LineSearch(objective, point, direction, result.evaluations).search(initial_step);
    if (!next) {
      if (history.empty()) break;  // no lower value even along steepest descent
      history.clear();
      continue;
    }
    Correction correction{next->x - point.x, next->gradient - point.gradient, 0};
    const double curvature = dot_product(correction.s, correction.y);
    if (curvature > std::numeric_limits<double>::epsilon() * dot_product(correction.y, correction.y)) {
      correction.rho = 1.0 / curvature;
      history.push_back(std::move(correction));
      if (history.size() > options.history) history.pop_front();
    }
    const double decrease = point.value - next->value;
    const double scale = std::max({std::abs(point.value), std::abs(next->value), 1.0});
    point = std::move(*next);
    result.converged = largest_component(point.gradient) <= options.gradient_tolerance ||
                       decrease <= options.value_tolerance * scale;
  }
  result.x = point.x;
  result.value = point.value;
  return result;
}

}  // namespace bert_embed
