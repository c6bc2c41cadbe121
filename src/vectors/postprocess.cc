#include "bert_embed/vectors/postprocess.h"

#include <ATen/Parallel.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <fstream>
#include <limits>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>
#include <stdexcept>
#include <vector>

#include "bert_embed/io/output_file.h"

namespace bert_embed {
namespace {

using json = nlohmann::json;

static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__,
              "statistics arrays are stored as little-endian bytes from memory");

constexpr char kFormat[] = "bert-embed post-processing statistics";
constexpr int kVersion = 1;
constexpr char kWhiten[] = "whiten";
constexpr char kRemoveTop[] = "remove-top";
constexpr char kStandardize[] = "standardize";

// A standard deviation below this fraction of the largest RMS value of the
// slot is rounding noise around a constant, not variance worth scaling up.
constexpr double kConstantTolerance = 1e-10;

// --- Per-vector transforms -------------------------------------------------
// Each output vector depends only on its input vector, through the same loops
// whatever the number of rows or threads: results are reproducible bit for
// bit from the same statistics (BLAS products would not guarantee that).

// Runs transform(slot, in, out) on every vector of x [n, slots, in_dim]
// (float64, contiguous) into a new [n, slots, out_dim].
template <typename Transform>
at::Tensor map_vectors(const at::Tensor& x, std::int64_t out_dim, Transform transform) {
  const std::int64_t slots = x.size(1);
  const std::int64_t in_dim = x.size(2);
  at::Tensor y = at::empty({x.size(0), slots, out_dim}, x.options());
  const double* in = x.data_ptr<double>();
  double* out = y.data_ptr<double>();
  constexpr std::int64_t kGrain = 64;
  at::parallel_for(0, x.size(0) * slots, kGrain, [&](std::int64_t begin, std::int64_t end) {
    for (std::int64_t v = begin; v < end; ++v)
      transform(v % slots, in + v * in_dim, out + v * out_dim);
  });
  return y;
}

// y = (x - mean) W, W: [slots, dim, k].
at::Tensor whiten(const at::Tensor& x, const at::Tensor& mean, const at::Tensor& matrix) {
  const std::int64_t dim = matrix.size(1);
  const std::int64_t k = matrix.size(2);
  const double* means = mean.data_ptr<double>();
  const double* weights = matrix.data_ptr<double>();
  return map_vectors(x, k, [=](std::int64_t slot, const double* in, double* out) {
    const double* slot_mean = means + slot * dim;
    const double* slot_weights = weights + slot * dim * k;
    std::fill(out, out + k, 0.0);
    for (std::int64_t d = 0; d < dim; ++d) {
      const double centred = in[d] - slot_mean[d];
      const double* row = slot_weights + d * k;
      for (std::int64_t j = 0; j < k; ++j) out[j] += centred * row[j];
    }
  });
}

// y = c - sum_j (c . u_j) u_j with c = x - mean, u_j the rows of
// directions [slots, D, dim]. Subtracting one projection at a time equals
// the simultaneous form for orthonormal directions, and is the stabler one.
at::Tensor remove_directions(const at::Tensor& x, const at::Tensor& mean,
                             const at::Tensor& directions) {
  const std::int64_t count = directions.size(1);
  const std::int64_t dim = directions.size(2);
  const double* means = mean.data_ptr<double>();
  const double* axes = directions.data_ptr<double>();
  return map_vectors(x, dim, [=](std::int64_t slot, const double* in, double* out) {
    const double* slot_mean = means + slot * dim;
    for (std::int64_t d = 0; d < dim; ++d) out[d] = in[d] - slot_mean[d];
    for (std::int64_t j = 0; j < count; ++j) {
      const double* axis = axes + (slot * count + j) * dim;
      double projection = 0.0;
      for (std::int64_t d = 0; d < dim; ++d) projection += out[d] * axis[d];
      for (std::int64_t d = 0; d < dim; ++d) out[d] -= projection * axis[d];
    }
  });
}

// y = (x - mean) / scale, per dimension.
at::Tensor standardize(const at::Tensor& x, const at::Tensor& mean, const at::Tensor& scale) {
  const std::int64_t dim = mean.size(1);
  const double* means = mean.data_ptr<double>();
  const double* scales = scale.data_ptr<double>();
  return map_vectors(x, dim, [=](std::int64_t slot, const double* in, double* out) {
    for (std::int64_t d = 0; d < dim; ++d) {
      out[d] = (in[d] - means[slot * dim + d]) / scales[slot * dim + d];
    }
  });
}

at::Tensor l2_normalize(const at::Tensor& x) {
  const std::int64_t dim = x.size(2);
  return map_vectors(x, dim, [=](std::int64_t, const double* in, double* out) {
    double squares = 0.0;
    for (std::int64_t d = 0; d < dim; ++d) squares += in[d] * in[d];
    const double norm = std::sqrt(squares);
    for (std::int64_t d = 0; d < dim; ++d) out[d] = norm > 0.0 ? in[d] / norm : 0.0;
  });
}

// --- Fitting ----------------------------------------------------------------

struct PrincipalAxes {
  at::Tensor mean;       // [slots, dim]
  at::Tensor axes;       // [slots, dim, dim], columns by decreasing variance
  at::Tensor variances;  // [slots, dim], decreasing
};

// Per slot of x [n, slots, dim]: the mean and the eigendecomposition of the
// sample covariance. Su et al. take the SVD of the covariance, which for a
// symmetric positive semi-definite matrix is the same decomposition; the
// symmetric eigensolver is several times faster.
PrincipalAxes principal_axes(const at::Tensor& x) {
  const at::Tensor by_slot = x.transpose(0, 1);  // [slots, n, dim]
  const at::Tensor mean = by_slot.mean(1);
  const at::Tensor centred = by_slot - mean.unsqueeze(1);
  const at::Tensor covariance = centred.transpose(1, 2).matmul(centred) / (x.size(0) - 1);
  const auto [ascending_variances, ascending_axes] = at::linalg_eigh(covariance);
  return {mean.contiguous(), ascending_axes.flip({2}), ascending_variances.flip({1})};
}

// Directions with variance at or below numpy.linalg.matrix_rank's tolerance
// are rank deficiency, not signal.
void check_rank(const PrincipalAxes& pca, std::int64_t needed, const std::string& what) {
  const at::Tensor tolerance =
      pca.variances.select(1, 0) * pca.variances.size(1) * std::numeric_limits<double>::epsilon();
  const at::Tensor ranks = pca.variances.gt(tolerance.unsqueeze(1)).sum(1);
  for (std::int64_t slot = 0; slot < ranks.size(0); ++slot) {
    const std::int64_t rank = ranks[slot].item<std::int64_t>();
    if (rank < needed) {
      throw std::runtime_error(what + " needs " + std::to_string(needed) +
                               " directions of non-zero variance, but the vectors" +
                               (ranks.size(0) > 1 ? " of slot " + std::to_string(slot) : "") +
                               " span only " + std::to_string(rank) +
                               " (fit on more, or more varied, lines)");
    }
  }
}

std::string describe(const PostProcessOptions& options) {
  std::string text;
  const auto add = [&text](const std::string& part) { text += (text.empty() ? "" : ", ") + part; };
  if (options.whiten_components > 0)
    add(std::string(kWhiten) + " " + std::to_string(options.whiten_components));
  if (options.remove_top > 0)
    add(std::string(kRemoveTop) + " " + std::to_string(options.remove_top));
  if (options.standardize) add(kStandardize);
  return text.empty() ? "no fitted transform" : text;
}

// --- Statistics file --------------------------------------------------------

constexpr char kBase64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

std::string base64_encode(const unsigned char* data, std::size_t size) {
  std::string out;
  out.reserve((size + 2) / 3 * 4);
  for (std::size_t i = 0; i < size; i += 3) {
    const std::size_t left = size - i;
    const std::uint32_t group =
        (data[i] << 16) | (left > 1 ? data[i + 1] << 8 : 0) | (left > 2 ? data[i + 2] : 0);
    out += kBase64[(group >> 18) & 63];
    out += kBase64[(group >> 12) & 63];
    out += left > 1 ? kBase64[(group >> 6) & 63] : '=';
    out += left > 2 ? kBase64[group & 63] : '=';
  }
  return out;
}

int base64_value(char c) {
  if (c >= 'A' && c <= 'Z') return c - 'A';
  if (c >= 'a' && c <= 'z') return c - 'a' + 26;
  if (c >= '0' && c <= '9') return c - '0' + 52;
  if (c == '+') return 62;
  if (c == '/') return 63;
  return -1;
}

// Returns false on a character outside the alphabet or a bad length.
bool base64_decode(std::string_view text, std::vector<unsigned char>& out) {
  if (text.size() % 4 != 0) return false;
  std::size_t padding = 0;
  if (!text.empty() && text.back() == '=') padding = text[text.size() - 2] == '=' ? 2 : 1;
  out.clear();
  out.reserve(text.size() / 4 * 3);
  std::uint32_t group = 0;
  for (std::size_t i = 0; i < text.size() - padding; ++i) {
    const int value = base64_value(text[i]);
    if (value < 0) return false;
    group = (group << 6) | static_cast<std::uint32_t>(value);
    if (i % 4 == 3) {
      out.push_back(static_cast<unsigned char>(group >> 16));
      out.push_back(static_cast<unsigned char>(group >> 8));
      out.push_back(static_cast<unsigned char>(group));
      group = 0;
    }
  }
  if (padding == 1) {  // 3 characters: 18 bits, 2 bytes
    out.push_back(static_cast<unsigned char>(group >> 10));
    out.push_back(static_cast<unsigned char>(group >> 2));
  } else if (padding == 2) {  // 2 characters: 12 bits, 1 byte
    out.push_back(static_cast<unsigned char>(group >> 4));
  }
  return true;
}

json array_to_json(const at::Tensor& array) {
  return {{"dtype", "<f8"},
          {"shape", array.sizes().vec()},
          {"base64", base64_encode(static_cast<const unsigned char*>(array.data_ptr()),
                                   array.numel() * sizeof(double))}};
}

class StatisticsReader {
 public:
  explicit StatisticsReader(const std::filesystem::path& file) : file_(file) {}

