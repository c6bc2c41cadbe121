#include "bert_embed/vectors/postprocess.h"

#include <ATen/CPUGeneratorImpl.h>
#include <gtest/gtest.h>

#include <fstream>
#include <functional>
#include <limits>
#include <stdexcept>
#include <string>

#include "expect_error.h"
#include "temp_dir.h"

namespace bert_embed {
namespace {

namespace fs = std::filesystem;
using test::error_message;

constexpr std::int64_t kRows = 400;
constexpr std::int64_t kSlots = 2;
constexpr std::int64_t kDim = 16;

// Correlated, off-centre float32 vectors [rows, slots, dim] with a different
// distribution in each slot, like two layers kept apart.
at::Tensor correlated_rows(std::int64_t rows = kRows, std::uint64_t seed = 7) {
  const at::Generator generator = at::make_generator<at::CPUGeneratorImpl>(seed);
  const at::Tensor latent = at::randn({rows, kSlots, kDim}, generator, at::kDouble);
  const at::Tensor mixing = at::randn({kSlots, kDim, kDim}, generator, at::kDouble);
  const at::Tensor offset = at::randn({kSlots, kDim}, generator, at::kDouble) * 5;
  const at::Tensor mixed = at::matmul(latent.transpose(0, 1), mixing).transpose(0, 1) + offset;
  return mixed.to(at::kFloat).contiguous();
}

// Per slot of x [n, slots, dim]: the sample covariance [slots, dim, dim].
at::Tensor covariance(const at::Tensor& x) {
  const at::Tensor by_slot = x.to(at::kDouble).transpose(0, 1);
  const at::Tensor centred = by_slot - by_slot.mean(1, /*keepdim=*/true);
  return centred.transpose(1, 2).matmul(centred) / (x.size(0) - 1);
}

double max_abs(const at::Tensor& x) { return x.abs().max().item<double>(); }

PostProcessor fitted(const PostProcessOptions& options, const at::Tensor& rows) {
  PostProcessor processor(options);
  processor.fit(rows);
  return processor;
}

TEST(PostProcessor, L2NormalizationGivesUnitRowsAndKeepsZeroVectors) {
  PostProcessOptions options;
  options.l2_normalize = true;
  const PostProcessor processor(options);
  EXPECT_FALSE(processor.needs_statistics());
  at::Tensor rows = correlated_rows();
  rows[3][1].zero_();
  const at::Tensor normalized = processor.apply(rows);
  const at::Tensor norms = normalized.to(at::kDouble).norm(2, -1);
  norms[3][1] = 1.0;
  EXPECT_LE(max_abs(norms - 1.0), 1e-5);
  EXPECT_TRUE(at::equal(normalized[3][1], at::zeros({kDim})));
  // Direction is kept.
  const double cosine =
      at::dot(normalized[0][0].to(at::kDouble), rows[0][0].to(at::kDouble)).item<double>() /
      rows[0][0].to(at::kDouble).norm().item<double>();
  EXPECT_NEAR(cosine, 1.0, 1e-6);
}

TEST(PostProcessor, StandardizeGivesZeroMeanAndUnitVariance) {
  PostProcessOptions options;
  options.standardize = true;
  const at::Tensor rows = correlated_rows();
  const at::Tensor out = fitted(options, rows).apply(rows).to(at::kDouble);
  EXPECT_LE(max_abs(out.mean(0)), 1e-4);
  EXPECT_LE(max_abs(out.var(0, /*unbiased=*/false) - 1.0), 1e-4);
}

TEST(PostProcessor, StandardizeOnlyCentresConstantDimensions) {
  PostProcessOptions options;
  options.standardize = true;
  at::Tensor rows = correlated_rows();
  rows.select(2, 5).fill_(3.25f);
  const at::Tensor out = fitted(options, rows).apply(rows);
  EXPECT_TRUE(at::equal(out.select(2, 5), at::zeros({kRows, kSlots})));
  EXPECT_LE(max_abs(out.select(2, 6).to(at::kDouble).var(0, false) - 1.0), 1e-4);
}

TEST(PostProcessor, WhiteningGivesIdentityCovariance) {
  for (const int components : {6, static_cast<int>(kDim)}) {
    PostProcessOptions options;
    options.whiten_components = components;
    const at::Tensor rows = correlated_rows();
    const at::Tensor out = fitted(options, rows).apply(rows);
    ASSERT_EQ(out.sizes(), (std::vector<std::int64_t>{kRows, kSlots, components}));
    const at::Tensor identity =
        at::eye(components, at::kDouble).expand({kSlots, components, components});
    EXPECT_LE(max_abs(covariance(out) - identity), 1e-4) << "K = " << components;
    EXPECT_LE(max_abs(out.to(at::kDouble).mean(0)), 1e-4);
  }
}

// BERT-whitening keeps the top K principal components, each scaled to unit
// variance: checked against an eigendecomposition (not the SVD the
// implementation uses), up to the sign of each component.
TEST(PostProcessor, WhiteningProjectsOnTheTopPrincipalComponents) {
  constexpr int kComponents = 5;
  PostProcessOptions options;
  options.whiten_components = kComponents;
  const at::Tensor rows = correlated_rows();
  const at::Tensor out = fitted(options, rows).apply(rows).to(at::kDouble);
  for (std::int64_t slot = 0; slot < kSlots; ++slot) {
    const at::Tensor x = rows.select(1, slot).to(at::kDouble);
    const auto [values, vectors] = at::linalg_eigh(covariance(rows)[slot]);  // ascending
    const at::Tensor top = vectors.flip({1}).narrow(1, 0, kComponents);
    const at::Tensor scale = values.flip({0}).narrow(0, 0, kComponents).sqrt();
    const at::Tensor expected = (x - x.mean(0)).matmul(top) / scale;
    const at::Tensor actual = out.select(1, slot);
    const at::Tensor signs = (expected * actual).sum(0).sign();
    EXPECT_LE(max_abs(actual * signs - expected), 1e-4) << "slot " << slot;
  }
}

TEST(PostProcessor, RemoveTopRemovesTheVarianceAlongTheTopDirections) {
  constexpr int kRemoved = 3;
  PostProcessOptions options;
  options.remove_top = kRemoved;
  const at::Tensor rows = correlated_rows();
  const at::Tensor out = fitted(options, rows).apply(rows).to(at::kDouble);
  ASSERT_EQ(out.sizes(), rows.sizes());
  EXPECT_LE(max_abs(out.mean(0)), 1e-4);
  for (std::int64_t slot = 0; slot < kSlots; ++slot) {
    const auto [values, vectors] = at::linalg_eigh(covariance(rows)[slot]);
    const at::Tensor descending = vectors.flip({1});
    const at::Tensor removed = out.select(1, slot).matmul(descending.narrow(1, 0, kRemoved));
    const at::Tensor kept =
        out.select(1, slot).matmul(descending.narrow(1, kRemoved, kDim - kRemoved));
    const double largest = values.max().item<double>();
    EXPECT_LE(removed.var(0).max().item<double>(), 1e-9 * largest) << "slot " << slot;
    // The other directions keep their variance.
    EXPECT_LE(max_abs(kept.var(0) - values.flip({0}).narrow(0, kRemoved, kDim - kRemoved)),
              1e-4 * largest);
  }
}

TEST(PostProcessor, AllTransformsRunInOrder) {
  PostProcessOptions options;
  options.whiten_components = 8;
  options.remove_top = 1;
  options.standardize = true;
  options.l2_normalize = true;
  const at::Tensor rows = correlated_rows();
  const at::Tensor out = fitted(options, rows).apply(rows);
  ASSERT_EQ(out.sizes(), (std::vector<std::int64_t>{kRows, kSlots, 8}));
  EXPECT_EQ(out.scalar_type(), at::kFloat);
  EXPECT_LE(max_abs(out.to(at::kDouble).norm(2, -1) - 1.0), 1e-5);
}

TEST(PostProcessor, ResultOfARowDoesNotDependOnTheOtherRows) {
  PostProcessOptions options;
  options.whiten_components = 10;
  options.remove_top = 2;
  options.standardize = true;
  options.l2_normalize = true;
  const at::Tensor rows = correlated_rows();
  const PostProcessor processor = fitted(options, rows);
  const at::Tensor all = processor.apply(rows);
  EXPECT_TRUE(at::equal(processor.apply(rows.narrow(0, 17, 1)), all.narrow(0, 17, 1)));
  EXPECT_TRUE(at::equal(processor.apply(rows.narrow(0, 100, 33)), all.narrow(0, 100, 33)));
}

TEST(PostProcessor, SavedStatisticsReproduceTheFittingRunExactly) {
  const test::TempDir dir;
  PostProcessOptions options;
  options.whiten_components = 12;
  options.remove_top = 2;
  options.standardize = true;
  options.l2_normalize = true;
  const at::Tensor rows = correlated_rows();
  const PostProcessor fitting = fitted(options, rows);
  const at::Tensor expected = fitting.apply(rows);
  fitting.save(dir.path() / "stats.json");

  PostProcessor loaded(options);
  loaded.load(dir.path() / "stats.json");
  EXPECT_TRUE(loaded.fitted());
  EXPECT_TRUE(at::equal(loaded.apply(rows), expected));
  // Statistics travel to new data too.
  const at::Tensor other = correlated_rows(50, 99);
  EXPECT_TRUE(at::equal(loaded.apply(other), fitting.apply(other)));
}

TEST(PostProcessor, StatisticsFileIsSelfDescribingJson) {
  const test::TempDir dir;
  PostProcessOptions options;
  options.whiten_components = 4;
  options.standardize = true;
  const at::Tensor rows = correlated_rows();
  fitted(options, rows).save(dir.path() / "stats.json");
  std::ifstream in(dir.path() / "stats.json");
  const std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  EXPECT_PRED_FORMAT2(::testing::IsSubstring,
                      "\"format\": \"bert-embed post-processing statistics\"", text);
  EXPECT_PRED_FORMAT2(::testing::IsSubstring, "\"name\": \"whiten\"", text);
  EXPECT_PRED_FORMAT2(::testing::IsSubstring, "\"dtype\": \"<f8\"", text);
  EXPECT_EQ(text.find("remove-top"), std::string::npos);
  // Only the committed file is left: no temporary beside it.
  EXPECT_EQ(std::distance(fs::directory_iterator(dir.path()), fs::directory_iterator()), 1);
}

TEST(PostProcessor, LoadRefusesStatisticsOfOtherTransforms) {
  const test::TempDir dir;
  const fs::path file = dir.path() / "stats.json";
  PostProcessOptions saved_options;
  saved_options.whiten_components = 4;
  saved_options.standardize = true;
  fitted(saved_options, correlated_rows()).save(file);

  PostProcessOptions other = saved_options;
  other.whiten_components = 8;
  const std::string message = error_message<std::exception>([&] { PostProcessor(other).load(file); });
  EXPECT_PRED_FORMAT2(::testing::IsSubstring, file.string(), message);
  EXPECT_PRED_FORMAT2(::testing::IsSubstring, "holds whiten 4, standardize", message);
  EXPECT_PRED_FORMAT2(::testing::IsSubstring, "ask for whiten 8, standardize", message);

  other = saved_options;
  other.standardize = false;
  EXPECT_PRED_FORMAT2(::testing::IsSubstring, "ask for whiten 4",
                      error_message<std::exception>([&] { PostProcessor(other).load(file); }));
  // L2 normalization needs no statistics: adding it is fine.
  other = saved_options;
  other.l2_normalize = true;
  PostProcessor with_l2(other);
  EXPECT_NO_THROW(with_l2.load(file));
}

TEST(PostProcessor, ApplyRefusesVectorsOfAnotherShape) {
  const test::TempDir dir;
  const fs::path file = dir.path() / "stats.json";
  PostProcessOptions options;
  options.standardize = true;
  fitted(options, correlated_rows()).save(file);
  PostProcessor loaded(options);
  loaded.load(file);
  const std::string message = error_message<std::exception>([&] { loaded.apply(at::zeros({3, kSlots, kDim + 1})); });
  EXPECT_PRED_FORMAT2(::testing::IsSubstring, file.string(), message);
  EXPECT_PRED_FORMAT2(::testing::IsSubstring, "dimension 16", message);
  EXPECT_PRED_FORMAT2(::testing::IsSubstring, "dimension 17", message);
  EXPECT_THROW(loaded.apply(at::zeros({3, 1, kDim})), std::runtime_error);
}

TEST(PostProcessor, LoadErrorsNameTheFile) {
  const test::TempDir dir;
  PostProcessOptions options;
  options.standardize = true;
  const fs::path missing = dir.path() / "missing.json";
  EXPECT_PRED_FORMAT2(::testing::IsSubstring, missing.string(),
                      error_message<std::exception>([&] { PostProcessor(options).load(missing); }));

  const auto load_text = [&](const std::string& text) {
    const fs::path file = dir.path() / "bad.json";
    std::ofstream(file) << text;
    const std::string message = error_message<std::exception>([&] { PostProcessor(options).load(file); });
    EXPECT_PRED_FORMAT2(::testing::IsSubstring, file.string(), message);
    return message;
  };
  EXPECT_PRED_FORMAT2(::testing::IsSubstring, "not valid JSON", load_text("{\"format\": "));
  EXPECT_PRED_FORMAT2(::testing::IsSubstring, "not a bert-embed statistics file",
                      load_text("[1, 2]"));
  const std::string header =
      "{\"format\": \"bert-embed post-processing statistics\", \"version\": 1, \"slots\": 1, "
      "\"dim\": 2, \"transforms\": [{\"name\": \"standardize\", ";
  const std::string scale =
      "\"scale\": {\"dtype\": \"<f8\", \"shape\": [1, 2], \"base64\": "
      "\"AAAAAAAA8D8AAAAAAADwPw==\"}";
  EXPECT_PRED_FORMAT2(::testing::IsSubstring, "\"mean\" is missing",
                      load_text(header + scale + "}]}"));
  EXPECT_PRED_FORMAT2(
      ::testing::IsSubstring, "shape [1,3] where [1,2] was expected",
      load_text(header + "\"mean\": {\"dtype\": \"<f8\", \"shape\": [1, 3], \"base64\": \"\"}, " +
                scale + "}]}"));
  EXPECT_PRED_FORMAT2(::testing::IsSubstring, "8 bytes of data",
                      load_text(header +
                                "\"mean\": {\"dtype\": \"<f8\", \"shape\": [1, 2], \"base64\": "
                                "\"AAAAAAAA8D8=\"}, " +
                                scale + "}]}"));
  EXPECT_PRED_FORMAT2(::testing::IsSubstring, "not base64",
                      load_text(header +
                                "\"mean\": {\"dtype\": \"<f8\", \"shape\": [1, 2], \"base64\": "
                                "\"@@@@\"}, " +
                                scale + "}]}"));
  EXPECT_PRED_FORMAT2(::testing::IsSubstring, "unknown transform",
                      load_text(header + "\"x\": 1}, {\"name\": \"rotate\"}]}"));
}

TEST(PostProcessor, HandWrittenStatisticsFileIsApplied) {
  // mean (1, 2), scale (1, 1): exactly what save() would write for them, base64
  // of little-endian float64.
  const test::TempDir dir;
  const fs::path file = dir.path() / "stats.json";
  std::ofstream(file)
      << "{\"format\": \"bert-embed post-processing statistics\", \"version\": 1, \"slots\": 1, "
         "\"dim\": 2, \"transforms\": [{\"name\": \"standardize\", "
         "\"mean\": {\"dtype\": \"<f8\", \"shape\": [1, 2], \"base64\": "
         "\"AAAAAAAA8D8AAAAAAAAAQA==\"}, "
         "\"scale\": {\"dtype\": \"<f8\", \"shape\": [1, 2], \"base64\": "
         "\"AAAAAAAA8D8AAAAAAADwPw==\"}}]}";
  PostProcessOptions options;
  options.standardize = true;
  PostProcessor processor(options);
  processor.load(file);
  const at::Tensor out = processor.apply(at::tensor({3.0f, 5.0f}).reshape({1, 1, 2}));
  EXPECT_TRUE(at::equal(out, at::tensor({2.0f, 3.0f}).reshape({1, 1, 2})));
}

TEST(PostProcessor, FittingNeedsAtLeastTwoRows) {
  PostProcessOptions options;
  options.standardize = true;
  const std::string message = error_message<std::exception>([&] { fitted(options, correlated_rows(1)); });
  EXPECT_PRED_FORMAT2(::testing::IsSubstring, "at least 2 vectors, got 1", message);
}

TEST(PostProcessor, WhiteningRefusesRankDeficientData) {
  PostProcessOptions options;
  options.whiten_components = 8;
  // 5 vectors span at most 4 directions around their mean.
  EXPECT_PRED_FORMAT2(::testing::IsSubstring, "span only 4",
                      error_message<std::exception>([&] { fitted(options, correlated_rows(5)); }));
  options.whiten_components = kDim + 1;
  EXPECT_PRED_FORMAT2(::testing::IsSubstring, "exceeds the dimension 16",
                      error_message<std::exception>([&] { fitted(options, correlated_rows()); }));
}

TEST(PostProcessor, RemoveTopMustLeaveADirection) {
  PostProcessOptions options;
  options.remove_top = kDim;
  EXPECT_THROW(fitted(options, correlated_rows()), std::invalid_argument);
}

TEST(PostProcessor, RefusesNonFiniteTrainingData) {
  PostProcessOptions options;
  options.standardize = true;
  at::Tensor rows = correlated_rows();
  rows[4][0][2] = std::numeric_limits<float>::quiet_NaN();
  EXPECT_PRED_FORMAT2(::testing::IsSubstring, "NaN", error_message<std::exception>([&] { fitted(options, rows); }));
}

TEST(PostProcessor, ApplyBeforeFitIsALogicError) {
  PostProcessOptions options;
  options.standardize = true;
  EXPECT_THROW(PostProcessor(options).apply(correlated_rows()), std::logic_error);
}

}  // namespace
}  // namespace bert_embed
