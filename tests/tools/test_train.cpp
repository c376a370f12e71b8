// tests/tools/test_train.cpp — the training pipeline end to end on a tiny synthetic dataset:
// the run directory, resume after an interruption at every kind of step (bitwise identical final
// parameters, metrics and results), a real SIGKILL, and the errors around existing runs.
#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <csignal>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <sstream>

#include "core/error.h"
#include "optim/schedule.h"
#include "tests/support/testing.h"
#include "tests/tools/tools_testing.h"
#include "tools/pipeline/checkpoint.h"
#include "tools/pipeline/config.h"
#include "tools/pipeline/trainer.h"

extern char** environ;

using namespace raoq;
using namespace raoq::tools;
namespace fs = std::filesystem;

namespace {

// Thrown by a test hook: an in-process stand-in for a crash (nothing after it runs).
struct Interrupted {};

// 96 training examples (72 after the validation hold-out: 5 + 5 steps in stage a, 3 in stage b,
// 13 in all), 40 test examples, 8x8 images, 4 classes.
const std::string& data_dir() {
  static const std::string dir = [] {
    // The SIGKILL child reads its parent's dataset (the config names it, and resume compares configs).
    if (const char* given = std::getenv("RAOQ_TEST_DATA_DIR")) return std::string(given);
    const std::string d = testing::make_temp_dir("raoq_tiny_idx_");
    testing::write_synthetic_idx(d, 96, 40, 8, 4, 11);
    return d;
  }();
  return dir;
}
constexpr int64_t kTotalSteps = 13;

const Json kCnn = {{"name", "cnn-small"}, {"width", 2}};
const Json kMlp = {{"name", "mlp"}, {"hidden", {12}}, {"dropout", 0.2}};  // dropout: its generator is resumed too

// One thread keeps these runs fast on a busy machine; the SIGKILL test runs at two, so the
// parallel code paths are covered by a bitwise resume check as well.
Results train_in(const std::string& out, const Json& config, bool resume, std::function<void(int64_t)> hook = {},
                 std::string* log = nullptr, int threads = 1) {
  return testing::train_run(out, config, "tiny", resume, std::move(hook), log, threads);
}

void require_same_tensors(const std::string& a_path, const std::string& b_path) {
  const SafetensorsFile a = load_safetensors(a_path), b = load_safetensors(b_path);
  REQUIRE(a.tensors.size() == b.tensors.size());
  for (size_t i = 0; i < a.tensors.size(); ++i) {
    INFO(a.tensors[i].first);
    REQUIRE(a.tensors[i].first == b.tensors[i].first);
    const Tensor& x = a.tensors[i].second;
    const Tensor& y = b.tensors[i].second;
    REQUIRE(x.shape() == y.shape());
    REQUIRE(std::memcmp(x.data(), y.data(), sizeof(float) * static_cast<size_t>(x.numel())) == 0);
  }
}

// metrics.jsonl rows without the wall-clock fields and the memory figures (a process's peak RSS
// varies from run to run, and a resumed stage's peaks cover only the steps after the resume).
std::vector<Json> metrics_rows(const std::string& run) {
  std::ifstream in(run + "/metrics.jsonl");
  std::vector<Json> rows;
  for (std::string line; std::getline(in, line);) {
    Json row = Json::parse(line);
    row.erase("seconds");
    row.erase("stage_seconds");
    row.erase("examples_per_second");
    row.erase("peak_tensor_bytes");
    row.erase("peak_rss_bytes");
    rows.push_back(row);
  }
  return rows;
}

void require_same_run(const std::string& reference, const std::string& resumed) {
  require_same_tensors(reference + "/checkpoints/b.safetensors", resumed + "/checkpoints/b.safetensors");
  require_same_tensors(reference + "/checkpoints/a.safetensors", resumed + "/checkpoints/a.safetensors");
  REQUIRE(metrics_rows(reference) == metrics_rows(resumed));
  Json ref = Json::parse(std::ifstream(reference + "/results.json"));
  Json res = Json::parse(std::ifstream(resumed + "/results.json"));
  REQUIRE(ref["table"] == res["table"]);
}

// Runs `config` with a crash after step `stop`, resumes it, and requires the finished run to
// equal the uninterrupted one in `reference`.
void require_resumes_exactly(const std::string& reference, const Json& config, int64_t stop) {
  INFO("interrupted after step " << stop);
  const std::string run = testing::make_temp_dir("raoq_resume_");
  REQUIRE_THROWS_AS(train_in(run, config, false,
                             [stop](int64_t step) {
                               if (step == stop) throw Interrupted{};
                             }),
                    Interrupted);
  train_in(run, config, true);
  require_same_run(reference, run);
  fs::remove_all(run);
}

}  // namespace

