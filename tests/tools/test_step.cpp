// tests/tools/test_step.cpp — `raoq step --dump` on a tiny config (one conv on a 16-row array at
// ba 6, RAOQ with BitAug) and on the run it trains: the files exist and hold the expected names,
// and a paused run's step is the one training takes (its optimizer state, its global step's ba~).
#include <cmath>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "core/error.h"
#include "core/safetensors.h"
#include "tests/support/testing.h"
#include "tests/tools/tools_testing.h"
#include "tools/cli.h"

using namespace raoq;
using Catch::Contains;
namespace fs = std::filesystem;

namespace {
// conv 0 (1 -> 4) stays off the arrays (first layer), conv 2 (4 -> 4, K = 36: three tiles of 16
// rows) goes on them, linear 5 (last layer) stays off.
Json step_config() {
  Json c = Json::parse(R"({
    "name": "tinystep", "seed": 5,
    "data": {"kind": "idx", "normalize": {"mean": [0.4], "std": [0.3]}},
    "model": {"name": "sequential", "input_shape": [1, 8, 8], "layers": [
      {"type": "conv2d", "in": 1, "out": 4, "kernel": 3, "padding": 1}, {"type": "relu"},
      {"type": "conv2d", "in": 4, "out": 4, "kernel": 3, "padding": 1}, {"type": "relu"},
      {"type": "flatten"}, {"type": "linear", "in": 256, "out": 4}]},
    "stages": [
      {"name": "fp", "epochs": 1, "max_steps": 2, "batch_size": 8, "optimizer": {"name": "sgd", "lr": 0.05}},
      {"name": "adc", "kind": "adc", "method": "raoq", "epochs": 1, "max_steps": 3, "batch_size": 8,
       "optimizer": {"name": "sgd", "lr": 0.01}, "schedule": {"name": "cosine"}, "adc": {"ba": 6, "rows": 16}}
    ],
    "checkpoint": {"every_steps": 1}, "log": {"every_steps": 1}
  })");
  c["data"]["root"] = testing::synthetic_idx_dir("raoq_step_idx_", 32, 16, 8, 4, 9);
  return c;
}

std::string run(const std::vector<std::string>& args) {
  std::ostringstream out;
  const int status = tools::run_command_line(args, out);
  INFO(out.str());
  REQUIRE(status == 0);
  return out.str();
}

void require_dump(const std::string& dir) {
  for (const char* f : {"step.safetensors", "graph.dot", "walkthrough.txt"}) {
    INFO(f);
    REQUIRE(fs::exists(dir + "/" + f));
  }
  const SafetensorsFile st = load_safetensors(dir + "/step.safetensors");
  for (const char* name : {"input", "loss", "act.2:out", "act.2:out.grad", "param.2.weight", "grad.2.weight",
                           "grad_at_ba.2.weight", "update.2.weight", "param.2.act_quant.scale", "grad.2.act_quant.scale",
                           "param.2.weight_quant.scale", "adc.2.D", "adc.2.ba", "grad.5.weight"}) {
    INFO(name);
    CHECK(st.contains(name));
  }
  CHECK(st.at("adc.2.ba").item() == 6.0f);
  // Eq. 3: D = 2 M xr (2^(bw-1) - 1) / (2^ba k) = 2*16*7*7/(64*4) = 6.125 (signed inputs, bx = bw = 4).
  CHECK(st.at("adc.2.D").item() == Approx(6.125));
  bool adc_product = false;
  for (const auto& [name, t] : st.tensors) adc_product = adc_product || name.find(".array_product") != std::string::npos;
  CHECK(adc_product);
  REQUIRE(st.metadata.count("raoq.step"));
  const Json meta = Json::parse(st.metadata.at("raoq.step"));
  CHECK(meta.at("stage") == "adc");
  const std::string walk = testing::read_text(dir + "/walkthrough.txt");
  CHECK_THAT(walk, Contains("array_product") && Contains("lsq_codes") && Contains("saved: {") &&
                       Contains("grad l2") && Contains("2: rows 16, bx 4, bw 4, ba 6, k 4, signed inputs, D = 6.125"));
  // The hand-computed tiles of one output element: the digital sum of D * yq_t equals the op's value.
  CHECK_THAT(walk, Contains("K = 36 in 3 row tile(s) of 16") && Contains("ADC code yq = "));
  const size_t at = walk.find("sum of D * yq = ");
  REQUIRE(at != std::string::npos);
  const std::string line = walk.substr(at, walk.find('\n', at) - at);
  const size_t there = line.find("value there: ");
  REQUIRE(there != std::string::npos);
  CHECK(std::stod(line.substr(16)) == Approx(std::stod(line.substr(there + 13))));
  CHECK_THAT(testing::read_text(dir + "/graph.dot"), Contains("digraph raoq") && Contains("array_product"));
}
}  // namespace

