// core/ops/conv.cpp — conv2d: im2col + GEMM forward, GEMMs (+ col2im) backward, and the
// seven-loop reference the tests compare them with. Groups with one input channel (depthwise)
// go to the direct kernels of core/ops/kernels_depthwise.cpp, 3x3 stride-1 convolutions with
// enough channels to Winograd F(2x2, 3x3) in core/ops/kernels_winograd.cpp.
//
// Work is split over the batch, one contiguous chunk of images per thread; each thread reuses
// its own im2col scratch (detail::thread_scratch), so nothing is allocated per image. The
// weight and bias gradients are reduced per chunk and the chunk partials summed in chunk
// order: bitwise reproducible for a given thread count.
// What it does not do: layouts other than NCHW, per-axis stride/padding, transposed convolution.
//
// Legend: N batch, C_in C_out channels, G groups, H W input, Ho Wo output, kH kW kernel,
//   Cg_in = C_in/G, Cg_out = C_out/G, K = Cg_in*kH*kW (reduction length), P = Ho*Wo.
//   x, dx: (N, C_in, H, W)   w, dw: (C_out, Cg_in, kH, kW), i.e. G blocks W_g of (Cg_out, K)
//   bias, dbias: (C_out)     y, dy: (N, C_out, Ho, Wo), i.e. per image and group (Cg_out, P)
//   cols, dcols: (K, P)      one image's patches of one group (per-thread scratch)
#include <algorithm>
#include <cmath>
#include <vector>

#include "core/autograd.h"
#include "core/error.h"
#include "core/ops.h"
#include "core/ops/detail/gemm.h"
#include "core/ops/detail/im2col.h"
#include "core/ops/detail/kernels.h"
#include "core/ops/detail/kernels_depthwise.h"
#include "core/ops/detail/kernels_winograd.h"
#include "core/parallel.h"

