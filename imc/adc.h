// imc/adc.h — the IMC array and its ADC: configuration, the ADC step D, the conversion itself
// (Eq. 2, written once here for every loop of imc/), and the ADC quantizer op.
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
// What codes the array accepts is the input map's business (imc/input_map.h).
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
#include "quant/rounding.h"

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
  bool enabled = true;       // the ADC converts every tile; false: no ADC, tiles summed exactly

  // Throws raoq::Error naming the first bad field as `<where>.<field>`, e.g. "adc.k must be a
  // positive integer (got 0)".
  void validate(const std::string& where = "adc") const;
  bool has_noise() const { return weight_noise > 0.0f || output_noise > 0.0f; }
  // Input and weight bits of the physical array: bx, bw in direct mapping, slice_bits in bit_sliced.
  int array_bx() const;
  int array_bw() const;
};

std::ostream& operator<<(std::ostream& os, const AdcConfig& c);  // one line, every field ("adc off" when disabled)

// xr of Eq. 3 for the array's input bits (see the table above).
double input_range_xr(const AdcConfig& config);
// The ADC step D of Eq. 3 (exact in double, returned as float; 49 and 105 are exact).
float adc_step(const AdcConfig& config);
// ADC code range [-2^(ba-1), 2^(ba-1) - 1].
quant::CodeRange adc_codes(int ba);

// Number of arrays a (K x N) weight occupies: ceil(K/rows) * ceil(N/cols) * weight slices. An
// array stores one weight slice; the input slices are successive passes over the same arrays.
int64_t arrays_used(const AdcConfig& config, int64_t K, int64_t N);
int64_t row_tiles(const AdcConfig& config, int64_t K);      // ceil(K / rows)
int64_t column_groups(const AdcConfig& config, int64_t N);  // ceil(N / cols)
// Slices of bit_sliced mapping (detail/bit_slice.h), 1 each in direct mapping: the input codes'
// slice_bits-wide digits, the weights' sign-magnitude slices of slice_bits - 1 magnitude bits,
// and their (input slice, weight slice) pairs, each pair one conversion per tile column and vector.
int64_t input_slices(const AdcConfig& config);
int64_t weight_slices(const AdcConfig& config);
int64_t slice_pairs(const AdcConfig& config);

// ---- Eq. 2 for one column sum y, with [lo, hi] = adc_codes(ba). Every loop of imc/ that converts
// (the tile kernels, adc_quantize, the reference, the statistics) calls these, so the conversion
// is written once. They are plain branch-free arithmetic, so `omp simd` loops of them vectorise.
//
// y / D is a true division: floor(y * (1/D)) can fall one code short when y is an exact multiple
// of D (in float, 41 * (1/41) is 0.99999994).
// clip(y / D, lo, hi): the conversion before its floor. Rounding::skip uses it as the un-floored
// ADC, whose exact gradient is the straight-through one.
inline float adc_clip_steps(float y, float D, float lo, float hi) {
  float z = y / D;
  z = z < lo ? lo : z;
  z = z > hi ? hi : z;
  return z;
}
// yq = floor(clip(y / D, lo, hi)) (Eq. 2). The floor of quant/rounding.h: std::floor does not
// vectorise under the build's flags.
inline float adc_convert(float y, float D, float lo, float hi) {
  return quant::detail::floor_code(adc_clip_steps(y, D, lo, hi));
}
// Whether y / D lies outside [lo, hi] (a NaN lies nowhere inside): the conversion clips there,
// and the straight-through gradient is 0.
inline bool adc_clipped(float y, float D, float lo, float hi) {
  const float z = y / D;
  return !((z >= lo) & (z <= hi));
}

// y: any shape (column sums) -> D * floor(clip(y / D, -2^(ba-1), 2^(ba-1) - 1)): same shape.
// Declared surrogate (STE, Eq. 2 note): dy += dout where -2^(ba-1) <= y/D <= 2^(ba-1) - 1, else 0.
// It is the exact gradient of the same expression without floor (Rounding::skip), which the
// gradient check uses. Elementwise and exact: floor(y / D) with y / D computed in float.
Tensor adc_quantize(const Tensor& y, float D, int ba, Rounding rounding = Rounding::apply);

}  // namespace raoq::imc