  [[noreturn]] void fail(const std::string& problem) const {
    throw std::runtime_error("statistics file " + file_.string() + ": " + problem);
  }

  json parse() const {
    std::ifstream in(file_, std::ios::binary);
    if (!in) {
      throw std::runtime_error("cannot read statistics file " + file_.string() + ": " +
                               std::strerror(errno));
    }
    std::ostringstream text;
    text << in.rdbuf();
    json document = json::parse(text.str(), nullptr, /*allow_exceptions=*/false);
    if (document.is_discarded()) fail("not valid JSON");
    if (!document.is_object() || document.value("format", "") != kFormat) {
      fail(std::string("not a bert-embed statistics file (no \"format\": \"") + kFormat + "\")");
    }
    if (document.value("version", 0) != kVersion) {
      fail("unsupported version " + document.value("version", json()).dump() + " (expected " +
           std::to_string(kVersion) + ")");
    }
    return document;
  }

  std::int64_t positive_integer(const json& object, const char* key,
                                const std::string& where) const {
    const auto found = object.find(key);
    if (found == object.end() || !found->is_number_integer() || found->get<std::int64_t>() <= 0) {
      fail(where + "\"" + key + "\" must be a positive integer");
    }
    return found->get<std::int64_t>();
  }

  at::Tensor array(const json& object, const char* key, const std::string& where,
                   const std::vector<std::int64_t>& shape) const {
    const std::string field = where + "\"" + key + "\"";
    const auto found = object.find(key);
    if (found == object.end() || !found->is_object()) fail(field + " is missing");
    if (found->value("dtype", "") != "<f8") fail(field + ": dtype must be \"<f8\"");
    if (!found->contains("shape") || (*found)["shape"] != json(shape)) {
      fail(field + ": shape " + found->value("shape", json()).dump() + " where " +
           json(shape).dump() + " was expected");
    }
    at::Tensor values = at::empty(shape, at::kDouble);
    std::vector<unsigned char> bytes;
    const json& data = found->value("base64", json());
    if (!data.is_string() || !base64_decode(data.get_ref<const std::string&>(), bytes)) {
      fail(field + ": \"base64\" is not base64 text");
    }
    if (bytes.size() != values.numel() * sizeof(double)) {
      fail(field + ": " + std::to_string(bytes.size()) + " bytes of data for shape " +
           json(shape).dump());
    }
    std::memcpy(values.data_ptr(), bytes.data(), bytes.size());
    return values;
  }

