// tests/tools/test_config.cpp — config validation (exact one-line messages), --set overrides,
// the resolved form and quick mode.
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "core/error.h"
#include "tests/support/testing.h"
#include "tests/tools/tools_testing.h"
#include "tools/pipeline/config.h"

using namespace raoq;
using namespace raoq::tools;
using Catch::Equals;

namespace {

// A complete, valid config; each bad case below changes one thing.
Json base_config() {
  return Json::parse(R"({
    "name": "t",
    "seed": 1,
    "data": {"kind": "idx", "root": "/data/fmnist"},
    "model": {"name": "cnn-small"},
    "stages": [
      {"name": "fp", "kind": "fp", "epochs": 2, "batch_size": 32,
       "optimizer": {"name": "sgd", "lr": 0.1, "momentum": 0.9, "nesterov": true},
       "schedule": {"name": "cosine", "warmup_epochs": 1}},
      {"name": "tune", "epochs": 1,
       "optimizer": {"name": "adamw", "lr": 0.001}}
    ]
  })");
}

// The validation error of the base config (or `j`) with the overrides ("" if valid).
std::string error_for(const std::vector<std::string>& overrides, Json j = base_config()) {
  return testing::config_error(std::move(j), overrides);
}

}  // namespace

TEST_CASE("config: the base config is valid and resolves every default", "[tools]") {
  const Config c = parse_config(base_config(), "default");
  REQUIRE(c.name == "t");
  REQUIRE(c.stages.size() == 2);
  CHECK(c.stages[0].optimizer.nesterov);
  CHECK(c.stages[1].kind == "fp");
  CHECK(c.stages[1].name == "tune");
  CHECK(c.stages[1].batch_size == 128);
  CHECK(c.stages[1].schedule.name == "cosine");
  CHECK(c.stages[1].optimizer.beta2 == 0.999);
  CHECK(c.model["width"] == 32);
  CHECK(c.checkpoint.every_steps == 500);
  // The resolved form parses back to itself.
  const Json resolved = to_json(c);
  REQUIRE(to_json(parse_config(resolved, "other")) == resolved);
  REQUIRE(resolved["stages"][1]["optimizer"] ==
          Json{{"name", "adamw"}, {"lr", 0.001}, {"betas", {0.9, 0.999}}, {"eps", 1e-8}});
  // Without a name the file name is used.
  Json unnamed = base_config();
  unnamed.erase("name");
  REQUIRE(parse_config(unnamed, "fmnist-fp").name == "fmnist-fp");
}

