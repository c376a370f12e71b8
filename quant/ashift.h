// quant/ashift.h — A-shift: unsigned activation codes moved to a signed range, and the exact
// digital correction that undoes the move after a product.
//
// RAOQ Eq. 4-5 (0/1 representation, two's complement bits): xs = xq - C with C = 2^(bx-1), so the
// codes [0, 2^bx - 1] become [-2^(bx-1), 2^(bx-1) - 1] and their second moment grows (the mass of a
// post-GELU distribution sits near code 0, i.e. near xs = -C). Appendix B (-1/1 representation,
// bits read as -1/+1): xs = 2 xq - (2^bx - 1), odd values in [-(2^bx - 1), 2^bx - 1].
// Both are the affine map xs = gain * xq - shift (ShiftMap). The product is recovered exactly:
//   sum_k wq[n,k] xq[m,k] = ( sum_k wq[n,k] xs[m,k] + shift * sum_k wq[n,k] ) / gain        (Eq. 5)
// With gain 1 or 2 and integer codes every step is exact in float (sums stay far below 2^24).
// The identity map {1, 0} is "no A-shift" (vanilla QAT*: codes go to the array as they are).
//
// What this file does not do: anything about arrays or ADCs (imc/ owns those). The correction is
// written for a plain product y = xs wq^T; imc/ applies it after the ADC.
#pragma once

#include <string>

#include "core/tensor.h"

namespace raoq::quant {

enum class Representation {
  zero_one,       // bits take values 0/1 (two's complement); RAOQ Sec. 3.2, the default
  minus_one_one,  // bits take values -1/+1 (XNOR arrays); RAOQ appendix B, Eq. 14-16
};
const char* to_string(Representation rep);  // "zero_one", "minus_one_one"
// Parses "zero_one" / "0/1" and "minus_one_one" / "-1/1"; anything else is an error naming it.
Representation representation_from_string(const std::string& name);

// xs = gain * xq - shift.
struct ShiftMap {
  float gain = 1;
  float shift = 0;
};
// zero_one: {1, 2^(bx-1)};  minus_one_one: {2, 2^bx - 1}.
ShiftMap a_shift_map(int bx, Representation rep);
inline ShiftMap no_shift() { return {1.0f, 0.0f}; }

// xs = gain * xq - shift, elementwise; xq: any shape.   Backward: dxq += gain * dxs.
// (Exact, smooth: an affine map of the codes, no surrogate involved.)
Tensor a_shift(const Tensor& xq, ShiftMap map);

// The digital correction of Eq. 5 (and its -1/1 form):
//   y[m,n] = ( y_array[m,n] + shift * sum_k wq[n,k] ) / gain
// y_array: (..., N) — the product of shifted codes with wq, any leading dims;  wq: (N, K).
// Backward: dy_array += dy / gain;  dwq[n,k] += (shift / gain) * sum_m dy[m,n].
// For the exact product (nothing rounds between), ashift_correct(a_shift(xq) wq^T, wq) == xq wq^T exactly.
Tensor ashift_correct(const Tensor& y_array, const Tensor& wq, ShiftMap map);

// E[v^2] over all elements (double accumulation): the second moment A-shift maximises (Fig. 3a).
double second_moment(const Tensor& v);

}  // namespace raoq::quant
