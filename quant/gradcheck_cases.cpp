// quant/gradcheck_cases.cpp — quant's gradient-check cases (see gradcheck_cases.h).
//
// Rounding is skipped in the quantizer cases: finite differences of round() are 0 or infinite, and
// the un-rounded expression's exact gradient is the declared STE/LSQ surrogate (lsq.h), so the
// check tests that surrogate -- except LSQ's in-range step-size term round(v) - v, which is
// identically 0 once rounding is skipped. The '*' in those cases' names says so (raoq gradcheck
// prints the footnote); tests/quant/test_lsq.cpp pins that term by hand ("lsq_fake_quant: ds
// inside the range is round(v) - v"). Clip bounds are kept at least 0.4 codes from every input, beyond
// the stencil's reach (2h / s < 0.05 codes), so the zero part of the mask is checked without a
// finite difference straddling a kink.
#include "quant/gradcheck_cases.h"

#include <cmath>

#include "core/rng.h"
#include "quant/ashift.h"
#include "quant/dequantize.h"
#include "quant/lsq.h"
#include "quant/wreshape.h"

namespace raoq::quant {

std::vector<float> codes_away_from_bounds(int64_t n, CodeRange r, float gap, uint64_t seed) {
  Generator gen(seed);
  std::vector<float> v;
  while (int64_t(v.size()) < n) {
    const float c = r.lo - 2 + gen.uniform01() * (r.hi - r.lo + 4);
    if (std::fabs(c - r.lo) > gap && std::fabs(c - r.hi) > gap) v.push_back(c);
  }
  return v;
}

namespace {
// x = beta + s * v for the codes v above.
std::vector<float> inputs_for_codes(int64_t n, CodeRange r, float s, float beta, uint64_t seed) {
  std::vector<float> x;
  for (float v : codes_away_from_bounds(n, r, 0.4f, seed)) x.push_back(beta + s * v);
  return x;
}
using gradcheck_inputs::uniform;
using gradcheck_inputs::values;
using In = std::vector<Tensor>;

Tensor scalar_param(float v) { return Tensor::scalar(v).set_requires_grad(true); }

void add_lsq(GradcheckCases& c) {
  c.push_back({"lsq_codes", "LSQ+ per tensor, signed 3-bit, rounding skipped*",
               [] { return In{values(inputs_for_codes(24, signed_codes(3), 0.8f, 0.3f, 11), {4, 6}), scalar_param(0.8f),
                              scalar_param(0.3f)}; },
               [](const In& in) { return lsq_codes(in[0], in[1], in[2], signed_codes(3), Rounding::skip); }});
  c.push_back({"lsq_codes", "unsigned 4-bit with the -1/1 A-shift map (gain 2, shift 15), rounding skipped*",
               // (x - beta)/s in [1, 13]: inside [0, 15], away from the bounds.
               [] { return In{uniform({3, 5}, 0.2f, 2.0f, 42), scalar_param(0.15f), scalar_param(0.05f)}; },
               [](const In& in) { return lsq_codes(in[0], in[1], in[2], unsigned_codes(4), Rounding::skip, 2.0f, 15.0f); }});
  c.push_back({"lsq_fake_quant", "LSQ weights per channel, symmetric 3-bit, rounding skipped*",
               [] {
                 const std::vector<float> sv = {0.9f, 0.5f};
                 const auto v = codes_away_from_bounds(20, symmetric_codes(3), 0.4f, 14);
                 std::vector<float> xv(20);
                 for (size_t i = 0; i < 20; ++i) xv[i] = sv[i / 10] * v[i];
                 return In{values(xv, {2, 10}), values(sv, {2})};
               },
               [](const In& in) { return lsq_fake_quant(in[0], in[1], Tensor(), symmetric_codes(3), Rounding::skip); }});
  c.push_back({"lsq_fake_quant", "LSQ+ per tensor with offset, unsigned 3-bit, rounding skipped*",
               [] { return In{values(inputs_for_codes(24, unsigned_codes(3), 0.7f, -0.2f, 13), {24}), scalar_param(0.7f),
                              scalar_param(-0.2f)}; },
               [](const In& in) { return lsq_fake_quant(in[0], in[1], in[2], unsigned_codes(3), Rounding::skip); }});
  c.push_back({"scale_floor", "scales above the floor", [] { return In{uniform({5}, 0.2f, 2.0f, 21)}; },
               [](const In& in) { return scale_floor(in[0]); }});
  // g = 1 only: with g != 1 the op deliberately differs from finite differences (LSQ's gradient
  // scale is its purpose); tests/quant pins that case element by element.
  c.push_back({"grad_scale", "g = 1 (identity both ways)", [] { return In{uniform({3, 4}, -2.0f, 2.0f, 22)}; },
               [](const In& in) { return grad_scale(in[0], 1.0f); }});
}

void add_ashift_dequantize(GradcheckCases& c) {
  c.push_back({"a_shift", "-1/1 map (gain 2)", [] { return In{uniform({3, 5}, 0.0f, 15.0f, 31)}; },
               [](const In& in) { return a_shift(in[0], a_shift_map(4, Representation::minus_one_one)); }});
  c.push_back({"ashift_correct", "gain 2, shift 15", [] { return In{uniform({4, 3}, -5.0f, 5.0f, 32), uniform({3, 6}, -1.0f, 1.0f, 33)}; },
               [](const In& in) { return ashift_correct(in[0], in[1], {2.0f, 15.0f}); }});
  c.push_back({"window_weight_sums", "3x3 kernel, padding 1, stride 2", [] { return In{uniform({2, 2, 3, 3}, -1.0f, 1.0f, 21)}; },
               [](const In& in) { return window_weight_sums(in[0], 5, 4, {.stride = 2, .padding = 1}); }});
  c.push_back({"dequantize_product", "conv layout, per-channel s_w, offset and bias",
               [] {
                 return In{uniform({2, 3, 4}, -3.0f, 3.0f, 31), uniform({3, 4}, -2.0f, 2.0f, 32), uniform({}, 0.3f, 0.6f, 33),
                           uniform({3}, 0.2f, 0.9f, 34),        uniform({}, -0.5f, 0.5f, 35), uniform({3}, -1.0f, 1.0f, 36)};
               },
               [](const In& in) { return dequantize_product(in[0], 1, in[1], in[2], in[3], in[4], in[5], ShiftMap{1.0f, 8.0f}); }});
  c.push_back({"kurtosis", "24 normal values", [] { return In{gradcheck_inputs::randn({4, 6}, 41)}; },
               [](const In& in) { return kurtosis(in[0]); }});
  c.push_back({"wreshape_loss", "three layers, Eq. 13 weights",
               [] { return In{uniform({}, 1.0f, 4.0f, 42), uniform({}, 1.0f, 4.0f, 43), uniform({1}, 1.0f, 4.0f, 44)}; },
               [](const In& in) { return wreshape_loss(in, 0.01f, 2); }});
}
}  // namespace

void add_gradcheck_cases(GradcheckCases& cases) {
  add_lsq(cases);
  add_ashift_dequantize(cases);
}

}  // namespace raoq::quant
