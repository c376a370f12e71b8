// imc/imc_conv.cpp — imc_conv2d (patches per image through the tiled array product) and its
// plain-loop reference. Contract and legend in imc_conv.h.
#include "imc/imc_conv.h"

#include <algorithm>
#include <cmath>
#include <memory>
#include <vector>

#include "core/autograd.h"
#include "core/error.h"
#include "core/parallel.h"
#include "core/rng.h"
#include "core/ops/im2col.h"
#include "core/ops/kernels_winograd.h"
#include "imc/tiled_kernel.h"

namespace raoq::imc {

RAOQ_REGISTER_OP("imc_conv2d");

namespace {
struct Geometry {
  int64_t B = 0, C = 0, H = 0, W = 0, N = 0, kh = 0, kw = 0, stride = 1, pad = 0, dil = 1, Ho = 0, Wo = 0;
  int64_t K() const { return C * kh * kw; }
  int64_t P() const { return Ho * Wo; }
  bool pointwise() const { return kh == 1 && kw == 1 && stride == 1 && pad == 0; }
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

ops::detail::ConvGeometry conv_geometry(const Geometry& g) {
  ops::detail::ConvGeometry c;
  c.n = g.B, c.c_in = g.C, c.h = g.H, c.w = g.W, c.c_out = g.N, c.kh = g.kh, c.kw = g.kw;
  c.stride = g.stride, c.padding = g.pad, c.dilation = g.dil, c.groups = 1, c.ho = g.Ho, c.wo = g.Wo;
  return c;
}

// The patch matrix (K, P) of one image: the image itself for a pointwise convolution (1x1,
// stride 1, no padding), else conv2d's im2col into buf.
const float* patches(const float* img, const Geometry& g, float* buf) {
  if (g.pointwise()) return img;
  ops::detail::im2col(img, conv_geometry(g), buf, g.P());
  return buf;
}

// The adjoint: img += every patch entry im2col read from there (cols is scratch, see col2im).
void col2im(float* cols, const Geometry& g, float* img) { ops::detail::col2im(cols, conv_geometry(g), g.P(), img); }

// out[b, n, p] += offset * S[n, p]: the digital offset of bit slicing, over the taps inside the image.
void add_slice_offset(float* out, const Geometry& g, const Tensor& wq, const ops::Conv2dOptions& o, float offset) {
  if (offset == 0.0f) return;
  autograd::NoGradGuard ng;
  const Tensor S = window_weight_sums(wq, g.H, g.W, o);
  for (int64_t b = 0; b < g.B; ++b)
    for (int64_t i = 0; i < g.N * g.P(); ++i) out[b * g.N * g.P() + i] += offset * S.data()[i];
}

// ---- The Winograd path. For 3x3, stride-1, undilated convolutions the column sums of each row
// tile are computed as a Winograd F(2x2, 3x3) partial convolution of the tile's rows
// (ops::detail::winograd_range_sums: a channel cut by a tile boundary is in both tiles, its kernel
// masked to each tile's taps), with 2.25 times fewer multiplications than the per-tile product.
// On integer codes within winograd_range_bound every column sum comes out as the exact integer,
// so the ADC codes and the output equal the per-tile product's bit for bit: the same sums, not an
// approximation. With 4-bit codes (any code range within winograd_int8_applies) the Winograd GEMMs
// run on 8-bit integers with AVX-512 VNNI, exact int32 sums: the same values again. Analog noise and
// tile observers keep the per-tile product (they hook into its blocks). The backward of an image
// with no clipped conversion is a plain convolution's backward.
bool winograd_fits(const Geometry& g) { return ops::detail::winograd_applies(conv_geometry(g)); }
// The largest input and weight code magnitudes the array accepts (adc.h): the operands' bounds.
ops::detail::IntegerOperands code_bounds(const AdcConfig& c) {
  const InputCodes in = accepted_inputs(c);
  return {std::max(std::fabs(double(in.lo)), std::fabs(double(in.hi))), std::ldexp(1.0, c.bw - 1) - 1};
}
bool winograd_forward_applies(const Geometry& g, const AdcConfig& c, const TiledOptions& opt) {
  // Rounding::apply: the codes were checked to be integers (skip allows real-valued codes).
  if (!winograd_fits(g) || c.mapping != Mapping::direct || c.has_noise() || opt.observer ||
      opt.rounding != Rounding::apply)
    return false;
  const ops::detail::IntegerOperands b = code_bounds(c);
  return ops::detail::winograd_range_bound(conv_geometry(g), c.rows, b.max_abs_w, b.max_abs_x) < 16777216.0;  // 2^24
}

// The per-tile straight-through backward of the listed images (patches recomputed, each tile's
// clipped conversions masked): dx[b] is overwritten, dw += (per chunk of the list, chunks summed
// in order: reproducible for a given thread count). dx or dw may be null.
void tiled_backward(const Geometry& g, const std::vector<int64_t>& images, const float* x, const float* w_used,
                    const float* dout, const std::vector<detail::ClipLists>& clips, int64_t rows, float* dx, float* dw) {
  const int64_t P = g.P(), K = g.K(), N = g.N, image = g.C * g.H * g.W, count = int64_t(images.size());
  if (count == 0) return;
  const int64_t chunks = std::max<int64_t>(1, std::min<int64_t>(num_threads(), count));
  std::vector<std::vector<float>> dw_part(dw ? size_t(chunks) : 0, std::vector<float>(size_t(N * K), 0.0f));
  const detail::ClipLists none;
  parallel_for(chunks, [&](int64_t c0, int64_t c1) {
    // Pointwise: the image is its own patch matrix, and its gradient accumulates in place.
    const bool pw = g.pointwise();
    std::vector<float> cols(pw ? 0 : size_t(K * P)), dcols(dx && !pw ? size_t(K * P) : 0), masked;
    for (int64_t c = c0; c < c1; ++c)
      for (int64_t i = count * c / chunks; i < count * (c + 1) / chunks; ++i) {
        const int64_t b = images[size_t(i)];
        const float* xb = patches(x + b * image, g, cols.data());
        if (dx) std::fill(dx + b * image, dx + (b + 1) * image, 0.0f);
        float* dxb = !dx ? nullptr : pw ? dx + b * image : dcols.data();
        if (dx && !pw) std::fill(dcols.begin(), dcols.end(), 0.0f);
        const detail::ClipLists& cl = clips.empty() ? none : clips[size_t(b)];
        detail::backward_tiles(P, K, N, rows, true, dout + b * N * P, cl, xb, w_used, dxb,
                               dw ? dw_part[size_t(c)].data() : nullptr, masked);
        if (dx && !pw) col2im(dcols.data(), g, dx + b * image);
      }
  });
  for (const auto& part : dw_part)  // chunk order: reproducible for a given thread count
    for (int64_t i = 0; i < N * K; ++i) dw[i] += part[size_t(i)];
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
  k.transposed = true;  // patches (K, P) in, (N, P) out: the layout of the output tensor itself
  if (winograd_forward_applies(g, config, opt)) {
    const int64_t T = k.tiles();
    const ops::detail::IntegerOperands bounds = code_bounds(config);  // 8-bit GEMMs when the codes allow
    for (auto& cl : *clips) cl.assign(size_t(T), {});
    // Per image, tiles in order: out[b] = 0 + the first tile's ADC codes, += the others', then
    // times D (as forward_blocks).
    ops::detail::winograd_range_sums(xs.data(), wq.data(), conv_geometry(g), config.rows,
                                     [&](int64_t b, int64_t t, float* z) {
      float* o = out.data() + b * N * P;
      detail::convert_tile(k, z, N * P, 1.0f, o, clips->empty() ? nullptr : &(*clips)[size_t(b)][size_t(t)], 0, t == 0);
      if (t == T - 1) detail::reconstruct(k, o, N * P);
    }, &bounds);
  } else {
    parallel_for(g.B, [&](int64_t b0, int64_t b1) {
      std::vector<float> cols(g.pointwise() ? 0 : n_in * size_t(P * K));
      std::vector<const float*> x_of(n_in);
      detail::TileKernel kb = k;  // this thread's kernel points at this thread's patches
      for (int64_t b = b0; b < b1; ++b) {
        for (size_t i = 0; i < n_in; ++i) x_of[i] = patches(a.x_parts[i].data() + b * image, g, cols.data() + i * K * P);
        kb.pairs = detail::pairs_of(a, [&](const Tensor& part) { return x_of[size_t(&part - a.x_parts.data())]; });
        detail::forward_all(kb, b, out.data() + b * N * P, clips->empty() ? nullptr : &(*clips)[size_t(b)]);
      }
    });
  }
  add_slice_offset(out.data(), g, wq, options, a.offset);
  if (!record) return out;
  return autograd::record(
      "imc_conv2d", {xs, wq}, out, {"xs", "w_used", "clipped"},
      [x = xs.detach(), w_used = a.w_used.detach(), clips, g, N, P, rows = config.rows](BackwardContext& ctx) {
        // dx is written image by image on every path (no zero-fill); dw accumulates.
        float* dx = ctx.needs(0) ? ctx.dinput_uninit(0).data() : nullptr;
        float* dw = ctx.needs(1) ? ctx.dinput_tensor(1).data() : nullptr;
        const float* dout = ctx.dout_tensor().data();
        std::vector<int64_t> clipped, all;
        for (int64_t b = 0; b < g.B; ++b) {
          all.push_back(b);
          if (clips->empty()) continue;
          const auto& cl = (*clips)[size_t(b)];
          if (std::any_of(cl.begin(), cl.end(), [](const auto& v) { return !v.empty(); })) clipped.push_back(b);
        }
        // Images with clips need their masks; when they are a minority, the rest take the plain
        // convolution's backward (their dout is zeroed in a copy, then the masked path adds them).
        if (!winograd_fits(g) || 2 * clipped.size() > all.size()) {
          tiled_backward(g, all, x.data(), w_used.data(), dout, *clips, rows, dx, dw);
          return;
        }
        std::vector<float> unclipped;
        if (!clipped.empty()) {
          unclipped.assign(dout, dout + g.B * N * P);
          for (int64_t b : clipped) std::fill_n(unclipped.data() + b * N * P, N * P, 0.0f);
        }
        ops::detail::winograd_backward(x.data(), w_used.data(), clipped.empty() ? dout : unclipped.data(),
                                       conv_geometry(g), dx, dw, nullptr);
        tiled_backward(g, clipped, x.data(), w_used.data(), dout, *clips, rows, dx, dw);
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
