// tools/cli.cpp — argument parsing, help texts and dispatch for the raoq command line.
#include "tools/cli.h"

#include <algorithm>
#include <filesystem>
#include <ostream>

#include "bench/bench.h"
#include "core/distributed.h"
#include "core/error.h"
#include "core/json_fields.h"
#include "tools/cmd_export.h"
#include "tools/cmd_generate.h"
#include "tools/cmd_gradcheck.h"
#include "tools/cmd_inspect.h"
#include "tools/cmd_report.h"
#include "tools/cmd_step.h"
#include "tools/cmd_sweep.h"
#include "tools/cmd_torch.h"
#include "tools/commands.h"
#include "tools/mpi_session.h"
#include "tools/pipeline/config.h"
#include "tools/pipeline/environment.h"

namespace raoq::tools {
namespace {

const char* kMainHelp = R"(raoq — quantization-aware training for analog in-memory-computing hardware

usage: raoq <command> [options]

commands:
  train CONFIG.json    train the model a config describes, stage by stage, into a run directory
  eval RUN_DIR         evaluate a run's checkpoint on its test data (or CONFIG.json --checkpoint FILE)
  inspect RUN_DIR      per-IMC-layer ADC statistics of an adc stage, and PNG histograms
  report RUN_DIR       the run as one self-contained HTML page: results, figures, environment, config
  sweep RUN_DIR        a grid of hardware points (ADC bits, k, rows, ...) from a run's QAT models
  export RUN_DIR       an adc stage as the arrays would be programmed with it (codes, ADC, scales)
  run-export DIR       the integer reference on an export, optionally compared code by code
  bench                the benchmark table as JSON lines (bench/README.md), as raoq-bench prints it
  generate RUN_DIR     continue a prompt with a run's language model (on the arrays for an adc stage)
  import-torch FILE    a PyTorch state_dict (safetensors) as a run whose fp stage is finished
  export-torch RUN     a run's checkpoint as a PyTorch state_dict (safetensors)
  models [NAME]        list the model builders, or print one model's layers and shapes
  gradcheck [OP...]    every op's backward against finite differences, as a table
  step CONFIG|RUN      one training step with every activation, gradient and scale dumped to a folder
  help [TOPIC]         help on a command, or `raoq help config` for every config key

Getting started:
  raoq train configs/fmnist-fp.json --quick     a one-minute smoke test of the whole pipeline
  raoq train configs/fmnist-fp.json             full-precision cnn-small on Fashion-MNIST
  raoq eval runs/fmnist-fp                      the run's last finished stage on its test data
  raoq eval configs/fmnist-fp.json --checkpoint runs/fmnist-fp/checkpoints/best.safetensors

Run `raoq <command> --help` for a command's options.
)";

const char* kTrainHelp = R"(usage: raoq train CONFIG.json [options]

Trains the model named in CONFIG.json through each of its stages, in order, and writes a run
directory (default runs/<config name>; runs/<config name>-quick with --quick). A run directory
in place of CONFIG.json means its config.json, and is then also the default --out:
  config.json         the resolved config: every default filled in, --set values applied
  metrics.jsonl       one JSON object per logged step and per evaluation
  checkpoints/        last.safetensors (every checkpoint.every_steps steps and each epoch end),
                      best.safetensors (best validation accuracy of the latest stage),
                      <stage>.safetensors (the model at the end of each stage)
  results.json        the results table, {"table": [{"method", "ba", "metric", "value"}, ...]}
  results.md          the same table for people

Every config key is checked before any work starts; a problem is one line naming the key.
Ctrl-C during set-up (reading data, building the model) exits at once; once training steps
run, it stops at the next step boundary after writing last.safetensors; --resume continues.
Checkpoints hold no time, so two identical runs write identical checkpoint bytes.
Under `mpirun -np N` (or --emulate-ranks N) the run is data-parallel: each rank trains on 1/N of
every global batch, gradients and BatchNorm statistics are combined in rank order, and rank 0
alone prints and writes (README: "Data-parallel training").

options:
)";

const char* kTrainFooter = R"(
Examples:
  raoq train configs/fmnist-fp.json --quick
  raoq train configs/fmnist-fp.json --set stages[0].epochs=5 --set stages[0].optimizer.lr=0.05
  raoq train configs/fmnist-fp.json --resume            after an interruption
  raoq train runs/fmnist-fp --resume                    the same, naming the run directory
