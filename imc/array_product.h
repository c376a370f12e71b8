// imc/array_product.h — the product of activation codes and weight codes as an IMC array computes
// it: the one op every IMC layer runs (RAOQ Sec. 3.1; DESIGN.md, "IMC array").
//
// The geometry says how the reduction rows are fed to the array:
//   matrix   xs: (M, K) input codes, wq: (N, K) weight codes -> (M, N)          (linear layers)
//   patches  xs: (B, C, H, W), wq: (N, C, kH, kW), conv options -> (B, N, Ho, Wo): each output
//            position's patch, K = C*kH*kW rows in (c, i, j) order, is one row of the product
//            (convolution layers; groups == 1: depthwise convolutions stay off the array)
//   batched  xs: (G, M, K), wq: (G, N, K) -> (G, M, N): G independent matrix products, product g
//            of xs[g] and wq[g], each tiled and converted on its own (attention's Q K^T, paper
//            appendix J: G = batch * heads, the keys wq[g] written into the array as its stored
//            operand, the queries xs[g] streamed, K = the head width)
// For every output (row m, column n), with tile t = reduction rows [t*rows, (t+1)*rows):
//   y_t[m,n] = sum_{k in tile t} xs[m,k] wq[n,k]                     (the tile's column sum)
//   out[m,n] = sum_t D * yq_t[m,n],  yq_t = floor(clip(y_t / D, -2^(ba-1), 2^(ba-1)-1))    (Eq. 2)
// Each row tile's column sums are converted by the ADC on their own; the tiles are summed
// digitally (for batched, m and n index within group g, and wq is wq[g]). xs must be codes the
// array accepts (input_map.h), wq codes in the weight range. The result is in column-sum units:
// dequantize with s_x s_w and the A-shift term (quant::dequantize_product, quant/dequantize.h). Padded positions
// of a convolution are array rows driven with no input: they add nothing to a column sum, in
// every number representation.
//   config.enabled false: no ADC, out = the exact integer product (sums in float stay exact below 2^24).
//   bit_sliced:      xs and wq are split into native slices (detail/bit_slice.h); every (input slice,
//                    weight slice) pair runs through the tiles and ADCs; outputs are recombined by
//                    their power-of-two factors, and the slicing offset is added back digitally:
//                    out = D * sum_{i,j} f_i g_j sum_t yq_t^{ij} + offset * sum_{k in window} wq[n,k].
//   noise:           weight codes get N(0, weight_noise^2) once per call; every tile's column sums
//                    get N(0, (output_noise * D)^2) before their ADC. Draws come from opt.noise (or
//                    the default generator); the stream of each (image or group, M block, tile, slice
//                    pair) is seeded from one draw, so results do not depend on the thread count.
//
// Declared surrogate gradient (straight-through ADC, Eq. 2 note): with mask_t[m,n] = 1 when y_t[m,n]/D
// lies inside the ADC range (for bit_sliced: inside for every slice pair),
//   dxs[:, tile t] += (dout * mask_t) wq_used[:, tile t]      dwq[:, tile t] += (dout * mask_t)^T xs[:, tile t]
// (for patches, dxs is that gradient of the patches added back where they were read), where
// wq_used is the weight the array used (with its noise). In direct mapping this is the exact
// gradient of the same product with floor removed (Rounding::skip), which the gradient check
// uses; in bit_sliced mapping it is the direct product's surrogate on the whole codes (slicing has
// no useful derivative), with the clip mask of every slice pair combined. The forward records only
// the indices of clipped entries (usually few).
//
// Implementations, chosen inside the op (all give the same numbers, bit for bit):
//   matrix:   per-tile GEMM into a reused 256 x N scratch block, converted and added into the
//             output; parallel over blocks of 256 rows (detail/array_kernels.h).
//   patches:  per image, the same loop on the transposed (K, P) patch matrix, parallel over the
//             batch. 3x3, stride-1 convolutions with >= 16 channels in and out compute each tile's
//             column sums as a Winograd partial convolution instead (detail/array_winograd.h), on 8-bit
//             integer GEMMs when the codes fit: the same exact sums. Noise and observers keep the
//             per-tile loop (they hook into its blocks). The backward of an image with no clipped
//             conversion is the plain convolution's (Winograd when it applies); the others recompute
//             their patches and take the masked backward, the weight gradient reduced per chunk of
//             images in chunk order (reproducible for a given thread count).
//   batched:  each group's product through the matrix loop, parallel over the groups (a group's
//             own blocks then run inline). The backward of a group with no clipped conversion is
//             the plain product's, made by the very GEMM calls of ops::matmul(xs, transpose(wq))'s
//             backward, so that with the ADC off the gradients equal the QAT product of codes bit
//             for bit (quant::QuantAttention); a group with clips takes the matrix geometry's
//             masked backward.
//   backward: one GEMM pair per span of tiles that share a mask.
// Validation: codes outside what the array accepts (non-integers, out of range, even values for
// -1/1 inputs) are an error naming the position and value.
#pragma once

