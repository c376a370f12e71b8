// core/ops/im2col.cpp — im2col / col2im for one image and one group.
//
// Each walks the K rows of the column matrix (one per input channel and kernel tap).
// Stride 1 with Wo == W (a 'same'-width convolution, the common case) takes a shifted path:
// a tap's row is the input plane shifted by off_h*W + off_w, so one contiguous copy (or add)
// does the work and only the entries that wrapped around a row edge need fixing. Otherwise,
// for each output row, the output columns that read inside the image are worked out once so
// the inner loop has no bounds test, and the padding is written as zeros around it.
#include "core/ops/detail/im2col.h"

#include <algorithm>

#include <Eigen/Core>

namespace raoq::ops::detail {

namespace {
using ConstVec = Eigen::Map<const Eigen::ArrayXf>;
using Vec = Eigen::Map<Eigen::ArrayXf>;

bool shifted_path(const ConvGeometry& g) { return g.stride == 1 && g.wo == g.w; }

// For the shifted path: row[j] reads plane[j + shift] for j in [j0, j1); outside that range the
// source lies above or below the plane (padding rows).
struct ShiftedTap {
  int64_t shift, j0, j1;
  ValidColumns cols;  // output columns whose source stays on the same image row
};
ShiftedTap shifted_tap(const ConvGeometry& g, int64_t off_h, int64_t off_w) {
  const int64_t len = g.ho * g.w, plane = g.h * g.w, shift = off_h * g.w + off_w;
  return {shift, std::clamp<int64_t>(-shift, 0, len), std::clamp<int64_t>(plane - shift, 0, len),
          valid_columns(off_w, 1, g.w, g.w)};
}

// Zeroes, in every output row, the columns whose source wrapped onto the neighbouring image row.
// Column by column: there are only `padding` of them on each side, and short per-row loops
// would each become a memset call.
void zero_wrapped(float* row, const ConvGeometry& g, const ValidColumns& r) {
  for (int64_t ow = 0; ow < r.lo; ++ow)
    for (int64_t oh = 0; oh < g.ho; ++oh) row[oh * g.w + ow] = 0.0f;
  for (int64_t ow = r.hi; ow < g.w; ++ow)
    for (int64_t oh = 0; oh < g.ho; ++oh) row[oh * g.w + ow] = 0.0f;
}
}  // namespace

void im2col(const float* x_g, const ConvGeometry& g, float* cols, int64_t ld) {
  const int64_t s = g.stride;
  for (int64_t ci = 0; ci < g.cg_in(); ++ci) {
    const float* plane = x_g + ci * g.h * g.w;
    for (int64_t kh = 0; kh < g.kh; ++kh) {
      const int64_t off_h = kh * g.dilation - g.padding;
      for (int64_t kw = 0; kw < g.kw; ++kw) {
        const int64_t off_w = kw * g.dilation - g.padding;
        float* row = cols + ((ci * g.kh + kh) * g.kw + kw) * ld;
        if (shifted_path(g)) {
          const ShiftedTap t = shifted_tap(g, off_h, off_w);
          std::fill(row, row + t.j0, 0.0f);
          std::copy(plane + t.j0 + t.shift, plane + t.j1 + t.shift, row + t.j0);
          std::fill(row + std::max(t.j0, t.j1), row + g.ho * g.w, 0.0f);
          zero_wrapped(row, g, t.cols);
          continue;
        }
        const ValidColumns r = valid_columns(off_w, s, g.w, g.wo);
        for (int64_t oh = 0; oh < g.ho; ++oh) {
          float* dst = row + oh * g.wo;
          const int64_t ih = oh * s + off_h;
          if (ih < 0 || ih >= g.h) {
            std::fill_n(dst, g.wo, 0.0f);
            continue;
          }
          const float* src = plane + ih * g.w;
          std::fill_n(dst, r.lo, 0.0f);
#pragma omp simd
          for (int64_t ow = r.lo; ow < r.hi; ++ow) dst[ow] = src[ow * s + off_w];
          std::fill(dst + r.hi, dst + g.wo, 0.0f);
        }
      }
    }
  }
}

void col2im(float* cols, const ConvGeometry& g, int64_t ld, float* dx_g) {
  const int64_t s = g.stride;
  for (int64_t ci = 0; ci < g.cg_in(); ++ci) {
    float* plane = dx_g + ci * g.h * g.w;
    for (int64_t kh = 0; kh < g.kh; ++kh) {
      const int64_t off_h = kh * g.dilation - g.padding;
      for (int64_t kw = 0; kw < g.kw; ++kw) {
        const int64_t off_w = kw * g.dilation - g.padding;
        float* row = cols + ((ci * g.kh + kh) * g.kw + kw) * ld;
        if (shifted_path(g)) {
          // Wrapped entries read padding: they give nothing back, so zero them and add the
          // whole in-plane range in one vectorised pass.
          const ShiftedTap t = shifted_tap(g, off_h, off_w);
          zero_wrapped(row, g, t.cols);
          if (t.j1 > t.j0) Vec(plane + t.j0 + t.shift, t.j1 - t.j0) += ConstVec(row + t.j0, t.j1 - t.j0);
          continue;
        }
        const ValidColumns r = valid_columns(off_w, s, g.w, g.wo);
        for (int64_t oh = 0; oh < g.ho; ++oh) {
          const int64_t ih = oh * s + off_h;
          if (ih < 0 || ih >= g.h) continue;  // padding: nothing to give back
          const float* src = row + oh * g.wo;
          float* dst = plane + ih * g.w;
#pragma omp simd
          for (int64_t ow = r.lo; ow < r.hi; ++ow) dst[ow * s + off_w] += src[ow];
        }
      }
    }
  }
}

}  // namespace raoq::ops::detail
