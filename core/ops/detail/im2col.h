// core/ops/detail/im2col.h — internal helpers of the convolution: the geometry of a 2-D convolution
// and im2col / col2im over one image and one group.
//
// Internal to raoq: the convolutions of core/ops, and kernels elsewhere in the library that need a
// convolution's patches. Not part of the public API.
//
// Legend: C_in, C_out channels, G groups, H W input size, Ho Wo output size, kH kW kernel,
//   Cg_in = C_in/G, Cg_out = C_out/G, K = Cg_in*kH*kW (reduction length), P = Ho*Wo.
//   x_g:  (Cg_in, H, W)  one group of one image, contiguous
//   cols: (K, P)         row k = (ci, kh, kw), column p = (oh, ow); rows may be padded to a
//                        leading dimension ld >= P
#pragma once

#include <algorithm>
#include <cstdint>

namespace raoq::ops::detail {

struct ConvGeometry {
  int64_t n = 0, c_in = 0, h = 0, w = 0;  // input (N, C_in, H, W)
  int64_t c_out = 0, kh = 0, kw = 0;      // weight (C_out, C_in/G, kH, kW)
  int64_t stride = 1, padding = 0, dilation = 1, groups = 1;
  int64_t ho = 0, wo = 0;                  // output spatial size
  int64_t cg_in() const { return c_in / groups; }
  int64_t cg_out() const { return c_out / groups; }
  int64_t k() const { return cg_in() * kh * kw; }
  int64_t p() const { return ho * wo; }
  // 1x1, stride 1, no padding: the image itself is the column matrix (no im2col needed).
  bool is_pointwise() const { return kh == 1 && kw == 1 && stride == 1 && padding == 0; }
};

// Output columns [lo, hi) whose input column ow*stride + offset lies inside [0, w): the loops
// over them need no bounds test. offset = kw*dilation - padding.
struct ValidColumns {
  int64_t lo, hi;
};
inline ValidColumns valid_columns(int64_t offset, int64_t stride, int64_t w, int64_t wo) {
  const int64_t lo = offset >= 0 ? 0 : (-offset + stride - 1) / stride;
  const int64_t last = w - 1 - offset;  // the largest ow*stride allowed
  const int64_t hi = last < 0 ? 0 : std::min(last / stride + 1, wo);
  return {std::min(lo, hi), hi};
}

// cols[k, p] = x_g[ci, oh*s - pad + kh*d, ow*s - pad + kw*d], 0 outside the image.
// Writes every element of the first P columns of the K rows of cols (row stride ld).
void im2col(const float* x_g, const ConvGeometry& g, float* cols, int64_t ld);

// The adjoint of im2col: dx_g[ci, ih, iw] += every cols entry that im2col read from there.
// Accumulates into dx_g (callers zero it or keep earlier gradient). cols is scratch: entries
// that im2col would have filled with padding zeros may be overwritten with 0.
void col2im(float* cols, const ConvGeometry& g, int64_t ld, float* dx_g);

}  // namespace raoq::ops::detail
