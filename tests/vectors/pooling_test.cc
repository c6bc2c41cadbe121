#include "bert_embed/vectors/pooling.h"

#include <gtest/gtest.h>

#include <limits>
#include <stdexcept>
#include <string>
#include <vector>

#include "expect_error.h"
#include "golden.h"

namespace bert_embed {
namespace {

at::Tensor to_tensor(test::NpyArray& array) {
  return at::from_blob(array.f32.data(), array.shape, at::kFloat).clone();
}

// The tiny-uncased goldens over the English corpus: every hidden state of
// every token, lines concatenated, and HF's mean and [CLS] vectors per line.
class PoolingGolden : public ::testing::Test {
 protected:
  void SetUp() override { load("tiny-uncased"); }

  void load(const std::string& model) {
    const test::Golden golden(model, "english");
    test::NpyArray hidden = golden.hidden();
    test::NpyArray mean = golden.mean();
    test::NpyArray cls = golden.cls();
    offsets_ = golden.offsets();
    hidden_ = to_tensor(hidden);  // [layers, total_tokens, dim]
    mean_ = to_tensor(mean);      // [lines, layers, dim]
    cls_ = to_tensor(cls);
  }

  std::int64_t length(std::int64_t line) const { return offsets_[line + 1] - offsets_[line]; }

  // Lines [first, first + count) as one padded batch: hidden [layers, batch,
  // seq, dim] with NaN in the padding (which must never reach a result) and
  // include [batch, seq], 1 on real tokens.
  std::pair<at::Tensor, at::Tensor> batch(std::int64_t first, std::int64_t count) const {
    std::int64_t seq = 0;
    for (std::int64_t line = first; line < first + count; ++line) seq = std::max(seq, length(line));
    at::Tensor hidden = at::full({hidden_.size(0), count, seq, hidden_.size(2)},
                                 std::numeric_limits<float>::quiet_NaN());
    at::Tensor include = at::zeros({count, seq}, at::kLong);
    for (std::int64_t b = 0; b < count; ++b) {
      const std::int64_t line = first + b;
      hidden.select(1, b)
          .narrow(1, 0, length(line))
          .copy_(hidden_.narrow(1, offsets_[line], length(line)));
      include[b].narrow(0, 0, length(line)).fill_(1);
    }
    return {hidden, include};
  }

  std::int64_t lines() const { return static_cast<std::int64_t>(offsets_.size()) - 1; }

