#include "bert_embed/pipeline/embedder.h"

#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "bert_embed/pipeline/text_source.h"
#include "bert_embed/text/wordpiece_tokenizer.h"
#include "expect_error.h"
#include "fixtures.h"

namespace bert_embed {
namespace {

class EmbedderTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    encoder_ = new Encoder(test::test_bundle("tiny-uncased"), EncoderOptions{});
    tokenizer_ = load_bundle_tokenizer(encoder_->info());
  }
  static void TearDownTestSuite() {
    delete encoder_;
    encoder_ = nullptr;
    tokenizer_.reset();
  }

  // Lines tokenized and cut into several batches of unequal lengths.
  static Window window_of(const std::vector<std::string>& texts) {
    Batcher batcher(BatchLimits{24, 3, 0}, WindowLimits{});
    for (std::size_t index = 0; index < texts.size(); ++index) {
      InputRecord record;
      record.index = index;
      record.line_number = index + 1;
      record.text = texts[index];
      batcher.add(tokenize_record(record, *tokenizer_, TokenizeSettings{}, "test"));
    }
    return batcher.take();
  }

  static std::vector<WindowVectors> embed(const std::vector<OutputSpec>& outputs, const Window& window) {
    return Embedder(*encoder_, tokenizer_, outputs).embed(window, [](const BatchDone&) {});
  }

  static OutputSpec plan(const std::string& layers, LayerAggregation aggregation, Pooling pooling,
                         bool exclude_special = false) {
    return plan_output(layers, aggregation, pooling, exclude_special, encoder_->info());
  }

  static Encoder* encoder_;
  static std::shared_ptr<const Tokenizer> tokenizer_;
};

Encoder* EmbedderTest::encoder_ = nullptr;
std::shared_ptr<const Tokenizer> EmbedderTest::tokenizer_;

const std::vector<std::string> kTexts = {"a short line", "", "the quick brown fox jumps over the lazy dog",
                                         "hello world", "one more line of several words"};

TEST_F(EmbedderTest, OneEncodeServesEveryOutputAsIfAlone) {
  const Window window = window_of(kTexts);
  ASSERT_GT(window.batches.size(), 1u);
  const std::vector<OutputSpec> outputs = {
      plan("-1", LayerAggregation::kNone, Pooling::kMean),
      plan("0,-1", LayerAggregation::kNone, Pooling::kCls),
      plan("1,-1", LayerAggregation::kMean, Pooling::kMax),
      plan("-1", LayerAggregation::kNone, Pooling::kTokens, true),
      plan("-1", LayerAggregation::kNone, Pooling::kPooler),
  };
  std::size_t batches_done = 0;
  std::size_t lines_done = 0;
  const std::vector<WindowVectors> together =
      Embedder(*encoder_, tokenizer_, outputs).embed(window, [&](const BatchDone& done) {
        ++batches_done;
        lines_done += done.lines;
        EXPECT_GE(done.padded_tokens, done.tokens);
      });
  EXPECT_EQ(batches_done, window.batches.size());
  EXPECT_EQ(lines_done, kTexts.size());
  ASSERT_EQ(together.size(), outputs.size());
  for (std::size_t output = 0; output < outputs.size(); ++output) {
    SCOPED_TRACE("output " + std::to_string(output));
    const WindowVectors alone = embed({outputs[output]}, window).at(0);
    const auto slots = static_cast<std::int64_t>(outputs[output].slot_labels.size());
    EXPECT_EQ(together[output].rows.size(1), slots);
    EXPECT_EQ(together[output].rows.size(2), outputs[output].dim);
    EXPECT_TRUE(at::equal(together[output].rows, alone.rows));
    EXPECT_EQ(together[output].offsets, alone.offsets);
    ASSERT_EQ(together[output].lines.size(), kTexts.size());
    for (std::size_t line = 0; line < kTexts.size(); ++line) {
      EXPECT_EQ(together[output].lines[line].index, line);
      EXPECT_EQ(together[output].lines[line].tokens, alone.lines[line].tokens);
    }
  }
  // Kept apart: two slots, the second that of layer -1 alone.
  EXPECT_EQ(outputs[1].slot_labels.size(), 2u);
  EXPECT_TRUE(at::equal(together[1].rows.select(1, 1),
                        embed({plan("-1", LayerAggregation::kNone, Pooling::kCls)}, window)[0].rows.select(1, 0)));
  // Per token without framing: a row per word piece, none for the empty line.
  EXPECT_EQ(together[3].lines[3].tokens, (std::vector<std::string>{"hello", "world"}));
  EXPECT_EQ(together[3].offsets[2] - together[3].offsets[1], 0);
}

TEST_F(EmbedderTest, PlanOutputRefusesWhatTheModelLacks) {
  const BundleInfo without_pooler = read_bundle_info(test::test_bundle("tiny-mlm-uncased"));
  ASSERT_FALSE(without_pooler.has_pooler);
  EXPECT_CONTAINS(test::error_message<std::invalid_argument>([&] {
                    plan_output("-1", LayerAggregation::kNone, Pooling::kPooler, false, without_pooler);
                  }),
                  "no pooler");
  const BundleInfo& info = encoder_->info();
  for (const std::string layers : {"3", "-4", "x", ""}) {
    SCOPED_TRACE("--layers '" + layers + "'");
    EXPECT_THROW(plan_output(layers, LayerAggregation::kNone, Pooling::kMean, false, info), std::invalid_argument);
  }
  const OutputSpec concat = plan_output("1,2", LayerAggregation::kConcat, Pooling::kMean, false, info);
  EXPECT_EQ(concat.dim, 2 * info.hidden_size);
  EXPECT_EQ(concat.slot_labels, (std::vector<std::string>{"concat"}));
}

