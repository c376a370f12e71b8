// tests/tools/test_data_parallel.cpp — data-parallel training: N emulated ranks agree with one
// process within float rounding, are bitwise reproducible, resume at another rank count, name a
// failing rank, and `mpirun -np 2` computes bit for bit what --emulate-ranks 2 computes.
#include <sys/wait.h>

#include <atomic>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "core/distributed.h"
#include "core/error.h"
#include "tests/support/testing.h"
#include "tests/tools/tools_testing.h"
#include "tools/pipeline/checkpoint.h"
#include "tools/pipeline/config.h"
#include "tools/pipeline/trainer.h"

using namespace raoq;
using namespace raoq::tools;
namespace fs = std::filesystem;

namespace {

const std::string& data_dir() { return testing::synthetic_idx_dir("raoq_dp_idx_", 96, 40, 8, 4, 13); }

// fp (BatchNorm, random crops and flips) -> qat (LSQ+ initialised from the first global batch,
// A-shift, W-reshape) -> adc with BitAug on 16-row arrays; global batch 16; `steps` per stage.
Json dp_config(int steps) {
  Json c = Json::parse(R"({
    "name": "dp", "seed": 5,
    "data": {"kind": "idx", "normalize": {"mean": [0.4], "std": [0.3]},
             "augment": {"random_crop_padding": 1, "horizontal_flip": true}},
    "model": {"name": "cnn-small", "width": 2},
    "stages": [
      {"name": "fp", "epochs": 1, "batch_size": 16, "optimizer": {"name": "sgd", "lr": 0.05, "momentum": 0.9},
       "eval": {"batch_size": 7}},
      {"name": "qat", "kind": "qat", "epochs": 1, "batch_size": 16, "optimizer": {"name": "sgd", "lr": 0.01},
       "wreshape": 0.002, "eval": {"batch_size": 7}},
      {"name": "adc", "kind": "adc", "epochs": 1, "batch_size": 16, "optimizer": {"name": "sgd", "lr": 0.004},
       "adc": {"ba": 6, "rows": 16}, "eval": {"batch_size": 7}}
    ],
    "checkpoint": {"every_steps": 2}, "log": {"every_steps": 1}
  })");
  c["data"]["root"] = data_dir();
  for (auto& s : c["stages"]) s["max_steps"] = steps;
  return c;
}

struct Stop {};

// Trains `config` as `ranks` emulated ranks (1: plain one process) at one thread; rank 0's text in *log.
Results train_ranks(const std::string& out, const Json& config, int ranks, bool resume,
                    std::function<void(int rank, int64_t step)> hook = {}, std::string* log = nullptr) {
  std::ostringstream text, quiet;
  Results results;
  auto one = [&](int rank) {
    TrainOptions o;
    o.out_dir = out;
    o.resume = resume;
    o.threads = 1;
    o.out = rank == 0 ? &text : &quiet;
    if (hook) o.after_step = [&hook, rank](int64_t step) { hook(rank, step); };
    Results r = run_training(parse_config(config, "dp"), o);
    if (rank == 0) results = r;
  };
  try {
    if (ranks == 1) one(0);
    else dist::run_emulated_ranks(ranks, one);
  } catch (...) {
    if (log) *log = text.str();
    throw;
  }
  if (log) *log = text.str();
  return results;
}

// max over "model." tensors of max |a - b| / max(max |a|, 1e-3): the floor keeps tensors that are
// zero up to rounding (an LSQ+ offset of 1e-11) from turning ulps into large ratios.
double relative_difference(const std::string& a_path, const std::string& b_path) {
  const Checkpoint a = read_checkpoint(a_path), b = read_checkpoint(b_path);
  double worst = 0;
  for (const auto& [name, ta] : a.file.tensors) {
    if (name.rfind("model.", 0) != 0) continue;
    const Tensor& tb = b.file.at(name);
    REQUIRE(ta.numel() == tb.numel());
    double scale = 1e-3, diff = 0;
    for (int64_t i = 0; i < ta.numel(); ++i) {
      scale = std::max(scale, std::fabs(double(ta.data()[i])));
      diff = std::max(diff, std::fabs(double(ta.data()[i]) - double(tb.data()[i])));
    }
    worst = std::max(worst, diff / scale);
  }
  return worst;
}

}  // namespace

