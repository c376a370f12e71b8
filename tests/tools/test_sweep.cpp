// tests/tools/test_sweep.cpp — hardware sweeps: the sweep kind's expansion into adc stages (names,
// order, values, validation), the results layouts, the Pareto front, a tiny run with the ADC in the
// loop (each point's cost, its figure before fine-tuning equal to the adc stage's on the same
// hardware, resume mid-grid), and `raoq sweep` appending a grid to a finished run.
#include <filesystem>
#include <fstream>
#include <sstream>

#include "core/error.h"
#include "tests/support/testing.h"
#include "tests/tools/tools_testing.h"
#include "tools/cmd_sweep.h"
#include "tools/pipeline/config.h"
#include "tools/pipeline/results.h"

using namespace raoq;
using namespace raoq::tools;
using Catch::Contains;
using Catch::Equals;
using Catch::StartsWith;
namespace fs = std::filesystem;

namespace {

Json sweep_config() {
  return Json::parse(R"({
    "name": "s", "data": {"kind": "idx", "root": "/data/fmnist"}, "model": {"name": "cnn-small"},
    "stages": [
      {"name": "fp", "epochs": 1, "optimizer": {"name": "sgd", "lr": 0.1}},
      {"name": "qat", "kind": "qat", "epochs": 1, "optimizer": {"name": "sgd", "lr": 0.01}},
      {"name": "qat_v", "kind": "qat", "epochs": 1, "optimizer": {"name": "sgd", "lr": 0.01}, "ashift": false,
       "init_from": "fp"},
      {"name": "hw", "kind": "sweep", "methods": ["vanilla", "raoq"], "init_from": {"vanilla": "qat_v", "raoq": "qat"},
       "grid": {"adc.ba": [5, 6], "adc.k": [1, 4]}, "finetune_steps": 3, "optimizer": {"name": "sgd", "lr": 0.004},
       "adc": {"rows": 128}}
    ]
  })");
}

std::string error_for(const std::vector<std::string>& overrides) {
  return testing::config_error(sweep_config(), overrides);
}

SweepRow row(const std::string& method, double value, double energy, const std::string& metric = "test_accuracy") {
  SweepRow r;
  r.sweep = "s";
  r.method = method;
  r.metric = metric;
  r.before = value;
  r.energy = energy;
  r.done = true;
  return r;
}

}  // namespace

TEST_CASE("sweep: a grid stands for one adc stage per point and method, in product order, named by its values",
          "[tools]") {
  const Config c = parse_config(sweep_config(), "s");
  REQUIRE(c.stages.size() == 3 + 8);
  const std::vector<std::string> names = {"hw-vanilla-ba5-k1", "hw-raoq-ba5-k1", "hw-vanilla-ba5-k4", "hw-raoq-ba5-k4",
                                          "hw-vanilla-ba6-k1", "hw-raoq-ba6-k1", "hw-vanilla-ba6-k4", "hw-raoq-ba6-k4"};
  for (size_t i = 0; i < names.size(); ++i) {
    const StageConfig& s = c.stages[3 + i];
    INFO(s.name);
    CHECK(s.name == names[i]);
    CHECK(s.kind == "adc");
    CHECK(s.quant.method == (i % 2 ? "raoq" : "vanilla"));
    CHECK(s.init_from == (i % 2 ? "qat" : "qat_v"));
    CHECK(s.quant.adc.ba == (i < 4 ? 5 : 6));
    CHECK(s.quant.adc.k == (i % 4 < 2 ? 1 : 4));
    CHECK(s.quant.adc.rows == 128);  // the sweep's own adc keys reach every point
    CHECK(s.max_steps == 3);
    CHECK(s.quant.finetune);
    CHECK_FALSE(s.save_checkpoint);
    CHECK(s.sweep.name == "hw");
    CHECK(s.sweep.point == int64_t(i + 1));
    CHECK(s.sweep.points == 8);
    CHECK(s.sweep.values == Json{{"adc.ba", i < 4 ? 5 : 6}, {"adc.k", i % 4 < 2 ? 1 : 4}});
    CHECK(s.quant.bitaug == (s.quant.method == "raoq"));  // the method's defaults, as for any adc stage
  }
  // The resolved form lists the expanded stages and reads back to the same config.
  const Json resolved = to_json(c);
  CHECK(to_json(parse_config(resolved, "s")) == resolved);
  // finetune_steps 0 evaluates only; keep_checkpoints keeps the points' checkpoints.
  const Config e = parse_config([] {
    Json j = sweep_config();
    j["stages"][3]["finetune_steps"] = 0;
    j["stages"][3]["keep_checkpoints"] = true;
    j["stages"][3].erase("optimizer");  // an evaluation needs none
    return j;
  }(), "s");
  CHECK_FALSE(e.stages[3].quant.finetune);
  CHECK(e.stages[3].save_checkpoint);
  // A value without a short form names the point by its number.
  const Config n = parse_config([] {
    Json j = sweep_config();
    j["stages"][3]["grid"] = {{"adc.mapping", {"direct", "bit_sliced"}}};
    j["stages"][3]["methods"] = {"raoq"};
    j["stages"][3]["init_from"] = "qat";
    return j;
  }(), "s");
  CHECK(n.stages[3].name == "hw-raoq-mappingdirect");
  CHECK(n.stages[4].name == "hw-raoq-p2");  // "bit_sliced" holds an underscore
  CHECK(n.stages[4].quant.adc.mapping == imc::Mapping::bit_sliced);
}

