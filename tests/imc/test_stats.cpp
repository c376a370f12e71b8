// tests/imc/test_stats.cpp — per-layer IMC statistics against independent computations.
#include <cmath>
#include <sstream>

#include "core/autograd.h"
#include "core/distributed.h"
#include "imc/imc_conv2d.h"
#include "imc/imc_linear.h"
#include "imc/imc_model.h"
#include "imc/stats.h"
#include "layers/sequential.h"
#include "tests/imc/imc_testing.h"
#include "tests/support/testing.h"

using namespace raoq;
using namespace raoq::imc;
using raoq::testing::set_quantizers;

TEST_CASE("stats: an ImcLinear's figures match independent computations", "[imc]") {
  quant::QuantLinear qat(1024, 4, false, quant::QuantOptions{});
  set_quantizers(*qat.act_quant, *qat.weight_quant, 0.1f, -0.2f, 0.01f);
  AdcConfig hw;
  hw.ba = 6;  // coarse enough that some sums clip
  auto layer = ImcLinear::from(qat, hw);
  auto net = std::make_shared<Sequential>(std::initializer_list<std::shared_ptr<Module>>{layer});
  const Tensor x = testing::uniform({64, 1024}, -0.2f, 1.0f, 1, false);
  LayerSummary s;
  {
    StatsSession session(*net);
    autograd::NoGradGuard ng;
    net->forward(x);
    s = session.summaries().at(0);
  }
  REQUIRE(layer->stats == nullptr);  // detached
  CHECK(s.path == "0");
  CHECK(s.tiles == 2);
  CHECK(s.arrays == 2);
  CHECK(s.row_utilisation == 1.0);
  REQUIRE(s.conversions == 64 * 4 * 2);
  CHECK(s.adc_inputs.total() == s.conversions);
  CHECK(s.weight_codes.total() == 4 * 1024);

  // Independent: codes, per-tile column sums in steps, with and without the shift.
  autograd::NoGradGuard ng;
  const Tensor xq = quant::lsq_codes(x, Tensor::scalar(0.1f), Tensor::scalar(-0.2f), quant::unsigned_codes(4));
  const Tensor wq = quant::lsq_codes(layer->weight, Tensor::scalar(0.01f), Tensor(), quant::symmetric_codes(4));
  const double D = adc_step(layer->layer_config());
  REQUIRE(D == Approx(2.0 * 512 * 7 * 7 / (64 * 4)));
  double n = 0, sy = 0, syy = 0, su = 0, suu = 0, se = 0, clipped = 0, xs2 = 0, xq2 = 0;
  for (int64_t m = 0; m < 64; ++m)
    for (int64_t c = 0; c < 4; ++c)
      for (int64_t t = 0; t < 2; ++t) {
        double ys = 0, yu = 0;
        for (int64_t k = t * 512; k < (t + 1) * 512; ++k) {
          ys += (xq.data()[m * 1024 + k] - 8) * wq.data()[c * 1024 + k];
          yu += xq.data()[m * 1024 + k] * wq.data()[c * 1024 + k];
        }
        const float code = adc_convert(float(ys), float(D), -32, 31);  // exact integer sums
        clipped += adc_clipped(float(ys), float(D), -32, 31);
        ys /= D, yu /= D;
        n += 1, sy += ys, syy += ys * ys, su += yu, suu += yu * yu;
        se += code - ys;
      }
  for (int64_t i = 0; i < xq.numel(); ++i) xs2 += std::pow(xq.data()[i] - 8, 2), xq2 += std::pow(xq.data()[i], 2);
  CHECK(s.adc_input_var_steps == Approx(syy / n - std::pow(sy / n, 2)).epsilon(1e-9));
  CHECK(s.adc_input_var_steps_unshifted == Approx(suu / n - std::pow(su / n, 2)).epsilon(1e-9));
  CHECK(s.mean_error_steps == Approx(se / n).epsilon(1e-9));
  CHECK(s.clip_fraction == Approx(clipped / n));
  CHECK(s.xs_second_moment == Approx(xs2 / double(xq.numel())));
  CHECK(s.xq_second_moment == Approx(xq2 / double(xq.numel())));
  CHECK(s.mean_error_steps < 0);
  // Each column's constant A-shift offset inflates the all-values figure over the centred one.
  CHECK(s.sqnr_db_all > s.sqnr_db_centered);
  CHECK(s.adc_input_var_steps >= s.adc_input_var_steps_centered);

  std::ostringstream os;
  print_stats(os, {s});
  CHECK_THAT(os.str(), Catch::Contains("SQNR-c") && Catch::Contains("each array column's mean removed"));
}

