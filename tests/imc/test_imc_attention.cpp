// tests/imc/test_imc_attention.cpp — ImcAttention: equal to QuantAttention bit for bit with the ADC
// off (and at ba 16, where the ADC returns the exact sums), the per-tile ADC against the plain-loop
// reference on 0/1 and -1/1 arrays, gradient check, causality, and the model-wide machinery reaching
// Q K^T: to_imc, checkpoint names, set_adc_bits / set_imc_mode / set_noise_generator, statistics,
// apply_method, W-reshape.
#include <cmath>
#include <optional>

#include "core/autograd.h"
#include "core/rng.h"
#include "imc/array_product.h"
#include "imc/imc_attention.h"
#include "imc/imc_linear.h"
#include "imc/imc_model.h"
#include "imc/method.h"
#include "imc/stats.h"
#include "layers/sequential.h"
#include "quant/quant_linear.h"
#include "quant/quantize_model.h"
#include "quant/wreshape.h"
#include "tests/quant/backward_with.h"
#include "tests/support/testing.h"

using namespace raoq;
using namespace raoq::imc;

namespace {
// Sequential{Linear(8, 8), MultiHeadAttention(8, 2), Linear(8, 8)}, quantized by the default rules
// and run once on x (every quantizer initialised). Seeded: two calls build the same model.
std::shared_ptr<Sequential> attention_net(bool causal, const Tensor& x) {
  manual_seed(11);
  auto net = std::make_shared<Sequential>(std::initializer_list<std::shared_ptr<Module>>{
      std::make_shared<Linear>(8, 8), std::make_shared<MultiHeadAttention>(8, 2, causal, true),
      std::make_shared<Linear>(8, 8)});
  quant::quantize_model(*net);
  autograd::NoGradGuard ng;
  net->forward(x);
  return net;
}
void set_scale(quant::ActQuantizer& q, float s) {
  q.scale.data()[0] = s;
  q.init.data()[0] = 1;
}
// QuantAttention's digital part (quant_attention.h) by plain loops in double, from the codes'
// product acc: (G, T, T) -> y (G, T, Dh), with v^ = s_v round(clip(v / s_v)) at 8 bits.
std::vector<double> digital_part(const Tensor& acc, double alpha, const Tensor& v, double sv, bool causal) {
  const int64_t G = acc.size(0), T = acc.size(1), Dh = v.size(3);
  std::vector<double> y(size_t(G * T * Dh), 0.0);
  for (int64_t g = 0; g < G; ++g)
    for (int64_t i = 0; i < T; ++i) {
      const int64_t n = causal ? i + 1 : T;
      std::vector<double> p(static_cast<size_t>(n));
      double mx = -1e300, z = 0;
      for (int64_t j = 0; j < n; ++j) mx = std::max(mx, p[size_t(j)] = alpha * acc.data()[(g * T + i) * T + j]);
      for (double& e : p) z += (e = std::exp(e - mx));
      for (int64_t j = 0; j < n; ++j)
        for (int64_t d = 0; d < Dh; ++d) {
          const double vh = sv * std::nearbyint(std::clamp(v.data()[(g * T + j) * Dh + d] / sv, -128.0, 127.0));
          y[size_t((g * T + i) * Dh + d)] += std::nearbyint(p[size_t(j)] / z * 255) / 255 * vh;
        }
    }
  return y;
}
}  // namespace

