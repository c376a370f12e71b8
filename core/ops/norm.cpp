// core/ops/norm.cpp — batch normalisation and layer normalisation, each with a fused
// hand-written backward, and the double-precision references the tests compare them with.
//
// batch_norm splits the work over channels, layer_norm over rows; the only reductions that
// cross threads (layer_norm's dweight and dbias) are summed per chunk and then in chunk order,
// so results are bitwise reproducible for a given thread count.
// What it does not do: group/instance norm, RMS norm, batch_norm over (N, C, L) inputs.
//
// Legend: N batch, C channels, S = H*W positions per channel (1 for (N, C) inputs), M = N*S
// values per channel; R rows and D features for layer_norm (x viewed as (R, D)).
//   batch_norm: x, xhat, y: (N, C, H, W) or (N, C)   weight, bias, running_*: (C)   rstd: (C)
//   layer_norm: x, xhat, y: (..., D) = (R, D)         weight, bias: (D)               rstd: (R)
#include <algorithm>
#include <cmath>
#include <initializer_list>
#include <memory>
#include <vector>

#include "core/autograd.h"
#include "core/distributed.h"
#include "core/error.h"
#include "core/ops.h"
#include "core/ops/detail/kernels.h"
#include "core/parallel.h"

namespace raoq::ops {

RAOQ_REGISTER_OP("batch_norm");
RAOQ_REGISTER_OP("layer_norm");

namespace {
using ConstArr = Eigen::Map<const Eigen::ArrayXf>;
using Arr = Eigen::Map<Eigen::ArrayXf>;

// Whether the op will record a node (then it must keep what its backward reads).
bool will_record(std::initializer_list<const Tensor*> inputs) {
  if (!autograd::grad_enabled()) return false;
  for (const Tensor* t : inputs)
    if (t->defined() && t->requires_grad()) return true;
  return false;
}

void check_param(const Tensor& t, int64_t size, const char* op, const char* name, const Tensor& x) {
  if (!t.defined()) return;
  RAOQ_CHECK(t.dim() == 1 && t.size(0) == size, op, ": expected ", name, " of shape [", size, "] (x is ", x.shape(),
             "), given ", t.shape());
}

struct BnShape {
  int64_t n, c, s;
  int64_t m() const { return n * s; }
};

BnShape bn_shape(const Tensor& x, const Tensor& weight, const Tensor& bias, const char* op) {
  RAOQ_CHECK(x.defined() && (x.dim() == 4 || x.dim() == 2), op, ": expected x of shape (N, C, H, W) or (N, C), given ",
             x.defined() ? shape_str(x.shape()) : "an undefined tensor");
  const BnShape b{x.size(0), x.size(1), x.dim() == 4 ? x.size(2) * x.size(3) : 1};
  check_param(weight, b.c, op, "weight", x);
  check_param(bias, b.c, op, "bias", x);
  return b;
}

// Runs fn(offset) for each of the N contiguous blocks of S values that make up channel c.
template <typename Fn>
void for_channel_blocks(const BnShape& b, int64_t c, const Fn& fn) {
  for (int64_t n = 0; n < b.n; ++n) fn((n * b.c + c) * b.s);
}

// Channel c's sums over this rank's values: sum (x - shift) and sum (x - shift)^2 with shift the
// mean of the channel's first block (see batch_norm), block sums in float, totals in double.
void shifted_sums(const BnShape& b, const float* xd, int64_t c, double* shift, double* sum, double* sq) {
  const float k = ConstArr(xd + c * b.s, b.s).mean();
  double s1t = 0, s2t = 0;
  for_channel_blocks(b, c, [&](int64_t off) {
    const float* xb = xd + off;
    float s1 = 0.0f, s2 = 0.0f;
#pragma omp simd reduction(+ : s1, s2)
    for (int64_t i = 0; i < b.s; ++i) {
      const float d = xb[i] - k;
      s1 += d;
      s2 += d * d;
    }
    s1t += s1;
    s2t += s2;
  });
  *shift = k, *sum = s1t, *sq = s2t;
}

// Channel c's sum dy and sum dy xhat (xhat recomputed as the forward rounded it), block sums in
// float, totals in double.
void grad_sums(const BnShape& b, int64_t c, const float* dy, const float* xv, float mean, float r, double* sum_dy,
               double* sum_dy_xhat) {
  double t1 = 0, t2 = 0;
  for_channel_blocks(b, c, [&](int64_t off) {
    const float *g = dy + off, *xb = xv + off;
    float s1 = 0.0f, s2 = 0.0f;
#pragma omp simd reduction(+ : s1, s2)
    for (int64_t i = 0; i < b.s; ++i) {
      s1 += g[i];
      s2 += g[i] * ((xb[i] - mean) * r);
    }
    t1 += s1;
    t2 += s2;
  });
  *sum_dy = t1, *sum_dy_xhat = t2;
}

// Channel c's dx = scale (dy - mean_dy - xhat mean_dy_xhat).
void write_dx(const BnShape& b, int64_t c, const float* dy, const float* xv, float mean, float r, float scale,
              float mean_dy, float mean_dy_xhat, float* dx) {
  for_channel_blocks(b, c, [&](int64_t off) {
    const float *g = dy + off, *xb = xv + off;
    float* d = dx + off;
#pragma omp simd
    for (int64_t i = 0; i < b.s; ++i) d[i] = scale * ((g[i] - mean_dy) - ((xb[i] - mean) * r) * mean_dy_xhat);
  });
}

// The batch statistics of the global batch: each rank's count, mean and centred sum of squares per
// channel, combined over ranks in rank order (Chan et al.'s pairwise update, in double), so every
// rank gets the same mean, rstd and running statistics. Returns the global count per channel.
int64_t synced_batch_stats(const Tensor& x, const BnShape& b, const Tensor& running_mean, const Tensor& running_var,
                           float momentum, float eps, std::vector<float>& mean_of, std::vector<float>& rstd) {
  std::vector<double> mine(static_cast<size_t>(3 * b.c));  // per channel: count, mean, centred sum of squares
  parallel_for(b.c, [&](int64_t c0, int64_t c1) {
    for (int64_t c = c0; c < c1; ++c) {
      double shift, sum, sq;
      shifted_sums(b, x.data(), c, &shift, &sum, &sq);
      const double m = double(b.m()), ms = m > 0 ? sum / m : 0.0;
      mine[static_cast<size_t>(3 * c)] = m;
      mine[static_cast<size_t>(3 * c + 1)] = shift + ms;
      mine[static_cast<size_t>(3 * c + 2)] = std::max(0.0, sq - m * ms * ms);
    }
  }, detail::grain_items(2 * b.m()));
  const std::vector<double> all = dist::gather_all(mine.data(), 3 * b.c);
  const int ranks = dist::size();
  int64_t total = 0;
  for (int64_t c = 0; c < b.c; ++c) {
    double n = 0, mean = 0, m2 = 0;
    for (int r = 0; r < ranks; ++r) {
      const double* p = all.data() + static_cast<size_t>(3 * (r * b.c + c));
      if (p[0] == 0) continue;
      const double n1 = n + p[0], delta = p[1] - mean;
      mean += delta * p[0] / n1;
      m2 += p[2] + delta * delta * n * p[0] / n1;
      n = n1;
    }
    RAOQ_CHECK(n > 1, "batch_norm: expected more than 1 value per channel in training, given ", n,
               " over all ranks (x on this rank is ", x.shape(), ")");
    const double var = m2 / n;
    mean_of[static_cast<size_t>(c)] = static_cast<float>(mean);
    rstd[static_cast<size_t>(c)] = static_cast<float>(1.0 / std::sqrt(var + double(eps)));
    if (running_mean.defined()) {
      float& rm = running_mean.data()[c];
      float& rv = running_var.data()[c];
      rm = (1.0f - momentum) * rm + momentum * static_cast<float>(mean);
      rv = (1.0f - momentum) * rv + momentum * static_cast<float>(var * n / (n - 1));
    }
    total = static_cast<int64_t>(n);
  }
  return total;
}

// batch_norm's training backward over the global batch: sum dy and sum dy xhat are this rank's for
// dweight and dbias (the gradient sum over ranks adds the others), and summed over ranks for dx.
void synced_batch_norm_backward(const BnShape& b, int64_t m_total, const float* dy, const float* xv,
                                const std::vector<float>& mean_of, const std::vector<float>& rstd, const Tensor& weight,
                                float* dx, float* dw, float* db) {
  std::vector<double> sums(static_cast<size_t>(2 * b.c));  // per channel: sum dy, sum dy xhat
  parallel_for(b.c, [&](int64_t c0, int64_t c1) {
    for (int64_t c = c0; c < c1; ++c) {
      const float mean = mean_of[static_cast<size_t>(c)], r = rstd[static_cast<size_t>(c)];
      double sum_dy, sum_dy_xhat;
      grad_sums(b, c, dy, xv, mean, r, &sum_dy, &sum_dy_xhat);
      if (dw) dw[c] += static_cast<float>(sum_dy_xhat);
      if (db) db[c] += static_cast<float>(sum_dy);
      sums[static_cast<size_t>(2 * c)] = sum_dy;
      sums[static_cast<size_t>(2 * c + 1)] = sum_dy_xhat;
    }
  }, detail::grain_items(2 * b.m()));
  if (!dx) return;
  dist::sum_over_ranks(sums.data(), 2 * b.c);
  parallel_for(b.c, [&](int64_t c0, int64_t c1) {
    for (int64_t c = c0; c < c1; ++c) {
      const float mean = mean_of[static_cast<size_t>(c)], r = rstd[static_cast<size_t>(c)];
      const float scale = (weight.defined() ? weight.data()[c] : 1.0f) * r;
      const float mean_dy = static_cast<float>(sums[static_cast<size_t>(2 * c)] / double(m_total));
      const float mean_dy_xhat = static_cast<float>(sums[static_cast<size_t>(2 * c + 1)] / double(m_total));
      write_dx(b, c, dy, xv, mean, r, scale, mean_dy, mean_dy_xhat, dx);
    }
  }, detail::grain_items(3 * b.m()));
}
}  // namespace

// batch_norm (per channel c, over its M values):
//   training: mean = (1/M) sum x,  var = (1/M) sum (x - mean)^2 (biased),  rstd = 1/sqrt(var + eps)
//             running_mean = (1-momentum) running_mean + momentum mean
//             running_var  = (1-momentum) running_var  + momentum var M/(M-1)   (unbiased)
//   eval:     mean, rstd from running_mean, running_var
//   xhat = (x - mean) rstd,  y = weight xhat + bias
//   dweight += sum dy xhat,  dbias += sum dy
//   training: dx += weight rstd (dy - (1/M) sum dy - xhat (1/M) sum dy xhat)
//   eval:     dx += weight rstd dy            (the running statistics are constants)
// weight and bias may be undefined (no affine: 1 and 0). saves: x, mean, rstd, weight
// The backward recomputes xhat = (x - mean) rstd with the forward's float operations (the same
// values): keeping x rather than a separate xhat saves a full write of the tensor in the forward,
// and x is the conv output the graph holds anyway.
Tensor batch_norm(const Tensor& x, const Tensor& weight, const Tensor& bias, const Tensor& running_mean,
                  const Tensor& running_var, bool training, float momentum, float eps) {
  const BnShape b = bn_shape(x, weight, bias, "batch_norm");
  check_param(running_mean, b.c, "batch_norm", "running_mean", x);
  check_param(running_var, b.c, "batch_norm", "running_var", x);
  RAOQ_CHECK(running_mean.defined() == running_var.defined(),
             "batch_norm: expected running_mean and running_var both defined or both undefined");
  RAOQ_CHECK(training || running_mean.defined(), "batch_norm: eval mode expects running_mean and running_var, given none",
             " (hint: run in training mode, or keep running statistics)");
  // Data-parallel training normalises with the statistics of the global batch (every rank's slice).
  const bool sync = training && dist::distributed();
  RAOQ_CHECK(!training || sync || b.m() > 1, "batch_norm: expected more than 1 value per channel in training, given x ",
             x.shape(), " (the batch variance of one value is 0 and its unbiased estimate undefined)");
  RAOQ_CHECK(eps > 0.0f && momentum >= 0.0f && momentum <= 1.0f, "batch_norm: expected eps > 0 and momentum in [0, 1], given eps ",
             eps, ", momentum ", momentum);

  const bool keep = will_record({&x, &weight, &bias});
  Tensor y = Tensor::empty(x.shape());
  auto mean_of = std::make_shared<std::vector<float>>(static_cast<size_t>(b.c));
  auto rstd = std::make_shared<std::vector<float>>(static_cast<size_t>(b.c));
  const float* xd = x.data();
  const int64_t m_total = sync ? synced_batch_stats(x, b, running_mean, running_var, momentum, eps, *mean_of, *rstd) : b.m();
  parallel_for(b.c, [&](int64_t c0, int64_t c1) {
    for (int64_t c = c0; c < c1; ++c) {
      float mean, r;
      if (sync) {
        mean = (*mean_of)[static_cast<size_t>(c)];
        r = (*rstd)[static_cast<size_t>(c)];
      } else if (training) {
        // One pass of sums shifted by K, the mean of the channel's first block: var =
        // E[(x-K)^2] - E[x-K]^2 then cancels nothing that matters, since K is within about
        // std/sqrt(S) of the mean, even when |mean| >> std (a second pass over x would cost a
        // third of the op). Block sums in float, their total in double.
        double shift, sum, sq;
        shifted_sums(b, xd, c, &shift, &sum, &sq);
        const double mean_shift = sum / double(b.m());
        mean = static_cast<float>(shift + mean_shift);
        const double var = std::max(0.0, sq / double(b.m()) - mean_shift * mean_shift);
        r = static_cast<float>(1.0 / std::sqrt(var + double(eps)));
        if (running_mean.defined()) {
          float& rm = running_mean.data()[c];
          float& rv = running_var.data()[c];
          rm = (1.0f - momentum) * rm + momentum * mean;
          rv = (1.0f - momentum) * rv + momentum * static_cast<float>(var * double(b.m()) / double(b.m() - 1));
        }
      } else {
        mean = running_mean.data()[c];
        r = 1.0f / std::sqrt(running_var.data()[c] + eps);
      }
      (*mean_of)[static_cast<size_t>(c)] = mean;
      (*rstd)[static_cast<size_t>(c)] = r;
      const float wc = weight.defined() ? weight.data()[c] : 1.0f, bc = bias.defined() ? bias.data()[c] : 0.0f;
      for_channel_blocks(b, c, [&](int64_t off) {
        const float* xb = xd + off;
        float* yb = y.data() + off;
        if (keep) {  // xhat * weight + bias, xhat rounded as the backward recomputes it
#pragma omp simd
          for (int64_t i = 0; i < b.s; ++i) yb[i] = ((xb[i] - mean) * r) * wc + bc;
        } else {
          const float rw = r * wc;
#pragma omp simd
          for (int64_t i = 0; i < b.s; ++i) yb[i] = (xb[i] - mean) * rw + bc;
        }
      });
    }
  }, detail::grain_items(3 * b.m()));
  if (!keep) return y;
  return autograd::record(
      "batch_norm", {x, weight, bias}, y, {"x", "mean", "rstd", "weight"},
      [b, training, sync, m_total, x = x.detach(), mean_of, rstd, weight = weight.defined() ? weight.detach() : Tensor()](
          BackwardContext& ctx) {
        const float* dy = ctx.dout_tensor().data();
        const float* xv = x.data();
        float* dx = ctx.needs(0) ? ctx.dinput_uninit(0).data() : nullptr;  // every element written below
        float* dw = ctx.needs(1) ? ctx.dinput_tensor(1).data() : nullptr;
        float* db = ctx.needs(2) ? ctx.dinput_tensor(2).data() : nullptr;
        if (sync) {
          synced_batch_norm_backward(b, m_total, dy, xv, *mean_of, *rstd, weight, dx, dw, db);
          return;
        }
        parallel_for(b.c, [&](int64_t c0, int64_t c1) {
          for (int64_t c = c0; c < c1; ++c) {
            const float mean = (*mean_of)[static_cast<size_t>(c)], r = (*rstd)[static_cast<size_t>(c)];
            double sum_dy, sum_dy_xhat;
            grad_sums(b, c, dy, xv, mean, r, &sum_dy, &sum_dy_xhat);
            if (dw) dw[c] += static_cast<float>(sum_dy_xhat);
            if (db) db[c] += static_cast<float>(sum_dy);
            if (!dx) continue;
            const float scale = (weight.defined() ? weight.data()[c] : 1.0f) * r;
            const float mean_dy = training ? static_cast<float>(sum_dy / double(b.m())) : 0.0f;
            const float mean_dy_xhat = training ? static_cast<float>(sum_dy_xhat / double(b.m())) : 0.0f;
            write_dx(b, c, dy, xv, mean, r, scale, mean_dy, mean_dy_xhat, dx);
          }
        }, detail::grain_items(3 * b.m()));
      });
}

// layer_norm (per row of D features):
//   mean = (1/D) sum x,  var = (1/D) sum (x - mean)^2,  rstd = 1/sqrt(var + eps)
//   xhat = (x - mean) rstd,  y = weight xhat + bias
//   g = dy weight:  dx += rstd (g - (1/D) sum g - xhat (1/D) sum g xhat)
//   dweight += sum over rows dy xhat,  dbias += sum over rows dy
// weight and bias may be undefined (no affine). saves: xhat, rstd, weight
Tensor layer_norm(const Tensor& x, const Tensor& weight, const Tensor& bias, float eps) {
  RAOQ_CHECK(x.defined() && x.dim() >= 1 && x.size(-1) > 0, "layer_norm: expected x of shape (..., D) with D > 0, given ",
             x.defined() ? shape_str(x.shape()) : "an undefined tensor");
  RAOQ_CHECK(eps > 0.0f, "layer_norm: expected eps > 0, given ", eps);
  const int64_t D = x.size(-1), R = x.numel() / D;
  check_param(weight, D, "layer_norm", "weight", x);
  check_param(bias, D, "layer_norm", "bias", x);
  const bool keep = will_record({&x, &weight, &bias});
  Tensor y = Tensor::empty(x.shape());
  Tensor xhat = keep ? Tensor::empty(x.shape()) : Tensor();
  auto rstd = std::make_shared<std::vector<float>>(static_cast<size_t>(R));
  parallel_for(R, [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      const ConstArr row(x.data() + r * D, D);
      const float mean = row.sum() / static_cast<float>(D);
      const float rs = 1.0f / std::sqrt((row - mean).square().sum() / static_cast<float>(D) + eps);
      (*rstd)[static_cast<size_t>(r)] = rs;
      Arr out(y.data() + r * D, D);
      out = (row - mean) * rs;
      if (keep) Arr(xhat.data() + r * D, D) = out;
      if (weight.defined()) out *= ConstArr(weight.data(), D);
      if (bias.defined()) out += ConstArr(bias.data(), D);
    }
  }, detail::grain_items(4 * D));
  if (!keep) return y;
  return autograd::record(
      "layer_norm", {x, weight, bias}, y, {"xhat", "rstd", "weight"},
      [R, D, xhat, rstd, weight = weight.defined() ? weight.detach() : Tensor()](BackwardContext& ctx) {
        const float* dy = ctx.dout_tensor().data();
        // A residual stream's x already has the gradient the rest of the block gave it: add into that.
        const auto dx_sum = ctx.needs(0) ? ctx.dinput_sum(0) : BackwardContext::GradSum{nullptr, false};
        float* dx = dx_sum.data;
        float* dw = ctx.needs(1) ? ctx.dinput_tensor(1).data() : nullptr;
        float* db = ctx.needs(2) ? ctx.dinput_tensor(2).data() : nullptr;
        // dweight/dbias partials: one (2, D) block per chunk, summed in chunk order below.
        const int64_t chunks = detail::chunk_count(R, 6 * D, num_threads());
        std::vector<float> part(static_cast<size_t>(chunks * 2 * D), 0.0f);
        parallel_for(chunks, [&](int64_t k0, int64_t k1) {
          for (int64_t k = k0; k < k1; ++k) {
            Arr pw(part.data() + k * 2 * D, D), pb(part.data() + k * 2 * D + D, D);
            for (int64_t r = R * k / chunks; r < R * (k + 1) / chunks; ++r) {
              const ConstArr g(dy + r * D, D), xh(xhat.data() + r * D, D);
              if (dw) pw += g * xh;
              if (db) pb += g;
              if (!dx) continue;
              Arr dxr(dx + r * D, D);
              const float rs = (*rstd)[static_cast<size_t>(r)];
              if (weight.defined()) {
                const ConstArr w(weight.data(), D);
                const float mean_g = (g * w).sum() / static_cast<float>(D);
                const float mean_gx = (g * w * xh).sum() / static_cast<float>(D);
                dx_sum.put(dxr, rs * (g * w - mean_g - xh * mean_gx));
              } else {
                const float mean_g = g.sum() / static_cast<float>(D);
                const float mean_gx = (g * xh).sum() / static_cast<float>(D);
                dx_sum.put(dxr, rs * (g - mean_g - xh * mean_gx));
              }
            }
          }
        });
        for (int64_t k = 0; k < chunks; ++k) {
          if (dw) Arr(dw, D) += ConstArr(part.data() + k * 2 * D, D);
          if (db) Arr(db, D) += ConstArr(part.data() + k * 2 * D + D, D);
        }
      });
}

