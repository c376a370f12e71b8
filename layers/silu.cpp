// layers/silu.cpp — SiLU (the math and its backward live in ops::silu).
#include "layers/silu.h"

#include "core/ops.h"

namespace raoq {

Tensor SiLU::forward(const Tensor& x) { return named_output(ops::silu(x), x); }  // x: any shape

}  // namespace raoq
