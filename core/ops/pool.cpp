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
//   argmax: (N, C, Ho, Wo) int32, the position ih*W + iw in its plane of each window's maximum
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <memory>
#include <vector>

#include "core/autograd.h"
#include "core/error.h"
#include "core/ops.h"
#include "core/ops/kernels.h"
#include "core/parallel.h"

namespace raoq::ops {

RAOQ_REGISTER_OP("max_pool2d");
RAOQ_REGISTER_OP("avg_pool2d");
RAOQ_REGISTER_OP("global_avg_pool");

namespace {
struct PoolGeometry {
  int64_t n, c, h, w, k, s, p, ho, wo;
  int64_t planes() const { return n * c; }
  // Input rows [lo, hi) of the window of output row oh (the padding rows left out).
  int64_t row_lo(int64_t oh) const { return std::max<int64_t>(0, oh * s - p); }
  int64_t row_hi(int64_t oh) const { return std::min<int64_t>(h, oh * s - p + k); }
  int64_t col_lo(int64_t ow) const { return std::max<int64_t>(0, ow * s - p); }
  int64_t col_hi(int64_t ow) const { return std::min<int64_t>(w, ow * s - p + k); }
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

// Runs fn(plane) for every (n, c) plane, split over the threads.
template <typename Fn>
void for_each_plane(const PoolGeometry& g, const Fn& fn) {
  parallel_for(g.planes(), [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i) fn(i);
  }, detail::grain_items(g.ho * g.wo * g.k * g.k));
}
}  // namespace

// max_pool2d:  y[n, c, oh, ow] = max over the window of x (padding never wins)
//   dx[n, c, argmax] += dy[n, c, oh, ow]      (the first maximum in row-major order takes it all)
// A NaN in a window is its maximum, so a diverged activation is not hidden.
// saves: argmax (int32 per output)
Tensor max_pool2d(const Tensor& x, int64_t kernel, int64_t stride, int64_t padding) {
  const PoolGeometry g = pool_geometry(x, kernel, stride, padding, "max_pool2d");
  Tensor y = Tensor::empty({g.n, g.c, g.ho, g.wo});
  auto argmax = std::make_shared<std::vector<int32_t>>(static_cast<size_t>(y.numel()));
  const float* xd = x.data();
  float* yd = y.data();
  for_each_plane(g, [&](int64_t i) {
    const float* xp = xd + i * g.h * g.w;
    for (int64_t oh = 0; oh < g.ho; ++oh)
      for (int64_t ow = 0; ow < g.wo; ++ow) {
        float best = -std::numeric_limits<float>::infinity();
        int64_t best_at = g.row_lo(oh) * g.w + g.col_lo(ow);
        for (int64_t ih = g.row_lo(oh); ih < g.row_hi(oh); ++ih)
          for (int64_t iw = g.col_lo(ow); iw < g.col_hi(ow); ++iw) {
            const float v = xp[ih * g.w + iw];
            if (v > best || (std::isnan(v) && !std::isnan(best))) best = v, best_at = ih * g.w + iw;
          }
        const int64_t o = (i * g.ho + oh) * g.wo + ow;
        yd[o] = best;
        (*argmax)[static_cast<size_t>(o)] = static_cast<int32_t>(best_at);
      }
  });
  return autograd::record("max_pool2d", {x}, y, {"argmax"}, [g, argmax](BackwardContext& ctx) {
    float* dx = ctx.dinput_tensor(0).data();
    const float* dy = ctx.dout_tensor().data();
    const int64_t out_plane = g.ho * g.wo;
    for_each_plane(g, [&](int64_t i) {
      float* dxp = dx + i * g.h * g.w;
      for (int64_t o = i * out_plane; o < (i + 1) * out_plane; ++o) dxp[(*argmax)[static_cast<size_t>(o)]] += dy[o];
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
  const float* xd = x.data();
  float* yd = y.data();
  for_each_plane(g, [&](int64_t i) {
    const float* xp = xd + i * g.h * g.w;
    for (int64_t oh = 0; oh < g.ho; ++oh)
      for (int64_t ow = 0; ow < g.wo; ++ow) {
        float acc = 0.0f;
        for (int64_t ih = g.row_lo(oh); ih < g.row_hi(oh); ++ih)
          for (int64_t iw = g.col_lo(ow); iw < g.col_hi(ow); ++iw) acc += xp[ih * g.w + iw];
        yd[(i * g.ho + oh) * g.wo + ow] = acc * inv_area;
      }
  });
  return autograd::record("avg_pool2d", {x}, y, {}, [g, inv_area](BackwardContext& ctx) {
    float* dx = ctx.dinput_tensor(0).data();
    const float* dy = ctx.dout_tensor().data();
    for_each_plane(g, [&](int64_t i) {
      float* dxp = dx + i * g.h * g.w;
      for (int64_t oh = 0; oh < g.ho; ++oh)
        for (int64_t ow = 0; ow < g.wo; ++ow) {
          const float d = dy[(i * g.ho + oh) * g.wo + ow] * inv_area;
          for (int64_t ih = g.row_lo(oh); ih < g.row_hi(oh); ++ih)
            for (int64_t iw = g.col_lo(ow); iw < g.col_hi(ow); ++iw) dxp[ih * g.w + iw] += d;
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
    ctx.dinput_tensor(0).as_matrix(planes, hw).colwise() += dy / static_cast<float>(hw);
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
