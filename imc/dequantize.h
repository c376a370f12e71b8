// imc/dequantize.h — the exact digital side of an IMC layer: the weight sums of the A-shift term and
// the dequantization of the array product (DESIGN.md, "Dequantization"; RAOQ Eq. 5).
//
// Legend: N output channels, C input channels, kH kW kernel, K = C*kH*kW, P = Ho*Wo output
// positions (1 for a linear layer).
//
// window_weight_sums: S[n, p] = sum of wq[n, c, i, j] over the taps (c, i, j) whose input position
// for output p lies inside the image. The exact digital A-shift term of output p is shift * S[n, p]
// (at the border fewer rows carry an input). wq may also be (N, K) (a linear layer): S = row sums,
// shape (N, 1). Backward: dwq[n, c, i, j] += sum_p dS[n, p] * inside(p, i, j).
//
// imc_dequantize, channels on axis `axis` of acc (1 for conv, -1 for linear), acc viewed as
// (outer, N, inner) and S as (N, inner) (inner = 1 broadcasts):
//   y = s_x s_w[n] / gain * (acc + shift * S[n, p]) + beta s_w[n] S[n, p] + bias[n]
// with the array input map xs = gain * xq - shift (input_map.h). With no ADC (AdcConfig::enabled
// false) this is exactly the quantized layer: sum_k (s_w wq)(s_x xq + beta) + bias. Backward: the
// chain rule of that expression for acc, S, s_x, s_w, beta and bias (smooth, no surrogate).
#pragma once

#include <cstdint>

#include "core/ops.h"
#include "core/tensor.h"
#include "quant/ashift.h"

namespace raoq::imc {

// wq: (N, C, kH, kW) with the input size (H, W) and options -> (N, Ho*Wo);  wq: (N, K) -> (N, 1).
Tensor window_weight_sums(const Tensor& wq, int64_t H, int64_t W, const ops::Conv2dOptions& options = {});

Tensor imc_dequantize(const Tensor& acc, int64_t axis, const Tensor& S, const Tensor& s_x, const Tensor& s_w,
                      const Tensor& beta, const Tensor& bias, quant::ShiftMap map);

}  // namespace raoq::imc
