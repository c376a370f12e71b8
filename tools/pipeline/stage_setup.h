// tools/pipeline/stage_setup.h — a stage's optimizer and learning-rate schedule, built from its config.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "layers/module.h"
#include "optim/optimizer.h"
#include "optim/schedule.h"
#include "tools/pipeline/config.h"

namespace raoq::tools {

// SGD or AdamW over the model's trainable parameters; parameters matching no_weight_decay (and
// every parameter of at most one dimension) go to a group without weight decay.
std::unique_ptr<Optimizer> make_optimizer(const StageConfig& s, const Module& model);

// The stage's optimizer steps: epochs * steps_per_epoch, or max_steps when that is fewer.
int64_t stage_steps(const StageConfig& s, int64_t steps_per_epoch);

// The schedule over the stage's optimizer steps (stage_steps); warm-up and step lengths given in
// epochs become steps. A warm-up that rounds to the whole stage is an error naming `key_path`
// ("stages[1]"; empty: the stage by name).
Schedule make_schedule(const StageConfig& s, int64_t steps_per_epoch, const std::string& key_path = "");

// "10 epochs x 469 steps, batch 128, sgd lr 0.1 momentum 0.9 nesterov, cosine to 0 with 1 warm-up epoch, wd 0.0005"
std::string describe_stage(const StageConfig& s, int64_t steps_per_epoch);

}  // namespace raoq::tools
