#include "bert_embed/pipeline/shard.h"

#include <charconv>
#include <stdexcept>
#include <string_view>

namespace bert_embed {
namespace {

std::uint64_t parse_count(std::string_view text, const std::string& whole) {
  std::uint64_t value = 0;
  const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (text.empty() || error != std::errc() || end != text.data() + text.size()) {
    throw std::invalid_argument("shard \"" + whole + "\" is not I/N with whole numbers 0 <= I < N");
  }
  return value;
}

}  // namespace

ShardSpec parse_shard(const std::string& text) {
  const std::size_t slash = text.find('/');
  if (slash == std::string::npos) throw std::invalid_argument("shard \"" + text + "\" is not I/N, e.g. 3/16");
  ShardSpec shard;
  shard.index = parse_count(std::string_view(text).substr(0, slash), text);
  shard.count = parse_count(std::string_view(text).substr(slash + 1), text);
  if (shard.count == 0 || shard.index >= shard.count) {
    throw std::invalid_argument("shard \"" + text + "\": the index counts from 0 and must be below the count " +
                                std::to_string(shard.count));
  }
  return shard;
}

RecordRange shard_range(const ShardSpec& shard, std::uint64_t total_records, std::uint64_t grid) {
  if (grid == 0) throw std::invalid_argument("shard_range: the grid must be positive");
  const std::uint64_t cells = total_records / grid + (total_records % grid != 0 ? 1 : 0);
  // In 128 bits: cells * index may not fit in 64.
  const auto boundary = [&](std::uint64_t index) {
    const std::uint64_t cell = static_cast<std::uint64_t>(
        static_cast<unsigned __int128>(cells) * index / shard.count);
    return std::min(total_records, cell * grid);
  };
  return RecordRange{boundary(shard.index), boundary(shard.index + 1)};
}

std::uint64_t count_records(const std::filesystem::path& input, const InputOptions& options) {
  InputReader reader(input, options);
  std::uint64_t records = 0;
  while (reader.next()) ++records;
  return records;
}

}  // namespace bert_embed