TEST_CASE("step: --dump of an adc stage of a config at step 2", "[tools]") {
  const std::string dir = testing::make_temp_dir("raoq_step_");
  const std::string config = dir + "/tinystep.json";
  std::ofstream(config) << step_config().dump(2);
  const std::string text = run({"step", config, "--stage", "adc", "--step", "2", "--dump", dir + "/dump", "--threads", "1"});
  CHECK_THAT(text, Contains("stage adc (kind adc), stage step 2 of 3 (global step 4)") && Contains("BitAug lambda_b 0.000000"));
  require_dump(dir + "/dump");
  const Json meta = Json::parse(load_safetensors(dir + "/dump/step.safetensors").metadata.at("raoq.step"));
  CHECK(meta.at("stage_step") == 2);
  CHECK(meta.at("global_step") == 4);  // after fp's 2 steps
  CHECK(meta.at("optimizer_state") == "empty");
  CHECK(meta.contains("bitaug_ba"));
  CHECK(meta.contains("lr"));
  CHECK(meta.at("bitaug_lambda").get<double>() == Approx(0.0).margin(1e-12));

  // Errors are one line naming the problem.
  std::ostringstream o;
  CHECK_THROWS_WITH(tools::run_command_line({"step", config, "--stage", "qat", "--dump", dir + "/x"}, o),
                    Contains("no stage 'qat'") && Contains("stages: fp, adc"));
  CHECK_THROWS_WITH(tools::run_command_line({"step", config, "--stage", "adc", "--step", "3", "--dump", dir + "/x"}, o),
                    Contains("--step 3 is beyond stage adc, which has 3 steps"));
  CHECK_THROWS_WITH(tools::run_command_line({"step", config}, o), Contains("missing --dump DIR"));
  CHECK_THROWS_WITH(tools::run_command_line({"step", config, "--step", "-1", "--dump", dir + "/x"}, o),
                    Contains("--step must be a whole number"));
  CHECK_THAT(run({"help", "step"}), Contains("usage: raoq step") && Contains("walkthrough.txt"));
  fs::remove_all(dir);
}

TEST_CASE("step: --dump of a trained run's last stage, from its checkpoint", "[tools]") {
  const std::string dir = testing::make_temp_dir("raoq_step_run_");
  testing::train_run(dir + "/run", step_config(), "tinystep", false);
  const std::string text = run({"step", dir + "/run", "--dump", dir + "/dump", "--threads", "1"});
  CHECK_THAT(text, Contains("stage adc") && Contains("adc.safetensors (the stage's finished model)"));
  require_dump(dir + "/dump");
  fs::remove_all(dir);
}

TEST_CASE("step: --dump of a paused run resumes its optimizer and draws ba~ at the global step", "[tools]") {
  // fp takes global steps 0-1, adc 2-4 (SGD, momentum 0.9 by default; BitAug). Run `paused` stops
  // after global step 3 (adc stage step 1 done), `next` after global step 4: the dump of `paused`
  // runs adc stage step 1 (global step 3), so its parameters plus its update must be the weights
  // `next` saved after that very step.
  const std::string dir = testing::make_temp_dir("raoq_step_paused_");
  const auto stop_after = [](int64_t last) {
    return [last](int64_t global_step) {
      if (global_step == last) throw std::runtime_error("stopped for the test");
    };
  };
  CHECK_THROWS(testing::train_run(dir + "/paused", step_config(), "tinystep", false, stop_after(3)));
  CHECK_THROWS(testing::train_run(dir + "/next", step_config(), "tinystep", false, stop_after(4)));
  const std::string text = run({"step", dir + "/paused", "--dump", dir + "/dump", "--threads", "1"});
  CHECK_THAT(text, Contains("stage adc (kind adc), stage step 1 of 3 (global step 3)") && Contains(" at ba~ ") &&
                       Contains("optimizer state: resumed from " + dir + "/paused"));
  require_dump(dir + "/dump");
  const SafetensorsFile st = load_safetensors(dir + "/dump/step.safetensors");
  const Json meta = Json::parse(st.metadata.at("raoq.step"));
  CHECK(meta.at("stage_step") == 1);
  CHECK(meta.at("global_step") == 3);
  CHECK(meta.at("optimizer_state") == "resumed");
  REQUIRE(meta.contains("bitaug_ba"));
  const int ba = meta.at("bitaug_ba").get<int>();
  CHECK((ba >= 1 && ba != 6));  // ba~ is ba plus a non-zero offset
  CHECK_THAT(testing::read_text(dir + "/dump/walkthrough.txt"), Contains("at ba~ " + std::to_string(ba)));

  const SafetensorsFile next = load_safetensors(dir + "/next/checkpoints/last.safetensors");
  int compared = 0;
  bool momentum_shows = false;  // some update is not -lr * grad: the resumed momentum took part
  const double lr = meta.at("lr").get<double>();
  for (const auto& [name, t] : st.tensors) {
    if (name.rfind("param.", 0) != 0) continue;
    const std::string p = name.substr(6);
    INFO(p);
    REQUIRE(next.contains("model." + p));
    const auto before = t.to_vector(), after = next.at("model." + p).to_vector(), update = st.at("update." + p).to_vector();
    REQUIRE(after.size() == before.size());
    for (size_t i = 0; i < before.size(); ++i) CHECK(before[i] + update[i] == Approx(after[i]).epsilon(1e-5).margin(1e-6));
    if (st.contains("grad." + p)) {
      const auto g = st.at("grad." + p).to_vector();
      for (size_t i = 0; i < g.size(); ++i) momentum_shows = momentum_shows || std::fabs(update[i] + lr * g[i]) > 1e-5;
    }
    ++compared;
  }
  CHECK(compared > 5);
  CHECK(momentum_shows);
  fs::remove_all(dir);
}
