// imc/imc_conv.h — the convolution as the IMC array computes it, and the digital dequantization.
//
// Legend: B batch, C input channels, H W input, N output channels (C_out), kH kW kernel,
//   K = C*kH*kW (reduction length, in (c, i, j) order: the rows of the array), P = Ho*Wo.
//
// imc_conv2d: each image's patches (P, K) go through the tiled array product of tiled_matmul.h
// (row tiles of `rows`, one ADC conversion per tile, digital sum) against wq viewed as (N, K):
//   xs: (B, C, H, W) array input codes   wq: (N, C, kH, kW) weight codes
//   -> (B, N, Ho, Wo) in column-sum units (sum_t D yq_t; add the A-shift term with imc_dequantize)
// Padded positions are array rows driven with no input: they add nothing to a column sum, in every
// number representation. Only groups == 1 is mapped (depthwise convolutions stay off the array).
// Work is split over the batch (each thread reuses its own patch buffer); the backward recomputes
// each image's patches, applies the per-tile straight-through masks recorded by the forward, and
// reduces the weight gradient per chunk of images in chunk order (reproducible per thread count).
// Surrogate gradient: as tiled_matmul (exact for the un-floored ADC, Rounding::skip).
// 3x3, stride-1 convolutions with >= 16 channels in and out compute each tile's column sums as a
// Winograd partial convolution instead (imc_conv.cpp), on 8-bit integer GEMMs when the codes fit: bit
// for bit the same sums, and the plain convolution's Winograd backward for images with no clipped
// conversion.
//
// window_weight_sums: S[n, p] = sum of wq[n, c, i, j] over the taps (c, i, j) whose input position
// for output p lies inside the image. The exact digital A-shift term of output p is shift * S[n, p]
// (at the border fewer rows carry an input). wq may also be (N, K) (a linear layer): S = row sums,
// shape (N, 1). Backward: dwq[n, c, i, j] += sum_p dS[n, p] * inside(p, i, j).
//
// imc_dequantize (DESIGN.md, "Dequantization"), channels on axis `axis` of acc (1 for conv, -1 for
// linear), acc viewed as (outer, N, inner) and S as (N, inner) (inner = 1 broadcasts):
//   y = s_x s_w[n] / gain * (acc + shift * S[n, p]) + beta s_w[n] S[n, p] + bias[n]
// with the array input map xs = gain * xq - shift (quant::ShiftMap). With the ADC bypassed this is
// exactly the quantized layer: sum_k (s_w wq)(s_x xq + beta) + bias. Backward: the chain rule of
// that expression for acc, S, s_x, s_w, beta and bias (smooth, no surrogate).
#pragma once

#include "core/ops.h"
#include "core/tensor.h"
#include "imc/adc.h"
#include "imc/tiled_matmul.h"
#include "quant/ashift.h"

namespace raoq::imc {

Tensor imc_conv2d(const Tensor& xs, const Tensor& wq, const AdcConfig& config, const ops::Conv2dOptions& options,
                  const TiledOptions& opt = {});
// Per image: explicit patches and tiled_matmul_reference. No noise, no autograd.
Tensor imc_conv2d_reference(const Tensor& xs, const Tensor& wq, const AdcConfig& config,
                            const ops::Conv2dOptions& options);

// wq: (N, C, kH, kW) with the input size (H, W) and options -> (N, Ho*Wo);  wq: (N, K) -> (N, 1).
Tensor window_weight_sums(const Tensor& wq, int64_t H, int64_t W, const ops::Conv2dOptions& options = {});

Tensor imc_dequantize(const Tensor& acc, int64_t axis, const Tensor& S, const Tensor& s_x, const Tensor& s_w,
                      const Tensor& beta, const Tensor& bias, quant::ShiftMap map);

}  // namespace raoq::imc
