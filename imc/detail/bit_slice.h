// imc/detail/bit_slice.h — internal: splitting wide codes into native-width slices for `bit_sliced`
// mapping (the array product runs every slice pair; array_product.h).
//
// A code v is written as v = sum_i factor_i * part_i + offset with every part a code the native
// slice_bits-wide array accepts; the array runs each (input slice, weight slice) pair, and the ADC
// outputs are recombined with the factors (powers of two: shifts). All arithmetic is exact.
//
//   inputs, zero_one, unsigned:  u = v in [0, 2^B - 1], digits u_i of slice_bits bits;  part_i = u_i
//   inputs, zero_one, signed:    u = v + 2^(B-1), digits u_i;  part_i = u_i - 2^(sb-1)  (each slice is
//                                itself A-shifted into the signed native range), offset = sum_i
//                                2^(sb i) 2^(sb-1) - 2^(B-1), added back digitally as offset * sum_k w
//   inputs, minus_one_one:       u = (v + 2^B - 1) / 2, digits u_i of b_i bits (the last may be
//                                narrower); part_i = 2 u_i - (2^(b_i) - 1), odd, a b_i-bit -1/1 number
//   weights (symmetric, sign-magnitude): |w| in digits of sb-1 bits; part_j = sign(w) * digit_j, in
//                                [-(2^(sb-1) - 1), 2^(sb-1) - 1];  factor_j = 2^((sb-1) j)
// B is the layer's code width (bx or bw), sb = slice_bits; factor_i = 2^(sb i) for inputs.
#pragma once

#include <vector>

#include "core/tensor.h"
#include "imc/adc.h"

namespace raoq::imc::detail {

struct Slices {
  std::vector<Tensor> parts;    // each shaped like the sliced tensor
  std::vector<float> factors;   // v = sum_i factors[i] * parts[i] + offset
  float offset = 0;
};

// xs: codes the array accepts for config.bx (see input_map.h); any shape.
Slices slice_inputs(const Tensor& xs, const AdcConfig& config);
// wq: symmetric config.bw-bit codes; any shape.
Slices slice_weights(const Tensor& wq, const AdcConfig& config);

}  // namespace raoq::imc::detail