namespace raoq::ops {

RAOQ_REGISTER_OP("conv2d");

namespace {
using detail::ConvGeometry;
using ConstMat = Eigen::Map<const MatrixRM>;
using Mat = Eigen::Map<MatrixRM>;
using ConstVec = Eigen::Map<const Eigen::VectorXf>;
using Vec = Eigen::Map<Eigen::VectorXf>;

ConvGeometry conv_geometry(const Tensor& x, const Tensor& w, const Tensor& bias, const Conv2dOptions& opt,
                           const char* op) {
  RAOQ_CHECK(x.defined() && w.defined(), op, ": x and w must be defined tensors");
  RAOQ_CHECK(x.dim() == 4, op, ": expected x of shape (N, C_in, H, W), given ", x.shape());
  RAOQ_CHECK(w.dim() == 4, op, ": expected w of shape (C_out, C_in/groups, kH, kW), given ", w.shape());
  RAOQ_CHECK(opt.stride >= 1 && opt.padding >= 0 && opt.dilation >= 1 && opt.groups >= 1, op,
             ": expected stride >= 1, padding >= 0, dilation >= 1, groups >= 1, given stride ", opt.stride,
             ", padding ", opt.padding, ", dilation ", opt.dilation, ", groups ", opt.groups);
  ConvGeometry g;
  g.n = x.size(0), g.c_in = x.size(1), g.h = x.size(2), g.w = x.size(3);
  g.c_out = w.size(0), g.kh = w.size(2), g.kw = w.size(3);
  g.stride = opt.stride, g.padding = opt.padding, g.dilation = opt.dilation, g.groups = opt.groups;
  RAOQ_CHECK(g.c_in % g.groups == 0 && g.c_out % g.groups == 0, op, ": expected C_in and C_out divisible by groups ",
             g.groups, ", given C_in ", g.c_in, " (x ", x.shape(), ") and C_out ", g.c_out, " (w ", w.shape(), ")");
  RAOQ_CHECK(w.size(1) == g.cg_in(), op, ": expected w with C_in/groups = ", g.cg_in(), " input channels (x ",
             x.shape(), ", groups ", g.groups, "), given w ", w.shape());
  RAOQ_CHECK(g.kh >= 1 && g.kw >= 1 && g.c_out >= 1, op, ": expected a non-empty kernel, given w ", w.shape());
  if (bias.defined())
    RAOQ_CHECK(bias.dim() == 1 && bias.size(0) == g.c_out, op, ": expected bias of shape [", g.c_out,
               "] (C_out of w ", w.shape(), "), given ", bias.shape());
  const int64_t span_h = g.dilation * (g.kh - 1) + 1, span_w = g.dilation * (g.kw - 1) + 1;
  RAOQ_CHECK(g.h + 2 * g.padding >= span_h && g.w + 2 * g.padding >= span_w, op, ": expected the kernel span ",
             span_h, "x", span_w, " (kernel ", g.kh, "x", g.kw, ", dilation ", g.dilation,
             ") to fit the padded input, given x ", x.shape(), " with padding ", g.padding);
  g.ho = (g.h + 2 * g.padding - span_h) / g.stride + 1;
  g.wo = (g.w + 2 * g.padding - span_w) / g.stride + 1;
  return g;
}

// ---- im2col + GEMM path: per image and group, Y_g (Cg_out, P) = W_g (Cg_out, K) * cols (K, P).
void gemm_forward(const float* x, const float* w, const float* bias, const ConvGeometry& g, float* y) {
  const int64_t K = g.k(), P = g.p(), cgo = g.cg_out(), plane_in = g.cg_in() * g.h * g.w;
  parallel_for(g.n, [&](int64_t n0, int64_t n1) {
    float* cols = g.is_pointwise() ? nullptr : detail::thread_scratch(0, K * P);
    for (int64_t n = n0; n < n1; ++n)
      for (int64_t grp = 0; grp < g.groups; ++grp) {
        const float* xg = x + (n * g.groups + grp) * plane_in;
        if (cols) detail::im2col(xg, g, cols, P);
        float* yg = y + (n * g.c_out + grp * cgo) * P;
        detail::gemm_serial(false, false, cgo, P, K, w + grp * cgo * K, K, cols ? cols : xg, P, yg, P, false);
        if (bias) Mat(yg, cgo, P).colwise() += ConstVec(bias + grp * cgo, cgo);
      }
  }, detail::grain_items(g.c_out * K * P));
}

// For stride 1 and a square kernel, dx is itself a convolution: of dy with the kernel flipped
// in space and its channel axes swapped, dilation d and padding d(k-1) - p, whose output is
// exactly H x W. Computing it as im2col(dy) and one GEMM into dx avoids both the (K, P) dcols
// buffer and the scatter-add of col2im.
// It moves Cg_out*kH*kW*H*W values through im2col where col2im moves Cg_in*kH*kW*P, so it is
// used only when Cg_in >= Cg_out (a first layer with one input channel keeps col2im).
bool transposed_dx_applies(const ConvGeometry& g) {
  return g.stride == 1 && g.kh == g.kw && g.padding <= g.dilation * (g.kh - 1) && !g.is_pointwise() &&
         g.cg_in() >= g.cg_out();
}
// The geometry of that convolution (valid when transposed_dx_applies(g)).
ConvGeometry transposed_geometry(const ConvGeometry& g) {
  ConvGeometry t = g;
  t.c_in = g.c_out, t.h = g.ho, t.w = g.wo, t.c_out = g.c_in;
  t.padding = g.dilation * (g.kh - 1) - g.padding;
  t.ho = g.h, t.wo = g.w;
  return t;
}
// wflip[grp][ci][(co, kh, kw)] = w[grp*Cg_out + co, ci, kH-1-kh, kW-1-kw]: G blocks (Cg_in, Cg_out*kH*kW).
std::vector<float> flipped_weight(const float* w, const ConvGeometry& g) {
  const int64_t taps = g.kh * g.kw, cgi = g.cg_in(), cgo = g.cg_out();
  std::vector<float> wflip(static_cast<size_t>(g.c_out * cgi * taps));
  for (int64_t grp = 0; grp < g.groups; ++grp)
    for (int64_t ci = 0; ci < cgi; ++ci)
      for (int64_t co = 0; co < cgo; ++co)
        for (int64_t t = 0; t < taps; ++t)
          wflip[static_cast<size_t>(((grp * cgi + ci) * cgo + co) * taps + t)] =
              w[((grp * cgo + co) * cgi + ci) * taps + (taps - 1 - t)];
  return wflip;
}

// dw_g += dy_g (Cg_out, P) * cols^T (P, K);  dx (written, not accumulated): see
// transposed_dx_applies, else dcols = W_g^T (K, Cg_out) * dy_g followed by col2im into a zeroed
// image (zeroed here, one cache-hot image at a time, rather than the whole tensor up front).
void gemm_backward(const float* x, const float* w, const float* dy, const ConvGeometry& g, float* dx, float* dw,
                   float* db) {
  const int64_t K = g.k(), P = g.p(), cgo = g.cg_out(), plane_in = g.cg_in() * g.h * g.w;
  const bool pointwise = g.is_pointwise(), transposed = dx && transposed_dx_applies(g);
  const ConvGeometry gt = transposed ? transposed_geometry(g) : g;
  const std::vector<float> wflip = transposed ? flipped_weight(w, g) : std::vector<float>();
  const int64_t kt = gt.k(), hw = g.h * g.w;  // transposed conv: (Cg_in, Kt) x (Kt, H*W)
  // dW_g^T (K, Cg_out) += cols (K, P) dy_g^T (P, Cg_out), so that dy_g^T (transposed once per image)
  // is the operand the unpacked kernel reads row by row; kept per chunk and added, transposed, at its
  // end. With a short reduction (a first layer, a 1x1 conv) the transposes cost more: Eigen's product.
  const bool dw_transposed = dw && K >= 64;
  const int64_t chunks = detail::chunk_count(g.n, 2 * g.c_out * K * P, num_threads());
  detail::ChunkPartials dw_part(dw, g.c_out * K, chunks), db_part(db, g.c_out, chunks);
  detail::for_chunks(g.n, chunks, [&](int64_t c, int64_t n0, int64_t n1) {
    float* dwc = dw_part.of(c);
    float* dbc = db_part.of(c);
    float* cols = (dw && !pointwise) ? detail::thread_scratch(0, K * P) : nullptr;
    float* dcols = (dx && !pointwise) ? detail::thread_scratch(1, transposed ? kt * hw : K * P) : nullptr;
    float* dy_t = dw_transposed ? detail::thread_scratch(2, P * cgo) : nullptr;
    float* dw_t = dw_transposed ? detail::thread_scratch(3, g.c_out * K) : nullptr;
    if (dw_t) std::fill_n(dw_t, g.c_out * K, 0.0f);
    for (int64_t n = n0; n < n1; ++n)
      for (int64_t grp = 0; grp < g.groups; ++grp) {
        const int64_t in_off = (n * g.groups + grp) * plane_in;
        const float* dy_g = dy + (n * g.c_out + grp * cgo) * P;
        const float* wg = w + grp * cgo * K;
        const ConstMat dyg(dy_g, cgo, P);
        if (dwc) {
          if (cols) detail::im2col(x + in_off, g, cols, P);
          const float* cg = cols ? cols : x + in_off;
          if (dw_t) {
            detail::transpose(dy_g, cgo, P, dy_t);
            detail::gemm_serial(false, false, K, cgo, P, cg, P, dy_t, cgo, dw_t + grp * K * cgo, cgo, true);
          } else {
            Mat(dwc + grp * cgo * K, cgo, K).noalias() += dyg * ConstMat(cg, K, P).transpose();
          }
        }
        if (dbc) Vec(dbc + grp * cgo, cgo) += dyg.rowwise().sum();
        if (!dx) continue;
        float* dxg = dx + in_off;
        if (pointwise) {  // dx_g (Cg_in, P) = W_g^T dy_g
          detail::gemm_serial(true, false, g.cg_in(), hw, cgo, wg, K, dy_g, P, dxg, hw, false);
        } else if (transposed) {
          detail::im2col(dy_g, gt, dcols, hw);
          detail::gemm_serial(false, false, g.cg_in(), hw, kt, wflip.data() + grp * g.cg_in() * kt, kt, dcols, hw, dxg, hw,
                              false);
        } else {
          detail::gemm_serial(true, false, K, P, cgo, wg, K, dy_g, P, dcols, P, false);  // dcols = W_g^T dy_g
          std::fill_n(dxg, plane_in, 0.0f);
          detail::col2im(dcols, g, P, dxg);
        }
      }
    if (dw_t)
      for (int64_t grp = 0; grp < g.groups; ++grp)
        detail::transpose(dw_t + grp * K * cgo, K, cgo, dwc + grp * cgo * K, true);
  });
  dw_part.reduce();
  db_part.reduce();
}

// Which kernel computes a convolution (all compute the same function; see the file header).
enum class ConvKernel { kGemm, kDepthwise, kWinograd };
// One pass over a whole input batch per call: the count hoisted and the loop vectorised (max is
// exact in any order).
float max_abs(const Tensor& t) {
  float m = 0;
  const float* p = t.data();
  const int64_t n = t.numel();
#pragma omp simd reduction(max : m)
  for (int64_t i = 0; i < n; ++i) m = std::max(m, std::fabs(p[i]));
  return m;
}

ConvKernel choose_kernel(const ConvGeometry& g, const Tensor& x, const Tensor& w, const Conv2dOptions& opt) {
  if (detail::depthwise_applies(g)) return ConvKernel::kDepthwise;
  if (detail::winograd_applies(g) &&
      (!opt.exact_integers || 4.0 * 81.0 * double(g.cg_in()) * double(max_abs(w)) * double(max_abs(x)) < 16777216.0))
    return ConvKernel::kWinograd;
  return ConvKernel::kGemm;
}
}  // namespace

// conv2d:  y[n, co, p] = sum_k W_g[co, k] * cols_n,g[k, p] + bias[co]       (g = co / Cg_out)
//   dW_g  += sum_n dy_n,g (Cg_out, P) * cols_n,g^T (P, K)
//   dx_n  += col2im(W_g^T (K, Cg_out) * dy_n,g)
//   dbias += sum_{n, p} dy[n, co, p]
// shapes: see the legend. Groups with one input channel (depthwise) take the direct kernels,
// 3x3 stride-1 convolutions with >= 16 channels per group Winograd F(2x2, 3x3), the rest im2col.
// saves: x, w (cols are recomputed in backward: keeping them would cost K*P floats per image)
Tensor conv2d(const Tensor& x, const Tensor& w, const Tensor& bias, Conv2dOptions opt) {
  const ConvGeometry g = conv_geometry(x, w, bias, opt, "conv2d");
  const ConvKernel kernel = choose_kernel(g, x, w, opt);
  Tensor y = Tensor::empty({g.n, g.c_out, g.ho, g.wo});
  const float* b = bias.defined() ? bias.data() : nullptr;
  switch (kernel) {
    case ConvKernel::kDepthwise: detail::depthwise_forward(x.data(), w.data(), b, g, y.data()); break;
    case ConvKernel::kWinograd: detail::winograd_forward(x.data(), w.data(), b, g, y.data()); break;
    case ConvKernel::kGemm: gemm_forward(x.data(), w.data(), b, g, y.data()); break;
  }
  return autograd::record(
      "conv2d", {x, w, bias}, y, {"x", "w"}, [g, kernel, x = x.detach(), w = w.detach()](BackwardContext& ctx) {
        // Every kernel writes all of dx (no zero-fill pass); dw and dbias accumulate.
        float* dx = ctx.needs(0) ? ctx.dinput_uninit(0).data() : nullptr;
        float* dw = ctx.needs(1) ? ctx.dinput_tensor(1).data() : nullptr;
        float* db = ctx.needs(2) ? ctx.dinput_tensor(2).data() : nullptr;
        const float* dy = ctx.dout_tensor().data();
        switch (kernel) {
          case ConvKernel::kDepthwise: detail::depthwise_backward(x.data(), w.data(), dy, g, dx, dw, db); break;
          case ConvKernel::kWinograd: detail::winograd_backward(x.data(), w.data(), dy, g, dx, dw, db); break;
          case ConvKernel::kGemm: gemm_backward(x.data(), w.data(), dy, g, dx, dw, db); break;
        }
      });
}

// The definition read straight off the formula, accumulated in double.
Tensor conv2d_reference(const Tensor& x, const Tensor& w, const Tensor& bias, Conv2dOptions opt) {
  const ConvGeometry g = conv_geometry(x, w, bias, opt, "conv2d_reference");
  Tensor y = Tensor::empty({g.n, g.c_out, g.ho, g.wo});
  for (int64_t n = 0; n < g.n; ++n)
    for (int64_t co = 0; co < g.c_out; ++co)
      for (int64_t oh = 0; oh < g.ho; ++oh)
        for (int64_t ow = 0; ow < g.wo; ++ow) {
          double acc = bias.defined() ? bias.data()[co] : 0.0;
          const int64_t grp = co / g.cg_out();
          for (int64_t ci = 0; ci < g.cg_in(); ++ci)
            for (int64_t kh = 0; kh < g.kh; ++kh)
              for (int64_t kw = 0; kw < g.kw; ++kw) {
                const int64_t ih = oh * g.stride - g.padding + kh * g.dilation;
                const int64_t iw = ow * g.stride - g.padding + kw * g.dilation;
                if (ih < 0 || ih >= g.h || iw < 0 || iw >= g.w) continue;
                acc += double(x.data()[((n * g.c_in + grp * g.cg_in() + ci) * g.h + ih) * g.w + iw]) *
                       w.data()[((co * g.cg_in() + ci) * g.kh + kh) * g.kw + kw];
              }
          y.data()[((n * g.c_out + co) * g.ho + oh) * g.wo + ow] = static_cast<float>(acc);
        }
  return y;
}

}  // namespace raoq::ops
