// core/ops/detail/kernels_depthwise.h — conv2d's direct kernels for groups with one input channel
// (depthwise convolution, with or without a channel multiplier), called by ops::conv2d, which
// holds the math; conv2d_reference is the naive reference they are tested against.
//
// Not a public header: nothing outside core/ops includes it.
// Legend (see core/ops/conv.cpp): x, dx: (N, C_in, H, W)  w, dw: (C_out, 1, kH, kW)
//   bias, dbias: (C_out)  y, dy: (N, C_out, Ho, Wo); output channel co reads input channel co / Cg_out.
#pragma once

#include "core/ops/detail/im2col.h"

namespace raoq::ops::detail {

// Whether conv2d should use these kernels for g (each group has a single input channel).
inline bool depthwise_applies(const ConvGeometry& g) { return g.cg_in() == 1 && g.groups > 1; }

// y = conv(x, w) + bias (bias may be null). Parallel over the N*C_out output planes.
void depthwise_forward(const float* x, const float* w, const float* bias, const ConvGeometry& g, float* y);

// Writes every element of dx (when non-null; its earlier contents are ignored) and accumulates
// (+=) into dw and dbias. Parallel over chunks of the batch; dw and dbias are reduced per chunk in
// chunk order (bitwise reproducible for a given thread count).
void depthwise_backward(const float* x, const float* w, const float* dy, const ConvGeometry& g, float* dx, float* dw,
                        float* dbias);

}  // namespace raoq::ops::detail
