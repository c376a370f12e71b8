// quant/dequantize.h — the digital side of a product of integer codes: the weight sums of the
// A-shift and offset terms, and the dequantization of the product (DESIGN.md, "Dequantization";
// RAOQ Eq. 5). The QAT layers (quant_linear.h, quant_conv2d.h) and the array layers (imc/) both
// end in dequantize_product, so a layer computes the same bits on an exact array as in QAT.
//
// Legend: N output channels, C input channels, kH kW kernel, K = C*kH*kW, P = Ho*Wo output
// positions (1 for a linear layer).
//
// window_weight_sums: S[n, p] = sum of wq[n, c, i, j] over the taps (c, i, j) whose input position
// for output p lies inside the image. The offset term of output p is beta s_w S[n, p] and the exact
// digital A-shift term shift * S[n, p] (at the border fewer rows carry an input; padding carries
// code 0, as a fake-quantized layer pads with 0). wq may also be (N, K) (a linear layer): S = row
// sums, shape (N, 1). Backward: dwq[n, c, i, j] += sum_p dS[n, p] * inside(p, i, j).
//
// dequantize_product, channels on axis `axis` of acc (1 for conv, -1 for linear), acc viewed as
// (outer, N, inner) and S as (N, inner) (inner = 1 broadcasts), with acc = sum_k xs wq the product
// of the input codes xs = gain * xq - shift (ashift.h; no_shift() for plain codes):
//   y = s_x s_w[n] * ((acc + shift * S[n, p]) / gain) + (beta s_w[n] S[n, p] + bias[n])
// evaluated in that order. The correction (acc + shift S) / gain is exact in float while acc is an
// exact integer sum below 2^24 (an array without ADC, or a float product of codes), so it is then
// sum_k wq xq whatever the map, and the rest is the same float arithmetic for every caller: the
// QAT layer and the array layer with the ADC bypassed give the same bits. A float product of
// codes is exact while every partial sum stays below 2^24: with 4-bit codes (|xq| <= 15,
// |wq| <= 7) up to K = 2^24 / 105, about 160 000 rows; with 8-bit codes (255 x 127) up to K = 518
// (an 8-bit layer with a longer reduction agrees with the array to float rounding only). A 3x3
// convolution takes Winograd only inside its own exact range (core/ops.h, exact_integers).
// Backward: the chain rule of that expression for acc, S, s_x, s_w, beta and bias (smooth, no
// surrogate).
#pragma once

#include <cstdint>

#include "core/ops.h"
#include "core/tensor.h"
#include "quant/ashift.h"

namespace raoq::quant {

// wq: (N, C, kH, kW) with the input size (H, W) and options -> (N, Ho*Wo);  wq: (N, K) -> (N, 1).
Tensor window_weight_sums(const Tensor& wq, int64_t H, int64_t W, const ops::Conv2dOptions& options = {});

Tensor dequantize_product(const Tensor& acc, int64_t axis, const Tensor& S, const Tensor& s_x, const Tensor& s_w,
                          const Tensor& beta, const Tensor& bias, ShiftMap map = no_shift());

}  // namespace raoq::quant
