// imc/gradcheck_cases.h — gradient-check cases for imc's ops (the ADC quantizer and the
// ADC-tiled array product in its three geometries), for the registry of core/gradcheck_cases.h.
#pragma once

#include "core/gradcheck_cases.h"

namespace raoq::imc {

// Appends the cases of every differentiable op imc/ registers.
void add_gradcheck_cases(GradcheckCases& cases);

}  // namespace raoq::imc