TEST_CASE("data-parallel: 2 emulated ranks train what one process trains, within float rounding", "[tools]") {
  const std::string one = testing::make_temp_dir("raoq_dp1_"), two = testing::make_temp_dir("raoq_dp2_");
  // Two steps per stage: the difference is the summation order (ranks' partial sums, BatchNorm's
  // combined moments), a few float ulps; later steps of SGD amplify it as any reordering would (two
  // threads against one give the same growth), so the comparison is made early.
  std::string log;
  const Results r1 = train_ranks(one, dp_config(2), 1, false);
  const Results r2 = train_ranks(two, dp_config(2), 2, false, {}, &log);
  INFO(log);
  CHECK_THAT(log, Catch::Contains("data-parallel: 2 emulated ranks"));
  for (const char* stage : {"fp", "qat", "adc"}) {
    INFO(stage);
    CHECK(relative_difference(one + "/checkpoints/" + stage + ".safetensors",
                              two + "/checkpoints/" + stage + ".safetensors") < 1e-4);
  }
  // The evaluation is global: the test split shared out and the counts summed.
  REQUIRE(r1.stages.size() == r2.stages.size());
  for (size_t i = 0; i < r1.stages.size(); ++i) CHECK(std::fabs(r1.stages[i].test_accuracy - r2.stages[i].test_accuracy) < 1e-9);
  fs::remove_all(one);
  fs::remove_all(two);
}

TEST_CASE("data-parallel: language models, causal and masked, train as one process does", "[tools]") {
  // gpt: every position of a window scores (equal slices); bert-tiny's masked objective scores
  // chosen positions, so the ranks' shares differ and their losses carry the weight N n_r / n.
  for (const bool masked : {false, true}) {
    INFO((masked ? "bert-tiny, masked" : "gpt, causal"));
    Json c = testing::tiny_text_config("dptext");
    // Plain SGD: AdamW's first steps move every weight by about lr whatever its gradient's size, so
    // a gradient that is zero up to rounding would move by lr on one side and not the other.
    for (auto& st : c["stages"]) st["max_steps"] = 2, st["optimizer"] = {{"name", "sgd"}, {"lr", 0.05}};
    if (masked) {
      c["model"] = {{"name", "bert-tiny"}, {"d_model", 16}, {"layers", 1}, {"heads", 2}};
      c["data"]["objective"] = "masked";
    } else {  // and ADC-LoRA's Eq. 12 phase, whose objective rows are averaged over the ranks
      c["stages"].push_back({{"name", "lora"},       {"kind", "adc"},        {"method", "raoq"},
                             {"epochs", 1},          {"max_steps", 3},       {"batch_size", 4},
                             {"bitaug", true},       {"adc", {{"rows", 16}, {"ba", 6}}},
                             {"optimizer", {{"name", "sgd"}, {"lr", 0.05}}}, {"eval", {{"batch_size", 8}}},
                             {"lora", {{"rank", 2}, {"targets", {"*.fc1"}}, {"init", "adc_mse"}, {"init_steps", 2}}}});
    }
    const std::string one = testing::make_temp_dir("raoq_dpt1_"), two = testing::make_temp_dir("raoq_dpt2_");
    const Results r1 = train_ranks(one, c, 1, false);
    const Results r2 = train_ranks(two, c, 2, false);
    for (const char* stage : {"fp", "qat"}) {
      INFO(stage);
      CHECK(relative_difference(one + "/checkpoints/" + stage + ".safetensors",
                                two + "/checkpoints/" + stage + ".safetensors") < 1e-4);
    }
    REQUIRE(r1.stages.size() == r2.stages.size());
    for (size_t i = 0; i < r1.stages.size(); ++i) CHECK(r2.stages[i].test_loss == Approx(r1.stages[i].test_loss).epsilon(1e-5));
    if (!masked) {
      const auto objectives = [](const std::string& dir) {
        std::vector<double> v;
        std::istringstream in(testing::read_text(dir + "/metrics.jsonl"));
        for (std::string line; std::getline(in, line);)
          if (line.find("\"lora_init\"") != std::string::npos) v.push_back(Json::parse(line).at("objective").get<double>());
        return v;
      };
      const std::vector<double> o1 = objectives(one), o2 = objectives(two);
      REQUIRE(o1.size() == 2);
      REQUIRE(o2.size() == 2);
      for (size_t i = 0; i < 2; ++i) CHECK(o2[i] == Approx(o1[i]).epsilon(1e-4));
    }
    fs::remove_all(one);
    fs::remove_all(two);
  }
}

