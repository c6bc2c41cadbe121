#include "bert_embed/vectors/postprocess.h"

#include <ATen/CPUGeneratorImpl.h>
#include <gtest/gtest.h>

#include <chrono>
#include <fstream>
#include <functional>
#include <limits>
#include <nlohmann/json.hpp>
#include <sstream>
#include <stdexcept>
#include <string>

#include "bert_embed/io/manifest.h"
#include "bert_embed/io/npy_reader.h"
#include "bert_embed/io/npy_writer.h"
#include "bert_embed/io/output_file.h"
#include "command.h"
#include "expect_error.h"
#include "temp_dir.h"

namespace bert_embed {
namespace {

namespace fs = std::filesystem;
using test::error_message;

constexpr std::int64_t kRows = 400;
constexpr std::int64_t kSlots = 2;
constexpr std::int64_t kDim = 16;

// Correlated, off-centre float32 vectors [rows, slots, dim] with a different
// distribution in each slot, like two layers kept apart.
at::Tensor correlated_rows(std::int64_t rows = kRows, std::uint64_t seed = 7) {
  const at::Generator generator = at::make_generator<at::CPUGeneratorImpl>(seed);
  const at::Tensor latent = at::randn({rows, kSlots, kDim}, generator, at::kDouble);
  const at::Tensor mixing = at::randn({kSlots, kDim, kDim}, generator, at::kDouble);
  const at::Tensor offset = at::randn({kSlots, kDim}, generator, at::kDouble) * 5;
  const at::Tensor mixed = at::matmul(latent.transpose(0, 1), mixing).transpose(0, 1) + offset;
  return mixed.to(at::kFloat).contiguous();
}

// Per slot of x [n, slots, dim]: the sample covariance [slots, dim, dim].
at::Tensor covariance(const at::Tensor& x) {
  const at::Tensor by_slot = x.to(at::kDouble).transpose(0, 1);
  const at::Tensor centred = by_slot - by_slot.mean(1, /*keepdim=*/true);
  return centred.transpose(1, 2).matmul(centred) / (x.size(0) - 1);
}

double max_abs(const at::Tensor& x) { return x.abs().max().item<double>(); }

std::string error_of(const std::function<void()>& action) {
  return test::error_message<std::exception>(action);
}

// What the vectors of correlated_rows() would come from.
VectorSource test_source() {
  VectorSource source;
  source.architecture = "bert";
  source.weights_sha256 = "5e1f";
  source.layers = {-2, -1};
  source.slot_labels = {"-2", "-1"};
  source.pooling = "mean";
  source.dim = kDim;
  return source;
}

// Writes a float64 array as an NPY file.
void write_f8(const fs::path& path, const at::Tensor& array) {
  const at::Tensor values = array.to(at::kDouble).contiguous();
  OutputFile out(path);
  write_npy_array(out, "<f8", values.sizes().vec(), values.data_ptr<double>(),
                  values.numel() * sizeof(double));
  out.commit();
}

at::Tensor read_f8(const fs::path& path) {
  const NpyReader reader(path);
  at::Tensor values = at::empty(reader.shape(), at::kDouble);
  reader.read_rows(0, reader.rows(), values.data_ptr<double>());
  return values;
}

PostProcessor fitted(const PostProcessOptions& options, const at::Tensor& rows) {
  PostProcessor processor(options);
  processor.fit(rows);
  return processor;
}

TEST(PostProcessor, L2NormalizationGivesUnitRowsAndKeepsZeroVectors) {
  PostProcessOptions options;
  options.l2_normalize = true;
  const PostProcessor processor(options);
  EXPECT_FALSE(processor.needs_statistics());
  at::Tensor rows = correlated_rows();
  rows[3][1].zero_();
  const at::Tensor normalized = processor.apply(rows);
  const at::Tensor norms = normalized.to(at::kDouble).norm(2, -1);
  norms[3][1] = 1.0;
  EXPECT_LE(max_abs(norms - 1.0), 1e-5);
  EXPECT_TRUE(at::equal(normalized[3][1], at::zeros({kDim})));
  // Direction is kept.
  const double cosine =
      at::dot(normalized[0][0].to(at::kDouble), rows[0][0].to(at::kDouble)).item<double>() /
      rows[0][0].to(at::kDouble).norm().item<double>();
  EXPECT_NEAR(cosine, 1.0, 1e-6);
}

TEST(PostProcessor, StandardizeGivesZeroMeanAndUnitVariance) {
  PostProcessOptions options;
  options.standardize = true;
  const at::Tensor rows = correlated_rows();
  const at::Tensor out = fitted(options, rows).apply(rows).to(at::kDouble);
  EXPECT_LE(max_abs(out.mean(0)), 1e-4);
  EXPECT_LE(max_abs(out.var(0, /*unbiased=*/false) - 1.0), 1e-4);
}

TEST(PostProcessor, StandardizeOnlyCentresConstantDimensions) {
  PostProcessOptions options;
  options.standardize = true;
  at::Tensor rows = correlated_rows();
  rows.select(2, 5).fill_(3.25f);
  const at::Tensor out = fitted(options, rows).apply(rows);
  EXPECT_TRUE(at::equal(out.select(2, 5), at::zeros({kRows, kSlots})));
  EXPECT_LE(max_abs(out.select(2, 6).to(at::kDouble).var(0, false) - 1.0), 1e-4);
}

TEST(PostProcessor, WhiteningGivesIdentityCovariance) {
  for (const int components : {6, static_cast<int>(kDim)}) {
    PostProcessOptions options;
    options.whiten_components = components;
    const at::Tensor rows = correlated_rows();
    const at::Tensor out = fitted(options, rows).apply(rows);
    ASSERT_EQ(out.sizes(), (std::vector<std::int64_t>{kRows, kSlots, components}));
    const at::Tensor identity =
        at::eye(components, at::kDouble).expand({kSlots, components, components});
    EXPECT_LE(max_abs(covariance(out) - identity), 1e-4) << "K = " << components;
    EXPECT_LE(max_abs(out.to(at::kDouble).mean(0)), 1e-4);
  }
}

// Each transform against numpy, computed the way the papers' code does:
// BERT-whitening from the SVD of np.cov (Su et al.'s reference code),
// all-but-the-top from the SVD of the centred data, standardization with
// np.std. Whitened components match up to their sign.
TEST(PostProcessor, TransformsMatchANumpyReference) {
  const test::TempDir dir;
  const at::Tensor rows = correlated_rows();
  write_f8(dir.path() / "rows.npy", rows);
  const std::string script = R"(
import sys
import numpy as np
x = np.load(sys.argv[1])
whitened, removed, standardized = [], [], []
for slot in range(x.shape[1]):
    v = x[:, slot, :]
    mu = v.mean(axis=0, keepdims=True)
    u, s, _ = np.linalg.svd(np.cov(v.T))
    whitened.append((v - mu) @ (u[:, :5] / np.sqrt(s[:5])))
    _, _, components = np.linalg.svd(v - mu, full_matrices=False)
    top = components[:3]
    removed.append((v - mu) - (v - mu) @ top.T @ top)
    standardized.append((v - mu) / v.std(axis=0))
for name, result in [("whitened", whitened), ("removed", removed), ("standardized", standardized)]:
    np.save(sys.argv[2] + "/" + name + ".npy", np.stack(result, axis=1))
)";
  const test::CommandResult result =
      test::run_command("/usr/bin/python3 -c " + test::shell_quote(script) + " " +
                        test::shell_quote((dir.path() / "rows.npy").string()) + " " +
                        test::shell_quote(dir.path().string()));
  ASSERT_EQ(result.exit_status, 0) << result.output;