TEST_CASE("ImcAttention: with the ADC off, and at ba 16 with k = 49, it is QuantAttention bit for bit, forward and gradients", "[imc]") {
  const bool causal = GENERATE(false, true);
  const bool exact_adc = GENERATE(false, true);  // ba 16, k 49: D = 1/64, every sum (|y| <= 4 * 56) exact
  CAPTURE(causal, exact_adc);
  const Tensor x = testing::uniform({2, 5, 8}, -1.0f, 1.0f, 1, false);
  auto qat = attention_net(causal, x), imc = attention_net(causal, x);
  REQUIRE(qat->state_dict().size() == imc->state_dict().size());
  // Only the attention goes to the arrays: its projections stay QAT layers on both sides.
  auto a = imc->at<quant::QuantAttention>(1);
  std::dynamic_pointer_cast<quant::QuantLinear>(a->qkv_proj)->on_array = false;
  std::dynamic_pointer_cast<quant::QuantLinear>(a->out_proj)->on_array = false;
  ImcRules rules;
  if (exact_adc) rules.base.ba = 16, rules.base.k = 49;
  else rules.base.enabled = false;
  REQUIRE(to_imc(*imc, rules) == std::vector<std::string>{"1"});
  REQUIRE(imc->at<ImcAttention>(1)->mode == ImcMode::array);
  std::optional<StatsSession> session;
  if (exact_adc) session.emplace(*imc);
  const Tensor x1 = x.clone().set_requires_grad(true), x2 = x.clone().set_requires_grad(true);
  const Tensor y1 = qat->forward(x1), y2 = imc->forward(x2);
  REQUIRE(y1.to_vector() == y2.to_vector());
  const Tensor dy = testing::uniform(y1.shape(), -1.0f, 1.0f, 2, false);
  testing::backward_with(y1, dy.to_vector());
  testing::backward_with(y2, dy.to_vector());
  REQUIRE(x1.grad().to_vector() == x2.grad().to_vector());
  const NamedTensors p1 = qat->named_parameters(), p2 = imc->named_parameters();
  REQUIRE(p1.size() == p2.size());
  for (size_t i = 0; i < p1.size(); ++i) {
    INFO(p1[i].first);
    REQUIRE(p1[i].first == p2[i].first);
    REQUIRE(p1[i].second.grad().to_vector() == p2[i].second.grad().to_vector());
  }
  if (exact_adc) {
    const LayerSummary s = session->summaries().at(0);
    CHECK(s.clip_fraction == 0);
    CHECK(s.conversions == 2 * 2 * 5 * 5);  // B H Tq Tk, one tile of Dh = 4 rows each
  }
}

TEST_CASE("ImcAttention: the scores are s_q s_k / sqrt(Dh) times the reference's per-tile ADC sums (0/1 and -1/1 arrays)", "[imc]") {
  const int variant = GENERATE(0, 1, 2);
  AdcConfig hw;
  hw.rows = 3, hw.ba = 5;  // Dh = 8: three tiles, a coarse ADC (some sums clip)
  if (variant == 1) hw.representation = Representation::minus_one_one;
  if (variant == 2) hw.representation = Representation::minus_one_one, hw.enabled = false;
  CAPTURE(variant);
  const bool causal = variant != 1;
  ImcAttention layer(16, 2, causal, true, quant::AttentionOptions{}, hw);
  set_scale(*layer.q_quant, 0.2f), set_scale(*layer.k_quant, 0.25f), set_scale(*layer.v_quant, 0.02f);
  const Tensor q = testing::uniform({2, 2, 6, 8}, -1.8f, 1.8f, 3, false), k = testing::uniform({2, 2, 6, 8}, -2.0f, 2.0f, 4, false);
  const Tensor v = testing::uniform({2, 2, 6, 8}, -2.0f, 2.0f, 5, false);
  const Tensor y = layer.attention(q, k, v);
  // By hand: codes, the array's inputs, the reference product, the -1/1 correction.
  autograd::NoGradGuard ng;
  const Tensor qc = quant::lsq_codes(q, Tensor::scalar(0.2f), Tensor(), quant::signed_codes(4)).view_as_shape({4, 6, 8});
  const Tensor kc = quant::lsq_codes(k, Tensor::scalar(0.25f), Tensor(), quant::symmetric_codes(4)).view_as_shape({4, 6, 8});
  Tensor xs = qc.clone();
  if (variant > 0)
    for (int64_t i = 0; i < xs.numel(); ++i) xs.data()[i] = 2 * xs.data()[i] + 1;  // Eq. 14
  Tensor acc = array_product_reference(xs, kc, layer.layer_config(), ArrayGeometry::batched());  // (4, 6, 6)
  if (variant > 0)
    for (int64_t g = 0; g < 4; ++g)
      for (int64_t j = 0; j < 6; ++j) {
        float S = 0;
        for (int64_t d = 0; d < 8; ++d) S += kc.data()[(g * 6 + j) * 8 + d];
        for (int64_t i = 0; i < 6; ++i) acc.data()[(g * 6 + i) * 6 + j] = (acc.data()[(g * 6 + i) * 6 + j] - S) / 2;
      }
  testing::require_values(y, digital_part(acc, 0.2 * 0.25 / std::sqrt(8.0), v, 0.02, causal), 1e-5);
  if (variant == 2) {  // the ADC off on a -1/1 array: QuantAttention's numbers (up to float rounding)
    layer.mode = ImcMode::qat;
    const std::vector<float> r = layer.attention(q, k, v).to_vector();
    testing::require_values(y, std::vector<double>(r.begin(), r.end()), 1e-6);
  }
}

