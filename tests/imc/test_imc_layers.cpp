// tests/imc/test_imc_layers.cpp — ImcConv2d / ImcLinear: exact dequantization against the naive
// reference, equality with the QAT layer when the ADC is off (A-shift, -1/1, vanilla signed codes,
// padding), whole-layer gradient checks, checkpoint compatibility, to_imc rules, the model-wide
// switches and the array input map.
#include <cmath>

#include "core/autograd.h"
#include "core/ops.h"
#include "core/rng.h"
#include "imc/array_product.h"
#include "quant/dequantize.h"
#include "imc/imc_conv2d.h"
#include "imc/imc_linear.h"
#include "imc/imc_model.h"
#include "imc/input_map.h"
#include "layers/relu.h"
#include "layers/sequential.h"
#include "quant/quantize_model.h"
#include "tests/imc/imc_testing.h"
#include "tests/support/testing.h"

using namespace raoq;
using namespace raoq::imc;
using raoq::testing::set_quantizers;

namespace {
void require_close(const Tensor& a, const Tensor& b, double tol) {
  REQUIRE(a.shape() == b.shape());
  for (int64_t i = 0; i < a.numel(); ++i) REQUIRE(a.data()[i] == Approx(b.data()[i]).margin(tol));
}
// Bit for bit: the array's exact integer sums and the QAT layer's float product of the codes meet
// in the same dequantization (quant/dequantize.h).
void require_same_bits(const Tensor& a, const Tensor& b) {
  REQUIRE(a.shape() == b.shape());
  REQUIRE(a.to_vector() == b.to_vector());
}
}  // namespace

TEST_CASE("ImcConv2d: with the ADC off it is the QAT layer bit for bit (A-shift, -1/1, vanilla, Winograd)",
          "[imc]") {
  const int variant = GENERATE(0, 1, 2, 3, 4);
  quant::QuantOptions q;
  AdcConfig hw;
  hw.enabled = false;
  if (variant == 1) hw.representation = Representation::minus_one_one;
  if (variant == 2) q.act_signed = true, q.act_offset = false;  // vanilla QAT*: signed codes, no offset
  CAPTURE(variant);
  // variants 3 and 4: 16 channels in and out, so both sides may take their Winograd kernels (float
  // F(2x2, 3x3) on the codes in QAT, the exact integer one on the array); 4: 8-bit codes, beyond
  // float Winograd's exact range (4 * 81 * 16 * 127 * 255 > 2^24): QAT takes the GEMM path
  if (variant == 4) q.bx = q.bw = 8;
  const int64_t C = variant >= 3 ? 16 : 3, N = variant >= 3 ? 16 : 4;
  quant::QuantConv2d qat(C, N, 3, {.stride = 1, .padding = 1}, true, q);
  if (variant == 4) set_quantizers(*qat.act_quant, *qat.weight_quant, 0.005f, -0.3f, 0.002f);  // wide codes
  else set_quantizers(*qat.act_quant, *qat.weight_quant, 0.1f, -0.3f, 0.05f);
  auto imc = ImcConv2d::from(qat, hw);
  const Tensor x = testing::uniform({2, C, 5, 6}, -0.5f, 1.2f, 1, false);
  // Padding included: the border outputs use fewer taps, and the digital A-shift term follows them.
  require_same_bits(imc->forward(x), qat.forward(x));
}

TEST_CASE("ImcConv2d: exact dequantization of the per-tile ADC against the naive reference", "[imc]") {
  AdcConfig hw;
  hw.rows = 16, hw.ba = 6;  // K = 27: two tiles, a coarse ADC
  quant::QuantConv2d qat(3, 5, 3, {.padding = 1}, true, quant::QuantOptions{});
  set_quantizers(*qat.act_quant, *qat.weight_quant, 0.1f, -0.3f, 0.05f);
  auto layer = ImcConv2d::from(qat, hw);
  const Tensor x = testing::uniform({2, 3, 4, 4}, -0.5f, 1.2f, 2, false);
  const Tensor y = layer->forward(x);
  // By hand: codes, shift, reference product, then s_x s_w (acc + 8 S) + beta s_w S + bias.
  autograd::NoGradGuard ng;
  const Tensor xq = quant::lsq_codes(x, Tensor::scalar(0.1f), Tensor::scalar(-0.3f), quant::unsigned_codes(4));
  const Tensor wq = quant::lsq_codes(qat.weight, Tensor::scalar(0.05f), Tensor(), quant::symmetric_codes(4));
  const Tensor xs = quant::a_shift(xq, quant::a_shift_map(4, Representation::zero_one));
  const Tensor acc = array_product_reference(xs, wq, layer->layer_config(), ArrayGeometry::patches({.padding = 1}));
  const Tensor S = quant::window_weight_sums(wq, 4, 4, {.padding = 1});
  Tensor expected = Tensor::empty(acc.shape());
  for (int64_t b = 0; b < 2; ++b)
    for (int64_t n = 0; n < 5; ++n)
      for (int64_t p = 0; p < 16; ++p) {
        const int64_t i = (b * 5 + n) * 16 + p;
        const double s = S.data()[n * 16 + p];
        expected.data()[i] = float(0.1 * 0.05 * (acc.data()[i] + 8 * s) + -0.3 * 0.05 * s + qat.bias.data()[n]);
      }
  require_close(y, expected, 1e-5);
}