  PostProcessOptions options;
  options.whiten_components = 5;
  const at::Tensor whitened = fitted(options, rows).apply(rows).to(at::kDouble);
  const at::Tensor expected_whitened = read_f8(dir.path() / "whitened.npy");
  const at::Tensor signs = (whitened * expected_whitened).sum(0).sign();
  EXPECT_LE(max_abs(whitened * signs - expected_whitened), 1e-5);

  options = {};
  options.remove_top = 3;
  const at::Tensor removed = fitted(options, rows).apply(rows).to(at::kDouble);
  const at::Tensor expected_removed = read_f8(dir.path() / "removed.npy");
  EXPECT_LE(max_abs(removed - expected_removed), 1e-5 * max_abs(expected_removed));

  options = {};
  options.standardize = true;
  const at::Tensor standardized = fitted(options, rows).apply(rows).to(at::kDouble);
  EXPECT_LE(max_abs(standardized - read_f8(dir.path() / "standardized.npy")), 1e-5);
}

TEST(PostProcessor, RemoveTopRemovesTheVarianceAlongTheTopDirections) {
  constexpr int kRemoved = 3;
  PostProcessOptions options;
  options.remove_top = kRemoved;
  const at::Tensor rows = correlated_rows();
  const at::Tensor out = fitted(options, rows).apply(rows).to(at::kDouble);
  ASSERT_EQ(out.sizes(), rows.sizes());
  EXPECT_LE(max_abs(out.mean(0)), 1e-4);
  for (std::int64_t slot = 0; slot < kSlots; ++slot) {
    const auto [values, vectors] = at::linalg_eigh(covariance(rows)[slot]);
    const at::Tensor descending = vectors.flip({1});
    const at::Tensor removed = out.select(1, slot).matmul(descending.narrow(1, 0, kRemoved));
    const at::Tensor kept =
        out.select(1, slot).matmul(descending.narrow(1, kRemoved, kDim - kRemoved));
    const double largest = values.max().item<double>();
    EXPECT_LE(removed.var(0).max().item<double>(), 1e-9 * largest) << "slot " << slot;
    // The other directions keep their variance.
    EXPECT_LE(max_abs(kept.var(0) - values.flip({0}).narrow(0, kRemoved, kDim - kRemoved)),
              1e-4 * largest);
  }
}

TEST(PostProcessor, AllTransformsRunInOrder) {
  PostProcessOptions options;
  options.whiten_components = 8;
  options.remove_top = 1;
  options.standardize = true;
  options.l2_normalize = true;
  const at::Tensor rows = correlated_rows();
  const at::Tensor out = fitted(options, rows).apply(rows);
  ASSERT_EQ(out.sizes(), (std::vector<std::int64_t>{kRows, kSlots, 8}));
  EXPECT_EQ(out.scalar_type(), at::kFloat);
  EXPECT_LE(max_abs(out.to(at::kDouble).norm(2, -1) - 1.0), 1e-5);
}

TEST(PostProcessor, ResultOfARowDoesNotDependOnTheOtherRows) {
  PostProcessOptions options;
  options.whiten_components = 10;
  options.remove_top = 2;
  options.standardize = true;
  options.l2_normalize = true;
  const at::Tensor rows = correlated_rows();
  const PostProcessor processor = fitted(options, rows);
  const at::Tensor all = processor.apply(rows);
  EXPECT_TRUE(at::equal(processor.apply(rows.narrow(0, 17, 1)), all.narrow(0, 17, 1)));
  EXPECT_TRUE(at::equal(processor.apply(rows.narrow(0, 100, 33)), all.narrow(0, 100, 33)));
}

TEST(PostProcessor, SavedStatisticsReproduceTheFittingRunExactly) {
  const test::TempDir dir;
  PostProcessOptions options;
  options.whiten_components = 12;
  options.remove_top = 2;
  options.standardize = true;
  options.l2_normalize = true;
  const at::Tensor rows = correlated_rows();
  const PostProcessor fitting = fitted(options, rows);
  const at::Tensor expected = fitting.apply(rows);
  fitting.save(dir.path() / "stats.json", test_source());

  PostProcessor loaded(options);
  loaded.load(dir.path() / "stats.json", test_source());
  EXPECT_TRUE(loaded.fitted());
  // The moments come back exactly too, to be merged later.
  EXPECT_EQ(loaded.statistics().count(), kRows);
  EXPECT_TRUE(at::equal(loaded.statistics().shift(), fitting.statistics().shift()));
  EXPECT_TRUE(at::equal(loaded.statistics().sum(), fitting.statistics().sum()));
  EXPECT_TRUE(at::equal(loaded.statistics().outer(), fitting.statistics().outer()));
  EXPECT_TRUE(at::equal(loaded.apply(rows), expected));
  // Statistics travel to new data too.
  const at::Tensor other = correlated_rows(50, 99);
  EXPECT_TRUE(at::equal(loaded.apply(other), fitting.apply(other)));
}

TEST(PostProcessor, StatisticsFileIsAManifestWithArraysBesideIt) {
  const test::TempDir dir;
  PostProcessOptions options;
  options.whiten_components = 4;
  options.standardize = true;
  options.l2_normalize = true;
  const at::Tensor rows = correlated_rows();
  fitted(options, rows).save(dir.path() / "stats.json", test_source());
  std::ifstream in(dir.path() / "stats.json");
  const nlohmann::json manifest = nlohmann::json::parse(in);
  EXPECT_EQ(manifest.at("kind"), "statistics");
  EXPECT_EQ(manifest.at("postprocess"), "whiten:4,standardize");
  EXPECT_EQ(manifest.at("rows"), kRows);
  EXPECT_EQ(manifest.at("source").at("pooling"), "mean");
  const std::vector<std::string> files = {"stats.shift.npy",
                                          "stats.sum.npy",
                                          "stats.outer.npy",
                                          "stats.min.npy",
                                          "stats.max.npy",
                                          "stats.whiten-mean.npy",
                                          "stats.whiten-matrix.npy",
                                          "stats.standardize-mean.npy",
                                          "stats.standardize-scale.npy"};
  std::vector<std::string> names;
  for (const auto& entry : manifest.at("files")) names.push_back(entry.at("name").get<std::string>());
  EXPECT_EQ(names, files);
  // Only the committed files are left: no temporary beside them.
  EXPECT_EQ(std::distance(fs::directory_iterator(dir.path()), fs::directory_iterator()),
            static_cast<std::ptrdiff_t>(files.size() + 1));
}

TEST(PostProcessor, NumpyReadsTheSavedArrays) {
  const test::TempDir dir;
  PostProcessOptions options;
  options.whiten_components = 4;
  options.remove_top = 1;
  const at::Tensor rows = correlated_rows();
  fitted(options, rows).save(dir.path() / "stats.json", test_source());
  // Every listed array loads, and the moments give the vectors' mean.
  const std::string script = R"(
import json, os, sys
import numpy as np
manifest = json.load(open(sys.argv[1]))
folder = os.path.dirname(sys.argv[1])
names = [entry["name"] for entry in manifest["files"]]
arrays = {name: np.load(os.path.join(folder, name)) for name in names}
for name in names:
    print(name, arrays[name].dtype, list(arrays[name].shape))
mean = arrays["stats.shift.npy"] + arrays["stats.sum.npy"] / manifest["rows"]
print("mean", " ".join(repr(v) for v in mean[1]))
)";
  const test::CommandResult result =
      test::run_command("/usr/bin/python3 -c " + test::shell_quote(script) + " " +
                        test::shell_quote((dir.path() / "stats.json").string()));
  ASSERT_EQ(result.exit_status, 0) << result.output;
  EXPECT_CONTAINS(result.output, "stats.outer.npy float64 [2, 16, 16]");
  EXPECT_CONTAINS(result.output, "stats.whiten-matrix.npy float64 [2, 16, 4]");
  EXPECT_CONTAINS(result.output, "stats.remove-top-directions.npy float64 [2, 1, 4]");
  std::istringstream mean(result.output.substr(result.output.find("mean ") + 5));
  const at::Tensor expected = rows.to(at::kDouble).mean(0)[1];
  for (std::int64_t d = 0; d < kDim; ++d) {
    double value = 0;
    ASSERT_TRUE(mean >> value);
    EXPECT_NEAR(value, expected[d].item<double>(), 1e-9);
  }
}

