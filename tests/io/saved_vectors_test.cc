#include "bert_embed/io/saved_vectors.h"

#include <gtest/gtest.h>

#include <fstream>
#include <stdexcept>
#include <string>
#include <vector>

#include "bert_embed/io/embedding_writer.h"
#include "bert_embed/io/output_set.h"
#include "expect_error.h"
#include "temp_dir.h"

namespace bert_embed {
namespace {

namespace fs = std::filesystem;

// Writes [rows, slots, dim] vectors as embed does, with their manifest.
void write_vectors(const fs::path& output, const at::Tensor& vectors, OutputDtype dtype = OutputDtype::kFloat32) {
  WriterOptions options;
  options.format = OutputFormat::kNpy;
  options.output = output;
  options.dtype = dtype;
  options.slot_labels.clear();
  for (std::int64_t slot = 0; slot < vectors.size(1); ++slot) options.slot_labels.push_back(std::to_string(slot));
  Manifest provenance;
  provenance.source.architecture = "bert";
  provenance.source.slot_labels = options.slot_labels;
  provenance.source.dim = vectors.size(2);
  OutputSet outputs;
  auto writer = make_embedding_writer(outputs, options, provenance);
  for (std::int64_t i = 0; i < vectors.size(0); ++i) writer->write(PooledRecord{i, std::nullopt, vectors[i]});
  writer->finish();
  outputs.commit();
}

std::string open_error(const fs::path& file, bool allow_missing_manifest = false) {
  return test::error_message<std::runtime_error>([&] { SavedVectors vectors(file, allow_missing_manifest); });
}

TEST(SavedVectors, ReadsBlocksOfRowsOfLayersKeptApart) {
  const test::TempDir dir;
  const at::Tensor vectors = at::randn({7, 2, 5});
  write_vectors(dir.path() / "v.npy", vectors);
  const SavedVectors saved(dir.path() / "v.npy", false);
  EXPECT_EQ(saved.rows(), 7);
  EXPECT_EQ(saved.slots(), 2);
  EXPECT_EQ(saved.dim(), 5);
  EXPECT_EQ(saved.source().architecture, "bert");
  EXPECT_EQ(saved.postprocess(), "none");
  EXPECT_TRUE(at::equal(saved.read(2, 4), vectors.narrow(0, 2, 4)));
  EXPECT_EQ(saved.rows_per_block(2 * 5 * 4 * 3), 3);
  EXPECT_EQ(saved.rows_per_block(1), 1);
}

TEST(SavedVectors, WithoutAManifestOnlyWhenAllowed) {
  const test::TempDir dir;
  const fs::path file = dir.path() / "v.npy";
  write_vectors(file, at::randn({3, 1, 4}));
  fs::remove(manifest_path_for(file));
  const std::string message = open_error(file);
  EXPECT_CONTAINS(message, file.string() + ": no manifest " + manifest_path_for(file).string());
  EXPECT_CONTAINS(message, "--allow-missing-manifest");
  const SavedVectors unknown(file, true);
  EXPECT_FALSE(unknown.manifest().has_value());
  EXPECT_EQ(unknown.source(), unknown_source(1, 4));
  EXPECT_EQ(unknown.source().pooling, "unknown");
}

TEST(SavedVectors, RefusesWhatItsManifestDoesNotDescribe) {
  const test::TempDir dir;
  const fs::path file = dir.path() / "v.npy";
  write_vectors(file, at::randn({3, 1, 4}));
  // Another file's manifest beside it.
  fs::copy_file(file, dir.path() / "w.npy");
  fs::copy_file(manifest_path_for(file), manifest_path_for(dir.path() / "w.npy"));
  EXPECT_CONTAINS(open_error(dir.path() / "w.npy"), "says it describes v.npy, not w.npy");
  // Truncated since its commit.
  fs::resize_file(file, fs::file_size(file) - 4);
  EXPECT_CONTAINS(open_error(file), file.string());
  // Compact numbers are final: not read back as vectors.
  write_vectors(dir.path() / "b.npy", at::randn({3, 1, 4}), OutputDtype::kBinary);
  EXPECT_CONTAINS(open_error(dir.path() / "b.npy", true), "holds uint8, not float32");
  // A manifest of other rows than the array's.
  write_vectors(dir.path() / "r.npy", at::randn({3, 1, 4}));
  const fs::path manifest_file = manifest_path_for(dir.path() / "r.npy");
  Manifest manifest = read_manifest(manifest_file);
  manifest.rows = 4;
  write_manifest(manifest_file, manifest);
  EXPECT_CONTAINS(open_error(dir.path() / "r.npy"), "an array of shape [3, 4] where its manifest");
}

}  // namespace
}  // namespace bert_embed
