// The integrity of a bundle's files: bundle.json (format 2) records the
// sha256 of every other file, and a run verifies the files it uses.
#pragma once

#include <filesystem>
#include <string>

#include "bert_embed/model/bundle.h"

namespace bert_embed {

// The SHA-256 of a file's bytes as 64 lowercase hex digits, read in 1 MiB
// chunks. Throws std::runtime_error naming the file when it cannot be read.
std::string sha256_of_file(const std::filesystem::path& file);

// Throws std::runtime_error naming the file when the bundle file `name` (e.g.
// "model.pt", "vocab.txt") is not listed in bundle.json, cannot be read, or
// does not have the sha256 that bundle.json records for it.
void verify_bundle_file(const BundleInfo& info, const std::string& name);

// verify_bundle_file for every file bundle.json records but the models: the
// tokenizer files and tokenizer_config.json. Commands call it before they
// load the tokenizer, and the encoder with its model (1 ms for bert-base's).
void verify_tokenizer_files(const BundleInfo& info);

}  // namespace bert_embed