// With exclude_special, a pooled empty line gets the vector of its framing
// tokens, not zeros; per token it has no rows.
TEST_F(EmbedderTest, EmptyLineKeepsItsFramingWhenPooled) {
  const Window window = window_of({"", "some words"});
  for (const Pooling pooling : {Pooling::kMean, Pooling::kMax}) {
    const std::vector<WindowVectors> vectors = embed(
        {plan("-1", LayerAggregation::kNone, pooling, true), plan("-1", LayerAggregation::kNone, pooling, false)},
        window);
    const at::Tensor excluded = vectors[0].rows;
    const at::Tensor framed = vectors[1].rows;
    EXPECT_TRUE(at::equal(excluded[0], framed[0]));
    EXPECT_GT(excluded[0].abs().sum().item<float>(), 0.0f);
    EXPECT_FALSE(at::equal(excluded[1], framed[1]));
  }
  const WindowVectors tokens = embed({plan("-1", LayerAggregation::kNone, Pooling::kTokens, true)}, window)[0];
  EXPECT_EQ(tokens.offsets, (std::vector<std::int64_t>{0, 0, 2}));
  EXPECT_TRUE(tokens.lines[0].tokens.empty());
  EXPECT_EQ(tokens.rows.size(0), 2);
}

TEST_F(EmbedderTest, PlanOutputFindsTheClassificationTokenOfTheFraming) {
  BundleInfo info = encoder_->info();
  EXPECT_EQ(plan_output("-1", LayerAggregation::kNone, Pooling::kCls, false, info).cls_position, ClsPosition::kFirst);
  info.tokenizer.framing = Framing::kXlnet;
  EXPECT_EQ(plan_output("-1", LayerAggregation::kNone, Pooling::kCls, false, info).cls_position, ClsPosition::kLast);
  info.tokenizer.framing = Framing::kNone;
  const std::string message = test::error_message<std::invalid_argument>(
      [&] { plan_output("-1", LayerAggregation::kNone, Pooling::kCls, false, info); });
  EXPECT_CONTAINS(message, "no classification token");
  EXPECT_CONTAINS(message, "use last");
  EXPECT_NO_THROW(plan_output("-1", LayerAggregation::kNone, Pooling::kLast, false, info));
}

// Without framing (GPT-2) an empty line has no tokens: it is not run through
// the model, gets zero vectors pooled and no rows per token, and leaves the
// other lines' vectors as they would be alone.
TEST_F(EmbedderTest, LineWithoutTokensGetsZerosAndNoModelRun) {
  const auto unframed = std::make_shared<Tokenizer>(
      WordPieceTokenizer::from_vocab_file(test::fixtures_dir() / "models/tiny-uncased/vocab.txt", WordPieceOptions{}),
      tokenizer_->special_ids(), Framing::kNone);
  const auto window_with = [&](const std::vector<std::string>& texts) {
    Window window;
    window.batches.emplace_back();
    for (std::size_t index = 0; index < texts.size(); ++index) {
      InputRecord record;
      record.index = index;
      record.text = texts[index];
      window.lines.push_back(tokenize_record(record, *unframed, TokenizeSettings{}, "test"));
      window.batches.front().push_back(index);
    }
    return window;
  };
  const std::vector<OutputSpec> outputs = {plan("-1", LayerAggregation::kNone, Pooling::kMean),
                                           plan("-1", LayerAggregation::kNone, Pooling::kLast),
                                           plan("-1", LayerAggregation::kNone, Pooling::kTokens)};
  const Embedder embedder(*encoder_, unframed, outputs);
  std::size_t padded_tokens = 0;
  const auto vectors = embedder.embed(window_with({"", "some words"}),
                                      [&](const BatchDone& done) { padded_tokens += done.padded_tokens; });
  const auto alone = embedder.embed(window_with({"some words", ""}), [](const BatchDone&) {});
  EXPECT_EQ(padded_tokens, 2u);
  for (std::size_t output = 0; output < 2; ++output) {
    EXPECT_TRUE(at::equal(vectors[output].rows[0], at::zeros_like(vectors[output].rows[0])));
    EXPECT_TRUE(at::allclose(vectors[output].rows[1], alone[output].rows[0]));
  }
  EXPECT_EQ(vectors[2].offsets, (std::vector<std::int64_t>{0, 0, 2}));

  std::size_t model_runs = 0;
  const auto empty_only = embedder.embed(window_with({""}), [&](const BatchDone& done) {
    model_runs += done.padded_tokens > 0 ? 1 : 0;
  });
  EXPECT_EQ(model_runs, 0u);
  EXPECT_EQ(empty_only[0].rows.size(0), 1);
}

}  // namespace
}  // namespace bert_embed
