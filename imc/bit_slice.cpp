// imc/bit_slice.cpp — exact slicing of wide codes (the scheme is described in detail/bit_slice.h).
#include "imc/detail/bit_slice.h"

#include <algorithm>
#include <cmath>
#include <cstdint>

#include "core/error.h"

namespace raoq::imc::detail {

Slices slice_inputs(const Tensor& xs, const AdcConfig& c) {
  const int B = c.bx, sb = c.slice_bits;
  const int count = (B + sb - 1) / sb;
  const bool pm = c.representation == Representation::minus_one_one;
  const int64_t bias = pm ? (int64_t(1) << B) - 1 : (c.signed_input ? int64_t(1) << (B - 1) : 0);
  Slices s;
  for (int i = 0; i < count; ++i) {
    s.parts.push_back(Tensor::empty(xs.shape()));
    s.factors.push_back(std::ldexp(1.0f, sb * i));
  }
  const int64_t mask = (int64_t(1) << sb) - 1, half = int64_t(1) << (sb - 1);
  for (int64_t e = 0; e < xs.numel(); ++e) {
    const int64_t v = static_cast<int64_t>(xs.data()[e]);
    const int64_t u = pm ? (v + bias) / 2 : v + bias;  // the unsigned 0/1 code behind v
    for (int i = 0; i < count; ++i) {
      const int64_t digit = (u >> (sb * i)) & mask;
      const int bits = std::min(sb, B - sb * i);
      int64_t part = digit;
      if (pm) part = 2 * digit - ((int64_t(1) << bits) - 1);
      else if (c.signed_input) part = digit - half;
      s.parts[size_t(i)].data()[e] = static_cast<float>(part);
    }
  }
  if (!pm && c.signed_input) {
    double off = -std::ldexp(1.0, B - 1);
    for (int i = 0; i < count; ++i) off += std::ldexp(1.0, sb * i) * double(half);
    s.offset = static_cast<float>(off);
  }
  return s;
}

Slices slice_weights(const Tensor& wq, const AdcConfig& c) {
  const int mag_bits = c.slice_bits - 1;
  const int count = (c.bw - 1 + mag_bits - 1) / mag_bits;
  const int64_t mask = (int64_t(1) << mag_bits) - 1;
  Slices s;
  for (int j = 0; j < count; ++j) {
    s.parts.push_back(Tensor::empty(wq.shape()));
    s.factors.push_back(std::ldexp(1.0f, mag_bits * j));
  }
  for (int64_t e = 0; e < wq.numel(); ++e) {
    const int64_t v = static_cast<int64_t>(wq.data()[e]);
    const int64_t mag = v < 0 ? -v : v, sign = v < 0 ? -1 : 1;
    for (int j = 0; j < count; ++j) s.parts[size_t(j)].data()[e] = static_cast<float>(sign * ((mag >> (mag_bits * j)) & mask));
  }
  return s;
}

}  // namespace raoq::imc::detail
