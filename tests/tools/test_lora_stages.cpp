// tests/tools/test_lora_stages.cpp — ADC-LoRA in the pipeline: the lora block's keys, a tiny gpt
// fine-tuned on the arrays with adapters (W frozen bit for bit, A and B moved, the trainable
// count in closed form), adc_mse's Eq. 12 phase logged per layer, resume inside a LoRA stage, and
// a later stage that merges the adapters.
#include <filesystem>
#include <fstream>

#include "core/safetensors.h"
#include "tests/support/testing.h"
#include "tests/tools/tools_testing.h"
#include "tools/cmd_inspect.h"
#include "tools/commands.h"
#include "tools/pipeline/checkpoint.h"
#include "tools/pipeline/config.h"
#include "tools/pipeline/stage_kind.h"
#include "tools/pipeline/trainer.h"

using namespace raoq;
using namespace raoq::tools;
namespace fs = std::filesystem;

namespace {

struct Interrupted {};

Json adc_stage(const std::string& name, const Json& lora) {
  Json s = {{"name", name},         {"kind", "adc"},     {"method", "raoq"},     {"init_from", "qat"},
            {"epochs", 1},          {"max_steps", 6},    {"batch_size", 4},      {"bitaug", false},
            {"adc", {{"rows", 16}, {"ba", 6}}},          {"optimizer", {{"name", "adamw"}, {"lr", 0.002}}},
            {"eval", {{"batch_size", 8}}}};
  if (!lora.is_null()) s["lora"] = lora;
  return s;
}

// fp -> qat -> adc with ADC-LoRA (rank 2 on the MLP) -> adc with adc_mse -> a plain adc stage
// that starts from the LoRA stage (its adapters merged).
Json lora_config() {
  Json c = testing::tiny_text_config("tinylora");
  c["stages"].push_back(adc_stage("lora_hu", {{"rank", 2}, {"targets", {"*.fc?"}}, {"lr", 0.01}}));
  c["stages"].push_back(adc_stage("lora_mse", {{"rank", 2}, {"targets", {"*.fc1", "*.qkv_proj"}}, {"init", "adc_mse"},
                                               {"init_steps", 3}}));
  Json after = adc_stage("after", nullptr);
  after["init_from"] = "lora_hu";
  c["stages"].push_back(after);
  return c;
}

std::map<std::string, std::vector<float>> tensors_of(const std::string& path) {
  const Checkpoint ck = read_checkpoint(path);
  std::map<std::string, std::vector<float>> out;
  for (const auto& [name, t] : ck.file.tensors) out[name] = t.to_vector();
  return out;
}

}  // namespace

TEST_CASE("lora stages: the lora block's keys are validated with one line naming the key", "[tools]") {
  const Json base = lora_config();
  CHECK(testing::config_error(base, {}) == "");
  CHECK_THAT(testing::config_error(base, {"stages[2].lora.rank=0"}), Catch::StartsWith("config: stages[2].lora.rank must be"));
  CHECK_THAT(testing::config_error(base, {"stages[2].lora.init=\"loftq\""}),
             Catch::StartsWith("config: stages[2].lora.init must be one of hu, svd or adc_mse"));
  CHECK_THAT(testing::config_error(base, {"stages[2].lora.init_steps=5"}),
             Catch::StartsWith("config: stages[2].lora.init_steps is adc_mse's Eq. 12 phase; with init \"hu\" it must be 0"));
  CHECK_THAT(testing::config_error(base, {"stages[2].lora.targets=[]"}), Catch::StartsWith("config: stages[2].lora.targets is empty"));
  CHECK_THAT(testing::config_error(base, {"stages[2].lora.ranks=4"}),
             Catch::StartsWith("config: stages[2].lora.ranks is not a known key") && Catch::Contains("rank"));
  // The resolved form round-trips.
  const Config c = parse_config(base, "x");
  CHECK(to_json(parse_config(to_json(c), "x")) == to_json(c));
  // A glob that matches no array layer fails when the stage converts the model, naming the glob.
  Json bad = base;
  bad["stages"][2]["lora"]["targets"] = {"*.fc?", "*.wq"};
  const std::string out = testing::make_temp_dir("raoq_lorabad_");
  CHECK_THROWS_WITH(testing::train_run(out, bad, "x", false),
                    Catch::StartsWith("config: stages[2]: lora.targets glob \"*.wq\" matches no layer on the arrays"));
  // An Eq. 12 phase as long as the stage leaves no task-loss step: an error naming the stage.
  Json whole = base;
  whole["stages"][3]["lora"]["init_steps"] = 6;
  fs::remove_all(out);
  CHECK_THROWS_WITH(testing::train_run(out, whole, "x", false, {}, nullptr, 1),
                    Catch::StartsWith("config: stages[3].lora.init_steps 6 leaves no task-loss step of stage 'lora_mse' (6 steps)"));
  fs::remove_all(out);
}

