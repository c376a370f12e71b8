// tools/pipeline/step_dump.h — one training step of a stage, every value of it written down: the
// library side of `raoq step` (tools/cmd_step.h), so a student can follow an A-shifted,
// ADC-quantized step end to end.
//
// The step is the trainer's own (trainer.cpp, run_epoch): the stage's conversion, optimizer and
// schedule (stage_setup.h) at stage step N, the batch its loader hands out at step N of a fresh
// stage (or, for a run paused inside the stage at step N, the very batch it resumes with), the
// kind's loss and hooks (stage_kind.h: W-reshape's kurtosis term, BitAug's second pass at ba~
// with lambda_b(N), ba~ drawn at the run's global step as training draws it), gradient clipping
// and one optimizer update (from the optimizer state of last.safetensors when the run paused
// inside the stage; else from an empty state, as a stage starts), applied in memory only: no file
// of the run changes. Named values come from the step's autograd graph itself: every layer names
// its output "<path>:out" (layers/module.h) and every op's output is a node of the graph, so no
// hook runs in ordinary training and nothing there gets slower.
//
// DIR/step.safetensors (core/safetensors.h; metadata "raoq.step" holds the step's settings as JSON):
//   input, target                     the batch (targets as floats)
//   act.<path>:out, act.<path>:out.grad   every layer's output and dL/d(output) of the pass at ba
//   op.<seq>.<op>, op.<seq>.<op>.grad     every other op's output (codes, A-shifted codes, the
//                                     ADC-tiled products, ...) and its gradient, by creation order
//   param.<name>, grad.<name>         each parameter (quantizer scales and offsets included) and
//                                     its gradient as the optimizer used it (all passes summed)
//   grad_at_ba.<name>                 with BitAug: the gradient of the pass at ba alone
//   update.<name>                     the optimizer's change to each parameter
//   buffer.<name>                     running statistics and other buffers, after the step
//   adc.<path>.D, adc.<path>.ba       each array layer's ADC step D (Eq. 3) and bits
//   loss, task_loss                   the stage's loss (with W-reshape) and the task's
// DIR/graph.dot (and graph.svg when Graphviz's `dot` is installed): the graph of the loss.
// DIR/walkthrough.txt: op by op in forward order, the op, its output's name and shape, its inputs,
// what its backward saved and the L2 norm and max |.| of its output's gradient; then the
// parameters' gradient norms and the ADC settings.
#pragma once

#include <cstdint>
#include <iosfwd>
#include <string>
#include <vector>

namespace raoq::tools {

struct StepDumpOptions {
  std::string target;                  // a config file or a run directory
  std::vector<std::string> overrides;  // --set key=value, applied to the config
  std::string stage;                   // "": a config's first stage; a run's stage in progress, else its last
  int64_t step = -1;                   // stage step N; -1: a paused run's position in the stage, else 0
  std::string out_dir;                 // DIR (created)
  int threads = 0;                     // 0: keep the current thread count
  std::ostream* out = nullptr;         // a short report (required)
};

// Runs the step and writes DIR's files. Throws raoq::Error naming what is wrong (an unknown
// stage, a step beyond the stage, a run without the checkpoint the stage starts from).
void dump_training_step(const StepDumpOptions& options);

}  // namespace raoq::tools
