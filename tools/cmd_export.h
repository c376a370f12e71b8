// tools/cmd_export.h — `raoq export` (a run's adc stage as the arrays would be programmed with it,
// tools/pipeline/export.h) and `raoq run-export` (the integer reference on test data, optionally
// compared with raoq's own model code by code).
#pragma once

#include <cstdint>
#include <iosfwd>
#include <string>
#include <vector>

namespace raoq::tools {

struct ExportArgs {
  std::string target;      // a run directory (its last adc stage with a checkpoint) or a stage checkpoint
  std::string checkpoint;  // overrides the run directory's choice
  std::string out;
  int threads = 0;
};
int export_command(const ExportArgs& args, std::ostream& out);

struct RunExportArgs {
  std::string dir;
  std::string data;     // the dataset root; "": the one the export's run trained on
  std::string compare;  // a run directory or stage checkpoint: compare ADC codes and logits with it
  int64_t examples = 0;  // 0: the whole test split
  int64_t batch_size = 250;
  int threads = 0;
};
// Returns 0, or 1 when a comparison finds differing codes or logits beyond 1e-5 relative.
int run_export_command(const RunExportArgs& args, std::ostream& out);

int export_cli(const std::vector<std::string>& args, std::ostream& out);
int run_export_cli(const std::vector<std::string>& args, std::ostream& out);

}  // namespace raoq::tools
