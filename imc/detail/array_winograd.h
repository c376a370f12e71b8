// imc/detail/array_winograd.h — internal: the tile sums of a 3x3 convolution on the array as Winograd
// partial convolutions (one per row tile), on 8-bit integer GEMMs when the codes fit.
//
// The convolution is cut along its reduction into ranges that are each summed on their own: the
// row tiles of the array, each converted by its own ADC. One group, a geometry
// ops::detail::winograd_applies to; x: (B, C, H, W), w: (N, C, 3, 3). The reduction rows are
// r = (c*3 + i)*3 + j (im2col order) and tile t holds rows [t*rows, (t+1)*rows): a channel cut by
// a tile boundary takes part in both tiles, its kernel masked to each tile's taps. Each tile's
// GEMMs use the transforms of core/ops/detail/kernels_winograd.h (2.25 times fewer multiplications than
// the per-tile product) on the columns of the channels the tile touches.
//
// Exactness: for integer x and w every intermediate value is a multiple of 1/4 (the kernel
// transform halves twice) of magnitude at most winograd_range_bound(...) / 4, so when that bound is
// below 2^24 every sum is the exact integer sum of its tile, whatever the order of summation: the
// ADC codes then equal the per-tile product's bit for bit. With `integers` (x and w hold integers
// of at most those magnitudes) and small enough codes (winograd_int8_applies), the GEMMs run on
// 8-bit codes with exact int32 sums (detail/gemm_int8.h): the same exact values, about four times the
// multiply-adds per instruction.
// Not a public header: the array product (array_product.cpp) selects this path.
#pragma once

#include <cstdint>
#include <functional>

#include "core/ops/detail/im2col.h"

namespace raoq::imc::detail {

using ops::detail::ConvGeometry;

struct IntegerOperands {
  double max_abs_x = 0, max_abs_w = 0;
};

// consume(b, t, z) gets z: (N, Ho*Wo), tile t's partial convolution of image b, for every b and
// t: the calls for one image come from one thread, in increasing t; images run in parallel. z is
// scratch the callee may overwrite, valid during the call.
using RangeSink = std::function<void(int64_t b, int64_t t, float* z)>;
void winograd_range_sums(const float* x, const float* w, const ConvGeometry& g, int64_t rows, const RangeSink& consume,
                         const IntegerOperands* integers = nullptr);

// Transformed inputs |B^T d B| <= 4 max|x| and kernels |4 G g G^T| <= 9 max|w| must fit a byte, N
// must be a multiple of 16, and the build must have AVX-512 VNNI.
bool winograd_int8_applies(const ConvGeometry& g, const IntegerOperands& integers);

// 4 * 81 * (channels one tile touches at most) * max|w| * max|x|, for the exactness test above.
double winograd_range_bound(const ConvGeometry& g, int64_t rows, double max_abs_w, double max_abs_x);

}  // namespace raoq::imc::detail
