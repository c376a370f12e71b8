// tests/tools/test_output.cpp — what a run leaves for people and programs: the progress display,
// the results table, the metrics log's resume cut, atomic files and the run directory.
#include <filesystem>
#include <fstream>
#include <sstream>

#include "core/error.h"
#include "tests/support/testing.h"
#include "tests/tools/tools_testing.h"
#include "tools/pipeline/atomic_file.h"
#include "tools/pipeline/progress.h"
#include "tools/pipeline/results.h"
#include "tools/pipeline/run_dir.h"
#include "tools/pipeline/trainer.h"

using namespace raoq;
using namespace raoq::tools;
using Catch::Contains;

TEST_CASE("progress: plain lines every N steps off a terminal, a redrawn bar on one", "[tools]") {
  std::ostringstream plain;
  Progress p(plain, /*terminal=*/false, /*every_steps=*/2);
  p.start_epoch("fp", 1, 3, 0, 5);
  for (int64_t s = 1; s <= 5; ++s) p.step(s, 0.5, 75.0, 100.0);
  p.line("fp epoch 1/3: done");
  const std::string text = plain.str();
  CHECK(text.find('\r') == std::string::npos);
  CHECK_THAT(text, Contains("fp  epoch 1/3  step 2/5  loss 0.5000  acc 75.0%  100 ex/s"));
  CHECK_THAT(text, Contains("step 4/5") && Contains("step 5/5") && Contains("fp epoch 1/3: done\n"));
  CHECK(text.find("step 3/5") == std::string::npos);  // only every 2 steps and the last

  std::ostringstream tty;
  Progress bar(tty, /*terminal=*/true, 2);
  bar.start_epoch("fp", 2, 3, 0, 4);
  bar.step(4, 0.25, 90.0, 50.0);  // the last step is always drawn
  bar.line("summary");
  CHECK_THAT(tty.str(), Contains("\rfp  epoch 2/3  [") && Contains("4/4  loss 0.2500  acc 90.0%") &&
                            Contains("\033[K") && Contains("\r\033[Ksummary\n"));
  CHECK(Progress::format_duration(65) == "1:05");
  CHECK(Progress::format_duration(3725) == "1:02:05");
}

TEST_CASE("results: JSON rows and a readable Markdown table", "[tools]") {
  Results r;
  r.config_name = "fmnist-fp";
  r.model = "cnn-small";
  r.table = {{"fp", std::nullopt, "test_accuracy", 92.3456}, {"raoq", 8, "test_accuracy", 91.5}};
  StageSummary s;
  s.name = "fp";
  s.kind = "fp";
  s.epochs = 10;
  s.steps = 4690;
  s.test_accuracy = 92.3456;
  s.seconds = 3725;
  r.stages = {s};
  const Json j = r.to_json();
  CHECK(j["table"][0] == Json{{"method", "fp"}, {"ba", nullptr}, {"metric", "test_accuracy"}, {"value", 92.3456}});
  CHECK(j["table"][1]["ba"] == 8);
  CHECK(Results::from_json(j).to_json() == j);
  const std::string md = r.markdown();
  CHECK_THAT(md, Contains("# Results: fmnist-fp (cnn-small)"));
  CHECK_THAT(md, Contains("| fp | - | test accuracy (%) | 92.35 |"));
  CHECK_THAT(md, Contains("| raoq | 8 | test accuracy (%) | 91.50 |"));
  CHECK_THAT(md, Contains("| fp | fp | 10 | 4690 | 92.35 |") && Contains("| 1:02:05 |"));
}