TEST_CASE("train: a run writes its config, metrics, checkpoints and results", "[tools]") {
  const std::string out = testing::make_temp_dir("raoq_run_");
  std::string log;
  const Results r = train_in(out, testing::tiny_config(data_dir(), kCnn), false, {}, &log);
  INFO(log);
  for (const char* f : {"config.json", "metrics.jsonl", "results.json", "results.md", "checkpoints/last.safetensors",
                        "checkpoints/best.safetensors", "checkpoints/a.safetensors", "checkpoints/b.safetensors"})
    CHECK(fs::exists(out + "/" + f));
  // The resolved config has every default and the data-derived model options.
  const Json config = Json::parse(std::ifstream(out + "/config.json"));
  CHECK(config["model"]["in_channels"] == 1);
  CHECK(config["model"]["num_classes"] == 10);
  CHECK(config["stages"][1]["optimizer"]["betas"] == Json{0.9, 0.999});
  CHECK(to_json(parse_config(config, "x")) == config);
  // The results table: one row per stage.
  const Json results = Json::parse(std::ifstream(out + "/results.json"));
  REQUIRE(results["table"].size() == 2);
  CHECK(results["table"][0]["method"] == "a");
  CHECK(results["table"][1]["method"] == "b");
  for (const auto& row : results["table"]) {
    CHECK(row["ba"].is_null());
    CHECK(row["metric"] == "test_accuracy");
    CHECK(row["value"].get<double>() >= 0.0);
    CHECK(row["value"].get<double>() <= 100.0);
  }
  CHECK(r.stages.size() == 2);
  CHECK(r.stages[0].steps == 10);
  CHECK(r.stages[1].steps == 3);
  const std::string md = testing::read_text(out + "/results.md");
  CHECK_THAT(md, Catch::Contains("| a | - | test accuracy (%) |"));
  // metrics.jsonl: a train row every 2 steps, an eval row per epoch, plus a test row per stage.
  const auto rows = metrics_rows(out);
  int train_rows = 0, eval_rows = 0, done_rows = 0;
  for (const auto& row : rows) {
    if (row["kind"] == "train") {
      ++train_rows;
      for (const char* key : {"stage", "epoch", "step", "loss", "lr", "accuracy"}) CHECK(row.contains(key));
    } else if (row["kind"] == "stage_done") {  // what the stage trained and held (results.md's cost table)
      ++done_rows;
      CHECK(row["trainable_parameters"] == 1240);  // (its memory figures are erased by metrics_rows)
    } else {
      ++eval_rows;
      CHECK(row["kind"] == "eval");
      for (const char* key : {"split", "stage", "epoch", "step", "loss", "accuracy"}) CHECK(row.contains(key));
    }
  }
  CHECK(train_rows == kTotalSteps / 2);
  CHECK(eval_rows == 3 + 2);  // validation after each of the 3 epochs, test after each stage
  CHECK(done_rows == 2);
  for (const StageSummary& st : r.stages) CHECK(st.peak_tensor_bytes > 0);
  CHECK(rows.front()["kind"] == "train");
  CHECK(rows.front()["step"] == 2);
}

