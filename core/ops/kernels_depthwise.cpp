// core/ops/kernels_depthwise.cpp — direct kernels of conv2d for groups with one input channel.
//
// A GEMM per group would have K = kH*kW rows and Cg_out (usually 1) output rows: all overhead.
// Here each output plane reads one input plane.
//
// Stride 1 (the common case) takes a 'wide' path. The input plane is copied into a zero-padded
// grid of width Wp = W + 2p; on that grid, output row oh and tap (a, b) read a contiguous run
// starting at (oh + a*d)*Wp + b*d, so computing the output on a grid just as wide (Wp - Wo junk
// columns per row, dropped afterwards) turns each tap into one long axpy over Ho*Wp values,
// vectorised at full width, instead of Ho short rows of Wo. The backward reuses it: dx is the
// convolution of dy, padded by d(k-1) - p, with the kernel flipped, and dw[tap] is the dot product
// of dy (spread to width Wp, junk columns 0) with the padded input shifted by the tap's offset.
// Other strides loop per output row and tap over the columns that read inside the image.
#include "core/ops/detail/kernels_depthwise.h"

#include <algorithm>
#include <vector>

#include "core/ops/detail/kernels.h"
#include "core/parallel.h"

namespace raoq::ops::detail {
namespace {
// A zero-padded copy of an (h, w) plane: (h + 2 ph, w + 2 pw) values, then `slack` zeros that the
// wide loops may read past the last row (up to d*(kW-1) values).
struct PaddedPlane {
  int64_t h, w, ph, pw, wp, size;
};
PaddedPlane padded_plane(int64_t h, int64_t w, int64_t ph, int64_t pw, int64_t slack) {
  return {h, w, ph, pw, w + 2 * pw, (h + 2 * ph) * (w + 2 * pw) + slack};
}
void pad_plane(const float* src, const PaddedPlane& pp, float* dst) {
  std::fill_n(dst, pp.size, 0.0f);
  for (int64_t i = 0; i < pp.h; ++i) std::copy_n(src + i * pp.w, pp.w, dst + (i + pp.ph) * pp.wp + pp.pw);
}

// wide[i] += sum_t taps[t] * in[i + off[t]] for i in [0, len), off[t] = a*d*wp + b*d for tap
// t = a*kW + b. All T taps are summed in registers per output, so `wide` is read and written once;
// T is a template parameter so the tap loop unrolls (3x3 and 5x5), other sizes go one tap a pass.
template <int T>
void wide_taps_fused(const float* in, const int64_t* off, const float* taps, int64_t len, float* wide) {
  float tw[T];
  const float* src[T];
  for (int t = 0; t < T; ++t) tw[t] = taps[t], src[t] = in + off[t];
#pragma omp simd
  for (int64_t i = 0; i < len; ++i) {
    float v = wide[i];
#pragma GCC unroll 25
    for (int t = 0; t < T; ++t) v += tw[t] * src[t][i];
    wide[i] = v;
  }
}
void wide_taps(const float* in, int64_t wp, const ConvGeometry& g, const float* taps, int64_t len, float* wide) {
  std::vector<int64_t> off(static_cast<size_t>(g.kh * g.kw));
  for (int64_t a = 0; a < g.kh; ++a)
    for (int64_t b = 0; b < g.kw; ++b) off[static_cast<size_t>(a * g.kw + b)] = (a * wp + b) * g.dilation;
  if (off.size() == 9) return wide_taps_fused<9>(in, off.data(), taps, len, wide);
  if (off.size() == 25) return wide_taps_fused<25>(in, off.data(), taps, len, wide);
  for (size_t t = 0; t < off.size(); ++t) {
    const float tw = taps[t];
    const float* src = in + off[t];
#pragma omp simd
    for (int64_t i = 0; i < len; ++i) wide[i] += tw * src[i];
  }
}

// dtaps[t] += sum_i dy_wide[i] * in[i + off[t]] for i in [0, len), offsets as in wide_taps, one
// tap a pass (a fused pass with T reduction arrays vectorised worse here).
void wide_dots(const float* in, int64_t wp, const ConvGeometry& g, const float* dy_wide, int64_t len, float* dtaps) {
  for (int64_t a = 0; a < g.kh; ++a)
    for (int64_t b = 0; b < g.kw; ++b) {
      const float* src = in + (a * wp + b) * g.dilation;
      float sum = 0.0f;
#pragma omp simd reduction(+ : sum)
      for (int64_t i = 0; i < len; ++i) sum += dy_wide[i] * src[i];
      dtaps[a * g.kw + b] += sum;
    }
}

// The generic path: row_fn(tap, in0, out0, cols) for every output row and tap whose input row is
// inside the image; output column ow in [cols.lo, cols.hi) reads input offset in0 + ow*stride of
// the plane and writes output offset out0 + ow.
template <typename RowFn>
void for_each_tap_row(const ConvGeometry& g, const RowFn& row_fn) {
  for (int64_t oh = 0; oh < g.ho; ++oh)
    for (int64_t kh = 0; kh < g.kh; ++kh) {
      const int64_t ih = oh * g.stride + kh * g.dilation - g.padding;
      if (ih < 0 || ih >= g.h) continue;
      for (int64_t kw = 0; kw < g.kw; ++kw) {
        const int64_t off_w = kw * g.dilation - g.padding;
        row_fn(kh * g.kw + kw, ih * g.w + off_w, oh * g.wo, valid_columns(off_w, g.stride, g.w, g.wo));
      }
    }
}
}  // namespace

void depthwise_forward(const float* x, const float* w, const float* bias, const ConvGeometry& g, float* y) {
  const int64_t s = g.stride, taps = g.kh * g.kw, P = g.p(), plane = g.h * g.w;
  const bool wide = s == 1;
  const PaddedPlane px = padded_plane(g.h, g.w, g.padding, g.padding, g.dilation * (g.kw - 1));
  parallel_for(g.n * g.c_out, [&](int64_t i0, int64_t i1) {
    float* xpad = wide ? thread_scratch(0, px.size) : nullptr;
    float* acc = wide ? thread_scratch(1, g.ho * px.wp) : nullptr;
    int64_t padded = -1;  // the input plane xpad holds: reused across a channel multiplier
    for (int64_t i = i0; i < i1; ++i) {  // i = n * C_out + co
      const int64_t co = i % g.c_out, in_plane = (i / g.c_out) * g.c_in + co / g.cg_out();
      const float* xp = x + in_plane * plane;
      const float* wk = w + co * taps;
      float* yp = y + i * P;
      const float b = bias ? bias[co] : 0.0f;
      if (wide) {
        if (padded != in_plane) pad_plane(xp, px, xpad), padded = in_plane;
        std::fill_n(acc, g.ho * px.wp, b);
        wide_taps(xpad, px.wp, g, wk, g.ho * px.wp, acc);
        for (int64_t oh = 0; oh < g.ho; ++oh) std::copy_n(acc + oh * px.wp, g.wo, yp + oh * g.wo);
        continue;
      }
      std::fill_n(yp, P, b);
      for_each_tap_row(g, [&](int64_t tap, int64_t in0, int64_t out0, ValidColumns r) {
        const float wv = wk[tap];
#pragma omp simd
        for (int64_t ow = r.lo; ow < r.hi; ++ow) yp[out0 + ow] += wv * xp[in0 + ow * s];
      });
    }
  }, grain_items(P * taps));
}

void depthwise_backward(const float* x, const float* w, const float* dy, const ConvGeometry& g, float* dx, float* dw,
                        float* dbias) {
  const int64_t s = g.stride, d = g.dilation, taps = g.kh * g.kw, P = g.p(), plane = g.h * g.w;
  const bool wide = s == 1;
  // dx as a convolution of dy needs a non-negative padding d(k-1) - p on both axes.
  const bool wide_dx = wide && g.padding <= d * (g.kh - 1) && g.padding <= d * (g.kw - 1);
  const PaddedPlane px = padded_plane(g.h, g.w, g.padding, g.padding, d * (g.kw - 1));
  const PaddedPlane pdy = padded_plane(g.ho, g.wo, d * (g.kh - 1) - g.padding, d * (g.kw - 1) - g.padding, d * (g.kw - 1));
  const int64_t chunks = chunk_count(g.n, 2 * g.c_out * P * taps, num_threads());
  ChunkPartials dw_part(dw, g.c_out * taps, chunks), db_part(dbias, g.c_out, chunks);
  for_chunks(g.n, chunks, [&](int64_t c, int64_t n0, int64_t n1) {
    float* dwc = dw_part.of(c);
    float* dbc = db_part.of(c);
    float* xpad = (wide && dwc) ? thread_scratch(0, px.size) : nullptr;
    float* dy_wide = (wide && dwc) ? thread_scratch(1, g.ho * px.wp) : nullptr;
    float* dypad = (wide_dx && dx) ? thread_scratch(2, pdy.size) : nullptr;
    float* acc = (wide_dx && dx) ? thread_scratch(3, g.h * pdy.wp) : nullptr;
    std::vector<float> flipped(static_cast<size_t>(taps));
    for (int64_t n = n0; n < n1; ++n)
      for (int64_t co = 0; co < g.c_out; ++co) {
        const int64_t in_off = (n * g.c_in + co / g.cg_out()) * plane;
        const float* dyp = dy + (n * g.c_out + co) * P;
        const float* wk = w + co * taps;
        if (dbc) dbc[co] += Eigen::Map<const Eigen::ArrayXf>(dyp, P).sum();
        // The first output channel of a group starts its input plane's gradient (cache-hot here,
        // unlike a zero-fill of the whole tensor); the group's channels then add into it.
        if (dx && co % g.cg_out() == 0) std::fill_n(dx + in_off, plane, 0.0f);
        if (dwc && wide) {
          pad_plane(x + in_off, px, xpad);
          std::fill_n(dy_wide, g.ho * px.wp, 0.0f);
          for (int64_t oh = 0; oh < g.ho; ++oh) std::copy_n(dyp + oh * g.wo, g.wo, dy_wide + oh * px.wp);
          wide_dots(xpad, px.wp, g, dy_wide, g.ho * px.wp, dwc + co * taps);
        }
        if (dx && wide_dx) {
          pad_plane(dyp, pdy, dypad);
          for (int64_t t = 0; t < taps; ++t) flipped[static_cast<size_t>(t)] = wk[taps - 1 - t];
          std::fill_n(acc, g.h * pdy.wp, 0.0f);
          wide_taps(dypad, pdy.wp, g, flipped.data(), g.h * pdy.wp, acc);
          float* dxp = dx + in_off;
          for (int64_t ih = 0; ih < g.h; ++ih) {
#pragma omp simd
            for (int64_t iw = 0; iw < g.w; ++iw) dxp[ih * g.w + iw] += acc[ih * pdy.wp + iw];
          }
        }
        if ((dwc && !wide) || (dx && !wide_dx)) {
          const float* xp = x + in_off;
          float* dxp = dx && !wide_dx ? dx + in_off : nullptr;
          const bool generic_dw = dwc && !wide;
          for_each_tap_row(g, [&](int64_t tap, int64_t in0, int64_t out0, ValidColumns r) {
            if (dxp) {
              const float wv = wk[tap];
#pragma omp simd
              for (int64_t ow = r.lo; ow < r.hi; ++ow) dxp[in0 + ow * s] += wv * dyp[out0 + ow];
            }
            if (generic_dw) {
              float sum = 0.0f;
#pragma omp simd reduction(+ : sum)
              for (int64_t ow = r.lo; ow < r.hi; ++ow) sum += dyp[out0 + ow] * xp[in0 + ow * s];
              dwc[co * taps + tap] += sum;
            }
          });
        }
      }
  });
  dw_part.reduce();
  db_part.reduce();
}

}  // namespace raoq::ops::detail