See `raoq help config` for every config key.
)";

const char* kEvalHelp = R"(usage: raoq eval RUN_DIR [--checkpoint FILE] [options]
       raoq eval CONFIG.json --checkpoint FILE [options]

Builds the model described by the config (a run directory's config.json, or CONFIG.json), loads
the weights from FILE (any checkpoint that raoq train wrote: last, best or a stage's; default for
a run directory: its last finished stage's), and prints the loss and accuracy on the config's
test data. The checkpoint must come from the same model description.

options:
)";

const char* kModelsHelp = R"(usage: raoq models [NAME] [--set option=value ...]

Without NAME, lists every model builder with its options. With NAME, builds that model (with
the options given by --set, e.g. --set width_mult=0.5) and prints its layer tree, then a table
of every layer's output shape and parameter count for one example input.

options:
)";

std::vector<OptionSpec> train_options() {
  return {{"--out", "DIR", "run directory (default runs/<config name>, or runs/<config name>-quick)"},
          {"--set", "KEY=VALUE",
           "override a config key, e.g. stages[0].optimizer.lr=0.05 (repeatable; VALUE is "
           "JSON, or a plain string when it does not parse)",
           true},
          {"--resume", "",
           "continue from DIR/checkpoints/last.safetensors; the result is bitwise the same as an "
           "uninterrupted run at the same --threads"},
          {"--overwrite", "", "start again in a DIR that already holds a run (deletes its checkpoints and logs)"},
          {"--quick", "", "smoke test: every stage runs one epoch on 4096 training and 1000 test examples"},
          {"--threads", "N", "worker threads (default: every core)"},
          {"--emulate-ranks", "N",
           "train data-parallel as N ranks in this one process, one after another: bitwise what `mpirun -np N` "
           "computes at the same --threads (each rank takes 1/N of every global batch)"},
          {"--detect-anomaly", "",
           "check every op's output and gradient for NaN and infinity and name the first op that made one, with the "
           "step (slow: for debugging a diverging run)"},
          {"--print-config", "", "print the resolved config and exit without training"}};
}

std::vector<OptionSpec> eval_options() {
  return {{"--checkpoint", "FILE", "the checkpoint to evaluate (required with CONFIG.json)"},
          {"--set", "KEY=VALUE", "override a config key (repeatable), e.g. data.root=/data/fashion-mnist", true},
          {"--quick", "", "evaluate on the fixed subset of 1000 test examples that train --quick uses"},
          {"--batch-size", "N", "evaluation batch size (default: the last stage's eval.batch_size)"},
          {"--threads", "N", "worker threads (default: every core)"}};
}

std::vector<OptionSpec> models_options() {
  return {{"--set", "OPTION=VALUE", "a model option, e.g. --set num_classes=100 (repeatable)", true}};
}

std::string usage_of(const std::string& command) {
  if (command == "train") return "raoq train CONFIG.json [options]";
  if (command == "eval") return "raoq eval RUN_DIR | CONFIG.json --checkpoint FILE [options]";
  return "raoq models [NAME] [--set option=value ...]";
}

int print_help(const std::string& topic, std::ostream& out) {
  if (topic.empty())
    out << kMainHelp;
  else if (topic == "train")
    out << kTrainHelp << options_text(train_options()) << kTrainFooter;
  else if (topic == "eval")
    out << kEvalHelp << options_text(eval_options());
  else if (topic == "models")
    out << kModelsHelp << options_text(models_options());
  else if (topic == "config")
    out << config_reference();
  else if (topic == "inspect")
    return inspect_cli({"--help"}, out);
  else if (topic == "report")
    return report_cli({"--help"}, out);
  else if (topic == "generate")
    return generate_cli({"--help"}, out);
  else if (topic == "sweep")
    return sweep_cli({"--help"}, out);
  else if (topic == "export")
    return export_cli({"--help"}, out);
  else if (topic == "run-export")
    return run_export_cli({"--help"}, out);
  else if (topic == "import-torch")
    return import_torch_cli({"--help"}, out);
  else if (topic == "export-torch")
    return export_torch_cli({"--help"}, out);
  else if (topic == "bench")
    return bench::bench_cli({"--help"}, "bench");
  else if (topic == "gradcheck")
    return gradcheck_cli({"--help"}, out);
  else if (topic == "step")
    return step_cli({"--help"}, out);
  else
    throw Error("help: no help on '" + topic +
                "' (topics: train, eval, inspect, report, sweep, export, run-export, generate, bench, models, config, "
                "import-torch, export-torch, gradcheck, step)");
  return 0;
}

}  // namespace

