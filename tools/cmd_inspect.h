// tools/cmd_inspect.h — `raoq inspect RUN_DIR_OR_CHECKPOINT [--png DIR]`: per-IMC-layer statistics
// (imc/stats.h) of an adc-stage checkpoint on the test data, and PNG histograms.
#pragma once

#include <cstdint>
#include <iosfwd>
#include <string>
#include <vector>

namespace raoq::tools {

struct InspectArgs {
  std::string target;       // a run directory (its last adc stage) or a stage checkpoint
  std::string png_dir;      // "" = no images
  int64_t examples = 1000;  // test examples the statistics are collected on
  int threads = 0;
  bool cost = false;        // also the cost table (imc/cost.h) with the run's "cost" constants
  std::string against;      // another adc stage's checkpoint, overlaid in the images ("" = none)
};
int inspect_command(const InspectArgs& args, std::ostream& out);

// `raoq inspect ARGS...` (the words after "inspect"): parses them and runs inspect_command.
int inspect_cli(const std::vector<std::string>& args, std::ostream& out);

extern const char* const kInspectHelp;

}  // namespace raoq::tools
