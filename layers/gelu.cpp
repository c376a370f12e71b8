// layers/gelu.cpp — GELU (the math and its backward live in ops::gelu).
#include "layers/gelu.h"

#include "core/ops.h"

namespace raoq {

Tensor GELU::forward(const Tensor& x) { return named_output(ops::gelu(x), x); }  // x: any shape

}  // namespace raoq
