#include "bert_embed/pipeline/batcher.h"

#include <algorithm>
#include <random>

#include <gtest/gtest.h>

namespace bert_embed {
namespace {

TokenizedLine line_of_length(std::size_t index, std::size_t length) {
  TokenizedLine line;
  line.index = index;
  line.encoding.ids.assign(length, 1);
  return line;
}

// Every position once, each batch within the limits and sorted longest first.
void expect_valid_plan(const std::vector<std::size_t>& lengths, const std::vector<Batch>& batches,
                       const BatchLimits& limits) {
  std::vector<std::size_t> seen;
  for (const Batch& batch : batches) {
    ASSERT_FALSE(batch.empty());
    EXPECT_LE(batch.size(), limits.max_lines);
    const std::size_t longest = lengths[batch.front()];
    if (batch.size() > 1) {
      EXPECT_LE(batch.size() * longest, limits.max_tokens);
    }
    for (std::size_t i = 1; i < batch.size(); ++i) {
      EXPECT_GE(lengths[batch[i - 1]], lengths[batch[i]]);
    }
    seen.insert(seen.end(), batch.begin(), batch.end());
  }
  std::sort(seen.begin(), seen.end());
  ASSERT_EQ(seen.size(), lengths.size());
  for (std::size_t i = 0; i < seen.size(); ++i) EXPECT_EQ(seen[i], i);
}

TEST(PlanBatches, RespectsTokenBudgetCountingPadding) {
  const std::vector<std::size_t> lengths = {5, 10, 3, 10, 4, 2};
  const BatchLimits limits{20, 100, 64};
  const auto batches = plan_batches(lengths, limits);
  expect_valid_plan(lengths, batches, limits);
  // 10 and 10 fill the budget; 5, 4, 3 and 2 pad to 4 x 5 = 20 tokens.
  ASSERT_EQ(batches.size(), 2u);
  EXPECT_EQ(batches[0], (Batch{1, 3}));
  EXPECT_EQ(batches[1], (Batch{0, 4, 2, 5}));
}

TEST(PlanBatches, RespectsMaximumLines) {
  const std::vector<std::size_t> lengths(10, 3);
  const BatchLimits limits{1000, 4, 64};
  const auto batches = plan_batches(lengths, limits);
  expect_valid_plan(lengths, batches, limits);
  EXPECT_EQ(batches.size(), 3u);
  // Equal lengths keep their order.
  std::vector<std::size_t> positions;
  for (const Batch& batch : batches) positions.insert(positions.end(), batch.begin(), batch.end());
  EXPECT_EQ(positions, (std::vector<std::size_t>{0, 1, 2, 3, 4, 5, 6, 7, 8, 9}));
}

TEST(PlanBatches, WeighsPaddingAgainstBatchCost) {
  const std::vector<std::size_t> lengths = {10, 6, 2, 2};
  // Cheap batches: three, without padding (10 + 6 + 2 x 2 tokens).
  EXPECT_EQ(plan_batches(lengths, BatchLimits{1000, 100, 1}), (std::vector<Batch>{{0}, {1}, {2, 3}}));
  // Dear batches: one, padded to 4 x 10.
  EXPECT_EQ(plan_batches(lengths, BatchLimits{1000, 100, 100}), (std::vector<Batch>{{0, 1, 2, 3}}));
}

TEST(PlanBatches, LineLongerThanBudgetIsBatchedAlone) {
  const std::vector<std::size_t> lengths = {3, 50, 3};
  const BatchLimits limits{10, 8, 64};
  const auto batches = plan_batches(lengths, limits);
  expect_valid_plan(lengths, batches, limits);
  ASSERT_EQ(batches.size(), 2u);
  EXPECT_EQ(batches[0], (Batch{1}));
  EXPECT_EQ(batches[1], (Batch{0, 2}));
}

TEST(PlanBatches, RandomWindowsAreCoveredWithinLimits) {
  std::mt19937 random(42);
  std::uniform_int_distribution<std::size_t> length(2, 512);
  for (int trial = 0; trial < 20; ++trial) {
    std::vector<std::size_t> lengths(1 + trial * 37);
    for (std::size_t& value : lengths) value = length(random);
    const BatchLimits limits{2048, 64, 64};
    expect_valid_plan(lengths, plan_batches(lengths, limits), limits);
  }
}

TEST(PlanBatches, SortingReducesPadding) {
  const std::vector<std::size_t> lengths = {2, 100, 2, 100, 2, 100, 2, 100};
  const auto batches = plan_batches(lengths, BatchLimits{400, 4, 64});
  ASSERT_EQ(batches.size(), 2u);
  for (const Batch& batch : batches) {
    for (std::size_t position : batch) EXPECT_EQ(lengths[position], lengths[batch.front()]);
  }
}

TEST(PlanBatches, EmptyWindowHasNoBatches) {
  EXPECT_TRUE(plan_batches({}, BatchLimits{}).empty());
}

TEST(PlanBatches, RefusesZeroLimits) {
  EXPECT_THROW(plan_batches({1}, BatchLimits{0, 1, 0}), std::invalid_argument);
  EXPECT_THROW(plan_batches({1}, BatchLimits{1, 0, 0}), std::invalid_argument);
}

TEST(Batcher, WindowClosesAtLineLimitAndKeepsInputOrder) {
  Batcher batcher(BatchLimits{64, 8, 4}, WindowLimits{5, 1000});
  for (std::size_t i = 0; i < 5; ++i) {
    EXPECT_FALSE(batcher.full());
    batcher.add(line_of_length(i, 2 + (i * 7) % 5));
  }
  EXPECT_TRUE(batcher.full());
  const Window window = batcher.take();
  ASSERT_EQ(window.lines.size(), 5u);
  for (std::size_t i = 0; i < 5; ++i) EXPECT_EQ(window.lines[i].index, i);
  std::vector<std::size_t> lengths;
  for (const TokenizedLine& line : window.lines) lengths.push_back(line.encoding.size());
  expect_valid_plan(lengths, window.batches, BatchLimits{64, 8, 4});
  EXPECT_TRUE(batcher.empty());
  EXPECT_FALSE(batcher.full());
}

TEST(Batcher, WindowClosesAtTokenLimit) {
  Batcher batcher(BatchLimits{}, WindowLimits{100, 30});
  batcher.add(line_of_length(0, 20));
  EXPECT_FALSE(batcher.full());
  batcher.add(line_of_length(1, 10));
  EXPECT_TRUE(batcher.full());
}

TEST(Batcher, WindowsLieOnTheGridOfTheirLineLimit) {
  // A window closed early by its tokens ends the next one at the grid line
  // (a multiple of 4), as a run that started there would.
  Batcher batcher(BatchLimits{}, WindowLimits{4, 30});
  batcher.add(line_of_length(0, 20));
  batcher.add(line_of_length(1, 10));
  ASSERT_TRUE(batcher.full());
  batcher.take();
  batcher.add(line_of_length(2, 1));
  EXPECT_FALSE(batcher.full());
  batcher.add(line_of_length(3, 1));
  EXPECT_TRUE(batcher.full());
  EXPECT_EQ(batcher.take().lines.size(), 2u);
}

TEST(Batcher, ResultsScatteredByBatchPositionComeBackInInputOrder) {
  Batcher batcher(BatchLimits{12, 3, 2}, WindowLimits{100, 1000});
  const std::vector<std::size_t> lengths = {4, 1, 6, 2, 6, 3, 5};
  for (std::size_t i = 0; i < lengths.size(); ++i) batcher.add(line_of_length(100 + i, lengths[i]));
  const Window window = batcher.take();
  std::vector<std::size_t> results(window.lines.size());
  for (const Batch& batch : window.batches) {
    for (std::size_t position : batch) results[position] = window.lines[position].index;
  }
  for (std::size_t i = 0; i < results.size(); ++i) EXPECT_EQ(results[i], 100 + i);
}

}  // namespace
}  // namespace bert_embed
