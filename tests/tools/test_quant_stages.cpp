// tests/tools/test_quant_stages.cpp — the qat and adc stage kinds: key validation (one line naming
// the key path), the model conversion each stage makes, BitAug's schedule and draws, and a tiny
// fp -> qat -> adc run on synthetic data (both methods, init_from, resume inside the adc stage).
#include <cstring>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

#include "core/error.h"
#include "core/ops.h"
#include "imc/bitaug.h"
#include "imc/imc_model.h"
#include "models/registry.h"
#include "tests/support/testing.h"
#include "tests/tools/tools_testing.h"
#include "tools/pipeline/checkpoint.h"
#include "tools/cmd_inspect.h"
#include "tools/commands.h"
#include "tools/pipeline/config.h"
#include "tools/pipeline/stage_kind.h"
#include "tools/pipeline/trainer.h"

using namespace raoq;
using namespace raoq::tools;
using Catch::Equals;
namespace fs = std::filesystem;

namespace {

Json base_config() {
  return Json::parse(R"({
    "name": "q", "data": {"kind": "idx", "root": "/data/fmnist"}, "model": {"name": "cnn-small"},
    "stages": [
      {"name": "fp", "epochs": 1, "optimizer": {"name": "sgd", "lr": 0.1}},
      {"name": "qat", "kind": "qat", "epochs": 1, "optimizer": {"name": "sgd", "lr": 0.01}, "wreshape": 0.002},
      {"name": "qat_v", "kind": "qat", "epochs": 1, "optimizer": {"name": "sgd", "lr": 0.01}, "ashift": false,
       "init_from": "fp"},
      {"name": "adc", "kind": "adc", "epochs": 1, "optimizer": {"name": "sgd", "lr": 0.004}, "init_from": "qat",
       "adc": {"ba": 6}}
    ]
  })");
}

std::string error_for(const std::vector<std::string>& overrides) {
  return testing::config_error(base_config(), overrides);
}

}  // namespace

