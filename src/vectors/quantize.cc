#include "bert_embed/vectors/quantize.h"

#include <stdexcept>
#include <utility>
#include <vector>

#include "bert_embed/vectors/postprocess.h"

namespace bert_embed {
namespace {

constexpr float kInt8Steps = 255.0f;
constexpr float kInt8Offset = 128.0f;

void check_rows(const at::Tensor& rows, const char* what) {
  if (rows.scalar_type() != at::kFloat || rows.dim() != 3) {
    throw std::invalid_argument(std::string(what) + ": expected float32 [rows, slots, dim], got " +
                                c10::str(rows.scalar_type(), " ", rows.sizes()));
  }
}

at::Tensor table_tensor(const std::vector<std::vector<float>>& table) {
  const auto slots = static_cast<std::int64_t>(table.size());
  const auto dim = static_cast<std::int64_t>(table.front().size());
  at::Tensor values = at::empty({slots, dim}, at::kFloat);
  for (std::int64_t slot = 0; slot < slots; ++slot) {
    std::copy(table[slot].begin(), table[slot].end(), values[slot].data_ptr<float>());
  }
  return values;
}

std::vector<std::vector<float>> tensor_table(const at::Tensor& values) {
  const at::Tensor floats = values.to(at::kFloat).contiguous();
  std::vector<std::vector<float>> table;
  for (std::int64_t slot = 0; slot < floats.size(0); ++slot) {
    const float* row = floats[slot].data_ptr<float>();
    table.emplace_back(row, row + floats.size(1));
  }
  return table;
}

}  // namespace

at::Tensor quantize_int8(const at::Tensor& rows, const at::Tensor& minimum, const at::Tensor& maximum) {
  check_rows(rows, "quantize_int8");
  if (minimum.sizes() != rows.sizes().slice(1) || maximum.sizes() != minimum.sizes()) {
    throw std::invalid_argument("quantize_int8: ranges " + c10::str(minimum.sizes()) + " and " +
                                c10::str(maximum.sizes()) + " for vectors " + c10::str(rows.sizes()));
  }
  const at::Tensor start = minimum.to(at::kFloat);
  const at::Tensor step = (maximum.to(at::kFloat) - start) / kInt8Steps;
  const at::Tensor scaled = ((rows - start) / step - kInt8Offset).trunc().clamp(-kInt8Offset, kInt8Offset - 1);
  return at::where(step.eq(0), at::full({}, -kInt8Offset, at::kFloat), scaled).to(at::kChar);
}

at::Tensor pack_sign_bits(const at::Tensor& rows) {
  check_rows(rows, "pack_sign_bits");
  const std::int64_t dim = rows.size(2);
  const std::int64_t bytes = (dim + 7) / 8;
  const at::Tensor bits = at::constant_pad_nd(rows.gt(0).to(at::kByte), {0, bytes * 8 - dim});
  const at::Tensor weights = at::tensor({128, 64, 32, 16, 8, 4, 2, 1}, at::kByte);
  return bits.reshape({rows.size(0), rows.size(1), bytes, 8}).mul(weights).sum(-1, false, at::kByte);
}

Int8Ranges int8_ranges_of(const at::Tensor& minimum, const at::Tensor& maximum, std::string calibration) {
  return Int8Ranges{std::move(calibration), tensor_table(minimum), tensor_table(maximum)};
}

at::Tensor int8_minimum(const Int8Ranges& ranges) { return table_tensor(ranges.minimum); }

at::Tensor int8_maximum(const Int8Ranges& ranges) { return table_tensor(ranges.maximum); }

Int8Ranges int8_ranges_from_statistics(const std::filesystem::path& file, const VectorSource& source,
                                       const std::string& vectors_name, const std::string& postprocess) {
  if (postprocess != "none") {
    throw std::invalid_argument("the int8 ranges of statistics file " + file.string() +
                                " are those of vectors before post-processing, and " + vectors_name +
                                " are post-processed (" + postprocess +
                                "): calibrate on the data instead (leave out --int8-ranges)");
  }
  PostProcessor statistics(statistics_file_options(file));
  statistics.load(file, source, vectors_name);
  const VectorStatistics& counted = statistics.statistics();
  if (!counted.has_range()) {
    throw std::runtime_error("statistics file " + file.string() +
                             " holds no range (min and max arrays) to quantize with");
  }
  return int8_ranges_of(counted.minimum(), counted.maximum(), file.string());
}

}  // namespace bert_embed
