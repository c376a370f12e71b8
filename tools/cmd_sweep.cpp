// tools/cmd_sweep.cpp — `raoq sweep`: a sweep stage appended to a run and run there (cmd_sweep.h).
#include "tools/cmd_sweep.h"

#include <algorithm>
#include <filesystem>
#include <ostream>

#include "core/error.h"
#include "tools/cli.h"
#include "tools/commands.h"
#include "tools/pipeline/config.h"

namespace raoq::tools {
namespace fs = std::filesystem;
namespace {

const char* const kSweepHelp = R"(usage: raoq sweep RUN_DIR --grid KEY=V1,V2,... [--grid ...] [options]

Evaluates a finished run's QAT models on every point of a hardware grid, with the ADC in the
loop, and optionally fine-tunes each point: one adc stage per (point, method), appended to the
run's config.json as a sweep stage. Each point's test figure before and after its fine-tune,
arrays, ADC conversions and energy proxy per sample go to results.json, results.md (the paper's
Appendix F layout), sweep.csv, and pareto.png / pareto.svg (the figure against the energy proxy).
An interrupted sweep continues with `raoq train RUN_DIR --resume`, from the point it was at.

KEY is any key path of an adc stage, as for --set: adc.ba, adc.k, adc.rows, adc.cols, bits, ...
Grid points are the product of the lists (the last --grid varying fastest).

options:
)";

std::vector<OptionSpec> sweep_options() {
  return {{"--grid", "KEY=V1,V2,...", "a grid axis, e.g. adc.ba=5,6,7,8 (repeatable)", true},
          {"--methods", "M1,M2", "vanilla, raoq or both (default: each the run has a qat stage for, vanilla first)"},
          {"--init-from", "STAGE | METHOD=STAGE",
           "the checkpoint each method starts from (repeatable; default: the run's last qat stage with that "
           "method's ashift)",
           true},
          {"--finetune-steps", "N", "fine-tune each point for N steps after evaluating it (default: evaluate only)"},
          {"--name", "NAME", "the sweep's name in the results (default: sweep, sweep2, ...)"},
          {"--threads", "N", "worker threads (default: every core)"}};
}

std::vector<std::string> split_commas(const std::string& text) {
  std::vector<std::string> out;
  size_t at = 0;
  while (true) {
    const size_t comma = text.find(',', at);
    out.push_back(text.substr(at, comma == std::string::npos ? std::string::npos : comma - at));
    if (comma == std::string::npos) break;
    at = comma + 1;
  }
  return out;
}

Json grid_value(const std::string& item, const std::string& option) {
  RAOQ_CHECK(!item.empty(), "sweep: --grid ", printable(option), " has an empty value");
  try {
    Json v = parse_json(item, "sweep: --grid " + printable(option));
    if (!v.is_object() && !v.is_array() && !v.is_null()) return v;
  } catch (const JsonSyntaxError&) {
  }
  return Json(item);  // a plain string (a representation, a mapping)
}

// The stage names of the run's qat stages with that ashift, the last one last.
std::string last_qat(const Json& stages, bool ashift) {
  std::string name;
  for (const Json& s : stages)
    if (s.value("kind", "") == "qat" && s.value("ashift", true) == ashift) name = s.value("name", "");
  return name;
}

}  // namespace

