// quant/dequantize.cpp — window_weight_sums and dequantize_product: the digital side of a product of
// integer codes (contract in dequantize.h). Both are smooth; their backward is the plain chain rule.
//
// Legend: N output channels, P output positions (1 for a linear layer), T = kH*kW taps,
//   wq: (N, C, kH, kW) or (N, K)   S, dS: (N, P)   acc, y: (outer, N, inner), inner = P or 1
#include "quant/dequantize.h"

#include <algorithm>
#include <vector>

#include "core/autograd.h"
#include "core/error.h"
#include "core/ops/detail/kernels.h"
#include "core/parallel.h"

namespace raoq::quant {

RAOQ_REGISTER_OP("window_weight_sums");
RAOQ_REGISTER_OP("dequantize_product");

namespace {
// inside[p, (i, j)] = 1 when tap (i, j) of output p reads a position inside the H x W input.
MatrixRM inside_taps(int64_t H, int64_t W, int64_t kh, int64_t kw, const ops::Conv2dOptions& o, int64_t* Ho,
                     int64_t* Wo) {
  *Ho = (H + 2 * o.padding - o.dilation * (kh - 1) - 1) / o.stride + 1;
  *Wo = (W + 2 * o.padding - o.dilation * (kw - 1) - 1) / o.stride + 1;
  RAOQ_CHECK(*Ho >= 1 && *Wo >= 1, "window_weight_sums: the kernel does not fit the padded ", H, "x", W, " input");
  MatrixRM in(*Ho * *Wo, kh * kw);
  for (int64_t p = 0; p < in.rows(); ++p)
    for (int64_t i = 0; i < kh; ++i)
      for (int64_t j = 0; j < kw; ++j) {
        const int64_t ih = (p / *Wo) * o.stride - o.padding + i * o.dilation;
        const int64_t iw = (p % *Wo) * o.stride - o.padding + j * o.dilation;
        in(p, i * kw + j) = (ih >= 0 && ih < H && iw >= 0 && iw < W) ? 1.0f : 0.0f;
      }
  return in;
}
}  // namespace

// wq -> S = (sum_c wq[n, c, :, :]) inside^T: (N, P).   dwq[n, c, i, j] += (dS inside)[n, (i, j)]
Tensor window_weight_sums(const Tensor& wq, int64_t H, int64_t W, const ops::Conv2dOptions& o) {
  RAOQ_CHECK(wq.dim() == 4 || wq.dim() == 2, "window_weight_sums: expected wq (N, C, kH, kW) or (N, K), given ",
             shape_str(wq.shape()));
  const bool linear = wq.dim() == 2;
  const int64_t N = wq.size(0), C = wq.size(1), kh = linear ? 1 : wq.size(2), kw = linear ? 1 : wq.size(3);
  int64_t Ho = 1, Wo = 1;
  const MatrixRM inside = linear ? MatrixRM::Ones(1, 1) : inside_taps(H, W, kh, kw, o, &Ho, &Wo);
  const int64_t T = kh * kw;
  MatrixRM per_tap(N, T);  // sum over input channels, in channel order
  const float* w = wq.data();
  parallel_for(N, [&](int64_t n0, int64_t n1) {
    for (int64_t n = n0; n < n1; ++n) {
      float* sum = per_tap.data() + n * T;
      std::fill(sum, sum + T, 0.0f);
      for (int64_t c = 0; c < C; ++c) {
        const float* wc = w + (n * C + c) * T;
        for (int64_t t = 0; t < T; ++t) sum[t] += wc[t];
      }
    }
  }, ops::detail::grain_items(C * T));
  Tensor S = Tensor::empty({N, Ho * Wo});
  S.as_matrix(N, Ho * Wo).noalias() = per_tap * inside.transpose();
  return autograd::record("window_weight_sums", {wq}, S, {"inside"}, [inside, N, C, T](BackwardContext& ctx) {
    const MatrixRM d_tap = ctx.dout_tensor().as_matrix(N, inside.rows()) * inside;  // (N, T)
    float* dw = ctx.dinput_tensor(0).data();
    parallel_for(N, [&](int64_t n0, int64_t n1) {
      for (int64_t n = n0; n < n1; ++n) {
        const float* d = d_tap.data() + n * T;
        for (int64_t c = 0; c < C; ++c) {
          float* dwc = dw + (n * C + c) * T;
          for (int64_t t = 0; t < T; ++t) dwc[t] += d[t];
        }
      }
    }, ops::detail::grain_items(C * T));
  });
}

namespace {
// Adds the per-channel sums of the backward to the gradients of s_x, s_w, beta and bias:
// part[chunk][g acc, g S, g][n], summed in chunk order.
void add_scale_gradients(BackwardContext& ctx, const std::vector<double>& part, int64_t chunks, int64_t N,
                         const std::vector<float>& sw, float sx, float b, ShiftMap map) {
  std::vector<double> d_sx(static_cast<size_t>(N)), d_sw(d_sx), d_beta(d_sx), d_bias(d_sx);
  for (int64_t n = 0; n < N; ++n) {
    double g_acc = 0, g_s = 0, g_sum = 0;  // sum g acc, sum g S, sum g over channel n, chunk order
    for (int64_t ch = 0; ch < chunks; ++ch) {
      g_acc += part[size_t(ch * 3 * N + n)];
      g_s += part[size_t(ch * 3 * N + N + n)];
      g_sum += part[size_t(ch * 3 * N + 2 * N + n)];
    }
    d_sx[size_t(n)] = sw[size_t(n)] / map.gain * (g_acc + map.shift * g_s);
    d_sw[size_t(n)] = sx / map.gain * g_acc + (sx * map.shift / map.gain + b) * g_s;
    d_beta[size_t(n)] = sw[size_t(n)] * g_s;
    d_bias[size_t(n)] = g_sum;
  }
  auto add_total = [&](size_t i, const std::vector<double>& per) {
    double t = 0;
    for (double v : per) t += v;
    ctx.dinput_tensor(i).data()[0] += static_cast<float>(t);
  };
  auto add_each = [&](size_t i, const std::vector<double>& per) {
    for (int64_t n = 0; n < N; ++n) ctx.dinput_tensor(i).data()[n] += static_cast<float>(per[size_t(n)]);
  };
  if (ctx.needs(2)) add_total(2, d_sx);
  if (ctx.needs(3)) {
    if (ctx.input(3).numel() == 1) add_total(3, d_sw);
    else add_each(3, d_sw);
  }
  if (ctx.needs(4)) add_total(4, d_beta);
  if (ctx.needs(5)) add_each(5, d_bias);
}

// The forward's per-channel factors: y = scale[n] * ((acc + shift S) * inv_gain) + (offset[n] S + bias[n]).
// (inv_gain is 1 or 1/2: multiplying by it is exact.)
struct Coefficients {
  std::vector<float> scale, offset;  // s_x s_w[n], beta s_w[n]
  float inv_gain = 1;
};

// dequantize_product with inner == 1 (a linear layer: acc (outer, N), S (N, 1)), vectorised across
// the channels of a row instead of along a one-element row. The same operations in the same order
// as the general path, so the same bits.
Tensor dequantize_rows(const Tensor& acc, const Tensor& S, const Tensor& s_x, const Tensor& s_w, const Tensor& beta,
                       const Tensor& bias, Tensor y, const Coefficients& f, std::vector<float> a,
                       std::vector<float> c, std::vector<float> sw, float sx, float b, int64_t outer, int64_t N,
                       ShiftMap map) {
  std::vector<float> k(static_cast<size_t>(N)), h(k);
  const float* bias_p = bias.defined() ? bias.data() : nullptr;
  const float* sp = S.data();
  for (int64_t n = 0; n < N; ++n) {  // as the general path writes them
    const float bn = bias_p ? bias_p[n] : 0.0f;
    k[size_t(n)] = f.offset[size_t(n)] * sp[n] + bn;
    h[size_t(n)] = map.shift * sp[n];
  }
  {
    const float *in = acc.data(), *ap = f.scale.data(), *kp = k.data(), *hp = h.data();
    const float inv_gain = f.inv_gain;
    float* out = y.data();
    parallel_for(outer, [&](int64_t o0, int64_t o1) {
      for (int64_t o = o0; o < o1; ++o) {
#pragma omp simd
        for (int64_t n = 0; n < N; ++n) out[o * N + n] = ap[n] * ((in[o * N + n] + hp[n]) * inv_gain) + kp[n];
      }
    }, 4);
  }
  return autograd::record(
      "dequantize_product", {acc, S, s_x, s_w, beta, bias}, y, {"acc", "S", "s_x", "s_w", "beta"},
      [acc_v = acc.detach(), S_v = S.detach(), a, c, sw, sx, b, outer, N, map](BackwardContext& ctx) {
        const float* g = ctx.dout_tensor().data();
        const float* av = acc_v.data();
        const float* sv = S_v.data();
        float* dacc = ctx.needs(0) ? ctx.dinput_uninit(0).data() : nullptr;  // every element written below
        float* dS = ctx.needs(1) ? ctx.dinput_tensor(1).data() : nullptr;
        const int64_t chunks = std::max<int64_t>(1, std::min<int64_t>(num_threads(), outer));
        std::vector<double> part(static_cast<size_t>(chunks * 3 * N), 0.0);  // [chunk][g acc, g S, g][n]
        std::vector<float> dS_extra(dS ? static_cast<size_t>((chunks - 1) * N) : 0, 0.0f);
        parallel_for(chunks, [&](int64_t c0, int64_t c1) {
          for (int64_t ch = c0; ch < c1; ++ch) {
            double *pa = part.data() + ch * 3 * N, *ps = pa + N, *pg = ps + N;
            float* dSc = !dS ? nullptr : ch == 0 ? dS : dS_extra.data() + (ch - 1) * N;
            const float *ap = a.data(), *cp = c.data();
            for (int64_t o = outer * ch / chunks; o < outer * (ch + 1) / chunks; ++o) {
              const float* go = g + o * N;
              const float* ao = av + o * N;
#pragma omp simd
              for (int64_t n = 0; n < N; ++n) {
                pa[n] += static_cast<double>(go[n] * ao[n]);
                ps[n] += static_cast<double>(go[n] * sv[n]);
                pg[n] += static_cast<double>(go[n]);
              }
              if (dSc) {
#pragma omp simd
                for (int64_t n = 0; n < N; ++n) dSc[n] += cp[n] * go[n];
              }
              if (dacc) {
                float* da = dacc + o * N;
#pragma omp simd
                for (int64_t n = 0; n < N; ++n) da[n] = ap[n] * go[n];
              }
            }
          }
        });
        for (size_t i = 0; i < dS_extra.size(); i += size_t(N))
          for (int64_t j = 0; j < N; ++j) dS[j] += dS_extra[i + size_t(j)];
        add_scale_gradients(ctx, part, chunks, N, sw, sx, b, map);
      });
}
}  // namespace

// y[o, n, q] = scale_n ((acc[o, n, q] + shift S[n, q]) / gain) + (offset_n S[n, q] + bias[n]);
// as a function of acc and S that is a_n acc + c_n S + bias[n] with a_n = s_x s_w[n] / gain and
// c_n = s_w[n] (s_x shift / gain + beta): the backward's coefficients.   saves: acc, S, s_x, s_w, beta
Tensor dequantize_product(const Tensor& acc, int64_t axis, const Tensor& S, const Tensor& s_x, const Tensor& s_w,
                          const Tensor& beta, const Tensor& bias, ShiftMap map) {
  const int64_t ax = axis < 0 ? axis + acc.dim() : axis;
  RAOQ_CHECK(ax >= 0 && ax < acc.dim(), "dequantize_product: axis ", axis, " out of range for acc ",
             shape_str(acc.shape()));
  const int64_t N = acc.size(ax);
  int64_t outer = 1, inner = 1;
  for (int64_t d = 0; d < ax; ++d) outer *= acc.size(d);
  for (int64_t d = ax + 1; d < acc.dim(); ++d) inner *= acc.size(d);
  RAOQ_CHECK(S.dim() == 2 && S.size(0) == N && (S.size(1) == inner || S.size(1) == 1),
             "dequantize_product: S must be (", N, ", ", inner, ") or (", N, ", 1), given ", shape_str(S.shape()));
  RAOQ_CHECK(s_x.numel() == 1 && (s_w.numel() == 1 || s_w.numel() == N) && (!beta.defined() || beta.numel() == 1) &&
                 (!bias.defined() || bias.numel() == N),
             "dequantize_product: expected s_x [], s_w [] or [", N, "], beta [] or undefined, bias [", N,
             "] or undefined");
  RAOQ_CHECK(map.gain == 1.0f || map.gain == 2.0f, "dequantize_product: the input map's gain must be 1 or 2, given ",
             map.gain);
  const int64_t s_stride = S.size(1) == 1 ? 0 : 1;
  // Per channel: the forward's factors, the backward's a_n and c_n, and s_w[n] (values now; the
  // backward uses the same ones).
  const float sx = s_x.item(), b = beta.defined() ? beta.item() : 0.0f;
  std::vector<float> a(static_cast<size_t>(N)), c(a), sw(a);
  Coefficients f{a, a, 1.0f / map.gain};
  for (int64_t n = 0; n < N; ++n) {
    sw[size_t(n)] = s_w.data()[s_w.numel() == 1 ? 0 : n];
    f.scale[size_t(n)] = sx * sw[size_t(n)];
    f.offset[size_t(n)] = b * sw[size_t(n)];
    a[size_t(n)] = sx * sw[size_t(n)] / map.gain;
    c[size_t(n)] = sw[size_t(n)] * (sx * map.shift / map.gain + b);
  }
  Tensor y = Tensor::empty(acc.shape());
  const float* bias_p = bias.defined() ? bias.data() : nullptr;
  const int64_t s_cols = S.size(1);
  if (inner == 1) return dequantize_rows(acc, S, s_x, s_w, beta, bias, y, f, a, c, sw, sx, b, outer, N, map);
  parallel_for(outer * N, [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {  // row r = (o, n): inner contiguous values
      const int64_t n = r % N;
      const float an = f.scale[size_t(n)], cn = f.offset[size_t(n)], bn = bias_p ? bias_p[n] : 0.0f;
      const float shift = map.shift, inv_gain = f.inv_gain;
      const float* in = acc.data() + r * inner;
      const float* sn = S.data() + n * s_cols;
      float* out = y.data() + r * inner;
      if (s_stride) {
#pragma omp simd
        for (int64_t q = 0; q < inner; ++q) out[q] = an * ((in[q] + shift * sn[q]) * inv_gain) + (cn * sn[q] + bn);
      } else {
        const float k = cn * sn[0] + bn, h = shift * sn[0];
#pragma omp simd
        for (int64_t q = 0; q < inner; ++q) out[q] = an * ((in[q] + h) * inv_gain) + k;
      }
    }
  }, 16);
  return autograd::record(
      "dequantize_product", {acc, S, s_x, s_w, beta, bias}, y, {"acc", "S", "s_x", "s_w", "beta"},
      [acc_v = acc.detach(), S_v = S.detach(), a, c, sw, sx, b, outer, N, inner, s_stride, s_cols,
       map](BackwardContext& ctx) {
        const float* g = ctx.dout_tensor().data();
        float* dacc = ctx.needs(0) ? ctx.dinput_uninit(0).data() : nullptr;  // every row written below
        float* dS = ctx.needs(1) ? ctx.dinput_tensor(1).data() : nullptr;
        // Rows (o, n) in memory order, the outer index split into chunks (one per thread): streams
        // through g and acc instead of striding across images channel by channel. Per chunk and
        // channel: sums in float lanes within a row, in double across rows; dS per chunk (chunk 0
        // into dS itself). Chunks are then summed in chunk order: reproducible per thread count.
        const int64_t chunks = std::max<int64_t>(1, std::min<int64_t>(num_threads(), outer));
        std::vector<double> part(static_cast<size_t>(chunks * 3 * N), 0.0);  // [chunk][g acc, g S, g][n]
        std::vector<float> dS_extra(dS ? static_cast<size_t>((chunks - 1) * N * s_cols) : 0, 0.0f);
        parallel_for(chunks, [&](int64_t c0, int64_t c1) {
          for (int64_t ch = c0; ch < c1; ++ch) {
            double* pc = part.data() + ch * 3 * N;
            float* dSc = !dS ? nullptr : ch == 0 ? dS : dS_extra.data() + (ch - 1) * N * s_cols;
            for (int64_t o = outer * ch / chunks; o < outer * (ch + 1) / chunks; ++o)
              for (int64_t n = 0; n < N; ++n) {
                const float an = a[size_t(n)], cn = c[size_t(n)];
                const float* sn = S_v.data() + n * s_cols;
                float* dSn = dSc ? dSc + n * s_cols : nullptr;
                const int64_t base = (o * N + n) * inner;
                const float* go = g + base;
                const float* ao = acc_v.data() + base;
                float fa = 0, fs = 0, fg = 0;
                if (s_stride) {
#pragma omp simd reduction(+ : fa, fs, fg)
                  for (int64_t q = 0; q < inner; ++q) fa += go[q] * ao[q], fs += go[q] * sn[q], fg += go[q];
                  if (dSn) {
#pragma omp simd
                    for (int64_t q = 0; q < inner; ++q) dSn[q] += cn * go[q];
                  }
                } else {
#pragma omp simd reduction(+ : fa, fg)
                  for (int64_t q = 0; q < inner; ++q) fa += go[q] * ao[q], fg += go[q];
                  fs = fg * sn[0];
                  if (dSn) dSn[0] += cn * fg;
                }
                if (dacc) {
                  float* da = dacc + base;
#pragma omp simd
                  for (int64_t q = 0; q < inner; ++q) da[q] = an * go[q];
                }
                pc[n] += fa, pc[N + n] += fs, pc[2 * N + n] += fg;
              }
          }
        });
        for (size_t i = 0; i < dS_extra.size(); i += size_t(N * s_cols))
          for (int64_t j = 0; j < N * s_cols; ++j) dS[j] += dS_extra[i + size_t(j)];
        add_scale_gradients(ctx, part, chunks, N, sw, sx, b, map);
      });
}

}  // namespace raoq::quant
