#include "text/wordpiece_vocabulary.h"

#include <algorithm>
#include <functional>
#include <limits>
#include <stdexcept>

namespace bert_embed {

WordPieceVocabulary::WordPieceVocabulary(const std::vector<std::string>& tokens,
                                         const std::string& continuing_subword_prefix) {
  if (tokens.size() > static_cast<std::size_t>(std::numeric_limits<std::int32_t>::max())) {
    throw std::invalid_argument("vocabulary too large");
  }

  // Hash table at most half full. Inserting in id order makes a repeated
  // token keep its last id.
  std::size_t capacity = 16;
  while (capacity < 2 * tokens.size()) capacity *= 2;
  slots_.resize(capacity);
  for (std::size_t id = 0; id < tokens.size(); ++id) {
    const std::string_view token = tokens[id];
    insert(token, false, static_cast<std::int64_t>(id));
    if (token.size() > continuing_subword_prefix.size() &&
        token.compare(0, continuing_subword_prefix.size(), continuing_subword_prefix) == 0) {
      insert(token.substr(continuing_subword_prefix.size()), true, static_cast<std::int64_t>(id));
    }
  }

  // Trie: built with per-node child lists, then flattened into edge runs.
  std::vector<std::vector<std::pair<unsigned char, std::int32_t>>> children(1);
  std::vector<std::int64_t> ids(1, -1);
  for (std::size_t id = 0; id < tokens.size(); ++id) {
    std::int32_t node = 0;
    for (const char c : tokens[id]) {
      const auto byte = static_cast<unsigned char>(c);
      auto& edges = children[static_cast<std::size_t>(node)];
      const auto edge = std::find_if(edges.begin(), edges.end(), [&](const auto& e) { return e.first == byte; });
      if (edge != edges.end()) {
        node = edge->second;
        continue;
      }
      const auto next = static_cast<std::int32_t>(children.size());
      edges.emplace_back(byte, next);
      children.emplace_back();
      ids.push_back(-1);
      node = next;
    }
    ids[static_cast<std::size_t>(node)] = static_cast<std::int64_t>(id);
  }
  nodes_.resize(children.size());
  for (std::size_t node = 0; node < children.size(); ++node) {
    auto& edges = children[node];
    std::sort(edges.begin(), edges.end());
    nodes_[node] = {static_cast<std::uint32_t>(edge_bytes_.size()), static_cast<std::uint32_t>(edges.size()),
                    ids[node]};
    for (const auto& [byte, next] : edges) {
      edge_bytes_.push_back(byte);
      edge_targets_.push_back(next);
    }
  }
  root_children_.fill(kNoNode);
  for (const auto& [byte, next] : children[0]) root_children_[byte] = next;
  continuation_node_ = walk(0, continuing_subword_prefix);
}

std::uint64_t WordPieceVocabulary::hash_key(std::string_view key, bool continuation) {
  const std::uint64_t hash = std::hash<std::string_view>{}(key);
  return continuation ? hash ^ 0x9E3779B97F4A7C15ULL : hash;
}

void WordPieceVocabulary::insert(std::string_view key, bool continuation, std::int64_t id) {
  const std::uint64_t hash = hash_key(key, continuation);
  const std::size_t mask = slots_.size() - 1;
  for (std::size_t i = hash & mask;; i = (i + 1) & mask) {
    Slot& slot = slots_[i];
    if (slot.id < 0) {
      slot = {hash, static_cast<std::uint32_t>(keys_.size()), static_cast<std::uint32_t>(key.size()), id};
      keys_.append(key);
      longest_key_ = std::max(longest_key_, key.size());
      return;
    }
    if (slot.hash == hash && std::string_view(keys_).substr(slot.key_offset, slot.key_length) == key) {
      slot.id = id;
      return;
    }
  }
}

std::int64_t WordPieceVocabulary::find_key(std::string_view key, bool continuation) const {
  const std::uint64_t hash = hash_key(key, continuation);
  const std::size_t mask = slots_.size() - 1;
  for (std::size_t i = hash & mask;; i = (i + 1) & mask) {
    const Slot& slot = slots_[i];
    if (slot.id < 0) return -1;
    if (slot.hash == hash && slot.key_length == key.size() &&
        std::string_view(keys_).substr(slot.key_offset, slot.key_length) == key) {
      return slot.id;
    }
  }
}

std::int64_t WordPieceVocabulary::find(std::string_view token) const { return find_key(token, false); }

std::int32_t WordPieceVocabulary::child(std::int32_t node, unsigned char byte) const {
  if (node == 0) return root_children_[byte];
  const Node& n = nodes_[static_cast<std::size_t>(node)];
  const unsigned char* first = edge_bytes_.data() + n.first_edge;
  const unsigned char* last = first + n.edge_count;
  const unsigned char* edge = std::lower_bound(first, last, byte);
  if (edge == last || *edge != byte) return kNoNode;
  return edge_targets_[static_cast<std::size_t>(edge - edge_bytes_.data())];
}

std::int32_t WordPieceVocabulary::walk(std::int32_t node, std::string_view text) const {
  for (const char c : text) {
    if (node == kNoNode) break;
    node = child(node, static_cast<unsigned char>(c));
  }
  return node;
}

WordPieceVocabulary::Match WordPieceVocabulary::longest_match(std::string_view text, bool continuation) const {
  if (text.empty()) return {};
  if (text.size() <= longest_key_) {
    if (const std::int64_t id = find_key(text, continuation); id >= 0) return {text.size(), id};
  }
  Match best;
  std::int32_t node = continuation ? continuation_node_ : 0;
  for (std::size_t i = 0; i < text.size() && node != kNoNode; ++i) {
    node = child(node, static_cast<unsigned char>(text[i]));
    if (node != kNoNode && nodes_[static_cast<std::size_t>(node)].id >= 0) {
      best = {i + 1, nodes_[static_cast<std::size_t>(node)].id};
    }
  }
  return best;
}

}  // namespace bert_embed