Json sweep_stage_for_run(const Json& run_config, const SweepArgs& args, std::string* settings_from) {
  RAOQ_CHECK(run_config.is_object() && run_config.contains("stages") && run_config["stages"].is_array(),
             "sweep: the run's config has no stages list");
  const Json& stages = run_config["stages"];
  RAOQ_CHECK(!args.grid.empty(), "sweep: give at least one --grid KEY=V1,V2,... (e.g. --grid adc.ba=5,6,7,8)");
  Json grid = Json::object();
  for (const std::string& g : args.grid) {
    const size_t eq = g.find('=');
    RAOQ_CHECK(eq != std::string::npos && eq > 0 && eq + 1 < g.size(), "sweep: --grid expects KEY=V1,V2,... (got '",
               printable(g), "')");
    const std::string key = g.substr(0, eq);
    RAOQ_CHECK(!grid.contains(key), "sweep: --grid ", printable(key), " is given twice");
    Json values = Json::array();
    for (const std::string& item : split_commas(g.substr(eq + 1))) values.push_back(grid_value(item, g));
    grid[key] = values;
  }
  // Methods and where each starts.
  std::vector<std::string> methods = args.methods;
  if (methods.empty())
    for (const char* m : {"vanilla", "raoq"})
      if (!last_qat(stages, std::string(m) == "raoq").empty()) methods.push_back(m);
  RAOQ_CHECK(!methods.empty(), "sweep: the run has no qat stage to start from; name a stage with --init-from");
  Json init = Json::object();
  for (const std::string& entry : args.init_from) {
    const size_t eq = entry.find('=');
    if (eq == std::string::npos) {
      for (const auto& m : methods) init[m] = entry;
      continue;
    }
    const std::string m = entry.substr(0, eq);
    RAOQ_CHECK(std::find(methods.begin(), methods.end(), m) != methods.end(), "sweep: --init-from ", printable(entry),
               " names method '", printable(m), "', which is not swept (methods: ", Json(methods).dump(), ")");
    init[m] = entry.substr(eq + 1);
  }
  for (const auto& m : methods)
    if (!init.contains(m)) {
      const std::string from = last_qat(stages, m == "raoq");
      RAOQ_CHECK(!from.empty(), "sweep: the run has no qat stage with ashift ", m == "raoq" ? "true" : "false",
                 " for method ", m, "; name one with --init-from ", m, "=STAGE");
      init[m] = from;
    }
  // The fine-tune's settings: the run's last adc stage outside a sweep, less what the method and
  // the sweep decide; without one, the starting QAT stage's batch, optimizer and bits.
  const Json* adc = nullptr;
  for (const Json& s : stages)
    if (s.value("kind", "") == "adc" && !s.contains("sweep")) adc = &s;
  Json stage = Json::object();
  if (adc) {
    if (settings_from) *settings_from = adc->value("name", "");
    stage = *adc;
    for (const char* key : {"name", "label", "init_from", "method", "ashift", "wreshape", "bitaug", "sweep",
                            "finetune", "save_checkpoint", "max_steps", "resolved_layers", "lora"})
      stage.erase(key);
  } else {
    const std::string from = init[methods.front()].get<std::string>();
    if (settings_from) *settings_from = from;
    for (const Json& s : stages)
      if (s.value("name", "") == from)
        for (const char* key : {"bits", "per_channel", "unsigned_inputs", "batch_size", "optimizer", "eval",
                                "weight_decay", "grad_clip", "label_smoothing"})
          if (s.contains(key)) stage[key] = s[key];
    stage["epochs"] = 1;
  }
  std::string name = args.name;
  auto taken = [&](const std::string& n) {
    for (const Json& s : stages)
      if (s.value("name", "") == n || (s.contains("sweep") && s["sweep"].is_object() && s["sweep"].value("name", "") == n))
        return true;
    return false;
  };
  if (name.empty()) {
    name = "sweep";
    for (int i = 2; taken(name); ++i) name = "sweep" + std::to_string(i);
  }
  RAOQ_CHECK(valid_stage_name(name), "sweep: --name must be 1-64 letters, digits, '-' or '_' (got '", printable(name), "')");
  RAOQ_CHECK(!taken(name), "sweep: the run already has a stage or sweep named '", name, "'; choose another --name");
  stage["kind"] = "sweep";
  stage["name"] = name;
  stage["methods"] = methods;
  stage["init_from"] = init;
  stage["grid"] = grid;
  stage["finetune_steps"] = args.finetune_steps;
  return stage;
}

int sweep_command(const SweepArgs& args, std::ostream& out) {
  std::error_code ec;
  RAOQ_CHECK(fs::is_directory(args.run_dir, ec), "sweep: '", args.run_dir, "' is not a run directory (it should hold ",
             "the config.json and checkpoints/ that raoq train wrote)");
  RAOQ_CHECK(fs::is_regular_file(fs::path(args.run_dir) / "checkpoints" / "last.safetensors", ec), "sweep: '",
             args.run_dir, "' has no checkpoints/last.safetensors; train the run first (raoq train)");
  Json raw = read_json_file(args.run_dir);
  std::string settings_from;
  raw["stages"].push_back(sweep_stage_for_run(raw, args, &settings_from));
  // The hardware the grid does not vary, and the fine-tune's settings, are that stage's.
  out << "sweep: the hardware and fine-tune settings the grid does not set come from stage " << settings_from << "\n";
  Config config = parse_config(raw, fs::path(args.run_dir).filename().string());
  TrainArgs t;
  t.config_path = args.run_dir;
  t.out_dir = args.run_dir;
  t.resume = true;
  t.threads = args.threads;
  return train_config(std::move(config), t, out);
}

int sweep_cli(const std::vector<std::string>& args, std::ostream& out) {
  const ParsedArgs p = parse_args("sweep", sweep_options(), args);
  if (p.help) {
    out << kSweepHelp << options_text(sweep_options());
    return 0;
  }
  RAOQ_CHECK(!p.positional.empty(), "sweep: missing RUN_DIR (usage: raoq sweep RUN_DIR --grid KEY=V1,V2,...)");
  RAOQ_CHECK(p.positional.size() == 1, "sweep: unexpected argument '", printable(p.positional[1]),
             "' (usage: raoq sweep RUN_DIR --grid KEY=V1,V2,...)");
  SweepArgs a;
  a.run_dir = p.positional[0];
  a.grid = p.all("--grid");
  if (p.has("--methods")) {
    a.methods = split_commas(p.get("--methods"));
    for (size_t i = 0; i < a.methods.size(); ++i) {
      RAOQ_CHECK(a.methods[i] == "raoq" || a.methods[i] == "vanilla", "sweep: --methods items must be raoq or vanilla (got '",
                 printable(a.methods[i]), "')");
      for (size_t j = 0; j < i; ++j)
        RAOQ_CHECK(a.methods[j] != a.methods[i], "sweep: --methods lists ", a.methods[i], " twice");
    }
  }
  a.init_from = p.all("--init-from");
  a.finetune_steps = positive_option("sweep", p, "--finetune-steps", 0);
  a.name = p.get("--name");
  a.threads = threads_option("sweep", p);
  return sweep_command(a, out);
}

}  // namespace raoq::tools