TEST_CASE("config: bad values are one line naming the key path", "[tools]") {
  const std::vector<std::pair<std::vector<std::string>, std::string>> cases = {
      {{"stages[1].optimizer.lr=-0.1"}, "config: stages[1].optimizer.lr must be > 0 (got -0.1)"},
      {{"stages[0].optimizer.lr=\"fast\""}, "config: stages[0].optimizer.lr must be a number (got \"fast\")"},
      {{"stages[0].epochs=0"}, "config: stages[0].epochs must be an integer in [1, 100000] (got 0)"},
      {{"stages[0].epochs=2.5"}, "config: stages[0].epochs must be an integer in [1, 100000] (got 2.5)"},
      {{"stages[0].max_steps=-1"}, "config: stages[0].max_steps must be a non-negative integer (got -1)"},
      {{"stages[0].batch_size=true"}, "config: stages[0].batch_size must be an integer in [1, 1048576] (got true)"},
      {{"stages[0].optimizer.momentum=1"}, "config: stages[0].optimizer.momentum must be in [0, 1) (got 1)"},
      {{"stages[0].optimizer.name=adam"},
       "config: stages[0].optimizer.name must be one of sgd or adamw (got \"adam\"); did you mean \"adamw\"?"},
      {{"stages[0].optimzer={}"}, "config: stages[0].optimzer is not a known key (did you mean stages[0].optimizer?)"},
      {{"stages[0].kind=lora"}, "config: stages[0].kind must be one of fp, qat, adc or sweep (got \"lora\")"},
      {{"stages[0].schedule.name=cosin"},
       "config: stages[0].schedule.name must be one of cosine, linear, step or constant (got \"cosin\"); did you "
       "mean \"cosine\"?"},
      {{"stages[0].schedule.warmup_epochs=3"},
       "config: stages[0].schedule.warmup_epochs must be less than the stage's epochs (2), got 3"},
      {{"stages[0].schedule.warmup_epochs=2"},
       "config: stages[0].schedule.warmup_epochs must be less than the stage's epochs (2), got 2"},
      {{"stages[0].schedule.gamma=0.5"},
       "config: stages[0].schedule.gamma is not a known key (known keys here: name, warmup_epochs, final_lr)"},
      {{"stages[0].schedule.final_lr=0.5"},
       "config: stages[0].schedule.final_lr must be <= stages[0].optimizer.lr (0.1), got 0.5"},
      {{"stages[0].schedule={\"name\":\"step\",\"step_epochs\":0}"},
       "config: stages[0].schedule.step_epochs must be a positive integer (got 0)"},
      {{"stages[0].optimizer.momentum=0"}, "config: stages[0].optimizer.nesterov needs momentum > 0 (got momentum 0)"},
      {{"stages[1].optimizer.betas=[0.9]"}, "config: stages[1].optimizer.betas must be a list of two numbers (got 1)"},
      {{"stages[1].optimizer.betas=[0.9, 1.5]"}, "config: stages[1].optimizer.betas[1] must be in [0, 1) (got 1.5)"},
      {{"stages[0].label_smoothing=1"}, "config: stages[0].label_smoothing must be in [0, 1) (got 1)"},
      {{"stages[0].weight_decay=-1e-4"}, "config: stages[0].weight_decay must be in [0, 1) (got -0.0001)"},
      {{"stages[0].eval.every_epochs=0"}, "config: stages[0].eval.every_epochs must be a positive integer (got 0)"},
      {{"stages[0].no_weight_decay=[\"*.bias\", 3]"},
       "config: stages[0].no_weight_decay must be a list of strings (got [\"*.bias\",3])"},
      {{"stages[1].name=fp"}, "config: stages[1].name \"fp\" is already used by stages[0]"},
      {{"stages[1].name=a/b"},
       "config: stages[1].name must be 1-64 letters, digits, '-' or '_' (it names checkpoint files), got \"a/b\""},
      {{"stages=[]"}, "config: stages must list at least one stage"},
      {{"stages[0]=3"}, "config: stages[0] must be an object (got 3)"},
      {{"seed=-1"}, "config: seed must be a non-negative integer (got -1)"},
      {{"data.kind=mnist"}, "config: data.kind must be one of idx, cifar10, folder or text (got \"mnist\")"},
      {{"data.root=\"\""}, "config: data.root must name a directory (got \"\")"},
      {{"data.normalize={\"mean\":[0.5],\"std\":[0]}"}, "config: data.normalize.std[0] must be > 0 (got 0)"},
      {{"data.normalize={\"mean\":[0.5,0.4],\"std\":[0.2]}"},
       "config: data.normalize.std must have as many values as data.normalize.mean (2), got 1"},
      {{"data.augment.random_crop_padding=-2"},
       "config: data.augment.random_crop_padding must be an integer in [0, 64] (got -2)"},
      {{"data.augment.horizontal_flip=\"yes\""},
       "config: data.augment.horizontal_flip must be true or false (got \"yes\")"},
      {{"data.subset.train=-5"}, "config: data.subset.train must be a non-negative integer (got -5)"},
      {{"data.subset.val=5"}, "config: data.subset.val is not a known key (known keys here: train, test)"},
      {{"data.validation_split=0.5"}, "config: data.validation_split must be in [0, 0.5) (got 0.5)"},
      {{"data.image_size=32"},
       "config: data.image_size is not a known key (known keys here: kind, root, normalize, "
       "augment, subset, validation_split)"},
      {{"data.kind=folder", "data.channels=2"}, "config: data.channels must be 1 (grey) or 3 (RGB) (got 2)"},
      {{"model.name=resnet"},
       "config: model.name must be one of mlp, cnn-small, resnet20, resnet18, mobilenetv2, sequential, gpt, "
       "gpt-tiny, bert or bert-tiny (got "
       "\"resnet\"); did "
       "you mean \"resnet20\"?"},
      {{"model.widht=16"}, "config: model.widht is not a known key (did you mean model.width?)"},
      {{"model.width=0"}, "config: model.width must be an integer in [1, 4096] (got 0)"},
      {{"checkpoint.every_steps=-1"}, "config: checkpoint.every_steps must be a non-negative integer (got -1)"},
      {{"log.every_steps=0"}, "config: log.every_steps must be a positive integer (got 0)"},
      {{"lr=0.1"},
       "config: lr is not a known key (known keys here: name, description, seed, data, model, stages, "
       "checkpoint, log, cost)"},
      {{"stages[*].epochs=0"}, "config: stages[0].epochs must be an integer in [1, 100000] (got 0)"},
  };
  for (const auto& [overrides, expected] : cases) {
    INFO(overrides[0]);
    CHECK_THAT(error_for(overrides), Equals(expected));
  }
  // Missing required keys.
  Json no_data = base_config();
  no_data.erase("data");
  CHECK_THAT(error_for({}, no_data), Equals("config: data is required"));
  Json no_epochs = base_config();
  no_epochs["stages"][0].erase("epochs");
  CHECK_THAT(error_for({}, no_epochs), Equals("config: stages[0].epochs is required"));
  Json no_optimizer = base_config();
  no_optimizer["stages"][1].erase("optimizer");
  CHECK_THAT(error_for({}, no_optimizer), Equals("config: stages[1].optimizer is required"));
  CHECK_THAT(error_for({}, Json::array()), Equals("config: the top level must be an object (got [])"));
}