// ---- references: training-mode batch statistics / per-row statistics, in double.
Tensor batch_norm_reference(const Tensor& x, const Tensor& weight, const Tensor& bias, float eps) {
  const BnShape b = bn_shape(x, weight, bias, "batch_norm_reference");
  Tensor y = Tensor::empty(x.shape());
  for (int64_t c = 0; c < b.c; ++c) {
    double sum = 0, sq = 0;
    for (int64_t n = 0; n < b.n; ++n)
      for (int64_t s = 0; s < b.s; ++s) sum += x.data()[(n * b.c + c) * b.s + s];
    const double mean = sum / double(b.m());
    for (int64_t n = 0; n < b.n; ++n)
      for (int64_t s = 0; s < b.s; ++s) sq += std::pow(x.data()[(n * b.c + c) * b.s + s] - mean, 2);
    const double rstd = 1.0 / std::sqrt(sq / double(b.m()) + eps);
    const double w = weight.defined() ? weight.data()[c] : 1.0, bb = bias.defined() ? bias.data()[c] : 0.0;
    for (int64_t n = 0; n < b.n; ++n)
      for (int64_t s = 0; s < b.s; ++s) {
        const int64_t i = (n * b.c + c) * b.s + s;
        y.data()[i] = static_cast<float>((x.data()[i] - mean) * rstd * w + bb);
      }
  }
  return y;
}

