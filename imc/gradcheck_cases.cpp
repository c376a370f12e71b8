// imc/gradcheck_cases.cpp — imc's gradient-check cases (see gradcheck_cases.h).
//
// The ADC's floor is skipped (Rounding::skip): finite differences of floor are 0 or infinite, and
// the un-floored clip's exact gradient is the declared straight-through one (adc.h: 1 inside the
// clip range, 0 outside). Every column sum sits at least 0.15 D from a clip bound, beyond the
// stencil's reach, so clipped conversions check the zero part of the mask without straddling it.
#include "imc/gradcheck_cases.h"

#include "imc/adc.h"
#include "imc/array_product.h"

namespace raoq::imc {
namespace {
using gradcheck_inputs::uniform;
using gradcheck_inputs::values;
using In = std::vector<Tensor>;

// rows 4, ba 3, k 2: D = 2*4*7*7/(8*2) = 24.5 and y/D in [-4, 3]. With K = 10 the product runs as
// 3 row tiles; two of the 18 tile sums (5.88 D, -4.16 D) clip. tests/imc/test_array_product.cpp
// checks these margins on the same numbers.
const std::vector<float> kXs = {6, 6, 6, 6, 6, -5, 3, -2, 1, -6, -6, -6, -6, 1, 4, 5, 1, -2, 3, 0};  // (2, 10)
const std::vector<float> kWq = {6, 6, 6, 6, 1, 2, -3, 4, 2, 1, -5, 3, 2, -1, 6,
                                -6, 1, 1, -2, 3, 1, 2, 3, 4, 5, 6, -6, -5, -4, 3};                  // (3, 10)
AdcConfig small_array() {
  AdcConfig c;
  c.rows = 4, c.ba = 3, c.k = 2;
  return c;
}
ArrayProductOptions floor_skipped() {
  ArrayProductOptions opt;
  opt.rounding = Rounding::skip;
  return opt;
}
}  // namespace

void add_gradcheck_cases(GradcheckCases& c) {
  // ba = 3 (y/D in [-4, 3]) with D = 1.5; every value 0.3 steps or more from both bounds, four clipped.
  c.push_back({"adc_quantize", "ba 3, D 1.5, floor skipped, four of twelve clipped",
               [] {
                 std::vector<float> y;
                 for (float e : {-5.5f, -3.2f, -1.7f, -0.4f, 0.6f, 1.3f, 2.2f, 2.6f, 3.5f, 6.0f, -4.6f, 0.0f}) y.push_back(1.5f * e);
                 return In{values(y, {3, 4})};
               },
               [](const In& in) { return adc_quantize(in[0], 1.5f, 3, Rounding::skip); }});
  c.push_back({"array_product", "matrix, 3 row tiles, two sums clipped, floor skipped",
               [] { return In{values(kXs, {2, 10}), values(kWq, {3, 10})}; },
               [](const In& in) { return array_product(in[0], in[1], small_array(), ArrayGeometry::matrix(), floor_skipped()); }});
  c.push_back({"array_product", "batched (two groups), floor skipped",
               [] {
                 std::vector<float> w2 = kWq;
                 w2.insert(w2.end(), kWq.begin(), kWq.end());
                 return In{values(kXs, {2, 1, 10}), values(w2, {2, 3, 10})};
               },
               [](const In& in) { return array_product(in[0], in[1], small_array(), ArrayGeometry::batched(), floor_skipped()); }});
  // K = 2*3*3 = 18 over rows 9: two tiles. ba 8, k 1: D = 2*9*7*7/256 = 3.4453125, range y/D in
  // [-128, 127], beyond any |y| <= 9*7*6.5: nothing clips, no stencil step crosses a kink.
  c.push_back({"array_product", "conv patches, padding 1, 2 row tiles, floor skipped",
               [] { return In{uniform({1, 2, 3, 3}, -6.5f, 6.5f, 41), uniform({2, 2, 3, 3}, -6.0f, 6.0f, 42)}; },
               [](const In& in) {
                 AdcConfig cfg;
                 cfg.rows = 9, cfg.ba = 8, cfg.k = 1;
                 return array_product(in[0], in[1], cfg, ArrayGeometry::patches({.padding = 1}), floor_skipped());
               }});
}

}  // namespace raoq::imc