TEST_CASE("lora stages: W stays frozen bit for bit, A and B move, the counts are r (K + N) plus the scales; "
          "adc_mse logs Eq. 12 per layer; resume and merge",
          "[tools]") {
  const std::string out = testing::make_temp_dir("raoq_lorarun_");
  const Results r = testing::train_run(out, lora_config(), "tinylora", false);
  const auto qat = tensors_of(out + "/checkpoints/qat.safetensors");
  const auto hu = tensors_of(out + "/checkpoints/lora_hu.safetensors");
  // Every tensor of the qat model is unchanged in the LoRA stage except the quantizers' scales
  // and offsets (trained) and the adapters (new, trained).
  int64_t adapters = 0, moved_scales = 0;
  for (const auto& [name, v] : hu) {
    INFO(name);
    if (name.find(".lora.") != std::string::npos) {
      ++adapters;
      if (name.size() > 2 && name.substr(name.size() - 2) == ".B") {  // zero at the start (hu), moved since
        bool moved = false;
        for (float x : v) moved = moved || x != 0.0f;
        CHECK(moved);
      }
      continue;
    }
    REQUIRE(qat.count(name));
    if (name.find("_quant.") != std::string::npos) {
      moved_scales += v != qat.at(name);
      continue;
    }
    CHECK(v == qat.at(name));  // frozen: weights, biases, embeddings, LayerNorms
  }
  CHECK(adapters == 4);  // fc1 and fc2, A and B each
  CHECK(moved_scales > 0);
  // Trainable parameters: r (K + N) for fc1 (16 -> 64) and fc2 (64 -> 16), plus every quantizer
  // scale and offset of the model.
  int64_t quantizer_params = 0;  // parameters only: the quantizers' buffers are state, not trained
  const Config cfg = parse_config(Json::parse(testing::read_text(out + "/config.json")), "tinylora");
  for (const auto& [name, p] : build_model_for_stage(cfg, 2)->named_parameters())
    if (name.find("_quant.") != std::string::npos) quantizer_params += p.numel();
  const int64_t closed_form = 2 * (16 + 64) + 2 * (64 + 16) + quantizer_params;
  bool found = false;
  for (const ResultRow& row : r.table)
    if (row.metric == "trainable_parameters" && row.method == "raoq" && !found) {
      CHECK(row.value == double(closed_form));
      found = true;
    }
  CHECK(found);
  CHECK(r.stages[2].trainable_parameters == closed_form);
  CHECK(r.stages[2].trainable_parameters < r.stages[4].trainable_parameters);  // the plain adc stage trains all

  // adc_mse: one lora_init row per Eq. 12 step, each layer's objective, in the stage's first steps.
  std::ifstream metrics(out + "/metrics.jsonl");
  std::vector<Json> init_rows;
  for (std::string line; std::getline(metrics, line);)
    if (Json j = Json::parse(line); j["kind"] == "lora_init") init_rows.push_back(j);
  REQUIRE(init_rows.size() == 3);
  for (size_t i = 0; i < 3; ++i) {
    CHECK(init_rows[i]["stage"] == "lora_mse");
    CHECK(init_rows[i]["stage_step"] == int64_t(i + 1));
    REQUIRE(init_rows[i]["layers"].size() == 2);
    CHECK(init_rows[i]["layers"].contains("blocks.0.fc1"));
    CHECK(init_rows[i]["layers"].contains("blocks.0.attn.qkv_proj"));
    double sum = 0;
    for (const auto& [k, v] : init_rows[i]["layers"].items()) sum += v.get<double>();
    CHECK(init_rows[i]["objective"].get<double>() == Approx(sum).epsilon(1e-6));
  }
  // The Eq. 12 phase trains only A and B: W and the scales are the qat stage's after it... and
  // the task-loss steps after it move the scales. The stage's checkpoint holds adapters of both layers.
  const auto mse = tensors_of(out + "/checkpoints/lora_mse.safetensors");
  CHECK(mse.count("model.blocks.0.fc1.lora.A"));
  CHECK(mse.count("model.blocks.0.attn.qkv_proj.lora.B"));
  CHECK(mse.at("model.blocks.0.fc1.weight") == qat.at("model.blocks.0.fc1.weight"));

  // The stage after the LoRA stage starts from it merged: no adapters, and fc1's weight is W + delta.
  const auto after = tensors_of(out + "/checkpoints/after.safetensors");
  for (const auto& [name, v] : after) CHECK(name.find(".lora.") == std::string::npos);

  // raoq eval loads a LoRA stage's checkpoint (its model is rebuilt with the adapters).
  CHECK_THAT(testing::eval_output(out, "lora_hu"), Catch::Contains("perplexity"));

  // raoq inspect on it: per array layer, the weight and the adapter's r (K + N), and the totals.
  std::ostringstream inspected;
  CHECK(inspect_command({out + "/checkpoints/lora_hu.safetensors", "", 16, 1, false, ""}, inspected) == 0);
  CHECK_THAT(inspected.str(), Catch::Contains("trainable parameters per array layer") &&
                                  Catch::Contains("blocks.0.fc1") && Catch::Contains(std::to_string(2 * (16 + 64))) &&
                                  Catch::Contains("of which the stage trained " + std::to_string(closed_form)));

  // Interrupted inside the adc_mse stage's Eq. 12 phase and resumed: the same checkpoints, bit for bit.
  const std::string cut = testing::make_temp_dir("raoq_loracut_");
  CHECK_THROWS_AS(testing::train_run(cut, lora_config(), "tinylora", false,
                                     [](int64_t step) {
                                       if (step == 18) throw Interrupted{};  // fp 6 + qat 4 + lora_hu 6 + 2
                                     }),
                  Interrupted);
  testing::train_run(cut, lora_config(), "tinylora", true);
  for (const char* stage : {"lora_hu", "lora_mse", "after"}) {
    INFO(stage);
    CHECK(testing::file_bytes(out + "/checkpoints/" + stage + ".safetensors") ==
          testing::file_bytes(cut + "/checkpoints/" + stage + ".safetensors"));
  }
  fs::remove_all(out);
  fs::remove_all(cut);
}