TEST_CASE("results: a language model's rows print in the Table 2 layout, by perplexity", "[tools]") {
  Results r;
  r.config_name = "lm";
  r.model = "gpt-tiny";
  r.table = {{"fp", std::nullopt, "test_perplexity", 4.5}, {"qat", std::nullopt, "test_perplexity", 4.75},
             {"vanilla_noft", 7, "test_perplexity", 441.6}, {"vanilla", 7, "test_perplexity", 30.25},
             {"raoq_noft", 7, "test_perplexity", 6.5}, {"raoq", 7, "test_perplexity", 4.875}};
  const std::string md = r.markdown();
  CHECK_THAT(md, Contains("## Table 2: test perplexity (lower is better)"));
  CHECK_THAT(md, Contains("| gpt-tiny | 4.50 | 4.75 | 30.25 | 4.88 |"));
  CHECK_THAT(md, Contains("| gpt-tiny, no fine-tune | 4.50 | 4.75 | 441.60 | 6.50 |"));
  CHECK_THAT(md, Contains("| vanilla | 7 | test perplexity | 30.25 |"));
  // A second sweep with label_suffix "_k1" (harder hardware) gets its own lines, its cells apart.
  r.table.push_back({"vanilla_k1", 7, "test_perplexity", 90.0});
  r.table.push_back({"raoq_k1_noft", 7, "test_perplexity", 12.0});
  const std::string md2 = r.markdown();
  CHECK_THAT(md2, Contains("| gpt-tiny | 4.50 | 4.75 | 30.25 | 4.88 |"));
  CHECK_THAT(md2, Contains("| gpt-tiny (k1) | 4.50 | 4.75 | 90.00 | - |"));
  CHECK_THAT(md2, Contains("| gpt-tiny (k1), no fine-tune | 4.50 | 4.75 | - | 12.00 |"));
}

TEST_CASE("results: ADC-LoRA's rows print as the paper's Tables 6, 12 and 4", "[tools]") {
  Results r;
  r.config_name = "lora";
  r.model = "gpt-tiny";
  r.table = {{"raoq", 8, "test_perplexity", 6.25},          {"raoq", 8, "trainable_parameters", 3332911},
             {"raoq_lora_hu_noft", 8, "test_perplexity", 6.75}, {"raoq_lora_hu", 8, "test_perplexity", 6.5},
             {"raoq_lora_hu", 8, "trainable_parameters", 140335}, {"raoq_lora_svd", 8, "test_perplexity", 7.0},
             {"raoq_lora_adc_mse", 8, "test_perplexity", 6.375},  {"raoq_lora_adc_mse", 8, "trainable_parameters", 140335},
             {"raoq_lora_adc_mse_r4", 8, "test_perplexity", 6.5}, {"raoq_lora_adc_mse_r4", 8, "trainable_parameters", 74799}};
  const std::string md = r.markdown();
  CHECK_THAT(md, Contains("## Table 6: RAOQ with and without ADC-LoRA, test perplexity (lower is better) at ba=8"));
  CHECK_THAT(md, Contains("| gpt-tiny | 6.25 | 6.38 | 3332911 / 140335 |"));
  CHECK_THAT(md, Contains("| gpt-tiny | 6.50 | 7.00 | 6.38 |"));
  CHECK_THAT(md, Contains("| gpt-tiny, no fine-tune | 6.75 | - | - |"));
  CHECK_THAT(md, Contains("| raoq_lora_adc_mse_r4 | 74799 | 44.6x | 6.50 |"));
  CHECK_THAT(md, Contains("| raoq | 8 | trainable_parameters | 3332911 |"));
  // Without LoRA rows there are no LoRA tables.
  r.table.resize(2);
  CHECK_THAT(r.markdown(), !Contains("Table 6"));
}

