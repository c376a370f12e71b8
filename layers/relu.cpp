// layers/relu.cpp — ReLU (the math and its backward live in ops::relu).
#include "layers/relu.h"

#include "core/ops.h"

namespace raoq {

Tensor ReLU::forward(const Tensor& x) { return named_output(ops::relu(x), x); }  // x: any shape

}  // namespace raoq
