// imc/input_map.h — how activation codes enter the array, and which codes it accepts.
//
// The array sees xs = gain * xq - shift (quant::ShiftMap) for the activation codes xq:
//   zero_one, signed-input array:   unsigned codes -> A-shift {1, 2^(bx-1)} (RAOQ Eq. 4; the term
//                                    shift * sum_k wq is added back digitally after the ADC, Eq. 5)
//                                    signed codes   -> as they are {1, 0} (vanilla QAT*)
//   zero_one, unsigned-input array: unsigned codes -> {1, 0}; signed codes are an error
//   minus_one_one:                   unsigned codes -> {2, 2^bx - 1} (Eq. 15); signed -> {2, -1} (Eq. 14)
//
// What the array accepts (anything else is an error, never a silent wrap):
//   inputs   zero_one signed: integers in [-2^(b-1), 2^(b-1) - 1]; unsigned: [0, 2^b - 1];
//            minus_one_one: odd integers in [-(2^b - 1), 2^b - 1]        (b = bx)
//   weights  integers in [-(2^(bw-1) - 1), 2^(bw-1) - 1]
#pragma once

#include "core/tensor.h"
#include "imc/adc.h"
#include "quant/ashift.h"

namespace raoq::imc {

// The map for a layer with bx-bit activation codes, signed or not, on the array of config.
quant::ShiftMap array_input_map(const AdcConfig& config, bool signed_codes, int bx);

// The input codes the array accepts for a layer with config.bx input bits (table above).
struct InputCodes {
  float lo = 0, hi = 0;
  bool odd_only = false;  // minus_one_one
};
InputCodes accepted_inputs(const AdcConfig& config);

// Throws raoq::Error naming op, tensor, position and value unless xs holds input codes the array
// accepts and wq weight codes it accepts (tables above). With integers false only the ranges are
// checked: Rounding::skip evaluates the product on real-valued codes (gradient checks perturb them).
void check_array_codes(const char* op, const Tensor& xs, const Tensor& wq, const AdcConfig& config, bool integers = true);

}  // namespace raoq::imc