int threads_option(const std::string& command, const ParsedArgs& p) {
  return static_cast<int>(std::min<int64_t>(positive_option(command, p, "--threads", 0), 4096));
}

std::string options_text(const std::vector<OptionSpec>& specs) {
  std::string out;
  std::vector<OptionSpec> all = specs;
  all.push_back({"--help", "", "show this help"});
  for (const auto& s : all) {
    std::string left = "  " + s.name + (s.value_name.empty() ? "" : " " + s.value_name);
    if (left.size() < 24)
      left += std::string(24 - left.size(), ' ');
    else
      left += "\n" + std::string(24, ' ');
    // Wrap the help at 100 columns, continuing under its first word.
    std::string line, text;
    for (size_t at = 0; at < s.help.size();) {
      size_t end = s.help.find(' ', at);
      if (end == std::string::npos) end = s.help.size();
      const std::string word = s.help.substr(at, end - at);
      if (!line.empty() && 24 + line.size() + 1 + word.size() > 100) {
        text += line + "\n" + std::string(24, ' ');
        line.clear();
      }
      line += (line.empty() ? "" : " ") + word;
      at = end + 1;
    }
    out += left + text + line + "\n";
  }
  return out;
}

std::string ParsedArgs::get(const std::string& name, const std::string& fallback) const {
  auto it = values.find(name);
  return it == values.end() ? fallback : it->second.back();
}

const std::vector<std::string>& ParsedArgs::all(const std::string& name) const {
  static const std::vector<std::string> none;
  auto it = values.find(name);
  return it == values.end() ? none : it->second;
}

ParsedArgs parse_args(const std::string& command, const std::vector<OptionSpec>& specs,
                      const std::vector<std::string>& args) {
  ParsedArgs p;
  bool options_done = false;
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& a = args[i];
    if (options_done || a.size() < 2 || a[0] != '-') {
      p.positional.push_back(a);
      continue;
    }
    if (a == "--") {
      options_done = true;
      continue;
    }
    if (a == "-h" || a == "--help") {
      p.help = true;
      continue;
    }
    const size_t eq = a.find('=');
    const std::string name = a.substr(0, eq);
    auto spec = std::find_if(specs.begin(), specs.end(), [&](const OptionSpec& s) { return s.name == name; });
    if (spec == specs.end()) {
      std::vector<std::string> names = {"--help"};
      for (const auto& s : specs) names.push_back(s.name);
      const auto near = closest_match(name, names);
      throw Error(command + ": unknown option " + name + (near ? " (did you mean " + *near + "?)" : "") +
                  "; see raoq " + command + " --help");
    }
    std::string value;
    if (spec->value_name.empty()) {
      if (eq != std::string::npos) throw Error(command + ": " + name + " takes no value (got '" + a + "')");
    } else if (eq != std::string::npos) {
      value = a.substr(eq + 1);
    } else {
      if (i + 1 >= args.size()) throw Error(command + ": " + name + " needs a value (" + spec->value_name + ")");
      value = args[++i];
    }
    auto& slot = p.values[name];
    if (!slot.empty() && !spec->repeatable) throw Error(command + ": " + name + " given twice");
    slot.push_back(value);
  }
  return p;
}

int64_t positive_option(const std::string& command, const ParsedArgs& parsed, const std::string& name,
                        int64_t fallback) {
  if (!parsed.has(name)) return fallback;
  const std::string v = parsed.get(name);
  const bool digits =
      !v.empty() && v.size() <= 9 && std::all_of(v.begin(), v.end(), [](char c) { return c >= '0' && c <= '9'; });
  if (!digits || std::stoll(v) < 1)
    throw Error(command + ": " + name + " must be a positive integer (got '" + v + "')");
  return std::stoll(v);
}

