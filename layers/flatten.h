// layers/flatten.h — Flatten: merges every dimension from start_dim on.
#pragma once

#include <cstdint>

#include "layers/module.h"

namespace raoq {

// x: (d0, ..., d_{s-1}, d_s, ..., d_n) -> (d0, ..., d_{s-1}, d_s * ... * d_n); s = start_dim (default 1,
// so (N, C, H, W) -> (N, C*H*W)).
class Flatten : public Module {
 public:
  explicit Flatten(int64_t start_dim = 1);
  Tensor forward(const Tensor& x) override;
  std::string extra_repr() const override { return "start_dim=" + std::to_string(start_dim); }

  int64_t start_dim;
};

}  // namespace raoq
