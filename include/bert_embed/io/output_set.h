// The files of one run (vectors, token offsets, statistics and their
// manifests), committed together at the very end, so that a failure anywhere
// leaves every previous output as it was, and an interruption during the
// commit itself is detectable:
//   1. every file is flushed, synced and closed (a write error stops here,
//      before anything is replaced);
//   2. the manifests are written to temporaries, each listing the sizes of
//      the files it covers;
//   3. the existing manifests of these outputs are removed;
//   4. the data files are renamed into place;
//   5. the manifests are renamed into place, last.
// An output whose manifest is missing, or lists sizes its files do not have
// (check_manifest_files), was not committed completely. SIGINT and SIGTERM
// (install_interrupt_cleanup) wait for a commit in progress to end.
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <vector>

#include "bert_embed/io/manifest.h"
#include "bert_embed/io/output_file.h"

namespace bert_embed {

// A file of the set that a manifest covers, with the rows it holds (NPY: the
// first dimension; JSONL: lines).
struct CoveredFile {
  const OutputFile* file = nullptr;
  std::int64_t rows = 0;
};

// OUT -> OUT.checkpoint.json: how far a resumable run of OUT got (a Manifest
// with shard.complete false, listing its partial files).
std::filesystem::path checkpoint_path_for(const std::filesystem::path& output);

class OutputSet {
 public:
  // input: the run's input file ("-": standard input; empty: none); every
  // file added is checked against it (check_output_is_not_input).
  explicit OutputSet(std::filesystem::path input = {});
  // Uncommitted temporaries are removed (by the files' destructors).
  ~OutputSet();
  OutputSet(const OutputSet&) = delete;
  OutputSet& operator=(const OutputSet&) = delete;

  // Makes the set resumable, before any file is added: files are then
  // written as partial files (OutputFile::Partial), the i-th one added
  // keeping keep_bytes[i] bytes (0 when the list is shorter: a fresh start);
  // checkpoint() records how far the run got in `checkpoint_file`, which
  // commit() removes once the outputs are in place.
  void make_resumable(std::filesystem::path checkpoint_file, std::vector<std::uint64_t> keep_bytes);

  // Resumable sets only: flushes and syncs every file, then writes
  // `progress`, listing the partial files with their sizes, to the
  // checkpoint file, durably (synced, renamed into place, directory synced).
  // A crash at any point leaves the previous checkpoint or this one.
  void checkpoint(Manifest progress);

  // Opens one more output (see OutputFile). The reference lives as long as
  // the set. Throws std::invalid_argument when it is the input or another
  // output of the set, std::runtime_error when it cannot be opened.
  OutputFile& add(const std::filesystem::path& target);

  // Writes `manifest`, at manifest_path_for(the first file's path), when the
  // set commits; its `files` become the covered files (which must lie in one
  // directory), with their sizes. Nothing is written when the first file is
  // standard output or a special file: there is no file to describe.
  // `manifest_file`, when given, is where the manifest goes instead (a
  // statistics file is its manifest).
  void add_manifest(Manifest manifest, std::vector<CoveredFile> files, std::filesystem::path manifest_file = {});

  // Commits every file, manifests last (see above). Throws std::runtime_error
  // naming the file that failed; std::logic_error when called twice.
  void commit();

 private:
  struct PendingManifest {
    Manifest manifest;
    std::vector<CoveredFile> files;
    std::filesystem::path manifest_file;
  };

  std::filesystem::path input_;
  std::vector<std::unique_ptr<OutputFile>> files_;
  std::vector<PendingManifest> manifests_;
  std::filesystem::path checkpoint_file_;  // empty unless resumable
  std::vector<std::uint64_t> keep_bytes_;
  bool committed_ = false;
};

}  // namespace bert_embed