  std::vector<std::int64_t> offsets_;
  at::Tensor hidden_, mean_, cls_;
};

TEST_F(PoolingGolden, MeanMatchesTheReference) {
  constexpr std::int64_t kBatch = 32;
  for (std::int64_t first = 0; first < lines(); first += kBatch) {
    const std::int64_t count = std::min(kBatch, lines() - first);
    const auto [hidden, include] = batch(first, count);
    const at::Tensor pooled = pool(hidden, include, Pooling::kMean);
    ASSERT_EQ(pooled.sizes(), (std::vector<std::int64_t>{count, hidden_.size(0), hidden_.size(2)}));
    const double error = (pooled - mean_.narrow(0, first, count)).abs().max().item<double>();
    EXPECT_LE(error, 1e-5) << "lines " << first << ".." << first + count;
  }
}

TEST_F(PoolingGolden, ClsMatchesTheReference) {
  const auto [hidden, include] = batch(0, 40);
  const at::Tensor pooled = pool(hidden, include, Pooling::kCls);
  EXPECT_TRUE(at::equal(pooled, cls_.narrow(0, 0, 40)));
}

// XLNet's goldens: its <cls> is the last token of each line.
class XlnetPoolingGolden : public PoolingGolden {
 protected:
  void SetUp() override {
    load("tiny-xlnet");
    test::NpyArray last = test::Golden("tiny-xlnet", "english").last();
    last_ = to_tensor(last);
  }
  at::Tensor last_;
};

TEST_F(XlnetPoolingGolden, LastAndClsAtTheEndMatchTheReference) {
  const auto [hidden, include] = batch(0, 40);
  EXPECT_TRUE(at::equal(pool(hidden, include, Pooling::kLast), last_.narrow(0, 0, 40)));
  EXPECT_TRUE(at::equal(pool(hidden, include, Pooling::kCls, ClsPosition::kLast), last_.narrow(0, 0, 40)));
  EXPECT_FALSE(at::equal(pool(hidden, include, Pooling::kCls), last_.narrow(0, 0, 40)));
}

TEST_F(PoolingGolden, MaxTakesTheLargestRealToken) {
  const auto [hidden, include] = batch(0, 40);
  const at::Tensor pooled = pool(hidden, include, Pooling::kMax);
  for (std::int64_t line = 0; line < 40; ++line) {
    const at::Tensor expected = hidden_.narrow(1, offsets_[line], length(line)).amax(1);
    EXPECT_TRUE(at::equal(pooled[line], expected)) << "line " << line;
  }
}

TEST_F(PoolingGolden, ExcludedTokensLeaveMeanAndMax) {
  auto [hidden, include] = batch(0, 16);
  for (std::int64_t line = 0; line < 16; ++line) {
    include[line][0] = 0;                 // [CLS]
    include[line][length(line) - 1] = 0;  // [SEP]
  }
  const at::Tensor mean = pool(hidden, include.to(at::kBool), Pooling::kMean);
  const at::Tensor max = pool(hidden, include, Pooling::kMax);
  for (std::int64_t line = 0; line < 16; ++line) {
    if (length(line) <= 2) continue;
    const at::Tensor words = hidden_.narrow(1, offsets_[line] + 1, length(line) - 2);
    EXPECT_LE((mean[line] - words.mean(1)).abs().max().item<double>(), 1e-5) << "line " << line;
    EXPECT_TRUE(at::equal(max[line], words.amax(1))) << "line " << line;
  }
}

TEST(Pool, TextWithoutIncludedTokensGetsZeros) {
  const at::Tensor hidden = at::randn({2, 3, 4, 5});
  at::Tensor include = at::ones({3, 4}, at::kBool);
  include[1].fill_(false);
  for (const Pooling pooling : {Pooling::kMean, Pooling::kMax, Pooling::kLast}) {
    const at::Tensor pooled = pool(hidden, include, pooling);
    EXPECT_TRUE(at::equal(pooled[1], at::zeros({2, 5})));
    EXPECT_TRUE(at::isfinite(pooled).all().item<bool>());
    EXPECT_FALSE(at::equal(pooled[0], at::zeros({2, 5})));
  }
}

TEST(Pool, ClsIgnoresTheIncludeMask) {
  const at::Tensor hidden = at::randn({1, 2, 3, 4});
  const at::Tensor include = at::tensor({0, 1, 1, 0, 1, 1}, at::kLong).reshape({2, 3});
  EXPECT_TRUE(at::equal(pool(hidden, include, Pooling::kCls)[1][0], hidden[0][1][0]));
}

TEST(Pool, LastTakesTheLastIncludedToken) {
  const at::Tensor hidden = at::randn({2, 2, 4, 3});
  const at::Tensor include = at::tensor({1, 1, 0, 0, 1, 1, 1, 0}, at::kLong).reshape({2, 4});
  const at::Tensor last = pool(hidden, include, Pooling::kLast);
  EXPECT_TRUE(at::equal(last[0], hidden.select(1, 0).select(1, 1)));
  EXPECT_TRUE(at::equal(last[1], hidden.select(1, 1).select(1, 2)));
}

TEST(Pool, RefusesNonReductionsAndMismatchedShapes) {
  const at::Tensor hidden = at::zeros({1, 2, 3, 4});
  const at::Tensor include = at::ones({2, 3});
  EXPECT_THROW(pool(hidden, include, Pooling::kTokens), std::invalid_argument);
  EXPECT_THROW(pool(hidden, include, Pooling::kPooler), std::invalid_argument);
  EXPECT_THROW(pool(hidden, at::ones({2, 4}), Pooling::kMean), std::invalid_argument);
  EXPECT_THROW(pool(hidden.select(0, 0), include, Pooling::kMean), std::invalid_argument);
  EXPECT_THROW(pool(hidden.to(at::kDouble), include, Pooling::kMean), std::invalid_argument);
}

TEST(ParsePooling, KnownAndUnknownNames) {
  EXPECT_EQ(parse_pooling("cls"), Pooling::kCls);
  EXPECT_EQ(parse_pooling("mean"), Pooling::kMean);
  EXPECT_EQ(parse_pooling("max"), Pooling::kMax);
  EXPECT_EQ(parse_pooling("last"), Pooling::kLast);
  EXPECT_EQ(parse_pooling("tokens"), Pooling::kTokens);
  EXPECT_EQ(parse_pooling("pooler"), Pooling::kPooler);
  const std::string message = test::error_message<std::invalid_argument>([] { parse_pooling("avg"); });
  EXPECT_PRED_FORMAT2(::testing::IsSubstring, "\"avg\"", message);
  EXPECT_PRED_FORMAT2(::testing::IsSubstring, "cls, mean, max, last, tokens or pooler", message);
}

}  // namespace
}  // namespace bert_embed
