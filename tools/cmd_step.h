// tools/cmd_step.h — `raoq step CONFIG|RUN --dump DIR [--stage NAME] [--step N]`: one training step
// of a stage with every named activation, gradient and quantizer scale written to DIR
// (tools/pipeline/step_dump.h says what and how).
#pragma once

#include <iosfwd>
#include <string>
#include <vector>

namespace raoq::tools {

// `raoq step ARGS...` (the words after "step"): parses them and runs dump_training_step.
int step_cli(const std::vector<std::string>& args, std::ostream& out);

extern const char* const kStepHelp;

}  // namespace raoq::tools
