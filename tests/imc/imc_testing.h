// tests/imc/imc_testing.h — random codes the array accepts, for the array product's tests.
#pragma once

#include <cmath>
#include <cstdint>

#include "core/tensor.h"
#include "core/parallel.h"
#include "core/rng.h"
#include "imc/array_product.h"
#include "imc/input_map.h"
#include "quant/ashift.h"
#include "quant/quantizer.h"
#include "tests/support/testing.h"

namespace raoq::testing {

// Input codes the array accepts for config c (input_map.h): uniform over the range, or for -1/1
// inputs the A-shift of uniform unsigned codes 0 .. 2^bx - 1 (odd values).
inline Tensor input_codes(const Shape& shape, const imc::AdcConfig& c, uint64_t seed) {
  const imc::InputCodes in = imc::accepted_inputs(c);
  if (!in.odd_only) return random_codes(shape, in.lo, in.hi, seed);
  return quant::a_shift(random_codes(shape, 0, std::ldexp(1.0f, c.bx) - 1, seed),
                        quant::a_shift_map(c.bx, quant::Representation::minus_one_one));
}

// Symmetric bw-bit weight codes, uniform over [-(2^(bw-1) - 1), 2^(bw-1) - 1].
inline Tensor weight_codes(const Shape& shape, int bw, uint64_t seed) {
  const float q = std::ldexp(1.0f, bw - 1) - 1;
  return random_codes(shape, -q, q, seed);
}

// The product with analog noise twice from equal generators, at the current thread count and at
// one thread: the noise streams must not depend on how the work is shared out. Returns it.
inline Tensor noisy_product_at_any_thread_count(const Tensor& xs, const Tensor& wq, const imc::AdcConfig& c,
                                                const imc::ArrayGeometry& geometry) {
  Generator g1(77), g2(77);
  imc::ArrayProductOptions o1, o2;
  o1.noise = &g1, o2.noise = &g2;
  const Tensor a = imc::array_product(xs, wq, c, geometry, o1);
  Tensor b;
  {
    const ThreadCountGuard restore;
    set_num_threads(1);
    b = imc::array_product(xs, wq, c, geometry, o2);
  }
  REQUIRE(a.to_vector() == b.to_vector());
  return a;
}

// Fixes a layer's quantizers: activation scale sx and offset beta, every weight scale sw, both
// marked initialised (so the first forward does not re-initialise them from data).
inline void set_quantizers(quant::ActQuantizer& a, quant::WeightQuantizer& w, float sx, float beta, float sw) {
  a.scale.data()[0] = sx;
  if (a.beta.defined()) a.beta.data()[0] = beta;
  a.init.data()[0] = 1;
  for (int64_t i = 0; i < w.scale.numel(); ++i) w.scale.data()[i] = sw;
  w.init.data()[0] = 1;
}

}  // namespace raoq::testing