TEST_CASE("train: a small model learns the synthetic classes", "[tools]") {
  // No augmentation and no BatchNorm (whose running statistics need more than a few dozen steps).
  Json config = testing::tiny_config(data_dir(), {{"name", "mlp"}, {"hidden", {16}}});
  config["data"].erase("augment");
  config["stages"] = Json::array({Json::parse(R"({"name": "fit", "epochs": 8, "batch_size": 8,
      "optimizer": {"name": "adamw", "lr": 0.01}, "schedule": {"name": "constant"}})")});
  const std::string out = testing::make_temp_dir("raoq_fit_");
  const Results r = train_in(out, config, false);
  INFO(Results(r).markdown());
  CHECK(r.table.at(0).value > 80.0);  // chance is 25%
  fs::remove_all(out);
}

TEST_CASE("train: an existing run is protected; resume checks the config", "[tools]") {
  const std::string out = testing::make_temp_dir("raoq_run_");
  const Json config = testing::tiny_config(data_dir(), kCnn);
  train_in(out, config, false);
  REQUIRE_THROWS_WITH(train_in(out, config, false),
                      Catch::Equals("train: '" + out +
                                    "' already holds a run; pass --resume to continue it, --overwrite "
                                    "to start again, or --out DIR for a new directory"));
  Json changed = config;
  changed["stages"][0]["epochs"] = 3;
  REQUIRE_THROWS_WITH(train_in(out, changed, true),
                      Catch::Equals("train: --resume: this config differs from the run's (" + out +
                                    "/config.json) at stages[0].epochs (2 in the run, 3 now); resume with the run's "
                                    "settings (stages may be added after its own), or start a new run with --out DIR"));
  // A stage fewer than the run is a difference too (only stages after the run's own extend it).
  Json fewer = config;
  fewer["stages"].erase(1);
  REQUIRE_THROWS_WITH(train_in(out, fewer, true), Catch::Contains("at stages (2 items in the run, 1 item now)"));
  // Resuming a finished run changes nothing and reports the same results.
  const Json before = Json::parse(std::ifstream(out + "/results.json"));
  std::string log;
  train_in(out, config, true, {}, &log);
  CHECK_THAT(log, Catch::Contains("is already complete"));
  CHECK(Json::parse(std::ifstream(out + "/results.json")) == before);
}

TEST_CASE("train: resuming after an interruption at any step gives bitwise the same run", "[tools]") {
  for (const Json& model : {kCnn, kMlp}) {
    INFO(model.dump());
    const Json config = testing::tiny_config(data_dir(), model);
    const std::string reference = testing::make_temp_dir("raoq_ref_");
    train_in(reference, config, false);
    // Before the first checkpoint (3), mid-epoch, at an epoch's last step (5: the epoch-end
    // checkpoint is lost), right after a checkpoint (6, 12), at the end of a stage (10) and
    // inside the second stage (11).
    for (int64_t stop : {1, 4, 5, 6, 7, 10, 11, 12}) require_resumes_exactly(reference, config, stop);
    fs::remove_all(reference);
  }
}

TEST_CASE("train: max_steps ends a stage inside an epoch, the schedule spans it, and resume stays exact", "[tools]") {
  Json config = testing::tiny_config(data_dir(), kCnn);
  config["stages"][0]["max_steps"] = 7;  // 2 epochs of 5 steps, cut after 2 steps of the second
  const std::string reference = testing::make_temp_dir("raoq_cap_");
  std::string log;
  const Results r = train_in(reference, config, false, {}, &log);
  INFO(log);
  CHECK_THAT(log, Catch::Contains("2 epochs x 5 steps, ending after 7 steps (max_steps)"));
  REQUIRE(r.stages.size() == 2);
  CHECK(r.stages[0].steps == 7);
  CHECK(r.stages[1].steps == 3);
  // The cosine runs over the 7 steps (3 of warm-up: 0.5 epoch of 5 steps, rounded), not over 10.
  const Schedule capped = Schedule::cosine(0.05, 7, 0.0, 3), full = Schedule::cosine(0.05, 10, 0.0, 3);
  bool seen = false;
  int evals_in_a = 0;
  for (const auto& row : metrics_rows(reference)) {
    if (row["stage"] != "a") continue;
    if (row["kind"] == "eval") ++evals_in_a;
    if (row["kind"] != "train" || row["step"] != 6) continue;  // the row logged after stage step 5
    seen = true;
    CHECK(row["lr"].get<double>() == Approx(capped.at(5)).epsilon(1e-12));
    CHECK(capped.at(5) != Approx(full.at(5)));
  }
  CHECK(seen);
  CHECK(evals_in_a == 1 + 1 + 1);  // validation after epoch 1 and after the cut, test at the stage end
  // Interrupted at the cut and just after it, the run resumes to the same result.
  for (int64_t stop : {7, 8}) require_resumes_exactly(reference, config, stop);
  fs::remove_all(reference);
}

TEST_CASE("train: a stop request (Ctrl-C) saves last.safetensors and resumes exactly", "[tools]") {
  const Json config = testing::tiny_config(data_dir(), kCnn);
  const std::string reference = testing::make_temp_dir("raoq_ref_");
  train_in(reference, config, false);
  const std::string run = testing::make_temp_dir("raoq_stopped_");
  std::atomic<bool> stop{false};
  TrainOptions o;
  o.out_dir = run;
  o.threads = 1;
  std::ostringstream text;
  o.out = &text;
  o.stop = &stop;
  o.after_step = [&stop](int64_t step) {
    if (step == 4) stop = true;  // what the SIGINT handler does
  };
  REQUIRE_THROWS_WITH(run_training(parse_config(config, "tiny"), o),
                      Catch::Equals("interrupted at step 4 (stage a, epoch 1); " + run +
                                    "/checkpoints/last.safetensors is saved -- run the same command with --resume to "
                                    "continue"));
  train_in(run, config, true);
  require_same_run(reference, run);
  fs::remove_all(run);
  fs::remove_all(reference);
}

// Run only as the child process of the SIGKILL test below (hidden from normal runs).
TEST_CASE("train: child process killed by SIGKILL mid-run", "[.][raoq_sigkill_child]") {
  const char* out = std::getenv("RAOQ_TEST_KILL_OUT");
  const char* at = std::getenv("RAOQ_TEST_KILL_AT");
  REQUIRE(out != nullptr);
  REQUIRE(at != nullptr);
  const int64_t stop = std::atoll(at);
  train_in(
      out, testing::tiny_config(data_dir(), kCnn), false,
      [stop](int64_t step) {
        if (step == stop) std::raise(SIGKILL);
      },
      nullptr, /*threads=*/2);
  FAIL("the run should have been killed at step " << stop);
}

namespace {

// Runs this test executable again with only the test cases matching `filter`, with `env` added to
// the environment and stdout discarded; returns the wait status.
int run_child(const std::string& filter, const std::vector<std::string>& env) {
  // Everything the child needs is prepared before fork(): between fork and exec only
  // async-signal-safe calls are allowed.
  std::vector<std::string> env_strings = env;
  env_strings.push_back("RAOQ_TEST_DATA_DIR=" + data_dir());
  for (char** e = environ; *e; ++e) env_strings.emplace_back(*e);
  std::vector<char*> envp;
  for (auto& s : env_strings) envp.push_back(s.data());
  envp.push_back(nullptr);
  std::string exe = fs::read_symlink("/proc/self/exe").string(), which = filter;
  std::vector<char*> argv = {exe.data(), which.data(), nullptr};
  const int devnull = ::open("/dev/null", O_WRONLY);
  REQUIRE(devnull >= 0);
  const pid_t pid = ::fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    ::dup2(devnull, STDOUT_FILENO);
    ::execve(exe.c_str(), argv.data(), envp.data());
    ::_exit(127);
  }
  ::close(devnull);
  int status = 0;
  REQUIRE(::waitpid(pid, &status, 0) == pid);
  return status;
}

}  // namespace

