// imc/array_product.cpp — the array product op for every geometry (forward + straight-through
// backward side by side), the choice of its implementation, and the plain-loop reference.
// Contract in array_product.h; loops in array_kernels.cpp and array_winograd.cpp.
//
// Legend: B batch, C input channels, H W input, N output channels (columns), kH kW kernel,
//   K reduction length (C*kH*kW for patches, in (c, i, j) order), P = Ho*Wo, M rows of a matrix
//   (of each group for batched), G groups.
//   matrix:   xs: (M, K)          wq: (N, K)           out, dout: (M, N)
//   patches:  xs: (B, C, H, W)    wq: (N, C, kH, kW)   out, dout: (B, N, Ho, Wo)   one image's patches: (K, P)
//   batched:  xs: (G, M, K)       wq: (G, N, K)        out, dout: (G, M, N)
//   w_used: wq's shape, the weights the array holds (wq plus weight noise; recombined slices)
// Every output is (outer, N, inner): (M, N, 1) for a matrix, (B, N, P) for patches, (G*M, N, 1)
// for batched (row o = g*M + m multiplies the weights of group g = o / M).
#include "imc/array_product.h"

#include <algorithm>
#include <cmath>
#include <memory>
#include <vector>

#include "core/autograd.h"
#include "core/error.h"
#include "core/ops/detail/im2col.h"
#include "core/ops/detail/kernels_winograd.h"
#include "core/parallel.h"
#include "core/rng.h"
#include "imc/detail/array_kernels.h"
#include "imc/detail/array_winograd.h"
#include "quant/dequantize.h"
#include "imc/input_map.h"