TEST_CASE("ImcAttention: gradcheck of attention() with the ADC's floor and every rounding skipped", "[imc][gradcheck]") {
  AdcConfig hw;
  hw.rows = 1, hw.ba = 8, hw.k = 1;  // Dh = 2: two tiles of one row; range +-49 column-sum units
  ImcAttention layer(4, 2, true, true, quant::AttentionOptions{}, hw);
  // |q|, |k| <= 1.2 and scales >= 0.23: codes <= 5.3, tile sums <= 28, far inside the ADC range.
  set_scale(*layer.q_quant, 0.25f), set_scale(*layer.k_quant, 0.25f), set_scale(*layer.v_quant, 0.04f);
  layer.q_quant->rounding = layer.k_quant->rounding = layer.v_quant->rounding = layer.prob_rounding = Rounding::skip;
  layer.adc_rounding = Rounding::skip;
  const Tensor q = testing::uniform({1, 2, 3, 2}, -1.2f, 1.2f, 6), k = testing::uniform({1, 2, 3, 2}, -1.2f, 1.2f, 7);
  const Tensor v = testing::uniform({1, 2, 3, 2}, -1.2f, 1.2f, 8);
  auto f = [&layer](const std::vector<Tensor>& in) { return layer.attention(in[0], in[1], in[2]); };
  const auto r = gradcheck(f, {q, k, v, layer.q_quant->scale, layer.k_quant->scale, layer.v_quant->scale});
  INFO(r.report());
  REQUIRE(r.ok);
  bool on_array = false;
  for (const auto& op : r.ops_seen) on_array = on_array || op == "array_product";
  CHECK(on_array);
}

TEST_CASE("ImcAttention: on the array, keys and values after position t change no output at t or before", "[imc]") {
  const Tensor x = testing::uniform({2, 6, 8}, -1.0f, 1.0f, 9, false);
  auto net = attention_net(true, x);
  ImcRules rules;
  rules.base.ba = 4;  // coarse: the ADC'd scores of masked keys differ, and must not matter
  to_imc(*net, rules);
  autograd::NoGradGuard ng;
  const Tensor y = net->forward(x);
  Tensor x2 = x.clone();
  for (int64_t b = 0; b < 2; ++b)
    for (int64_t s = 3; s < 6; ++s)
      for (int64_t d = 0; d < 8; ++d) x2.data()[(b * 6 + s) * 8 + d] = -x2.data()[(b * 6 + s) * 8 + d] + 0.5f;
  const Tensor y2 = net->forward(x2);
  for (int64_t b = 0; b < 2; ++b)
    for (int64_t s = 0; s <= 2; ++s)
      for (int64_t d = 0; d < 8; ++d) REQUIRE(y2.data()[(b * 6 + s) * 8 + d] == y.data()[(b * 6 + s) * 8 + d]);
}

