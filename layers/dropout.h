// layers/dropout.h — Dropout with its own seedable Generator.
#pragma once

#include <cstdint>

#include "core/rng.h"
#include "layers/module.h"

namespace raoq {

// x: any shape -> same shape. In training, zeroes each element with probability p and scales
// the rest by 1/(1-p); in eval (or with p == 0), returns x unchanged.
// The mask stream comes from this layer's own Generator, seeded at construction from
// default_generator() (so manual_seed makes it reproducible) or explicitly with seed().
// generator() exposes the state for checkpoints.
class Dropout : public Module {
 public:
  explicit Dropout(float p = 0.5f);
  Tensor forward(const Tensor& x) override;
  std::string extra_repr() const override;
  void seed(uint64_t s) { gen_.seed_with(s); }
  Generator& generator() { return gen_; }

  float p;

 private:
  Generator gen_;
};

}  // namespace raoq
