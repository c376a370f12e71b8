// tests/tools/test_cli.cpp — the raoq command line: help texts, argument errors (one line each),
// and train / eval / models driven through run_command_line as the executable would.
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <csignal>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "core/error.h"
#include "tests/support/testing.h"
#include "tests/tools/tools_testing.h"
#include "tools/cli.h"

using namespace raoq;
using namespace raoq::tools;
using Catch::Contains;
using Catch::Equals;

namespace {

std::string run_ok(const std::vector<std::string>& args) {
  std::ostringstream out;
  const int status = run_command_line(args, out);
  INFO(out.str());
  REQUIRE(status == 0);
  return out.str();
}

std::string error_of(const std::vector<std::string>& args) {
  std::ostringstream out;
  try {
    run_command_line(args, out);
  } catch (const Error& e) {
    return e.what();
  }
  return "(no error)";
}

std::string write_config(const std::string& dir, const Json& config) {
  const std::string path = dir + "/tiny.json";
  std::ofstream(path) << config.dump(2);
  return path;
}

}  // namespace

TEST_CASE("cli: help for every command and topic", "[tools]") {
  const std::string main_help = run_ok({"--help"});
  CHECK_THAT(main_help, Contains("usage: raoq <command> [options]") && Contains("train CONFIG.json") &&
                            Contains("raoq train configs/fmnist-fp.json --quick"));
  CHECK(run_ok({"help"}) == main_help);
  const std::string train = run_ok({"train", "--help"});
  for (const char* s : {"--out DIR", "--set KEY=VALUE", "--resume", "--quick", "--threads N", "--detect-anomaly", "metrics.jsonl",
                        "results.json", "raoq help config"})
    CHECK_THAT(train, Contains(s));
  CHECK(run_ok({"help", "train"}) == train);
  CHECK_THAT(run_ok({"eval", "-h"}), Contains("usage: raoq eval RUN_DIR [--checkpoint FILE]") &&
                                         Contains("raoq eval CONFIG.json --checkpoint FILE"));
  CHECK_THAT(run_ok({"models", "--help"}), Contains("usage: raoq models [NAME]"));
  const std::string reference = run_ok({"help", "config"});
  for (const char* s : {"stages", "optimizer.name", "warmup_epochs", "label_smoothing", "checkpoint.every_steps",
                        "resnet20", "width_mult"})
    CHECK_THAT(reference, Contains(s));
  // No line of the option tables is wider than 100 columns.
  std::istringstream lines(train);
  for (std::string line; std::getline(lines, line);) CHECK(line.size() <= 100);
  std::ostringstream out;
  CHECK(run_command_line({}, out) == 2);  // bare `raoq`: help, and a failing status
  CHECK_THAT(out.str(), Contains("usage: raoq"));
}

