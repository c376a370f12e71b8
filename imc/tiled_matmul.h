// imc/tiled_matmul.h — the product of activation codes and weight codes as an IMC array computes it.
//
//   xs: (M, K) input codes the array accepts (A-shifted, or unsigned, or -1/1; see adc.h)
//   wq: (N, K) symmetric weight codes
//   -> (M, N):  out[m,n] = sum_t D * yq_t[m,n],  yq_t = floor(clip(y_t / D, -2^(ba-1), 2^(ba-1)-1)),
//               y_t[m,n] = sum_{k in tile t} xs[m,k] wq[n,k],   tile t = rows [t*rows, (t+1)*rows) of K
// Each row tile's column sums are converted by the ADC on their own; the tiles are summed digitally
// (RAOQ Sec. 3.1; DESIGN.md). The result is in column-sum units: dequantize with s_x s_w and the
// A-shift correction (quant::ashift_correct, or the IMC layers' fused dequantization).
//   config.bypass:   no ADC, out = xs wq^T exactly (integer sums in float stay exact below 2^24).
//   bit_sliced:      xs and wq are split into native slices (bit_slice.h); every (input slice,
//                    weight slice) pair runs through the tiles and ADCs; outputs are recombined by
//                    their power-of-two factors, and the slicing offset is added back digitally:
//                    out = D * sum_{i,j} f_i g_j sum_t yq_t^{ij} + offset * sum_k wq[n,k].
//   noise:           weight codes get N(0, weight_noise^2) once per call; every tile's column sums
//                    get N(0, (output_noise * D)^2) before their ADC. Draws come from opt.noise (or
//                    the default generator); the stream of each (M block, tile, slice pair) is seeded
//                    from one draw, so results do not depend on the thread count.
//
// Declared surrogate gradient (straight-through ADC, Eq. 2 note): with mask_t[m,n] = 1 when y_t[m,n]/D
// lies inside the ADC range (for bit_sliced: inside for every slice pair),
//   dxs[:, tile t] += (dout * mask_t) wq_used[:, tile t]      dwq[:, tile t] += (dout * mask_t)^T xs[:, tile t]
// where wq_used is the weight the array used (with its noise). In direct mapping this is the exact
// gradient of the same product with floor removed (Rounding::skip), which the gradient check uses;
// in bit_sliced mapping it is the direct product's surrogate on the whole codes (slicing has no
// useful derivative), with the clip mask of every slice pair combined. The forward
// records only the indices of clipped entries (usually few); the backward runs one GEMM pair per
// span of tiles that share a mask.
//
// Performance: one pass per tile — the tile's GEMM goes into a reused scratch block of 256 x N,
// the block is converted and added into the output; parallel over blocks of 256 rows of M.
// Validation: codes outside what the array accepts (non-integers, out of range, even values for
// -1/1 inputs) are an error naming the position and value.
#pragma once

#include <cstdint>

#include "core/tensor.h"
#include "imc/adc.h"

namespace raoq {
class Generator;
}

namespace raoq::imc {

// What a TileObserver sees: one block of rows of one row tile of one slice pair, before the ADC.
struct TileView {
  int64_t m0 = 0, m_count = 0;  // output rows [m0, m0 + m_count) of the (M, N) product
  int64_t n_cols = 0;           // N
  int64_t tile = 0, k0 = 0, k1 = 0;  // row tile t and its reduction range [k0, k1)
  int64_t pair = 0;                 // slice pair (always 0 in direct mapping)
  int64_t stream = 0;               // caller-defined (the image index in imc_conv2d, 0 in tiled_matmul)
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

struct TiledOptions {
  Rounding rounding = Rounding::apply;  // skip: the un-floored ADC (gradient checks only)
  Generator* noise = nullptr;           // analog-noise draws; the default generator when null
  TileObserver* observer = nullptr;     // sees every tile's column sums
};

// Throws raoq::Error naming op, tensor, position and value unless xs holds input codes the array
// accepts and wq weight codes it accepts (see adc.h). With integers false only the ranges are
// checked: Rounding::skip evaluates the product on real-valued codes (gradient checks perturb them).
void check_array_codes(const char* op, const Tensor& xs, const Tensor& wq, const AdcConfig& config, bool integers = true);

Tensor tiled_matmul(const Tensor& xs, const Tensor& wq, const AdcConfig& config, const TiledOptions& opt = {});

// The same product by plain loops (tile by tile, pair by pair, element by element), for the tests.
// No noise (a configured noise is an error), no autograd. Fast and reference agree exactly on codes.
Tensor tiled_matmul_reference(const Tensor& xs, const Tensor& wq, const AdcConfig& config);

}  // namespace raoq::imc
