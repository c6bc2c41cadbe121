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

}  // namespace bert_embed::test

#define EXPECT_CONTAINS(text, part)                                     \
  EXPECT_NE(std::string(text).find(part), std::string::npos)            \
      << "'" << (text) << "' lacks '" << (part) << "'"
