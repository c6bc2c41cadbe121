#include "bert_embed/evaluation/similarity.h"

#include <ATen/CPUGeneratorImpl.h>
#include <gtest/gtest.h>

#include <cmath>
#include <stdexcept>
#include <vector>

#include "expect_error.h"
#include "reference.h"
#include "temp_dir.h"

namespace bert_embed {
namespace {

std::vector<double> values_of(const at::Tensor& tensor) {
  const at::Tensor flat = tensor.to(at::kDouble).contiguous();
  return std::vector<double>(flat.data_ptr<double>(), flat.data_ptr<double>() + flat.numel());
}

TEST(RowCosines, AreThoseOfEachPairInFloat64) {
  const at::Tensor first = at::tensor({1.0f, 0.0f, 3.0f, 4.0f, 0.0f, 0.0f}).view({3, 2});
  const at::Tensor second = at::tensor({0.0f, 2.0f, 6.0f, 8.0f, 1.0f, 1.0f}).view({3, 2});
  const at::Tensor cosines = row_cosines(first, second);
  EXPECT_EQ(cosines.scalar_type(), at::kDouble);
  ASSERT_EQ(cosines.size(0), 3);
  EXPECT_DOUBLE_EQ(cosines[0].item<double>(), 0.0);
  EXPECT_DOUBLE_EQ(cosines[1].item<double>(), 1.0);
  EXPECT_EQ(cosines[2].item<double>(), 0.0);  // a zero row: 0, not NaN
}

TEST(RowCosines, RefusesPairsOfDifferentShapesOrIntegers) {
  EXPECT_CONTAINS(test::error_message<std::invalid_argument>(
                      [] { row_cosines(at::ones({3, 2}), at::ones({2, 2})); }),
                  "[3, 2]");
  EXPECT_CONTAINS(test::error_message<std::invalid_argument>(
                      [] { row_cosines(at::ones({3, 2}, at::kLong), at::ones({3, 2}, at::kLong)); }),
                  "Long");
}

TEST(Correlation, PerfectAndInverseRelations) {
  const std::vector<double> x{1, 2, 3, 4, 5};
  EXPECT_NEAR(pearson_correlation(x, {2, 4, 6, 8, 10}), 100.0, 1e-12);
  EXPECT_NEAR(pearson_correlation(x, {5, 4, 3, 2, 1}), -100.0, 1e-12);
  // Monotone but not linear: rank correlation is perfect, Pearson's is not.
  EXPECT_NEAR(spearman_correlation(x, {1, 8, 27, 64, 125}), 100.0, 1e-12);
  EXPECT_LT(pearson_correlation(x, {1, 8, 27, 64, 125}), 99.0);
}

TEST(Correlation, SpearmanGivesTiesTheirAverageRank) {
  // Ranks of x: 1, 2.5, 2.5, 4; of y: 1, 2, 3, 4. Pearson of those ranks:
  // centred (-1.5, 0, 0, 1.5) and (-1.5, -0.5, 0.5, 1.5): 4.5 / sqrt(4.5 * 5).
  EXPECT_NEAR(spearman_correlation({1, 2, 2, 3}, {10, 20, 30, 40}), 100.0 * 4.5 / std::sqrt(4.5 * 5.0), 1e-12);
}

TEST(Correlation, ConstantInputGivesNaN) {
  EXPECT_TRUE(std::isnan(pearson_correlation({1, 1, 1}, {1, 2, 3})));
  EXPECT_TRUE(std::isnan(spearman_correlation({1, 2, 3}, {4, 4, 4})));
}

TEST(Correlation, RefusesTooFewOrUnpairedValues) {
  EXPECT_CONTAINS(test::error_message<std::invalid_argument>([] { pearson_correlation({1}, {1}); }),
                  "at least 2");
  EXPECT_CONTAINS(test::error_message<std::invalid_argument>([] { spearman_correlation({1, 2, 3}, {1, 2}); }),
                  "3 and 2");
}

TEST(ScoreSimilarity, CorrelatesCosinesWithGold) {
  const at::Tensor first = at::tensor({1.0, 0.0, 1.0, 0.0, 1.0, 0.0}).view({3, 2});
  const at::Tensor second = at::tensor({1.0, 0.0, 1.0, 1.0, 0.0, 1.0}).view({3, 2});
  const SimilarityScores scores = score_similarity(first, second, {5.0, 2.5, 0.0});
  EXPECT_EQ(scores.n, 3u);
  EXPECT_NEAR(scores.spearman, 100.0, 1e-12);
  EXPECT_DOUBLE_EQ(scores.pearson, pearson_correlation({1.0, 1.0 / std::sqrt(2.0), 0.0}, {5.0, 2.5, 0.0}));
  EXPECT_CONTAINS(test::error_message<std::invalid_argument>([&] { score_similarity(first, second, {1.0}); }),
                  "3 pairs but 1 gold");
}

// scipy.stats.pearsonr and spearmanr on the same series: noisy relations,
// scores rounded to few values (many ties, as STS gold scores have), one
// constant series (NaN on both sides).
TEST(Correlation, EqualsScipyWithin1e6) {
  const at::Generator generator = at::make_generator<at::CPUGeneratorImpl>(11);
  const std::int64_t series = 8, length = 1379;
  const at::Tensor x = at::randn({series, length}, generator, at::kDouble);
  at::Tensor y = x * at::linspace(-1.0, 1.0, series, at::kDouble).unsqueeze(1) +
                 at::randn({series, length}, generator, at::kDouble);
  y.narrow(0, 0, 4).mul_(2.5).round_();  // ties in y
  x.narrow(0, 2, 2).mul_(4).round_();    // ties in x too
  y[6].fill_(3.0);
  test::TempDir dir;
  test::write_npy(dir.path() / "x.npy", x);
  test::write_npy(dir.path() / "y.npy", y);
  const nlohmann::json reference = test::reference_scores("correlation", dir.path());
  for (std::int64_t i = 0; i < series; ++i) {
    SCOPED_TRACE("series " + std::to_string(i));
    const double pearson = pearson_correlation(values_of(x[i]), values_of(y[i]));
    const double spearman = spearman_correlation(values_of(x[i]), values_of(y[i]));
    if (reference["pearson"][i].is_null()) {
      EXPECT_TRUE(std::isnan(pearson));
      EXPECT_TRUE(std::isnan(spearman));
      continue;
    }
    EXPECT_NEAR(pearson, reference["pearson"][i].get<double>(), 1e-6);
    EXPECT_NEAR(spearman, reference["spearman"][i].get<double>(), 1e-6);
  }
}

}  // namespace
}  // namespace bert_embed
