// tools/commands.h — the raoq subcommands, callable without the argument parser (tests use them).
#pragma once

#include <cstdint>
#include <iosfwd>
#include <string>
#include <vector>

namespace raoq::tools {

struct TrainArgs {
  std::string config_path;             // a config file, or a run directory (its config.json; also the default out_dir)
  std::string out_dir;                 // empty: runs/<config name>[-quick]
  std::vector<std::string> overrides;  // --set key.path=value, in order
  bool resume = false;
  bool overwrite = false;
  bool quick = false;
  bool print_config = false;
  bool detect_anomaly = false;
  int threads = 0;  // 0: leave the default (all cores)
  int emulate_ranks = 0;  // > 1: data-parallel as that many ranks in this process (dist::run_emulated_ranks)
};
// Trains through every stage; see `raoq help train`.
int train_command(const TrainArgs& args, std::ostream& out);
struct Config;
// The same for a config already read (args: everything but config_path, overrides, quick and
// print_config; out_dir empty: runs/<name>, or config_path when that is a run directory).
int train_config(Config config, const TrainArgs& args, std::ostream& out);

struct EvalArgs {
  std::string config_path;  // a config file, or a run directory (its config.json)
  std::string checkpoint;   // "": a run directory's last finished stage
  std::vector<std::string> overrides;
  bool quick = false;
  int64_t batch_size = 0;  // 0: the last stage's eval.batch_size
  int threads = 0;
};
// Evaluates a checkpoint on the test split and prints loss and accuracy.
int eval_command(const EvalArgs& args, std::ostream& out);

// The checkpoint a run directory means for a command on the arrays: its last adc stage that kept
// one (sweep points keep none); a path that is no directory is returned as it is.
std::string last_adc_checkpoint(const std::string& target, const char* command);

// Lists the models, or (with a name) prints one model's tree and layer table.
int models_command(const std::string& name, const std::vector<std::string>& options, std::ostream& out);

}  // namespace raoq::tools
