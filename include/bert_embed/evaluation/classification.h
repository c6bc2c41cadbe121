// Classification scores (classify): accuracy and macro-F1 of predictions,
// and stratified k-fold cross-validation of linear probes.
#pragma once

#include <cstdint>
#include <vector>

#include <ATen/ATen.h>

#include "bert_embed/evaluation/linear_probe.h"

namespace bert_embed {

struct ClassificationScores {
  double accuracy = 0;  // x100
  double macro_f1 = 0;  // x100: F1 averaged over the classes present in gold or predicted
};
// predicted and gold: int64 [n] in [0, classes), n > 0. Macro-F1 as
// scikit-learn's f1_score(average="macro"): a class never predicted has
// precision 0. Throws std::invalid_argument for other shapes or labels.
ClassificationScores score_classification(const at::Tensor& predicted, const at::Tensor& gold,
                                          std::int64_t classes);

// Stratified k-fold assignment (the fold of every example, in [0, folds)).
// Exactly: the classes are taken in increasing label order; the examples of
// each class, in input order, are shuffled by a Fisher-Yates shuffle driven
// by one std::mt19937_64 seeded with `seed` (for i from count - 1 down to 1,
// swap position i with position generator() % (i + 1)), and then dealt to
// the folds in turn, the dealing carrying on from class to class (the j-th
// example dealt overall goes to fold j % folds). So every fold holds each
// class's share within one example, and the folds' sizes differ by at most
// one. Throws std::invalid_argument when folds < 2 or folds exceeds the
// number of examples.
std::vector<int> stratified_folds(const std::vector<std::int64_t>& labels, int folds, std::uint64_t seed);

struct CrossValidationScores {
  double accuracy = 0, accuracy_sd = 0;  // x100, mean and population sd over folds
  double macro_f1 = 0, macro_f1_sd = 0;
  int folds = 0;
};
// Trains one probe per fold on the other folds and scores it on that fold.
// folds: one per row of features, in [0, K) with every fold used, K >= 2.
// The folds' probes run in parallel on libtorch's threads, each probe on one
// thread, so the scores do not depend on the thread count (probe_bench,
// SST-2-sized folds on 2 threads of a loaded 2-core machine: 0.16
// processor-seconds a probe, as on one thread, against 0.2 to 2.3 with the
// folds one after another on 2 intra-op threads, whose OpenMP workers spin
// between libtorch's many small operations). Throws
// std::invalid_argument for other folds (and as LinearProbe does).
CrossValidationScores cross_validate(const at::Tensor& features, const at::Tensor& labels,
                                     std::int64_t classes, const std::vector<int>& folds,
                                     const ProbeOptions& options = {});

}  // namespace bert_embed
