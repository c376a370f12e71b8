// core/ops/pool.cpp — 2-D max and average pooling, global average pooling, and the naive
// references the tests compare them with.
//
// Each (n, c) plane is pooled on its own, so the work is split over the N*C planes; no
// gradient crosses planes, so the result does not depend on the thread count.
// What it does not do: ceil_mode, per-axis kernel/stride/padding, average pooling that leaves
// the padding out of the divisor (count_include_pad = false), dilation.
//
// Legend: N batch, C channels, H W input, Ho Wo output, k kernel, s stride, p padding.
//   x, dx: (N, C, H, W)   y, dy: (N, C, Ho, Wo), Ho = (H + 2p - k)/s + 1
//   argmax: (N, C, Ho, Wo) uint16, the tap a*k + b of each window's maximum, whose element of
//           the plane is (oh*s - p + a, ow*s - p + b)
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <memory>
#include <vector>

#include "core/autograd.h"
#include "core/error.h"
#include "core/ops.h"
#include "core/ops/detail/kernels.h"
#include "core/parallel.h"

namespace raoq::ops {

RAOQ_REGISTER_OP("max_pool2d");
RAOQ_REGISTER_OP("avg_pool2d");
RAOQ_REGISTER_OP("global_avg_pool");

namespace {
struct PoolGeometry {
  int64_t n, c, h, w, k, s, p, ho, wo;
  int64_t planes() const { return n * c; }
  // The first input row of output row oh's window that is inside the image.
  int64_t row_lo(int64_t oh) const { return std::max<int64_t>(0, oh * s - p); }
};

PoolGeometry pool_geometry(const Tensor& x, int64_t kernel, int64_t stride, int64_t padding, const char* op) {
  RAOQ_CHECK(x.defined() && x.dim() == 4, op, ": expected x of shape (N, C, H, W), given ",
             x.defined() ? shape_str(x.shape()) : "an undefined tensor");
  RAOQ_CHECK(kernel >= 1 && stride >= 0 && padding >= 0, op,
             ": expected kernel >= 1, stride >= 0 (0 means stride = kernel) and padding >= 0, given kernel ", kernel,
             ", stride ", stride, ", padding ", padding);
  // A window made only of padding would have no maximum; PyTorch imposes the same bound.
  RAOQ_CHECK(2 * padding <= kernel, op, ": expected padding <= kernel/2, given padding ", padding, " for kernel ",
             kernel);
  PoolGeometry g{x.size(0), x.size(1), x.size(2), x.size(3), kernel, stride ? stride : kernel, padding, 0, 0};
  RAOQ_CHECK(g.h + 2 * g.p >= g.k && g.w + 2 * g.p >= g.k, op, ": expected the kernel ", g.k,
             " to fit the padded input, given x ", x.shape(), " with padding ", g.p);
  RAOQ_CHECK(g.h * g.w <= std::numeric_limits<int32_t>::max(), op, ": expected a plane of fewer than 2^31 elements, given x ",
             x.shape());
  g.ho = (g.h + 2 * g.p - g.k) / g.s + 1;
  g.wo = (g.w + 2 * g.p - g.k) / g.s + 1;
  return g;
}

// Pooling reads each plane through a padded copy (per-thread scratch) whose border holds what the
// padding stands for (-inf for the maximum, 0 for the average) and whose rows are wide enough for
// every output row to be computed in whole blocks of kBlock outputs, those past Wo reading border
// values only and being dropped. Every read is then valid and every inner loop runs whole vectors:
// an output row of Wo = 14 would otherwise run mostly in scalar remainder loops.
constexpr int64_t kBlock = 16;
struct PaddedRows {
  int64_t wo_blocks;  // Wo rounded up to a multiple of kBlock
  int64_t wp;         // padded row width
  int64_t size;       // (H + 2p) * wp
};
PaddedRows padded_rows(const PoolGeometry& g) {
  const int64_t wob = (g.wo + kBlock - 1) / kBlock * kBlock;
  const int64_t wp = std::max(g.w + 2 * g.p, (wob - 1) * g.s + g.k);
  return {wob, wp, (g.h + 2 * g.p) * wp};
}
void pad_rows(const float* xp, const PoolGeometry& g, const PaddedRows& r, float fill, float* dst) {
  std::fill_n(dst, r.size, fill);
  for (int64_t ih = 0; ih < g.h; ++ih) std::copy_n(xp + ih * g.w, g.w, dst + (ih + g.p) * r.wp + g.p);
}

// The rows plane i is read through: x itself (row stride W) when there is no padding and the
// block reads past Wo stay inside x (their values only reach dropped outputs), else the padded
// copy in `pad` (row stride wp).
struct PlaneRows {
  const float* data;
  int64_t stride;
};
PlaneRows plane_rows(const Tensor& x, int64_t i, const PoolGeometry& g, const PaddedRows& r, float fill, float* pad) {
  const float* xp = x.data() + i * g.h * g.w;
  const int64_t furthest = i * g.h * g.w + ((g.ho - 1) * g.s + g.k - 1) * g.w + (r.wo_blocks - 1) * g.s + g.k - 1;
  if (g.p == 0 && furthest < x.numel()) return {xp, g.w};
  pad_rows(xp, g, r, fill, pad);
  return {pad, r.wp};
}

// The common 2x2 window with stride 2 and no padding gets loops of its own: with the stride a
// compile-time constant the stride-2 reads and writes become vector permutes (a runtime stride
// makes GCC gather element by element), in blocks of kBlock outputs as above; and since no two
// windows share an element, the backward writes each window's four elements once, without
// zero-fill or scatter-add. Same taps in the same order, same tie and NaN rules as the general loops.
bool is_pair_pool(const PoolGeometry& g) { return g.k == 2 && g.s == 2 && g.p == 0; }

void max_pool_pairs(const Tensor& x, const PoolGeometry& g, int64_t i0, int64_t i1, float* y, uint16_t* argmax) {
  const PaddedRows r = padded_rows(g);
  float* pad = detail::thread_scratch(0, r.size);
  for (int64_t i = i0; i < i1; ++i) {
    const PlaneRows src = plane_rows(x, i, g, r, -std::numeric_limits<float>::infinity(), pad);
    for (int64_t oh = 0; oh < g.ho; ++oh)
      for (int64_t ow0 = 0; ow0 < g.wo; ow0 += kBlock) {
        const float* r0 = src.data + 2 * oh * src.stride + 2 * ow0;
        const float* r1 = r0 + src.stride;
        float best[kBlock];
        int32_t at[kBlock];  // int32 lanes match the float lanes
#pragma omp simd
        for (int64_t l = 0; l < kBlock; ++l) {
          const float v1 = r0[2 * l + 1], v2 = r1[2 * l], v3 = r1[2 * l + 1];
          float b = r0[2 * l];
          int32_t a = 0;
          bool take = v1 > b || (v1 != v1 && b == b);
          b = take ? v1 : b, a = take ? 1 : a;
          take = v2 > b || (v2 != v2 && b == b);
          b = take ? v2 : b, a = take ? 2 : a;
          take = v3 > b || (v3 != v3 && b == b);
          b = take ? v3 : b, a = take ? 3 : a;
          best[l] = b, at[l] = a;
        }
        const int64_t o = (i * g.ho + oh) * g.wo + ow0, n = std::min(kBlock, g.wo - ow0);
#pragma omp simd
        for (int64_t l = 0; l < n; ++l) {  // a loop, not copy_n: a library call per short row costs more
          y[o + l] = best[l];
          argmax[o + l] = static_cast<uint16_t>(at[l]);
        }
      }
  }
}

void max_pool_pairs_backward(const float* dy, const uint16_t* argmax, const PoolGeometry& g, int64_t i0, int64_t i1,
                             float* dx) {
  for (int64_t i = i0; i < i1; ++i) {
    float* dxp = dx + i * g.h * g.w;
    for (int64_t oh = 0; oh < g.ho; ++oh) {
      float* d0 = dxp + 2 * oh * g.w;
      float* d1 = d0 + g.w;
      const int64_t o = (i * g.ho + oh) * g.wo;
      for (int64_t ow = 0; ow < g.wo; ++ow) {  // the window's four elements, each written once
        // d or +0 by a bit mask: GCC turns `at == t ? d : 0` into a branch here, and the argmax
        // is random enough to mispredict often.
        uint32_t d;
        std::memcpy(&d, dy + o + ow, 4);
        const uint32_t at = argmax[o + ow];
        const uint32_t v[4] = {d & (0u - uint32_t(at == 0)), d & (0u - uint32_t(at == 1)), d & (0u - uint32_t(at == 2)),
                               d & (0u - uint32_t(at == 3))};
        std::memcpy(d0 + 2 * ow, v, 8);
        std::memcpy(d1 + 2 * ow, v + 2, 8);
      }
      if (g.w % 2) d0[g.w - 1] = d1[g.w - 1] = 0.0f;  // an odd last column is in no window
    }
    if (g.h % 2) std::fill_n(dxp + (g.h - 1) * g.w, g.w, 0.0f);  // nor is an odd last row
  }
}

// Runs fn(begin, end) over ranges of the N*C planes, split over the threads.
template <typename Fn>
void for_plane_ranges(const PoolGeometry& g, const Fn& fn) {
  parallel_for(g.planes(), fn, detail::grain_items(g.ho * g.wo * g.k * g.k));
}
}  // namespace

// max_pool2d:  y[n, c, oh, ow] = max over the window of x (padding never wins)
//   dx[n, c, argmax] += dy[n, c, oh, ow]      (the first maximum in row-major order takes it all)
// A NaN in a window is its maximum, so a diverged activation is not hidden.
// saves: argmax, as the tap a*k + b of each window's maximum (uint16: half the memory of an
// index into the plane, and memory traffic is what pooling costs)
Tensor max_pool2d(const Tensor& x, int64_t kernel, int64_t stride, int64_t padding) {
  const PoolGeometry g = pool_geometry(x, kernel, stride, padding, "max_pool2d");
  Tensor y = Tensor::empty({g.n, g.c, g.ho, g.wo});
  RAOQ_CHECK(g.k <= 255, "max_pool2d: expected kernel <= 255, given ", g.k);
  std::shared_ptr<uint16_t[]> argmax(new uint16_t[static_cast<size_t>(y.numel())]);  // written in full below
  const PaddedRows r = padded_rows(g);
  const int64_t s = g.s;
  for_plane_ranges(g, [&](int64_t i0, int64_t i1) {
    if (is_pair_pool(g)) return max_pool_pairs(x, g, i0, i1, y.data(), argmax.get());
    float* pad = detail::thread_scratch(0, r.size);
    float* best = detail::thread_scratch(1, r.wo_blocks);
    std::vector<int32_t> at(static_cast<size_t>(r.wo_blocks));  // int32 lanes match the float lanes
    for (int64_t i = i0; i < i1; ++i) {
      const PlaneRows src = plane_rows(x, i, g, r, -std::numeric_limits<float>::infinity(), pad);
      for (int64_t oh = 0; oh < g.ho; ++oh) {
        const int64_t first_a = g.row_lo(oh) - (oh * s - g.p);
#pragma omp simd
        for (int64_t ow = 0; ow < r.wo_blocks; ++ow) {  // start from the window's first element in the image
          best[ow] = -std::numeric_limits<float>::infinity();
          at[size_t(ow)] = static_cast<int32_t>(first_a * g.k + std::max<int64_t>(0, g.p - ow * s));
        }
        // Taps in row-major window order with a strict '>': the first maximum is kept.
        for (int64_t a = 0; a < g.k; ++a) {
          const float* prow = src.data + (oh * s + a) * src.stride;
          for (int64_t b = 0; b < g.k; ++b) {
            const auto tap = static_cast<int32_t>(a * g.k + b);
#pragma omp simd
            for (int64_t ow = 0; ow < r.wo_blocks; ++ow) {
              const float v = prow[ow * s + b];
              const bool take = v > best[ow] || (v != v && best[ow] == best[ow]);
              best[ow] = take ? v : best[ow];
              at[size_t(ow)] = take ? tap : at[size_t(ow)];
            }
          }
        }
        std::copy_n(best, g.wo, y.data() + (i * g.ho + oh) * g.wo);
        uint16_t* out_at = argmax.get() + (i * g.ho + oh) * g.wo;
        for (int64_t ow = 0; ow < g.wo; ++ow) out_at[ow] = static_cast<uint16_t>(at[size_t(ow)]);
      }
    }
  });
  return autograd::record("max_pool2d", {x}, y, {"argmax"}, [g, argmax](BackwardContext& ctx) {
    float* dx = ctx.dinput_uninit(0).data();  // every plane written (or zeroed while in cache) below
    const float* dy = ctx.dout_tensor().data();
    if (is_pair_pool(g)) {
      for_plane_ranges(g, [&](int64_t i0, int64_t i1) { max_pool_pairs_backward(dy, argmax.get(), g, i0, i1, dx); });
      return;
    }
    std::vector<int64_t> tap_offset(static_cast<size_t>(g.k * g.k));  // tap a*k + b -> a*W + b
    for (int64_t t = 0; t < g.k * g.k; ++t) tap_offset[size_t(t)] = (t / g.k) * g.w + t % g.k;
    for_plane_ranges(g, [&](int64_t i0, int64_t i1) {  // overlapping windows may share an argmax: scalar
      for (int64_t i = i0; i < i1; ++i) {
        float* dxp = dx + i * g.h * g.w;
        std::fill_n(dxp, g.h * g.w, 0.0f);
        for (int64_t oh = 0; oh < g.ho; ++oh)
          for (int64_t ow = 0; ow < g.wo; ++ow) {
            const int64_t o = (i * g.ho + oh) * g.wo + ow;
            dxp[(oh * g.s - g.p) * g.w + ow * g.s - g.p + tap_offset[argmax[size_t(o)]]] += dy[o];
          }
      }
    });
  });
}

// avg_pool2d:  y[n, c, oh, ow] = (1/k^2) * sum over the window of x (padding counts as zeros,
//              and in the divisor: count_include_pad)
//   dx[n, c, ih, iw] += dy[n, c, oh, ow] / k^2 for every window that holds (ih, iw)
// saves: nothing (the backward needs only the geometry)
Tensor avg_pool2d(const Tensor& x, int64_t kernel, int64_t stride, int64_t padding) {
  const PoolGeometry g = pool_geometry(x, kernel, stride, padding, "avg_pool2d");
  Tensor y = Tensor::empty({g.n, g.c, g.ho, g.wo});
  const float inv_area = 1.0f / static_cast<float>(g.k * g.k);
  const PaddedRows r = padded_rows(g);
  const int64_t s = g.s;
  for_plane_ranges(g, [&](int64_t i0, int64_t i1) {
    float* pad = detail::thread_scratch(0, r.size);
    float* acc = detail::thread_scratch(1, r.wo_blocks);
    for (int64_t i = i0; i < i1; ++i) {
      const PlaneRows src = plane_rows(x, i, g, r, 0.0f, pad);
      for (int64_t oh = 0; oh < g.ho; ++oh) {
        std::fill_n(acc, r.wo_blocks, 0.0f);
        for (int64_t a = 0; a < g.k; ++a)
          for (int64_t b = 0; b < g.k; ++b) {
            const float* tap = src.data + (oh * s + a) * src.stride + b;
#pragma omp simd
            for (int64_t ow = 0; ow < r.wo_blocks; ++ow) acc[ow] += tap[ow * s];
          }
        float* yr = y.data() + (i * g.ho + oh) * g.wo;
#pragma omp simd
        for (int64_t ow = 0; ow < g.wo; ++ow) yr[ow] = acc[ow] * inv_area;
      }
    }
  });
  return autograd::record("avg_pool2d", {x}, y, {}, [g, inv_area, r](BackwardContext& ctx) {
    float* dx = ctx.dinput_uninit(0).data();  // every element written below
    const float* dy = ctx.dout_tensor().data();
    for_plane_ranges(g, [&](int64_t i0, int64_t i1) {
      float* dpad = detail::thread_scratch(0, r.size);
      for (int64_t i = i0; i < i1; ++i) {
        // Spread into the padded plane, then keep its interior: within one tap the outputs of a
        // row map to distinct elements, so the strided scatter has no conflicts.
        std::fill_n(dpad, r.size, 0.0f);
        for (int64_t oh = 0; oh < g.ho; ++oh) {
          const float* dyr = dy + (i * g.ho + oh) * g.wo;
          for (int64_t a = 0; a < g.k; ++a)
            for (int64_t b = 0; b < g.k; ++b) {
              float* tap = dpad + (oh * g.s + a) * r.wp + b;
#pragma omp simd
              for (int64_t ow = 0; ow < g.wo; ++ow) tap[ow * g.s] += dyr[ow] * inv_area;
            }
        }
        float* dxp = dx + i * g.h * g.w;
        for (int64_t ih = 0; ih < g.h; ++ih) {
          const float* prow = dpad + (ih + g.p) * r.wp + g.p;
#pragma omp simd
          for (int64_t iw = 0; iw < g.w; ++iw) dxp[ih * g.w + iw] = prow[iw];
        }
      }
    });
  });
}

// global_avg_pool:  y[n, c] = (1/(H*W)) * sum_{h,w} x[n, c, h, w]
//   dx[n, c, h, w] += dy[n, c] / (H*W)
// shapes: x (N, C, H, W) -> y (N, C).   saves: nothing
Tensor global_avg_pool(const Tensor& x) {
  RAOQ_CHECK(x.defined() && x.dim() == 4, "global_avg_pool: expected x of shape (N, C, H, W), given ",
             x.defined() ? shape_str(x.shape()) : "an undefined tensor");
  const int64_t planes = x.size(0) * x.size(1), hw = x.size(2) * x.size(3);
  RAOQ_CHECK(hw > 0, "global_avg_pool: expected a non-empty plane, given x ", x.shape());
  Tensor y = Tensor::empty({x.size(0), x.size(1)});
  y.flat() = x.as_matrix(planes, hw).rowwise().mean().array();
  return autograd::record("global_avg_pool", {x}, y, {}, [planes, hw](BackwardContext& ctx) {
    const Eigen::Map<const Eigen::VectorXf> dy(ctx.dout_tensor().data(), planes);
    ctx.dinput_uninit(0).as_matrix(planes, hw).colwise() = dy / static_cast<float>(hw);
  });
}

// ---- references: the windows scanned with explicit bounds tests, accumulated in double.
Tensor max_pool2d_reference(const Tensor& x, int64_t kernel, int64_t stride, int64_t padding) {
  const PoolGeometry g = pool_geometry(x, kernel, stride, padding, "max_pool2d_reference");
  Tensor y = Tensor::empty({g.n, g.c, g.ho, g.wo});
  for (int64_t i = 0; i < g.planes(); ++i)
    for (int64_t oh = 0; oh < g.ho; ++oh)
      for (int64_t ow = 0; ow < g.wo; ++ow) {
        float best = -std::numeric_limits<float>::infinity();
        for (int64_t a = 0; a < g.k; ++a)
          for (int64_t b = 0; b < g.k; ++b) {
            const int64_t ih = oh * g.s - g.p + a, iw = ow * g.s - g.p + b;
            if (ih >= 0 && ih < g.h && iw >= 0 && iw < g.w) best = std::max(best, x.data()[(i * g.h + ih) * g.w + iw]);
          }
        y.data()[(i * g.ho + oh) * g.wo + ow] = best;
      }
  return y;
}

Tensor avg_pool2d_reference(const Tensor& x, int64_t kernel, int64_t stride, int64_t padding) {
  const PoolGeometry g = pool_geometry(x, kernel, stride, padding, "avg_pool2d_reference");
  Tensor y = Tensor::empty({g.n, g.c, g.ho, g.wo});
  for (int64_t i = 0; i < g.planes(); ++i)
    for (int64_t oh = 0; oh < g.ho; ++oh)
      for (int64_t ow = 0; ow < g.wo; ++ow) {
        double acc = 0;
        for (int64_t a = 0; a < g.k; ++a)
          for (int64_t b = 0; b < g.k; ++b) {
            const int64_t ih = oh * g.s - g.p + a, iw = ow * g.s - g.p + b;
            if (ih >= 0 && ih < g.h && iw >= 0 && iw < g.w) acc += x.data()[(i * g.h + ih) * g.w + iw];
          }
        y.data()[(i * g.ho + oh) * g.wo + ow] = static_cast<float>(acc / double(g.k * g.k));
      }
  return y;
}

}  // namespace raoq::ops