TEST_CASE("train: a run killed with SIGKILL resumes to bitwise the same parameters", "[tools]") {
  const Json config = testing::tiny_config(data_dir(), kCnn);
  const std::string reference = testing::make_temp_dir("raoq_ref_");
  train_in(reference, config, false, {}, nullptr, /*threads=*/2);
  const std::string run = testing::make_temp_dir("raoq_killed_");
  const int status = run_child("[raoq_sigkill_child]", {"RAOQ_TEST_KILL_OUT=" + run, "RAOQ_TEST_KILL_AT=8"});
  INFO("child status " << status);
  REQUIRE(WIFSIGNALED(status));
  REQUIRE(WTERMSIG(status) == SIGKILL);
  REQUIRE(fs::exists(run + "/checkpoints/last.safetensors"));
  REQUIRE_FALSE(fs::exists(run + "/results.json"));
  train_in(run, config, true, {}, nullptr, /*threads=*/2);
  require_same_run(reference, run);
  fs::remove_all(run);
  fs::remove_all(reference);
}

// Run only as the child process of the test below, with RAOQ_FAULT_KILL_IN_WRITE set.
TEST_CASE("train: child process killed inside a checkpoint write", "[.][raoq_write_kill_child]") {
  const char* out = std::getenv("RAOQ_TEST_KILL_OUT");
  REQUIRE(out != nullptr);
  REQUIRE(std::getenv("RAOQ_FAULT_KILL_IN_WRITE") != nullptr);
  train_in(out, testing::tiny_config(data_dir(), kCnn), false);
  FAIL("the run should have been killed inside a checkpoint write");
}