TEST(PostProcessor, LoadRefusesStatisticsOfOtherTransforms) {
  const test::TempDir dir;
  const fs::path file = dir.path() / "stats.json";
  PostProcessOptions saved_options;
  saved_options.whiten_components = 4;
  saved_options.standardize = true;
  fitted(saved_options, correlated_rows()).save(file, test_source());

  PostProcessOptions other = saved_options;
  other.whiten_components = 8;
  const std::string message = error_of([&] { PostProcessor(other).load(file, test_source()); });
  EXPECT_CONTAINS(message, file.string());
  EXPECT_CONTAINS(message, "holds statistics for whiten:4,standardize");
  EXPECT_CONTAINS(message, "ask for whiten:8,standardize");

  other = saved_options;
  other.standardize = false;
  EXPECT_CONTAINS(error_of([&] { PostProcessor(other).load(file, test_source()); }),
                  "ask for whiten:4");
  // L2 normalization needs no statistics: adding it is fine.
  other = saved_options;
  other.l2_normalize = true;
  PostProcessor with_l2(other);
  EXPECT_NO_THROW(with_l2.load(file, test_source()));
}

TEST(PostProcessor, LoadRefusesStatisticsOfOtherVectorsNamingBothSides) {
  const test::TempDir dir;
  const fs::path file = dir.path() / "stats.json";
  PostProcessOptions options;
  options.standardize = true;
  fitted(options, correlated_rows()).save(file, test_source());
  VectorSource other = test_source();
  other.pooling = "cls";
  const std::string message = error_of([&] { PostProcessor(options).load(file, other); });
  EXPECT_CONTAINS(message, file.string());
  EXPECT_CONTAINS(message, "mean in stats.json");
  EXPECT_CONTAINS(message, "cls in this run");
}