Tensor layer_norm_reference(const Tensor& x, const Tensor& weight, const Tensor& bias, float eps) {
  RAOQ_CHECK(x.defined() && x.dim() >= 1 && x.size(-1) > 0, "layer_norm_reference: expected x of shape (..., D), given ",
             x.defined() ? shape_str(x.shape()) : "an undefined tensor");
  const int64_t D = x.size(-1), R = x.numel() / D;
  check_param(weight, D, "layer_norm_reference", "weight", x);
  check_param(bias, D, "layer_norm_reference", "bias", x);
  Tensor y = Tensor::empty(x.shape());
  for (int64_t r = 0; r < R; ++r) {
    const float* row = x.data() + r * D;
    double sum = 0, sq = 0;
    for (int64_t d = 0; d < D; ++d) sum += row[d];
    const double mean = sum / double(D);
    for (int64_t d = 0; d < D; ++d) sq += std::pow(row[d] - mean, 2);
    const double rstd = 1.0 / std::sqrt(sq / double(D) + eps);
    for (int64_t d = 0; d < D; ++d)
      y.data()[r * D + d] = static_cast<float>((row[d] - mean) * rstd * (weight.defined() ? weight.data()[d] : 1.0) +
                                               (bias.defined() ? bias.data()[d] : 0.0));
  }
  return y;
}

}  // namespace raoq::ops