TEST_CASE("cli: bad command lines are one-line errors", "[tools]") {
  CHECK_THAT(error_of({"trian", "x.json"}),
             Equals("unknown command 'trian' (did you mean train?); run raoq --help for the commands"));
  CHECK_THAT(error_of({"train"}), Equals("train: missing CONFIG.json (usage: raoq train CONFIG.json [options])"));
  CHECK_THAT(error_of({"train", "a.json", "b.json"}),
             Equals("train: unexpected argument 'b.json' (usage: raoq train CONFIG.json [options])"));
  CHECK_THAT(error_of({"train", "a.json", "--otu", "x"}),
             Equals("train: unknown option --otu (did you mean --out?); see raoq train --help"));
  CHECK_THAT(error_of({"train", "a.json", "--out"}), Equals("train: --out needs a value (DIR)"));
  CHECK_THAT(error_of({"train", "a.json", "--threads", "two"}),
             Equals("train: --threads must be a positive integer (got 'two')"));
  CHECK_THAT(error_of({"train", "a.json", "--threads=0"}),
             Equals("train: --threads must be a positive integer (got '0')"));
  CHECK_THAT(error_of({"train", "a.json", "--quick=yes"}), Equals("train: --quick takes no value (got '--quick=yes')"));
  CHECK_THAT(error_of({"train", "a.json", "--out", "a", "--out", "b"}), Equals("train: --out given twice"));
  CHECK_THAT(error_of({"train", "a.json", "--resume", "--overwrite"}),
             Equals("train: --resume and --overwrite contradict each other; choose one"));
  CHECK_THAT(error_of({"train", "/nonexistent/a.json"}),
             Equals("config: cannot open '/nonexistent/a.json' (No such file or directory)"));
  CHECK_THAT(error_of({"eval", "a.json"}),
             Equals("eval: missing --checkpoint FILE (e.g. runs/<config name>/checkpoints/best.safetensors), or pass "
                    "the run directory instead of the config"));
  CHECK_THAT(error_of({"models", "resnet21"}), Equals("model: name must be one of mlp, cnn-small, resnet20, resnet18, "
                                                      "mobilenetv2, sequential, gpt, gpt-tiny, bert or bert-tiny (got \"resnet21\"); "
                                                      "did you mean \"resnet20\"?"));
  CHECK_THAT(error_of({"models", "--set", "width=2"}), Equals("models: --set needs a model NAME"));
  CHECK_THAT(error_of({"help", "trainn"}),
             Equals("help: no help on 'trainn' (topics: train, eval, inspect, report, sweep, export, run-export, generate, "
                    "bench, models, config, import-torch, export-torch, gradcheck, step)"));
  CHECK_THAT(error_of({"bench", "--steps", "0"}), Equals("bench: --steps must be a positive integer (got '0')"));
  CHECK_THAT(error_of({"bench", "--fast"}), Equals("bench: unknown argument '--fast' (see --help)"));
  // Each command's help is also a topic of raoq help.
  for (const char* topic : {"inspect", "report", "sweep", "export", "run-export", "generate"}) {
    INFO(topic);
    std::ostringstream out;
    CHECK(run_command_line({"help", topic}, out) == 0);
    CHECK_THAT(out.str(), Catch::StartsWith(std::string("usage: raoq ") + topic));
  }
}

TEST_CASE("cli: config errors surface before any work, naming the key", "[tools]") {
  const std::string dir = testing::make_temp_dir("raoq_cli_");
  const std::string data = dir + "/data";
  std::filesystem::create_directories(data);
  testing::write_synthetic_idx(data, 48, 20, 8, 4, 5);
  const std::string config = write_config(dir, testing::tiny_config(data, {{"name", "mlp"}, {"hidden", {8}}}));
  CHECK_THAT(error_of({"train", config, "--out", dir + "/run", "--set", "stages[1].optimizer.lr=-0.1"}),
             Equals("config: stages[1].optimizer.lr must be > 0 (got -0.1)"));
  CHECK_THAT(error_of({"train", config, "--out", dir + "/run", "--set", "stages[0].optimizer.nesterov=maybe"}),
             Equals("config: stages[0].optimizer.nesterov must be true or false (got \"maybe\")"));
  CHECK_FALSE(std::filesystem::exists(dir + "/run"));  // nothing was created
  // --print-config shows the resolved config (with the override) and trains nothing.
  const Json printed = Json::parse(run_ok({"train", config, "--print-config", "--set", "stages[0].epochs=5"}));
  CHECK(printed["stages"][0]["epochs"] == 5);
  CHECK(printed["stages"][1]["optimizer"]["eps"] == 1e-8);
  std::filesystem::remove_all(dir);
}

