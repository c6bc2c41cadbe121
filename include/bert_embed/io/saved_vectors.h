// Vectors saved by bert-embed as NPY, opened for reading again (stats,
// postprocess): the file and its manifest, checked against each other before
// a row is read, then read in blocks of rows with flat memory.
#pragma once

#include <ATen/ATen.h>

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>

#include "bert_embed/io/manifest.h"
#include "bert_embed/io/npy_reader.h"

namespace bert_embed {

// The source recorded for vectors without a manifest: every field
// "unknown", `slots` slot labels "unknown", and `dim`. Two such sources
// compare equal when their shapes do.
VectorSource unknown_source(std::int64_t slots, std::int64_t dim);

class SavedVectors {
 public:
  // Opens FILE.npy and FILE.npy.manifest.json. std::runtime_error naming the
  // file: no manifest (unless allow_missing_manifest: the source is then
  // unknown_source() of the array's shape), a manifest of another kind,
  // format or file, an output whose commit did not complete
  // (check_manifest_files), numbers other than float32, or an array whose
  // shape is not the manifest's ([rows, dim], or [rows, slots, dim] for
  // several slots).
  SavedVectors(const std::filesystem::path& file, bool allow_missing_manifest);

  const std::filesystem::path& path() const { return reader_.path(); }
  // How messages name the file.
  std::string name() const { return path().string(); }
  // The manifest, or none when the file has none.
  const std::optional<Manifest>& manifest() const { return manifest_; }
  const VectorSource& source() const { return source_; }
  // The post-processing the vectors had: the manifest's, "none" without one.
  const std::string& postprocess() const { return postprocess_; }
  std::int64_t rows() const { return reader_.rows(); }
  std::int64_t slots() const { return slots_; }
  // The width of the saved vectors (after their post-processing).
  std::int64_t dim() const { return dim_; }

  // Rows [first, first + count) as float32 [count, slots, dim].
  at::Tensor read(std::int64_t first, std::int64_t count) const;
  // Rows per block for reading about `bytes` at a time (at least 1).
  std::int64_t rows_per_block(std::int64_t bytes) const;

 private:
  NpyReader reader_;
  std::optional<Manifest> manifest_;
  VectorSource source_;
  std::string postprocess_ = "none";
  std::int64_t slots_ = 1;
  std::int64_t dim_ = 0;
};

}  // namespace bert_embed