namespace raoq::imc {

RAOQ_REGISTER_OP("array_product");

namespace {
// The product's sizes, resolved from the geometry and checked.
struct Product {
  bool patches = false, batched = false;
  int64_t M = 0, K = 0, N = 0;  // M: matrix rows (per group for batched)
  int64_t G = 1;                // batched: groups
  int64_t B = 0, C = 0, H = 0, W = 0, kh = 0, kw = 0, stride = 1, pad = 0, dil = 1, Ho = 0, Wo = 0;  // patches
  int64_t P() const { return Ho * Wo; }
  int64_t outer() const { return patches ? B : G * M; }
  int64_t inner() const { return patches ? P() : 1; }
  bool pointwise() const { return kh == 1 && kw == 1 && stride == 1 && pad == 0; }
  // Where xs holds the input of reduction row k for output row q of image (or matrix row) o, or
  // false when it falls in the padding.
  bool input_at(int64_t o, int64_t q, int64_t k, int64_t* at) const {
    if (!patches) {
      *at = o * K + k;
      return true;
    }
    const int64_t c = k / (kh * kw), i = (k / kw) % kh, j = k % kw;
    const int64_t ih = (q / Wo) * stride - pad + i * dil, iw = (q % Wo) * stride - pad + j * dil;
    *at = o * C * H * W + (c * H + ih) * W + iw;
    return ih >= 0 && ih < H && iw >= 0 && iw < W;
  }
  // Where wq holds the weight of reduction row k in column n for output row o.
  int64_t weight_at(int64_t o, int64_t n, int64_t k) const { return (batched ? (o / M) * N * K : 0) + n * K + k; }
  ops::detail::ConvGeometry conv() const {
    ops::detail::ConvGeometry c;
    c.n = B, c.c_in = C, c.h = H, c.w = W, c.c_out = N, c.kh = kh, c.kw = kw;
    c.stride = stride, c.padding = pad, c.dilation = dil, c.groups = 1, c.ho = Ho, c.wo = Wo;
    return c;
  }
};

Product product_of(const char* op, const Tensor& xs, const Tensor& wq, const ArrayGeometry& geometry) {
  RAOQ_CHECK(xs.defined() && wq.defined(), op, ": xs and wq must be defined");
  Product p;
  if (geometry.kind == ArrayGeometry::Kind::matrix) {
    RAOQ_CHECK(xs.dim() == 2 && wq.dim() == 2 && xs.size(1) == wq.size(1), op,
               ": expected xs (M, K) and wq (N, K) with the same K, given xs ", shape_str(xs.shape()), " and wq ",
               shape_str(wq.shape()));
    p.M = xs.size(0), p.K = xs.size(1), p.N = wq.size(0);
    return p;
  }
  if (geometry.kind == ArrayGeometry::Kind::batched) {
    RAOQ_CHECK(xs.dim() == 3 && wq.dim() == 3 && xs.size(0) == wq.size(0) && xs.size(2) == wq.size(2), op,
               ": expected xs (G, M, K) and wq (G, N, K) with the same G and K, given xs ", shape_str(xs.shape()),
               " and wq ", shape_str(wq.shape()));
    p.batched = true;
    p.G = xs.size(0), p.M = xs.size(1), p.K = xs.size(2), p.N = wq.size(1);
    return p;
  }
  const ops::Conv2dOptions& o = geometry.conv;
  RAOQ_CHECK(o.groups == 1, op, ": only groups == 1 is mapped to the array (got groups ", o.groups,
             "); keep depthwise and grouped convolutions as QuantConv2d");
  RAOQ_CHECK(xs.dim() == 4 && wq.dim() == 4 && xs.size(1) == wq.size(1), op,
             ": expected xs (B, C, H, W) and wq (N, C, kH, kW) with the same C, given xs ", shape_str(xs.shape()),
             " and wq ", shape_str(wq.shape()));
  RAOQ_CHECK(o.stride >= 1 && o.padding >= 0 && o.dilation >= 1, op, ": expected stride >= 1, padding >= 0 and ",
             "dilation >= 1 (got ", o.stride, ", ", o.padding, ", ", o.dilation, ")");
  p.patches = true;
  p.B = xs.size(0), p.C = xs.size(1), p.H = xs.size(2), p.W = xs.size(3);
  p.N = wq.size(0), p.kh = wq.size(2), p.kw = wq.size(3), p.K = p.C * p.kh * p.kw;
  p.stride = o.stride, p.pad = o.padding, p.dil = o.dilation;
  const int64_t span_h = p.dil * (p.kh - 1) + 1, span_w = p.dil * (p.kw - 1) + 1;
  RAOQ_CHECK(p.H + 2 * p.pad >= span_h && p.W + 2 * p.pad >= span_w, op,
             ": the kernel does not fit the padded input ", shape_str(xs.shape()));
  p.Ho = (p.H + 2 * p.pad - span_h) / p.stride + 1;
  p.Wo = (p.W + 2 * p.pad - span_w) / p.stride + 1;
  return p;
}

// out (outer, N, inner) += offset * S (N, inner), S the weight sums over the taps inside the
// image (for batched, of the row's group): the digital offset of bit slicing (zero otherwise).
void add_slice_offset(float* out, const Product& p, const Tensor& wq, const ArrayGeometry& geometry, float offset) {
  if (offset == 0.0f) return;
  if (p.batched) {  // out[g, m, n] += offset * sum_k wq[g, n, k] (sums of codes: exact)
    for (int64_t g = 0; g < p.G; ++g)
      for (int64_t n = 0; n < p.N; ++n) {
        float s = 0;
        for (int64_t k = 0; k < p.K; ++k) s += wq.data()[(g * p.N + n) * p.K + k];
        for (int64_t m = 0; m < p.M; ++m) out[(g * p.M + m) * p.N + n] += offset * s;
      }
    return;
  }
  autograd::NoGradGuard ng;
  const Tensor S = p.patches ? quant::window_weight_sums(wq, p.H, p.W, geometry.conv) : quant::window_weight_sums(wq, 1, 1);
  const int64_t per = p.N * p.inner();
  for (int64_t o = 0; o < p.outer(); ++o)
    for (int64_t i = 0; i < per; ++i) out[o * per + i] += offset * S.data()[i];
}

// The patch matrix (K, P) of one image: the image itself for a pointwise convolution (1x1,
// stride 1, no padding), else conv2d's im2col into buf.
const float* image_patches(const float* img, const Product& p, float* buf) {
  if (p.pointwise()) return img;
  ops::detail::im2col(img, p.conv(), buf, p.P());
  return buf;
}

// ---- matrix: one tiled product over all rows.
// xs (M, K), wq (N, K) -> (M, N).   saves: xs, w_used, clipped indices per tile
//   dxs += (dout * mask_t) w_used[:, t],   dwq += (dout * mask_t)^T xs[:, t]
Tensor product_on_matrix(const Product& p, const Tensor& xs, const Tensor& wq, const detail::ArrayOperands& a,
                         detail::TileKernel k, bool record, const AdcConfig& config) {
  k.pairs = detail::pairs_of(a, [](const Tensor& t) { return t.data(); });
  auto clips = std::make_shared<detail::ClipLists>();
  Tensor out = Tensor::empty({p.M, p.N});
  if (p.M > 0 && p.N > 0) detail::tile_product(k, 0, out.data(), record && config.enabled ? clips.get() : nullptr);
  add_slice_offset(out.data(), p, wq, ArrayGeometry::matrix(), a.offset);
  if (!record) return out;
  return autograd::record(
      "array_product", {xs, wq}, out, {"xs", "w_used", "clipped"},
      [x = xs.detach(), w_used = a.w_used.detach(), clips, p, rows = config.rows](BackwardContext& ctx) {
        std::vector<float> masked;
        float* dx = ctx.needs(0) ? ctx.dinput_uninit(0).data() : nullptr;
        float* dw = ctx.needs(1) ? ctx.dinput_uninit(1).data() : nullptr;
        detail::masked_backward(p.M, p.K, p.N, rows, false, ctx.dout_tensor().data(), *clips, x.data(), w_used.data(),
                                dx, dw, masked, /*overwrite=*/true);
      });
}

// ---- batched: G independent products, each through the matrix loop on its own group (row-major
// layout), parallel over the groups; a group's blocks then run inline. Noise streams and observer
// calls are told the group (TileView::stream).
// xs (G, M, K), wq (G, N, K) -> (G, M, N).   saves: xs, w_used, clipped indices per group and tile
//   per group: dxs[g] += (dout[g] * mask_t) w_used[g][:, t],   dwq[g] += (dout[g] * mask_t)^T xs[g][:, t]
//   (detail::batched_backward: the plain product's GEMMs for a group with no clip)
Tensor product_on_batch(const Product& p, const Tensor& xs, const Tensor& wq, const detail::ArrayOperands& a,
                        const detail::TileKernel& k, bool record, const AdcConfig& config) {
  auto clips = std::make_shared<std::vector<detail::ClipLists>>(record && config.enabled ? size_t(p.G) : 0);
  Tensor out = Tensor::empty({p.G, p.M, p.N});
  const int64_t MK = p.M * p.K, NK = p.N * p.K, MN = p.M * p.N;
  if (MN > 0)
    parallel_for(p.G, [&](int64_t g0, int64_t g1) {
      detail::TileKernel kg = k;  // this thread's kernel points at group g's operands
      for (int64_t g = g0; g < g1; ++g) {
        kg.pairs = detail::pairs_of(a, [&](const Tensor& part) { return part.data() + g * MK; });
        for (detail::SlicePair& sp : kg.pairs) sp.w += g * NK;
        detail::tile_product(kg, g, out.data() + g * MN, clips->empty() ? nullptr : &(*clips)[size_t(g)]);
      }
    }, detail::groups_per_thread(p.M, p.N, p.K));
  add_slice_offset(out.data(), p, wq, ArrayGeometry::batched(), a.offset);
  if (!record) return out;
  return autograd::record(
      "array_product", {xs, wq}, out, {"xs", "w_used", "clipped"},
      [x = xs.detach(), w_used = a.w_used.detach(), clips, p, rows = config.rows](BackwardContext& ctx) {
        // Every group's gradients are written in full (no zero-fill).
        float* dx = ctx.needs(0) ? ctx.dinput_uninit(0).data() : nullptr;
        float* dw = ctx.needs(1) ? ctx.dinput_uninit(1).data() : nullptr;
        detail::batched_backward(p.G, p.M, p.K, p.N, rows, ctx.dout_tensor().data(), *clips, x.data(),
                                 w_used.data(), dx, dw);
      });
}

// ---- patches, per image: each image's (K, P) patch matrix through the tiled product (transposed
// layout: (N, P) out, the layout of the output tensor itself). Parallel over the batch, each
// thread reusing its own patch buffers.
void forward_per_image(const Product& p, const detail::ArrayOperands& a, const detail::TileKernel& k, float* out,
                       std::vector<detail::ClipLists>& clips) {
  const int64_t P = p.P(), K = p.K, N = p.N, image = p.C * p.H * p.W;
  const size_t n_in = a.x_parts.size();
  parallel_for(p.B, [&](int64_t b0, int64_t b1) {
    std::vector<float> cols(p.pointwise() ? 0 : n_in * size_t(P * K));
    std::vector<const float*> x_of(n_in);
    detail::TileKernel kb = k;  // this thread's kernel points at this thread's patches
    for (int64_t b = b0; b < b1; ++b) {
      for (size_t i = 0; i < n_in; ++i) x_of[i] = image_patches(a.x_parts[i].data() + b * image, p, cols.data() + i * K * P);
      kb.pairs = detail::pairs_of(a, [&](const Tensor& part) { return x_of[size_t(&part - a.x_parts.data())]; });
      detail::tile_product(kb, b, out + b * N * P, clips.empty() ? nullptr : &clips[size_t(b)]);
    }
  });
}

// The masked backward of the listed images (patches recomputed, each tile's clipped conversions
// masked): dx[b] is overwritten, dw += (per chunk of the list, chunks summed in order:
// reproducible for a given thread count). dx or dw may be null.
void backward_per_image(const Product& p, const std::vector<int64_t>& images, const float* x, const float* w_used,
                        const float* dout, const std::vector<detail::ClipLists>& clips, int64_t rows, float* dx,
                        float* dw) {
  const int64_t P = p.P(), K = p.K, N = p.N, image = p.C * p.H * p.W, count = int64_t(images.size());
  if (count == 0) return;
  const int64_t chunks = std::max<int64_t>(1, std::min<int64_t>(num_threads(), count));
  std::vector<std::vector<float>> dw_part(dw ? size_t(chunks) : 0, std::vector<float>(size_t(N * K), 0.0f));
  const detail::ClipLists none;
  parallel_for(chunks, [&](int64_t c0, int64_t c1) {
    // Pointwise: the image is its own patch matrix, and its gradient accumulates in place.
    const bool pw = p.pointwise();
    std::vector<float> cols(pw ? 0 : size_t(K * P)), dcols(dx && !pw ? size_t(K * P) : 0), masked;
    for (int64_t c = c0; c < c1; ++c)
      for (int64_t i = count * c / chunks; i < count * (c + 1) / chunks; ++i) {
        const int64_t b = images[size_t(i)];
        const float* xb = image_patches(x + b * image, p, cols.data());
        if (dx) std::fill(dx + b * image, dx + (b + 1) * image, 0.0f);
        float* dxb = !dx ? nullptr : pw ? dx + b * image : dcols.data();
        if (dx && !pw) std::fill(dcols.begin(), dcols.end(), 0.0f);
        const detail::ClipLists& cl = clips.empty() ? none : clips[size_t(b)];
        detail::masked_backward(P, K, N, rows, true, dout + b * N * P, cl, xb, w_used, dxb,
                                dw ? dw_part[size_t(c)].data() : nullptr, masked);
        // The adjoint of im2col: dx[b] += every patch gradient entry where it was read.
        if (dx && !pw) ops::detail::col2im(dcols.data(), p.conv(), P, dx + b * image);
      }
  });
  for (const auto& part : dw_part)  // chunk order: reproducible for a given thread count
    for (int64_t i = 0; i < N * K; ++i) dw[i] += part[size_t(i)];
}

// ---- patches, Winograd: each tile's column sums as a partial Winograd convolution
// (detail/array_winograd.h). On integer codes within winograd_range_bound every column sum comes out as
// the exact integer, so the ADC codes and the output equal the per-image product's bit for bit;
// with 4-bit codes the GEMMs run on 8-bit integers (AVX-512 VNNI), exact int32 sums.
// The largest input and weight code magnitudes the array accepts: the operands' bounds.
detail::IntegerOperands code_bounds(const AdcConfig& c) {
  const InputCodes in = accepted_inputs(c);
  return {std::max(std::fabs(double(in.lo)), std::fabs(double(in.hi))), std::ldexp(1.0, c.bw - 1) - 1};
}
bool winograd_forward_applies(const Product& p, const AdcConfig& c, const ArrayProductOptions& opt) {
  // Rounding::apply: the codes were checked to be integers (skip allows real-valued codes). Noise
  // and observers hook into the per-tile blocks.
  if (!ops::detail::winograd_applies(p.conv()) || c.mapping != Mapping::direct || c.has_noise() || opt.observer ||
      opt.rounding != Rounding::apply)
    return false;
  const detail::IntegerOperands b = code_bounds(c);
  return detail::winograd_range_bound(p.conv(), c.rows, b.max_abs_w, b.max_abs_x) < 16777216.0;  // 2^24
}
void forward_winograd(const Product& p, const Tensor& xs, const Tensor& wq, const AdcConfig& config,
                      const detail::TileKernel& k, float* out, std::vector<detail::ClipLists>& clips) {
  const int64_t T = k.tiles(), NP = p.N * p.P();
  const detail::IntegerOperands bounds = code_bounds(config);  // 8-bit GEMMs when the codes allow
  for (auto& cl : clips) cl.assign(size_t(T), {});
  // Per image, tiles in order: out[b] = 0 + the first tile's ADC codes, += the others', then
  // times D (as tile_product).
  detail::winograd_range_sums(xs.data(), wq.data(), p.conv(), config.rows, [&](int64_t b, int64_t t, float* z) {
    float* o = out + b * NP;
    detail::convert_tile(k, z, NP, 1.0f, o, clips.empty() ? nullptr : &clips[size_t(b)][size_t(t)], 0, t == 0);
    if (t == T - 1) detail::reconstruct(k, o, NP);
  }, &bounds);
}

// xs (B, C, H, W), wq (N, C, kH, kW) -> (B, N, Ho, Wo).   saves: xs, w_used, clipped indices per image and tile
//   the gradients of the matrix product on each image's patches, added back where they were read
Tensor product_on_patches(const Product& p, const Tensor& xs, const Tensor& wq, const detail::ArrayOperands& a,
                          detail::TileKernel k, bool record, const AdcConfig& config, const ArrayGeometry& geometry,
                          const ArrayProductOptions& opt) {
  auto clips = std::make_shared<std::vector<detail::ClipLists>>(record && config.enabled ? size_t(p.B) : 0);
  Tensor out = Tensor::empty({p.B, p.N, p.Ho, p.Wo});
  k.transposed = true;
  if (winograd_forward_applies(p, config, opt)) forward_winograd(p, xs, wq, config, k, out.data(), *clips);
  else forward_per_image(p, a, k, out.data(), *clips);
  add_slice_offset(out.data(), p, wq, geometry, a.offset);
  if (!record) return out;
  return autograd::record(
      "array_product", {xs, wq}, out, {"xs", "w_used", "clipped"},
      [x = xs.detach(), w_used = a.w_used.detach(), clips, p, rows = config.rows](BackwardContext& ctx) {
        // dx is written image by image on every path (no zero-fill); dw accumulates.
        float* dx = ctx.needs(0) ? ctx.dinput_uninit(0).data() : nullptr;
        float* dw = ctx.needs(1) ? ctx.dinput_tensor(1).data() : nullptr;
        const float* dout = ctx.dout_tensor().data();
        std::vector<int64_t> clipped, all;
        for (int64_t b = 0; b < p.B; ++b) {
          all.push_back(b);
          if (clips->empty()) continue;
          const auto& cl = (*clips)[size_t(b)];
          if (std::any_of(cl.begin(), cl.end(), [](const auto& v) { return !v.empty(); })) clipped.push_back(b);
        }
        // Images with clips need their masks; when they are a minority, the rest take the plain
        // convolution's backward (their dout is zeroed in a copy, then the masked path adds them).
        if (!ops::detail::winograd_applies(p.conv()) || 2 * clipped.size() > all.size()) {
          backward_per_image(p, all, x.data(), w_used.data(), dout, *clips, rows, dx, dw);
          return;
        }
        const int64_t NP = p.N * p.P();
        std::vector<float> unclipped;
        if (!clipped.empty()) {
          unclipped.assign(dout, dout + p.B * NP);
          for (int64_t b : clipped) std::fill_n(unclipped.data() + b * NP, NP, 0.0f);
        }
        ops::detail::winograd_backward(x.data(), w_used.data(), clipped.empty() ? dout : unclipped.data(), p.conv(),
                                       dx, dw, nullptr);
        backward_per_image(p, clipped, x.data(), w_used.data(), dout, *clips, rows, dx, dw);
      });
}
}  // namespace

Tensor array_product(const Tensor& xs, const Tensor& wq, const AdcConfig& config, const ArrayGeometry& geometry,
                     const ArrayProductOptions& opt) {
  const Product p = product_of("array_product", xs, wq, geometry);
  config.validate();
  // Slicing needs whole codes; only the direct, un-floored product is defined on real values.
  check_array_codes("array_product", xs, wq, config,
                    opt.rounding == Rounding::apply || config.mapping == Mapping::bit_sliced);
  const detail::ArrayOperands a = detail::prepare_operands(xs, wq, config, opt.noise);
  detail::TileKernel k = detail::make_kernel(config, opt.rounding);
  k.M = p.patches ? p.P() : p.M, k.K = p.K, k.N = p.N, k.observer = opt.observer;
  if (k.noise_sigma > 0) k.noise_seed = (opt.noise ? *opt.noise : default_generator()).next_u64();
  const bool record = autograd::grad_enabled() && (xs.requires_grad() || wq.requires_grad());
  if (p.patches) return product_on_patches(p, xs, wq, a, k, record, config, geometry, opt);
  if (p.batched) return product_on_batch(p, xs, wq, a, k, record, config);
  return product_on_matrix(p, xs, wq, a, k, record, config);
}

Tensor array_product_reference(const Tensor& xs, const Tensor& wq, const AdcConfig& config,
                               const ArrayGeometry& geometry) {
  const Product p = product_of("array_product_reference", xs, wq, geometry);
  config.validate();
  RAOQ_CHECK(!config.has_noise(), "array_product_reference: the reference has no analog noise; set weight_noise and "
                                  "output_noise to 0");
  check_array_codes("array_product_reference", xs, wq, config);
  const detail::ArrayOperands a = detail::prepare_operands(xs, wq, config, nullptr);
  const float D = adc_step(config);
  const quant::CodeRange r = adc_codes(config.ba);
  const int64_t K = p.K, N = p.N, T = row_tiles(config, K), inner = p.inner();
  Tensor out = p.patches ? Tensor::empty({p.B, N, p.Ho, p.Wo})
               : p.batched ? Tensor::empty({p.G, p.M, N})
                           : Tensor::empty({p.M, N});
  for (int64_t o = 0; o < p.outer(); ++o)  // image (patches) or row (matrix; g*M + m for batched)
    for (int64_t n = 0; n < N; ++n)
      for (int64_t q = 0; q < inner; ++q) {  // output position (patches)
        float acc = 0;  // sum of factor * code (exact integers), or of exact sums when the ADC is off
        for (int64_t t = 0; t < T; ++t)
          for (size_t i = 0; i < a.x_parts.size(); ++i)
            for (size_t j = 0; j < a.w_parts.size(); ++j) {
              float y = 0;
              for (int64_t kk = t * config.rows; kk < std::min(K, (t + 1) * config.rows); ++kk) {
                int64_t at;
                if (p.input_at(o, q, kk, &at)) y += a.x_parts[i].data()[at] * a.w_parts[j].data()[p.weight_at(o, n, kk)];
              }
              const float f = a.x_factors[i] * a.w_factors[j];
              acc += config.enabled ? f * adc_convert(y, D, r.lo, r.hi) : f * y;
            }
        out.data()[(o * N + n) * inner + q] = config.enabled ? D * acc : acc;
      }
  add_slice_offset(out.data(), p, wq, geometry, a.offset);
  return out;
}

}  // namespace raoq::imc