TEST_CASE("cli: train --quick, then eval the checkpoints it wrote", "[tools]") {
  const std::string dir = testing::make_temp_dir("raoq_cli_");
  const std::string data = dir + "/data";
  std::filesystem::create_directories(data);
  testing::write_synthetic_idx(data, 64, 30, 8, 4, 9);
  const std::string config = write_config(dir, testing::tiny_config(data, {{"name", "cnn-small"}, {"width", 2}}));
  const std::string run = dir + "/run";
  const std::string log = run_ok({"train", config, "--quick", "--out", run, "--threads", "1"});
  CHECK_THAT(log, Contains("raoq train: tiny (quick)") && Contains("results: " + run + "/results.md") &&
                      Contains("| method | ADC bits | metric | value |"));
  const Json results = Json::parse(std::ifstream(run + "/results.json"));
  REQUIRE(results["table"].size() == 2);
  const Json config_used = Json::parse(std::ifstream(run + "/config.json"));
  CHECK(config_used["stages"][0]["epochs"] == 1);  // quick
  // eval on the final stage's checkpoint reproduces the accuracy the run reported.
  const std::string eval = run_ok({"eval", run + "/config.json", "--checkpoint", run + "/checkpoints/b.safetensors"});
  char expected[64];
  std::snprintf(expected, sizeof expected, "accuracy %.2f%%", results["table"][1]["value"].get<double>());
  CHECK_THAT(eval, Contains(expected) && Contains("(stage b)"));
  // A checkpoint of another model is refused with the first difference named.
  CHECK_THAT(error_of({"eval", config, "--set", "model.width=4", "--checkpoint", run + "/checkpoints/b.safetensors"}),
             Equals("eval: the checkpoint's model differs from the config's at model.width (2 in the checkpoint, 4 in "
                    "the config); evaluate it with the config.json of its run directory"));
  CHECK_THAT(error_of({"eval", config, "--checkpoint", run + "/nothing.safetensors"}), Contains("nothing.safetensors"));
  // The run directory stands for its config: eval takes its last finished stage, train guards
  // it (and --resume finds it finished).
  CHECK_THAT(run_ok({"eval", run}), Contains(expected) && Contains("checkpoint: " + run + "/checkpoints/b.safetensors (stage b)"));
  CHECK_THAT(error_of({"train", run}), Equals("train: '" + run + "' already holds a run; pass --resume to continue it, "
                                              "--overwrite to start again, or --out DIR for a new directory"));
  CHECK_THAT(run_ok({"train", run, "--resume", "--quick", "--threads", "1"}), Contains(run + " is already complete"));
  // A directory where a file is expected, and the reverse, are named as such.
  CHECK_THAT(error_of({"eval", run, "--checkpoint", run}),
             Equals("checkpoint '" + run + "' is a directory, expected a checkpoint file (a run's "
                    "checkpoints/<stage>.safetensors, best.safetensors or last.safetensors)"));
  CHECK_THAT(error_of({"eval", dir + "/data"}), Equals("config: '" + dir + "/data' is a directory without a config.json, "
                                                       "expected a config file or a run directory"));
  CHECK_THAT(error_of({"inspect", dir + "/data"}), Equals("config: '" + dir + "/data' is a directory without a config.json, "
                                                          "expected a config file or a run directory"));
  CHECK_THAT(error_of({"train", config, "--out", config}),
             Equals("train: --out '" + config + "' is a file, expected a directory (the run directory to write)"));
  CHECK_THAT(error_of({"train", config, "--out", dir + "/other", "--set", "data.root=" + config}),
             Equals("config: data.root '" + config + "' is a file, expected a directory holding the four MNIST-format "
                    "files (train-images-idx3-ubyte[.gz], ...)"));
  CHECK_THAT(error_of({"generate", config, "--prompt", "a"}),
             Equals("generate: '" + config + "' is a file, expected a run directory (what raoq train wrote; name a "
                    "checkpoint with --checkpoint)"));
  CHECK_THAT(error_of({"inspect", run + "/checkpoints/b.safetensors", "--png", config}),
             Contains("inspect: ") && Contains("' is a file, expected a directory for the histograms"));
  std::filesystem::remove_all(dir);
}

TEST_CASE("cli: models lists the builders and prints one with its shapes", "[tools]") {
  const std::string list = run_ok({"models"});
  for (const char* name : {"mlp", "cnn-small", "resnet20", "resnet18", "mobilenetv2"}) CHECK_THAT(list, Contains(name));
  const std::string one = run_ok({"models", "resnet20", "--set", "width=4"});
  CHECK_THAT(one, Contains("layer3.2.conv2") && Contains("[1, 16, 8, 8]") && Contains("(output)") &&
                      Contains("[1, 10]") && Contains("total:"));
  CHECK_THAT(error_of({"models", "resnet20", "--set", "width=0"}),
             Equals("model: width must be an integer in [1, 4096] (got 0)"));
}

