// tools/pipeline/trainer.h — the training pipeline behind `raoq train`: stages, epochs, steps, evaluation,
// metrics, checkpoints and resume.
//
// Reproducibility: for a fixed config and thread count the final parameters are a pure function
// of the seed. Everything that decides them lives in the last checkpoint (model, optimizer,
// schedule position, loader and generator states), so a run stopped at any point -- even by
// SIGKILL, even inside a checkpoint write -- and resumed from last.safetensors ends with bitwise
// the same parameters and checkpoints as a run that was never stopped. Checkpoints hold no time, so
// two identical runs write identical checkpoint bytes; a resumed run takes its clock ("seconds" and
// "stage_seconds" in metrics.jsonl, each stage's time in results.json) from the last metrics row
// its checkpoint had seen, and so leaves out the time between that row and the interruption.
//
// Non-finite values stop the run with one line naming the stage, the step and the value: a
// training loss, an evaluation's loss or metrics, or a tensor about to be checkpointed (which is
// then not written). With detect_anomaly, the first op that made a NaN or infinity is named
// (core/autograd.h, AnomalyScope).
//
// What it deliberately does not do: parse arguments (tools/cli.cpp), or print to stderr.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <iosfwd>
#include <string>

#include "tools/pipeline/config.h"
#include "tools/pipeline/results.h"
#include "tools/pipeline/run_dir.h"

namespace raoq::tools {

struct TrainOptions {
  std::string out_dir;
  bool resume = false;          // continue from out_dir/checkpoints/last.safetensors if present
  bool overwrite = false;       // clear a previous run in out_dir first
  int threads = 0;              // 0: keep raoq's current thread count
  std::ostream* out = nullptr;  // progress and summaries (required)
  bool terminal = false;        // draw the live progress bar
  // Set from a signal handler: stop after the current step, write last.safetensors, throw.
  const std::atomic<bool>* stop = nullptr;
  // Called after every optimizer step (and its checkpoint, if one was due) with the global step
  // count. Tests use it to interrupt a run, e.g. by raising SIGKILL.
  std::function<void(int64_t)> after_step;
  // Called once, just before the first training step of this process: set-up (reading the data,
  // building the model, resuming) is over. The command line switches Ctrl-C from "exit at once"
  // to "finish the step and save" here.
  std::function<void()> setup_done;
  bool detect_anomaly = false;  // check every op's output and every gradient for NaN and infinity
};

// Runs every stage not yet finished and returns the results table (also written to the run
// directory). Throws raoq::Error on a user error, before training when it can be known then.
Results run_training(Config config, const TrainOptions& options);

// The seed of stage `stage`'s training batches: each stage's loader gets its own stream, so a
// stage's batches do not depend on how many batches earlier stages drew (raoq step draws the same).
uint64_t stage_seed(uint64_t seed, size_t stage);

// The first key path at which two JSON values differ, with both values ("" when equal), e.g.
// "stages[0].epochs (2 in the run, 3 now)"; `a_is` and `b_is` say where each value comes from.
std::string first_difference(const Json& a, const Json& b, const std::string& path = "",
                             const std::string& a_is = "in the run", const std::string& b_is = "now");

}  // namespace raoq::tools
