// tools/commands.cpp — `raoq train`, `raoq eval` and `raoq models` behind the argument parser.
#include "tools/commands.h"

#include <cstdio>
#include <filesystem>
#include <iostream>

#include "core/distributed.h"
#include "core/error.h"
#include "core/parallel.h"
#include "models/registry.h"
#include "models/summary.h"
#include "tools/pipeline/checkpoint.h"
#include "tools/pipeline/config.h"
#include "tools/pipeline/evaluate.h"
#include "tools/pipeline/progress.h"
#include "tools/pipeline/stage_kind.h"
#include "tools/pipeline/task.h"
#include "tools/interrupt.h"
#include "tools/pipeline/trainer.h"

namespace raoq::tools {
namespace fs = std::filesystem;
namespace {

// The checkpoint a run directory means when none is named: its last finished stage's.
std::string last_stage_checkpoint(const std::string& run_dir, const Config& config, const char* command) {
  std::string path;
  for (const auto& s : config.stages)
    if (fs::exists(run_dir + "/checkpoints/" + s.name + ".safetensors")) path = run_dir + "/checkpoints/" + s.name + ".safetensors";
  RAOQ_CHECK(!path.empty(), command, ": no stage of the run in '", run_dir,
             "' has finished yet; pass --checkpoint FILE (e.g. its checkpoints/last.safetensors)");
  return path;
}

}  // namespace

std::string last_adc_checkpoint(const std::string& target, const char* command) {
  if (!fs::is_directory(target)) return target;
  const Config config = parse_config(read_json_file(target), "run");  // a directory without config.json is named
  std::string stage;
  for (const auto& s : config.stages)
    if (kind_of(s).on_arrays && s.save_checkpoint && fs::exists(target + "/checkpoints/" + s.name + ".safetensors"))
      stage = s.name;
  RAOQ_CHECK(!stage.empty(), command, ": the run in '", target, "' has no finished adc stage with a checkpoint");
  return target + "/checkpoints/" + stage + ".safetensors";
}

int train_command(const TrainArgs& args, std::ostream& out) {
  Config config = load_config(args.config_path, args.overrides);
  if (args.quick) make_quick(config);
  if (args.print_config) {
    out << to_json(config).dump(2) << "\n";
    return 0;
  }
  return train_config(std::move(config), args, out);
}

int train_config(Config config, const TrainArgs& args, std::ostream& out) {
  TrainOptions o;
  o.out_dir = args.out_dir.empty() ? "runs/" + config.name + (args.quick ? "-quick" : "") : args.out_dir;
  // A run directory given instead of a config continues (or, without --resume, guards) itself.
  if (args.out_dir.empty() && fs::is_directory(args.config_path)) o.out_dir = args.config_path;
  std::error_code ec;
  RAOQ_CHECK(!fs::exists(o.out_dir, ec) || fs::is_directory(o.out_dir, ec), "train: --out '", o.out_dir,
             "' is a file, expected a directory (the run directory to write)");
  o.resume = args.resume;
  o.overwrite = args.overwrite;
  o.threads = args.threads;
  o.out = &out;
  // Under mpirun stdout is a pseudo-terminal even when the job's output goes to a file: no live bar.
  o.terminal = &out == &std::cout && stdout_is_terminal() && !dist::distributed();
  o.detect_anomaly = args.detect_anomaly;
  out << "raoq train: " << config.name << (args.quick ? " (quick)" : "") << "\n";
  TrainInterrupts interrupts;
  o.stop = interrupts.stop();
  o.setup_done = [&interrupts] { interrupts.graceful(); };
  if (args.emulate_ranks <= 1) {
    run_training(std::move(config), o);
    return 0;
  }
  RAOQ_CHECK(!dist::distributed(), "train: --emulate-ranks emulates ranks in one process; under mpirun there are ",
             dist::size(), " real ones already");
  std::ostream quiet(nullptr);  // rank 0 speaks for the run
  dist::run_emulated_ranks(args.emulate_ranks, [&](int rank) {
    TrainOptions mine = o;
    if (rank > 0) mine.out = &quiet, mine.terminal = false, mine.setup_done = nullptr;
    run_training(config, mine);
  });
  return 0;
}

int eval_command(const EvalArgs& args, std::ostream& out) {
  Config config = load_config(args.config_path, args.overrides);
  if (args.quick) make_quick(config);
  if (args.threads > 0) set_num_threads(args.threads);
  std::string checkpoint_path = args.checkpoint;
  if (checkpoint_path.empty()) {
    RAOQ_CHECK(fs::is_directory(args.config_path), "eval: missing --checkpoint FILE (e.g. runs/<config name>/",
               "checkpoints/best.safetensors), or pass the run directory instead of the config");
    checkpoint_path = last_stage_checkpoint(args.config_path, config, "eval");
  }
  const Checkpoint checkpoint = read_checkpoint(checkpoint_path);
  const std::unique_ptr<Task> task = make_task(config.data, config.seed, /*need_train=*/false);
  config.model = task->resolve_model(config.model_given);
  if (checkpoint.config.is_object() && checkpoint.config.contains("model")) {
    const std::string diff =
        first_difference(checkpoint.config.at("model"), config.model, "model", "in the checkpoint", "in the config");
    RAOQ_CHECK(diff.empty(), "eval: the checkpoint's model differs from the config's at ", diff,
               "; evaluate it with the config.json of its run directory");
  }
  // A stage checkpoint of a qat or adc stage holds the model as that stage converted it.
  int64_t stage_index = -1;
  if (checkpoint.state.is_object() && checkpoint.state.contains("stage") && checkpoint.state["stage"].is_string())
    for (size_t i = 0; i < config.stages.size(); ++i)
      if (config.stages[i].name == checkpoint.state["stage"].get<std::string>()) stage_index = static_cast<int64_t>(i);
  auto model = build_model_for_stage(config, stage_index);
  load_model(*model, checkpoint, checkpoint_path);
  const int64_t batch = args.batch_size > 0 ? args.batch_size : config.stages.back().eval.batch_size;
  const EvalResult r = task->evaluate(*model, EvalSplit::test, batch);
  char line[240];
  if (r.per_token)
    std::snprintf(line, sizeof line,
                  "test: %lld tokens, loss %.4f, perplexity %.3f, %.3f bits per token, next-token accuracy %.2f%% "
                  "(%.1f s, %.0f tokens/s)\n",
                  static_cast<long long>(r.examples), r.loss, r.perplexity(), r.bits_per_token(), r.accuracy,
                  r.seconds, static_cast<double>(r.examples) / std::max(1e-9, r.seconds));
  else
    std::snprintf(line, sizeof line, "test: %lld examples, loss %.4f, accuracy %.2f%% (%.1f s, %.0f ex/s)\n",
                  static_cast<long long>(r.examples), r.loss, r.accuracy, r.seconds,
                  static_cast<double>(r.examples) / std::max(1e-9, r.seconds));
  out << "checkpoint: " << checkpoint_path;
  if (checkpoint.kind == "model" && checkpoint.state.contains("stage") && checkpoint.state["stage"].is_string())
    out << " (stage " << checkpoint.state["stage"].get<std::string>() << ")";
  out << "\ndata: " << task->describe() << "\n" << line;
  return 0;
}

int models_command(const std::string& name, const std::vector<std::string>& options, std::ostream& out) {
  if (name.empty()) {
    out << "models (build one with --set option=value, e.g. raoq models resnet20 --set num_classes=100):\n";
    for (const auto& m : models::available_models())
      out << "\n  " << m.name << "\n    " << m.summary << "\n    options: " << m.options << "\n";
    return 0;
  }
  Json description = Json::object();
  description["name"] = name;
  for (const auto& o : options) apply_override(description, o);
  const Json resolved = models::validate_model(description);
  auto model = models::build_from_json(resolved);
  out << resolved.dump() << "\n\n" << *model << "\n";
  models::print_summary(*model, models::example_input_shape(resolved), out);
  return 0;
}

}  // namespace raoq::tools
