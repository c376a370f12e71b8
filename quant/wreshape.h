// quant/wreshape.h — W-reshape: the kurtosis penalty on quantized weights (RAOQ Eq. 6-7, 13).
//
// A flat (low-kurtosis) weight-code distribution has a larger Var[wq] for the same clipping, and
// the ADC input variance grows with Var[wq] (RAOQ Fig. 2c). The penalty is applied directly to the
// quantized weights (the codes, or the fake-quantized weights: kurtosis is scale invariant, so both
// give the same value, and the same gradient to the float weights through the LSQ surrogate).
//
//   kappa = E[((w - mu) / sigma)^4] = m4 / m2^2,   d = w - mu, m_j = mean(d^j), n = numel
//   dkappa/dw_i = 4 / (n m2^2) * (d_i^3 - m3)  -  4 m4 / (n m2^3) * d_i                  (exact)
// m2 is read as m2 + kKurtosisEps so that an all-equal tensor (every code 0 at a huge scale) gives
// kappa = 0 with gradient 0 instead of 0/0; the formula above then holds with m2 + eps in place of
// m2 and is the exact gradient of what is computed.
//
//   L = L_c + lambda * sum_l kappa_l                                           (Eq. 7)
//   L = L_c + lambda * (sum_{l <= J} kappa_l + 4 sum_{l > J} kappa_l)          (Eq. 13, later layers 4x)
// wreshape_loss builds the second term; the caller adds it to the task loss.
#pragma once

#include <cstdint>
#include <vector>

#include "core/tensor.h"

namespace raoq::quant {

inline constexpr double kKurtosisEps = 1e-8;

// w: any shape (numel >= 2) -> kappa: shape [].  The population statistics of all of w.
Tensor kurtosis(const Tensor& w);

// kappas: one shape-[] tensor per IMC layer, in network order.
// -> lambda * sum_l c_l kappa_l, c_l = 1 for l < later_from and later_weight for l >= later_from
// (later_from = J of Eq. 13 as a 0-based index; a negative later_from weights every layer by 1).
// Backward: dkappa_l += lambda * c_l * dL. An empty list gives a constant 0.
Tensor wreshape_loss(const std::vector<Tensor>& kappas, float lambda, int64_t later_from = -1, float later_weight = 4.0f);

}  // namespace raoq::quant