TEST_CASE("quant stages: keys are validated with one line naming the key path", "[tools]") {
  CHECK(error_for({}) == "");
  CHECK_THAT(error_for({"stages[1].bits=1"}), Equals("config: stages[1].bits must be an integer in [2, 8] (got 1)"));
  CHECK_THAT(error_for({"stages[1].wreshape=-1"}), Equals("config: stages[1].wreshape must be >= 0 (got -1)"));
  CHECK_THAT(error_for({"stages[3].adc.k=0"}), Equals("config: stages[3].adc.k must be a positive integer (got 0)"));
  CHECK_THAT(error_for({"stages[3].adc.slice_bits=9", "stages[3].adc.mapping=bit_sliced"}),
             Equals("config: stages[3].adc.slice_bits must be in [2, 8] (got 9)"));
  CHECK_THAT(error_for({"stages[3].adc.enabled=1"}), Catch::StartsWith("config: stages[3].adc.enabled must be"));
  CHECK_THAT(error_for({"stages[3].method=lora"}), Catch::StartsWith("config: stages[3].method must be one of"));
  CHECK_THAT(error_for({"stages[3].adc.mapping=sliced"}),
             Catch::StartsWith("config: stages[3].adc.mapping must be one of"));
  CHECK_THAT(error_for({"stages[3].bitaug_offsets=[0]"}),
             Equals("config: stages[3].bitaug_offsets must not contain 0 (the target ba is always trained)"));
  CHECK_THAT(error_for({"stages[3].bitaug_offsets=[-6]"}),  // ba 6 - 6 = 0: no ADC has 0 bits
             Catch::StartsWith("config: stages[3].bitaug_offsets must keep ba + offset a width an ADC can have"));
  CHECK_THAT(error_for({"stages[3].adc.signed_input=false", "stages[3].ashift=false"}),
             Catch::StartsWith("config: stages[3].ashift must be true on an unsigned-input array"));
  CHECK_THAT(error_for({"stages[3].init_from=adc"}),
             Equals("config: stages[3].init_from must name an earlier stage (got \"adc\")"));
  CHECK_THAT(error_for({"stages[1].init_from=later"}),
             Equals("config: stages[1].init_from must name an earlier stage (got \"later\")"));
  // Sweeps: their own keys, then each expanded stage under the sweep's key path.
  CHECK(error_for({"stages[3].methods=[\"vanilla\",\"raoq\"]", "stages[3].adc.ba=[6,7,8]",
                   "stages[3].init_from={\"vanilla\":\"qat_v\",\"raoq\":\"qat\"}"}) == "");
  CHECK_THAT(error_for({"stages[3].methods=[\"raoq\",\"lora\"]"}),
             Equals("config: stages[3].methods items must be \"raoq\" or \"vanilla\" (got \"lora\")"));
  CHECK_THAT(error_for({"stages[3].adc.ba=[6,6]"}), Equals("config: stages[3].adc.ba lists 6 twice"));
  CHECK_THAT(error_for({"stages[3].adc.ba=[6,0]", "stages[3].bitaug=false"}),
             Equals("config: stages[3].adc.ba must be in [1, 16] (got 0)"));
  CHECK_THAT(error_for({"stages[3].methods=[\"raoq\",\"vanilla\"]"}),
             Equals("config: stages[3].ashift is false but the stage it starts from (qat) was trained with "
                    "ashift true; start from a stage with ashift false (init_from)"));
  CHECK_THAT(error_for({"stages[3].methods=[\"raoq\"]", "stages[3].init_from={\"vanilla\":\"qat_v\"}"}),
             Equals("config: stages[3].init_from.vanilla names no method of this stage (methods: [\"raoq\"])"));
  CHECK_THAT(error_for({"stages[3].methods=[\"raoq\",\"vanilla\"]", "stages[3].init_from={\"raoq\":\"qat\"}"}),
             Equals("config: stages[3].init_from.vanilla must name the stage the vanilla fine-tunes start from"));
  CHECK_THAT(error_for({"stages[3].methods=[\"raoq\"]", "stages[3].adc.ba=[6,7]", "stages[3].adc.k=0"}),
             Equals("config: stages[3].adc.k must be a positive integer (got 0)"));
  CHECK_THAT(error_for({"stages[1].bits=1"}), Equals("config: stages[1].bits must be an integer in [2, 8] (got 1)"));
  CHECK_THAT(error_for({"stages[3].methods=[\"raoq\"]", "stages[3].label_suffix=\"k 1\""}),
             Catch::StartsWith("config: stages[3].label_suffix must be letters, digits"));
  {
    Json j = base_config();
    apply_override(j, "stages[3].methods=[\"raoq\"]");
    apply_override(j, "stages[3].adc.ba=[6,7]");
    apply_override(j, "stages[3].label_suffix=_k1");
    const Config c = parse_config(j, "x");
    REQUIRE(c.stages.size() == 5);
    CHECK(c.stages[3].label == "raoq_k1");
    CHECK(c.stages[4].label == "raoq_k1");
    CHECK(c.stages[4].name == "adc-raoq-ba7");
  }
  // a qat stage's adc object holds placement overrides only: no hardware
  CHECK_THAT(error_for({"stages[1].adc={\"ba\": 6}"}), Catch::StartsWith("config: stages[1].adc.ba is not a known key"));
  CHECK_THAT(error_for({"stages[1].adc={\"overrides\": [{\"layers\": \"features.*\", \"k\": 2}]}"}),
             Equals("config: stages[1].adc.overrides[0].k is a hardware key; a qat stage has no arrays (put it in "
                    "the adc stage's overrides)"));
  CHECK_THAT(error_for({"stages[0].ashift=true"}), Catch::StartsWith("config: stages[0].ashift is not a known key"));
}

TEST_CASE("quant stages: the method sets the defaults, each switch overrides it, resolved form round-trips",
          "[tools]") {
  Json j = base_config();
  Config raoq_cfg = parse_config(j, "x");
  const QuantStageConfig& r = raoq_cfg.stages[3].quant;
  CHECK(r.method == "raoq");
  CHECK(r.ashift);
  CHECK(r.bitaug);
  CHECK(r.wreshape > 0.0);
  CHECK(r.adc.ba == 6);
  CHECK(r.adc.rows == 512);
  CHECK(r.adc.bx == 4);
  CHECK(r.bitaug_offsets == std::vector<int64_t>{-1, 1, 2});
  CHECK(to_json(parse_config(to_json(raoq_cfg), "x")) == to_json(raoq_cfg));
  apply_override(j, "stages[3].method=vanilla");
  apply_override(j, "stages[3].init_from=qat_v");
  const QuantStageConfig v = parse_config(j, "x").stages[3].quant;
  CHECK_FALSE(v.ashift);
  CHECK_FALSE(v.bitaug);
  CHECK(v.wreshape == 0.0);
  apply_override(j, "stages[3].bitaug=true");  // an ablation: vanilla plus BitAug only
  CHECK(parse_config(j, "x").stages[3].quant.bitaug);
  CHECK_FALSE(parse_config(j, "x").stages[3].quant.ashift);
}

