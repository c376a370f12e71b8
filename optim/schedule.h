// optim/schedule.h — learning-rate schedules as pure functions of the step.
//
// A Schedule maps a step index s = 0, 1, 2, ... to a learning rate and holds no state, so a
// resumed run gets exactly the lr it would have had (call opt.set_lr(sched.at(s)) before each
// step). The step unit is whatever the caller counts (iterations or epochs).
//
// Every kind starts with an optional linear warm-up of W steps:
//   s < W:  lr(s) = base * (s + 1) / W          (the first step already moves; step W-1 is base)
// then, with u = s - W and the decay length L = total - W:
//   constant: base
//   cosine:   floor + (base - floor) * (1 + cos(pi * min(u, L) / L)) / 2      (ends at floor)
//   linear:   base + (end - base) * min(u, L) / L                             (ends at end)
//   step:     base * gamma^(number of milestones <= s)
// After `total`, cosine and linear hold their final value.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace raoq {

class Schedule {
 public:
  static Schedule constant(double base, int64_t warmup = 0);
  static Schedule cosine(double base, int64_t total, double floor = 0.0, int64_t warmup = 0);
  static Schedule linear(double base, int64_t total, double end = 0.0, int64_t warmup = 0);
  // milestones: strictly increasing steps, each >= warmup.
  static Schedule step(double base, std::vector<int64_t> milestones, double gamma = 0.1, int64_t warmup = 0);

  double at(int64_t step) const;  // step >= 0
  std::string describe() const;   // "cosine(base=0.1, total=100, floor=0, warmup=5)"

 private:
  enum class Kind { constant, cosine, linear, step };
  Schedule(Kind kind, double base, int64_t warmup);
  Kind kind_;
  double base_;
  int64_t warmup_;
  int64_t total_ = 0;
  double final_ = 0.0;  // cosine floor or linear end
  std::vector<int64_t> milestones_;
  double gamma_ = 1.0;
};

}  // namespace raoq
