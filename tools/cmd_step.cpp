// tools/cmd_step.cpp — `raoq step`: argument handling for tools/pipeline/step_dump.h.
#include "tools/cmd_step.h"

#include <ostream>

#include "core/error.h"
#include "tools/cli.h"
#include "tools/pipeline/step_dump.h"

namespace raoq::tools {

const char* const kStepHelp = R"(usage: raoq step CONFIG.json|RUN_DIR --dump DIR [--stage NAME] [--step N] [--set KEY=VALUE ...]

Runs one training step of a stage as raoq train runs it (the stage's conversion, loss, optimizer,
learning rate and BitAug lambda_b at stage step N, BitAug's ba~ drawn at the run's global step,
the batch its loader draws at step N) and writes what a student needs to follow it, without
changing any file of a run:
  DIR/step.safetensors   the batch; every layer's output (act.<path>:out) and every other op's
                         output (op.<seq>.<op>: codes, A-shifted codes, ADC-tiled products),
                         each with its gradient (.grad); parameters (quantizer scales and
                         offsets too), their gradients and the optimizer's update; buffers; each
                         array layer's ADC step D and bits (adc.<path>.D); the loss; metadata
                         "raoq.step": the step's settings as JSON (stage and global step,
                         lr, lambda_b and ba~ with BitAug, where the weights and the optimizer
                         state came from)
  DIR/graph.dot          the autograd graph of the loss (graph.svg too when Graphviz is installed)
  DIR/walkthrough.txt    op by op: the op, its output's name and shape, its inputs, what its
                         backward saved and its output's gradient norms; the parameters' gradient
                         norms; the ADC settings
A config starts from freshly initialised weights; a run directory from its checkpoints: the
stage's last.safetensors when the run paused inside it (and then, by default, at its step, with
the optimizer state saved there: SGD's momentum, AdamW's moments), else the stage's finished
model, else the checkpoint the stage starts from. Only the paused case resumes an optimizer: a
finished or fresh stage's step starts with an empty optimizer state, so its update.* is that of
the stage's first step (for SGD with momentum or AdamW it differs from what training did at a
later step). The global step (which BitAug draws ba~ from) is the paused run's own count, else
the steps of the earlier stages plus N.

options:
)";

namespace {
std::vector<OptionSpec> step_options() {
  return {{"--dump", "DIR", "where to write the files (required)"},
          {"--stage", "NAME", "the stage (default: a config's first; a run's stage in progress, else its last)"},
          {"--step", "N", "the stage step to run (0-based; default 0, or a paused run's next step)"},
          {"--set", "KEY=VALUE", "override a config key (repeatable)", true},
          {"--threads", "N", "worker threads (default: every core)"}};
}
}  // namespace

int step_cli(const std::vector<std::string>& args, std::ostream& out) {
  const auto p = parse_args("step", step_options(), args);
  if (p.help) {
    out << kStepHelp << options_text(step_options());
    return 0;
  }
  const char* usage = " (usage: raoq step CONFIG.json|RUN_DIR --dump DIR [--stage NAME] [--step N])";
  if (p.positional.empty()) throw Error(std::string("step: missing CONFIG.json or RUN_DIR") + usage);
  if (p.positional.size() > 1) throw Error("step: unexpected argument '" + p.positional[1] + "'" + usage);
  if (!p.has("--dump")) throw Error(std::string("step: missing --dump DIR") + usage);
  StepDumpOptions o;
  o.target = p.positional[0];
  o.out_dir = p.get("--dump");
  o.stage = p.get("--stage");
  o.overrides = p.all("--set");
  o.threads = threads_option("step", p);
  if (p.has("--step")) {
    const std::string v = p.get("--step");
    const bool digits = !v.empty() && v.size() <= 9 && v.find_first_not_of("0123456789") == std::string::npos;
    if (!digits) throw Error("step: --step must be a whole number of steps, 0 or more (got '" + v + "')");
    o.step = std::stoll(v);
  }
  o.out = &out;
  dump_training_step(o);
  return 0;
}

}  // namespace raoq::tools