TEST_CASE("sweep: bad grids are one line naming the key", "[tools]") {
  CHECK(error_for({}).empty());
  CHECK_THAT(error_for({"stages[3].grid={}"}),
             Equals("config: stages[3].grid must name at least one key to sweep, e.g. {\"adc.ba\": [6, 7, 8]}"));
  CHECK_THAT(error_for({"stages[3].grid=3"}), StartsWith("config: stages[3].grid must be"));
  CHECK_THAT(error_for({"stages[3].grid={\"adc.k\": []}"}),
             Equals("config: stages[3].grid.adc.k must be a non-empty list of values (got [])"));
  CHECK_THAT(error_for({"stages[3].grid={\"adc.k\": [2, 2]}"}), Equals("config: stages[3].grid.adc.k lists 2 twice"));
  CHECK_THAT(error_for({"stages[3].grid={\"adc.k\": [{}]}"}),
             Equals("config: stages[3].grid.adc.k items must be numbers, strings or booleans (got {})"));
  CHECK_THAT(error_for({"stages[3].grid={\"max_steps\": [1, 2]}"}),
             Equals("config: stages[3].grid.max_steps: \"max_steps\" is set by the sweep itself, not a grid key"));
  // Each point is validated as an adc stage: a value out of range names the point's key.
  CHECK_THAT(error_for({"stages[3].grid={\"adc.k\": [1, 0]}"}), StartsWith("config: stages[3].adc.k must be"));
  CHECK_THAT(error_for({"stages[3].grid={\"adc.kk\": [1]}"}), Contains("adc.kk"));
  CHECK_THAT(error_for({"stages[3].finetune_steps=-1"}), StartsWith("config: stages[3].finetune_steps must be"));
  CHECK_THAT(error_for({"stages[3].methods=[\"raoq\", \"raoq\"]"}), Contains("lists \"raoq\" twice"));
  CHECK_THAT(error_for({"stages[3].init_from={\"raoq\": \"qat\"}"}),
             Equals("config: stages[3].init_from.vanilla must name the stage the vanilla fine-tunes start from"));
  // An evaluation-only stage with adapters to train, and a stage starting from a point without a checkpoint.
  CHECK_THAT(error_for({"stages[3].finetune_steps=0", "stages[3].lora={\"targets\": [\"*\"]}"}),
             Contains("finetune is false (evaluate only), but the stage has a lora block"));
  Json after = sweep_config();
  after["stages"].push_back(
      {{"name", "after"}, {"kind", "adc"}, {"epochs", 1}, {"init_from", "hw-raoq-ba6-k4"}, {"optimizer", {{"name", "sgd"}}}});
  CHECK_THAT(testing::config_error(after, {}), Contains("init_from names stage \"hw-raoq-ba6-k4\", which saves no checkpoint"));
  // Two sweeps of one name would merge their rows; a sweep without a start would chain its points.
  Json twice = sweep_config();
  twice["stages"].push_back(twice["stages"][3]);
  twice["stages"][4]["grid"] = {{"adc.rows", {64, 128}}};
  CHECK_THAT(testing::config_error(twice, {}),
             Equals("config: stages[4] is point 1 of sweep \"hw\", which stages[3] already has: give each sweep its own name"));
  Json unstarted = sweep_config();
  unstarted["stages"][3].erase("init_from");
  CHECK_THAT(testing::config_error(unstarted, {}), StartsWith("config: stages[3].init_from is required"));
}