TEST_CASE("stats: an ImcConv2d counts one conversion per image, position, channel and tile", "[imc]") {
  quant::QuantConv2d qat(8, 3, 3, {.padding = 1}, true, quant::QuantOptions{});
  set_quantizers(*qat.act_quant, *qat.weight_quant, 0.1f, -0.2f, 0.05f);
  AdcConfig hw;
  hw.rows = 64;  // K = 72: two tiles, the second one 8 rows
  auto layer = ImcConv2d::from(qat, hw);
  auto net = std::make_shared<Sequential>(std::initializer_list<std::shared_ptr<Module>>{layer});
  StatsSession session(*net);
  autograd::NoGradGuard ng;
  net->forward(testing::uniform({2, 8, 5, 5}, -0.2f, 1.0f, 2, false));
  net->forward(testing::uniform({1, 8, 5, 5}, -0.2f, 1.0f, 3, false));
  const LayerSummary s = session.summaries().at(0);
  CHECK(s.conversions == 3 * 25 * 3 * 2);
  CHECK(s.tiles == 2);
  CHECK(s.row_utilisation == Approx(72.0 / 128));
  CHECK(s.adc_inputs.total() == s.conversions);
  CHECK(std::isfinite(s.sqnr_db_centered_unshifted));
  CHECK(s.wq_var > 0);
}

TEST_CASE("stats: two ranks' halves of the examples summarise as one process over all of them", "[imc]") {
  quant::QuantLinear qat(1024, 4, false, quant::QuantOptions{});
  set_quantizers(*qat.act_quant, *qat.weight_quant, 0.1f, -0.2f, 0.01f);
  AdcConfig hw;
  hw.ba = 6;
  hw.k = 64;  // a narrow ADC range: some sums clip
  const Tensor x = testing::uniform({64, 1024}, -0.2f, 1.0f, 3, false);
  const auto summarise = [&](int64_t lo, int64_t hi) {
    auto net = std::make_shared<Sequential>(std::initializer_list<std::shared_ptr<Module>>{ImcLinear::from(qat, hw)});
    StatsSession session(*net);
    autograd::NoGradGuard ng;
    Tensor part = Tensor::empty({hi - lo, 1024});
    std::copy(x.data() + lo * 1024, x.data() + hi * 1024, part.data());
    net->forward(part);
    return session.summaries().at(0);
  };
  const LayerSummary one = summarise(0, 64);
  std::vector<LayerSummary> ranks(2);
  dist::run_emulated_ranks(2, [&](int r) { ranks[size_t(r)] = summarise(32 * r, 32 * (r + 1)); });
  for (const LayerSummary& s : ranks) {
    CHECK(s.conversions == one.conversions);
    CHECK(s.adc_inputs.counts == one.adc_inputs.counts);
    CHECK(s.adc_inputs.below == one.adc_inputs.below);
    CHECK(s.adc_inputs.above == one.adc_inputs.above);
    CHECK(s.weight_codes.counts == one.weight_codes.counts);  // the weights once, not once per rank
    CHECK(s.clip_fraction == one.clip_fraction);
    CHECK(s.clip_fraction > 0);
    CHECK(s.sqnr_db_centered == Approx(one.sqnr_db_centered).epsilon(1e-9));
    CHECK(s.sqnr_db_all == Approx(one.sqnr_db_all).epsilon(1e-9));
    CHECK(s.adc_input_var_steps == Approx(one.adc_input_var_steps).epsilon(1e-9));
    CHECK(s.xs_second_moment == Approx(one.xs_second_moment).epsilon(1e-12));
    CHECK(s.wq_var == one.wq_var);
  }
}
