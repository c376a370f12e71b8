// imc/adc.h — the IMC array and its ADC: configuration, the ADC step D, the ADC quantizer op.
//
// The array (RAOQ Sec. 3.1, Fig. 1b) has `rows` x `cols` cells; a product with reduction length K
// is split into ceil(K / rows) row tiles, and each tile's column sum y_t goes through an ADC:
//   yq_t = floor(clip(y_t / D, -2^(ba-1), 2^(ba-1) - 1))                       (Eq. 2)
//   D    = 2 * rows * xr * (2^(bw-1) - 1) / (2^ba * k)                          (Eq. 3)
// reconstructed as D * yq_t. D depends only on the hardware: rows (never the layer's K), the input
// and weight bits the array is built for, ba and k. xr is the largest input code magnitude the
// array is built for (DESIGN.md):
//   zero_one, signed_input    xr = 2^(bx-1) - 1   (A-shifted codes; the default)   rows 512, bx=bw=4, ba=8, k=4: D = 49
//   zero_one, unsigned input  xr = 2^bx - 1       (Eq. 3 as printed)                                       D = 105
//   minus_one_one             xr = 2^bx - 1       (-1/1 inputs are odd values in [-(2^bx-1), 2^bx-1]; always signed)
// In `direct` mapping the array is built for the layer's own bx, bw (an 8-bit layer uses Eq. 3
// with 8); in `bit_sliced` mapping it is a native slice_bits-bit array and D uses slice_bits.
//
// What the array accepts (anything else is an error, never a silent wrap):
//   inputs   zero_one signed: integers in [-2^(b-1), 2^(b-1) - 1]; unsigned: [0, 2^b - 1];
//            minus_one_one: odd integers in [-(2^b - 1), 2^b - 1]        (b = bx)
//   weights  integers in [-(2^(bw-1) - 1), 2^(bw-1) - 1]
//
// Analog noise (RAOQ Sec. 5, Table 7): additive Gaussian on the weight codes (std weight_noise, in
// weight-code units: 0.1 is a tenth of one code step, i.e. 0.1/(2^(bw-1)-1) of the code range) and
// on every tile's column sum before its ADC (std output_noise, in units of D).
#pragma once

#include <cstdint>
#include <string>

#include "core/tensor.h"
#include "quant/ashift.h"
#include "quant/lsq.h"

namespace raoq::imc {

using quant::Representation;
using quant::Rounding;

enum class Mapping {
  direct,      // codes of the layer's width go to an array built for them (Eq. 3 with bx, bw)
  bit_sliced,  // codes split into slice_bits-wide slices, one array pass per slice pair, shifts recombine
};
const char* to_string(Mapping m);              // "direct", "bit_sliced"
Mapping mapping_from_string(const std::string& name);

struct AdcConfig {
  int64_t rows = 512;  // M of Eq. 3: the reduction length one column sums
  int64_t cols = 512;  // output columns per array (only changes how many arrays are counted)
  int bx = 4;          // activation code bits of the layer
  int bw = 4;          // weight code bits of the layer
  int ba = 8;          // ADC bits
  int k = 4;           // clipping factor of Eq. 3 (a positive integer)
  bool signed_input = true;  // the array takes signed inputs (A-shifted codes); false: unsigned codes
  Representation representation = Representation::zero_one;
  Mapping mapping = Mapping::direct;
  int slice_bits = 4;        // native array bits in bit_sliced mapping
  float weight_noise = 0.0f; // std of Gaussian noise on weight codes, in code steps
  float output_noise = 0.0f; // std of Gaussian noise on column sums before the ADC, in units of D
  bool bypass = false;       // no ADC: tiles are summed exactly (the plain integer product)

  // Throws raoq::Error naming the first bad field as `<where>.<field>`, e.g. "adc.k must be a
  // positive integer (got 0)".
  void validate(const std::string& where = "adc") const;
  bool has_noise() const { return weight_noise > 0.0f || output_noise > 0.0f; }
  // Input and weight bits of the physical array: bx, bw in direct mapping, slice_bits in bit_sliced.
  int array_bx() const;
  int array_bw() const;
};

std::ostream& operator<<(std::ostream& os, const AdcConfig& c);  // one line, every field

// xr of Eq. 3 for the array's input bits (see the table above).
double input_range_xr(const AdcConfig& config);
// The ADC step D of Eq. 3 (exact in double, returned as float; 49 and 105 are exact).
float adc_step(const AdcConfig& config);
// ADC code range [-2^(ba-1), 2^(ba-1) - 1].
quant::CodeRange adc_codes(int ba);

// The input codes the array accepts for a layer with config.bx input bits (table above).
struct InputCodes {
  float lo = 0, hi = 0;
  bool odd_only = false;  // minus_one_one
};
InputCodes accepted_inputs(const AdcConfig& config);

// Number of arrays a (K x N) weight occupies: ceil(K/rows) * ceil(N/cols) * slice pairs.
int64_t arrays_used(const AdcConfig& config, int64_t K, int64_t N);
int64_t row_tiles(const AdcConfig& config, int64_t K);  // ceil(K / rows)

// y: any shape (column sums) -> D * floor(clip(y / D, -2^(ba-1), 2^(ba-1) - 1)): same shape.
// Declared surrogate (STE, Eq. 2 note): dy += dout where -2^(ba-1) <= y/D <= 2^(ba-1) - 1, else 0.
// It is the exact gradient of the same expression without floor (Rounding::skip), which the
// gradient check uses. Elementwise and exact: floor(y / D) with y / D computed in float.
Tensor adc_quantize(const Tensor& y, float D, int ba, Rounding rounding = Rounding::apply);

}  // namespace raoq::imc