 private:
  std::filesystem::path file_;
};

}  // namespace

PostProcessor::PostProcessor(const PostProcessOptions& options) : options_(options) {
  if (options.whiten_components < 0 || options.remove_top < 0) {
    throw std::invalid_argument("whiten and remove-top take a positive number of directions");
  }
}

void PostProcessor::check_dimensions(std::int64_t dim) const {
  if (options_.whiten_components > dim) {
    throw std::invalid_argument("--whiten " + std::to_string(options_.whiten_components) +
                                " asks for more components than the " + std::to_string(dim) +
                                " dimensions of the vectors");
  }
  const std::int64_t width = options_.whiten_components > 0 ? options_.whiten_components : dim;
  if (options_.remove_top >= width) {
    throw std::invalid_argument("--remove-top " + std::to_string(options_.remove_top) +
                                " must be below the " + std::to_string(width) + " dimensions of the vectors");
  }
}

bool PostProcessor::needs_statistics() const {
  return options_.whiten_components > 0 || options_.remove_top > 0 || options_.standardize;
}

void PostProcessor::check_input(const at::Tensor& rows, const char* what) const {
  if (rows.scalar_type() != at::kFloat || rows.dim() != 3) {
    throw std::invalid_argument(std::string("PostProcessor::") + what +
                                ": expected float32 [rows, slots, dim], got " +
                                c10::str(rows.scalar_type(), " ", rows.sizes()));
  }
  if (fitted() && (rows.size(1) != slots_ || rows.size(2) != dim_)) {
    throw std::runtime_error(source_ + " holds statistics for " + std::to_string(slots_) +
                             " slot(s) of dimension " + std::to_string(dim_) +
                             ", but the vectors have " + std::to_string(rows.size(1)) +
                             " of dimension " + std::to_string(rows.size(2)));
  }
}

