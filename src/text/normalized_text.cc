#include "text/normalized_text.h"

#include <algorithm>
#include <optional>

namespace bert_embed {

NormalizedText NormalizedText::copy_of(std::string_view original) {
  NormalizedText copy;
  copy.text_.assign(original);
  return copy;
}

void NormalizedText::clear() {
  text_.clear();
  identity_ = true;
  base_ = 0;
  origins_.clear();
}

void NormalizedText::append_any(char32_t cp, Span origin) {
  const std::size_t begin = text_.size();
  append_utf8(text_, cp);
  const std::size_t length = text_.size() - begin;
  if (identity_) {
    if (begin == 0) base_ = origin.begin;
    if (origin.begin == base_ + begin && origin.end - origin.begin == length) return;
    text_.resize(begin);
    materialize_origins();
    append_utf8(text_, cp);
  }
  origins_.insert(origins_.end(), length, origin);
}

char* NormalizedText::append_ascii(std::size_t count, std::size_t origin) {
  const std::size_t begin = text_.size();
  if (identity_ && begin == 0) base_ = origin;
  if (identity_ && origin != base_ + begin) materialize_origins();
  text_.resize(begin + count);
  if (!identity_) {
    for (std::size_t i = 0; i < count; ++i) origins_.push_back({origin + i, origin + i + 1});
  }
  return text_.data() + begin;
}

Span NormalizedText::original_span(std::size_t begin, std::size_t end) const {
  if (identity_) return {base_ + begin, base_ + end};
  if (begin >= end) {
    // An empty range sits where the character at begin came from.
    if (begin < origins_.size()) return {origins_[begin].begin, origins_[begin].begin};
    return origins_.empty() ? Span{} : Span{origins_.back().end, origins_.back().end};
  }
  // Canonical reordering can move a character before one that came from
  // earlier in the original, so take the hull of all origins.
  Span span = origins_[begin];
  for (std::size_t i = begin + 1; i < end; ++i) {
    span.begin = std::min(span.begin, origins_[i].begin);
    span.end = std::max(span.end, origins_[i].end);
  }
  return span;
}

void NormalizedText::materialize_origins() {
  identity_ = false;
  origins_.clear();
  origins_.reserve(text_.size());
  std::size_t pos = 0;
  while (pos < text_.size()) {
    const std::size_t length = utf8_sequence_length(static_cast<unsigned char>(text_[pos]));
    origins_.insert(origins_.end(), length, Span{base_ + pos, base_ + pos + length});
    pos += length;
  }
}

namespace {

constexpr char32_t lowercase_ascii(char32_t c) { return c >= 'A' && c <= 'Z' ? c + ('a' - 'A') : c; }

// Length of the token of keep_as_is that matches text at pos, 0 if none.
std::size_t match_kept_token(std::string_view text, std::size_t pos,
                             const std::vector<std::string>& keep_as_is) {
  for (const std::string& token : keep_as_is) {
    if (!token.empty() && text.compare(pos, token.size(), token) == 0) return token.size();
  }
  return 0;
}

}  // namespace

LowercasedText lowercase_except(std::string_view original, const std::vector<std::string>& keep_as_is) {
  bool starts_kept_token[256] = {};
  for (const std::string& token : keep_as_is) {
    if (!token.empty()) starts_kept_token[static_cast<unsigned char>(token[0])] = true;
  }

  LowercasedText result;
  NormalizedText& lowered = result.text;
  lowered.reserve(original.size());
  std::size_t pos = 0;
  while (pos < original.size()) {
    const unsigned char byte = static_cast<unsigned char>(original[pos]);
    const std::size_t kept = starts_kept_token[byte] ? match_kept_token(original, pos, keep_as_is) : 0;
    if (kept > 0) {
      result.kept_any = true;
      const std::size_t end = pos + kept;
      while (pos < end) {
        const std::size_t begin = pos;
        const char32_t cp = decode_utf8(original, pos);
        lowered.append(cp, {begin, pos});
      }
      continue;
    }

    if (byte < 0x80) {  // the bulk of most text: a run of ASCII at once
      std::size_t end = pos + 1;
      while (end < original.size() && static_cast<unsigned char>(original[end]) < 0x80 &&
             !starts_kept_token[static_cast<unsigned char>(original[end])]) {
        ++end;
      }
      char* out = lowered.append_ascii(end - pos, pos);
      for (; pos < end; ++pos) *out++ = static_cast<char>(lowercase_ascii(static_cast<unsigned char>(original[pos])));
      continue;
    }
    const std::size_t begin = pos;
    const char32_t cp = decode_utf8(original, pos);
    append_lowercase(cp, {begin, pos}, lowered);
  }
  return result;
}

void append_lowercase(char32_t cp, Span origin, NormalizedText& out) {
  if (cp < 0x80) {
    out.append(lowercase_ascii(cp), origin);
    return;
  }
  char32_t lower[2];
  const std::size_t count = unicode::to_lower(cp, lower);
  for (std::size_t i = 0; i < count; ++i) out.append(lower[i], origin);
}

void append_lowercase(const NormalizedText& source, NormalizedText& out) {
  const std::string_view text = source.text();
  std::size_t pos = 0;
  while (pos < text.size()) {
    const Span origin = source.origin(pos);
    append_lowercase(decode_utf8(text, pos), origin, out);
  }
}

void decompose(const NormalizedText& source, std::size_t begin, std::size_t end,
               unicode::Decomposition kind, bool (*drop)(char32_t), DecompositionBuffer& buffer,
               NormalizedText& out) {
  auto& items = buffer.items;
  items.clear();
  const std::string_view text = source.text();
  std::size_t pos = begin;
  while (pos < end) {
    const Span char_origin = source.origin(pos);
    buffer.code_points.clear();
    unicode::append_decomposition(decode_utf8(text, pos), kind, buffer.code_points);
    for (const char32_t cp : buffer.code_points) {
      items.push_back({cp, unicode::combining_class(cp), char_origin, drop(cp)});
    }
  }

  // Canonical ordering: each run of non-starters sorted stably by class.
  const auto is_starter = [](const DecompositionBuffer::Item& item) { return item.combining_class == 0; };
  const auto by_class = [](const DecompositionBuffer::Item& a, const DecompositionBuffer::Item& b) {
    return a.combining_class < b.combining_class;
  };
  auto run_begin = items.begin();
  while (run_begin != items.end()) {
    run_begin = std::find_if_not(run_begin, items.end(), is_starter);
    const auto run_end = std::find_if(run_begin, items.end(), is_starter);
    if (run_end - run_begin > 1) std::stable_sort(run_begin, run_end, by_class);
    run_begin = run_end;
  }

  // A dropped code point hands its origin to the kept one before it (or,
  // at the start, after it), so that spans still cover it.
  const auto hull = [](Span a, Span b) { return Span{std::min(a.begin, b.begin), std::max(a.end, b.end)}; };
  DecompositionBuffer::Item* last_kept = nullptr;
  std::optional<Span> leading_dropped;
  for (auto& item : items) {
    if (item.dropped) {
      if (last_kept) {
        last_kept->origin = hull(last_kept->origin, item.origin);
      } else {
        leading_dropped = leading_dropped ? hull(*leading_dropped, item.origin) : item.origin;
      }
      continue;
    }
    if (leading_dropped) {
      item.origin = hull(item.origin, *leading_dropped);
      leading_dropped.reset();
    }
    last_kept = &item;
  }
  for (const auto& item : items) {
    if (!item.dropped) out.append(item.cp, item.origin);
  }
}

}  // namespace bert_embed
