// imc/input_map.cpp — the array input map and the check of the codes the array is given (the
// tables are in input_map.h).
#include "imc/input_map.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "core/error.h"
#include "core/parallel.h"

namespace raoq::imc {

quant::ShiftMap array_input_map(const AdcConfig& c, bool signed_codes, int bx) {
  if (c.representation == Representation::minus_one_one)
    return signed_codes ? quant::ShiftMap{2.0f, -1.0f} : quant::a_shift_map(bx, Representation::minus_one_one);
  if (!c.signed_input) {
    RAOQ_CHECK(!signed_codes, "an unsigned-input array cannot take signed activation codes; quantize this layer's ",
               "input as unsigned codes (act_signed = false) or use a signed-input array");
    return quant::no_shift();
  }
  return signed_codes ? quant::no_shift() : quant::a_shift_map(bx, Representation::zero_one);
}

InputCodes accepted_inputs(const AdcConfig& c) {
  const float full = std::ldexp(1.0f, c.bx);
  if (c.representation == Representation::minus_one_one) return {-(full - 1), full - 1, true};
  if (!c.signed_input) return {0.0f, full - 1, false};
  return {-full / 2, full / 2 - 1, false};
}

namespace {
// Whether v is a whole code in [lo, hi] (odd if odd_bit is 1), or with whole false only in [lo, hi].
// v is a whole code iff clamping it to [lo, hi] and truncating to an integer leaves it unchanged
// (NaN never compares equal; the clamp turns NaN into lo before the conversion). Branch-free, so
// the loop below vectorises.
inline int32_t code_bad(float v, float lo, float hi, int32_t odd_bit, bool whole) {
  float cv = v > lo ? v : lo;
  cv = cv < hi ? cv : hi;
  const int32_t i = static_cast<int32_t>(cv);
  if (!whole) return v != cv;
  return int32_t(v != static_cast<float>(i)) | int32_t((i & odd_bit) != odd_bit);
}

int32_t count_bad(const float* p, int64_t i0, int64_t i1, float lo, float hi, int32_t odd_bit, bool whole) {
  int32_t fails = 0;
  // omp simd: -O2's cost model would leave this loop scalar (it needs an epilogue).
  if (whole) {
#pragma omp simd reduction(+ : fails)
    for (int64_t i = i0; i < i1; ++i) fails += code_bad(p[i], lo, hi, odd_bit, true);
  } else {
#pragma omp simd reduction(+ : fails)
    for (int64_t i = i0; i < i1; ++i) fails += code_bad(p[i], lo, hi, odd_bit, false);
  }
  return fails;
}

// Index of the first bad element of p[0, n), or -1. Blocks are checked in parallel; only a block
// known to hold a bad value is searched element by element.
int64_t first_bad(const float* p, int64_t n, float lo, float hi, bool odd, bool whole) {
  constexpr int64_t kChunk = 1 << 15;
  const int64_t blocks = (n + kChunk - 1) / kChunk;
  const int32_t odd_bit = odd ? 1 : 0;
  std::vector<int32_t> bad(static_cast<size_t>(blocks), 0);
  parallel_for(blocks, [&](int64_t b0, int64_t b1) {
    for (int64_t b = b0; b < b1; ++b) bad[size_t(b)] = count_bad(p, b * kChunk, std::min(n, (b + 1) * kChunk), lo, hi, odd_bit, whole);
  });
  for (int64_t b = 0; b < blocks; ++b)
    if (bad[size_t(b)])
      for (int64_t i = b * kChunk; i < std::min(n, (b + 1) * kChunk); ++i)
        if (code_bad(p[i], lo, hi, odd_bit, whole)) return i;
  return -1;
}
}  // namespace

void check_array_codes(const char* op, const Tensor& xs, const Tensor& wq, const AdcConfig& c, bool integers) {
  const InputCodes in = accepted_inputs(c);
  const int64_t bx = first_bad(xs.data(), xs.numel(), in.lo, in.hi, in.odd_only, integers);
  RAOQ_CHECK(bx < 0, op, ": input code ", bx < 0 ? 0.0f : xs.data()[bx], " at flat index ", bx, " of xs ", shape_str(xs.shape()),
             " is not one the array accepts (", in.odd_only ? "odd " : "", "integers in [", in.lo, ", ", in.hi,
             "] for bx ", c.bx, ", ", c.signed_input ? "signed" : "unsigned", " input, ",
             quant::to_string(c.representation), ")");
  const quant::CodeRange w = quant::symmetric_codes(c.bw);
  const int64_t bw = first_bad(wq.data(), wq.numel(), w.lo, w.hi, false, integers);
  RAOQ_CHECK(bw < 0, op, ": weight code ", bw < 0 ? 0.0f : wq.data()[bw], " at flat index ", bw, " of wq ", shape_str(wq.shape()),
             " is not one the array accepts (integers in [", w.lo, ", ", w.hi, "] for bw ", c.bw, ")");
}

}  // namespace raoq::imc