TEST_CASE("data-parallel: emulated ranks are bitwise reproducible and resume at another rank count", "[tools]") {
  const std::string a = testing::make_temp_dir("raoq_dpa_"), b = testing::make_temp_dir("raoq_dpb_");
  train_ranks(a, dp_config(3), 2, false);
  // The same run stopped in the qat stage (after step 4) and resumed at 2 ranks: bitwise equal.
  CHECK_THROWS_AS(train_ranks(b, dp_config(3), 2, false, [](int, int64_t step) {
                    if (step == 4) throw Stop{};
                  }),
                  Error);
  train_ranks(b, dp_config(3), 2, true);
  for (const char* f : {"fp", "qat", "adc", "last"})
    CHECK(testing::file_bytes(a + "/checkpoints/" + f + ".safetensors") ==
          testing::file_bytes(b + "/checkpoints/" + f + ".safetensors"));
  // Stopped again and resumed as one process: the loader state is global, so it continues the same
  // batches; only the rounding of the sums differs.
  fs::remove_all(b);
  CHECK_THROWS_AS(train_ranks(b, dp_config(3), 2, false, [](int, int64_t step) {
                    if (step == 4) throw Stop{};
                  }),
                  Error);
  std::string log;
  train_ranks(b, dp_config(3), 1, true, {}, &log);
  CHECK_THAT(log, Catch::Contains("checkpointed at 2 ranks and continues at 1"));
  CHECK(relative_difference(a + "/checkpoints/qat.safetensors", b + "/checkpoints/qat.safetensors") < 1e-3);
  fs::remove_all(a);
  fs::remove_all(b);
}

TEST_CASE("data-parallel: a failing rank is named, and the last checkpoint still loads", "[tools]") {
  const std::string out = testing::make_temp_dir("raoq_dpf_");
  try {
    train_ranks(out, dp_config(3), 2, false, [](int rank, int64_t step) {
      if (rank == 1 && step == 3) throw Error("disk gone");
    });
    FAIL("expected an error");
  } catch (const Error& e) {
    CHECK(std::string(e.what()) == "rank 1: disk gone");
  }
  CHECK(read_checkpoint(out + "/checkpoints/last.safetensors").kind == "train");
  train_ranks(out, dp_config(3), 2, true);  // and resumes
  CHECK(fs::exists(out + "/checkpoints/adc.safetensors"));
  fs::remove_all(out);
}

TEST_CASE("data-parallel: an adc stage straight from fp initialises its quantizers on the training batch", "[tools]") {
  // No qat stage: LSQ+ starts the activation quantizers on the first global training batch (as a
  // qat stage's first step would), never on the test batch that the evaluation before
  // fine-tuning reads first, which differs between one rank's share and the whole test set.
  Json c = dp_config(2);
  c["stages"].erase(1);
  c["stages"][1]["init_from"] = "fp";
  const std::string one = testing::make_temp_dir("raoq_dpq1_"), two = testing::make_temp_dir("raoq_dpq2_");
  train_ranks(one, c, 1, false);
  train_ranks(two, c, 2, false);
  CHECK(relative_difference(one + "/checkpoints/adc.safetensors", two + "/checkpoints/adc.safetensors") < 1e-4);
  fs::remove_all(one);
  fs::remove_all(two);
}

TEST_CASE("data-parallel: fewer test examples than ranks, and a stop all ranks agree on", "[tools]") {
  const std::string out = testing::make_temp_dir("raoq_dps_");
  Json c = dp_config(2);
  c["data"]["subset"] = {{"test", 1}};  // one rank evaluates nothing
  const Results r = train_ranks(out, c, 2, false);
  CHECK(r.stages.size() == 3);
  // A stop asked for on one rank: every rank stops after the same step, rank 0 saves, and the
  // message is the run's, without a rank.
  fs::remove_all(out);
  std::atomic<bool> stop{false};
  std::ostringstream text, quiet;
  try {
    dist::run_emulated_ranks(2, [&](int rank) {
      TrainOptions o;
      o.out_dir = out, o.threads = 1, o.out = rank == 0 ? &text : &quiet, o.stop = &stop;
      o.after_step = [&stop, rank](int64_t step) {
        if (rank == 1 && step == 3) stop = true;
      };
      run_training(parse_config(dp_config(2), "dp"), o);
    });
    FAIL("expected the stop");
  } catch (const dist::CollectiveError& e) {
    CHECK_THAT(e.what(), Catch::StartsWith("interrupted at step 3 (stage qat, epoch 1); "));
  }
  CHECK(read_checkpoint(out + "/checkpoints/last.safetensors").kind == "train");
  fs::remove_all(out);
}

