// --shard I/N: which contiguous part of the input a run embeds. Shards split
// the batching grid (batcher.h), never a cell of it, so that N shards make
// the windows, batches and bytes of one run over the whole input.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>

#include "bert_embed/io/input_reader.h"
#include "bert_embed/pipeline/text_source.h"

namespace bert_embed {

struct ShardSpec {
  std::uint64_t index = 0;  // 0-based
  std::uint64_t count = 1;
};

// Parses "I/N" with 0 <= I < N; std::invalid_argument saying what is wrong.
ShardSpec parse_shard(const std::string& text);

// Shard I of N: the grid's cells (`grid` records each, the last one maybe
// shorter) dealt out in order, cells*I/N to cells*(I+1)/N, so that the shards
// cover [0, total_records) exactly once and differ by at most one cell. A
// shard may be empty when there are fewer cells than shards.
RecordRange shard_range(const ShardSpec& shard, std::uint64_t total_records, std::uint64_t grid);

// The records of a regular input file, read as the run reads them (a tsv
// header is not one; a malformed line is the InputError the run would meet).
// One pass over the file: about as fast as the disk for text input.
std::uint64_t count_records(const std::filesystem::path& input, const InputOptions& options);

}  // namespace bert_embed