#include <cstdint>

#include "core/ops.h"
#include "core/tensor.h"
#include "imc/adc.h"

namespace raoq {
class Generator;
}

namespace raoq::imc {

// How the reduction rows are fed (the table above).
struct ArrayGeometry {
  enum class Kind { matrix, patches, batched };
  Kind kind = Kind::matrix;
  ops::Conv2dOptions conv;  // patches only: stride, padding, dilation (groups must be 1)

  static ArrayGeometry matrix() { return {}; }
  static ArrayGeometry patches(const ops::Conv2dOptions& conv) { return {Kind::patches, conv}; }
  static ArrayGeometry batched() { return {Kind::batched, {}}; }
};

// What a TileObserver sees: one block of rows of one row tile of one slice pair, before the ADC.
struct TileView {
  int64_t m0 = 0, m_count = 0;  // output rows [m0, m0 + m_count) of the (M, N) product (one image's P for
                                //   patches, one group's M for batched)
  int64_t n_cols = 0;           // N
  int64_t tile = 0, k0 = 0, k1 = 0;  // row tile t and its reduction range [k0, k1)
  int64_t pair = 0;                 // slice pair (always 0 in direct mapping)
  int64_t stream = 0;               // the image index for patches, the group g for batched, 0 for a matrix
  const float* y = nullptr;         // column sums, output noise included; element (r, n) at
  int64_t row_stride = 0, col_stride = 1;  //   y[r * row_stride + n * col_stride]
  float D = 0;
  float at(int64_t r, int64_t n) const { return y[r * row_stride + n * col_stride]; }
};
// Statistics hook (imc/stats.h). observe() runs on worker threads: calls for different blocks may
// run at the same time, so an observer must synchronise (or keep per-block partials).
class TileObserver {
 public:
  virtual ~TileObserver() = default;
  virtual void observe(const TileView& view) = 0;
};

struct ArrayProductOptions {
  Rounding rounding = Rounding::apply;  // skip: the un-floored ADC (gradient checks only)
  Generator* noise = nullptr;           // analog-noise draws; the default generator when null
  TileObserver* observer = nullptr;     // sees every tile's column sums
};

Tensor array_product(const Tensor& xs, const Tensor& wq, const AdcConfig& config,
                     const ArrayGeometry& geometry = ArrayGeometry::matrix(), const ArrayProductOptions& opt = {});

// The same product by plain loops (tile by tile, pair by pair, element by element, taps looked up
// one by one), for the tests. No noise (a configured noise is an error), no autograd. The op and
// the reference agree exactly on codes.
Tensor array_product_reference(const Tensor& xs, const Tensor& wq, const AdcConfig& config,
                               const ArrayGeometry& geometry = ArrayGeometry::matrix());

}  // namespace raoq::imc
