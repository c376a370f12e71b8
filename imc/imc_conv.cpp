// imc/imc_conv.cpp — imc_conv2d (patches per image through the tiled array product) and its
// plain-loop reference. Contract and legend in imc_conv.h.
#include "imc/imc_conv.h"

#include <algorithm>
#include <memory>
#include <vector>

#include "core/autograd.h"
#include "core/error.h"
#include "core/parallel.h"
#include "core/rng.h"
#include "imc/tiled_kernel.h"

namespace raoq::imc {

RAOQ_REGISTER_OP("imc_conv2d");

namespace {
using ConstMat = Eigen::Map<const MatrixRM>;
using Mat = Eigen::Map<MatrixRM>;

struct Geometry {
  int64_t B = 0, C = 0, H = 0, W = 0, N = 0, kh = 0, kw = 0, stride = 1, pad = 0, dil = 1, Ho = 0, Wo = 0;
  int64_t K() const { return C * kh * kw; }
  int64_t P() const { return Ho * Wo; }
  // The input position of tap (i, j) for output p, or false when it falls in the padding.
  bool tap(int64_t p, int64_t i, int64_t j, int64_t* ih, int64_t* iw) const {
    *ih = (p / Wo) * stride - pad + i * dil, *iw = (p % Wo) * stride - pad + j * dil;
    return *ih >= 0 && *ih < H && *iw >= 0 && *iw < W;
  }
};

Geometry geometry_of(const char* op, const Tensor& xs, const Tensor& wq, const ops::Conv2dOptions& o) {
  RAOQ_CHECK(o.groups == 1, op, ": only groups == 1 is mapped to the array (got groups ", o.groups,
             "); keep depthwise and grouped convolutions as QuantConv2d");
  RAOQ_CHECK(xs.dim() == 4 && wq.dim() == 4 && xs.size(1) == wq.size(1), op,
             ": expected xs (B, C, H, W) and wq (N, C, kH, kW) with the same C, given xs ", shape_str(xs.shape()),
             " and wq ", shape_str(wq.shape()));
  RAOQ_CHECK(o.stride >= 1 && o.padding >= 0 && o.dilation >= 1, op, ": bad stride/padding/dilation");
  Geometry g;
  g.B = xs.size(0), g.C = xs.size(1), g.H = xs.size(2), g.W = xs.size(3);
  g.N = wq.size(0), g.kh = wq.size(2), g.kw = wq.size(3);
  g.stride = o.stride, g.pad = o.padding, g.dil = o.dilation;
  const int64_t span_h = g.dil * (g.kh - 1) + 1, span_w = g.dil * (g.kw - 1) + 1;
  RAOQ_CHECK(g.H + 2 * g.pad >= span_h && g.W + 2 * g.pad >= span_w, op, ": the kernel does not fit the padded input ",
             shape_str(xs.shape()));
  g.Ho = (g.H + 2 * g.pad - span_h) / g.stride + 1;
  g.Wo = (g.W + 2 * g.pad - span_w) / g.stride + 1;
  return g;
}

// cols[p, (c, i, j)] = img[c, ih, iw] for the tap's input position, 0 in the padding.
// img: (C, H, W)   cols: (P, K)
void im2col_rows(const float* img, const Geometry& g, float* cols) {
  const int64_t K = g.K();
  for (int64_t p = 0; p < g.P(); ++p) {
    float* row = cols + p * K;
    for (int64_t c = 0; c < g.C; ++c)
      for (int64_t i = 0; i < g.kh; ++i)
        for (int64_t j = 0; j < g.kw; ++j) {
          int64_t ih, iw;
          row[(c * g.kh + i) * g.kw + j] = g.tap(p, i, j, &ih, &iw) ? img[(c * g.H + ih) * g.W + iw] : 0.0f;
        }
  }
}

// The adjoint: img[c, ih, iw] += cols[p, (c, i, j)] for every tap inside the image.
void col2im_rows(const float* cols, const Geometry& g, float* img) {
  const int64_t K = g.K();
  for (int64_t p = 0; p < g.P(); ++p) {
    const float* row = cols + p * K;
    for (int64_t c = 0; c < g.C; ++c)
      for (int64_t i = 0; i < g.kh; ++i)
        for (int64_t j = 0; j < g.kw; ++j) {
          int64_t ih, iw;
          if (g.tap(p, i, j, &ih, &iw)) img[(c * g.H + ih) * g.W + iw] += row[(c * g.kh + i) * g.kw + j];
        }
  }
}

// out[b, n, p] += offset * S[n, p]: the digital offset of bit slicing, over the taps inside the image.
void add_slice_offset(float* out, const Geometry& g, const Tensor& wq, const ops::Conv2dOptions& o, float offset) {
  if (offset == 0.0f) return;
  autograd::NoGradGuard ng;
  const Tensor S = window_weight_sums(wq, g.H, g.W, o);
  for (int64_t b = 0; b < g.B; ++b)
    for (int64_t i = 0; i < g.N * g.P(); ++i) out[b * g.N * g.P() + i] += offset * S.data()[i];
}
}  // namespace

// xs: (B, C, H, W), wq: (N, C, kH, kW) -> (B, N, Ho, Wo).   saves: xs, w_used, clipped indices per image and tile
Tensor imc_conv2d(const Tensor& xs, const Tensor& wq, const AdcConfig& config, const ops::Conv2dOptions& options,
                  const TiledOptions& opt) {
  const Geometry g = geometry_of("imc_conv2d", xs, wq, options);
  config.validate();
  check_array_codes("imc_conv2d", xs, wq, config,
                    opt.rounding == Rounding::apply || config.mapping == Mapping::bit_sliced);
  const detail::ArrayOperands a = detail::prepare_operands(xs, wq, config, opt.noise);
  detail::TileKernel k = detail::make_kernel(config, opt.rounding);
  k.M = g.P(), k.K = g.K(), k.N = g.N, k.observer = opt.observer;
  if (k.noise_sigma > 0) k.noise_seed = (opt.noise ? *opt.noise : default_generator()).next_u64();
  const bool record = autograd::grad_enabled() && (xs.requires_grad() || wq.requires_grad());
  auto clips = std::make_shared<std::vector<detail::ClipLists>>(record && !config.bypass ? size_t(g.B) : 0);
  const int64_t P = g.P(), K = g.K(), N = g.N, image = g.C * g.H * g.W;
  const size_t n_in = a.x_parts.size();
  Tensor out = Tensor::empty({g.B, N, g.Ho, g.Wo});
  parallel_for(g.B, [&](int64_t b0, int64_t b1) {
    std::vector<float> cols(n_in * size_t(P * K)), yt(size_t(P * N));
    detail::TileKernel kb = k;  // this thread's kernel points at this thread's patch buffers
    kb.pairs = detail::pairs_of(a, [&](const Tensor& part) { return cols.data() + (&part - a.x_parts.data()) * P * K; });
    for (int64_t b = b0; b < b1; ++b) {
      for (size_t i = 0; i < n_in; ++i) im2col_rows(a.x_parts[i].data() + b * image, g, cols.data() + i * P * K);
      detail::forward_all(kb, b, yt.data(), clips->empty() ? nullptr : &(*clips)[size_t(b)]);
      Mat(out.data() + b * N * P, N, P) = ConstMat(yt.data(), P, N).transpose();
    }
  });
  add_slice_offset(out.data(), g, wq, options, a.offset);
  if (!record) return out;
  return autograd::record(
      "imc_conv2d", {xs, wq}, out, {"xs", "w_used", "clipped"},
      [x = xs.detach(), w_used = a.w_used.detach(), clips, g, P, K, N, image, rows = config.rows](BackwardContext& ctx) {
        float* dx = ctx.needs(0) ? ctx.dinput_tensor(0).data() : nullptr;
        const bool need_w = ctx.needs(1);
        const float* dout = ctx.dout_tensor().data();
        const int64_t chunks = std::max<int64_t>(1, std::min<int64_t>(num_threads(), g.B));
        std::vector<std::vector<float>> dw_part(need_w ? size_t(chunks) : 0, std::vector<float>(size_t(N * K), 0.0f));
        const detail::ClipLists none;
        parallel_for(chunks, [&](int64_t c0, int64_t c1) {
          std::vector<float> cols(size_t(P * K)), dcols(dx ? size_t(P * K) : 0), gt(size_t(P * N)), masked;
          for (int64_t c = c0; c < c1; ++c)
            for (int64_t b = g.B * c / chunks; b < g.B * (c + 1) / chunks; ++b) {
              im2col_rows(x.data() + b * image, g, cols.data());
              Mat(gt.data(), P, N) = ConstMat(dout + b * N * P, N, P).transpose();
              if (dx) std::fill(dcols.begin(), dcols.end(), 0.0f);
              const detail::ClipLists& cl = clips->empty() ? none : (*clips)[size_t(b)];
              detail::backward_tiles(P, K, N, rows, gt.data(), cl, cols.data(), w_used.data(), dx ? dcols.data() : nullptr,
                                     need_w ? dw_part[size_t(c)].data() : nullptr, masked);
              if (dx) col2im_rows(dcols.data(), g, dx + b * image);
            }
        });
        if (need_w) {
          float* dw = ctx.dinput_tensor(1).data();
          for (const auto& part : dw_part)  // chunk order: reproducible for a given thread count
            for (int64_t i = 0; i < N * K; ++i) dw[i] += part[size_t(i)];
        }
      });
}

Tensor imc_conv2d_reference(const Tensor& xs, const Tensor& wq, const AdcConfig& config,
                            const ops::Conv2dOptions& options) {
  const Geometry g = geometry_of("imc_conv2d_reference", xs, wq, options);
  config.validate();
  RAOQ_CHECK(!config.has_noise(), "imc_conv2d_reference: the reference has no analog noise");
  check_array_codes("imc_conv2d_reference", xs, wq, config);
  const detail::ArrayOperands a = detail::prepare_operands(xs, wq, config, nullptr);
  const float D = adc_step(config);
  const quant::CodeRange r = adc_codes(config.ba);
  const int64_t K = g.K(), T = row_tiles(config, K), image = g.C * g.H * g.W;
  Tensor out = Tensor::empty({g.B, g.N, g.Ho, g.Wo});
  for (int64_t b = 0; b < g.B; ++b)
    for (int64_t n = 0; n < g.N; ++n)
      for (int64_t p = 0; p < g.P(); ++p) {
        float acc = 0;
        for (int64_t t = 0; t < T; ++t)
          for (size_t i = 0; i < a.x_parts.size(); ++i)
            for (size_t j = 0; j < a.w_parts.size(); ++j) {
              float y = 0;
              for (int64_t kk = t * config.rows; kk < std::min(K, (t + 1) * config.rows); ++kk) {
                const int64_t c = kk / (g.kh * g.kw), ti = (kk / g.kw) % g.kh, tj = kk % g.kw;
                int64_t ih, iw;
                if (g.tap(p, ti, tj, &ih, &iw))
                  y += a.x_parts[i].data()[b * image + (c * g.H + ih) * g.W + iw] * a.w_parts[j].data()[n * K + kk];
              }
              const float f = a.x_factors[i] * a.w_factors[j];
              acc += config.bypass ? f * y : f * std::floor(std::clamp(y / D, r.lo, r.hi));
            }
        out.data()[(b * g.N + n) * g.P() + p] = config.bypass ? acc : D * acc;
      }
  add_slice_offset(out.data(), g, wq, options, a.offset);
  return out;
}

}  // namespace raoq::imc
