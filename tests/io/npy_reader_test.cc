#include "bert_embed/io/npy_reader.h"

#include <gtest/gtest.h>

#include <cstring>
#include <fstream>
#include <numeric>
#include <stdexcept>
#include <string>
#include <vector>

#include "bert_embed/io/npy_writer.h"
#include "bert_embed/io/output_file.h"
#include "npy_reader.h"
#include "command.h"
#include "expect_error.h"
#include "temp_dir.h"

namespace bert_embed {
namespace {

namespace fs = std::filesystem;

// A file of exactly these bytes.
void write_bytes(const fs::path& path, const std::string& bytes) {
  std::ofstream(path, std::ios::binary) << bytes;
}

// An NPY version 1.0 file with this header dictionary and `data_bytes` zero bytes.
std::string npy_v1(const std::string& dict, std::size_t data_bytes) {
  std::string header = dict + "\n";
  std::string bytes("\x93NUMPY\x01\x00", 8);
  bytes += static_cast<char>(header.size() & 0xff);
  bytes += static_cast<char>(header.size() >> 8);
  return bytes + header + std::string(data_bytes, '\0');
}

std::string open_error(const fs::path& path) {
  return test::error_message<std::runtime_error>([&] { NpyReader reader(path); });
}

TEST(NpyReader, ReadsWhatNumpyWrites) {
  const test::TempDir dir;
  const std::string script = R"(
import sys
import numpy as np
np.save(sys.argv[1] + "/f4.npy", np.arange(24, dtype="<f4").reshape(2, 3, 4) / 4)
np.save(sys.argv[1] + "/f8.npy", np.array([0.1, -2.5e300]))
np.save(sys.argv[1] + "/i8.npy", np.array([[1, -2], [3, 1 << 40]], dtype="<i8"))
np.save(sys.argv[1] + "/empty.npy", np.zeros((0, 5), dtype="<f4"))
np.save(sys.argv[1] + "/scalar.npy", np.float64(7.5))
np.lib.format.write_array(open(sys.argv[1] + "/v2.npy", "wb"), np.ones(3), version=(2, 0))
np.save(sys.argv[1] + "/f2.npy", np.array([[1.5, -0.25, 65504]], dtype="<f2"))
np.save(sys.argv[1] + "/i1.npy", np.array([[-128, 0, 127]], dtype=np.int8))
np.save(sys.argv[1] + "/u1.npy", np.packbits(np.array([[1, 0, 1, 1, 0, 0, 0, 0, 1]]) > 0, axis=-1))
)";
  ASSERT_EQ(test::run_command("/usr/bin/python3 -c " + test::shell_quote(script) + " " +
                              test::shell_quote(dir.path().string()))
                .exit_status,
            0);
  const NpyReader f4(dir.path() / "f4.npy");
  EXPECT_EQ(f4.dtype(), NpyDtype::kFloat32);
  EXPECT_EQ(f4.shape(), (std::vector<std::int64_t>{2, 3, 4}));
  EXPECT_EQ(f4.rows(), 2);
  EXPECT_EQ(f4.row_elements(), 12);
  std::vector<float> expected(24);
  for (int i = 0; i < 24; ++i) expected[i] = i / 4.0f;
  EXPECT_EQ(f4.read_all<float>(), expected);

  EXPECT_EQ(NpyReader(dir.path() / "f8.npy").read_all<double>(),
            (std::vector<double>{0.1, -2.5e300}));
  EXPECT_EQ(NpyReader(dir.path() / "i8.npy").read_all<std::int64_t>(),
            (std::vector<std::int64_t>{1, -2, 3, std::int64_t{1} << 40}));
  const NpyReader empty(dir.path() / "empty.npy");
  EXPECT_EQ(empty.shape(), (std::vector<std::int64_t>{0, 5}));
  EXPECT_TRUE(empty.read_all<float>().empty());
  const NpyReader scalar(dir.path() / "scalar.npy");
  EXPECT_TRUE(scalar.shape().empty());
  EXPECT_EQ(scalar.read_all<double>(), std::vector<double>{7.5});
  EXPECT_EQ(NpyReader(dir.path() / "v2.npy").read_all<double>(), std::vector<double>(3, 1.0));

