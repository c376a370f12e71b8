// tests/imc/test_adc.cpp — the ADC step D of Eq. 3, exact ADC codes on hand-computed cases, the
// straight-through mask, configuration checks, and the gradient check of the un-floored ADC.
#include <cmath>
#include <sstream>

#include "core/error.h"
#include "imc/adc.h"
#include "tests/quant/backward_with.h"
#include "tests/support/testing.h"

using namespace raoq;
using namespace raoq::imc;

namespace {
std::vector<float> codes_of(const Tensor& y, float D) {
  std::vector<float> c;
  for (float v : y.to_vector()) c.push_back(v / D);
  return c;
}
}  // namespace

TEST_CASE("adc_step: D = 2 rows xr (2^(bw-1)-1) / (2^ba k) with xr set by the array's inputs", "[imc]") {
  AdcConfig c;  // rows 512, bx = bw = 4, ba 8, k 4, signed input
  CHECK(adc_step(c) == 49.0f);  // 2*512*7*7 / (256*4)
  c.signed_input = false;
  CHECK(adc_step(c) == 105.0f);  // 2*512*15*7 / (256*4)
  c.signed_input = true;
  c.representation = Representation::minus_one_one;
  CHECK(adc_step(c) == 105.0f);  // -1/1 inputs reach 2^bx - 1
  c = AdcConfig{};
  c.ba = 9;
  CHECK(adc_step(c) == 24.5f);
  c = AdcConfig{};
  c.bx = c.bw = 8;  // direct mapping: Eq. 3 with the layer's own bits
  CHECK(adc_step(c) == Approx(2.0 * 512 * 127 * 127 / (256 * 4)));
  c.mapping = Mapping::bit_sliced;  // native 4-bit slices
  CHECK(adc_step(c) == 49.0f);
  c = AdcConfig{};
  c.rows = 256;  // D depends on the hardware rows, never on a layer's K
  CHECK(adc_step(c) == 24.5f);
}

TEST_CASE("adc_quantize: signed-input array, D = 49: {0, 48, 49, -50, 1e6} -> {0, 0, 1, -2, 127}", "[imc]") {
  const Tensor y = Tensor::from_vector({0, 48, 49, -50, 1e6f, -1e6f}, {6});
  REQUIRE(codes_of(adc_quantize(y, 49.0f, 8), 49.0f) == std::vector<float>{0, 0, 1, -2, 127, -128});
}

TEST_CASE("adc_convert: Eq. 2 on one column sum, a true division, and the clip flag at the bounds", "[imc]") {
  const float D = 49.0f, lo = -128.0f, hi = 127.0f;
  std::vector<float> codes;
  for (float y : {0.0f, 48.0f, 49.0f, -50.0f, 1e6f, -1e6f}) codes.push_back(adc_convert(y, D, lo, hi));
  CHECK(codes == std::vector<float>{0, 0, 1, -2, 127, -128});
  // 41 * (1/41) is 0.99999994 in float: a multiplication by the reciprocal would give code 0.
  CHECK(adc_convert(41.0f, 41.0f, lo, hi) == 1.0f);
  CHECK(adc_convert(-41.0f, 41.0f, lo, hi) == -1.0f);
  CHECK(adc_clip_steps(-50.0f, D, lo, hi) == -50.0f / 49.0f);  // un-floored
  CHECK(adc_clip_steps(1e6f, D, lo, hi) == hi);
  // Inside up to and including the bounds; a NaN is never inside.
  CHECK_FALSE(adc_clipped(127 * D, D, lo, hi));
  CHECK(adc_clipped(127 * D + 1, D, lo, hi));
  CHECK_FALSE(adc_clipped(-128 * D, D, lo, hi));
  CHECK(adc_clipped(-128 * D - 1, D, lo, hi));
  CHECK(adc_clipped(std::nanf(""), D, lo, hi));
}

TEST_CASE("adc_quantize: unsigned-input array, D = 105: {0, 104, 105, -106, 1e6} -> {0, 0, 1, -2, 127}", "[imc]") {
  AdcConfig c;
  c.signed_input = false;
  const float D = adc_step(c);
  REQUIRE(D == 105.0f);
  const Tensor y = Tensor::from_vector({0, 104, 105, -106, 1e6f}, {5});
  REQUIRE(codes_of(adc_quantize(y, D, c.ba), D) == std::vector<float>{0, 0, 1, -2, 127});
}

