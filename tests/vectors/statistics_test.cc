#include "bert_embed/vectors/statistics.h"

#include <ATen/CPUGeneratorImpl.h>
#include <gtest/gtest.h>

#include <limits>
#include <stdexcept>
#include <string>
#include <vector>

#include "bert_embed/io/npy_reader.h"
#include "bert_embed/vectors/postprocess.h"
#include "expect_error.h"
#include "temp_dir.h"

namespace bert_embed {
namespace {

namespace fs = std::filesystem;

constexpr std::int64_t kSlots = 2;
constexpr std::int64_t kDim = 12;

// Off-centre, correlated float32 vectors [rows, slots, dim].
at::Tensor sample_rows(std::int64_t rows, std::uint64_t seed) {
  const at::Generator generator = at::make_generator<at::CPUGeneratorImpl>(seed);
  const at::Tensor latent = at::randn({rows, kSlots, kDim}, generator, at::kDouble);
  const at::Tensor mixing = at::randn({kSlots, kDim, kDim}, generator, at::kDouble);
  return (at::matmul(latent.unsqueeze(2), mixing).squeeze(2) + 3.0).to(at::kFloat).contiguous();
}

double max_relative(const at::Tensor& actual, const at::Tensor& expected) {
  return (actual - expected).abs().max().item<double>() / expected.abs().max().item<double>();
}

VectorStatistics statistics_of(const at::Tensor& rows) {
  VectorStatistics statistics(rows.size(1), rows.size(2));
  statistics.add(rows);
  return statistics;
}

TEST(VectorStatistics, MeanAndCovarianceAreThoseOfTheVectors) {
  const at::Tensor rows = sample_rows(300, 1);
  const VectorStatistics statistics = statistics_of(rows);
  EXPECT_EQ(statistics.count(), 300);
  for (std::int64_t slot = 0; slot < kSlots; ++slot) {
    const at::Tensor x = rows.select(1, slot).to(at::kDouble);
    EXPECT_LE(max_relative(statistics.mean()[slot], x.mean(0)), 1e-12);
    // at::cov centres the vectors first, then divides by n - 1.
    EXPECT_LE(max_relative(statistics.covariance()[slot], at::cov(x.t())), 1e-12);
  }
}

TEST(VectorStatistics, AddingInChunksEqualsAddingAtOnce) {
  const at::Tensor rows = sample_rows(250, 2);
  VectorStatistics chunked(kSlots, kDim);
  for (std::int64_t first = 0; first < 250; first += 64)
    chunked.add(rows.narrow(0, first, std::min<std::int64_t>(64, 250 - first)));
  const VectorStatistics whole = statistics_of(rows);
  EXPECT_EQ(chunked.count(), whole.count());
  // Sums about the first chunk's mean, not the whole's: compared through
  // what they are for.
  EXPECT_LE(max_relative(chunked.mean(), whole.mean()), 1e-13);
  EXPECT_LE(max_relative(chunked.covariance(), whole.covariance()), 1e-13);
}

// Shards fitted apart and merged give the fit over all the vectors: the
// moments, and every array of the fitted transforms.
TEST(VectorStatistics, MergeOfTwoHalvesEqualsOneFitOverTheWhole) {
  const at::Tensor rows = sample_rows(400, 3);
  VectorStatistics merged = statistics_of(rows.narrow(0, 0, 170));
  merged.merge(statistics_of(rows.narrow(0, 170, 230)));
  const VectorStatistics whole = statistics_of(rows);
  EXPECT_EQ(merged.count(), 400);
  EXPECT_LE(max_relative(merged.mean(), whole.mean()), 1e-9);
  EXPECT_LE(max_relative(merged.covariance(), whole.covariance()), 1e-9);

  // Not whitening and removal together: whitened vectors have the same
  // variance in every direction, so their "top" directions are rounding noise.
  PostProcessOptions whiten;
  whiten.whiten_components = 8;
  whiten.standardize = true;
  PostProcessOptions remove_top;
  remove_top.remove_top = 2;
  remove_top.standardize = true;
  VectorSource source;
  source.slot_labels = {"-2", "-1"};
  source.dim = kDim;
  for (const PostProcessOptions& options : {whiten, remove_top}) {
    const test::TempDir dir;
    PostProcessor from_merged(options);
    from_merged.fit(merged);
    from_merged.save(dir.path() / "merged.json", source);
    PostProcessor from_whole(options);
    from_whole.fit(whole);
    from_whole.save(dir.path() / "whole.json", source);
    int compared = 0;
    for (const auto& entry : fs::directory_iterator(dir.path())) {
      const std::string name = entry.path().filename().string();
      // The moments are about different shifts; the ranges and the fitted transforms must agree.
      if (name.rfind("whole.", 0) != 0 || entry.path().extension() != ".npy" ||
          name == "whole.shift.npy" || name == "whole.sum.npy" || name == "whole.outer.npy")
        continue;
      const auto read = [](const fs::path& file) {
        const NpyReader reader(file);
        at::Tensor values = at::empty(reader.shape(), at::kDouble);
        reader.read_rows(0, reader.rows(), values.data_ptr<double>());
        return values;
      };
      const at::Tensor expected = read(entry.path());
      const at::Tensor actual = read(dir.path() / ("merged." + name.substr(6)));
      // Means after a transform are zero up to rounding: compared absolutely.
      EXPECT_LE((actual - expected).abs().max().item<double>(),
                1e-9 * std::max(1.0, expected.abs().max().item<double>()))
          << postprocess_label(options) << ": " << name;
      ++compared;
    }
    EXPECT_EQ(compared, 6) << "the ranges (min, max) and the arrays of the transforms";
  }
}

// Sums about zero would lose 1e8 of the covariance's precision here: the mean
// is 1e4 standard deviations away from the origin.
TEST(VectorStatistics, CovarianceIsPreciseFarFromTheOrigin) {
  const at::Tensor rows = sample_rows(500, 7);
  const at::Tensor far = (rows.to(at::kDouble) + 1e4).to(at::kFloat);
  const at::Tensor near = far.to(at::kDouble) - 1e4;  // the same values, exactly
  VectorStatistics statistics = statistics_of(far.narrow(0, 0, 100));
  // A shard whose first vectors, and so its shift, differ: merged across shifts.
  statistics.merge(statistics_of(far.narrow(0, 100, 400).flip({0})));
  for (std::int64_t slot = 0; slot < kSlots; ++slot) {
    EXPECT_LE(max_relative(statistics.covariance()[slot], at::cov(near.select(1, slot).t())), 1e-9);
  }
}

TEST(VectorStatistics, RangesAreTheSmallestAndLargestValuesAndMergeExactly) {
  const at::Tensor rows = sample_rows(90, 9);
  VectorStatistics merged = statistics_of(rows.narrow(0, 0, 40));
  merged.merge(statistics_of(rows.narrow(0, 40, 50)));
  ASSERT_TRUE(merged.has_range());
  EXPECT_TRUE(at::equal(merged.minimum(), rows.amin(0).to(at::kDouble)));
  EXPECT_TRUE(at::equal(merged.maximum(), rows.amax(0).to(at::kDouble)));
  // Statistics saved without a range (by hand) merge into statistics without one.
  const VectorStatistics counted = statistics_of(rows);
  VectorStatistics unranged(counted.count(), counted.shift(), counted.sum(), counted.outer());
  EXPECT_FALSE(unranged.has_range());
  merged.merge(unranged);
  EXPECT_FALSE(merged.has_range());
  EXPECT_EQ(merged.count(), 180);
  EXPECT_THROW(VectorStatistics(counted.count(), counted.shift(), counted.sum(), counted.outer(),
                                counted.minimum()),
               std::invalid_argument);
}

TEST(VectorStatistics, MergingIntoNothingGivesTheOther) {
  VectorStatistics empty(kSlots, kDim);
  const VectorStatistics some = statistics_of(sample_rows(20, 8));
  empty.merge(some);
  EXPECT_EQ(empty.count(), 20);
  EXPECT_TRUE(at::equal(empty.mean(), some.mean()));
  empty.merge(VectorStatistics(kSlots, kDim));
  EXPECT_TRUE(at::equal(empty.covariance(), some.covariance()));
}

TEST(VectorStatistics, CopiesAreIndependent) {
  const VectorStatistics original = statistics_of(sample_rows(10, 4));
  const at::Tensor sum = original.sum().clone();
  VectorStatistics copy = original;
  copy.add(sample_rows(5, 5));
  copy.merge(original);
  EXPECT_EQ(original.count(), 10);
  EXPECT_TRUE(at::equal(original.sum(), sum));
}

TEST(VectorStatistics, RefusesNonFiniteVectorsAndOtherShapes) {
  VectorStatistics statistics(kSlots, kDim);
  at::Tensor rows = sample_rows(4, 6);
  rows[2][1][3] = std::numeric_limits<float>::infinity();
  EXPECT_CONTAINS(test::error_message<std::runtime_error>([&] { statistics.add(rows); }),
                  "NaN or infinity");
  EXPECT_EQ(statistics.count(), 0);
  EXPECT_CONTAINS(test::error_message<std::runtime_error>([&] {
                    statistics.add(at::zeros({3, kSlots, kDim + 1}));
                  }),
                  "2 slot(s) of dimension 12 cannot take vectors of 2 slot(s) of dimension 13");
  EXPECT_THROW(statistics.merge(VectorStatistics(1, kDim)), std::runtime_error);
  EXPECT_THROW(VectorStatistics(3, at::zeros({2, 4}, at::kDouble), at::zeros({2, 4}, at::kDouble),
                                at::zeros({2, 4, 5}, at::kDouble)),
               std::invalid_argument);
}

}  // namespace
}  // namespace bert_embed
