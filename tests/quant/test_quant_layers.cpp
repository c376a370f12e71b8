// tests/quant/test_quant_layers.cpp — quantizer modules, QuantConv2d / QuantLinear (values, names,
// LSQ+ initialisation, gradient checks of the whole layer with rounding skipped), quantize_model
// rules and the W-reshape gathering.
#include <cmath>

#include "core/autograd.h"
#include "core/ops.h"
#include "layers/flatten.h"
#include "layers/relu.h"
#include "layers/sequential.h"
#include "quant/quant_conv2d.h"
#include "quant/quant_linear.h"
#include "quant/quantize_model.h"
#include "tests/support/testing.h"

using namespace raoq;
using namespace raoq::quant;
using raoq::testing::names_of;

namespace {
// Fixes a quantizer's state (and marks it initialised) so tests control where the clip bounds are.
void set_act(ActQuantizer& q, float scale, float beta) {
  q.scale.data()[0] = scale;
  if (q.beta.defined()) q.beta.data()[0] = beta;
  q.init.data()[0] = 1;
}
void set_weight(WeightQuantizer& q, float scale) {
  for (int64_t i = 0; i < q.scale.numel(); ++i) q.scale.data()[i] = scale;
  q.init.data()[0] = 1;
}
// s * round(clip((v - b)/s, lo, hi)) + b elementwise, by the formula.
Tensor fake(const Tensor& x, float s, float b, CodeRange r) {
  Tensor y = Tensor::empty(x.shape());
  for (int64_t i = 0; i < x.numel(); ++i)
    y.data()[i] = s * std::nearbyint(std::clamp((x.data()[i] - b) / s, r.lo, r.hi)) + b;
  return y;
}
}  // namespace

TEST_CASE("QuantConv2d: parameter names, from(), and values against the formula", "[quant]") {
  Conv2d conv(2, 3, 3, {.stride = 1, .padding = 1});
  auto q = QuantConv2d::from(conv, QuantOptions{});
  REQUIRE(names_of(q->named_parameters()) ==
          std::vector<std::string>{"weight", "bias", "act_quant.scale", "act_quant.beta", "weight_quant.scale"});
  REQUIRE(names_of(q->named_buffers()) ==
          std::vector<std::string>{"act_quant.initialized", "weight_quant.initialized"});
  REQUIRE(q->weight.to_vector() == conv.weight.to_vector());
  REQUIRE(q->bias.to_vector() == conv.bias.to_vector());
  set_act(*q->act_quant, 0.1f, -0.5f);
  set_weight(*q->weight_quant, 0.02f);
  const Tensor x = testing::uniform({2, 2, 5, 5}, -1.0f, 1.5f, 3, false);
  const Tensor y = q->forward(x);
  const Tensor expected = ops::conv2d_reference(fake(x, 0.1f, -0.5f, unsigned_codes(4)),
                                                fake(q->weight, 0.02f, 0.0f, symmetric_codes(4)), q->bias, q->options);
  REQUIRE(y.shape() == Shape{2, 3, 5, 5});
  for (int64_t i = 0; i < y.numel(); ++i) REQUIRE(y.data()[i] == Approx(expected.data()[i]).margin(1e-5));
  REQUIRE_THROWS_WITH(q->forward(Tensor::zeros({1, 3, 5, 5})), Catch::Contains("expected input (N, 2, H, W)"));
}

TEST_CASE("quantizers: LSQ+ initialisation on first use, once, and kept by checkpoints", "[quant]") {
  QuantLinear layer(4, 2, true, QuantOptions{});
  const Tensor x = testing::uniform({8, 4}, 0.0f, 2.0f, 4, false);
  REQUIRE_FALSE(layer.act_quant->initialized());
  layer.forward(x);
  REQUIRE(layer.act_quant->initialized());
  REQUIRE(layer.weight_quant->initialized());
  const float s0 = layer.act_quant->scale.item();
  CHECK(s0 == lsq_plus_activation_init(x, unsigned_codes(4)).scale);
  CHECK(layer.weight_quant->scale.item() == lsq_plus_weight_scale(layer.weight, 4, false).item());
  layer.forward(testing::uniform({8, 4}, 0.0f, 50.0f, 5, false));
  CHECK(layer.act_quant->scale.item() == s0);  // not re-initialised
  QuantLinear other(4, 2, true, QuantOptions{});
  other.load_state_dict(layer.state_dict());
  CHECK(other.act_quant->initialized());
  CHECK(other.act_quant->scale.item() == s0);
}

TEST_CASE("QuantLinear: the LSQ gradient scale reaches the scale parameter", "[quant]") {
  // One feature, one sample: g = 1/sqrt(1 * 15) for the activation scale.
  QuantLinear layer(1, 1, false, QuantOptions{});
  set_act(*layer.act_quant, 0.5f, 0.0f);
  set_weight(*layer.weight_quant, 1.0f);
  layer.weight.data()[0] = 1.0f;
  const Tensor x = Tensor::from_vector({1.2f}, {1, 1});  // v = 2.4 -> code 2
  layer.forward(x).backward();
  // d(s * round(v))/ds = round(v) - v = -0.4, times w_hat = 1, times g
  CHECK(layer.act_quant->scale.grad().item() == Approx(-0.4 / std::sqrt(15.0)).epsilon(1e-5));
  CHECK(layer.act_quant->beta.grad().item() == 0.0f);  // inside the range
}