TEST_CASE("ImcLinear: ADC off == QAT layer bit for bit, ADC on == naive reference, leading dimensions kept", "[imc]") {
  quant::QuantLinear qat(600, 3, true, quant::QuantOptions{.per_channel = true});
  set_quantizers(*qat.act_quant, *qat.weight_quant, 0.2f, -0.1f, 0.01f);
  AdcConfig hw;
  hw.enabled = false;
  auto layer = ImcLinear::from(qat, hw);
  const Tensor x = testing::uniform({2, 2, 600}, -0.2f, 2.5f, 3, false);
  require_same_bits(layer->forward(x), qat.forward(x));
  layer->config.enabled = true;  // 600 rows: two tiles of 512
  const Tensor y = layer->forward(x);
  REQUIRE(y.shape() == Shape{2, 2, 3});
  autograd::NoGradGuard ng;
  const Tensor xq = quant::lsq_codes(x.view_as_shape({4, 600}), Tensor::scalar(0.2f), Tensor::scalar(-0.1f),
                                     quant::unsigned_codes(4));
  const Tensor wq = quant::lsq_codes(qat.weight, qat.weight_quant->scale, Tensor(), quant::symmetric_codes(4));
  const Tensor acc =
      array_product_reference(quant::a_shift(xq, quant::a_shift_map(4, Representation::zero_one)), wq, layer->layer_config());
  for (int64_t m = 0; m < 4; ++m)
    for (int64_t n = 0; n < 3; ++n) {
      double s = 0;
      for (int64_t k = 0; k < 600; ++k) s += wq.data()[n * 600 + k];
      const double e = 0.2 * 0.01 * (acc.data()[m * 3 + n] + 8 * s) - 0.1 * 0.01 * s + qat.bias.data()[n];
      REQUIRE(y.data()[m * 3 + n] == Approx(e).margin(1e-5));
    }
}

TEST_CASE("ImcConv2d: gradcheck of the whole layer with rounding skipped (quantizers and ADC)", "[imc][gradcheck]") {
  AdcConfig hw;
  hw.rows = 9, hw.ba = 8, hw.k = 1;  // two tiles; the un-floored ADC never clips here
  quant::QuantConv2d qat(2, 2, 3, {.padding = 1}, true, quant::QuantOptions{});
  set_quantizers(*qat.act_quant, *qat.weight_quant, 0.1f, -1.0f, 0.2f);
  auto layer = ImcConv2d::from(qat, hw);
  layer->act_quant->rounding = layer->weight_quant->rounding = Rounding::skip;
  layer->adc_rounding = Rounding::skip;
  for (int64_t i = 0; i < layer->weight.numel(); ++i)
    layer->weight.data()[i] = std::clamp(layer->weight.data()[i], -1.1f, 1.1f);  // |w/s| <= 5.5 < 7
  // v = (x + 1)/s_x in [2, 11]: inside [0, 15] for every s_x the stencil visits
  const Tensor x = testing::uniform({1, 2, 3, 3}, -0.8f, 0.1f, 4);
  auto f = [&layer](const std::vector<Tensor>& in) { return layer->forward(in[0]); };
  const auto r = gradcheck(f, {x, layer->weight, layer->bias, layer->act_quant->scale, layer->act_quant->beta,
                               layer->weight_quant->scale});
  INFO(r.report());
  REQUIRE(r.ok);
}

TEST_CASE("ImcLinear: gradcheck of the whole layer with rounding skipped, -1/1 array", "[imc][gradcheck]") {
  AdcConfig hw;
  hw.rows = 3, hw.ba = 8, hw.k = 1, hw.representation = Representation::minus_one_one;
  quant::QuantLinear qat(5, 2, true, quant::QuantOptions{});
  set_quantizers(*qat.act_quant, *qat.weight_quant, 0.1f, -1.0f, 0.2f);
  auto layer = ImcLinear::from(qat, hw);
  layer->act_quant->rounding = layer->weight_quant->rounding = Rounding::skip;
  layer->adc_rounding = Rounding::skip;
  for (int64_t i = 0; i < layer->weight.numel(); ++i)
    layer->weight.data()[i] = std::clamp(layer->weight.data()[i], -1.1f, 1.1f);
  const Tensor x = testing::uniform({3, 5}, -0.8f, 0.1f, 5);
  auto f = [&layer](const std::vector<Tensor>& in) { return layer->forward(in[0]); };
  const auto r = gradcheck(f, {x, layer->weight, layer->act_quant->scale, layer->act_quant->beta, layer->weight_quant->scale});
  INFO(r.report());
  REQUIRE(r.ok);
}