TEST_CASE("to_imc: attention's Q K^T converts with its projections; names, switches and W-reshape", "[imc]") {
  const Tensor x = testing::uniform({2, 5, 8}, -1.0f, 1.0f, 10, false);
  auto net = attention_net(true, x);
  const NamedTensors checkpoint = net->state_dict();
  std::vector<Tensor> kappas;
  for (const Tensor& t : quant::wreshape_kurtoses(*net)) kappas.push_back(t.detach().clone());
  REQUIRE(kappas.size() == 2);  // qkv_proj and out_proj; 0 and 2 are edge layers
  REQUIRE(to_imc(*net, ImcRules{}) == std::vector<std::string>{"1", "1.qkv_proj", "1.out_proj"});
  auto a = net->at<ImcAttention>(1);
  CHECK(dynamic_cast<ImcLinear*>(a->qkv_proj.get()));
  CHECK(dynamic_cast<ImcLinear*>(a->out_proj.get()));
  std::vector<std::string> before, after;
  for (const auto& [name, t] : checkpoint) before.push_back(name);
  for (const auto& [name, t] : net->state_dict()) after.push_back(name);
  REQUIRE(after == before);
  net->load_state_dict(checkpoint);  // strict
  // W-reshape: the same two terms, with the same values; the keys are not weights.
  const std::vector<Tensor> kappas2 = quant::wreshape_kurtoses(*net);
  REQUIRE(kappas2.size() == 2);
  for (size_t i = 0; i < 2; ++i) CHECK(kappas2[i].item() == kappas[i].item());

  const auto layers = imc_layers(*net);
  REQUIRE(layers.size() == 3);
  CHECK(layers[0].first == "1");
  CHECK(layers[0].second == static_cast<ImcLayer*>(a.get()));
  CHECK(layers[0].second->layer_config().bx == 4);
  CHECK(layers[0].second->input_map().shift == 0);  // signed query codes: no A-shift
  CHECK(layers[0].second->activation_quantizer().signed_codes);
  set_adc_bits(*net, 5);
  for (const auto& [path, l] : layers) CHECK(l->config.ba == 5);
  Generator gen(3);
  set_noise_generator(*net, &gen);
  for (const auto& [path, l] : layers) CHECK(l->noise == &gen);
  set_noise_generator(*net, nullptr);
  set_imc_mode(*net, ImcMode::qat);
  for (const auto& [path, l] : layers) CHECK(l->mode == ImcMode::qat);
  CHECK_THAT(a->extra_repr(), Catch::EndsWith("mode qat"));
  set_imc_mode(*net, ImcMode::array);

  ImcRules unsigned_hw;
  unsigned_hw.base.signed_input = false;
  auto net2 = attention_net(false, x);
  REQUIRE_THROWS_WITH(to_imc(*net2, unsigned_hw), Catch::StartsWith("imc.1: ImcAttention: Q K^T streams signed query codes"));
}