TEST_CASE("train: a kill in the middle of a checkpoint write: the previous one loads and --resume continues bit for bit",
          "[tools]") {
  const Json config = testing::tiny_config(data_dir(), kCnn);
  const std::string reference = testing::make_temp_dir("raoq_ref_");
  train_in(reference, config, false);
  // Writes in stage a: last at step 3, then at the end of epoch 1 (step 5) best, then last. The
  // third write is killed halfway: last.safetensors must still be step 3's.
  const std::string run = testing::make_temp_dir("raoq_writekill_");
  const int status = run_child("[raoq_write_kill_child]", {"RAOQ_TEST_KILL_OUT=" + run, "RAOQ_FAULT_KILL_IN_WRITE=3"});
  INFO("child status " << status);
  REQUIRE(WIFSIGNALED(status));
  REQUIRE(WTERMSIG(status) == SIGKILL);
  // The kill came inside the write: its temporary file is there, half written and unreadable.
  std::vector<std::string> partial;
  for (const auto& e : fs::directory_iterator(run + "/checkpoints"))
    if (e.path().filename().string().rfind("last.safetensors.tmp.", 0) == 0) partial.push_back(e.path().string());
  REQUIRE(partial.size() == 1);
  const auto half = fs::file_size(partial[0]);
  CHECK(half > 0);
  CHECK(half < fs::file_size(run + "/checkpoints/last.safetensors"));
  CHECK_THROWS_AS(load_safetensors(partial[0]), Error);
  // The previous checkpoint is whole, and is the one of step 3.
  const Checkpoint previous = read_checkpoint(run + "/checkpoints/last.safetensors");
  CHECK(previous.kind == "train");
  CHECK(previous.state.at("global_step") == 3);
  std::string log;
  train_in(run, config, true, {}, &log);
  CHECK_THAT(log, Catch::Contains("note: removed 1 partial file that an interrupted write left in " + run));
  CHECK_FALSE(fs::exists(partial[0]));
  require_same_run(reference, run);
  for (const char* name : {"last", "best", "a", "b"}) {
    INFO(name);
    const std::string file = std::string("/checkpoints/") + name + ".safetensors";
    CHECK(testing::file_bytes(reference + file) == testing::file_bytes(run + file));
  }
  fs::remove_all(run);
  fs::remove_all(reference);
}

