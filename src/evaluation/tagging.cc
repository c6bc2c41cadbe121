#include "bert_embed/evaluation/tagging.h"

#include <algorithm>
#include <iterator>
#include <stdexcept>
#include <string>
#include <tuple>

namespace bert_embed {
namespace {

struct Tag {
  char prefix;       // 'B', 'I' or 'O'
  std::string type;  // empty for O
};

Tag parse_tag(const std::string& tag, std::size_t sentence, std::size_t position, const char* side) {
  if (tag == "O") return {'O', ""};
  if (tag.size() > 2 && (tag[0] == 'B' || tag[0] == 'I') && tag[1] == '-') return {tag[0], tag.substr(2)};
  throw std::invalid_argument(std::string("score_tagging: ") + side + " tag '" + tag + "' of sentence " +
                              std::to_string(sentence + 1) + ", token " + std::to_string(position + 1) +
                              " is not O, B-<type> or I-<type>");
}

struct Chunk {
  std::size_t first, last;  // token positions, inclusive
  std::string type;
  bool operator<(const Chunk& other) const {
    return std::tie(first, last, type) < std::tie(other.first, other.last, other.type);
  }
  bool operator==(const Chunk& other) const {
    return first == other.first && last == other.last && type == other.type;
  }
};

// The chunks of one sentence, in order (so sorted: they never overlap), by conlleval's startOfChunk and endOfChunk
// restricted to IOB2: a chunk starts at B, or at I after O or after another
// type; the sentence is taken to begin and end with O.
std::vector<Chunk> chunks_of(const std::vector<Tag>& tags) {
  std::vector<Chunk> chunks;
  Tag previous{'O', ""};
  for (std::size_t i = 0; i < tags.size(); ++i) {
    const Tag& tag = tags[i];
    const bool starts = tag.prefix == 'B' || (tag.prefix == 'I' && (previous.prefix == 'O' || previous.type != tag.type));
    const bool previous_ends = previous.prefix != 'O' && (tag.prefix != 'I' || previous.type != tag.type);
    if (previous_ends) chunks.back().last = i - 1;
    if (starts) chunks.push_back({i, tags.size() - 1, tag.type});
    previous = tag;
  }
  return chunks;
}

}  // namespace

TaggingScores score_tagging(const std::vector<std::vector<std::string>>& gold,
                            const std::vector<std::vector<std::string>>& predicted) {
  if (gold.size() != predicted.size()) {
    throw std::invalid_argument("score_tagging: " + std::to_string(gold.size()) + " gold sentences but " +
                                std::to_string(predicted.size()) + " predicted");
  }
  TaggingScores scores;
  std::size_t tokens = 0, equal_tags = 0;
  for (std::size_t s = 0; s < gold.size(); ++s) {
    if (gold[s].size() != predicted[s].size()) {
      throw std::invalid_argument("score_tagging: sentence " + std::to_string(s + 1) + " has " +
                                  std::to_string(gold[s].size()) + " gold tags but " +
                                  std::to_string(predicted[s].size()) + " predicted");
    }
    std::vector<Tag> gold_tags, predicted_tags;
    for (std::size_t i = 0; i < gold[s].size(); ++i) {
      gold_tags.push_back(parse_tag(gold[s][i], s, i, "gold"));
      predicted_tags.push_back(parse_tag(predicted[s][i], s, i, "predicted"));
      equal_tags += gold[s][i] == predicted[s][i];
    }
    tokens += gold[s].size();
    const std::vector<Chunk> gold_chunks = chunks_of(gold_tags);
    const std::vector<Chunk> predicted_chunks = chunks_of(predicted_tags);
    std::vector<Chunk> correct;
    std::set_intersection(gold_chunks.begin(), gold_chunks.end(), predicted_chunks.begin(), predicted_chunks.end(),
                          std::back_inserter(correct));
    scores.gold_entities += gold_chunks.size();
    scores.predicted_entities += predicted_chunks.size();
    scores.correct_entities += correct.size();
  }
  const auto percent = [](std::size_t part, std::size_t whole) {
    return whole == 0 ? 0.0 : 100.0 * static_cast<double>(part) / static_cast<double>(whole);
  };
  scores.precision = percent(scores.correct_entities, scores.predicted_entities);
  scores.recall = percent(scores.correct_entities, scores.gold_entities);
  scores.f1 = scores.precision + scores.recall > 0
                  ? 2 * scores.precision * scores.recall / (scores.precision + scores.recall)
                  : 0.0;
  scores.token_accuracy = percent(equal_tags, tokens);
  return scores;
}

}  // namespace bert_embed
