// Token lookups for WordPiece's greedy longest-match-first search: a hash
// table answers the common case (the rest of the word is a token) with one
// probe, a byte trie finds the longest matching prefix otherwise.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace bert_embed {

class WordPieceVocabulary {
 public:
  // tokens[id] is the token with that id; a repeated token keeps its last id.
  // Continuation tokens are those that start with continuing_subword_prefix.
  WordPieceVocabulary(const std::vector<std::string>& tokens, const std::string& continuing_subword_prefix);

  // Id of exactly this token, or -1.
  std::int64_t find(std::string_view token) const;

  struct Match {
    std::size_t length = 0;  // bytes of text matched, 0 if nothing matches
    std::int64_t id = -1;
  };
  // The longest non-empty prefix of text that is a token, or, when
  // continuation, that is a token once prefixed with the continuing prefix.
  Match longest_match(std::string_view text, bool continuation) const;

 private:
  // Open-addressing hash table of tokens, and of continuation tokens keyed
  // by what follows the prefix.
  struct Slot {
    std::uint64_t hash = 0;
    std::uint32_t key_offset = 0;  // in keys_
    std::uint32_t key_length = 0;
    std::int64_t id = -1;  // -1: empty slot
  };
  static std::uint64_t hash_key(std::string_view key, bool continuation);
  void insert(std::string_view key, bool continuation, std::int64_t id);
  std::int64_t find_key(std::string_view key, bool continuation) const;

  // Byte trie; the children of a node are a sorted run of edges, except the
  // root's, which are a table.
  struct Node {
    std::uint32_t first_edge = 0;
    std::uint32_t edge_count = 0;
    std::int64_t id = -1;
  };
  static constexpr std::int32_t kNoNode = -1;
  std::int32_t child(std::int32_t node, unsigned char byte) const;
  std::int32_t walk(std::int32_t node, std::string_view text) const;

  std::vector<Slot> slots_;
  std::string keys_;
  std::size_t longest_key_ = 0;
  std::vector<Node> nodes_;
  std::vector<unsigned char> edge_bytes_;
  std::vector<std::int32_t> edge_targets_;
  std::array<std::int32_t, 256> root_children_{};
  std::int32_t continuation_node_ = kNoNode;  // after the continuing prefix
};

}  // namespace bert_embed