TEST_CASE("adc_quantize: straight-through mask pinned at the clip bounds", "[imc]") {
  // y/D = 127 and -128 are inside (gradient 1); just beyond them is outside (gradient 0).
  const Tensor y = Tensor::from_vector({0, 48, -50, 127 * 49.0f, 127 * 49.0f + 1, -128 * 49.0f, -128 * 49.0f - 1, 1e6f},
                                       {8})
                       .set_requires_grad(true);
  const Tensor out = adc_quantize(y, 49.0f, 8);
  CHECK(codes_of(out, 49.0f) == std::vector<float>{0, 0, -2, 127, 127, -128, -128, 127});
  testing::backward_with(out, {1, 2, 3, 4, 5, 6, 7, 8});
  CHECK(y.grad().to_vector() == std::vector<float>{1, 2, 3, 4, 0, 6, 0, 0});
}

RAOQ_GRADCHECK_CASE("adc_quantize", "floor skipped (the straight-through gradient is then exact)", "[imc]") {
  // ba = 3: the range is y/D in [-4, 3]; values sit at least 0.3 steps from both bounds, beyond the
  // reach of the finite-difference stencil (|dy| <= 0.02).
  const std::vector<float> v = {-5.5f, -3.2f, -1.7f, -0.4f, 0.6f, 1.3f, 2.2f, 2.6f, 3.5f, 6.0f, -4.6f, 0.0f};
  std::vector<float> y;
  for (float e : v) y.push_back(1.5f * e);
  const Tensor t = Tensor::from_vector(y, {3, 4}).set_requires_grad(true);
  RAOQ_REQUIRE_GRADCHECK(
      "adc_quantize", [](const std::vector<Tensor>& in) { return adc_quantize(in[0], 1.5f, 3, Rounding::skip); }, {t});
}

TEST_CASE("AdcConfig::validate: one-line errors naming the field", "[imc]") {
  AdcConfig c;
  c.k = 0;
  REQUIRE_THROWS_WITH(c.validate("stages[1].adc"), "stages[1].adc.k must be a positive integer (got 0)");
  c = AdcConfig{};
  c.signed_input = false;
  c.representation = Representation::minus_one_one;
  REQUIRE_THROWS_WITH(c.validate(), Catch::Contains("adc.signed_input must be true"));
  c = AdcConfig{};
  c.bx = c.bw = 8;
  c.rows = 2048;  // 2048 * 128 * 127 column sums no longer fit float exactly
  REQUIRE_THROWS_WITH(c.validate(), Catch::Contains("reaches 2^24"));
  c.mapping = Mapping::bit_sliced;  // 4-bit slices: fine
  REQUIRE_NOTHROW(c.validate());
  c = AdcConfig{};
  c.output_noise = -1;
  REQUIRE_THROWS_WITH(c.validate(), Catch::Contains("adc.output_noise must be >= 0"));
  REQUIRE_THROWS_WITH(mapping_from_string("sliced"), Catch::Contains("\"direct\" or \"bit_sliced\""));
}

TEST_CASE("AdcConfig: one line that says when the ADC is off", "[imc]") {
  AdcConfig c;
  std::ostringstream on, off;
  on << c;
  c.enabled = false;
  off << c;
  CHECK_THAT(on.str(), Catch::StartsWith("rows 512 cols 512 bx 4 bw 4 ba 8 k 4 signed-input zero_one direct"));
  CHECK_THAT(on.str(), !Catch::Contains("adc off"));
  CHECK_THAT(off.str(), Catch::EndsWith(" adc off"));
}

TEST_CASE("array geometry: row tiles and arrays used", "[imc]") {
  AdcConfig c;
  CHECK(row_tiles(c, 512) == 1);
  CHECK(row_tiles(c, 513) == 2);
  CHECK(row_tiles(c, 1152) == 3);
  CHECK(arrays_used(c, 1152, 600) == 3 * 2);
  c.bx = c.bw = 8;
  c.mapping = Mapping::bit_sliced;  // 2 input slices x 3 weight slices (sign + 3 magnitude bits each)
  CHECK(input_slices(c) == 2);
  CHECK(weight_slices(c) == 3);
  CHECK(slice_pairs(c) == 6);
  CHECK(arrays_used(c, 100, 10) == 3);  // one array per weight slice; the input slices are passes over it
}
