// tests/tools/test_export.cpp — raoq export and the integer reference: on tiny trained cnn-small and
// mlp runs (both methods, several row tiles and column groups) the reference reads only the export
// and gives raoq's ADC codes and logits bit for bit; a changed code is found; the manifest's counts
// agree with the cost model; malformed exports and unexportable models are one-line errors.
#include <cmath>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

#include "core/error.h"
#include "core/safetensors.h"
#include "imc/cost.h"
#include "tests/support/testing.h"
#include "tests/tools/tools_testing.h"
#include "tools/cmd_export.h"
#include "tools/pipeline/checkpoint.h"
#include "tools/pipeline/config.h"
#include "tools/pipeline/export.h"
#include "tools/pipeline/stage_kind.h"

using namespace raoq;
using namespace raoq::tools;
using Catch::Contains;
using Catch::Equals;
using Catch::StartsWith;
namespace fs = std::filesystem;

namespace {

const std::string& data_dir() { return testing::synthetic_idx_dir("raoq_export_idx_", 64, 32, 8, 4, 9); }

// fp -> qat (A-shift) and qat_v (signed codes) -> one adc stage per method on 16-row, 8-column
// arrays, so layers span several row tiles and column groups.
Json config_for(const Json& model) {
  Json c = Json::parse(R"({
    "name": "tinyexport", "seed": 2,
    "data": {"kind": "idx", "normalize": {"mean": [0.4], "std": [0.3]}},
    "stages": [
      {"name": "fp", "epochs": 1, "batch_size": 16, "optimizer": {"name": "sgd", "lr": 0.05}},
      {"name": "qat", "kind": "qat", "epochs": 1, "batch_size": 16, "optimizer": {"name": "sgd", "lr": 0.01}},
      {"name": "qat_v", "kind": "qat", "epochs": 1, "batch_size": 16, "optimizer": {"name": "sgd", "lr": 0.01},
       "ashift": false, "init_from": "fp"},
      {"name": "adc", "kind": "adc", "methods": ["vanilla", "raoq"], "init_from": {"vanilla": "qat_v", "raoq": "qat"},
       "epochs": 1, "batch_size": 16, "max_steps": 2, "optimizer": {"name": "sgd", "lr": 0.004},
       "adc": {"ba": 5, "rows": 16, "cols": 8}},
      {"name": "adc-sliced", "kind": "adc", "init_from": "qat", "epochs": 1, "batch_size": 16, "max_steps": 2,
       "optimizer": {"name": "sgd", "lr": 0.004},
       "adc": {"ba": 5, "rows": 16, "cols": 8, "mapping": "bit_sliced", "slice_bits": 2}}
    ]
  })");
  c["data"]["root"] = data_dir();
  c["model"] = model;
  return c;
}

// The integer after `label` in `text` (-1 when absent).
int64_t number_after(const std::string& text, const std::string& label) {
  const size_t at = text.find(label);
  if (at == std::string::npos) return -1;
  return std::stoll(text.substr(at + label.size()));
}

std::string compare(const std::string& dir, const std::string& checkpoint, int* status = nullptr) {
  std::ostringstream out;
  RunExportArgs a;
  a.dir = dir;
  a.compare = checkpoint;
  a.batch_size = 10;  // several batches, the last one short
  a.threads = 1;
  const int rc = run_export_command(a, out);
  if (status) *status = rc;
  return out.str();
}