TEST(PostProcessor, ApplyRefusesVectorsOfAnotherShape) {
  const test::TempDir dir;
  const fs::path file = dir.path() / "stats.json";
  PostProcessOptions options;
  options.standardize = true;
  fitted(options, correlated_rows()).save(file, test_source());
  PostProcessor loaded(options);
  loaded.load(file, test_source());
  const std::string message = error_of([&] { loaded.apply(at::zeros({3, kSlots, kDim + 1})); });
  EXPECT_CONTAINS(message, file.string());
  EXPECT_CONTAINS(message, "dimension 16");
  EXPECT_CONTAINS(message, "dimension 17");
  EXPECT_THROW(loaded.apply(at::zeros({3, 1, kDim})), std::runtime_error);
}

// Statistics saved for `options`, in dir/stats.json.
fs::path saved_statistics(const test::TempDir& dir, const PostProcessOptions& options) {
  const fs::path file = dir.path() / "stats.json";
  fitted(options, correlated_rows()).save(file, test_source());
  return file;
}

TEST(PostProcessor, LoadErrorsNameTheFile) {
  const test::TempDir dir;
  PostProcessOptions options;
  options.standardize = true;
  const fs::path missing = dir.path() / "missing.json";
  EXPECT_CONTAINS(error_of([&] { PostProcessor(options).load(missing, test_source()); }),
                  missing.string());
  const fs::path file = saved_statistics(dir, options);
  const auto load_error = [&] {
    return error_of([&] { PostProcessor(options).load(file, test_source()); });
  };

  std::ofstream(dir.path() / "bad.json") << "{\"kind\": ";
  EXPECT_CONTAINS(
      error_of([&] { PostProcessor(options).load(dir.path() / "bad.json", test_source()); }),
      (dir.path() / "bad.json").string());

  const fs::path scale = dir.path() / "stats.standardize-scale.npy";
  write_f8(scale, at::ones({kSlots, kDim + 1}, at::kDouble));
  std::string message = load_error();
  EXPECT_CONTAINS(message, scale.string());
  EXPECT_CONTAINS(message, "float64 [2, 17] where float64 [2, 16] was expected");

  write_f8(scale, at::zeros({kSlots, kDim}, at::kDouble));
  EXPECT_CONTAINS(load_error(), "not positive");

  fs::remove(scale);
  message = load_error();
  EXPECT_CONTAINS(message, scale.string());
  EXPECT_CONTAINS(message, "cannot open");
}