TEST_CASE("config: --set parses JSON, falls back to a string, and reaches any key", "[tools]") {
  Json j = base_config();
  apply_override(j, "stages[0].optimizer.lr=0.05");
  apply_override(j, "stages.1.epochs=4");
  apply_override(j, "data.root=/other/place");
  apply_override(j, "model.width=16");
  apply_override(j, "stages[*].batch_size=64");
  apply_override(j, "stages[0].schedule={\"name\": \"step\", \"step_epochs\": 1, \"gamma\": 0.5}");
  apply_override(j, "data.augment.horizontal_flip=true");
  const Config c = parse_config(j, "x");
  CHECK(c.stages[0].optimizer.lr == 0.05);
  CHECK(c.stages[1].epochs == 4);
  CHECK(c.data.root == "/other/place");
  CHECK(c.model["width"] == 16);
  CHECK(c.stages[0].batch_size == 64);
  CHECK(c.stages[1].batch_size == 64);
  CHECK(c.stages[0].schedule.name == "step");
  CHECK(c.stages[0].schedule.gamma == 0.5);
  CHECK(c.data.augment.horizontal_flip);
  // Malformed overrides are one line too.
  auto set_error = [](const std::string& o) {
    Json k = base_config();
    try {
      apply_override(k, o);
    } catch (const Error& e) {
      return std::string(e.what());
    }
    return std::string();
  };
  CHECK_THAT(set_error("stages[0].epochs"),
             Equals("--set stages[0].epochs: expected key.path=value (e.g. stages[0].optimizer.lr=0.05)"));
  CHECK_THAT(set_error("stages[5].epochs=1"),
             Equals("--set stages[5].epochs=1: stages has 2 items (indices start at 0)"));
  CHECK_THAT(set_error("seed.x=1"), Equals("--set seed.x=1: seed is 1, not an object with keys"));
  CHECK_THAT(set_error("data[0]=1"), Equals("--set data[0]=1: data is not a list"));
  CHECK_THAT(set_error("stages.99999999999999999999.epochs=1"),  // found by fuzzing: std::stoll threw
             Equals("--set stages.99999999999999999999.epochs=1: list index '99999999999999999999' is too large "
                    "(expected e.g. stages[0].optimizer.lr=0.05)"));
  CHECK_THAT(set_error("stages[x].epochs=1"),
             Equals("--set stages[x].epochs=1: list index 'x' must be a number or * (expected e.g. "
                    "stages[0].optimizer.lr=0.05)"));
  // A key that does not exist is created, then rejected by validation like one in the file.
  CHECK_THAT(error_for({"stages[0].optimizer.lrr=0.1"}),
             Equals("config: stages[0].optimizer.lrr is not a known key (did you mean stages[0].optimizer.lr?)"));
}

