// quant/gradcheck_cases.h — gradient-check cases for quant's ops (LSQ/LSQ+ codes and fake
// quantization, the scale floor and LSQ gradient scale, A-shift and its correction, the
// dequantization, W-reshape's kurtosis loss), for the registry of core/gradcheck_cases.h.
#pragma once

#include "core/gradcheck_cases.h"

namespace raoq::quant {

// Appends the cases of every differentiable op quant/ registers.
void add_gradcheck_cases(GradcheckCases& cases);

}  // namespace raoq::quant