void PostProcessor::fit(const at::Tensor& rows) {
  if (!needs_statistics()) return;
  check_input(rows, "fit");
  const std::int64_t n = rows.size(0);
  if (n < 2) {
    throw std::runtime_error("fitting post-processing statistics (" + describe(options_) +
                             ") needs at least 2 vectors, got " + std::to_string(n));
  }
  at::Tensor x = rows.to(at::kDouble).contiguous();
  if (!at::isfinite(x).all().item<bool>()) {
    throw std::runtime_error(
        "cannot fit post-processing statistics: the vectors hold NaN or infinity");
  }
  const std::int64_t dim = x.size(2);
  // Fitted into a copy, so that a failure leaves this object as it was.
  PostProcessor result(options_);
  if (options_.whiten_components > 0) {
    const std::int64_t k = options_.whiten_components;
    if (k > dim) {
      throw std::invalid_argument("whiten " + std::to_string(k) + " exceeds the dimension " +
                                  std::to_string(dim));
    }
    const PrincipalAxes pca = principal_axes(x);
    check_rank(pca, k, "whiten " + std::to_string(k));
    result.whiten_mean_ = pca.mean;
    result.whiten_matrix_ =
        (pca.axes.narrow(2, 0, k) / pca.variances.narrow(1, 0, k).sqrt().unsqueeze(1)).contiguous();
    // The transforms after it are fitted on its output.
    if (options_.remove_top > 0 || options_.standardize)
      x = whiten(x, result.whiten_mean_, result.whiten_matrix_);
  }
  if (options_.remove_top > 0) {
    const std::int64_t count = options_.remove_top;
    if (count >= x.size(2)) {
      throw std::invalid_argument("remove-top " + std::to_string(count) +
                                  " must be below the dimension " + std::to_string(x.size(2)));
    }
    const PrincipalAxes pca = principal_axes(x);
    result.remove_mean_ = pca.mean;
    result.remove_directions_ = pca.axes.narrow(2, 0, count).transpose(1, 2).contiguous();
    if (options_.standardize)
      x = remove_directions(x, result.remove_mean_, result.remove_directions_);
  }
  if (options_.standardize) {
    const at::Tensor by_slot = x.transpose(0, 1);  // [slots, n, dim]
    result.standardize_mean_ = by_slot.mean(1).contiguous();
    const at::Tensor deviation =
        (by_slot - result.standardize_mean_.unsqueeze(1)).square().mean(1).sqrt();
    const at::Tensor largest_rms = by_slot.square().mean(1).sqrt().amax(1, /*keepdim=*/true);
    result.standardize_scale_ = at::where(deviation.le(largest_rms * kConstantTolerance),
                                          at::ones_like(deviation), deviation)
                                    .contiguous();
  }
  result.fitted_rows_ = n;
  result.slots_ = rows.size(1);
  result.dim_ = dim;
  result.source_ = "the statistics fitted on " + std::to_string(n) + " vectors";
  *this = std::move(result);
}

at::Tensor PostProcessor::apply(const at::Tensor& rows) const {
  check_input(rows, "apply");
  if (needs_statistics() && !fitted()) {
    throw std::logic_error("PostProcessor::apply before fit() or load()");
  }
  if (!needs_statistics() && !options_.l2_normalize) return rows;
  at::Tensor x = rows.to(at::kDouble).contiguous();
  if (whiten_matrix_.defined()) x = whiten(x, whiten_mean_, whiten_matrix_);
  if (remove_directions_.defined()) x = remove_directions(x, remove_mean_, remove_directions_);
  if (standardize_scale_.defined()) x = standardize(x, standardize_mean_, standardize_scale_);
  if (options_.l2_normalize) x = l2_normalize(x);
  return x.to(at::kFloat);
}

