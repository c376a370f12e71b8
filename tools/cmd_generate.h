// tools/cmd_generate.h — `raoq generate RUN_DIR --prompt TEXT [...]`: text from a run's language
// model (tools/pipeline/generate.h), on the arrays when the checkpoint is an adc stage's.
#pragma once

#include <cstdint>
#include <iosfwd>
#include <string>
#include <vector>

#include "tools/pipeline/generate.h"

namespace raoq::tools {

struct GenerateArgs {
  std::string run_dir;
  std::string checkpoint;  // "": the run's last finished stage
  std::string prompt;
  SampleOptions sample;
  int threads = 0;
};

int generate_command(const GenerateArgs& args, std::ostream& out);
// `raoq generate ARGS...` (the words after "generate"): parses them and runs generate_command.
int generate_cli(const std::vector<std::string>& args, std::ostream& out);

}  // namespace raoq::tools
