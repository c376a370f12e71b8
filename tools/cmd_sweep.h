// tools/cmd_sweep.h — `raoq sweep RUN_DIR --grid KEY=V1,V2,... [...]`: appends a sweep stage
// (tools/pipeline/stage_kind.h, kind sweep) to a finished run and runs it: every grid point on
// the arrays from the run's QAT checkpoints, vanilla and RAOQ side by side.
#pragma once

#include <iosfwd>
#include <string>
#include <vector>

#include "core/json_fields.h"

namespace raoq::tools {

struct SweepArgs {
  std::string run_dir;
  std::vector<std::string> grid;     // "adc.ba=5,6,7,8", in order
  std::vector<std::string> methods;  // empty: every method the run has a QAT stage for
  std::vector<std::string> init_from;  // "STAGE" or "METHOD=STAGE"; empty: each method's last QAT stage
  int64_t finetune_steps = 0;
  std::string name;  // empty: "sweep", "sweep2", ...
  int threads = 0;
};

// The sweep stage `args` describe for the run whose resolved config is `run_config` (its
// config.json): grid values parsed as JSON (a plain string when not), the fine-tune's settings
// taken from the run's last adc stage (or, without one, the starting QAT stage). Throws
// raoq::Error "sweep: ..." naming the argument at fault.
// *settings_from (when given) receives the stage those settings were copied from.
Json sweep_stage_for_run(const Json& run_config, const SweepArgs& args, std::string* settings_from = nullptr);

int sweep_command(const SweepArgs& args, std::ostream& out);
// `raoq sweep ARGS...` (the words after "sweep").
int sweep_cli(const std::vector<std::string>& args, std::ostream& out);

}  // namespace raoq::tools
