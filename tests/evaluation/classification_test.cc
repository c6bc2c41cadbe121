#include "bert_embed/evaluation/classification.h"

#include <ATen/Parallel.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <stdexcept>
#include <vector>

#include "expect_error.h"
#include "probe_data.h"
#include "reference.h"
#include "temp_dir.h"

namespace bert_embed {
namespace {

at::Tensor labels_of(const std::vector<std::int64_t>& values) { return at::tensor(values, at::kLong); }

TEST(ScoreClassification, AccuracyAndMacroF1OverTheClassesPresent) {
  // Class 0: tp 2, fp 1, fn 0 -> F1 4/5. Class 1: tp 1, fp 0, fn 2 -> 1/2.
  // Class 2 only predicted: tp 0 -> 0. Class 3 absent everywhere: left out.
  const ClassificationScores scores =
      score_classification(labels_of({0, 0, 1, 0, 2}), labels_of({0, 0, 1, 1, 1}), 4);
  EXPECT_DOUBLE_EQ(scores.accuracy, 60.0);
  EXPECT_NEAR(scores.macro_f1, 100.0 * (0.8 + 0.5 + 0.0) / 3.0, 1e-12);
}

TEST(ScoreClassification, RefusesMismatchedOrOutOfRangeLabels) {
  using test::error_message;
  EXPECT_CONTAINS(error_message<std::invalid_argument>(
                      [] { score_classification(labels_of({0, 1}), labels_of({0, 1, 1}), 2); }),
                  "2 predictions for 3 gold");
  EXPECT_CONTAINS(error_message<std::invalid_argument>(
                      [] { score_classification(labels_of({0, 2}), labels_of({0, 1}), 2); }),
                  "predicted labels from 0 to 2");
}

// scikit-learn's accuracy_score and f1_score(average="macro") on
// predictions of a 7-class problem in which one class is never predicted and
// another never gold.
TEST(ScoreClassification, EqualsScikitLearn) {
  const at::Generator generator = at::make_generator<at::CPUGeneratorImpl>(3);
  const at::Tensor gold = at::randint(6, {500}, generator, at::kLong);
  at::Tensor predicted = at::where(at::rand({500}, generator, at::kDouble) < 0.6, gold,
                                   at::randint(7, {500}, generator, at::kLong));
  predicted.masked_fill_(predicted.eq(4), 5);
  test::TempDir dir;
  test::write_npy(dir.path() / "predicted.npy", predicted);
  test::write_npy(dir.path() / "gold.npy", gold);
  const nlohmann::json reference = test::reference_scores("f1", dir.path());
  const ClassificationScores scores = score_classification(predicted, gold, 7);
  EXPECT_NEAR(scores.accuracy, reference["accuracy"].get<double>(), 1e-12);
  EXPECT_NEAR(scores.macro_f1, reference["macro_f1"].get<double>(), 1e-12);
}

TEST(StratifiedFolds, EveryFoldHoldsEachClassesShareWithinOne) {
  std::vector<std::int64_t> labels;
  for (int i = 0; i < 103; ++i) labels.push_back(i % 7 == 0 ? 2 : i % 3 == 0 ? 0 : 1);
  const std::vector<int> folds = stratified_folds(labels, 10, 1234);
  ASSERT_EQ(folds.size(), labels.size());
  std::map<std::int64_t, std::vector<int>> per_class;  // class -> examples per fold
  std::vector<int> sizes(10);
  for (std::size_t i = 0; i < labels.size(); ++i) {
    ASSERT_GE(folds[i], 0);
    ASSERT_LT(folds[i], 10);
    per_class[labels[i]].resize(10);
    ++per_class[labels[i]][folds[i]];
    ++sizes[folds[i]];
  }
  for (const auto& [label, counts] : per_class) {
    EXPECT_LE(*std::max_element(counts.begin(), counts.end()) - *std::min_element(counts.begin(), counts.end()), 1)
        << "class " << label;
  }
  EXPECT_LE(*std::max_element(sizes.begin(), sizes.end()) - *std::min_element(sizes.begin(), sizes.end()), 1);
}

// The documented assignment, pinned: the same labels and seed give the same
// folds on every machine and in every version.
TEST(StratifiedFolds, AreTheDocumentedShuffleDealtInTurn) {
  const std::vector<std::int64_t> labels{1, 0, 1, 0, 0, 1, 1, 0, 2};
  EXPECT_EQ(stratified_folds(labels, 3, 42), stratified_folds(labels, 3, 42));
  EXPECT_NE(stratified_folds(labels, 3, 42), stratified_folds(labels, 3, 43));
  EXPECT_EQ(stratified_folds(labels, 3, 42), (std::vector<int>{2, 1, 1, 0, 0, 1, 0, 2, 2}));
}

TEST(StratifiedFolds, RefusesTooFewOrTooManyFolds) {
  using test::error_message;
  EXPECT_CONTAINS(error_message<std::invalid_argument>([] { stratified_folds({0, 1, 0}, 1, 0); }),
                  "cannot make 1 folds of 3");
  EXPECT_CONTAINS(error_message<std::invalid_argument>([] { stratified_folds({0, 1, 0}, 4, 0); }),
                  "cannot make 4 folds of 3");
}

// A class with fewer examples than folds is missing from some folds' test
// rows (and from one fold's training rows when it has a single example).
TEST(CrossValidate, ScoresEveryFoldEvenWhenAClassIsAbsentFromSome) {
  test::LabelledVectors data = test::gaussian_clusters(200, 6, 3, 3.0, 9);
  data.labels[17] = 3;  // a class of one example
  const std::vector<std::int64_t> labels(data.labels.data_ptr<std::int64_t>(),
                                         data.labels.data_ptr<std::int64_t>() + 200);
  const std::vector<int> folds = stratified_folds(labels, 5, 1);
  const CrossValidationScores scores = cross_validate(data.features, data.labels, 4, folds);
  EXPECT_EQ(scores.folds, 5);
  EXPECT_GT(scores.accuracy, 60.0);
  EXPECT_LE(scores.accuracy, 100.0);
  EXPECT_GT(scores.accuracy_sd, 0.0);
  EXPECT_GT(scores.macro_f1, 0.0);

  // Fold 0 scored by hand gives the same as cross_validate's fold 0 alone:
  // with two folds, the mean is their average.
  std::vector<int> two(200);
  for (int i = 0; i < 200; ++i) two[i] = i < 100 ? 0 : 1;
  const CrossValidationScores halves = cross_validate(data.features, data.labels, 4, two);
  std::vector<double> accuracies;
  for (const int held_out : {0, 1}) {
    const at::Tensor train = at::arange(held_out == 0 ? 100 : 0, held_out == 0 ? 200 : 100, at::kLong);
    const at::Tensor test = at::arange(held_out == 0 ? 0 : 100, held_out == 0 ? 100 : 200, at::kLong);
    const LinearProbe probe(data.features.index_select(0, train), data.labels.index_select(0, train), 4);
    accuracies.push_back(
        score_classification(probe.predict(data.features.index_select(0, test)), data.labels.index_select(0, test), 4)
            .accuracy);
  }
  EXPECT_DOUBLE_EQ(halves.accuracy, (accuracies[0] + accuracies[1]) / 2);
  EXPECT_DOUBLE_EQ(halves.accuracy_sd, std::abs(accuracies[0] - accuracies[1]) / 2);
}

// The folds run in parallel, each probe on one thread: the same numbers
// whatever the thread count.
TEST(CrossValidate, GivesTheSameScoresWhateverTheThreadCount) {
  const test::LabelledVectors data = test::gaussian_clusters(300, 40, 3, 1.0, 5);
  const std::vector<std::int64_t> labels(data.labels.data_ptr<std::int64_t>(),
                                         data.labels.data_ptr<std::int64_t>() + 300);
  const std::vector<int> folds = stratified_folds(labels, 10, 2);
  const int threads = at::get_num_threads();
  at::set_num_threads(1);
  const CrossValidationScores single = cross_validate(data.features, data.labels, 3, folds);
  at::set_num_threads(4);
  const CrossValidationScores parallel = cross_validate(data.features, data.labels, 3, folds);
  at::set_num_threads(threads);
  EXPECT_LT(single.accuracy, 95.0);  // some rows on the wrong side
  EXPECT_EQ(single.accuracy, parallel.accuracy);
  EXPECT_EQ(single.accuracy_sd, parallel.accuracy_sd);
  EXPECT_EQ(single.macro_f1, parallel.macro_f1);
  EXPECT_EQ(single.macro_f1_sd, parallel.macro_f1_sd);
}

TEST(CrossValidate, RefusesFoldsThatDoNotNumberTheRows) {
  const test::LabelledVectors data = test::gaussian_clusters(6, 2, 2, 1.0, 1);
  using test::error_message;
  EXPECT_CONTAINS(error_message<std::invalid_argument>(
                      [&] { cross_validate(data.features, data.labels, 2, {0, 1, 0}); }),
                  "3 fold numbers");
  EXPECT_CONTAINS(error_message<std::invalid_argument>(
                      [&] { cross_validate(data.features, data.labels, 2, {0, 0, 0, 0, 0, 0}); }),
                  "1 fold(s)");
  EXPECT_CONTAINS(error_message<std::invalid_argument>(
                      [&] { cross_validate(data.features, data.labels, 2, {0, 2, 0, 2, 0, 2}); }),
                  "fold 1 empty");
}

}  // namespace
}  // namespace bert_embed