TEST_CASE("sweep: the Pareto front per method, the one- and two-key layouts and the CSV", "[tools]") {
  // Energy up, accuracy up: (1, 50) (2, 70) (3, 60) (4, 80) -> the third is dominated by the second.
  std::vector<SweepRow> rows = {row("raoq", 50, 1e-9), row("raoq", 70, 2e-9), row("raoq", 60, 3e-9),
                                row("raoq", 80, 4e-9), row("vanilla", 10, 3e-9)};
  CHECK(pareto_front(rows) == std::vector<bool>{true, true, false, true, true});  // vanilla: its own front
  rows.push_back(row("raoq", 70, 2e-9));  // a tie: neither of two equal points dominates the other
  CHECK(pareto_front(rows) == std::vector<bool>{true, true, false, true, true, true});
  // Perplexity: lower is better.
  const std::vector<SweepRow> lm = {row("raoq", 6.0, 1e-9, "test_perplexity"), row("raoq", 5.5, 2e-9, "test_perplexity"),
                                    row("raoq", 5.8, 3e-9, "test_perplexity")};
  CHECK(pareto_front(lm) == std::vector<bool>{true, true, false});

  Results r;
  r.config_name = "c";
  r.model = "m";
  for (const char* m : {"vanilla", "raoq"})
    for (int rows_value : {128, 256}) {
      SweepRow p = row(m, rows_value == 128 ? 80.5 : 90.25, rows_value == 128 ? 2e-9 : 1.5e-9);
      p.sweep = "rows";
      p.values = {{"adc.rows", rows_value}};
      p.after = p.before + 1;
      p.finetune_steps = 10;
      p.arrays = rows_value == 128 ? 12 : 6;
      p.conversions = rows_value == 128 ? 1572864 : 786432;
      p.stage = std::string("rows-") + m + "-rows" + std::to_string(rows_value);
      r.sweep.push_back(p);
    }
  const std::string md = sweep_markdown(r);
  INFO(md);
  CHECK_THAT(md, Contains("## Sweep rows: test accuracy (%) on the arrays, QAT* = vanilla QAT"));
  CHECK_THAT(md, Contains("fine-tuned for 10 steps"));
  CHECK_THAT(md, Contains("| adc.rows | rows=128 | rows=256 |"));
  CHECK_THAT(md, Contains("| QAT*, no fine-tune | 80.50 | 90.25 |"));
  CHECK_THAT(md, Contains("| RAOQ | 81.50 | 91.25 |"));
  CHECK_THAT(md, Contains("| arrays | 12 | 6 |"));
  CHECK_THAT(md, Contains("| ADC conversions per sample | 1.57 M | 786 k |"));
  CHECK_THAT(md, Contains("| energy proxy per sample (nJ) | 2.00 | 1.50 |"));
  const std::string csv = sweep_csv(r);
  CHECK_THAT(csv, StartsWith("sweep,method,stage,point,adc.rows,finetune_steps,metric,before_finetune,after_finetune,"));
  // rows 256 is better and cheaper: rows 128 is off the front of both methods.
  CHECK_THAT(csv, Contains("rows,raoq,rows-raoq-rows128,0,128,10,test_accuracy,80.5,81.5,12,1572864,0,0,2e-09,false\n"));
  CHECK_THAT(csv, Contains("rows,raoq,rows-raoq-rows256,0,256,10,test_accuracy,90.25,91.25,6,786432,0,0,1.5e-09,true\n"));
  // Two keys: a matrix per method and phase.
  for (auto& p : r.sweep) p.values = {{"adc.ba", p.values["adc.rows"] == 128 ? 6 : 8}, {"adc.k", 4}};
  const std::string md2 = sweep_markdown(r);
  INFO(md2);
  CHECK_THAT(md2, Contains("RAOQ, fine-tuned: test accuracy (%)\n\n| adc.ba \\ adc.k | 4 |\n|---|---|\n| 6 | 81.50 |\n| 8 | 91.25 |"));
  // results.json keeps the rows and marks the front.
  const Results back = Results::from_json(r.to_json());
  REQUIRE(back.sweep.size() == 4);
  CHECK(back.sweep[3].after == 91.25);
  CHECK(back.sweep[3].values == r.sweep[3].values);
  CHECK(r.to_json()["sweep"][3]["pareto"] == true);
}

