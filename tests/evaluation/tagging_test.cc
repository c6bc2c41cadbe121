#include "bert_embed/evaluation/tagging.h"

#include <gtest/gtest.h>

#include <fstream>
#include <random>
#include <stdexcept>
#include <string>
#include <vector>

#include "expect_error.h"
#include "reference.h"
#include "temp_dir.h"

namespace bert_embed {
namespace {

using Sentences = std::vector<std::vector<std::string>>;

TEST(ScoreTagging, CountsEntitiesBySpanAndType) {
  const Sentences gold{{"B-PER", "I-PER", "O", "B-LOC"}, {"O", "B-ORG", "I-ORG", "I-ORG"}};
  const Sentences predicted{{"B-PER", "I-PER", "O", "B-ORG"}, {"O", "B-ORG", "I-ORG", "O"}};
  const TaggingScores scores = score_tagging(gold, predicted);
  EXPECT_EQ(scores.gold_entities, 3u);
  EXPECT_EQ(scores.predicted_entities, 3u);
  EXPECT_EQ(scores.correct_entities, 1u);  // PER; LOC has the wrong type, ORG the wrong end
  EXPECT_DOUBLE_EQ(scores.precision, 100.0 / 3);
  EXPECT_DOUBLE_EQ(scores.recall, 100.0 / 3);
  EXPECT_DOUBLE_EQ(scores.f1, 100.0 / 3);
  EXPECT_DOUBLE_EQ(scores.token_accuracy, 600.0 / 8);
}

// conlleval's rules: I-X after O starts a chunk, and I-X after a chunk of
// another type starts a new one.
TEST(ScoreTagging, IAfterOOrAnotherTypeStartsAChunk) {
  const Sentences gold{{"O", "B-PER", "I-PER", "B-LOC", "I-LOC"}};
  const Sentences predicted{{"O", "I-PER", "I-PER", "I-LOC", "I-LOC"}};
  const TaggingScores scores = score_tagging(gold, predicted);
  EXPECT_EQ(scores.predicted_entities, 2u);
  EXPECT_EQ(scores.correct_entities, 2u);
  EXPECT_DOUBLE_EQ(scores.f1, 100.0);
  EXPECT_DOUBLE_EQ(scores.token_accuracy, 60.0);
}

TEST(ScoreTagging, AChunkEndsWithItsSentence) {
  // Not one chunk of four tokens across the sentence boundary.
  const TaggingScores scores = score_tagging({{"O", "B-MISC"}, {"I-MISC", "O"}}, {{"O", "B-MISC"}, {"I-MISC", "O"}});
  EXPECT_EQ(scores.gold_entities, 2u);
  EXPECT_EQ(scores.correct_entities, 2u);
}

TEST(ScoreTagging, NoEntitiesScoreZero) {
  const TaggingScores scores = score_tagging({{"O", "O"}}, {{"O", "O"}});
  EXPECT_EQ(scores.gold_entities, 0u);
  EXPECT_EQ(scores.f1, 0.0);
  EXPECT_EQ(scores.precision, 0.0);
  EXPECT_DOUBLE_EQ(scores.token_accuracy, 100.0);
}

TEST(ScoreTagging, RefusesUnpairedSentencesAndOtherTags) {
  using test::error_message;
  EXPECT_CONTAINS(error_message<std::invalid_argument>([] { score_tagging({{"O"}}, {}); }),
                  "1 gold sentences but 0 predicted");
  EXPECT_CONTAINS(error_message<std::invalid_argument>([] { score_tagging({{"O"}, {"O", "O"}}, {{"O"}, {"O"}}); }),
                  "sentence 2 has 2 gold tags but 1 predicted");
  EXPECT_CONTAINS(error_message<std::invalid_argument>([] { score_tagging({{"O", "E-PER"}}, {{"O", "O"}}); }),
                  "gold tag 'E-PER' of sentence 1, token 2");
  EXPECT_CONTAINS(error_message<std::invalid_argument>([] { score_tagging({{"O"}}, {{"B-"}}); }),
                  "predicted tag 'B-'");
}

// Random tag sequences (ill-formed ones included: I- after O, types that
// change inside a chunk), counted by a transliteration of conlleval.pl.
TEST(ScoreTagging, EqualsConllevalsCount) {
  const std::vector<std::string> tags{"O", "O", "O", "B-PER", "I-PER", "B-LOC", "I-LOC", "I-ORG", "B-ORG"};
  std::mt19937 generator(17);
  std::uniform_int_distribution<std::size_t> pick(0, tags.size() - 1), length(1, 30);
  std::bernoulli_distribution keep(0.7);
  Sentences gold, predicted;
  test::TempDir dir;
  std::ofstream file(dir.path() / "tags.txt");
  for (int s = 0; s < 400; ++s) {
    gold.emplace_back();
    predicted.emplace_back();
    for (std::size_t i = length(generator); i > 0; --i) {
      gold.back().push_back(tags[pick(generator)]);
      predicted.back().push_back(keep(generator) ? gold.back().back() : tags[pick(generator)]);
      file << gold.back().back() << ' ' << predicted.back().back() << '\n';
    }
    file << '\n';
  }
  file.close();
  const nlohmann::json reference = test::reference_scores("tagging", dir.path());
  const TaggingScores scores = score_tagging(gold, predicted);
  EXPECT_EQ(scores.gold_entities, reference["gold_entities"].get<std::size_t>());
  EXPECT_EQ(scores.predicted_entities, reference["predicted_entities"].get<std::size_t>());
  EXPECT_EQ(scores.correct_entities, reference["correct_entities"].get<std::size_t>());
  EXPECT_GT(scores.correct_entities, 100u);
  EXPECT_LT(scores.correct_entities, scores.gold_entities);
  EXPECT_DOUBLE_EQ(scores.f1, reference["f1"].get<double>());
  EXPECT_DOUBLE_EQ(scores.precision, reference["precision"].get<double>());
  EXPECT_DOUBLE_EQ(scores.recall, reference["recall"].get<double>());
  EXPECT_DOUBLE_EQ(scores.token_accuracy, reference["token_accuracy"].get<double>());
}

}  // namespace
}  // namespace bert_embed