TEST_CASE("run directory: metrics log cut on resume, atomic files, clear", "[tools]") {
  const std::string dir = testing::make_temp_dir("raoq_dir_");
  RunDir run{dir + "/run"};
  CHECK_FALSE(run.holds_run());
  run.create();
  MetricsLog log;
  log.open(run.metrics(), -1);
  log.write({{"step", 1}, {"stage", "a"}, {"seconds", 1.5}, {"stage_seconds", 1.0}});
  log.write({{"step", 2}, {"stage", "b"}, {"seconds", 2.5}, {"stage_seconds", 0.5}});
  const int64_t kept = log.rows();
  log.write({{"step", 3}, {"stage", "b"}, {"seconds", 9.0}, {"stage_seconds", 7.0}});
  std::ofstream(run.metrics(), std::ios::app) << "{\"step\": 4, \"sec";  // what a kill mid-write leaves
  CHECK(run.holds_run());
  // A resumed run keeps only the rows its checkpoint had seen, and takes its clock from them.
  MetricsLog again;
  const MetricsTimes times = again.open(run.metrics(), kept);
  CHECK(times.seconds == 2.5);
  CHECK(times.stage_seconds == std::map<std::string, double>{{"a", 1.0}, {"b", 0.5}});
  again.write({{"step", 3}, {"seconds", 3.0}});
  CHECK(testing::read_text(run.metrics()) ==
        "{\"step\":1,\"stage\":\"a\",\"seconds\":1.5,\"stage_seconds\":1.0}\n"
        "{\"step\":2,\"stage\":\"b\",\"seconds\":2.5,\"stage_seconds\":0.5}\n{\"step\":3,\"seconds\":3.0}\n");
  CHECK_THROWS_WITH(MetricsLog().open(run.metrics(), 10000),
                    Contains("holds 3 whole rows but the checkpoint recorded 10000 -- was it edited?"));
  // Each malformed row is one line naming the file, the line and its byte offset.
  const auto rows_error = [](const std::string& text, int64_t rows) {
    try {
      read_metrics_rows(text, rows, "m.jsonl", nullptr);
    } catch (const Error& e) {
      return std::string(e.what());
    }
    return std::string();
  };
  CHECK_THAT(rows_error("not json\n", 1), Contains("metrics log 'm.jsonl': line 1 (byte 0) is not valid JSON: at line 1"));
  CHECK(rows_error("[1]\n", 1) == "metrics log 'm.jsonl': line 1 (byte 0) is [1], expected a JSON object");
  CHECK(rows_error("{\"x\": 1}\n", 1) ==
        "metrics log 'm.jsonl': line 1 (byte 0) has no \"seconds\", expected one in every row raoq train writes");
  CHECK(rows_error("{\"seconds\": 1}\n{\"seconds\": -2}\n", 2) ==
        "metrics log 'm.jsonl': line 2 (byte 15): \"seconds\" is -2, expected a finite number >= 0");
  CHECK(rows_error("{\"seconds\": 1, \"stage_seconds\": 1}\n", 1) ==
        "metrics log 'm.jsonl': line 1 (byte 0) has \"stage_seconds\" but no \"stage\" name, expected both");
  CHECK(rows_error("{\"seconds\": 1}\ngarbage past the kept rows", 1).empty());
  // Atomic writes replace whole files and leave no temporary behind.
  write_file_atomic(run.config(), "first");
  write_file_atomic(run.config(), "second");
  CHECK(read_file(run.config()) == "second");
  int entries = 0;
  for ([[maybe_unused]] const auto& e : std::filesystem::directory_iterator(run.root)) ++entries;
  CHECK(entries == 3);  // config.json, metrics.jsonl, checkpoints/
  CHECK_THROWS_WITH(write_file_atomic(dir + "/missing/x.json", "x"), Contains("cannot create"));
  // --overwrite clears what a run writes and nothing else.
  std::ofstream(run.root + "/notes.txt") << "mine";
  std::ofstream(run.last_checkpoint()) << "x";
  run.clear();
  CHECK_FALSE(run.holds_run());
  CHECK_FALSE(std::filesystem::exists(run.config()));
  CHECK(std::filesystem::exists(run.root + "/notes.txt"));
  std::filesystem::remove_all(dir);
}

TEST_CASE("first_difference names the first differing key path", "[tools]") {
  const Json a = Json::parse(R"({"x": 1, "s": [{"lr": 0.1}, {"lr": 0.2}], "m": {"n": "a"}})");
  CHECK(first_difference(a, a).empty());
  CHECK(first_difference(a, Json::parse(R"({"x": 1.0, "s": [{"lr": 0.1}, {"lr": 0.2}], "m": {"n": "a"}})")).empty());
  CHECK(first_difference(a, Json::parse(R"({"x": 1, "s": [{"lr": 0.1}, {"lr": 0.3}], "m": {"n": "a"}})")) ==
        "s[1].lr (0.2 in the run, 0.3 now)");
  CHECK(first_difference(a, Json::parse(R"({"x": 1, "s": [{"lr": 0.1}], "m": {"n": "a"}})")) ==
        "s (2 items in the run, 1 item now)");
  CHECK(first_difference(a, Json::parse(R"({"x": 1, "s": [{"lr": 0.1}, {"lr": 0.2}], "m": {}})")) ==
        "m.n (\"a\" in the run, absent now)");
}