namespace {

const std::string& data_dir() { return testing::synthetic_idx_dir("raoq_sweep_idx_", 64, 32, 8, 4, 5); }

// fp -> qat -> qat_v, one adc stage (raoq at ba 5 on 16-row arrays), then a sweep over rows
// {16, 32} at ba 5 of both methods, 2 fine-tune steps per point.
Json run_config() {
  Json c = Json::parse(R"({
    "name": "tinysweep", "seed": 4,
    "data": {"kind": "idx", "normalize": {"mean": [0.4], "std": [0.3]}},
    "model": {"name": "cnn-small", "width": 2},
    "stages": [
      {"name": "fp", "epochs": 1, "batch_size": 16, "optimizer": {"name": "sgd", "lr": 0.05}},
      {"name": "qat", "kind": "qat", "epochs": 1, "batch_size": 16, "optimizer": {"name": "sgd", "lr": 0.01}},
      {"name": "qat_v", "kind": "qat", "epochs": 1, "batch_size": 16, "optimizer": {"name": "sgd", "lr": 0.01},
       "ashift": false, "init_from": "fp"},
      {"name": "adc", "kind": "adc", "epochs": 1, "batch_size": 16, "max_steps": 2, "init_from": "qat",
       "optimizer": {"name": "sgd", "lr": 0.004}, "adc": {"ba": 5, "rows": 16}},
      {"name": "hw", "kind": "sweep", "methods": ["vanilla", "raoq"], "init_from": {"vanilla": "qat_v", "raoq": "qat"},
       "grid": {"adc.rows": [16, 32]}, "finetune_steps": 2, "batch_size": 16,
       "optimizer": {"name": "sgd", "lr": 0.004}, "adc": {"ba": 5}}
    ],
    "checkpoint": {"every_steps": 1}, "log": {"every_steps": 1}
  })");
  c["data"]["root"] = data_dir();
  return c;
}

struct Interrupted {};

}  // namespace

TEST_CASE("sweep: a tiny run evaluates and fine-tunes every point, counts its cost, and resumes mid-grid bitwise",
          "[tools]") {
  const std::string out = testing::make_temp_dir("raoq_sweep_run_");
  const Results r = testing::train_run(out, run_config(), "tinysweep", false);
  REQUIRE(r.sweep.size() == 4);
  const std::vector<std::string> stages = {"hw-vanilla-rows16", "hw-raoq-rows16", "hw-vanilla-rows32", "hw-raoq-rows32"};
  for (size_t i = 0; i < 4; ++i) {
    const SweepRow& p = r.sweep[i];
    INFO(p.stage);
    CHECK(p.stage == stages[i]);
    CHECK(p.done);
    CHECK(p.finetune_steps == 2);
    REQUIRE(p.after.has_value());
    CHECK(p.before >= 0.0);
    CHECK(*p.after <= 100.0);
    CHECK(p.energy > 0.0);
    CHECK_FALSE(fs::exists(out + "/checkpoints/" + p.stage + ".safetensors"));  // points keep no checkpoint
  }
  // 16-row arrays need more row tiles than 32-row ones: more arrays and more conversions per sample.
  CHECK(r.sweep[1].arrays > r.sweep[3].arrays);
  CHECK(r.sweep[1].conversions > r.sweep[3].conversions);
  CHECK(r.sweep[1].array_macs == r.sweep[3].array_macs);  // the same products
  // The raoq point on the adc stage's hardware starts from the same checkpoint: the same figure before fine-tuning.
  double adc_noft = -1;
  for (const auto& t : r.table)
    if (t.method == "raoq_noft") adc_noft = t.value;
  CHECK(r.sweep[1].before == adc_noft);
  // The sweep rows are not Table 1 rows.
  for (const auto& t : r.table) CHECK(t.method.rfind("hw", 0) != 0);
  const std::string md = testing::read_text(out + "/results.md");
  CHECK_THAT(md, Contains("## Sweep hw: test accuracy (%) on the arrays"));
  CHECK_THAT(md, Contains("| adc.rows | rows=16 | rows=32 |"));
  const std::string csv = testing::read_text(out + "/sweep.csv");
  CHECK(std::count(csv.begin(), csv.end(), '\n') == 5);
  const std::vector<char> png = testing::file_bytes(out + "/pareto.png");
  REQUIRE(png.size() > 8);
  CHECK(std::string(png.begin() + 1, png.begin() + 4) == "PNG");
  CHECK_THAT(testing::read_text(out + "/pareto.svg"), Contains("<svg"));
  // The run's other figures: training curves and the Table 1 rows against the ADC bits.
  for (const char* figure : {"/training_curves", "/results"}) {
    INFO(figure);
    const std::vector<char> bytes = testing::file_bytes(out + figure + ".png");
    REQUIRE(bytes.size() > 8);
    CHECK(std::string(bytes.begin() + 1, bytes.begin() + 4) == "PNG");
    CHECK_THAT(testing::read_text(out + figure + ".svg"), Contains("<svg"));
  }
  // Train rows of a BitAug stage log lambda_b, falling from 1 (the cosine of imc/bitaug.h).
  std::vector<double> lambdas;
  std::istringstream metrics(testing::read_text(out + "/metrics.jsonl"));
  for (std::string line; std::getline(metrics, line);) {
    const Json row = Json::parse(line);
    if (row.value("stage", "") == "adc" && row.contains("bitaug_lambda")) lambdas.push_back(row["bitaug_lambda"].get<double>());
  }
  CHECK(lambdas == std::vector<double>{1.0, 0.0});  // 2 steps, a row after each

  // Interrupted inside the third point's fine-tune (steps: fp 4 + qat 4 + qat_v 4 + adc 2, then 2 per point)
  // and resumed: the same rows, bit for bit.
  const std::string cut = testing::make_temp_dir("raoq_sweep_cut_");
  CHECK_THROWS_AS(testing::train_run(cut, run_config(), "tinysweep", false,
                                     [](int64_t step) {
                                       if (step == 19) throw Interrupted{};
                                     }),
                  Interrupted);
  const Results again = testing::train_run(cut, run_config(), "tinysweep", true);
  REQUIRE(again.sweep.size() == 4);
  CHECK(again.to_json()["sweep"] == r.to_json()["sweep"]);
  CHECK(testing::read_text(cut + "/sweep.csv") == csv);
  fs::remove_all(out);
  fs::remove_all(cut);
}

