// One way for every test to check what an action throws.
#pragma once

#include <functional>
#include <string>

#include <gtest/gtest.h>

namespace bert_embed::test {

// Runs `action` and returns the message of the ExpectedError it threw; fails
// the calling test when it threw nothing (an error of another type
// propagates and fails the test too).
template <typename ExpectedError>
std::string error_message(const std::function<void()>& action) {
  try {
    action();
  } catch (const ExpectedError& error) {
    return error.what();
  }
  ADD_FAILURE() << "no error thrown";
  return "";
}

// For EXPECT_CONTAINS: whether `text` contains `part`.
inline ::testing::AssertionResult contains(const char* text_expression, const char* part_expression,
                                           const std::string& text, const std::string& part) {
  if (text.find(part) != std::string::npos) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << text_expression << " lacks " << part_expression << ":\n  '" << text
                                       << "'\n  lacks '" << part << "'";
}

}  // namespace bert_embed::test

// Evaluates each argument once, so that `text` may be an action's error_message.
#define EXPECT_CONTAINS(text, part) EXPECT_PRED_FORMAT2(::bert_embed::test::contains, text, part)
