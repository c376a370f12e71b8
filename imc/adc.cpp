// imc/adc.cpp — array configuration checks, the ADC step D (Eq. 3) and the ADC quantizer op (Eq. 2).
#include "imc/adc.h"

#include <algorithm>
#include <cmath>
#include <ostream>

#include "core/autograd.h"
#include "core/error.h"
#include "core/parallel.h"

namespace raoq::imc {

RAOQ_REGISTER_OP("adc_quantize");

const char* to_string(Mapping m) { return m == Mapping::direct ? "direct" : "bit_sliced"; }

Mapping mapping_from_string(const std::string& name) {
  if (name == "direct") return Mapping::direct;
  if (name == "bit_sliced") return Mapping::bit_sliced;
  RAOQ_CHECK(false, "mapping must be \"direct\" or \"bit_sliced\" (got \"", name, "\")");
  return Mapping::direct;
}

void AdcConfig::validate(const std::string& where) const {
  const std::string p = where.empty() ? "" : where + ".";
  RAOQ_CHECK(rows >= 1, p, "rows must be a positive integer (got ", rows, ")");
  RAOQ_CHECK(cols >= 1, p, "cols must be a positive integer (got ", cols, ")");
  RAOQ_CHECK(bx >= 1 && bx <= 12, p, "bx must be in [1, 12] (got ", bx, ")");
  RAOQ_CHECK(bw >= 2 && bw <= 12, p, "bw must be in [2, 12] (got ", bw, "); symmetric weights need 2 bits or more");
  RAOQ_CHECK(ba >= 1 && ba <= 16, p, "ba must be in [1, 16] (got ", ba, ")");
  RAOQ_CHECK(k >= 1, p, "k must be a positive integer (got ", k, ")");
  if (mapping == Mapping::bit_sliced)
    RAOQ_CHECK(slice_bits >= 2 && slice_bits <= 8, p, "slice_bits must be in [2, 8] (got ", slice_bits, ")");
  RAOQ_CHECK(representation == Representation::zero_one || signed_input, p,
             "signed_input must be true with the minus_one_one representation (-1/1 inputs are signed)");
  RAOQ_CHECK(!signed_input || representation == Representation::minus_one_one || array_bx() >= 2, p,
             "bx must be at least 2 for a signed-input array (got ", array_bx(), ")");
  RAOQ_CHECK(std::isfinite(weight_noise) && weight_noise >= 0, p, "weight_noise must be >= 0 (got ", weight_noise, ")");
  RAOQ_CHECK(std::isfinite(output_noise) && output_noise >= 0, p, "output_noise must be >= 0 (got ", output_noise, ")");
  // Every tile's column sum must be an exact integer in float: rows * max|x| * max|w| < 2^24.
  const int b = array_bx();
  const double xmax = (representation == Representation::minus_one_one || !signed_input) ? std::ldexp(1.0, b) - 1
                                                                                          : std::ldexp(1.0, b - 1);
  const double worst = double(rows) * xmax * (std::ldexp(1.0, array_bw() - 1) - 1);
  RAOQ_CHECK(worst < 16777216.0, p, "rows * max|x| * max|w| = ", worst,
             " reaches 2^24: column sums would no longer be exact in float32 (use fewer rows or bit_sliced mapping)");
}

int AdcConfig::array_bx() const { return mapping == Mapping::bit_sliced ? slice_bits : bx; }
int AdcConfig::array_bw() const { return mapping == Mapping::bit_sliced ? slice_bits : bw; }

std::ostream& operator<<(std::ostream& os, const AdcConfig& c) {
  return os << "rows " << c.rows << " cols " << c.cols << " bx " << c.bx << " bw " << c.bw << " ba " << c.ba << " k "
            << c.k << (c.signed_input ? " signed" : " unsigned") << "-input " << quant::to_string(c.representation)
            << ' ' << to_string(c.mapping) << (c.mapping == Mapping::bit_sliced ? " slice_bits " : "")
            << (c.mapping == Mapping::bit_sliced ? std::to_string(c.slice_bits) : "") << " noise(w " << c.weight_noise
            << ", y " << c.output_noise << ")" << (c.enabled ? "" : " adc off");
}

double input_range_xr(const AdcConfig& c) {
  const int b = c.array_bx();
  if (c.representation == Representation::minus_one_one || !c.signed_input) return std::ldexp(1.0, b) - 1.0;
  return std::ldexp(1.0, b - 1) - 1.0;
}

float adc_step(const AdcConfig& c) {
  c.validate();
  const double wmax = std::ldexp(1.0, c.array_bw() - 1) - 1.0;
  return static_cast<float>(2.0 * double(c.rows) * input_range_xr(c) * wmax / (std::ldexp(1.0, c.ba) * c.k));
}

quant::CodeRange adc_codes(int ba) {
  RAOQ_CHECK(ba >= 1 && ba <= 16, "adc_codes: ba must be in [1, 16] (got ", ba, ")");
  return {-std::ldexp(1.0f, ba - 1), std::ldexp(1.0f, ba - 1) - 1.0f};
}

int64_t row_tiles(const AdcConfig& c, int64_t K) { return (K + c.rows - 1) / c.rows; }

int64_t input_slices(const AdcConfig& c) {
  return c.mapping == Mapping::bit_sliced ? (c.bx + c.slice_bits - 1) / c.slice_bits : 1;
}

int64_t weight_slices(const AdcConfig& c) {
  return c.mapping == Mapping::bit_sliced ? (c.bw - 1 + c.slice_bits - 2) / (c.slice_bits - 1) : 1;
}

int64_t slice_pairs(const AdcConfig& c) { return input_slices(c) * weight_slices(c); }

int64_t column_groups(const AdcConfig& c, int64_t N) { return (N + c.cols - 1) / c.cols; }

int64_t arrays_used(const AdcConfig& c, int64_t K, int64_t N) {
  return row_tiles(c, K) * column_groups(c, N) * weight_slices(c);
}

// y: any shape -> D * floor(clip(y/D, lo, hi)): same shape.   saves: y
//   dy += dout where lo <= y/D <= hi (straight through inside the clip range), 0 outside
Tensor adc_quantize(const Tensor& y, float D, int ba, Rounding rounding) {
  RAOQ_CHECK(std::isfinite(D) && D > 0, "adc_quantize: the step D must be positive and finite (got ", D, ")");
  const quant::CodeRange r = adc_codes(ba);
  Tensor out = Tensor::empty(y.shape());
  const float* yp = y.data();
  float* op = out.data();
  const bool round = rounding == Rounding::apply;
  parallel_for(y.numel(), [&](int64_t i0, int64_t i1) {
    const float lo = r.lo, hi = r.hi;
#pragma omp simd
    for (int64_t i = i0; i < i1; ++i)
      op[i] = D * (round ? adc_convert(yp[i], D, lo, hi) : adc_clip_steps(yp[i], D, lo, hi));
  }, 1 << 14);
  return autograd::record("adc_quantize", {y}, out, {"y"}, [y = y.detach(), D, r](BackwardContext& ctx) {
    const float* yv = y.data();
    const float* g = ctx.dout_tensor().data();
    float* dy = ctx.dinput_tensor(0).data();
    parallel_for(y.numel(), [&](int64_t i0, int64_t i1) {
      const float lo = r.lo, hi = r.hi;
#pragma omp simd
      for (int64_t i = i0; i < i1; ++i) dy[i] += adc_clipped(yv[i], D, lo, hi) ? 0.0f : g[i];
    }, 1 << 14);
  });
}

}  // namespace raoq::imc