TEST_CASE("QuantConv2d: gradcheck of the whole layer with rounding skipped", "[quant][gradcheck]") {
  QuantConv2d q(2, 3, 3, {.stride = 1, .padding = 1}, true, QuantOptions{});
  set_act(*q.act_quant, 0.1f, -1.0f);  // codes cover [-1, 0.5]
  set_weight(*q.weight_quant, 0.2f);   // codes cover [-1.4, 1.4]
  q.act_quant->rounding = q.weight_quant->rounding = Rounding::skip;
  // v = (x + 1)/s in [2, 11], and inside [0, 15] for every s the stencil visits (s +- 0.02)
  const Tensor x = testing::uniform({1, 2, 4, 4}, -0.8f, 0.1f, 6);
  for (int64_t i = 0; i < q.weight.numel(); ++i) q.weight.data()[i] = std::clamp(q.weight.data()[i], -1.2f, 1.2f);
  auto f = [&q](const std::vector<Tensor>& in) { return q.forward(in[0]); };
  const auto r = gradcheck(f, {x, q.weight, q.bias, q.act_quant->scale, q.act_quant->beta, q.weight_quant->scale});
  INFO(r.report());
  REQUIRE(r.ok);
}

TEST_CASE("QuantLinear: gradcheck of the whole layer with rounding skipped, signed codes", "[quant][gradcheck]") {
  QuantLinear q(5, 3, true, QuantOptions{.bx = 4, .bw = 4, .act_signed = true, .act_offset = false, .per_channel = true});
  set_act(*q.act_quant, 0.25f, 0.0f);  // signed codes cover [-2, 1.75]
  set_weight(*q.weight_quant, 0.2f);
  q.act_quant->rounding = q.weight_quant->rounding = Rounding::skip;
  const Tensor x = testing::uniform({4, 5}, -1.5f, 1.5f, 7);
  auto f = [&q](const std::vector<Tensor>& in) { return q.forward(in[0]); };
  const auto r = gradcheck(f, {x, q.weight, q.act_quant->scale, q.weight_quant->scale});
  INFO(r.report());
  REQUIRE(r.ok);
}

TEST_CASE("path_matches: globs over dotted paths", "[quant]") {
  CHECK(path_matches("layer4.*", "layer4.1.conv2"));
  CHECK_FALSE(path_matches("layer4.*", "layer40"));
  CHECK(path_matches("*.attn.*", "blocks.3.attn.qkv"));
  CHECK(path_matches("fc", "fc"));
  CHECK_FALSE(path_matches("fc", "fc2"));
  CHECK(path_matches("layer?.0.conv1", "layer2.0.conv1"));
  CHECK(path_matches("*", "anything.at.all"));
}

TEST_CASE("quantize_model: edge layers 8-bit off the array, depthwise off, rules by pattern", "[quant]") {
  auto net = std::make_shared<Sequential>(std::initializer_list<std::shared_ptr<Module>>{
      std::make_shared<Conv2d>(3, 8, 3, ops::Conv2dOptions{.padding = 1}), std::make_shared<ReLU>(),
      std::make_shared<Conv2d>(8, 8, 3, ops::Conv2dOptions{.padding = 1, .groups = 8}),
      std::make_shared<Conv2d>(8, 8, 1), std::make_shared<Conv2d>(8, 8, 1), std::make_shared<Flatten>(),
      std::make_shared<Linear>(8 * 4 * 4, 10)});
  const Tensor x = testing::uniform({2, 3, 4, 4}, -1.0f, 1.0f, 8, false);
  const Tensor before = net->forward(x);
  QuantizeRules rules;
  rules.overrides = {{"4", QuantOptions{.bx = 6, .bw = 5}}};
  const QuantizeSummary s = quantize_model(*net, rules);
  CHECK(s.on_array == std::vector<std::string>{"3", "4"});
  CHECK(s.off_array == std::vector<std::string>{"0", "2", "6"});
  CHECK(net->at<QuantConv2d>(0)->qopts.bx == 8);
  CHECK_FALSE(net->at<QuantConv2d>(0)->on_array);
  CHECK(net->at<QuantConv2d>(2)->qopts.bx == 4);
  CHECK(net->at<QuantConv2d>(3)->on_array);
  CHECK(net->at<QuantConv2d>(4)->qopts.bw == 5);
  CHECK(net->at<QuantLinear>(6)->qopts.bw == 8);
  CHECK(net->at<Conv2d>(3)->weight.name() == "3.weight");
  // 8-bit edges and 4-bit body keep the output close to the float model's.
  const Tensor after = net->forward(x);
  REQUIRE(after.shape() == before.shape());
  double err = 0, ref = 0;
  for (int64_t i = 0; i < after.numel(); ++i) {
    err += std::pow(after.data()[i] - before.data()[i], 2);
    ref += std::pow(before.data()[i], 2);
  }
  CHECK(err < 0.1 * ref);
  CHECK(wreshape_kurtoses(*net).size() == 2);
  CHECK(quantize_model(*net, rules).on_array.empty());  // already quantized: nothing to do

  auto net2 = std::make_shared<Sequential>(std::initializer_list<std::shared_ptr<Module>>{
      std::make_shared<Linear>(4, 4), std::make_shared<Linear>(4, 4), std::make_shared<Linear>(4, 4)});
  QuantizeRules keep;
  keep.keep_float = {"1"};
  keep.edge_layers = false;
  const QuantizeSummary s2 = quantize_model(*net2, keep);
  CHECK(s2.kept_float == std::vector<std::string>{"1"});
  CHECK(s2.on_array == std::vector<std::string>{"0", "2"});
  CHECK(typeid(*(*net2)[1]) == typeid(Linear));
}