TEST_CASE("data-parallel: a global batch that does not divide among the ranks is refused", "[tools]") {
  const std::string out = testing::make_temp_dir("raoq_dpd_");
  Json c = dp_config(2);
  c["stages"][0]["batch_size"] = 15;
  CHECK_THROWS_WITH(train_ranks(out, c, 2, false),
                    "rank 0: train: stages[0].batch_size is 15, which does not divide among the 2 ranks: the global "
                    "batch is the config's, each rank takes an equal slice");
  fs::remove_all(out);
}

TEST_CASE("data-parallel: mpirun -np 2 equals --emulate-ranks 2 bit for bit", "[tools]") {
  const auto exe = fs::read_symlink("/proc/self/exe").parent_path().parent_path() / "tools" / "raoq";
  const std::string dir = testing::make_temp_dir("raoq_mpi_");
  const auto sh = [&](const std::string& command) {
    const int status = std::system((command + " >" + dir + "/out 2>" + dir + "/err").c_str());
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128;
  };
  const bool usable = fs::exists(exe) && sh("command -v mpirun") == 0 && sh(exe.string() + " --version") == 0 &&
                      testing::read_text(dir + "/out").find("Open MPI") != std::string::npos;
#if RAOQ_EXPECT_MPI  // the build found MPI (tools/setup.sh installs it): then this test must run
  INFO("the build found MPI, but " << exe.string() << " --version or mpirun on the PATH is missing");
  REQUIRE(usable);
#endif
  if (!usable) {
    WARN("not checked: needs " << exe.string() << " built with MPI and mpirun on the PATH");
    fs::remove_all(dir);
    return;
  }
  std::ofstream(dir + "/dp.json") << dp_config(2).dump(2);
  // What a CI container needs: root is allowed, two ranks on whatever cores there are, shared
  // memory without the cross-process copy a container may forbid.
  const std::string mpirun = "mpirun --allow-run-as-root --oversubscribe --bind-to none --mca btl self,vader "
                             "--mca btl_vader_single_copy_mechanism none -np 2 ";
  const std::string train = exe.string() + " train " + dir + "/dp.json --threads 1 --out ";
  REQUIRE(sh(mpirun + train + dir + "/mpi") == 0);
  const std::string printed = testing::read_text(dir + "/out");
  INFO(printed << testing::read_text(dir + "/err"));
  CHECK_THAT(printed, Catch::Contains("data-parallel: 2 MPI ranks"));
  // Only rank 0 prints: the banner appears once.
  CHECK(printed.find("raoq train: dp") == printed.rfind("raoq train: dp"));
  REQUIRE(sh(train + dir + "/emulated --emulate-ranks 2") == 0);
  for (const char* f : {"fp", "qat", "adc", "last"}) {
    INFO(f);
    const auto m = testing::file_bytes(dir + "/mpi/checkpoints/" + f + ".safetensors");
    CHECK(!m.empty());
    CHECK(m == testing::file_bytes(dir + "/emulated/checkpoints/" + f + ".safetensors"));
  }
  // Rank 0 killed halfway through its fifth checkpoint write (the hook of core/safetensors.h): the
  // job fails, the last whole checkpoint loads, and resuming ends bit for bit where the
  // uninterrupted job did.
  REQUIRE(sh(mpirun + "-x RAOQ_FAULT_KILL_IN_WRITE=5 " + train + dir + "/killed") != 0);
  CHECK(read_checkpoint(dir + "/killed/checkpoints/last.safetensors").kind == "train");
  REQUIRE(sh(mpirun + train + dir + "/killed --resume") == 0);
  for (const char* f : {"qat", "adc", "last"})
    CHECK(testing::file_bytes(dir + "/killed/checkpoints/" + f + ".safetensors") ==
          testing::file_bytes(dir + "/mpi/checkpoints/" + f + ".safetensors"));
  // A rank's error names the rank and fails the job.
  CHECK(sh(mpirun + exe.string() + " train " + dir + "/dp.json --threads 1 --set stages[0].batch_size=15 --out " + dir +
           "/odd") != 0);
  CHECK_THAT(testing::read_text(dir + "/err"),
             Catch::Contains("raoq: rank 0: train: stages[0].batch_size is 15, which does not divide among the 2 ranks"));
  fs::remove_all(dir);
}