int run_command_line(const std::vector<std::string>& args, std::ostream& out) {
  if (args.empty()) {
    out << kMainHelp;
    return 2;
  }
  const std::string command = args[0];
  const std::vector<std::string> rest(args.begin() + 1, args.end());
  if (command == "-h" || command == "--help") return print_help("", out);
  // Under mpirun every rank runs this command line: only these commands share the work out (the
  // others would each do it whole and write the same files at once).
  const bool data_parallel = command == "train" || command == "eval" || command == "inspect" || command == "sweep";
  if (dist::distributed() && !data_parallel && command != "help" && command != "--version")
    throw Error(command + ": runs in one process; under mpirun (" + std::to_string(dist::size()) +
                " ranks) only train, sweep, eval and inspect run data-parallel");
  if (command == "--version") {
    out << "raoq " << raoq_version() << "\nMPI: " << mpi_build_description() << "\n";
    return 0;
  }
  if (command == "help") {
    if (rest.size() > 1) throw Error("help: expected at most one topic (got " + std::to_string(rest.size()) + ")");
    return print_help(rest.empty() ? "" : rest[0], out);
  }
  if (command == "train" || command == "eval") {
    const auto p = parse_args(command, command == "train" ? train_options() : eval_options(), rest);
    if (p.help) return print_help(command, out);
    if (p.positional.empty())
      throw Error(command + ": missing " + (command == "eval" ? "RUN_DIR or CONFIG.json" : "CONFIG.json") +
                  " (usage: " + usage_of(command) + ")");
    if (p.positional.size() > 1)
      throw Error(command + ": unexpected argument '" + p.positional[1] + "' (usage: " + usage_of(command) + ")");
    if (command == "train") {
      TrainArgs t;
      t.config_path = p.positional[0];
      t.out_dir = p.get("--out");
      t.overrides = p.all("--set");
      t.resume = p.has("--resume");
      t.overwrite = p.has("--overwrite");
      t.quick = p.has("--quick");
      t.print_config = p.has("--print-config");
      t.detect_anomaly = p.has("--detect-anomaly");
      t.threads = threads_option(command, p);
      t.emulate_ranks = static_cast<int>(positive_option(command, p, "--emulate-ranks", 0));
      if (t.emulate_ranks > 1024)
        throw Error("train: --emulate-ranks is at most 1024 (got " + std::to_string(t.emulate_ranks) + ")");
      if (t.resume && t.overwrite) throw Error("train: --resume and --overwrite contradict each other; choose one");
      return train_command(t, out);
    }
    EvalArgs e;
    e.config_path = p.positional[0];
    if (!p.has("--checkpoint") && !std::filesystem::is_directory(e.config_path))
      throw Error("eval: missing --checkpoint FILE (e.g. runs/<config name>/checkpoints/best.safetensors), or pass the "
                  "run directory instead of the config");
    e.checkpoint = p.get("--checkpoint");  // "": the run directory's last finished stage
    e.overrides = p.all("--set");
    e.quick = p.has("--quick");
    e.batch_size = positive_option(command, p, "--batch-size", 0);
    e.threads = threads_option(command, p);
    return eval_command(e, out);
  }
  if (command == "inspect") return inspect_cli(rest, out);
  if (command == "report") return report_cli(rest, out);
  if (command == "generate") return generate_cli(rest, out);
  if (command == "sweep") return sweep_cli(rest, out);
  if (command == "export") return export_cli(rest, out);
  if (command == "run-export") return run_export_cli(rest, out);
  if (command == "bench") return bench::bench_cli(rest, "bench");
  if (command == "import-torch") return import_torch_cli(rest, out);
  if (command == "export-torch") return export_torch_cli(rest, out);
  if (command == "gradcheck") return gradcheck_cli(rest, out);
  if (command == "step") return step_cli(rest, out);
  if (command == "models") {
    const auto p = parse_args(command, models_options(), rest);
    if (p.help) return print_help(command, out);
    if (p.positional.size() > 1)
      throw Error("models: unexpected argument '" + p.positional[1] + "' (usage: " + usage_of(command) + ")");
    if (p.positional.empty() && p.has("--set")) throw Error("models: --set needs a model NAME");
    return models_command(p.positional.empty() ? "" : p.positional[0], p.all("--set"), out);
  }
  std::vector<std::string> commands = {"train",      "eval",     "inspect", "sweep", "export",
                                       "run-export", "generate", "bench",   "models", "help", "report",
                                       "gradcheck",  "step"};
  commands.insert(commands.end(), {"import-torch", "export-torch"});
  const auto near = closest_match(command, commands);
  throw Error("unknown command '" + command + "'" + (near ? " (did you mean " + *near + "?)" : "") +
              "; run raoq --help for the commands");
}

}  // namespace raoq::tools
