// layers/flatten.cpp — Flatten (the reshape and its backward live in ops::flatten).
#include "layers/flatten.h"

#include "core/ops.h"

namespace raoq {

Flatten::Flatten(int64_t start_dim_) : Module("Flatten"), start_dim(start_dim_) {
  RAOQ_CHECK(start_dim >= 0, "Flatten: start_dim must be >= 0 (got ", start_dim, ")");
}

Tensor Flatten::forward(const Tensor& x) {  // x: (..., d_s, ..., d_n) -> (..., d_s * ... * d_n)
  RAOQ_CHECK(x.dim() > start_dim, label(), ": start_dim ", start_dim, " needs an input with more than ", start_dim,
             " dimensions, got ", shape_str(x.shape()));
  return named_output(ops::flatten(x, start_dim), x);
}

}  // namespace raoq
