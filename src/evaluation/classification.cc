#include "bert_embed/evaluation/classification.h"

#include <ATen/Parallel.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <random>
#include <stdexcept>
#include <string>
#include <utility>

namespace bert_embed {
namespace {

void check_labels(const at::Tensor& labels, std::int64_t classes, const char* what) {
  if (labels.scalar_type() != at::kLong || labels.dim() != 1 || labels.size(0) == 0) {
    throw std::invalid_argument(std::string("score_classification: expected int64 ") + what +
                                " labels [n], n > 0, got " + c10::str(labels.scalar_type(), " ", labels.sizes()));
  }
  const std::int64_t lowest = labels.min().item<std::int64_t>();
  const std::int64_t highest = labels.max().item<std::int64_t>();
  if (lowest < 0 || highest >= classes) {
    throw std::invalid_argument(std::string("score_classification: ") + what + " labels from " +
                                std::to_string(lowest) + " to " + std::to_string(highest) + " are not all in [0, " +
                                std::to_string(classes) + ")");
  }
}

// Mean and population standard deviation.
std::pair<double, double> mean_and_sd(const std::vector<double>& values) {
  const at::Tensor tensor = at::tensor(at::ArrayRef<double>(values), at::kDouble);
  return {tensor.mean().item<double>(), tensor.std(/*unbiased=*/false).item<double>()};
}

}  // namespace

ClassificationScores score_classification(const at::Tensor& predicted, const at::Tensor& gold,
                                          std::int64_t classes) {
  check_labels(predicted, classes, "predicted");
  check_labels(gold, classes, "gold");
  if (predicted.size(0) != gold.size(0)) {
    throw std::invalid_argument("score_classification: " + std::to_string(predicted.size(0)) +
                                " predictions for " + std::to_string(gold.size(0)) + " gold labels");
  }
  const at::Tensor hits = predicted.eq(gold);
  const at::Tensor true_positives = at::bincount(gold.masked_select(hits), {}, classes).to(at::kDouble);
  // 2 tp / (2 tp + fp + fn), fp + tp being the predictions of the class and
  // fn + tp its gold examples.
  const at::Tensor mentions =
      (at::bincount(predicted, {}, classes) + at::bincount(gold, {}, classes)).to(at::kDouble);
  const at::Tensor present = mentions > 0;
  ClassificationScores scores;
  scores.accuracy = 100.0 * hits.to(at::kDouble).mean().item<double>();
  scores.macro_f1 =
      100.0 * (2.0 * true_positives.masked_select(present) / mentions.masked_select(present)).mean().item<double>();
  return scores;
}

std::vector<int> stratified_folds(const std::vector<std::int64_t>& labels, int folds, std::uint64_t seed) {
  if (folds < 2 || static_cast<std::size_t>(folds) > labels.size()) {
    throw std::invalid_argument("cannot make " + std::to_string(folds) + " folds of " +
                                std::to_string(labels.size()) + " examples (2 folds at least, and no more than examples)");
  }
  std::map<std::int64_t, std::vector<std::size_t>> examples_of_class;
  for (std::size_t i = 0; i < labels.size(); ++i) examples_of_class[labels[i]].push_back(i);

  std::mt19937_64 generator(seed);
  std::vector<int> fold_of(labels.size());
  std::size_t dealt = 0;
  for (auto& [label, examples] : examples_of_class) {
    for (std::size_t i = examples.size(); i-- > 1;) std::swap(examples[i], examples[generator() % (i + 1)]);
    for (const std::size_t example : examples) fold_of[example] = static_cast<int>(dealt++ % folds);
  }
  return fold_of;
}

CrossValidationScores cross_validate(const at::Tensor& features, const at::Tensor& labels,
                                     std::int64_t classes, const std::vector<int>& folds,
                                     const ProbeOptions& options) {
  if (features.dim() != 2 || folds.empty() || folds.size() != static_cast<std::size_t>(features.size(0))) {
    throw std::invalid_argument("cross_validate: " + std::to_string(folds.size()) + " fold numbers for features " +
                                c10::str(features.sizes()));
  }
  const int fold_count = *std::max_element(folds.begin(), folds.end()) + 1;
  std::vector<std::int64_t> fold_sizes(std::max(fold_count, 0));
  for (const int fold : folds) {
    if (fold < 0) throw std::invalid_argument("cross_validate: fold number " + std::to_string(fold) + " is negative");
    ++fold_sizes[fold];
  }
  const auto empty = std::find(fold_sizes.begin(), fold_sizes.end(), 0);
  if (fold_count < 2 || empty != fold_sizes.end()) {
    throw std::invalid_argument("cross_validate: the folds must be numbered 0 to K - 1, K >= 2, each used; got " +
                                std::to_string(fold_count) + " fold(s)" +
                                (empty != fold_sizes.end()
                                     ? ", fold " + std::to_string(empty - fold_sizes.begin()) + " empty"
                                     : std::string()));
  }

  const at::Tensor fold_of = at::tensor(at::ArrayRef<int>(folds), at::kInt);
  std::vector<double> accuracies(fold_count), macro_f1s(fold_count);
  // The folds' probes in parallel, each on one thread: libtorch's operators
  // and OpenBLAS (an OpenMP build) run single-threaded inside a parallel
  // region, so every fold's numbers are the same whatever the thread count.
  at::parallel_for(0, fold_count, 1, [&](std::int64_t first, std::int64_t last) {
    for (std::int64_t fold = first; fold < last; ++fold) {
      const at::Tensor held_out = fold_of.eq(fold);
      const at::Tensor train_rows = held_out.logical_not().nonzero().squeeze(1);
      const at::Tensor test_rows = held_out.nonzero().squeeze(1);
      const LinearProbe probe(features.index_select(0, train_rows), labels.index_select(0, train_rows), classes,
                              options);
      if (!probe.converged()) {
        spdlog::warn("the probe of fold {} stopped after {} iterations without converging", fold,
                     probe.iterations());
      }
      const ClassificationScores scores =
          score_classification(probe.predict(features.index_select(0, test_rows)),
                               labels.index_select(0, test_rows), classes);
      accuracies[fold] = scores.accuracy;
      macro_f1s[fold] = scores.macro_f1;
    }
  });
  CrossValidationScores scores;
  std::tie(scores.accuracy, scores.accuracy_sd) = mean_and_sd(accuracies);
  std::tie(scores.macro_f1, scores.macro_f1_sd) = mean_and_sd(macro_f1s);
  scores.folds = fold_count;
  return scores;
}

}  // namespace bert_embed