TEST_CASE("quant stages: conversion quantizes, maps to the array, and refuses a mismatched ashift", "[tools]") {
  const Config c = parse_config(base_config(), "x");
  Json model = {{"name", "cnn-small"}, {"width", 2}};
  auto m = models::build_from_json(models::validate_model(model, "config", "model"), "config", "model");
  convert_for_stage(*m, c.stages[1], "stages[1]");  // qat, A-shift: unsigned codes, no array layers yet
  CHECK(imc::imc_layers(*m).empty());
  convert_for_stage(*m, c.stages[3], "stages[3]");  // adc: the four middle convs go on the array
  const auto layers = imc::imc_layers(*m);
  REQUIRE(layers.size() == 4);
  for (const auto& [path, layer] : layers) {
    CHECK(layer->mode == imc::ImcMode::array);
    CHECK(layer->config.ba == 6);
    CHECK(layer->config.k == 4);
    CHECK_FALSE(layer->activation_quantizer().signed_codes);
  }
  StageConfig vanilla = c.stages[3];
  vanilla.quant.ashift = false;
  CHECK_THROWS_WITH(convert_for_stage(*m, vanilla, "stages[3]"),
                    Catch::StartsWith("config: stages[3].ashift is false but layer '"));
}

TEST_CASE("quant stages: BitAug's pass at ba~ leaves BatchNorm running statistics alone unless bitaug_bn_update",
          "[tools]") {
  Json j = base_config();
  for (const bool update : {false, true}) {
    CAPTURE(update);
    apply_override(j, std::string("stages[3].bitaug_bn_update=") + (update ? "true" : "false"));
    const Config c = parse_config(j, "x");
    REQUIRE(c.stages[3].quant.bitaug_bn_update == update);
    Json model = {{"name", "cnn-small"}, {"width", 2}};
    auto m = models::build_from_json(models::validate_model(model, "config", "model"), "config", "model");
    convert_for_stage(*m, c.stages[1], "stages[1]");
    convert_for_stage(*m, c.stages[3], "stages[3]");
    m->train();
    const Tensor x = testing::uniform({4, 1, 12, 12}, -1.0f, 1.0f, 5, /*requires_grad=*/false);
    m->forward(x);  // LSQ+ initialisation and a first running-statistics update, at the target ba
    auto stats = [&] {
      std::vector<float> v;
      for (const auto& [name, t] : m->named_buffers())
        if (name.find("running_") != std::string::npos)
          for (float f : t.to_vector()) v.push_back(f);
      return v;
    };
    const std::vector<float> before = stats();
    REQUIRE(!before.empty());
    const imc::BitAugConfig bitaug = bitaug_config(c.stages[3], 0);
    const std::vector<int64_t> y{0, 1, 2, 3};
    const double loss = imc::bitaug_backward(*m, bitaug, 7, 1.0, [&] { return ops::cross_entropy(m->forward(x), y); });
    CHECK(std::isfinite(loss));
    CHECK((stats() == before) == !update);
    for (const auto& [path, layer] : imc::imc_layers(*m)) CHECK(layer->config.ba == 6);  // back at the target
    bool any_grad = false;
    for (const auto& [name, p] : m->named_parameters()) any_grad = any_grad || p.grad().defined();
    CHECK(any_grad);  // the pass still backpropagates
  }
  CHECK_THAT(error_for({"stages[3].bitaug_bn_update=1"}),
             Catch::StartsWith("config: stages[3].bitaug_bn_update must be"));
}

