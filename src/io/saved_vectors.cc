#include "bert_embed/io/saved_vectors.h"

#include <algorithm>
#include <stdexcept>
#include <vector>

namespace bert_embed {

namespace fs = std::filesystem;

VectorSource unknown_source(std::int64_t slots, std::int64_t dim) {
  VectorSource source;
  source.architecture = "unknown";
  source.weights_sha256 = "unknown";
  source.slot_labels.assign(static_cast<std::size_t>(slots), "unknown");
  source.layer_aggregation = "unknown";
  source.pooling = "unknown";
  source.dtype = "unknown";
  source.dim = dim;
  return source;
}

SavedVectors::SavedVectors(const fs::path& file, bool allow_missing_manifest) : reader_(file) {
  const auto fail = [&file](const std::string& problem) {
    throw std::runtime_error("saved vectors " + file.string() + ": " + problem);
  };
  if (reader_.dtype() != NpyDtype::kFloat32) {
    fail(std::string("holds ") + npy_dtype_name(reader_.dtype()) + ", not float32 (compact outputs are final)");
  }
  const std::vector<std::int64_t>& shape = reader_.shape();
  if (shape.size() != 2 && shape.size() != 3) {
    fail("an array of shape " + format_shape(shape) + ", not [rows, dim] or [rows, slots, dim]");
  }
  const fs::path manifest_file = manifest_path_for(file);
  std::error_code error;
  if (!fs::exists(manifest_file, error)) {
    if (!allow_missing_manifest) {
      fail("no manifest " + manifest_file.string() + " says which model, layers and pooling made them " +
           "(--allow-missing-manifest counts them anyway, as vectors of unknown source)");
    }
    slots_ = shape.size() == 3 ? shape[1] : 1;
    dim_ = shape.back();
    source_ = unknown_source(slots_, dim_);
    return;
  }
  Manifest manifest = read_manifest(manifest_file);
  const auto wrong = [&](const std::string& what, const std::string& value, const std::string& expected) {
    fail("its manifest " + manifest_file.string() + " says " + what + " " + value + ", not " + expected);
  };
  if (manifest.kind != "vectors") wrong("kind", manifest.kind, "vectors");
  if (manifest.format != "npy") wrong("format", manifest.format, "npy");
  if (manifest.output_dtype != "float32") wrong("output_dtype", manifest.output_dtype, "float32");
  if (manifest.files.empty() || manifest.files.front().name != file.filename().string()) {
    wrong("it describes", manifest.files.empty() ? "no file" : manifest.files.front().name,
          file.filename().string());
  }
  check_manifest_files(manifest, manifest_file);
  slots_ = static_cast<std::int64_t>(manifest.source.slot_labels.size());
  dim_ = manifest.dim;
  std::vector<std::int64_t> expected = {manifest.rows};
  if (slots_ > 1) expected.push_back(slots_);
  expected.push_back(dim_);
  if (shape != expected) {
    fail("an array of shape " + format_shape(shape) + " where its manifest " + manifest_file.string() +
         " says " + format_shape(expected));
  }
  source_ = manifest.source;
  postprocess_ = manifest.postprocess;
  manifest_ = std::move(manifest);
}

at::Tensor SavedVectors::read(std::int64_t first, std::int64_t count) const {
  at::Tensor rows = at::empty({count, slots_, dim_}, at::kFloat);
  reader_.read_rows(first, count, rows.data_ptr<float>());
  return rows;
}

std::int64_t SavedVectors::rows_per_block(std::int64_t bytes) const {
  return std::max<std::int64_t>(1, bytes / (slots_ * std::max<std::int64_t>(dim_, 1) * 4));
}

}  // namespace bert_embed
