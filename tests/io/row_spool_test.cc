#include "bert_embed/io/row_spool.h"

#include <filesystem>
#include <stdexcept>
#include <vector>

#include <gtest/gtest.h>

#include "expect_error.h"
#include "temp_dir.h"

namespace bert_embed {
namespace {

TEST(RowSpool, ReadsBackRowsAcrossManyAppends) {
  test::TempDir dir;
  RowSpool spool(dir.path());
  const at::Tensor all = at::randn({200, 2, 5});
  std::int64_t first = 0;
  for (std::int64_t count : {1, 0, 7, 31, 64, 97}) {
    spool.append(all.narrow(0, first, count));
    first += count;
  }
  ASSERT_EQ(spool.rows(), 200);
  EXPECT_TRUE(at::equal(spool.read(0, 200), all));
  EXPECT_TRUE(at::equal(spool.read(5, 40), all.narrow(0, 5, 40)));
  EXPECT_EQ(spool.read(200, 0).sizes(), (std::vector<std::int64_t>{0, 2, 5}));
}

TEST(RowSpool, TakesNonContiguousRows) {
  test::TempDir dir;
  RowSpool spool(dir.path());
  const at::Tensor rows = at::randn({3, 4, 6}).transpose(1, 2);
  spool.append(rows);
  EXPECT_TRUE(at::equal(spool.read(0, 3), rows));
}

TEST(RowSpool, RefusesAnotherShapeOrType) {
  test::TempDir dir;
  RowSpool spool(dir.path());
  spool.append(at::zeros({2, 1, 4}));
  EXPECT_THROW(spool.append(at::zeros({2, 1, 5})), std::invalid_argument);
  EXPECT_THROW(spool.append(at::zeros({2, 2, 4})), std::invalid_argument);
  EXPECT_THROW(spool.append(at::zeros({2, 1, 4}, at::kDouble)), std::invalid_argument);
  EXPECT_EQ(spool.rows(), 2);
  EXPECT_THROW(spool.read(1, 2), std::out_of_range);
}

TEST(RowSpool, LeavesNoFileInTheDirectory) {
  test::TempDir dir;
  {
    RowSpool spool(dir.path());
    spool.append(at::ones({10, 1, 3}));
    EXPECT_TRUE(std::filesystem::is_empty(dir.path()));
  }
  EXPECT_TRUE(std::filesystem::is_empty(dir.path()));
}

TEST(RowSpool, MissingDirectoryIsNamed) {
  test::TempDir dir;
  const std::filesystem::path missing = dir.path() / "missing";
  EXPECT_CONTAINS(test::error_message<std::runtime_error>([&] { RowSpool spool(missing); }), missing.string());
}

}  // namespace
}  // namespace bert_embed