TEST_CASE("config: quick mode shrinks every stage to one epoch on a subset", "[tools]") {
  Config c = parse_config(base_config(), "x");
  make_quick(c);
  CHECK(c.data.train_subset == 4096);
  CHECK(c.data.test_subset == 1000);
  for (const auto& s : c.stages) {
    CHECK(s.epochs == 1);
    CHECK(s.schedule.warmup_epochs <= 0.25);
  }
  CHECK(c.log.every_steps <= 4);
  // A subset already smaller than the quick one is kept.
  Json small = base_config();
  apply_override(small, "data.subset.train=100");
  Config d = parse_config(small, "x");
  make_quick(d);
  CHECK(d.data.train_subset == 100);
}

TEST_CASE("config: unreadable and malformed files name the file", "[tools]") {
  CHECK_THROWS_WITH(load_config("/nonexistent/x.json", {}),
                    Equals("config: cannot open '/nonexistent/x.json' (No such file or directory)"));
  const std::string path = "raoq_test_config_malformed.json";
  {
    std::ofstream out(path);
    out << "{\n  \"seed\": 1,\n}\n";
  }
  CHECK_THROWS_WITH(load_config(path, {}),
                    Catch::StartsWith("config: '" + path + "' is not valid JSON: at line 3, column 1"));
  std::remove(path.c_str());
}

TEST_CASE("config: the fuzzing reproducers and other unholdable values are one line naming the file and key", "[tools]") {
  // This file is tests/tools/<name>.cpp; the reproducers sit in tests/data/hostile/.
  const auto hostile = std::filesystem::path(__FILE__).parent_path().parent_path() / "data" / "hostile";
  const std::string lr = (hostile / "config_lr1e400.json").string();
  CHECK_THROWS_WITH(load_config(lr, {}),
                    Equals("config: '" + lr +
                           "': stages[0].optimizer.lr: the number 1e400 does not fit a double (at most about 1.8e308 in "
                           "magnitude)"));
  // config_utf8_min.bin is a config-harness input: the config JSON, a NUL, then --set overrides.
  const std::string raw = testing::read_text((hostile / "config_utf8_min.bin").string());
  const size_t nul = raw.find('\0');
  REQUIRE(nul != std::string::npos);
  Json j = Json::parse(raw.substr(0, nul));
  CHECK_THROWS_WITH(apply_override(j, raw.substr(nul + 1)),
                    Equals("--set data=\\xff: byte 0xff at position 5 is not valid UTF-8, expected UTF-8 text (config "
                           "keys and values are JSON strings)"));
  Json k = base_config();
  CHECK_THROWS_WITH(apply_override(k, "stages[0].name=a\xff"), Catch::Contains("--set stages[0].name=a\\xff: byte 0xff at position 16"));
  CHECK_THROWS_WITH(apply_override(k, "stages[0].optimizer.lr=-1e999"),
                    Equals("--set stages[0].optimizer.lr=-1e999: the number -1e999 does not fit a double (at most about "
                           "1.8e308 in magnitude)"));
  CHECK_THROWS_WITH(apply_override(k, "model=" + std::string(80, '[') + std::string(80, ']')),
                    Catch::Contains("nests deeper than 64 levels"));
  // A key from the file is shown escaped, on one line (found by tests/fuzz/fuzz_metrics).
  CHECK_THROWS_WITH(parse_json("{\"a\\nb\": [1, 1e400]}", "x"),
                    Equals("x: a\\nb[1]: the number 1e400 does not fit a double (at most about 1.8e308 in magnitude)"));
  // Text that is not JSON at all is still a plain string.
  apply_override(k, "data.root=/data/{fmnist");
  CHECK(k["data"]["root"] == "/data/{fmnist");
}

TEST_CASE("config: a run directory stands for its config.json; a directory without one is named as such", "[tools]") {
  const std::string run = testing::make_temp_dir("raoq_cfgdir_");
  CHECK_THROWS_WITH(load_config(run, {}), Equals("config: '" + run +
                                                 "' is a directory without a config.json, expected a config file or a "
                                                 "run directory"));
  std::ofstream(run + "/config.json") << base_config().dump(2);
  const Config c = load_config(run, {"seed=5"});
  CHECK(c.name == "t");
  CHECK(c.seed == 5);
  CHECK(config_file_of(run) == run + "/config.json");
  std::filesystem::remove_all(run);
}
