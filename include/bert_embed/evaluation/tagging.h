// Tagging scores (tokens): entity-level precision, recall and F1 of IOB2 tag
// sequences, counted as the CoNLL shared tasks' conlleval script counts them.
#pragma once

#include <cstddef>
#include <string>
#include <vector>

namespace bert_embed {

struct TaggingScores {
  double f1 = 0, precision = 0, recall = 0;  // entity level, x100 (0 when undefined)
  double token_accuracy = 0;                 // x100: tags equal, type included
  std::size_t gold_entities = 0, predicted_entities = 0, correct_entities = 0;
};
// Entity-level micro scores of IOB2 tag sequences (one vector per sentence),
// counted as conlleval does: a chunk starts at B-X, or at I-X after O or
// after a chunk of another type; it ends before B, O, a tag of another type
// or the end of the sentence. An entity is correct when its span and type
// both match. Tags are "O", "B-<type>" or "I-<type>". Throws
// std::invalid_argument when the sentences' counts or lengths differ, or for
// another tag (naming the sentence, the position and the tag).
TaggingScores score_tagging(const std::vector<std::vector<std::string>>& gold,
                            const std::vector<std::vector<std::string>>& predicted);

}  // namespace bert_embed
