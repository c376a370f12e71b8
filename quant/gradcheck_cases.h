// quant/gradcheck_cases.h — gradient-check cases for quant's ops (LSQ/LSQ+ codes and fake
// quantization, the scale floor and LSQ gradient scale, A-shift and its correction, the
// dequantization, W-reshape's kurtosis loss), for the registry of core/gradcheck_cases.h.
#pragma once

#include <cstdint>
#include <vector>

#include "core/gradcheck_cases.h"
#include "quant/lsq.h"

namespace raoq::quant {

// Codes v for gradient checks: n values uniform in [r.lo - 2, r.hi + 2] (some clipped) but at
// least `gap` from both clip bounds, so that no finite-difference step smaller than `gap` crosses
// a kink of clip. Also the inputs of the LSQ tests (tests/quant/test_lsq.cpp).
std::vector<float> codes_away_from_bounds(int64_t n, CodeRange r, float gap, uint64_t seed);

// Appends the cases of every differentiable op quant/ registers.
void add_gradcheck_cases(GradcheckCases& cases);

}  // namespace raoq::quant