  const NpyReader f2(dir.path() / "f2.npy");
  EXPECT_EQ(f2.dtype(), NpyDtype::kFloat16);
  EXPECT_EQ(f2.read_all<std::uint16_t>(), (std::vector<std::uint16_t>{0x3e00, 0xb400, 0x7bff}));
  EXPECT_EQ(test::read_npy(dir.path() / "f2.npy").f32, (std::vector<float>{1.5f, -0.25f, 65504.0f}));
  const NpyReader i1(dir.path() / "i1.npy");
  EXPECT_EQ(i1.dtype(), NpyDtype::kInt8);
  EXPECT_EQ(i1.read_all<std::int8_t>(), (std::vector<std::int8_t>{-128, 0, 127}));
  const NpyReader u1(dir.path() / "u1.npy");
  EXPECT_EQ(u1.dtype(), NpyDtype::kUInt8);
  EXPECT_EQ(u1.shape(), (std::vector<std::int64_t>{1, 2}));
  EXPECT_EQ(u1.read_all<std::uint8_t>(), (std::vector<std::uint8_t>{0b10110000, 0b10000000}));
}

// How vectors spooled to disk are replayed: a chunk of rows at a time.
TEST(NpyReader, ReadsRowsInChunks) {
  const test::TempDir dir;
  const fs::path path = dir.path() / "rows.npy";
  std::vector<float> values(10 * 2 * 3);
  std::iota(values.begin(), values.end(), 0.0f);
  OutputFile out(path);
  write_npy_array(out, "<f4", {10, 2, 3}, values.data(), values.size() * sizeof(float));
  out.commit();

  const NpyReader reader(path);
  std::vector<float> chunk(4 * 6);
  reader.read_rows(6, 4, chunk.data());
  EXPECT_EQ(chunk, std::vector<float>(values.begin() + 36, values.end()));
  reader.read_rows(0, 1, chunk.data());
  EXPECT_EQ(std::vector<float>(chunk.begin(), chunk.begin() + 6),
            std::vector<float>(values.begin(), values.begin() + 6));
  EXPECT_THROW(reader.read_rows(8, 3, chunk.data()), std::logic_error);
  std::vector<double> wrong_type(6);
  EXPECT_CONTAINS(
      test::error_message<std::logic_error>([&] { reader.read_rows(0, 1, wrong_type.data()); }),
      "holds float32, not float64");
}

TEST(NpyReader, ExpectNamesBothShapes) {
  const test::TempDir dir;
  const fs::path path = dir.path() / "a.npy";
  write_bytes(path, npy_v1("{'descr': '<f8', 'fortran_order': False, 'shape': (2, 3), }", 48));
  const NpyReader reader(path);
  EXPECT_NO_THROW(reader.expect(NpyDtype::kFloat64, {2, 3}));
  const std::string message = test::error_message<std::runtime_error>([&] {
    reader.expect(NpyDtype::kFloat32, {2, 4});
  });
  EXPECT_CONTAINS(message, path.string());
  EXPECT_CONTAINS(message, "float64 [2, 3] where float32 [2, 4] was expected");
}

TEST(NpyReader, RefusesSpecialFilesWithoutReadingThem) {
  EXPECT_CONTAINS(open_error("/dev/zero"), "/dev/zero: not a regular file");
  const test::TempDir dir;
  EXPECT_CONTAINS(open_error(dir.path()), "not a regular file");
  EXPECT_CONTAINS(open_error(dir.path() / "missing.npy"), "cannot open");
}

TEST(NpyReader, RefusesMalformedHeaders) {
  const test::TempDir dir;
  const fs::path path = dir.path() / "bad.npy";
  const auto error_for = [&](const std::string& bytes) {
    write_bytes(path, bytes);
    const std::string message = open_error(path);
    EXPECT_CONTAINS(message, path.string());
    return message;
  };
  const std::string good_dict = "{'descr': '<f4', 'fortran_order': False, 'shape': (2,), }";
  EXPECT_NO_THROW(write_bytes(path, npy_v1(good_dict, 8)); NpyReader reader(path));

  EXPECT_CONTAINS(error_for("\x93NUM"), "truncated header");
  EXPECT_CONTAINS(error_for("PK\x03\x04 not numpy at all"), "not an NPY file");
  std::string version = npy_v1(good_dict, 8);
  version[6] = 9;
  EXPECT_CONTAINS(error_for(version), "unsupported format version 9.0");
  // Version 2.0 announcing a 4 GiB header: refused before allocating it.
  EXPECT_CONTAINS(error_for(std::string("\x93NUMPY\x02\x00\xff\xff\xff\xff", 12) + "{}"),
                  "header of 4294967295 bytes");
  std::string cut = npy_v1(good_dict, 0);
  EXPECT_CONTAINS(error_for(cut.substr(0, 30)), "truncated header");
  EXPECT_CONTAINS(error_for(npy_v1("{'descr': '>f4', 'fortran_order': False, 'shape': (2,), }", 8)),
                  "unsupported dtype '>f4'");
  EXPECT_CONTAINS(error_for(npy_v1("{'descr': '<f4', 'fortran_order': True, 'shape': (2,), }", 8)),
                  "Fortran order");
  EXPECT_CONTAINS(error_for(npy_v1("{'descr': '<f4', 'shape': (2,), }", 8)), "lacks");
  EXPECT_CONTAINS(error_for(npy_v1("{'descr': '<f4', 'fortran_order': False, 'shape': (2,), "
                                   "'extra': 1}",
                                   8)),
                  "unknown header key 'extra'");
  EXPECT_CONTAINS(
      error_for(npy_v1("{'descr': '<f4', 'fortran_order': False, 'shape': (-2,), }", 8)),
      "a dimension expected");
  EXPECT_CONTAINS(error_for(npy_v1("{'descr': '<f4', 'fortran_order': False, 'shape': (2,) ", 8)),
                  "malformed header");
}

TEST(NpyReader, ChecksTheDataSizeAgainstTheFileBeforeAllocating) {
  const test::TempDir dir;
  const fs::path path = dir.path() / "data.npy";
  const std::string dict = "{'descr': '<f8', 'fortran_order': False, 'shape': (4, 2), }";
  write_bytes(path, npy_v1(dict, 63));
  EXPECT_CONTAINS(open_error(path),
                  "truncated: shape [4, 2] of float64 needs 64 bytes of data, the file has 63");
  write_bytes(path, npy_v1(dict, 65));
  EXPECT_CONTAINS(open_error(path), "trailing bytes");
  // Dimensions whose product overflows, or far beyond the file.
  write_bytes(path, npy_v1("{'descr': '<f8', 'fortran_order': False, 'shape': "
                           "(4611686018427387904, 4611686018427387904), }",
                           64));
  EXPECT_CONTAINS(open_error(path), "truncated");
  write_bytes(
      path,
      npy_v1("{'descr': '<f8', 'fortran_order': False, 'shape': (99999999999999999999,), }", 8));
  EXPECT_CONTAINS(open_error(path), "dimension too large");
}

}  // namespace
}  // namespace bert_embed
