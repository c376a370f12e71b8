// optim/clip.h — gradient clipping by global L2 norm.
#pragma once

#include <vector>

#include "core/tensor.h"
#include "optim/optimizer.h"

namespace raoq {

// total = sqrt(sum over parameters with a defined grad of sum(grad^2)), accumulated in double
// in the order given (so the result is reproducible). When total > max_norm, every such
// gradient is scaled in place by max_norm / (total + 1e-6) (PyTorch's clip_grad_norm_; the
// 1e-6 keeps the factor finite). Returns total, measured before clipping. Parameters without a
// gradient are skipped.
double clip_grad_norm(const std::vector<Tensor>& params, double max_norm);
double clip_grad_norm(const NamedTensors& params, double max_norm);

}  // namespace raoq
