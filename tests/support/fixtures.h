// Locations of the shared test fixtures and of the bundles exported from them.
#pragma once

#include <filesystem>
#include <string>
#include <vector>

namespace bert_embed::test {

// ../shared/fixtures, or $BERT_EMBED_FIXTURES. Fails the calling test (with
// the path it looked at) when the directory is missing.
std::filesystem::path fixtures_dir();

// <build>/test-bundles/<model>, exported by the test_bundles target.
std::filesystem::path test_bundle(const std::string& model);

std::filesystem::path bert_embed_binary();
std::filesystem::path source_dir();

// Lines of a file split on '\n' only, as the goldens were made.
std::vector<std::string> read_lines(const std::filesystem::path& file);

}  // namespace bert_embed::test
