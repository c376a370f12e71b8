// quant/wreshape.cpp — kurtosis op and the W-reshape loss sum (math in wreshape.h).
#include "quant/wreshape.h"

#include <cmath>
#include <string>

#include "core/autograd.h"
#include "core/error.h"

namespace raoq::quant {

RAOQ_REGISTER_OP("kurtosis");
RAOQ_REGISTER_OP("wreshape_loss");

namespace {
struct Moments {
  double mu = 0, m2 = 0, m3 = 0, m4 = 0;  // m2 includes kKurtosisEps
};
Moments moments_of(const float* w, int64_t n) {
  Moments m;
  for (int64_t i = 0; i < n; ++i) m.mu += w[i];
  m.mu /= double(n);
  for (int64_t i = 0; i < n; ++i) {
    const double d = w[i] - m.mu, d2 = d * d;
    m.m2 += d2;
    m.m3 += d2 * d;
    m.m4 += d2 * d2;
  }
  m.m2 = m.m2 / double(n) + kKurtosisEps;
  m.m3 /= double(n);
  m.m4 /= double(n);
  return m;
}
}  // namespace

// w: any shape -> kappa = m4 / m2^2: [].   saves: w (moments are recomputed in backward)
//   dw_i += dk * ( 4/(n m2^2) (d_i^3 - m3) - 4 m4/(n m2^3) d_i )
Tensor kurtosis(const Tensor& w) {
  RAOQ_CHECK(w.defined() && w.numel() >= 2, "kurtosis: need a tensor with at least 2 elements (got ",
             w.defined() ? shape_str(w.shape()) : std::string("undefined"), ")");
  const int64_t n = w.numel();
  const Moments m = moments_of(w.data(), n);
  Tensor out = Tensor::scalar(static_cast<float>(m.m4 / (m.m2 * m.m2)));
  return autograd::record("kurtosis", {w}, out, {"w"}, [w = w.detach(), n](BackwardContext& ctx) {
    const Moments mo = moments_of(w.data(), n);
    const double dk = ctx.dout()(0);
    const double a = 4.0 / (double(n) * mo.m2 * mo.m2), b = 4.0 * mo.m4 / (double(n) * mo.m2 * mo.m2 * mo.m2);
    float* dw = ctx.dinput_tensor(0).data();
    for (int64_t i = 0; i < n; ++i) {
      const double d = w.data()[i] - mo.mu;
      dw[i] += static_cast<float>(dk * (a * (d * d * d - mo.m3) - b * d));
    }
  });
}

// kappas: L tensors of shape [] -> lambda * sum_l c_l kappa_l: [].   dkappa_l += lambda c_l dL
Tensor wreshape_loss(const std::vector<Tensor>& kappas, float lambda, int64_t later_from, float later_weight) {
  std::vector<float> coeff;
  double total = 0;
  for (size_t l = 0; l < kappas.size(); ++l) {
    RAOQ_CHECK(kappas[l].defined() && kappas[l].numel() == 1, "wreshape_loss: kappa ", l,
               " must be a one-element tensor (got ", kappas[l].defined() ? shape_str(kappas[l].shape()) : "undefined", ")");
    const float c = lambda * (later_from >= 0 && int64_t(l) >= later_from ? later_weight : 1.0f);
    coeff.push_back(c);
    total += double(c) * kappas[l].item();
  }
  Tensor out = Tensor::scalar(static_cast<float>(total));
  return autograd::record("wreshape_loss", kappas, out, {"coefficients"}, [coeff](BackwardContext& ctx) {
    const float g = ctx.dout()(0);
    for (size_t l = 0; l < coeff.size(); ++l)
      if (ctx.needs(l)) ctx.dinput(l) += coeff[l] * g;
  });
}

}  // namespace raoq::quant