TEST(PostProcessor, LoadRefusesNaNAndInfinityNamingTheArray) {
  const test::TempDir dir;
  PostProcessOptions options;
  options.whiten_components = 3;
  const fs::path file = saved_statistics(dir, options);
  for (const double bad :
       {std::numeric_limits<double>::quiet_NaN(), std::numeric_limits<double>::infinity()}) {
    const fs::path matrix = dir.path() / "stats.whiten-matrix.npy";
    at::Tensor values = read_f8(matrix);
    values[1][2][0] = bad;
    write_f8(matrix, values);
    const std::string message = error_of([&] { PostProcessor(options).load(file, test_source()); });
    EXPECT_CONTAINS(message, matrix.string());
    EXPECT_CONTAINS(message, "NaN or infinity");
  }
}

TEST(PostProcessor, LoadRefusesTruncatedAndSpecialFilesQuickly) {
  const test::TempDir dir;
  PostProcessOptions options;
  options.standardize = true;
  const fs::path file = saved_statistics(dir, options);
  const auto started = std::chrono::steady_clock::now();
  // Used to read /dev/zero until memory ran out.
  EXPECT_CONTAINS(error_of([&] { PostProcessor(options).load("/dev/zero", test_source()); }),
                  "/dev/zero");
  const fs::path outer = dir.path() / "stats.outer.npy";
  fs::resize_file(outer, fs::file_size(outer) - 8);
  std::string message = error_of([&] { PostProcessor(options).load(file, test_source()); });
  EXPECT_CONTAINS(message, outer.string());
  EXPECT_CONTAINS(message, "truncated");
  fs::remove(outer);
  fs::create_symlink("/dev/zero", outer);
  message = error_of([&] { PostProcessor(options).load(file, test_source()); });
  EXPECT_CONTAINS(message, "not a regular file");
  EXPECT_LT(std::chrono::steady_clock::now() - started, std::chrono::seconds(2));
}