std::string load_error(const std::string& dir) {
  try {
    ExportedModel::load(dir);
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

void rewrite_manifest(const std::string& dir, const std::function<void(Json&)>& change) {
  Json m = Json::parse(testing::read_text(dir + "/manifest.json"));
  change(m);
  std::ofstream(dir + "/manifest.json") << m.dump(2);
}

}  // namespace

TEST_CASE("export: the integer reference gives raoq's ADC codes and logits bit for bit", "[tools]") {
  const Json cnn = {{"name", "cnn-small"}, {"width", 2}};
  const Json mlp = {{"name", "mlp"}, {"hidden", {24, 12}}};
  for (const Json& model : {cnn, mlp}) {
    INFO(model.dump());
    const std::string run = testing::make_temp_dir("raoq_export_run_");
    testing::train_run(run, config_for(model), "tinyexport", false);
    // adc-sliced: 4-bit codes on 2-bit cells, two input slices and three weight slices (sign + 1 bit).
    for (const char* stage : {"adc-vanilla-ba5", "adc-raoq-ba5", "adc-sliced"}) {
      INFO(stage);
      const std::string ck = run + "/checkpoints/" + stage + ".safetensors";
      const std::string dir = run + "/export-" + stage;
      std::ostringstream text;
      REQUIRE(export_command({run, ck, dir, 1}, text) == 0);
      CHECK_THAT(text.str(), Contains("exported " + ck));
      int status = -1;
      const std::string report = compare(dir, ck, &status);
      INFO(report);
      CHECK(status == 0);
      CHECK(number_after(report, "ADC codes compared: ") >= 768);  // mlp: 24 -> 12 on two row tiles, 32 examples
      CHECK(number_after(report, "differing: ") == 0);
      CHECK_THAT(report, Contains("logits: max difference 0, 0 of the batch's largest logit"));
      CHECK_THAT(report, Contains("predictions agree on 32 of 32"));

      // The manifest's arrays are the cost model's (imc/cost.h) for the same model and input.
      const Json manifest = Json::parse(testing::read_text(dir + "/manifest.json"));
      const Checkpoint c = read_checkpoint(ck);
      const Config config = parse_config(c.config, "run");
      int64_t si = -1;
      for (size_t i = 0; i < config.stages.size(); ++i)
        if (config.stages[i].name == stage) si = int64_t(i);
      auto m = build_model_for_stage(config, si);
      load_model(*m, c, ck);
      const imc::ModelCost cost = imc::model_cost(*m, Tensor::zeros({1, 1, 8, 8}), config.cost);
      CHECK(manifest["totals"]["arrays"] == cost.total.arrays);
      int64_t code_bytes = 0;
      for (const auto& l : cost.layers)
        if (l.on_array) code_bytes += l.K * l.N * l.weight_slices;
      CHECK(manifest["totals"]["code_bytes"] == code_bytes);
      // Each array is an I8 tensor of at most 16 rows and 8 columns, its codes in the cells' range.
      const bool sliced = std::string(stage) == "adc-sliced";
      const float cell_max = sliced ? 1.0f : 7.0f;
      const SafetensorsFile file = load_safetensors(dir + "/tensors.safetensors");
      for (const Json& layer : manifest["layers"])
        if (layer.contains("arrays")) {
          CHECK(layer["weight_slices"] == (sliced ? 3 : 1));
          CHECK(layer["slices"]["input_factors"].size() == (sliced ? 2u : 1u));
          for (const Json& a : layer["arrays"]) {
            const Tensor& t = file.at(a["tensor"].get<std::string>());
            CHECK(t.size(0) <= 16);
            CHECK(t.size(1) <= 8);
            for (float v : t.to_vector()) CHECK(std::fabs(v) <= cell_max);
          }
        }
    }

    // One weight code changed in the export: the reference no longer matches raoq's model.
    const std::string ck = run + "/checkpoints/adc-raoq-ba5.safetensors";
    const std::string dir = run + "/export-adc-raoq-ba5";
    SafetensorsFile file = load_safetensors(dir + "/tensors.safetensors");
    std::set<std::string> int8;
    for (auto& [name, t] : file.tensors)
      if (name.find(".arrays.") != std::string::npos) int8.insert(name);
    REQUIRE(!int8.empty());
    for (auto& [name, t] : file.tensors)
      if (name == *int8.begin()) t.data()[0] = t.data()[0] >= 7 ? 6 : t.data()[0] + 1;
    save_safetensors(dir + "/tensors.safetensors", file.tensors, file.metadata, int8);
    int status = -1;
    const std::string report = compare(dir, ck, &status);
    INFO(report);
    CHECK(status == 1);
    CHECK(number_after(report, "differing: ") > 0);
    fs::remove_all(run);
  }
}

TEST_CASE("export: a malformed export, another version and an unexportable model are one-line errors", "[tools]") {
  const std::string run = testing::make_temp_dir("raoq_export_bad_");
  testing::train_run(run, config_for({{"name", "cnn-small"}, {"width", 2}}), "tinyexport", false);
  const std::string dir = run + "/export";
  std::ostringstream text;
  REQUIRE(export_command({run, "", dir, 1}, text) == 0);  // the run's last adc stage
  CHECK_THAT(text.str(), Contains("(stage adc-sliced)"));
  CHECK(load_error(dir).empty());
  const std::string manifest = dir + "/manifest.json";
  const std::string original = testing::read_text(manifest);
  auto restore = [&] { std::ofstream(manifest) << original; };

  rewrite_manifest(dir, [](Json& m) { m["version"] = 2; });
  CHECK_THAT(load_error(dir), Equals("export: '" + manifest + "': version 2 is not one this raoq reads (it reads version 1)"));
  rewrite_manifest(dir, [](Json& m) { m["format"] = "onnx"; });
  CHECK_THAT(load_error(dir), Equals("export: '" + manifest + "': format must be \"raoq-export\" (got \"onnx\")"));
  restore();
  rewrite_manifest(dir, [](Json& m) { m["layers"][1]["op"] = "softmax"; });
  CHECK_THAT(load_error(dir), StartsWith("export: '" + manifest + "': layers[1].op must be one of"));
  restore();
  // The first array layer (features.1.conv of cnn-small): a tensor name, a placement, a code.
  size_t first = 0;
  {
    const Json m = Json::parse(original);
    while (m["layers"][first]["op"] != "array_conv2d") ++first;
  }
  const std::string at = "layers[" + std::to_string(first) + "]";
  rewrite_manifest(dir, [&](Json& m) { m["layers"][first]["arrays"][0]["tensor"] = "nothing"; });
  CHECK_THAT(load_error(dir), Equals("export: '" + dir + "/tensors.safetensors' has no tensor 'nothing' (" + at + ".arrays[0])"));
  restore();
  rewrite_manifest(dir, [&](Json& m) { m["layers"][first]["arrays"][0]["rows"] = {0, 15}; });
  CHECK_THAT(load_error(dir), Equals("export: '" + manifest + "': " + at + ".arrays[0].rows must be [0, 16]"));
  restore();
  rewrite_manifest(dir, [&](Json& m) { m["layers"][first]["arrays"].erase(0); });
  CHECK_THAT(load_error(dir), Contains(at + ".arrays lists"));
  restore();
  rewrite_manifest(dir, [&](Json& m) { m["layers"][first]["K"] = 3; });
  CHECK_THAT(load_error(dir), Contains(at + ".conv does not match K 3"));
  restore();
  // Numbers that would take the int32 column sums or the byte codes out of range.
  rewrite_manifest(dir, [&](Json& m) { m["layers"][first]["input_map"]["shift"] = 1e12; });
  CHECK_THAT(load_error(dir), Contains(at + ".input_map must have gain 1 or 2 and |shift| <= 2^bx"));
  restore();
  rewrite_manifest(dir, [&](Json& m) { m["layers"][first]["input_codes"]["hi"] = 1e9; });
  CHECK_THAT(load_error(dir), Contains(at + ".input_codes must be the unsigned or signed codes of adc.bx 4"));
  restore();
  rewrite_manifest(dir, [&](Json& m) { m["layers"][first]["adc"]["ba"] = 10; });
  CHECK_THAT(load_error(dir), Contains(at + ".adc.ba must be at most 8 with the ADC enabled"));
  restore();
  rewrite_manifest(dir, [&](Json& m) { m["layers"][first]["adc"]["D"] = 1.5; });
  CHECK_THAT(load_error(dir), Contains(at + ".adc D must be the step Eq. 3 gives this hardware"));
  restore();
  {
    SafetensorsFile file = load_safetensors(dir + "/tensors.safetensors");
    const std::string name = Json::parse(original)["layers"][first]["arrays"][0]["tensor"].get<std::string>();
    std::set<std::string> int8;
    for (auto& [n, t] : file.tensors) {
      if (n.find(".arrays.") != std::string::npos) int8.insert(n);
      if (n == name) t.data()[0] = 3;  // outside the 2-bit cells' codes [-1, 1] (adc-sliced)
    }
    save_safetensors(dir + "/tensors.safetensors", file.tensors, file.metadata, int8);
    CHECK_THAT(load_error(dir), Contains("tensor '" + name + "' element 0 is 3, expected a weight code in [-1, 1]"));
  }
  fs::remove(manifest);
  CHECK_THAT(load_error(dir), Equals("export: '" + dir + "' has no manifest.json"));
  CHECK_THAT(load_error(run + "/none"), Contains("is not a directory"));
  // A model that is no chain of layers, and a stage without arrays.
  Json gpt = testing::tiny_text_config("g");
  gpt["stages"].push_back({{"name", "adc"}, {"kind", "adc"}, {"epochs", 1}, {"max_steps", 1}, {"batch_size", 4},
                           {"optimizer", {{"name", "adamw"}}}, {"eval", {{"batch_size", 8}}}});
  const std::string text_run = testing::make_temp_dir("raoq_export_gpt_");
  testing::train_run(text_run, gpt, "g", false);
  CHECK_THROWS_WITH(export_command({text_run, "", text_run + "/export", 1}, text),
                    Contains("export: model 'gpt' does not run its layers one after the other"));
  CHECK_THROWS_WITH(export_command({run, run + "/checkpoints/qat.safetensors", dir, 1}, text),
                    Contains("is a qat stage without arrays"));
  CHECK_THROWS_WITH(export_command({run, "", "", 1}, text), Equals("export: missing --out DIR (the folder to write)"));
  fs::remove_all(run);
  fs::remove_all(text_run);
}
