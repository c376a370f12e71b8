// tests/imc/test_cost.cpp — the cost model's counts on hand-computed layers (a conv whose K spans
// three row tiles, a linear with more outputs than columns, bit-sliced 8-bit codes), the energy
// proxy's arithmetic, a whole small model measured through the shape probe, and the "cost"
// constants' validation.
#include <cmath>

#include "core/error.h"
#include "imc/cost.h"
#include "imc/imc_model.h"
#include "layers/conv2d.h"
#include "layers/global_avg_pool.h"
#include "layers/linear.h"
#include "layers/relu.h"
#include "layers/sequential.h"
#include "quant/quantize_model.h"
#include "tests/support/testing.h"

using namespace raoq;
using namespace raoq::imc;

TEST_CASE("cost: a conv whose K spans three row tiles", "[imc]") {
  AdcConfig c;
  c.rows = 256, c.cols = 512, c.ba = 6;
  const CostConstants e;  // defaults: 5 fJ/step, 10 fJ per array MAC, 0.23 pJ per digital op
  // 64 -> 100 channels, 3x3: K = 576 = 2.25 tiles of 256 rows -> 3; an 8x8 output: 64 vectors
  const LayerCost l = array_layer_cost("conv", "conv", 576, 100, 64, c, e);
  CHECK(l.row_tiles == 3);
  CHECK(l.column_groups == 1);
  CHECK(l.slice_pairs == 1);
  CHECK(l.arrays == 3);
  CHECK(l.row_use == 0.75);                // 576 / 768
  CHECK(l.column_use == 100.0 / 512.0);
  CHECK(l.conversions == 64 * 100 * 3);    // every tile column, every input vector
  CHECK(l.array_macs == 64.0 * 576 * 100);
  CHECK(l.digital_ops == 64 * 100 * (3 + 2));  // three tile outputs added, then scale and offset
  CHECK(l.energy_adc == Approx(19200 * 5e-15 * 64).epsilon(1e-12));  // 2^6 steps per conversion
  CHECK(l.energy_array == Approx(3686400 * 1e-14).epsilon(1e-12));
  CHECK(l.energy_digital == Approx(32000 * 0.23e-12).epsilon(1e-12));
  CHECK(l.energy() == Approx(6.144e-9 + 3.6864e-8 + 7.36e-9).epsilon(1e-12));
}

TEST_CASE("cost: a linear layer with more outputs than columns", "[imc]") {
  AdcConfig c;  // 512 x 512, ba 8
  const LayerCost l = array_layer_cost("fc", "linear", 300, 1200, 2, c, CostConstants{});
  CHECK(l.row_tiles == 1);
  CHECK(l.column_groups == 3);  // 1200 = 2.34 groups of 512
  CHECK(l.arrays == 3);
  CHECK(l.row_use == 300.0 / 512.0);
  CHECK(l.column_use == 1200.0 / 1536.0);
  CHECK(l.conversions == 2 * 1200);
  CHECK(l.energy_adc == Approx(2400 * 5e-15 * 256).epsilon(1e-12));
}

TEST_CASE("cost: bit-sliced 8-bit codes on 4-bit cells", "[imc]") {
  AdcConfig c;
  c.bx = c.bw = 8, c.mapping = Mapping::bit_sliced, c.slice_bits = 4, c.ba = 8;
  // inputs: two unsigned 4-bit slices; signed 8-bit weights: a signed top slice and 3-bit ones,
  // (8 - 1 + 4 - 2) / 3 = 3 slices: 3 arrays per tile (one per weight slice), each run once per
  // input slice: 2 x 3 = 6 slice pairs, each converted
  const LayerCost l = array_layer_cost("fc", "linear", 100, 10, 1, c, CostConstants{});
  CHECK(l.weight_slices == 3);
  CHECK(l.slice_pairs == 6);
  CHECK(l.arrays == 3);
  CHECK(l.conversions == 10 * 6);
  CHECK(l.array_macs == 1000);
  CHECK(l.energy_array == Approx(1000 * 6 * 1e-14).epsilon(1e-12));  // each MAC once per slice pair
  CHECK(l.digital_ops == 10 * (6 + 2));
}

TEST_CASE("cost: a small model measured through its forward", "[imc]") {
  auto net = std::make_shared<Sequential>(std::initializer_list<std::shared_ptr<Module>>{
      std::make_shared<Conv2d>(3, 8, 3, ops::Conv2dOptions{.padding = 1}), std::make_shared<ReLU>(),
      std::make_shared<Conv2d>(8, 16, 3, ops::Conv2dOptions{.padding = 1}), std::make_shared<ReLU>(),
      std::make_shared<GlobalAvgPool>(), std::make_shared<Linear>(16, 4)});
  quant::quantize_model(*net);
  ImcRules rules;
  rules.base.rows = 64, rules.base.ba = 7;
  REQUIRE(to_imc(*net, rules) == std::vector<std::string>{"2"});  // the first and last layers stay digital
  const Tensor x = testing::uniform({2, 3, 6, 6}, -1.0f, 1.0f, 3, false);
  const CostConstants e;
  const ModelCost cost = model_cost(*net, x, e);
  REQUIRE(cost.layers.size() == 4);  // conv 0, conv 2, linear 5, the other layers
  CHECK(cost.layers[0].path == "0");
  CHECK_FALSE(cost.layers[0].on_array);
  CHECK(cost.layers[0].digital_ops == 36.0 * 27 * 8);  // per sample, not per batch of 2
  const LayerCost& a = cost.layers[1];
  CHECK(a.path == "2");
  CHECK(a.on_array);
  CHECK(a.K == 72);
  CHECK(a.N == 16);
  CHECK(a.vectors == 36);
  CHECK(a.row_tiles == 2);  // 72 rows on 64-row arrays
  CHECK(a.conversions == 36 * 16 * 2);
  CHECK(a.config.ba == 7);
  CHECK(cost.layers[2].digital_ops == 16 * 4);
  CHECK(cost.layers[3].kind == "other");
  CHECK(cost.layers[3].digital_ops == 8 * 36 + 16 * 36 + 16);  // two ReLUs and the pool's outputs
  CHECK(cost.total.arrays == 2);
  CHECK(cost.total.conversions == a.conversions);
  CHECK(cost.total.energy() == Approx(cost.layers[0].energy() + a.energy() + cost.layers[2].energy() +
                                      cost.layers[3].energy()).epsilon(1e-12));
  std::ostringstream os;
  print_cost(os, cost, e);
  CHECK_THAT(os.str(), Catch::Contains("energy proxy, not a measurement"));
  CHECK_THAT(os.str(), Catch::Contains("2x1x1"));
}

TEST_CASE("cost: constants must be positive; probes do not nest", "[imc]") {
  CostConstants c;
  c.array_mac = 0;
  CHECK_THROWS_WITH(c.validate(), Catch::Equals("cost.array_mac must be > 0 (got 0)"));
  ShapeProbe outer;
  CHECK_THROWS_WITH(ShapeProbe(), Catch::Contains("a probe is already active"));
}