void PostProcessor::save(const std::filesystem::path& file) const {
  if (!needs_statistics()) {
    throw std::invalid_argument(
        "no statistics to save: none of whiten, remove-top and "
        "standardize is on");
  }
  if (!fitted()) throw std::logic_error("PostProcessor::save before fit()");
  json transforms = json::array();
  if (whiten_matrix_.defined()) {
    transforms.push_back({{"name", kWhiten},
                          {"components", options_.whiten_components},
                          {"mean", array_to_json(whiten_mean_)},
                          {"matrix", array_to_json(whiten_matrix_)}});
  }
  if (remove_directions_.defined()) {
    transforms.push_back({{"name", kRemoveTop},
                          {"directions", options_.remove_top},
                          {"mean", array_to_json(remove_mean_)},
                          {"basis", array_to_json(remove_directions_)}});
  }
  if (standardize_scale_.defined()) {
    transforms.push_back({{"name", kStandardize},
                          {"mean", array_to_json(standardize_mean_)},
                          {"scale", array_to_json(standardize_scale_)}});
  }
  const json document = {{"format", kFormat}, {"version", kVersion}, {"fitted_rows", fitted_rows_},
                         {"slots", slots_},   {"dim", dim_},         {"transforms", transforms}};
  OutputFile out(file);
  out.stream() << document.dump(1) << '\n';
  out.commit();
}

void PostProcessor::load(const std::filesystem::path& file) {
  const StatisticsReader reader(file);
  const json document = reader.parse();
  const std::int64_t slots = reader.positive_integer(document, "slots", "");
  const std::int64_t dim = reader.positive_integer(document, "dim", "");
  const auto listed = document.find("transforms");
  if (listed == document.end() || !listed->is_array()) reader.fail("\"transforms\" must be a list");

  std::map<std::string, const json*> transforms;
  for (const json& transform : *listed) {
    const std::string name = transform.is_object() ? transform.value("name", "") : "";
    if (name != kWhiten && name != kRemoveTop && name != kStandardize) {
      reader.fail("unknown transform " + transform.dump().substr(0, 80));
    }
    if (!transforms.emplace(name, &transform).second)
      reader.fail("transform " + name + " listed twice");
  }
  const auto where = [](const char* name) { return "transform \"" + std::string(name) + "\": "; };
  PostProcessOptions in_file;
  if (transforms.count(kWhiten)) {
    in_file.whiten_components = static_cast<int>(
        reader.positive_integer(*transforms[kWhiten], "components", where(kWhiten)));
  }
  if (transforms.count(kRemoveTop)) {
    in_file.remove_top = static_cast<int>(
        reader.positive_integer(*transforms[kRemoveTop], "directions", where(kRemoveTop)));
  }
  in_file.standardize = transforms.count(kStandardize) > 0;
  if (describe(in_file) != describe(options_)) {
    reader.fail("it holds " + describe(in_file) + ", but the options ask for " +
                describe(options_));
  }

  // Read into a copy, so that a bad file leaves this object as it was.
  PostProcessor loaded(options_);
  std::int64_t width = dim;  // whitening maps dim to K; the other transforms keep it
  if (in_file.whiten_components > 0) {
    const json& transform = *transforms[kWhiten];
    loaded.whiten_mean_ = reader.array(transform, "mean", where(kWhiten), {slots, width});
    loaded.whiten_matrix_ = reader.array(transform, "matrix", where(kWhiten),
                                         {slots, width, in_file.whiten_components});
    width = in_file.whiten_components;
  }
  if (in_file.remove_top > 0) {
    const json& transform = *transforms[kRemoveTop];
    loaded.remove_mean_ = reader.array(transform, "mean", where(kRemoveTop), {slots, width});
    loaded.remove_directions_ =
        reader.array(transform, "basis", where(kRemoveTop), {slots, in_file.remove_top, width});
  }
  if (in_file.standardize) {
    const json& transform = *transforms[kStandardize];
    loaded.standardize_mean_ = reader.array(transform, "mean", where(kStandardize), {slots, width});
    loaded.standardize_scale_ =
        reader.array(transform, "scale", where(kStandardize), {slots, width});
  }
  loaded.fitted_rows_ = document.value("fitted_rows", std::int64_t{0});
  loaded.slots_ = slots;
  loaded.dim_ = dim;
  loaded.source_ = "statistics file " + file.string();
  *this = std::move(loaded);
}

}  // namespace bert_embed
