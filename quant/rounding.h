// quant/rounding.h — floor and round-half-to-even for code-sized floats, written so loops vectorise.
//
// GCC vectorises std::floor / std::nearbyint only under -fno-trapping-math, which the build does
// not use, so a loop of them runs one element at a time. These equivalents are exact for the
// magnitudes codes have (|z| < 2^22) and are plain arithmetic the vectoriser handles:
//   floor_code(z):      t = trunc(z) via an int conversion; floor = t - 1 when t > z (z < 0, not whole)
//   round_even_code(z): (z + 1.5 * 2^23) - 1.5 * 2^23: the sum lands in [2^23, 2^24), where floats
//                       are whole numbers, so the default rounding mode rounds z to nearest, ties to
//                       even — exactly std::nearbyint. Without -ffast-math the compiler may not
//                       fold the two operations away.
// Callers clamp z to a code range first; the functions check nothing.
#pragma once

#include <cstdint>

namespace raoq::quant::detail {

inline float floor_code(float z) {
  const float t = static_cast<float>(static_cast<int32_t>(z));
  return t - static_cast<float>(t > z);
}

inline float round_even_code(float z) {
  constexpr float kMagic = 12582912.0f;  // 1.5 * 2^23
  return (z + kMagic) - kMagic;
}

}  // namespace raoq::quant::detail
