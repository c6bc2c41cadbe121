#include "bert_embed/pipeline/shard.h"

#include <gtest/gtest.h>

#include <fstream>
#include <stdexcept>
#include <string>

#include "expect_error.h"
#include "temp_dir.h"

namespace bert_embed {
namespace {

TEST(ParseShard, ReadsIndexAndCount) {
  const ShardSpec shard = parse_shard("3/16");
  EXPECT_EQ(shard.index, 3u);
  EXPECT_EQ(shard.count, 16u);
}

TEST(ParseShard, RefusesWhatIsNotIOfN) {
  for (const char* text : {"3", "a/4", "1/", "/4", "-1/4", "1/4x", "1/0", "4/4"}) {
    EXPECT_THROW(parse_shard(text), std::invalid_argument) << text;
  }
  EXPECT_CONTAINS(test::error_message<std::invalid_argument>([] { parse_shard("4/4"); }),
                  "must be below the count 4");
}

TEST(ShardRange, CoversTheInputOnceOnTheGrid) {
  for (const std::uint64_t total : {0, 1, 7, 8, 9, 150, 1000}) {
    for (const std::uint64_t count : {1, 2, 3, 4, 7, 40}) {
      std::uint64_t covered = 0;
      for (std::uint64_t index = 0; index < count; ++index) {
        const RecordRange range = shard_range(ShardSpec{index, count}, total, 8);
        EXPECT_EQ(range.first, covered) << total << " records, shard " << index << "/" << count;
        EXPECT_LE(range.first, range.end);
        EXPECT_TRUE(range.first % 8 == 0 || range.first == total);
        covered = range.end;
      }
      EXPECT_EQ(covered, total) << total << " records, " << count << " shards";
    }
  }
}

TEST(ShardRange, SharesCellsEvenly) {
  // 19 cells of 8 (the last of 6) over 3 shards: 6, 6 and 7 cells.
  EXPECT_EQ(shard_range(ShardSpec{0, 3}, 150, 8).end, 48u);
  EXPECT_EQ(shard_range(ShardSpec{1, 3}, 150, 8).end, 96u);
  EXPECT_EQ(shard_range(ShardSpec{2, 3}, 150, 8).end, 150u);
}

TEST(CountRecords, CountsRecordsNotLines) {
  const test::TempDir dir;
  const auto file = dir.path() / "in.tsv";
  std::ofstream(file) << "text\tid\na\t1\nb\t2\n";
  InputOptions options;
  options.format = InputFormat::kTsv;
  options.text_field = "text";
  EXPECT_EQ(count_records(file, options), 2u);  // the header is not one
  EXPECT_EQ(count_records(file, InputOptions{}), 3u);
}

}  // namespace
}  // namespace bert_embed
