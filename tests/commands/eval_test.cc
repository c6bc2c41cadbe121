// End-to-end tests of bert-embed eval on small subsets of the staged
// evaluation sets: its scores agree with independent references (scipy,
// scikit-learn, a conlleval-style count) on vectors saved by `embed` with the
// same options, and its refusals name what is wrong.
#include <cmath>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "cli.h"
#include "command.h"
#include "expect_error.h"
#include "fixtures.h"

namespace bert_embed::test {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

std::string tiny_model() { return test_bundle("tiny-uncased").string(); }

fs::path eval_set(const std::string& name) { return fixtures_dir() / "eval" / name; }

// The first `count` lines of a file (after skipping `skip`).
std::vector<std::string> head(const fs::path& file, std::size_t count, std::size_t skip = 0) {
  std::ifstream in(file);
  std::vector<std::string> lines;
  std::string line;
  for (std::size_t number = 0; lines.size() < count && std::getline(in, line); ++number) {
    if (number >= skip) lines.push_back(line);
  }
  return lines;
}

// The first `count` sentences of a CoNLL file.
std::string conll_head(const fs::path& file, std::size_t count) {
  std::ifstream in(file);
  std::string text, line;
  std::size_t sentences = 0;
  while (sentences < count && std::getline(in, line)) {
    text += line + "\n";
    if (line.find_first_not_of(" \t\r") == std::string::npos) ++sentences;
  }
  return text;
}

std::vector<std::string> tsv_cells(const std::string& line) {
  std::vector<std::string> cells;
  std::size_t begin = 0;
  while (true) {
    const std::size_t end = line.find('\t', begin);
    cells.push_back(line.substr(begin, end == std::string::npos ? std::string::npos : end - begin));
    if (end == std::string::npos) return cells;
    begin = end + 1;
  }
}

json reference(const std::vector<std::string>& args) {
  std::string command = std::string(BERT_EMBED_PYTHON) + " " +
                        shell_quote(std::string(BERT_EMBED_SOURCE_DIR) + "/tests/commands/eval_reference.py");
  for (const std::string& arg : args) command += " " + shell_quote(arg);
  const CommandResult result = run_command(command);
  EXPECT_EQ(result.exit_status, 0) << command;
  return json::parse(result.output);
}

class EvalCli : public BertEmbedCli {
 protected:
  json eval_json(std::vector<std::string> args) {
    args.insert(args.end(), {"--json", path("scores.json").string(), "-m", tiny_model(), "-q"});
    const RunResult result = run(args);
    EXPECT_EQ(result.status, 0) << result.err;
    return json::parse(read_file(path("scores.json")));
  }
};

TEST_F(EvalCli, StsCorrelationsEqualScipysOnVectorsSavedByEmbed) {
  // 60 STS-B test pairs: the first texts, then the second ones, embedded by
  // `embed` in one run, so that whitening is fitted on the same texts.
  std::string pairs, texts_a, texts_b, gold;
  for (const std::string& line : head(eval_set("stsb/sts-test.csv"), 60)) {
    const std::vector<std::string> cells = tsv_cells(line);
    pairs += line + "\n";
    texts_a += cells[5] + "\n";
    texts_b += cells[6] + "\n";
    gold += cells[4] + "\n";
  }
  input_file("pairs.tsv", pairs);
  input_file("texts.txt", texts_a + texts_b);
  input_file("gold.txt", gold);
  const json scores = eval_json({"eval", "sts", "-i", path("pairs.tsv").string(), "--input-format", "tsv",
                                 "--text-field", "6", "--pair-field", "7", "--score-field", "5", "--layers", "1",
                                 "--pooling", "cls,mean", "--postprocess", "none,whiten:16"});
  EXPECT_EQ(scores["task"], "sts");
  EXPECT_EQ(scores["metric"], "spearman");
  ASSERT_EQ(scores["results"].size(), 4u);
  for (const json& result : scores["results"]) {
    EXPECT_EQ(result["layers"], "1");
    EXPECT_EQ(result["n"], 60);
    std::vector<std::string> embed_args = {
        "-m",       tiny_model(), "-i",        path("texts.txt").string(),           "-o", path("vectors.npy").string(),
        "--layers", "1",          "--pooling", result["pooling"].get<std::string>(), "-q"};
    if (result["postprocess"] == "whiten:16") embed_args.insert(embed_args.end(), {"--whiten", "16"});
    embed(embed_args);
    const json expected = reference({"sts", path("vectors.npy").string(), path("gold.txt").string()});
    EXPECT_NEAR(result["spearman"].get<double>(), expected["spearman"].get<double>(), 1e-6) << result.dump();
    EXPECT_NEAR(result["pearson"].get<double>(), expected["pearson"].get<double>(), 1e-6) << result.dump();
  }
}

TEST_F(EvalCli, StatisticsOfOneLayerServeThatLayerOfASweep) {
  // Statistics saved by embed over the last layer (--layers -1, layer 2 of
  // tiny-uncased) were once used only when eval's --layers was spelled "-1".
  std::string pairs, texts;
  for (const std::string& line : head(eval_set("stsb/sts-test.csv"), 60)) {
    pairs += line + "\n";
    texts += tsv_cells(line)[5] + "\n";
  }
  input_file("pairs.tsv", pairs);
  input_file("texts.txt", texts);
  embed({"-m", tiny_model(), "-i", path("texts.txt").string(), "-o", path("vectors.npy").string(), "--whiten", "8",
         "--save-stats", path("stats.json").string(), "-q"});
  const auto layer_scores = [&](const std::string& layers, bool with_stats) {
    std::vector<std::string> args = {"eval", "sts", "-i", path("pairs.tsv").string(), "--input-format", "tsv",
                                     "--text-field", "6", "--pair-field", "7", "--score-field", "5",
                                     "--postprocess", "whiten:8", "--layers", layers};
    if (with_stats) args.insert(args.end(), {"--stats", path("stats.json").string()});
    const json report = eval_json(args);
    std::map<std::string, double> scores;
    for (const json& result : report["results"]) {
      scores[result["layers"].get<std::string>()] = result["spearman"].get<double>();
    }
    return scores;
  };
  const double last_layer = layer_scores("-1", true).at("-1");
  const std::map<std::string, double> sweep = layer_scores("all", true);
  EXPECT_EQ(sweep.at("2"), last_layer);
  // Fitted on the evaluation's own texts (both sides), the score differs.
  EXPECT_NE(layer_scores("all", false).at("2"), last_layer);
  // The other layers were not fitted by the file: they score as without it.
  EXPECT_EQ(sweep.at("1"), layer_scores("1", false).at("1"));
}

TEST_F(EvalCli, ProbeAccuracyWithinHalfAPointOfScikitLearns) {
  // TREC's 500 test questions ("LABEL:fine text"), six coarse classes, for
  // which scikit-learn fits the same multinomial model: 300 to train, 200 to test.
  const std::vector<std::string> lines = head(eval_set("TREC/TREC_10.label"), 500);
  std::string train, test, train_text, test_text, train_labels, test_labels;
  for (std::size_t i = 0; i < lines.size(); ++i) {
    const std::string label = lines[i].substr(0, lines[i].find(':'));
    const std::string text = lines[i].substr(lines[i].find(' ') + 1);
    (i < 300 ? train : test) += label + "\t" + text + "\n";
    (i < 300 ? train_text : test_text) += text + "\n";
    (i < 300 ? train_labels : test_labels) += label + "\n";
  }
  input_file("train.tsv", train);
  input_file("test.tsv", test);
  input_file("train.txt", train_text);
  input_file("test.txt", test_text);
  input_file("train-labels.txt", train_labels);
  input_file("test-labels.txt", test_labels);
  const json scores = eval_json({"eval", "classify", "-i", path("train.tsv").string(), "--test",
                                 path("test.tsv").string(), "--input-format", "tsv", "--text-field", "2",
                                 "--label-field", "1", "--layers", "2", "--pooling", "mean"});
  ASSERT_EQ(scores["results"].size(), 1u);
  const json& result = scores["results"][0];
  EXPECT_EQ(result["n"], 200);
  for (const char* split : {"train", "test"}) {
    embed({"-m", tiny_model(), "-i", path(std::string(split) + ".txt").string(), "-o",
           path(std::string(split) + ".npy").string(), "--layers", "2", "--pooling", "mean", "-q"});
  }
  const json expected = reference({"classify", path("train.npy").string(), path("train-labels.txt").string(),
                                   path("test.npy").string(), path("test-labels.txt").string()});
  EXPECT_NEAR(result["accuracy"].get<double>(), expected["accuracy"].get<double>(), 0.5);
}

TEST_F(EvalCli, CrossValidationReportsTheSpreadOverFolds) {
  std::string labelled;
  for (const std::string& line : head(eval_set("sst2/dev.tsv"), 81)) labelled += line + "\n";
  input_file("sst.tsv", labelled);
  const json scores = eval_json({"eval", "classify", "-i", path("sst.tsv").string(), "--input-format", "tsv",
                                 "--text-field", "sentence", "--label-field", "label", "--layers", "0:1", "--layer-agg",
                                 "mean", "--pooling", "cls,max", "--folds", "4"});
  EXPECT_EQ(scores["model"]["folds"], 4);
  ASSERT_EQ(scores["results"].size(), 6u);  // (2 layers + their mean) x 2 poolings
  const json& aggregated = scores["results"][2];
  EXPECT_EQ(aggregated["layers"], "0:1");
  EXPECT_EQ(aggregated["layer_agg"], "mean");
  for (const json& result : scores["results"]) {
    EXPECT_EQ(result["n"], 80);
    EXPECT_GE(result["accuracy_sd"].get<double>(), 0.0);
    EXPECT_GE(result["accuracy"].get<double>(), 0.0);
    EXPECT_LE(result["accuracy"].get<double>(), 100.0);
  }
}

TEST_F(EvalCli, TokensF1EqualsAConllevalCountOfItsPredictions) {
  // Scored on its own training sentences, the probe finds some entities.
  input_file("train.conll", conll_head(eval_set("wnut17/wnut17train.conll"), 120));
  const json scores =
      eval_json({"eval", "tokens", "-i", path("train.conll").string(), "--test", path("train.conll").string(),
                 "--layers", "2", "--max-length", "24", "--predictions", path("predicted.txt").string()});
  ASSERT_EQ(scores["results"].size(), 1u);
  const json expected = reference({"conlleval", path("predicted.txt").string()});
  EXPECT_GT(expected["predicted_entities"].get<int>(), 0);
  EXPECT_NEAR(scores["results"][0]["f1"].get<double>(), expected["f1"].get<double>(), 1e-9);
  EXPECT_EQ(split_lines(read_file(path("predicted.txt"))).size(), split_lines(read_file(path("train.conll"))).size());
}

TEST_F(EvalCli, EveryWordGetsItsTokensWhateverThePrefixAndTokenizer) {
  // Windows were once cut for 2 special tokens and words counted alone, so a
  // prefix's tokens truncated the end of long sentences and their words got
  // zero vectors; and byte-level BPE's "Ġword", whose span holds the space
  // before the word, was given to no word. Sentences of 31, 62 and 93 words,
  // each longer than a window of 24 tokens.
  const std::string sentence =
      "John/B-person Smith/I-person went to the market in New/B-location York/I-location and bought apples , "
      "oranges and bread before he walked back home to his family in the small town near the river";
  std::string conll;
  for (const int copies : {1, 2, 3}) {
    for (int copy = 0; copy < copies; ++copy) {
      std::istringstream words(sentence);
      std::string word;
      while (words >> word) {
        const std::size_t slash = word.find('/');
        conll += word.substr(0, slash) + "\t" + (slash == std::string::npos ? "O" : word.substr(slash + 1)) + "\n";
      }
    }
    conll += "\n";
  }
  input_file("tagged.conll", conll);
  for (const std::string model : {"tiny-uncased", "tiny-roberta", "tiny-xlm-roberta"}) {
    SCOPED_TRACE(model);
    const RunResult result =
        run({"eval", "tokens", "-m", test_bundle(model).string(), "-i", path("tagged.conll").string(), "--test",
             path("tagged.conll").string(), "--layers", "1", "--max-length", "24", "--prefix", "query: "});
    ASSERT_EQ(result.status, 0) << result.err;
    EXPECT_CONTAINS(result.err, " (0 truncated lines, ");
    EXPECT_EQ(result.err.find("had no token"), std::string::npos) << result.err;
  }
}

TEST_F(EvalCli, TableMarksTheBestAndThePlotIsDrawn) {
  if (run_command("command -v gnuplot").exit_status != 0) GTEST_SKIP() << "gnuplot is not installed";
  std::string pairs;
  for (const std::string& line : head(eval_set("stsb/sts-test.csv"), 30)) pairs += line + "\n";
  input_file("pairs.tsv", pairs);
  const RunResult result =
      run({"eval", "sts", "-m", tiny_model(), "-i", path("pairs.tsv").string(), "--input-format", "tsv", "--text-field",
           "6", "--pair-field", "7", "--score-field", "5", "--plot", path("scores.png").string(), "-q"});
  ASSERT_EQ(result.status, 0) << result.err;
  EXPECT_CONTAINS(result.out, "| layers | pooling | postprocess | spearman | pearson | n |");
  EXPECT_CONTAINS(result.out, "Best (bold): layers ");
  EXPECT_EQ(split_lines(result.out).size(), 2 + 3 + 2u);  // header, 3 layers, blank, best
  EXPECT_EQ(read_file(path("scores.png")).substr(1, 3), "PNG");
  EXPECT_EQ(files_in_temp_dir(), (std::vector<std::string>{"pairs.tsv", "scores.png"}));
}

TEST_F(EvalCli, UsageErrorsExitWith2) {
  input_file("pairs.tsv", "a\tb\t1\n");
  const std::string pairs = path("pairs.tsv").string();
  const std::vector<std::vector<std::string>> refused = {
      {"eval", "sts", "-m", tiny_model(), "-i", pairs, "--input-format", "tsv", "--pair-field", "2"},
      {"eval", "sts", "-m", tiny_model(), "-i", pairs, "--score-field", "3"},
      {"eval", "classify", "-m", tiny_model(), "-i", pairs, "--input-format", "tsv", "--label-field", "3", "--test",
       pairs, "--folds", "3"},
      {"eval", "sts", "-m", tiny_model(), "-i", pairs, "--input-format", "tsv", "--pair-field", "2", "--score-field",
       "3", "--postprocess", "none,whiten"},
      {"eval", "sts", "-m", tiny_model(), "-i", pairs, "--input-format", "tsv", "--pair-field", "2", "--score-field",
       "3", "--postprocess", "whiten:4096"},
      {"eval", "sts", "-m", tiny_model(), "-i", pairs, "--input-format", "tsv", "--pair-field", "2", "--score-field",
       "3", "--pooling", "tokens"},
      {"eval", "sts", "-m", tiny_model(), "-i", pairs, "--input-format", "tsv", "--pair-field", "2", "--score-field",
       "3", "--plot", path("scores.pdf").string()},
      {"eval", "tokens", "-m", tiny_model(), "-i", pairs},
      {"eval", "-m", tiny_model(), "-i", pairs},
  };
  for (const std::vector<std::string>& args : refused) {
    const RunResult result = run(args);
    EXPECT_EQ(result.status, 2) << bert_embed_command(args) << "\n" << result.err;
    EXPECT_CONTAINS(result.err, "error");
  }
}

TEST_F(EvalCli, BadScoreOrTagLinesAreNamedWithFileAndLine) {
  input_file("pairs.tsv", "a man\ta woman\t1.5\nthe cat\ta dog\tfour\n");
  RunResult result = run({"eval", "sts", "-m", tiny_model(), "-i", path("pairs.tsv").string(), "--input-format", "tsv",
                          "--pair-field", "2", "--score-field", "3"});
  EXPECT_EQ(result.status, 1);
  EXPECT_CONTAINS(result.err, "pairs.tsv:2: the score \"four\" is not a finite number");

  input_file("train.conll", "Paris\tB-location\nis\tO\n\nRome\tLOC\n");
  result = run({"eval", "tokens", "-m", tiny_model(), "-i", path("train.conll").string(), "--test",
                path("train.conll").string()});
  EXPECT_EQ(result.status, 1);
  EXPECT_CONTAINS(result.err, "train.conll:4: tag \"LOC\" is not IOB2");

  input_file("labels.jsonl", "{\"text\": \"good\", \"label\": \"pos\"}\n{\"text\": \"bad\"}\n");
  result = run({"eval", "classify", "-m", tiny_model(), "-i", path("labels.jsonl").string(), "--input-format", "jsonl",
                "--label-field", "label", "--folds", "2"});
  EXPECT_EQ(result.status, 1);
  EXPECT_CONTAINS(result.err, "labels.jsonl:2: no field \"label\"");
}

}  // namespace
}  // namespace bert_embed::test