TEST(PostProcessor, StatisticsWrittenByNumpyAreApplied) {
  // mean (1, 2), scale (1, 1), as a numpy user would write them by hand.
  const test::TempDir dir;
  const fs::path file = dir.path() / "stats.json";
  const std::string script = R"(
import sys
import numpy as np
stem = sys.argv[1]
np.save(stem + ".shift.npy", np.array([[1.0, 2.0]]))
np.save(stem + ".sum.npy", np.array([[0.0, 0.0]]))
np.save(stem + ".outer.npy", np.array([[[2.0, 0.0], [0.0, 2.0]]]))
np.save(stem + ".standardize-mean.npy", np.array([[1.0, 2.0]]))
np.save(stem + ".standardize-scale.npy", np.array([[1.0, 1.0]]))
)";
  ASSERT_EQ(test::run_command("/usr/bin/python3 -c " + test::shell_quote(script) + " " +
                              test::shell_quote((dir.path() / "stats").string()))
                .exit_status,
            0);
  VectorSource source = test_source();
  source.slot_labels = {"-1"};
  source.dim = 2;
  Manifest manifest;
  manifest.kind = "statistics";
  manifest.source = source;
  manifest.postprocess = "standardize";
  manifest.format = "npy";
  manifest.rows = 2;
  manifest.dim = 2;
  for (const char* name : {"stats.shift.npy", "stats.sum.npy", "stats.outer.npy", "stats.standardize-mean.npy",
                           "stats.standardize-scale.npy"}) {
    manifest.files.push_back(ManifestFile{name, fs::file_size(dir.path() / name), 0});
  }
  write_manifest(file, manifest);

  PostProcessOptions options;
  options.standardize = true;
  PostProcessor processor(options);
  processor.load(file, source);
  const at::Tensor out = processor.apply(at::tensor({3.0f, 5.0f}).reshape({1, 1, 2}));
  EXPECT_TRUE(at::equal(out, at::tensor({2.0f, 3.0f}).reshape({1, 1, 2})));
}

TEST(PostProcessor, FittingNeedsAtLeastTwoRows) {
  PostProcessOptions options;
  options.standardize = true;
  const std::string message = error_of([&] { fitted(options, correlated_rows(1)); });
  EXPECT_CONTAINS(message, "at least 2 vectors, got 1");
}

TEST(PostProcessor, WhiteningRefusesRankDeficientData) {
  PostProcessOptions options;
  options.whiten_components = 8;
  // 5 vectors span at most 4 directions around their mean.
  std::string message = error_of([&] { fitted(options, correlated_rows(5)); });
  EXPECT_CONTAINS(message, "needs at least 9 vectors, got 5");
  EXPECT_CONTAINS(message, "span only 4");
  // 400 vectors in a 3-dimensional subspace.
  const at::Tensor flat =
      at::matmul(correlated_rows().narrow(2, 0, 3).unsqueeze(2), at::randn({kSlots, 3, kDim}))
          .squeeze(2)
          .contiguous();
  options.whiten_components = 4;
  message = error_of([&] { fitted(options, flat); });
  EXPECT_CONTAINS(message, "span only 3");
  options.whiten_components = kDim + 1;
  EXPECT_CONTAINS(error_of([&] { fitted(options, correlated_rows()); }),
                  "exceeds the dimension 16");
}

