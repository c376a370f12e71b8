// core/ops/attention.cpp — scaled dot-product attention with a fused forward and backward,
// and the direct double-precision reference the tests compare it with.
//
// Every (batch, head) pair is independent: the work is split over B*H, and no gradient crosses
// pairs, so results do not depend on the thread count. The attention probabilities are kept for
// the backward (B*H*Tq*Tk floats) instead of being recomputed.
// What it does not do: attention masks other than causal, dropout on the probabilities, a
// flash-style streaming softmax (the whole Tq x Tk score matrix of one pair is materialised).
//
// Legend: B batch, H heads, Tq query length, Tk key length, Dh head width, Dv value width.
//   q, dq: (B, H, Tq, Dh)   k, dk: (B, H, Tk, Dh)   v, dv: (B, H, Tk, Dv)   y, dy: (B, H, Tq, Dv)
//   probs: (B, H, Tq, Tk)   dprobs: (Tq, Tk) per-thread scratch
#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include "core/autograd.h"
#include "core/error.h"
#include "core/ops.h"
#include "core/ops/detail/gemm.h"
#include "core/ops/detail/kernels.h"
#include "core/parallel.h"

namespace raoq::ops {

RAOQ_REGISTER_OP("scaled_dot_product_attention");

namespace {
using ConstMat = Eigen::Map<const MatrixRM>;
using Mat = Eigen::Map<MatrixRM>;

struct AttnShape {
  int64_t bh, tq, tk, dh, dv;
};

AttnShape attention_shape(const Tensor& q, const Tensor& k, const Tensor& v, const char* op) {
  RAOQ_CHECK(q.defined() && k.defined() && v.defined(), op, ": expected q, k and v to be defined tensors");
  RAOQ_CHECK(q.dim() == 4 && k.dim() == 4 && v.dim() == 4, op, ": expected q, k, v of shape (B, H, T, Dh), given q ",
             q.shape(), ", k ", k.shape(), ", v ", v.shape());
  RAOQ_CHECK(k.size(0) == q.size(0) && k.size(1) == q.size(1) && k.size(3) == q.size(3), op,
             ": expected k with the batch, heads and head width of q ", q.shape(), ", given k ", k.shape());
  RAOQ_CHECK(v.size(0) == q.size(0) && v.size(1) == q.size(1) && v.size(2) == k.size(2), op,
             ": expected v with the batch and heads of q and the length of k ", k.shape(), ", given v ", v.shape());
  RAOQ_CHECK(q.size(3) > 0 && k.size(2) > 0, op, ": expected a non-empty head width and key length, given q ", q.shape(),
             ", k ", k.shape());
  return {q.size(0) * q.size(1), q.size(2), k.size(2), q.size(3), v.size(3)};
}

// probs = softmax(scale * q k^T) row by row; with causal, columns j > i get probability 0
// (top-left aligned, as torch's is_causal).
void attention_probs(const float* q, const float* k, const AttnShape& s, bool causal, float scale, float* probs) {
  detail::gemm_serial(false, true, s.tq, s.tk, s.dh, q, s.dh, k, s.dh, probs, s.tk, false);  // q k^T
  for (int64_t i = 0; i < s.tq; ++i) {
    const int64_t n = causal ? std::min(i + 1, s.tk) : s.tk;  // allowed columns [0, n)
    Eigen::Map<Eigen::ArrayXf> row(probs + i * s.tk, n);
    const float mx = row.maxCoeff() * scale;  // scale > 0: the max of the scaled row
    row = (row * scale - mx).exp();
    row /= row.sum();
    std::fill(probs + i * s.tk + n, probs + (i + 1) * s.tk, 0.0f);
  }
}
}  // namespace

// scaled_dot_product_attention (per batch and head, c = 1/sqrt(Dh)):
//   S = c q k^T (causal: S[i, j] = -inf for j > i),  P = softmax_rows(S),  y = P v
//   dP = dy v^T,  dv += P^T dy
//   dS = P * (dP - rowsum(dP * P))          (softmax backward, elementwise *)
//   dq += c dS k,  dk += c dS^T q
// saves: q, k, v, probs
Tensor scaled_dot_product_attention(const Tensor& q, const Tensor& k, const Tensor& v, bool causal) {
  const AttnShape s = attention_shape(q, k, v, "scaled_dot_product_attention");
  const float scale = 1.0f / std::sqrt(static_cast<float>(s.dh));
  Tensor y = Tensor::empty({q.size(0), q.size(1), s.tq, s.dv});
  Tensor probs = Tensor::empty({q.size(0), q.size(1), s.tq, s.tk});
  parallel_for(s.bh, [&](int64_t b0, int64_t b1) {
    for (int64_t b = b0; b < b1; ++b) {
      float* p = probs.data() + b * s.tq * s.tk;
      attention_probs(q.data() + b * s.tq * s.dh, k.data() + b * s.tk * s.dh, s, causal, scale, p);
      detail::gemm_serial(false, false, s.tq, s.dv, s.tk, p, s.tk, v.data() + b * s.tk * s.dv, s.dv,
                          y.data() + b * s.tq * s.dv, s.dv, false);  // P v
    }
  }, detail::grain_items(s.tq * s.tk * (s.dh + s.dv)));
  return autograd::record(
      "scaled_dot_product_attention", {q, k, v}, y, {"q", "k", "v", "probs"},
      [s, scale, probs, q = q.detach(), k = k.detach(), v = v.detach()](BackwardContext& ctx) {
        float* dq = ctx.needs(0) ? ctx.dinput_tensor(0).data() : nullptr;
        float* dk = ctx.needs(1) ? ctx.dinput_tensor(1).data() : nullptr;
        float* dv = ctx.needs(2) ? ctx.dinput_tensor(2).data() : nullptr;
        const float* dy = ctx.dout_tensor().data();
        parallel_for(s.bh, [&](int64_t b0, int64_t b1) {
          float* ds_data = detail::thread_scratch(2, s.tq * s.tk);
          Mat ds(ds_data, s.tq, s.tk);
          for (int64_t b = b0; b < b1; ++b) {
            const float* pb = probs.data() + b * s.tq * s.tk;
            const ConstMat p(pb, s.tq, s.tk);
            const float* dyb = dy + b * s.tq * s.dv;
            if (dv) detail::gemm_serial(true, false, s.tk, s.dv, s.tq, pb, s.tk, dyb, s.dv, dv + b * s.tk * s.dv, s.dv, true);
            if (!dq && !dk) continue;
            detail::gemm_serial(false, true, s.tq, s.tk, s.dv, dyb, s.dv, v.data() + b * s.tk * s.dv, s.dv, ds_data, s.tk,
                                false);  // dP = dy v^T
            for (int64_t i = 0; i < s.tq; ++i) {  // c dS, the scale folded in before the products
              const float dot = ds.row(i).dot(p.row(i));
              ds.row(i).array() = scale * (p.row(i).array() * (ds.row(i).array() - dot));
            }
            if (dq) detail::gemm_serial(false, false, s.tq, s.dh, s.tk, ds_data, s.tk, k.data() + b * s.tk * s.dh, s.dh,
                                        dq + b * s.tq * s.dh, s.dh, true);
            if (dk) detail::gemm_serial(true, false, s.tk, s.dh, s.tq, ds_data, s.tk, q.data() + b * s.tq * s.dh, s.dh,
                                        dk + b * s.tk * s.dh, s.dh, true);
          }
        }, detail::grain_items(2 * s.tq * s.tk * (s.dh + s.dv)));
      });
}

// The definition computed directly, in double, one query row at a time.
Tensor scaled_dot_product_attention_reference(const Tensor& q, const Tensor& k, const Tensor& v, bool causal) {
  const AttnShape s = attention_shape(q, k, v, "scaled_dot_product_attention_reference");
  Tensor y = Tensor::empty({q.size(0), q.size(1), s.tq, s.dv});
  std::vector<double> w(static_cast<size_t>(s.tk));
  for (int64_t b = 0; b < s.bh; ++b)
    for (int64_t i = 0; i < s.tq; ++i) {
      double mx = -std::numeric_limits<double>::infinity(), sum = 0;
      for (int64_t j = 0; j < s.tk; ++j) {
        double dot = 0;
        for (int64_t d = 0; d < s.dh; ++d) dot += double(q.data()[(b * s.tq + i) * s.dh + d]) * k.data()[(b * s.tk + j) * s.dh + d];
        w[size_t(j)] = (causal && j > i) ? -std::numeric_limits<double>::infinity() : dot / std::sqrt(double(s.dh));
        mx = std::max(mx, w[size_t(j)]);
      }
      for (int64_t j = 0; j < s.tk; ++j) sum += (w[size_t(j)] = std::exp(w[size_t(j)] - mx));
      for (int64_t d = 0; d < s.dv; ++d) {
        double acc = 0;
        for (int64_t j = 0; j < s.tk; ++j) acc += w[size_t(j)] / sum * v.data()[(b * s.tk + j) * s.dv + d];
        y.data()[(b * s.tq + i) * s.dv + d] = static_cast<float>(acc);
      }
    }
  return y;
}

}  // namespace raoq::ops
