// core/ops/kernels_winograd.h — conv2d's Winograd F(2x2, 3x3) kernels for 3x3, stride-1,
// undilated convolutions, called by ops::conv2d, which holds the math; conv2d_reference is the
// naive reference they are tested against.
//
// Winograd's minimal filtering algorithm (Lavin & Gray, "Fast Algorithms for Convolutional
// Neural Networks", CVPR 2016) computes each 2x2 output tile from a 4x4 input tile with 16
// multiplications per input/output channel pair instead of 36: the channel sums become 16
// GEMMs, one per position xi of the 4x4 transformed tile, with 2.25 times fewer flops than
// im2col + GEMM. With d a 4x4 input tile, g a 3x3 kernel and Y the 2x2 output tile:
//   V = B^T d B,  U = G g G^T,  M[xi] = sum_c U[xi] V[xi]  (per output channel),  Y = A^T M A
// The backward is the exact adjoint of that computation (not a second Winograd algorithm):
//   dM = A dY A^T,  dU[xi] += sum_tiles dM[xi] V[xi],  dV[xi] = U[xi]^T dM[xi],
//   dd = B dV B^T (scatter-added over the overlapping input tiles),  dg = G^T dU G.
// Internal to raoq: conv2d (core/ops/conv.cpp) uses all of it; the IMC array convolution
// (imc/imc_conv.cpp) uses winograd_range_sums and winograd_backward, whose surrogate gradient is a
// plain convolution's. Not part of the public API.
#pragma once

#include <cstdint>
#include <functional>

#include "core/ops/im2col.h"

namespace raoq::ops::detail {

// Whether conv2d should use these kernels for g: 3x3, stride 1, dilation 1, and at least 16
// channels per group on both sides (with fewer, the transforms cost more than the GEMMs save).
bool winograd_applies(const ConvGeometry& g);

// y = conv(x, w) + bias (bias may be null). Parallel over the batch.
void winograd_forward(const float* x, const float* w, const float* bias, const ConvGeometry& g, float* y);

// Writes every element of dx (when non-null; its earlier contents are ignored) and accumulates
// (+=) into dw and dbias. Parallel over chunks of the batch; dw and dbias are reduced per chunk in
// chunk order (bitwise reproducible for a given thread count).
void winograd_backward(const float* x, const float* w, const float* dy, const ConvGeometry& g, float* dx, float* dw,
                       float* dbias);

// The convolution cut along its reduction into ranges that are each summed on their own (the row
// tiles of an in-memory-computing array, each converted by its own ADC). One group, a geometry
// winograd_applies to; x: (N, C, H, W), w: (K, C, 3, 3). The reduction rows are r = (c*3 + i)*3 + j
// (im2col order) and range t holds rows [t*rows, (t+1)*rows): a channel cut by a range boundary
// takes part in both ranges, its kernel masked to each range's taps.
// consume(n, t, z) gets z: (K, Ho*Wo), range t's partial convolution of image n, for every n and t:
// the calls for one image come from one thread, in increasing t; images run in parallel. z is
// scratch the callee may overwrite, valid during the call.
// Exactness: for integer x and w every intermediate value is a multiple of 1/4 (the kernel
// transform halves twice) of magnitude at most winograd_range_bound(...) / 4, so when that bound is
// below 2^24 every z is the exact integer sum of its range, whatever the order of summation.
// With `integers` (x and w hold integers of at most those magnitudes) and small enough codes
// (winograd_int8_applies), the GEMMs run on 8-bit codes with exact int32 sums (gemm_int8.h): the
// same exact values, about four times the multiply-adds per instruction.
struct IntegerOperands {
  double max_abs_x = 0, max_abs_w = 0;
};
using RangeSink = std::function<void(int64_t n, int64_t t, float* z)>;
void winograd_range_sums(const float* x, const float* w, const ConvGeometry& g, int64_t rows, const RangeSink& consume,
                         const IntegerOperands* integers = nullptr);
// Transformed inputs |B^T d B| <= 4 max|x| and kernels |4 G g G^T| <= 9 max|w| must fit a byte, K
// must be a multiple of 16, and the build must have AVX-512 VNNI.
bool winograd_int8_applies(const ConvGeometry& g, const IntegerOperands& integers);

// 4 * 81 * (channels one range touches at most) * max|w| * max|x|, for the exactness test above.
double winograd_range_bound(const ConvGeometry& g, int64_t rows, double max_abs_w, double max_abs_x);

}  // namespace raoq::ops::detail