TEST(PostProcessor, RemoveTopMustLeaveADirection) {
  PostProcessOptions options;
  options.remove_top = kDim;
  EXPECT_THROW(fitted(options, correlated_rows()), std::invalid_argument);
}

// Used to output vectors of about 1e-17, with success: 50 vectors span 49
// directions, and removing 49 or more leaves nothing.
TEST(PostProcessor, RemoveTopNeedsMoreVectorsThanDirections) {
  PostProcessOptions options;
  options.remove_top = 14;
  EXPECT_CONTAINS(error_of([&] { fitted(options, correlated_rows(15)); }),
                  "needs at least 16 vectors, got 15");
  EXPECT_NO_THROW(fitted(options, correlated_rows(16)));
}

// Checked before the model runs, instead of after the whole input was embedded.
TEST(PostProcessor, CheckDimensionsRefusesWhatNoFitCanSatisfy) {
  PostProcessOptions options;
  options.remove_top = 128;
  EXPECT_CONTAINS(test::error_message<std::invalid_argument>(
                      [&] { PostProcessor(options).check_dimensions(128); }),
                  "remove-top 128 must be below the dimension 128");
  EXPECT_NO_THROW(PostProcessor(options).check_dimensions(129));
  options.whiten_components = 64;
  EXPECT_CONTAINS(test::error_message<std::invalid_argument>(
                      [&] { PostProcessor(options).check_dimensions(768); }),
                  "below the dimension 64 left by whiten");
  options.remove_top = 0;
  EXPECT_CONTAINS(test::error_message<std::invalid_argument>(
                      [&] { PostProcessor(options).check_dimensions(32); }),
                  "whiten 64 exceeds the dimension 32");
  EXPECT_EQ(PostProcessor(options).output_dim(768), 64);
}

TEST(PostProcessor, LabelNamesTheTransformsInOrder) {
  PostProcessOptions options;
  EXPECT_EQ(postprocess_label(options), "none");
  options.whiten_components = 256;
  options.remove_top = 2;
  options.standardize = true;
  options.l2_normalize = true;
  EXPECT_EQ(postprocess_label(options), "whiten:256,remove-top:2,standardize,normalize:l2");
}

TEST(PostProcessor, LabelsParseBackIntoTheirOptions) {
  for (const char* label : {"none", "whiten:256", "remove-top:2,standardize", "whiten:4,remove-top:1,standardize,normalize:l2",
                            "normalize:l2"}) {
    EXPECT_EQ(postprocess_label(parse_postprocess_label(label)), label);
  }
  for (const char* bad : {"", "whiten", "whiten:0", "whiten:-3", "standardize,whiten:4", "standardize,standardize",
                          "whiten:4,,standardize", "sharpen"}) {
    EXPECT_THROW(parse_postprocess_label(bad), std::invalid_argument) << bad;
  }
}

TEST(PostProcessor, StatisticsWithoutTransformsKeepTheMomentsAndRanges) {
  const test::TempDir dir;
  const at::Tensor rows = correlated_rows();
  PostProcessor counted(PostProcessOptions{});
  counted.fit(rows);
  counted.save(dir.path() / "stats.json", test_source());
  EXPECT_EQ(statistics_file_options(dir.path() / "stats.json").whiten_components, 0);
  PostProcessor loaded(PostProcessOptions{});
  loaded.load(dir.path() / "stats.json", test_source());
  ASSERT_TRUE(loaded.statistics().has_range());
  EXPECT_TRUE(at::equal(loaded.statistics().minimum(), rows.amin(0).to(at::kDouble)));
  EXPECT_TRUE(at::equal(loaded.statistics().maximum(), rows.amax(0).to(at::kDouble)));
  EXPECT_TRUE(at::equal(loaded.apply(rows), rows));
}

TEST(PostProcessor, RefusesNonFiniteTrainingData) {
  PostProcessOptions options;
  options.standardize = true;
  at::Tensor rows = correlated_rows();
  rows[4][0][2] = std::numeric_limits<float>::quiet_NaN();
  EXPECT_CONTAINS(error_of([&] { fitted(options, rows); }), "NaN");
}

TEST(PostProcessor, ApplyBeforeFitIsALogicError) {
  PostProcessOptions options;
  options.standardize = true;
  EXPECT_THROW(PostProcessor(options).apply(correlated_rows()), std::logic_error);
}

}  // namespace
}  // namespace bert_embed
