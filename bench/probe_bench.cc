// probe_bench [--threads N]
//
// Times the evaluation stage's linear probes at the sizes `bert-embed eval`
// meets, on the probe tests' synthetic vectors (overlapping Gaussian
// clusters, correlated noise, float32), and prints one JSON line per size:
//   sst2: SST-2 dev, 872 x 768, 2 classes, one 10-fold cross-validation
//         (10 probes; a sweep of 13 layers x 3 poolings runs 39 of them);
//   wnut: WNUT-17, 62,000 training tokens x 768, 13 tags, one probe trained
//         and 23,000 test tokens predicted (a sweep runs one per layer).
#include <chrono>
#include <ctime>
#include <cstdio>
#include <stdexcept>
#include <string>
#include <vector>

#include <ATen/ATen.h>
#include <ATen/Parallel.h>

#include "bert_embed/evaluation/scores.h"
#include "probe_data.h"

namespace {

// Wall and processor time (all threads) since construction: on a shared
// machine the processor time is the steadier figure.
class Stopwatch {
 public:
  double wall_seconds() const {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - wall_).count();
  }
  double cpu_seconds() const { return static_cast<double>(std::clock() - cpu_) / CLOCKS_PER_SEC; }

 private:
  std::chrono::steady_clock::time_point wall_ = std::chrono::steady_clock::now();
  std::clock_t cpu_ = std::clock();
};

void bench_cross_validation() {
  const bert_embed::test::LabelledVectors data = bert_embed::test::gaussian_clusters(872, 768, 2, 2.0, 1);
  const std::vector<std::int64_t> labels(data.labels.data_ptr<std::int64_t>(),
                                         data.labels.data_ptr<std::int64_t>() + data.labels.numel());
  const Stopwatch stopwatch;
  const bert_embed::CrossValidationScores scores =
      bert_embed::cross_validate(data.features, data.labels, 2, bert_embed::stratified_folds(labels, 10, 0));
  const double wall = stopwatch.wall_seconds();
  const double cpu = stopwatch.cpu_seconds();
  // One fold's probe alone, for its iterations.
  const bert_embed::LinearProbe probe(data.features.narrow(0, 0, 785), data.labels.narrow(0, 0, 785), 2);
  std::printf(
      "{\"size\": \"sst2\", \"threads\": %d, \"folds\": 10, \"wall_seconds\": %.2f, \"cpu_seconds\": %.2f, "
      "\"cpu_seconds_per_probe\": %.3f, \"sweep_of_39_wall_seconds\": %.0f, \"accuracy\": %.2f, "
      "\"iterations\": %zu}\n",
      at::get_num_threads(), wall, cpu, cpu / 10, wall * 39, scores.accuracy, probe.iterations());
  std::fflush(stdout);
}

void bench_tagging_probe() {
  const bert_embed::test::LabelledVectors train = bert_embed::test::gaussian_clusters(85000, 768, 13, 3.0, 2);
  const at::Tensor train_x = train.features.narrow(0, 0, 62000);
  const at::Tensor train_y = train.labels.narrow(0, 0, 62000);
  const Stopwatch training;
  const bert_embed::LinearProbe probe(train_x, train_y, 13);
  const double training_wall = training.wall_seconds();
  const double training_cpu = training.cpu_seconds();
  const Stopwatch predicting;
  const at::Tensor predicted = probe.predict(train.features.narrow(0, 62000, 23000));
  const double predicting_wall = predicting.wall_seconds();
  const double accuracy =
      100.0 * predicted.eq(train.labels.narrow(0, 62000, 23000)).to(at::kDouble).mean().item<double>();
  std::printf(
      "{\"size\": \"wnut\", \"threads\": %d, \"train_wall_seconds\": %.1f, \"train_cpu_seconds\": %.1f, "
      "\"iterations\": %zu, \"converged\": %s, \"predict_wall_seconds\": %.2f, \"sweep_of_13_wall_seconds\": %.0f, "
      "\"accuracy\": %.2f}\n",
      at::get_num_threads(), training_wall, training_cpu, probe.iterations(), probe.converged() ? "true" : "false",
      predicting_wall, 13 * (training_wall + predicting_wall), accuracy);
}

}  // namespace

int main(int argc, char** argv) {
  try {
    for (int i = 1; i < argc; ++i) {
      const std::string argument = argv[i];
      if (argument == "--threads" && i + 1 < argc) {
        at::set_num_threads(std::stoi(argv[++i]));
      } else {
        throw std::invalid_argument("usage: probe_bench [--threads N]");
      }
    }
    bench_cross_validation();
    bench_tagging_probe();
  } catch (const std::exception& error) {
    std::fprintf(stderr, "probe_bench: %s\n", error.what());
    return 1;
  }
  return 0;
}