TEST_CASE("to_imc: on-array layers convert, names match the QAT checkpoint, switches reach every layer", "[imc]") {
  auto net = std::make_shared<Sequential>(std::initializer_list<std::shared_ptr<Module>>{
      std::make_shared<Conv2d>(3, 8, 3, ops::Conv2dOptions{.padding = 1}), std::make_shared<ReLU>(),
      std::make_shared<Conv2d>(8, 8, 3, ops::Conv2dOptions{.padding = 1}), std::make_shared<ReLU>(),
      std::make_shared<Conv2d>(8, 8, 3, ops::Conv2dOptions{.padding = 1, .groups = 8}),
      std::make_shared<Conv2d>(8, 4, 1)});
  quant::quantize_model(*net);
  const Tensor x = testing::uniform({2, 3, 6, 6}, -1.0f, 1.0f, 6, false);
  const Tensor qat_out = net->forward(x);  // also initialises every quantizer
  std::vector<std::string> qat_names;
  for (const auto& [name, t] : net->state_dict()) qat_names.push_back(name);
  const NamedTensors checkpoint = net->state_dict();

  ImcRules rules;
  rules.base.enabled = false;
  rules.overrides = {{"2", AdcConfig{.rows = 64, .ba = 7}}};
  REQUIRE(to_imc(*net, rules) == std::vector<std::string>{"2"});  // 0 and 5 are edge layers, 4 depthwise
  std::vector<std::string> imc_names;
  for (const auto& [name, t] : net->state_dict()) imc_names.push_back(name);
  REQUIRE(imc_names == qat_names);
  net->load_state_dict(checkpoint);  // strict: every key present, every shape equal
  auto* layer = imc_layers(*net).at(0).second;
  REQUIRE(layer->config.rows == 64);
  REQUIRE(layer->config.ba == 7);
  layer->config.enabled = false;
  require_same_bits(net->forward(x), qat_out);

  layer->config.enabled = true;
  set_adc_bits(*net, 5);
  REQUIRE(layer->config.ba == 5);
  const Tensor coarse = net->forward(x);
  set_imc_mode(*net, ImcMode::qat);
  REQUIRE(layer->mode == ImcMode::qat);
  CHECK_THAT(layer->as_module().extra_repr(), Catch::EndsWith("mode qat"));
  require_same_bits(net->forward(x), qat_out);  // exactly the QAT layer
  set_imc_mode(*net, ImcMode::array);
  double diff = 0;
  for (int64_t i = 0; i < coarse.numel(); ++i) diff += std::fabs(coarse.data()[i] - qat_out.data()[i]);
  CHECK(diff > 0);  // a 5-bit ADC changes the output
  ImcRules bad;
  bad.base.k = 0;
  auto net2 = std::make_shared<Sequential>(std::initializer_list<std::shared_ptr<Module>>{
      std::make_shared<Linear>(4, 4), std::make_shared<Linear>(4, 4), std::make_shared<Linear>(4, 4)});
  quant::quantize_model(*net2);
  REQUIRE_THROWS_WITH(to_imc(*net2, bad), Catch::Contains("imc.1: adc.k must be a positive integer"));
}

TEST_CASE("array_input_map: A-shift only where it belongs", "[imc]") {
  AdcConfig c;
  CHECK(array_input_map(c, false, 4).shift == 8);
  CHECK(array_input_map(c, true, 4).shift == 0);
  c.signed_input = false;
  CHECK(array_input_map(c, false, 4).shift == 0);
  REQUIRE_THROWS_WITH(array_input_map(c, true, 4), Catch::Contains("unsigned-input array cannot take signed"));
  c.signed_input = true;
  c.representation = Representation::minus_one_one;
  CHECK(array_input_map(c, false, 4).gain == 2);
  CHECK(array_input_map(c, false, 4).shift == 15);
  CHECK(array_input_map(c, true, 4).shift == -1);
}

TEST_CASE("IMC layers: analog noise comes from the layer's generator and is reproducible", "[imc]") {
  auto net = std::make_shared<Sequential>(std::initializer_list<std::shared_ptr<Module>>{
      std::make_shared<quant::QuantConv2d>(4, 4, 3, ops::Conv2dOptions{.padding = 1}, true, quant::QuantOptions{})});
  const Tensor x = testing::uniform({2, 4, 5, 5}, -0.3f, 1.0f, 9, false);
  net->forward(x);  // initialise the quantizers
  ImcRules rules;
  rules.base.weight_noise = 0.3f, rules.base.output_noise = 0.2f;
  to_imc(*net, rules);
  autograd::NoGradGuard ng;
  Generator g1(5), g2(5);
  set_noise_generator(*net, &g1);
  const Tensor a = net->forward(x);
  set_noise_generator(*net, &g2);
  const Tensor b = net->forward(x);
  REQUIRE(a.to_vector() == b.to_vector());
  const Tensor c = net->forward(x);  // g2 has moved on: new draws
  REQUIRE(c.to_vector() != b.to_vector());
  set_noise_generator(*net, nullptr);
}
