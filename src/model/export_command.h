// How to make or remake a bundle, for the model stage's error messages.
#pragma once

#include <string_view>

namespace bert_embed {

constexpr std::string_view kExportUsage = "scripts/export_model.py SOURCE_DIR BUNDLE_DIR";
constexpr std::string_view kInt8ExportUsage = "scripts/export_model.py --int8 SOURCE_DIR BUNDLE_DIR";

}  // namespace bert_embed