namespace {

const std::string& data_dir() { return testing::synthetic_idx_dir("raoq_quant_idx_", 64, 32, 8, 4, 5); }

// fp -> qat (A-shift, W-reshape) and fp -> qat_v (signed codes); a sweep over ba {5, 6} of both
// methods, raoq from qat and vanilla from qat_v, on 16-row arrays so that layers use several row tiles.
Json pipeline_config() {
  Json c = Json::parse(R"({
    "name": "tinyq", "seed": 3,
    "data": {"kind": "idx", "normalize": {"mean": [0.4], "std": [0.3]}},
    "model": {"name": "cnn-small", "width": 2},
    "stages": [
      {"name": "fp", "epochs": 1, "batch_size": 16, "optimizer": {"name": "sgd", "lr": 0.05}},
      {"name": "qat", "kind": "qat", "epochs": 1, "batch_size": 16, "optimizer": {"name": "sgd", "lr": 0.01},
       "wreshape": 0.002},
      {"name": "qat_v", "kind": "qat", "epochs": 1, "batch_size": 16, "optimizer": {"name": "sgd", "lr": 0.01},
       "ashift": false, "init_from": "fp"},
      {"name": "adc", "kind": "adc", "methods": ["vanilla", "raoq"], "epochs": 1, "batch_size": 16,
       "optimizer": {"name": "sgd", "lr": 0.004}, "init_from": {"vanilla": "qat_v", "raoq": "qat"},
       "adc": {"ba": [5, 6], "rows": 16}}
    ],
    "checkpoint": {"every_steps": 2}, "log": {"every_steps": 1}
  })");
  c["data"]["root"] = data_dir();
  return c;
}

struct Interrupted {};

// PLplot's SVG writes every character of a text as a hex entity (&#x61;): the text, decoded.
std::string svg_text(const std::string& svg) {
  std::string out;
  for (size_t i = 0; i < svg.size(); ++i) {
    const size_t end = svg.compare(i, 3, "&#x") == 0 ? svg.find(';', i) : std::string::npos;
    if (end == std::string::npos || end - i > 8) {
      out += svg[i];
      continue;
    }
    out += static_cast<char>(std::stoi(svg.substr(i + 3, end - i - 3), nullptr, 16));
    i = end;
  }
  return out;
}

Results train_in(const std::string& out, bool resume, std::function<void(int64_t)> hook = {}) {
  return testing::train_run(out, pipeline_config(), "tinyq", resume, std::move(hook));
}

}  // namespace