TEST_CASE("train: two identical runs write byte-identical checkpoints; a resumed run too", "[tools]") {
  const Json config = testing::tiny_config(data_dir(), kMlp);
  const std::string first = testing::make_temp_dir("raoq_same1_"), second = testing::make_temp_dir("raoq_same2_");
  train_in(first, config, false);
  train_in(second, config, false);
  const std::string resumed = testing::make_temp_dir("raoq_same3_");
  REQUIRE_THROWS_AS(train_in(resumed, config, false,
                             [](int64_t step) {
                               if (step == 7) throw Interrupted{};
                             }),
                    Interrupted);
  train_in(resumed, config, true);
  for (const char* name : {"last", "best", "a", "b"}) {
    INFO(name);
    const std::string file = std::string("/checkpoints/") + name + ".safetensors";
    const std::vector<char> bytes = testing::file_bytes(first + file);
    REQUIRE(!bytes.empty());
    CHECK(bytes == testing::file_bytes(second + file));
    CHECK(bytes == testing::file_bytes(resumed + file));
  }
  // The clock is not in the checkpoint: the resumed run continues it from the metrics rows its
  // checkpoint had seen, so "seconds" never goes back (a restarted count would).
  std::ifstream in(resumed + "/metrics.jsonl");
  double previous = 0.0;
  int rows = 0;
  for (std::string line; std::getline(in, line); ++rows) {
    const double seconds = Json::parse(line).at("seconds").get<double>();
    CHECK(seconds >= previous);
    previous = seconds;
  }
  CHECK(rows > 0);
  for (const auto& dir : {first, second, resumed}) fs::remove_all(dir);
}