TEST_CASE("cli: the raoq executable prints one error line on stderr and fails", "[tools]") {
  // build/tests/test_tools -> build/tools/raoq (built by the default target, as ctest runs it).
  const auto exe = std::filesystem::read_symlink("/proc/self/exe").parent_path().parent_path() / "tools" / "raoq";
  if (!std::filesystem::exists(exe)) {
    WARN("not checked: " << exe.string() << " is not built");
    return;
  }
  const std::string dir = testing::make_temp_dir("raoq_exe_");
  auto run = [&](const std::string& args, int* status) {
    const std::string command = exe.string() + " " + args + " 2>" + dir + "/err >" + dir + "/out";
    *status = std::system(command.c_str());
    return testing::read_text(dir + "/err");
  };
  int status = 0;
  CHECK(run("trian", &status) ==
        "raoq: unknown command 'trian' (did you mean train?); run raoq --help for the commands\n");
  CHECK((WIFEXITED(status) && WEXITSTATUS(status) == 1));
  CHECK(run("train " + dir + "/missing.json", &status) ==
        "raoq: config: cannot open '" + dir + "/missing.json' (No such file or directory)\n");
  CHECK((WIFEXITED(status) && WEXITSTATUS(status) == 1));
  CHECK(run("--help", &status).empty());
  CHECK((WIFEXITED(status) && WEXITSTATUS(status) == 0));
  CHECK_THAT(testing::read_text(dir + "/out"), Contains("usage: raoq <command>"));
  std::filesystem::remove_all(dir);
}

TEST_CASE("cli: a signal during set-up stops the raoq executable at once, with one line", "[tools]") {
  const auto exe = std::filesystem::read_symlink("/proc/self/exe").parent_path().parent_path() / "tools" / "raoq";
  if (!std::filesystem::exists(exe)) {
    WARN("not checked: " << exe.string() << " is not built");
    return;
  }
  // The test images are a FIFO: the dataset scan blocks reading it, as it would on a slow or
  // endless file, until the signal comes.
  const std::string dir = testing::make_temp_dir("raoq_sig_");
  const std::string data = dir + "/data";
  std::filesystem::create_directories(data);
  testing::write_synthetic_idx(data, 48, 20, 8, 4, 5);
  const std::string fifo = data + "/t10k-images-idx3-ubyte";
  std::filesystem::remove(fifo);
  REQUIRE(::mkfifo(fifo.c_str(), 0600) == 0);
  const std::string config = write_config(dir, testing::tiny_config(data, {{"name", "mlp"}, {"hidden", {8}}}));
  std::string exe_path = exe.string(), train = "train", out = "--out", run = dir + "/run";
  std::vector<char*> argv = {exe_path.data(), train.data(), const_cast<char*>(config.c_str()), out.data(), run.data(), nullptr};
  const std::string err_path = dir + "/err";
  const int err = ::open(err_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600), devnull = ::open("/dev/null", O_WRONLY);
  REQUIRE(err >= 0);
  REQUIRE(devnull >= 0);
  const pid_t pid = ::fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    ::dup2(devnull, STDOUT_FILENO);
    ::dup2(err, STDERR_FILENO);
    ::execv(exe_path.c_str(), argv.data());
    ::_exit(127);
  }
  ::close(err);
  ::close(devnull);
  // Opening the FIFO for writing returns once the child has opened it for reading: it is then
  // inside the dataset scan.
  const int writer = ::open(fifo.c_str(), O_WRONLY);
  REQUIRE(writer >= 0);
  REQUIRE(::kill(pid, SIGTERM) == 0);
  int status = 0;
  pid_t done = 0;
  for (int i = 0; i < 600 && done == 0; ++i) {  // a guard against a hang, not a timing check
    done = ::waitpid(pid, &status, WNOHANG);
    if (done == 0) ::usleep(100000);
  }
  if (done == 0) {
    ::kill(pid, SIGKILL);
    ::waitpid(pid, &status, 0);
    FAIL("raoq train ignored SIGTERM during set-up");
  }
  ::close(writer);
  INFO("status " << status);
  CHECK((WIFEXITED(status) && WEXITSTATUS(status) == 128 + SIGTERM));
  CHECK(testing::read_text(err_path) ==
        "raoq: interrupted (SIGTERM) during set-up, before the first training step; nothing to save\n");
  CHECK_FALSE(std::filesystem::exists(run + "/checkpoints/last.safetensors"));
  std::filesystem::remove_all(dir);
}