TEST_CASE("quant stages: fp -> qat -> adc runs end to end, both methods, and resumes bitwise", "[tools]") {
  const std::string out = testing::make_temp_dir("raoq_quant_run_");
  const Results r = train_in(out, false);
  // fp, qat, qat_v, then per (method, ba) the model before and after its fine-tune.
  std::vector<std::string> methods;
  std::vector<int64_t> adc_parameters;  // the adc stages' parameter counts, in order
  for (const StageSummary& st : r.stages)
    if (st.kind == "adc") adc_parameters.push_back(st.parameters);
  size_t trainable_rows = 0;
  for (const auto& row : r.table) {
    if (row.metric == "trainable_parameters") {  // each ADC stage trains the whole model (no LoRA)
      REQUIRE(trainable_rows < adc_parameters.size());
      CHECK(row.value == double(adc_parameters[trainable_rows++]));
      continue;
    }
    methods.push_back(row.method + (row.ba ? "@" + std::to_string(*row.ba) : ""));
    CHECK(row.value >= 0.0);
    CHECK(row.value <= 100.0);
  }
  CHECK(trainable_rows == 4);
  for (const StageSummary& st : r.stages) {
    CHECK(st.trainable_parameters == st.parameters);
    CHECK(st.peak_tensor_bytes > 0);
  }
  CHECK(methods == std::vector<std::string>{"fp", "qat", "qat_v", "vanilla_noft@5", "vanilla@5", "vanilla_noft@6",
                                            "vanilla@6", "raoq_noft@5", "raoq@5", "raoq_noft@6", "raoq@6"});
  const std::string md = testing::read_text(out + "/results.md");
  CHECK_THAT(md,
             Catch::Contains("| model | full precision | no ADC | ba=5 QAT* | ba=5 RAOQ | ba=6 QAT* | ba=6 RAOQ |"));
  CHECK_THAT(md, Catch::Contains("| cnn-small, no fine-tune |"));
  // The adc checkpoints hold the quantizers' state (and load into a model converted the same way).
  const Checkpoint ck = read_checkpoint(out + "/checkpoints/adc-raoq-ba6.safetensors");
  const Config c = parse_config(pipeline_config(), "tinyq");
  auto m = models::build_from_json(Json::parse(ck.config.dump())["model"], "config", "model");
  convert_for_stage(*m, c.stages[1], "stages[1]");
  REQUIRE(c.stages.size() == 7);
  CHECK(c.stages[6].name == "adc-raoq-ba6");
  CHECK(c.stages[6].init_from == "qat");
  CHECK(c.stages[3].init_from == "qat_v");
  CHECK_FALSE(c.stages[3].quant.ashift);
  convert_for_stage(*m, c.stages[6], "stages[3]");
  load_model(*m, ck, "adc-raoq-ba6");
  CHECK(imc::imc_layers(*m).size() == 4);

  // raoq inspect on the run directory: its last adc stage, a table row per IMC layer, PNG files.
  std::ostringstream text;
  const std::string png = out + "/png";
  // --against overlays the vanilla stage at the same ADC bits in every figure.
  CHECK(inspect_command({out, png, 16, 1, false, out + "/checkpoints/adc-vanilla-ba6.safetensors"}, text) == 0);
  INFO(text.str());
  CHECK_THAT(text.str(), Catch::Contains("(stage adc-raoq-ba6)"));
  CHECK_THAT(text.str(), Catch::Contains("SQNR-c"));
  for (const auto& [path, layer] : imc::imc_layers(*m)) {
    CHECK_THAT(text.str(), Catch::Contains(path));
    for (const char* kind : {"_adc_inputs", "_weight_codes"}) {
      const std::vector<char> bytes = testing::file_bytes(png + "/" + path + kind + ".png");
      REQUIRE(bytes.size() > 8);
      CHECK(std::string(bytes.begin() + 1, bytes.begin() + 4) == "PNG");
      // Both stages in the legend of the SVG (text elements), the weights with their statistics.
      const std::string svg = svg_text(testing::read_text(png + "/" + path + kind + ".svg"));
      CHECK_THAT(svg, Catch::Contains("adc-raoq-ba6"));
      CHECK_THAT(svg, Catch::Contains("adc-vanilla-ba6"));
      if (std::string(kind) == "_weight_codes") CHECK_THAT(svg, Catch::Contains("kurtosis"));
    }
  }
  {  // the per-layer SQNR and clipping bars, both stages in the legend
    const std::vector<char> bytes = testing::file_bytes(png + "/sqnr.png");
    REQUIRE(bytes.size() > 8);
    CHECK(std::string(bytes.begin() + 1, bytes.begin() + 4) == "PNG");
    const std::string svg = svg_text(testing::read_text(png + "/sqnr.svg"));
    CHECK_THAT(svg, Catch::Contains("adc-vanilla-ba6, column-centred"));
    CHECK_THAT(svg, Catch::Contains("features.3.conv"));
  }
  // raoq eval takes a quantized stage's checkpoint too.
  const std::string eval_text = testing::eval_output(out, "adc-vanilla-ba5");
  CHECK_THAT(eval_text, Catch::Contains("(stage adc-vanilla-ba5)"));
  CHECK_THAT(eval_text, Catch::Contains("accuracy"));
  CHECK_THROWS_WITH(inspect_command({out + "/checkpoints/qat.safetensors", "", 16, 1, false, ""}, text),
                    Catch::Contains("is a qat stage without arrays"));

  // Interrupted inside adc-vanilla-ba6 (4 steps per stage: its steps are 17-20) and resumed: same parameters.
  const std::string cut = testing::make_temp_dir("raoq_quant_cut_");
  CHECK_THROWS_AS(train_in(cut, false,
                           [](int64_t step) {
                             if (step == 19) throw Interrupted{};
                           }),
                  Interrupted);
  train_in(cut, true);
  for (const char* stage : {"qat", "qat_v", "adc-vanilla-ba5", "adc-vanilla-ba6", "adc-raoq-ba6"}) {
    INFO(stage);
    CHECK(testing::file_bytes(out + "/checkpoints/" + stage + ".safetensors") ==
          testing::file_bytes(cut + "/checkpoints/" + stage + ".safetensors"));
  }
  fs::remove_all(out);
  fs::remove_all(cut);
}