TEST_CASE("sweep: raoq sweep appends a grid to a finished run and runs only the new points", "[tools]") {
  Json config = run_config();
  config["stages"].erase(4);  // the run without its sweep
  const std::string out = testing::make_temp_dir("raoq_sweep_cmd_");
  const Results before = testing::train_run(out, config, "tinysweep", false);
  const std::string last = testing::read_text(out + "/checkpoints/adc.safetensors");

  SweepArgs a;
  a.run_dir = out;
  a.grid = {"adc.ba=5,6"};
  a.threads = 1;
  // The stage it appends: both methods from their QAT stages, the fine-tune's settings from the run's adc stage.
  const Json stage = sweep_stage_for_run(Json::parse(testing::read_text(out + "/config.json")), a);
  CHECK(stage["kind"] == "sweep");
  CHECK(stage["name"] == "sweep");
  CHECK(stage["methods"] == Json{"vanilla", "raoq"});
  CHECK(stage["init_from"] == Json{{"vanilla", "qat_v"}, {"raoq", "qat"}});
  CHECK(stage["grid"] == Json{{"adc.ba", {5, 6}}});
  CHECK(stage["adc"]["rows"] == 16);
  CHECK_FALSE(stage.contains("bitaug"));  // each method's own default
  std::ostringstream text;
  CHECK(sweep_command(a, text) == 0);
  INFO(text.str());
  CHECK_THAT(text.str(), Contains("note: 4 stages added after the run's 4"));
  const Json resolved = Json::parse(testing::read_text(out + "/config.json"));
  CHECK(resolved["stages"].size() == 8);
  CHECK(resolved["stages"][7]["name"] == "sweep-raoq-ba6");
  const Results after = Results::from_json(Json::parse(testing::read_text(out + "/results.json")));
  REQUIRE(after.sweep.size() == 4);
  CHECK(after.table.size() == before.table.size());  // the run's own rows untouched
  for (const auto& p : after.sweep) CHECK_FALSE(p.after.has_value());  // evaluated only
  // The raoq point at ba 5 on the adc stage's hardware: the adc stage's figure before fine-tuning.
  for (const auto& t : before.table)
    if (t.method == "raoq_noft") CHECK(after.sweep[1].before == t.value);
  CHECK(testing::read_text(out + "/checkpoints/adc.safetensors") == last);  // earlier stages not rerun
  // The same name twice, a bad grid, a run that does not exist.
  a.name = "sweep";
  CHECK_THROWS_WITH(sweep_command(a, text), Contains("the run already has a stage or sweep named 'sweep'"));
  a.name = "";
  a.grid = {"adc.ba"};
  CHECK_THROWS_WITH(sweep_command(a, text), Equals("sweep: --grid expects KEY=V1,V2,... (got 'adc.ba')"));
  a.grid = {"adc.ba=5,,6"};
  CHECK_THROWS_WITH(sweep_command(a, text), Equals("sweep: --grid adc.ba=5,,6 has an empty value"));
  a.run_dir = out + "/nothing";
  CHECK_THROWS_WITH(sweep_command(a, text), Contains("is not a run directory"));
  fs::remove_all(out);
}
