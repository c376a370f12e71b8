// core/ops/detail/kernels_winograd.h — conv2d's Winograd F(2x2, 3x3) kernels for 3x3, stride-1,
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
// Internal to raoq: conv2d (core/ops/conv.cpp) uses all of it; the transforms (namespace winograd
// below) and the backward also serve kernels outside core that run a Winograd convolution's GEMMs
// their own way. Not part of the public API.
#pragma once

#include <cstdint>
#include <vector>

#include "core/ops/detail/im2col.h"

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

// ---- The building blocks above, for code that runs its own GEMMs between the transforms.
// Per image and group the kernels work channels-last (kernels_winograd.cpp has the layout): the
// image sits in a zero-margined grid (hp, wp, C) at (p, p), so every 4x4 input tile (i, j) lies
// at rows 2i.. and columns 2j.. of the grid, with no tests at the edges; the outputs come out in
// a grid (hq, wq, K) = (2 th, 2 tw, K) whose rows and columns past Ho, Wo are dropped. A block of
// images_per_block images has t = images_per_block * t1 tiles, their transformed inputs are
// V[xi] (t, C) for the 16 positions xi of a 4x4 tile, the transformed kernels U[xi] (C, K), and
// M[xi] (t, K) = V[xi] U[xi] is what the output transform reads.
namespace winograd {

struct Layout {
  int64_t c, k, h, w, ho, wo, p, th, tw, t1;  // C, K per group, sizes, padding, th x tw = t1 tiles per image
  int64_t images_per_block, t;                // t = images_per_block * t1 rows per xi matrix
  int64_t hp, wp, hq, wq;                     // the input grid (hp, wp, C) and the output grid (hq, wq, K)
};
// The tiling of g, with a block size that keeps a block's V and M within about 1 MiB.
Layout layout_of(const ConvGeometry& g);

// Where each pixel of a (C, H*W) image goes in the input grid, and each of a (K, Ho*Wo) output
// in the output grid: the `at` of transpose_to / transpose_from (core/ops/detail/kernels.h).
std::vector<int64_t> input_offsets(const Layout& v);
std::vector<int64_t> output_offsets(const Layout& v);

// U[xi][c][k] = (G g G^T)[xi] for g = w_g[k][c] (3x3), w_g: (K, C, 3, 3) with v.c, v.k channels.
void kernel_transform(const float* w_g, const Layout& v, float* U);
// V[xi][t0 + tile][:] = (B^T d B)[xi] for every tile of one image; xp: the input grid, its margins zero.
void input_transform(const float* xp, const Layout& v, int64_t t0, float* V);
// The output grid yp = (A^T m A) + bias for every tile of one image, m[xi] = M[xi][t0 + tile][:];
// bias: K floats (zeros for none).
void output_transform(const float* M, const float* bias, const Layout& v, int64_t t0, float* yp);

}  // namespace winograd

}  // namespace raoq::ops::detail
