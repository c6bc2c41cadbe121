#include "bert_embed/text/utf8.h"

#include <gtest/gtest.h>

#include <string>
#include <string_view>

namespace bert_embed {
namespace {

constexpr std::size_t kValid = std::string_view::npos;
const std::string kReplacement = "\xEF\xBF\xBD";

TEST(FindInvalidUtf8, AcceptsWellFormedText) {
  EXPECT_EQ(find_invalid_utf8(""), kValid);
  EXPECT_EQ(find_invalid_utf8("plain ASCII text that is longer than eight bytes"), kValid);
  EXPECT_EQ(find_invalid_utf8("caf\xC3\xA9 \xE4\xB8\xAD \xF0\x9F\x98\x80"), kValid);
  EXPECT_EQ(find_invalid_utf8(std::string("a\0b", 3)), kValid);
  EXPECT_EQ(find_invalid_utf8("\xF4\x8F\xBF\xBF"), kValid);  // U+10FFFF
  EXPECT_EQ(find_invalid_utf8("\xED\x9F\xBF"), kValid);      // U+D7FF, just below the surrogates
}

TEST(FindInvalidUtf8, ReportsTheOffsetOfTheFirstIllFormedSequence) {
  EXPECT_EQ(find_invalid_utf8("ab\x80"), 2u);                         // lone continuation byte
  EXPECT_EQ(find_invalid_utf8("\xC0\xAF"), 0u);                       // overlong "/"
  EXPECT_EQ(find_invalid_utf8("x\xE0\x80\x80"), 1u);                  // overlong 3-byte
  EXPECT_EQ(find_invalid_utf8("xy\xED\xA0\x80"), 2u);                 // surrogate U+D800
  EXPECT_EQ(find_invalid_utf8("\xF4\x90\x80\x80"), 0u);               // above U+10FFFF
  EXPECT_EQ(find_invalid_utf8("ok\xF5\x80\x80\x80"), 2u);             // F5 never starts a sequence
  EXPECT_EQ(find_invalid_utf8("caf\xC3"), 3u);                        // truncated at the end
  EXPECT_EQ(find_invalid_utf8("\xE2\x82" "a"), 0u);                   // truncated before ASCII
  EXPECT_EQ(find_invalid_utf8("0123456789abcdef\xC3\xA9\xFF"), 18u);  // after the ASCII fast path
}

TEST(ReplaceInvalidUtf8, ReplacesEachMaximalSubpartLikePython) {
  // Expected values are Python's bytes.decode("utf-8", errors="replace").
  EXPECT_EQ(replace_invalid_utf8("a\x80" "b"), "a" + kReplacement + "b");
  EXPECT_EQ(replace_invalid_utf8("\xE0\x80\x80"), kReplacement + kReplacement + kReplacement);
  EXPECT_EQ(replace_invalid_utf8("\xF0\x9F\x98"), kReplacement);
  EXPECT_EQ(replace_invalid_utf8("\xED\xA0\x80"), kReplacement + kReplacement + kReplacement);
  EXPECT_EQ(replace_invalid_utf8("\xF4\x90\x80\x80"), kReplacement + kReplacement + kReplacement + kReplacement);
  EXPECT_EQ(replace_invalid_utf8("x\xC3"), "x" + kReplacement);
  EXPECT_EQ(replace_invalid_utf8("\xE2\x82" "a"), kReplacement + "a");
  EXPECT_EQ(replace_invalid_utf8("\xC0\xAF"), kReplacement + kReplacement);
  EXPECT_EQ(replace_invalid_utf8("\xF0\x9F\x98\x80\xFF"), "\xF0\x9F\x98\x80" + kReplacement);
}

TEST(ReplaceInvalidUtf8, LeavesValidTextUnchanged) {
  std::string text = "mixed \xC3\xA9\xE4\xB8\xAD\xF0\x9F\x98\x80 and a NUL ";
  text += '\0';
  text += " end";
  EXPECT_EQ(replace_invalid_utf8(text), text);
  EXPECT_EQ(find_invalid_utf8(replace_invalid_utf8("\xFF\xFE garbage \x80")), kValid);
}

TEST(Utf8Codec, RoundTripsBoundaryCodePoints) {
  for (const char32_t cp : {U'\0', U'\x7F', U'\x80', U'\x7FF', U'\x800', U'\xD7FF', U'\xE000', U'\xFFFD',
                            U'\xFFFF', U'\x10000', U'\x10FFFF'}) {
    std::string encoded;
    append_utf8(encoded, cp);
    EXPECT_EQ(find_invalid_utf8(encoded), kValid) << static_cast<unsigned long>(cp);
    EXPECT_EQ(encoded.size(), utf8_sequence_length(static_cast<unsigned char>(encoded[0])));
    std::size_t pos = 0;
    EXPECT_EQ(decode_utf8(encoded, pos), cp);
    EXPECT_EQ(pos, encoded.size());
  }
}

TEST(InvalidUtf8Error, CarriesTheOffset) {
  const InvalidUtf8Error error(42);
  EXPECT_EQ(error.byte_offset(), 42u);
  EXPECT_NE(std::string(error.what()).find("42"), std::string::npos);
}

}  // namespace
}  // namespace bert_embed
