// optim/schedule.cpp — learning-rate schedules (formulas in schedule.h).
#include "optim/schedule.h"

#include <algorithm>
#include <cmath>
#include <numbers>
#include <sstream>

#include "core/error.h"

namespace raoq {

Schedule::Schedule(Kind kind, double base, int64_t warmup) : kind_(kind), base_(base), warmup_(warmup) {
  RAOQ_CHECK(base >= 0.0, "schedule: base lr must be >= 0 (got ", base, ")");
  RAOQ_CHECK(warmup >= 0, "schedule: warmup must be >= 0 steps (got ", warmup, ")");
}

Schedule Schedule::constant(double base, int64_t warmup) { return Schedule(Kind::constant, base, warmup); }

Schedule Schedule::cosine(double base, int64_t total, double floor, int64_t warmup) {
  Schedule s(Kind::cosine, base, warmup);
  RAOQ_CHECK(total > warmup, "schedule cosine: total ", total, " must exceed warmup ", warmup);
  RAOQ_CHECK(floor >= 0.0 && floor <= base, "schedule cosine: floor ", floor, " must be in [0, base ", base, "]");
  s.total_ = total;
  s.final_ = floor;
  return s;
}

Schedule Schedule::linear(double base, int64_t total, double end, int64_t warmup) {
  Schedule s(Kind::linear, base, warmup);
  RAOQ_CHECK(total > warmup, "schedule linear: total ", total, " must exceed warmup ", warmup);
  RAOQ_CHECK(end >= 0.0, "schedule linear: end lr must be >= 0 (got ", end, ")");
  s.total_ = total;
  s.final_ = end;
  return s;
}

Schedule Schedule::step(double base, std::vector<int64_t> milestones, double gamma, int64_t warmup) {
  Schedule s(Kind::step, base, warmup);
  RAOQ_CHECK(gamma > 0.0, "schedule step: gamma must be positive (got ", gamma, ")");
  for (size_t i = 0; i < milestones.size(); ++i) {
    RAOQ_CHECK(milestones[i] >= warmup, "schedule step: milestone ", milestones[i], " falls inside the warm-up of ",
               warmup, " steps");
    RAOQ_CHECK(i == 0 || milestones[i] > milestones[i - 1], "schedule step: milestones must strictly increase (",
               milestones[i - 1], " then ", milestones[i], ")");
  }
  s.milestones_ = std::move(milestones);
  s.gamma_ = gamma;
  return s;
}

double Schedule::at(int64_t s) const {
  RAOQ_CHECK(s >= 0, "schedule: step must be >= 0 (got ", s, ")");
  if (s < warmup_) return base_ * static_cast<double>(s + 1) / static_cast<double>(warmup_);
  const double L = static_cast<double>(total_ - warmup_);
  const double u = std::min(static_cast<double>(s - warmup_), L);
  switch (kind_) {
    case Kind::constant:
      return base_;
    case Kind::cosine:
      return final_ + (base_ - final_) * 0.5 * (1.0 + std::cos(std::numbers::pi * u / L));
    case Kind::linear:
      return base_ + (final_ - base_) * u / L;
    case Kind::step: {
      const auto passed = std::upper_bound(milestones_.begin(), milestones_.end(), s) - milestones_.begin();
      return base_ * std::pow(gamma_, static_cast<double>(passed));
    }
  }
  return base_;
}

std::string Schedule::describe() const {
  std::ostringstream os;
  switch (kind_) {
    case Kind::constant: os << "constant(base=" << base_; break;
    case Kind::cosine: os << "cosine(base=" << base_ << ", total=" << total_ << ", floor=" << final_; break;
    case Kind::linear: os << "linear(base=" << base_ << ", total=" << total_ << ", end=" << final_; break;
    case Kind::step:
      os << "step(base=" << base_ << ", milestones=[";
      for (size_t i = 0; i < milestones_.size(); ++i) os << (i ? ", " : "") << milestones_[i];
      os << "], gamma=" << gamma_;
      break;
  }
  os << ", warmup=" << warmup_ << ')';
  return os.str();
}

}  // namespace raoq