TEST_CASE("train: a training state whose counts are not whole 64-bit numbers is a one-line error", "[tools]") {
  // Found by tests/fuzz/fuzz_checkpoint (corpus/checkpoint/found_step_1e43): a count written as
  // 1e43 reached nlohmann's get<int64_t>, whose double-to-integer cast is undefined out of range.
  TrainState s;
  s.stage = 1, s.global_step = 9, s.metrics_rows = 3;
  const Json good = to_json(s);
  CHECK(train_state_from_json(good).global_step == 9);
  const auto error_with = [&](const std::function<void(Json&)>& edit) {
    Json j = good;
    edit(j);
    try {
      train_state_from_json(j);
    } catch (const Error& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  CHECK(error_with([](Json& j) { j["window_totals"]["steps"] = 1e43; }) ==
        "checkpoint: the training state's step totals: 'steps' must be a whole number, got 1e+43");
  CHECK(error_with([](Json& j) { j["global_step"] = 3.5; }) ==
        "checkpoint: the training state: 'global_step' must be a whole number, got 3.5");
  CHECK(error_with([](Json& j) { j["stage"] = uint64_t{18446744073709551615u}; }) ==
        "checkpoint: the training state: 'stage' must be a whole number, got 18446744073709551615");
  CHECK(error_with([](Json& j) { j["threads"] = 0; }) ==
        "checkpoint: the training state: 'threads' must be a positive int, got 0");
  CHECK(error_with([](Json& j) { j["finished"] = Json::array({{{"name", "a"}, {"kind", "fp"}, {"epochs", 1e30}}}); }) ==
        "stage summary: 'epochs' must be a whole number, got 1e+30");
  CHECK(error_with([](Json& j) { j["rows"] = Json::array({{{"method", "a"}, {"ba", 6.5}}}); }) ==
        "result row: 'ba' must be a whole number, got 6.5");
}

TEST_CASE("train: a non-finite evaluation stops the stage naming stage, step and value; no checkpoint holds it", "[tools]") {
  Json config = testing::tiny_config(data_dir(), kCnn);
  config["stages"][0]["optimizer"]["lr"] = 1e5;
  const std::string out = testing::make_temp_dir("raoq_nonfinite_");
  std::string message;
  try {
    train_in(out, config, false);
  } catch (const Error& e) {
    message = e.what();
  }
  INFO(message);
  // Which check fires first depends on the model: here BatchNorm's running variance overflows
  // while every output stays finite, so the checkpoint guard names it.
  CHECK_THAT(message, Catch::Matches("train: the (validation|test) (loss|accuracy) is (nan|inf|-inf) after step [0-9]+ "
                                     "\\(stage a, epoch [0-9]+\\) -- the model overflowed; .*") ||
                          Catch::Matches("train: the loss became (nan|inf|-inf) at step [0-9]+ \\(stage a, .*") ||
                          Catch::Matches("train: after step [0-9]+ \\(stage a, epoch [0-9]+\\): checkpoint: not writing "
                                         "'.*': '.*' holds (nan|inf|-inf) at element [0-9]+; the previous file is kept -- .*"));
  CHECK(message.find('\n') == std::string::npos);
  CHECK(testing::read_text(out + "/metrics.jsonl").find("null") == std::string::npos);
  for (const auto& entry : fs::directory_iterator(out + "/checkpoints")) {
    INFO(entry.path().string());
    const SafetensorsFile f = load_safetensors(entry.path().string());
    for (const auto& [name, t] : f.tensors) REQUIRE(first_non_finite(t) < 0);
  }
  // With anomaly detection the first op that made the value is named, with the step.
  const std::string again = testing::make_temp_dir("raoq_anomaly_");
  TrainOptions o;
  o.out_dir = again;
  o.threads = 1;
  std::ostringstream text;
  o.out = &text;
  o.detect_anomaly = true;
  CHECK_THROWS_WITH(run_training(parse_config(config, "tiny"), o),
                    Catch::StartsWith("detect-anomaly: ") && Catch::Contains(" at step ") && Catch::Contains("(stage a, epoch "));
  fs::remove_all(out);
  fs::remove_all(again);
}

TEST_CASE("train: an evaluation that overflows after a finite training step stops naming split, stage and step", "[tools]") {
  // One step at lr 1e30: its own loss is finite, the update it makes is not survivable, and the
  // validation right after it sees the overflow before any training step could.
  Json config = testing::tiny_config(data_dir(), kMlp);
  config["stages"] = Json::array({Json::parse(R"({"name": "a", "epochs": 1, "max_steps": 1, "batch_size": 16,
      "optimizer": {"name": "sgd", "lr": 1e30}, "schedule": {"name": "constant"}})")});
  const std::string out = testing::make_temp_dir("raoq_evalnan_");
  CHECK_THROWS_WITH(train_in(out, config, false),
                    Catch::Matches("train: the validation loss is (nan|inf) after step 1 \\(stage a, epoch 1\\) -- the "
                                   "model overflowed; lower optimizer.lr, add schedule.warmup_epochs or set grad_clip "
                                   "\\(--detect-anomaly names the op\\); nothing of this state was checkpointed"));
  CHECK(testing::read_text(out + "/metrics.jsonl").find("null") == std::string::npos);
  CHECK_FALSE(fs::exists(out + "/checkpoints/best.safetensors"));
  const std::string again = testing::make_temp_dir("raoq_evalanomaly_");
  TrainOptions o;
  o.out_dir = again;
  o.threads = 1;
  std::ostringstream text;
  o.out = &text;
  o.detect_anomaly = true;
  CHECK_THROWS_WITH(run_training(parse_config(config, "tiny"), o),
                    Catch::Matches("detect-anomaly: forward: op '[a-z_]+' made (nan|inf|-inf) at element [0-9]+ of its "
                                   "output .* from finite inputs .*, in the validation evaluation after step 1 \\(stage a, "
                                   "epoch 1\\)"));
  fs::remove_all(out);
  fs::remove_all(again);
}
