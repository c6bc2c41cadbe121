// bert-embed merge: the outputs of a job's shards -> the output of one run
// over the whole input, checked from their manifests first.
#include <algorithm>
#include <fstream>
#include <iostream>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "bert_embed/io/embedding_writer.h"
#include "bert_embed/io/manifest.h"
#include "bert_embed/io/npy_reader.h"
#include "bert_embed/io/npy_writer.h"
#include "bert_embed/io/output_set.h"
#include "bert_embed/pipeline/pipeline.h"
#include "commands/command.h"

namespace bert_embed {
namespace {
namespace fs = std::filesystem;

struct MergeOptions {
  std::vector<fs::path> shards;
  fs::path output;
};

struct ShardOutput {
  fs::path path;
  Manifest manifest;
};

std::string record_range(std::uint64_t begin, std::uint64_t end) {
  return "records [" + std::to_string(begin) + ", " + std::to_string(end) + ")";
}

// Reads a shard output's manifest and checks its files; adds what is wrong
// to `problems` and returns nothing then.
std::optional<ShardOutput> load_shard(const fs::path& path, std::vector<std::string>& problems) {
  const fs::path manifest_file = manifest_path_for(path);
  std::error_code error;
  if (!fs::exists(manifest_file, error)) {
    const fs::path checkpoint_file = checkpoint_path_for(path);
    if (!fs::exists(checkpoint_file, error)) {
      problems.push_back(path.string() + ": no manifest " + manifest_file.string() +
                         ": not a finished bert-embed output");
      return std::nullopt;
    }
    try {
      const Manifest checkpoint = read_manifest(checkpoint_file);
      problems.push_back(path.string() + ": incomplete: shard " + std::to_string(checkpoint.shard.index) + "/" +
                         std::to_string(checkpoint.shard.count) + " has " +
                         record_range(checkpoint.shard.begin, checkpoint.input.end_record) + " of " +
                         record_range(checkpoint.shard.begin, checkpoint.shard.end) + " (" +
                         checkpoint_file.string() + "): rerun its command to finish it");
    } catch (const std::runtime_error& problem) {
      problems.push_back(path.string() + ": incomplete, and " + problem.what());
    }
    return std::nullopt;
  }
  try {
    ShardOutput shard{path, read_manifest(manifest_file)};
    check_manifest_files(shard.manifest, manifest_file);
    const Manifest& manifest = shard.manifest;
    if (manifest.kind != "vectors") {
      problems.push_back(path.string() + ": its manifest is of " + manifest.kind + ", not vectors");
      return std::nullopt;
    }
    if (!manifest.shard.complete || manifest.input.first_record != manifest.shard.begin ||
        manifest.input.end_record != manifest.shard.end) {
      problems.push_back(path.string() + ": incomplete: " +
                         record_range(manifest.input.first_record, manifest.input.end_record) + " of its shard's " +
                         record_range(manifest.shard.begin, manifest.shard.end));
      return std::nullopt;
    }
    if (manifest.format == "npy") {
      for (const ManifestFile& file : manifest.files) {
        const NpyReader reader(path.parent_path() / file.name);
        if (reader.rows() != file.rows) {
          problems.push_back(path.string() + ": " + file.name + " holds " + std::to_string(reader.rows()) +
                             " rows, its manifest lists " + std::to_string(file.rows));
          return std::nullopt;
        }
      }
    }
    return shard;
  } catch (const std::runtime_error& problem) {
    problems.push_back(path.string() + ": " + problem.what());
    return std::nullopt;
  }
}

// Every problem that stops the merge: shards made differently (compared with
// the first), gaps, overlaps. `shards` are sorted by their first record.
void check_shards_fit(const std::vector<ShardOutput>& shards, std::vector<std::string>& problems) {
  const ShardOutput& first = shards.front();
  for (const ShardOutput& shard : shards) {
    const std::string difference =
        describe_run_difference(first.manifest, first.path.string(), shard.manifest, shard.path.string());
    if (!difference.empty()) problems.push_back(shard.path.string() + ": made differently: " + difference);
  }
  std::uint64_t covered = 0;
  const ShardOutput* previous = nullptr;
  for (const ShardOutput& shard : shards) {
    const ShardDescription& range = shard.manifest.shard;
    if (range.begin > covered) {
      problems.push_back(record_range(covered, range.begin) + " are in no shard given: missing before " +
                         shard.path.string() + " (" + record_range(range.begin, range.end) + ")");
    } else if (range.begin < covered && previous != nullptr) {
      problems.push_back(shard.path.string() + " (" + record_range(range.begin, range.end) + ") overlaps " +
                         previous->path.string() + " (" +
                         record_range(previous->manifest.shard.begin, previous->manifest.shard.end) + ")");
    }
    if (range.end > covered) {
      covered = range.end;
      previous = &shard;
    }
  }
  const std::uint64_t total = first.manifest.shard.total_records;
  if (covered < total) {
    problems.push_back(record_range(covered, total) + " of the input's " + std::to_string(total) +
                       " are in no shard given: missing after " + previous->path.string());
  }
}

// Copies `bytes` bytes of `from`, from `offset` on, to the end of `to`.
void copy_bytes(const fs::path& from, std::uint64_t offset, std::uint64_t bytes, OutputFile& to) {
  std::ifstream in(from, std::ios::binary);
  in.seekg(static_cast<std::streamoff>(offset));
  constexpr std::size_t kBlock = 1 << 20;
  std::vector<char> block(kBlock);
  while (bytes > 0) {
    const auto size = static_cast<std::streamsize>(std::min<std::uint64_t>(bytes, kBlock));
    if (!in.read(block.data(), size)) throw std::runtime_error("cannot read " + from.string() + ": it ended early");
    to.stream().write(block.data(), size);
    to.check_written();
    bytes -= static_cast<std::uint64_t>(size);
  }
}

// Appends the data of an NPY array (everything after its header).
void copy_npy_data(const NpyReader& array, OutputFile& to) {
  const std::uint64_t bytes = static_cast<std::uint64_t>(array.rows()) *
                              static_cast<std::uint64_t>(array.row_elements()) * npy_item_size(array.dtype());
  copy_bytes(array.path(), array.data_offset(), bytes, to);
}

void write_header(OutputFile& file, const NpyReader& like, std::int64_t rows) {
  std::vector<std::int64_t> shape = like.shape();
  shape.front() = rows;
  const std::string header = reserved_npy_header(npy_descr(like.dtype()), shape);
  file.stream().write(header.data(), static_cast<std::streamsize>(header.size()));
  file.check_written();
}

// Token offsets of every shard, each shard's rebased on the token rows
// before it: int64 [total_records + 1], read and written in blocks.
void merge_offsets(const std::vector<ShardOutput>& shards, std::int64_t total_records, OutputFile& out) {
  const NpyReader first(shards.front().path.parent_path() / shards.front().manifest.files.at(1).name);
  write_header(out, first, total_records + 1);
  std::int64_t base = 0;
  const std::int64_t zero = 0;
  out.stream().write(reinterpret_cast<const char*>(&zero), sizeof(zero));
  constexpr std::int64_t kBlock = 1 << 16;
  std::vector<std::int64_t> block(kBlock);
  for (const ShardOutput& shard : shards) {
    const NpyReader offsets(shard.path.parent_path() / shard.manifest.files.at(1).name);
    offsets.expect(NpyDtype::kInt64, {offsets.rows()});
    for (std::int64_t first_row = 1; first_row < offsets.rows(); first_row += kBlock) {
      const std::int64_t count = std::min(kBlock, offsets.rows() - first_row);
      offsets.read_rows(first_row, count, block.data());
      for (std::int64_t i = 0; i < count; ++i) block[static_cast<std::size_t>(i)] += base;
      out.stream().write(reinterpret_cast<const char*>(block.data()),
                         static_cast<std::streamsize>(count * static_cast<std::int64_t>(sizeof(std::int64_t))));
      out.check_written();
    }
    base += shard.manifest.rows;
  }
}

void run_merge(const MergeOptions& options, const CommonOptions& common) {
  std::vector<std::string> problems;
  std::vector<ShardOutput> shards;
  for (const fs::path& path : options.shards) {
    try {
      check_output_is_not_input(path, options.output);
    } catch (const std::invalid_argument& error) {
      throw UsageError(error.what());
    }
    if (std::optional<ShardOutput> shard = load_shard(path, problems)) shards.push_back(std::move(*shard));
  }
  std::stable_sort(shards.begin(), shards.end(), [](const ShardOutput& a, const ShardOutput& b) {
    return a.manifest.shard.begin < b.manifest.shard.begin;
  });
  if (!shards.empty()) check_shards_fit(shards, problems);
  if (!problems.empty()) {
    std::string message = "cannot merge " + std::to_string(options.shards.size()) + " shard outputs into " +
                           options.output.string() + ":";
    for (const std::string& problem : problems) message += "\n  " + problem;
    throw std::runtime_error(message);
  }

  Manifest whole = shards.front().manifest;
  // A run names its format by its output's name; the merged file, read later
  // by that name, must say what it holds.
  const std::string named_format = output_format_name(output_format_for(options.output));
  if (named_format != whole.format) {
    throw UsageError("-o " + options.output.string() + ": the shards are " + whole.format + " but the name says " +
                     named_format + " (bert-embed writes NPY to a name ending in .npy, JSONL to any other)");
  }
  whole.input.first_record = 0;
  whole.input.end_record = whole.shard.total_records;
  whole.rows = 0;
  for (const ShardOutput& shard : shards) whole.rows += shard.manifest.rows;
  whole.shard.index = 0;
  whole.shard.count = 1;
  whole.shard.begin = 0;
  whole.shard.end = whole.shard.total_records;
  whole.shard.complete = true;

  OutputSet outputs;
  OutputFile& data = outputs.add(options.output);
  std::vector<CoveredFile> covered = {{&data, whole.format == "npy" ? whole.rows : static_cast<std::int64_t>(whole.input.end_record)}};
  if (whole.format == "npy") {
    const NpyReader first(shards.front().path);
    write_header(data, first, whole.rows);
    for (const ShardOutput& shard : shards) copy_npy_data(NpyReader(shard.path), data);
    if (whole.files.size() > 1) {  // per token: the offsets
      OutputFile& offsets = outputs.add(npy_offsets_path(options.output));
      const auto records = static_cast<std::int64_t>(whole.shard.total_records);
      merge_offsets(shards, records, offsets);
      covered.push_back({&offsets, records + 1});
    }
  } else {
    for (const ShardOutput& shard : shards) copy_bytes(shard.path, 0, fs::file_size(shard.path), data);
  }
  outputs.add_manifest(whole, covered);
  outputs.commit();
  if (!common.quiet) {
    std::cerr << "bert-embed: merged " << shards.size() << " shards, " << whole.shard.total_records << " records, "
              << whole.rows << " rows into " << options.output.string() << '\n';
  }
}

}  // namespace

CommandRun define_merge(CLI::App& app, const CommonOptions& common) {
  auto options = std::make_shared<MergeOptions>();
  app.add_option("shards", options->shards,
                 "Outputs of bert-embed --shard I/N (each with its manifest), in any order")
      ->required()
      ->type_name("SHARD_OUTPUT");
  app.add_option("-o,--output", options->output,
                 "Output file: what one run over the whole input would have written, with its manifest")
      ->required()
      ->type_name("FILE");
  app.footer(R"(The shards must come from one input with one model and the same options, be
complete, and cover the input's records exactly once; every problem is named
before anything is written. NPY, JSONL and per-token outputs (OUT.offsets.npy,
rebased) are copied in blocks: memory stays flat.)");
  return [options, &common] { run_merge(*options, common); };
}

}  // namespace bert_embed
