#include "bert_embed/vectors/postprocess.h"

#include <ATen/Parallel.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <stdexcept>
#include <utility>
#include <vector>

#include "bert_embed/io/npy_reader.h"
#include "bert_embed/io/npy_writer.h"
#include "bert_embed/io/output_file.h"

namespace bert_embed {
namespace {

namespace fs = std::filesystem;

constexpr char kWhiten[] = "whiten";
constexpr char kRemoveTop[] = "remove-top";
constexpr char kStandardize[] = "standardize";
constexpr char kNormalizeL2[] = "normalize:l2";
constexpr char kStatisticsKind[] = "statistics";
constexpr char kMinimum[] = "min";
constexpr char kMaximum[] = "max";

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

// Mean and sample covariance of the vectors a transform is fitted on.
struct Moments {
  std::int64_t count;
  at::Tensor mean;        // [slots, dim]
  at::Tensor covariance;  // [slots, dim, dim], divided by count - 1

  // Per dimension, the mean of x^2.
  at::Tensor second_moment() const {
    const double n = static_cast<double>(count);
    return covariance.diagonal(0, 1, 2) * ((n - 1) / n) + mean.square();
  }
  // The moments of y = (x - centre) A, A: [slots, dim, dim'].
  Moments after(const at::Tensor& centre, const at::Tensor& matrix) const {
    return {count, (mean - centre).unsqueeze(1).matmul(matrix).squeeze(1),
            matrix.transpose(1, 2).matmul(covariance).matmul(matrix)};
  }
};

struct PrincipalAxes {
  at::Tensor axes;       // [slots, dim, dim], columns by decreasing variance
  at::Tensor variances;  // [slots, dim], decreasing
};

// Per slot: the eigendecomposition of the covariance. Su et al. take the SVD
// of the covariance, which for a symmetric positive semi-definite matrix is
// the same decomposition; the symmetric eigensolver is several times faster.
// Each axis is turned so that its largest component is positive.
PrincipalAxes principal_axes(const at::Tensor& covariance) {
  const auto [ascending_variances, ascending_axes] = at::linalg_eigh(covariance);
  const at::Tensor axes = ascending_axes.flip({2});
  const at::Tensor largest = axes.abs().argmax(1, /*keepdim=*/true);  // [slots, 1, dim]
  const at::Tensor signs = axes.gather(1, largest).sign();
  return {axes * at::where(signs.eq(0), at::ones_like(signs), signs),
          ascending_variances.flip({1})};
}

// Directions with variance at or below numpy.linalg.matrix_rank's tolerance
// are rank deficiency, not signal; it grows by sqrt(n) here, as the rounding
// errors of sums of n terms do.
void check_rank(const PrincipalAxes& pca, std::int64_t count, std::int64_t needed,
                const std::string& what) {
  const std::int64_t dim = pca.variances.size(1);
  const at::Tensor tolerance =
      pca.variances.select(1, 0) *
      (dim * std::sqrt(static_cast<double>(count)) * std::numeric_limits<double>::epsilon());
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

std::string describe_fitted(const PostProcessOptions& options) {
  PostProcessOptions fitted = options;
  fitted.l2_normalize = false;
  return postprocess_label(fitted);
}

// --- Statistics file --------------------------------------------------------

// FILE.json -> FILE.<role>.npy
fs::path array_path(const fs::path& file, const std::string& role) {
  fs::path stem = file;
  if (stem.extension() == ".json") stem.replace_extension();
  stem += "." + role + ".npy";
  return stem;
}

// The names among a manifest's files that end in .<role>.npy.
std::vector<std::string> arrays_of_role(const Manifest& manifest, const std::string& role) {
  const std::string suffix = "." + role + ".npy";
  std::vector<std::string> found;
  for (const ManifestFile& entry : manifest.files) {
    const std::string& name = entry.name;
    if (name.size() > suffix.size() &&
        name.compare(name.size() - suffix.size(), suffix.size(), suffix) == 0)
      found.push_back(name);
  }
  return found;
}

bool lists_array(const Manifest& manifest, const std::string& role) {
  return !arrays_of_role(manifest, role).empty();
}

// The array of a role among a manifest's files: the one named *.<role>.npy,
// beside the manifest (so that the manifest may be renamed).
fs::path find_array(const fs::path& file, const Manifest& manifest, const std::string& role) {
  const std::string suffix = "." + role + ".npy";
  const std::vector<std::string> found = arrays_of_role(manifest, role);
  if (found.size() != 1 || found[0].find('/') != std::string::npos) {
    throw std::runtime_error("statistics file " + file.string() + ": \"files\" must name one *" +
                             suffix + " beside it, found " + std::to_string(found.size()) +
                             (found.empty() ? "" : " (" + found[0] + ")"));
  }
  return file.parent_path() / found[0];
}

void write_array(OutputFile& out, const at::Tensor& array) {
  const at::Tensor values = array.contiguous();
  write_npy_array(out, "<f8", values.sizes().vec(), values.data_ptr<double>(),
                  values.numel() * sizeof(double));
}

// Reads a float64 array of the given shape; errors name the file.
at::Tensor read_array(const fs::path& path, const std::vector<std::int64_t>& shape) {
  const NpyReader reader(path);
  reader.expect(NpyDtype::kFloat64, shape);
  at::Tensor values = at::empty(shape, at::kDouble);
  reader.read_rows(0, reader.rows(), values.data_ptr<double>());
  if (!at::isfinite(values).all().item<bool>())
    throw std::runtime_error("NPY file " + path.string() + " holds NaN or infinity");
  return values;
}

}  // namespace

std::string postprocess_label(const PostProcessOptions& options) {
  std::string label;
  const auto add = [&label](const std::string& part) {
    label += (label.empty() ? "" : ",") + part;
  };
  if (options.whiten_components > 0)
    add(std::string(kWhiten) + ":" + std::to_string(options.whiten_components));
  if (options.remove_top > 0)
    add(std::string(kRemoveTop) + ":" + std::to_string(options.remove_top));
  if (options.standardize) add(kStandardize);
  if (options.l2_normalize) add(kNormalizeL2);
  return label.empty() ? "none" : label;
}

PostProcessOptions parse_postprocess_label(const std::string& label) {
  PostProcessOptions options;
  if (label == "none") return options;
  const auto count_of = [&label](const std::string& part, std::size_t prefix) {
    const std::string digits = part.substr(prefix);
    if (digits.empty() || digits.size() > 7 ||
        digits.find_first_not_of("0123456789") != std::string::npos || digits[0] == '0') {
      throw std::invalid_argument("post-processing \"" + label + "\": \"" + part +
                                  "\" needs a positive count");
    }
    return std::stoi(digits);
  };
  std::size_t start = 0;
  while (start <= label.size()) {
    const std::size_t end = std::min(label.find(',', start), label.size());
    const std::string part = label.substr(start, end - start);
    const std::string whiten_prefix = std::string(kWhiten) + ":";
    const std::string remove_prefix = std::string(kRemoveTop) + ":";
    if (part.rfind(whiten_prefix, 0) == 0) {
      options.whiten_components = count_of(part, whiten_prefix.size());
    } else if (part.rfind(remove_prefix, 0) == 0) {
      options.remove_top = count_of(part, remove_prefix.size());
    } else if (part == kStandardize) {
      options.standardize = true;
    } else if (part == kNormalizeL2) {
      options.l2_normalize = true;
    } else {
      throw std::invalid_argument("post-processing \"" + label + "\": unknown part \"" + part +
                                  "\"");
    }
    start = end + 1;
  }
  // Each part once, in the order the transforms run: what postprocess_label writes.
  if (postprocess_label(options) != label) {
    throw std::invalid_argument("post-processing \"" + label + "\" is not written as bert-embed " +
                                "writes it (" + postprocess_label(options) + ")");
  }
  return options;
}

PostProcessOptions statistics_file_options(const fs::path& file) {
  const Manifest manifest = read_manifest(file);
  if (manifest.kind != kStatisticsKind) {
    throw std::runtime_error("statistics file " + file.string() + ": a manifest of kind \"" +
                             manifest.kind + "\", not \"" + kStatisticsKind + "\"");
  }
  try {
    return parse_postprocess_label(manifest.postprocess);
  } catch (const std::invalid_argument& error) {
    throw std::runtime_error("statistics file " + file.string() + ": " + error.what());
  }
}

PostProcessor::PostProcessor(const PostProcessOptions& options) : options_(options) {
  if (options.whiten_components < 0 || options.remove_top < 0) {
    throw std::invalid_argument("whiten and remove-top take a positive number of directions");
  }
}

bool PostProcessor::needs_statistics() const {
  return options_.whiten_components > 0 || options_.remove_top > 0 || options_.standardize;
}

std::int64_t PostProcessor::output_dim(std::int64_t dim) const {
  return options_.whiten_components > 0 ? options_.whiten_components : dim;
}

void PostProcessor::check_dimensions(std::int64_t dim) const {
  if (options_.whiten_components > dim) {
    throw std::invalid_argument("whiten " + std::to_string(options_.whiten_components) +
                                " exceeds the dimension " + std::to_string(dim) +
                                " of the vectors");
  }
  const std::int64_t width = output_dim(dim);
  if (options_.remove_top >= width) {
    throw std::invalid_argument("remove-top " + std::to_string(options_.remove_top) +
                                " must be below the dimension " + std::to_string(width) +
                                (options_.whiten_components > 0 ? " left by whiten" : "") +
                                ", or nothing is left of the vectors");
  }
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
  check_input(rows, "fit");
  VectorStatistics statistics(rows.size(1), rows.size(2));
  statistics.add(rows);
  fit(statistics);
}

void PostProcessor::fit(const VectorStatistics& statistics) {
  if (!needs_statistics()) {
    // Nothing to fit: the statistics are kept, to be saved (their range
    // calibrates int8 outputs).
    statistics_ = statistics;
    slots_ = statistics.slots();
    dim_ = statistics.dim();
    source_ = "the statistics of " + std::to_string(statistics.count()) + " vectors";
    return;
  }
  check_dimensions(statistics.dim());
  const std::int64_t n = statistics.count();
  // Centred vectors span at most n - 1 directions; removal must leave one.
  const std::int64_t needed = std::max<std::int64_t>(
      {2, options_.whiten_components + 1, options_.remove_top > 0 ? options_.remove_top + 2 : 0});
  if (n < needed) {
    throw std::runtime_error(
        "fitting post-processing statistics (" + describe_fitted(options_) + ") needs at least " +
        std::to_string(needed) + " vectors, got " + std::to_string(n) +
        (n >= 2 ? ", which span only " + std::to_string(n - 1) + " directions around their mean"
                : ""));
  }
  Moments moments{n, statistics.mean(), statistics.covariance()};
  // Fitted into a copy, so that a failure leaves this object as it was.
  PostProcessor result(options_);
  if (options_.whiten_components > 0) {
    const std::int64_t k = options_.whiten_components;
    const PrincipalAxes pca = principal_axes(moments.covariance);
    check_rank(pca, n, k, describe_fitted({options_.whiten_components, 0, false, false}));
    result.whiten_mean_ = moments.mean.contiguous();
    result.whiten_matrix_ =
        (pca.axes.narrow(2, 0, k) / pca.variances.narrow(1, 0, k).sqrt().unsqueeze(1)).contiguous();
    // The transforms after it are fitted on its output.
    moments = moments.after(result.whiten_mean_, result.whiten_matrix_);
  }
  if (options_.remove_top > 0) {
    const std::int64_t count = options_.remove_top;
    const PrincipalAxes pca = principal_axes(moments.covariance);
    check_rank(pca, n, count + 1, describe_fitted({0, options_.remove_top, false, false}));
    result.remove_mean_ = moments.mean.contiguous();
    result.remove_directions_ = pca.axes.narrow(2, 0, count).transpose(1, 2).contiguous();
    const std::int64_t width = moments.mean.size(1);
    const at::Tensor projection =
        at::eye(width, at::kDouble) -
        result.remove_directions_.transpose(1, 2).matmul(result.remove_directions_);
    moments = moments.after(result.remove_mean_, projection);
  }
  if (options_.standardize) {
    const double count = static_cast<double>(n);
    const at::Tensor variance = moments.covariance.diagonal(0, 1, 2) * ((count - 1) / count);
    const at::Tensor largest_rms = moments.second_moment().amax(1, /*keepdim=*/true).sqrt();
    const at::Tensor constant = variance.le((largest_rms * kConstantTolerance).square());
    result.standardize_mean_ = moments.mean.contiguous();
    result.standardize_scale_ =
        at::where(constant, at::ones_like(variance), variance.sqrt()).contiguous();
  }
  result.statistics_ = statistics;
  result.slots_ = statistics.slots();
  result.dim_ = statistics.dim();
  result.source_ = "the statistics fitted on " + std::to_string(n) + " vectors";
  *this = std::move(result);
}

at::Tensor PostProcessor::apply(const at::Tensor& rows) const {
  check_input(rows, "apply");
  if (needs_statistics() && !fitted()) {
    throw std::logic_error("PostProcessor::apply before fit() or load()");
  }
  if (!needs_statistics() && !options_.l2_normalize) return rows;
  // In blocks of rows, which changes no result (each vector is transformed on
  // its own): float64 temporaries of a whole window (4,096 x 384 x 8 bytes,
  // one per transform) were most of what post-processing added to the peak
  // RSS of a run.
  constexpr std::int64_t kBlockRows = 256;
  at::Tensor result = at::empty({rows.size(0), rows.size(1), output_dim(rows.size(2))}, at::kFloat);
  for (std::int64_t first = 0; first < rows.size(0); first += kBlockRows) {
    const std::int64_t count = std::min(kBlockRows, rows.size(0) - first);
    at::Tensor x = rows.narrow(0, first, count).to(at::kDouble).contiguous();
    if (whiten_matrix_.defined()) x = whiten(x, whiten_mean_, whiten_matrix_);
    if (remove_directions_.defined()) x = remove_directions(x, remove_mean_, remove_directions_);
    if (standardize_scale_.defined()) x = standardize(x, standardize_mean_, standardize_scale_);
    if (options_.l2_normalize) x = l2_normalize(x);
    result.narrow(0, first, count).copy_(x);
  }
  return result;
}

std::vector<PostProcessor::FittedArray> PostProcessor::fitted_arrays() const {
  const std::int64_t k = options_.whiten_components;
  const std::int64_t width = output_dim(dim_);
  std::vector<FittedArray> arrays;
  if (k > 0) {
    arrays.push_back({"whiten-mean", &PostProcessor::whiten_mean_, {slots_, dim_}});
    arrays.push_back({"whiten-matrix", &PostProcessor::whiten_matrix_, {slots_, dim_, k}});
  }
  if (options_.remove_top > 0) {
    arrays.push_back({"remove-top-mean", &PostProcessor::remove_mean_, {slots_, width}});
    arrays.push_back({"remove-top-directions",
                      &PostProcessor::remove_directions_,
                      {slots_, options_.remove_top, width}});
  }
  if (options_.standardize) {
    arrays.push_back({"standardize-mean", &PostProcessor::standardize_mean_, {slots_, width}});
    arrays.push_back({"standardize-scale", &PostProcessor::standardize_scale_, {slots_, width}});
  }
  return arrays;
}

void PostProcessor::save(OutputSet& outputs, const fs::path& file, const VectorSource& source,
                         const InputDescription& input) const {
  if (!fitted()) throw std::logic_error("PostProcessor::save before fit()");
  if (static_cast<std::int64_t>(source.slot_labels.size()) != slots_ || source.dim != dim_) {
    throw std::invalid_argument(
        "PostProcessor::save: the source describes " + std::to_string(source.slot_labels.size()) +
        " slot(s) of dimension " + std::to_string(source.dim) + ", the statistics are of " +
        std::to_string(slots_) + " of dimension " + std::to_string(dim_));
  }
  Manifest manifest;
  manifest.kind = kStatisticsKind;
  manifest.source = source;
  manifest.input = input;
  manifest.postprocess = describe_fitted(options_);
  manifest.format = "npy";
  manifest.output_dtype = "float64";
  manifest.rows = statistics_.count();
  manifest.dim = output_dim(dim_);
  std::vector<CoveredFile> arrays;
  const auto write = [&](const std::string& role, const at::Tensor& array) {
    OutputFile& out = outputs.add(array_path(file, role));
    write_array(out, array);
    arrays.push_back({&out, array.size(0)});
  };
  write("shift", statistics_.shift());
  write("sum", statistics_.sum());
  write("outer", statistics_.outer());
  if (statistics_.has_range()) {
    write(kMinimum, statistics_.minimum());
    write(kMaximum, statistics_.maximum());
  }
  for (const FittedArray& array : fitted_arrays()) write(array.role, this->*array.member);
  // The set commits the manifest last: a manifest in place means its arrays are complete.
  outputs.add_manifest(std::move(manifest), std::move(arrays), file);
}

void PostProcessor::save(const fs::path& file, const VectorSource& source) const {
  OutputSet outputs;
  save(outputs, file, source);
  outputs.commit();
}

void PostProcessor::load(const fs::path& file, const VectorSource& expected,
                         const std::string& expected_name) {
  const Manifest manifest = read_manifest(file);
  const auto fail = [&file](const std::string& problem) {
    throw std::runtime_error("statistics file " + file.string() + ": " + problem);
  };
  if (manifest.kind != kStatisticsKind) {
    fail(std::string("a manifest of kind \"") + manifest.kind + "\", not \"" + kStatisticsKind +
         "\"");
  }
  if (manifest.postprocess != describe_fitted(options_)) {
    fail("it holds statistics for " + manifest.postprocess + ", but the options ask for " +
         describe_fitted(options_));
  }
  const std::string difference =
      describe_difference(manifest.source, file.filename().string(), expected, expected_name);
  if (!difference.empty()) fail("fitted on other vectors than " + expected_name + ": " + difference);
  if (manifest.rows < 2) {
    fail("counts " + std::to_string(manifest.rows) + " vectors, statistics need at least 2");
  }

  // Read into a copy, so that a bad file leaves this object as it was.
  PostProcessor loaded(options_);
  loaded.slots_ = static_cast<std::int64_t>(expected.slot_labels.size());
  loaded.dim_ = expected.dim;
  const auto read = [&](const std::string& role, const std::vector<std::int64_t>& shape) {
    return read_array(find_array(file, manifest, role), shape);
  };
  const std::vector<std::int64_t> per_dimension = {loaded.slots_, loaded.dim_};
  // The range is optional: files written by hand, or before it was kept, lack it.
  const bool has_range = lists_array(manifest, kMinimum) || lists_array(manifest, kMaximum);
  loaded.statistics_ = VectorStatistics(
      manifest.rows, read("shift", per_dimension), read("sum", per_dimension),
      read("outer", {loaded.slots_, loaded.dim_, loaded.dim_}),
      has_range ? read(kMinimum, per_dimension) : at::Tensor(),
      has_range ? read(kMaximum, per_dimension) : at::Tensor());
  for (const FittedArray& array : loaded.fitted_arrays())
    loaded.*array.member = read(array.role, array.shape);
  if (loaded.standardize_scale_.defined() && !loaded.standardize_scale_.gt(0).all().item<bool>())
    fail("standardize-scale holds a value that is not positive");
  loaded.source_ = "statistics file " + file.string();
  *this = std::move(loaded);
}

}  // namespace bert_embed
