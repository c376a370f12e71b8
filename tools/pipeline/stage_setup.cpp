// tools/pipeline/stage_setup.cpp — optimizer and schedule construction.
#include "tools/pipeline/stage_setup.h"

#include <algorithm>
#include <cmath>
#include <sstream>

#include "core/error.h"
#include "optim/adamw.h"
#include "optim/sgd.h"
#include "tools/pipeline/stage_kind.h"

namespace raoq::tools {

std::unique_ptr<Optimizer> make_optimizer(const StageConfig& s, const Module& model) {
  std::vector<GroupSpec> groups;
  const auto& o = s.optimizer;
  // ADC-LoRA's adapters at their own learning rate (first: a parameter joins the first group it matches).
  if (s.quant.lora.enabled && s.quant.lora.lr > 0)
    groups.push_back({"lora", {"*.lora.A", "*.lora.B"}, false, s.quant.lora.lr / o.lr, s.weight_decay});
  groups.push_back(no_weight_decay(s.no_weight_decay));
  if (o.name == "sgd") {
    SgdOptions opt;
    opt.lr = o.lr;
    opt.momentum = o.momentum;
    opt.nesterov = o.nesterov;
    opt.weight_decay = s.weight_decay;
    return std::make_unique<SGD>(model.named_parameters(), opt, groups);
  }
  AdamWOptions opt;
  opt.lr = o.lr;
  opt.beta1 = o.beta1;
  opt.beta2 = o.beta2;
  opt.eps = o.eps;
  opt.weight_decay = s.weight_decay;
  return std::make_unique<AdamW>(model.named_parameters(), opt, groups);
}

int64_t stage_steps(const StageConfig& s, int64_t steps_per_epoch) {
  const int64_t all = s.epochs * steps_per_epoch;
  return s.max_steps > 0 ? std::min(all, s.max_steps) : all;
}

Schedule make_schedule(const StageConfig& s, int64_t steps_per_epoch, const std::string& key_path) {
  const auto& c = s.schedule;
  const int64_t total = stage_steps(s, steps_per_epoch);
  const auto warmup = static_cast<int64_t>(std::llround(c.warmup_epochs * static_cast<double>(steps_per_epoch)));
  // Only known once the data says how long an epoch is: a warm-up as long as the whole stage
  // would leave no step at the learning rate (max_steps cut the stage short of it).
  RAOQ_CHECK(warmup == 0 || warmup < total, "config: ", key_path.empty() ? "stage '" + s.name + "'" : key_path,
             ".schedule.warmup_epochs ", c.warmup_epochs, " is ", warmup, " steps of ", steps_per_epoch,
             " per epoch, but stage '", s.name, "' has only ", total, " steps -- shorten the warm-up",
             s.max_steps > 0 ? " or raise max_steps" : "");
  // The same for ADC-LoRA's Eq. 12 phase: it must leave steps for the task loss.
  RAOQ_CHECK(s.quant.lora.init_steps < total, "config: ", key_path.empty() ? "stage '" + s.name + "'" : key_path,
             ".lora.init_steps ", s.quant.lora.init_steps, " leaves no task-loss step of stage '", s.name, "' (",
             total, " steps) -- lower it or raise max_steps");
  const double lr = s.optimizer.lr;
  if (c.name == "cosine") return Schedule::cosine(lr, total, c.final_lr, warmup);
  if (c.name == "linear") return Schedule::linear(lr, total, c.final_lr, warmup);
  if (c.name == "step") {
    std::vector<int64_t> milestones;
    for (int64_t e = c.step_epochs; e < s.epochs; e += c.step_epochs) milestones.push_back(e * steps_per_epoch);
    return Schedule::step(lr, milestones, c.gamma, warmup);
  }
  return Schedule::constant(lr, warmup);
}

std::string describe_stage(const StageConfig& s, int64_t steps_per_epoch) {
  std::ostringstream os;
  os << s.epochs << (s.epochs == 1 ? " epoch" : " epochs") << " x " << steps_per_epoch << " steps";
  if (stage_steps(s, steps_per_epoch) < s.epochs * steps_per_epoch)
    os << ", ending after " << stage_steps(s, steps_per_epoch) << " steps (max_steps)";
  os << ", batch " << s.batch_size << ", " << s.optimizer.name << " lr " << s.optimizer.lr;
  if (s.optimizer.name == "sgd") {
    os << " momentum " << s.optimizer.momentum << (s.optimizer.nesterov ? " nesterov" : "");
  } else {
    os << " betas " << s.optimizer.beta1 << "/" << s.optimizer.beta2;
  }
  os << ", " << s.schedule.name;
  if (s.schedule.name == "cosine" || s.schedule.name == "linear") os << " to " << s.schedule.final_lr;
  if (s.schedule.name == "step") os << " x" << s.schedule.gamma << " every " << s.schedule.step_epochs << " epochs";
  if (s.schedule.warmup_epochs > 0)
    os << " after " << s.schedule.warmup_epochs << " warm-up epoch" << (s.schedule.warmup_epochs == 1 ? "" : "s");
  if (s.weight_decay > 0) os << ", weight decay " << s.weight_decay;
  if (s.label_smoothing > 0) os << ", label smoothing " << s.label_smoothing;
  if (s.grad_clip > 0) os << ", grad clip " << s.grad_clip;
  return os.str();
}

}  // namespace raoq::tools
