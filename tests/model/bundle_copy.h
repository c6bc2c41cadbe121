// Editable copies of the test bundles, for the model stage's tests.
#pragma once

#include <filesystem>
#include <fstream>
#include <functional>
#include <string>

#include <nlohmann/json.hpp>

#include "bert_embed/model/bundle_files.h"
#include "fixtures.h"
#include "temp_dir.h"

namespace bert_embed::test {

// A copy of test bundle `model` in `temp`, without the int8 model unless asked for.
inline std::filesystem::path copy_bundle(const TempDir& temp, const std::string& model, bool with_int8 = false) {
  const std::filesystem::path copy = temp.path() / model;
  std::filesystem::create_directory(copy);
  for (const std::filesystem::directory_entry& entry : std::filesystem::directory_iterator(test_bundle(model))) {
    if (with_int8 || entry.path().filename() != "model.int8.pt") {
      std::filesystem::copy(entry.path(), copy / entry.path().filename());
    }
  }
  return copy;
}

inline void edit_bundle_json(const std::filesystem::path& bundle, const std::function<void(nlohmann::json&)>& edit) {
  nlohmann::json value = nlohmann::json::parse(std::ifstream(bundle / "bundle.json"));
  edit(value);
  std::ofstream(bundle / "bundle.json") << value.dump(2);
}

// Records the present sha256 of the bundle's file `name` in its bundle.json,
// as an export of the changed file would.
inline void record_sha256(const std::filesystem::path& bundle, const std::string& name) {
  const std::string digest = sha256_of_file(bundle / name);
  edit_bundle_json(bundle, [&](nlohmann::json& value) { value["files"][name] = digest; });
}

}  // namespace bert_embed::test