TEST_CASE("stats: Q K^T reports queries as inputs and keys as stored codes, gathered over batches", "[imc]") {
  AdcConfig hw;
  hw.rows = 4, hw.ba = 5;  // Dh = 8: two tiles; a coarse ADC, some sums clip
  auto net = std::make_shared<Sequential>(std::initializer_list<std::shared_ptr<Module>>{
      std::make_shared<ImcAttention>(16, 2, false, true, quant::AttentionOptions{}, hw)});
  auto layer = net->at<ImcAttention>(0);
  set_scale(*layer->q_quant, 0.2f), set_scale(*layer->k_quant, 0.25f), set_scale(*layer->v_quant, 0.02f);
  std::vector<Tensor> qs, ks;
  LayerSummary s;
  {
    StatsSession session(*net);
    autograd::NoGradGuard ng;
    for (uint64_t seed : {1, 2}) {
      qs.push_back(testing::uniform({2, 2, 6, 8}, -1.8f, 1.8f, seed, false));
      ks.push_back(testing::uniform({2, 2, 6, 8}, -2.0f, 2.0f, 10 + seed, false));
      layer->attention(qs.back(), ks.back(), ks.back());
    }
    s = session.summaries().at(0);
  }
  CHECK(s.path == "0");
  CHECK(s.K == 8);
  CHECK(s.N == 6);
  CHECK(s.tiles == 2);
  REQUIRE(s.conversions == 2 * 4 * 6 * 6 * 2);  // batches, G, Tq, Tk, tiles
  CHECK(s.weight_codes.total() == 2 * ks[0].numel());
  // Independent: codes, the column sums per tile and their clipping, the codes' moments.
  autograd::NoGradGuard ng;
  const double D = adc_step(layer->layer_config());
  double clipped = 0, xs2 = 0, n = 0, w1 = 0, w2 = 0;
  for (int i = 0; i < 2; ++i) {
    const Tensor qc = quant::lsq_codes(qs[size_t(i)], Tensor::scalar(0.2f), Tensor(), quant::signed_codes(4));
    const Tensor kc = quant::lsq_codes(ks[size_t(i)], Tensor::scalar(0.25f), Tensor(), quant::symmetric_codes(4));
    for (int64_t e = 0; e < qc.numel(); ++e) xs2 += double(qc.data()[e]) * qc.data()[e];
    for (int64_t e = 0; e < kc.numel(); ++e) w1 += kc.data()[e], w2 += double(kc.data()[e]) * kc.data()[e], n += 1;
    for (int64_t g = 0; g < 4; ++g)
      for (int64_t a = 0; a < 6; ++a)
        for (int64_t b = 0; b < 6; ++b)
          for (int64_t t = 0; t < 2; ++t) {
            float y = 0;
            for (int64_t d = 4 * t; d < 4 * t + 4; ++d) y += qc.data()[(g * 6 + a) * 8 + d] * kc.data()[(g * 6 + b) * 8 + d];
            clipped += adc_clipped(y, float(D), -16, 15);
          }
  }
  CHECK(clipped > 0);
  CHECK(s.clip_fraction == Approx(clipped / double(s.conversions)));
  CHECK(s.xs_second_moment == Approx(xs2 / n));
  CHECK(s.xq_second_moment == s.xs_second_moment);  // no shift
  CHECK(s.sqnr_db_centered_unshifted == s.sqnr_db_centered);
  CHECK(s.wq_var == Approx(w2 / n - (w1 / n) * (w1 / n)).epsilon(1e-9));
}

TEST_CASE("method: apply_method puts attention's Q K^T on the arrays, with A-shift or signed codes", "[imc]") {
  for (bool ashift : {true, false}) {
    CAPTURE(ashift);
    const Tensor x = testing::uniform({2, 5, 8}, -1.0f, 1.0f, 12, false);
    manual_seed(3);
    auto net = std::make_shared<Sequential>(std::initializer_list<std::shared_ptr<Module>>{
        std::make_shared<Linear>(8, 8), std::make_shared<MultiHeadAttention>(8, 2, true, true),
        std::make_shared<Linear>(8, 8)});
    MethodConfig m;
    m.ashift = ashift, m.on_arrays = true, m.adc.ba = 6, m.bits = 4;
    REQUIRE_NOTHROW(apply_method(*net, m));  // the attention's signed queries are not the layers' codes
    const auto layers = imc_layers(*net);
    REQUIRE(layers.size() == 3);
    for (const auto& [path, l] : layers) CHECK(l->config.ba == 6);
    CHECK(net->at<ImcAttention>(1)->q_quant->bits == 4);
    autograd::NoGradGuard ng;
    const Tensor y = net->forward(x);
    CHECK(y.shape() == Shape{2, 5, 8});
  }
}
