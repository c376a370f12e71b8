// tests/quant/test_quant_attention.cpp — QuantAttention: parameter names and from(), values against
// the formula of quant_attention.h, gradient checks with rounding skipped, causality, and
// quantize_model's attention rules (names kept, placement, W-reshape leaves Q K^T out).
#include <cmath>
#include <limits>
#include <typeinfo>

#include "core/autograd.h"
#include "layers/sequential.h"
#include "quant/quant_attention.h"
#include "quant/quant_linear.h"
#include "quant/quantize_model.h"
#include "quant/wreshape.h"
#include "tests/support/testing.h"

using namespace raoq;
using namespace raoq::quant;
using raoq::testing::names_of;

namespace {
void set_scale(ActQuantizer& q, float s) {
  q.scale.data()[0] = s;
  q.init.data()[0] = 1;
}
double fake(double x, double s, CodeRange r) { return s * std::nearbyint(std::clamp(x / s, double(r.lo), double(r.hi))); }

// quant_attention.h's formula by plain loops in double. q, k, v: (B, H, T, Dh) -> (B, H, T, Dh)
std::vector<double> reference(const Tensor& q, const Tensor& k, const Tensor& v, double sq, double sk, double sv,
                              bool causal) {
  const int64_t BH = q.size(0) * q.size(1), T = q.size(2), Dh = q.size(3);
  std::vector<double> y(size_t(BH * T * Dh));
  for (int64_t b = 0; b < BH; ++b)
    for (int64_t i = 0; i < T; ++i) {
      const int64_t n = causal ? i + 1 : T;
      std::vector<double> p(static_cast<size_t>(n));
      double mx = -1e300, z = 0;
      for (int64_t j = 0; j < n; ++j) {
        double dot = 0;
        for (int64_t d = 0; d < Dh; ++d)
          dot += fake(q.data()[(b * T + i) * Dh + d], sq, signed_codes(4)) * fake(k.data()[(b * T + j) * Dh + d], sk, symmetric_codes(4));
        mx = std::max(mx, p[size_t(j)] = dot / std::sqrt(double(Dh)));
      }
      for (double& e : p) z += (e = std::exp(e - mx));
      for (int64_t d = 0; d < Dh; ++d) {
        double acc = 0;
        for (int64_t j = 0; j < n; ++j)
          acc += std::nearbyint(p[size_t(j)] / z * 255) / 255 * fake(v.data()[(b * T + j) * Dh + d], sv, signed_codes(8));
        y[size_t((b * T + i) * Dh + d)] = acc;
      }
    }
  return y;
}
}  // namespace

TEST_CASE("QuantAttention: from() keeps every MultiHeadAttention parameter, its name and its value", "[quant]") {
  MultiHeadAttention mha(8, 2, true, true);
  auto q = QuantAttention::from(mha, AttentionOptions{});
  CHECK(q->qkv_proj == mha.qkv_proj);  // the same modules
  CHECK(q->out_proj == mha.out_proj);
  CHECK(q->causal);
  REQUIRE(names_of(q->named_parameters()) ==
          std::vector<std::string>{"qkv_proj.weight", "qkv_proj.bias", "out_proj.weight", "out_proj.bias",
                                   "q_quant.scale", "k_quant.scale", "v_quant.scale"});
  REQUIRE(names_of(q->named_buffers()) ==
          std::vector<std::string>{"q_quant.initialized", "k_quant.initialized", "v_quant.initialized"});
  CHECK(q->q_quant->range().lo == -8);  // signed: the streamed input
  CHECK(q->k_quant->range().lo == -7);  // symmetric: the stored operand, in the weight range
  CHECK(q->v_quant->range().hi == 127);
  CHECK(q->bmm1_options().act_signed);
  CHECK_FALSE(q->bmm1_options().act_offset);
  CHECK_THAT(q->extra_repr(), Catch::Contains("bits=4, bmm2_bits=8"));
  REQUIRE_THROWS_WITH(ActQuantizer(4, false, false, true), Catch::Contains("symmetric codes are signed"));
  CHECK(ActQuantizer(4, true, false, true).extra_repr() == "bits=4, symmetric");
}

TEST_CASE("QuantAttention: values against the formula, with and without the causal mask", "[quant]") {
  for (bool causal : {false, true}) {
    CAPTURE(causal);
    QuantAttention a(8, 2, causal, true, AttentionOptions{});
    set_scale(*a.q_quant, 0.2f), set_scale(*a.k_quant, 0.25f), set_scale(*a.v_quant, 0.02f);
    const Tensor q = testing::uniform({2, 2, 5, 4}, -1.5f, 1.5f, 1, false), k = testing::uniform({2, 2, 5, 4}, -2.0f, 2.0f, 2, false);
    const Tensor v = testing::uniform({2, 2, 5, 4}, -2.0f, 2.0f, 3, false);
    // Values of q, k and v beyond the clip bounds (1.4, 1.75, 2.54) are included.
    testing::require_values(a.attention(q, k, v), reference(q, k, v, 0.2, 0.25, 0.02, causal), 1e-5);
  }
}

TEST_CASE("QuantAttention: gradcheck of attention() with rounding skipped (q, k, v and the three scales)", "[quant][gradcheck]") {
  for (bool causal : {false, true}) {
    CAPTURE(causal);
    QuantAttention a(4, 2, causal, true, AttentionOptions{});  // Dh = 2
    // |q|, |k|, |v| <= 1.2: q/s_q, k/s_k <= 5.3 inside [-7, 7] and v/s_v <= 60 inside [-128, 127] for
    // every scale the stencil visits (s - 0.02), so no finite difference crosses a clip bound.
    set_scale(*a.q_quant, 0.25f), set_scale(*a.k_quant, 0.25f), set_scale(*a.v_quant, 0.04f);
    a.q_quant->rounding = a.k_quant->rounding = a.v_quant->rounding = a.prob_rounding = Rounding::skip;
    const Tensor q = testing::uniform({1, 2, 3, 2}, -1.2f, 1.2f, 4), k = testing::uniform({1, 2, 3, 2}, -1.2f, 1.2f, 5);
    const Tensor v = testing::uniform({1, 2, 3, 2}, -1.2f, 1.2f, 6);
    auto f = [&a](const std::vector<Tensor>& in) { return a.attention(in[0], in[1], in[2]); };
    const auto r = gradcheck(f, {q, k, v, a.q_quant->scale, a.k_quant->scale, a.v_quant->scale});
    INFO(r.report());
    REQUIRE(r.ok);
  }
}

TEST_CASE("QuantAttention: gradcheck of the whole layer (projections quantized) with rounding skipped", "[quant][gradcheck]") {
  auto net = std::make_shared<Sequential>(std::initializer_list<std::shared_ptr<Module>>{
      std::make_shared<MultiHeadAttention>(4, 2, true, true)});
  QuantizeRules rules;
  rules.edge_layers = false;
  quantize_model(*net, rules);
  auto a = net->at<QuantAttention>(0);
  auto qkv = std::dynamic_pointer_cast<QuantLinear>(a->qkv_proj), out = std::dynamic_pointer_cast<QuantLinear>(a->out_proj);
  REQUIRE((qkv && out));
  // Every quantizer stays inside its range for every value the stencil visits: qkv's input
  // (x + 1)/0.1 in [2, 11] of [0, 15]; |w| <= 0.3, |bias| <= 0.2, so |q|, |k|, |v| <= 4 * 0.3 * 0.8 + 0.2
  // = 1.16 and q/s_q, k/s_k <= 1.16/0.23 < 7, v/s_v < 30; the attention output (a convex combination
  // of v^) enters out_proj as (y + 1.5)/0.2 in [1.7, 13.3] of [0, 15].
  for (auto* l : {qkv.get(), out.get()}) {
    l->act_quant->scale.data()[0] = 0.1f, l->act_quant->beta.data()[0] = -1.0f, l->act_quant->init.data()[0] = 1;
    l->weight_quant->scale.data()[0] = 0.1f, l->weight_quant->init.data()[0] = 1;
    for (int64_t i = 0; i < l->weight.numel(); ++i) l->weight.data()[i] = std::clamp(l->weight.data()[i], -0.3f, 0.3f);
    for (int64_t i = 0; i < l->bias.numel(); ++i) l->bias.data()[i] = std::clamp(l->bias.data()[i], -0.2f, 0.2f);
    l->act_quant->rounding = l->weight_quant->rounding = Rounding::skip;
  }
  out->act_quant->scale.data()[0] = 0.2f, out->act_quant->beta.data()[0] = -1.5f;
  set_scale(*a->q_quant, 0.25f), set_scale(*a->k_quant, 0.25f), set_scale(*a->v_quant, 0.04f);
  a->q_quant->rounding = a->k_quant->rounding = a->v_quant->rounding = a->prob_rounding = Rounding::skip;
  const Tensor x = testing::uniform({1, 3, 4}, -0.8f, 0.1f, 7);
  auto f = [&net](const std::vector<Tensor>& in) { return net->forward(in[0]); };
  const auto r = gradcheck(f, {x, qkv->weight, qkv->bias, out->weight, a->q_quant->scale, a->v_quant->scale});
  INFO(r.report());
  REQUIRE(r.ok);
}

TEST_CASE("QuantAttention: with the causal mask, keys and values after position t change no output at t or before", "[quant]") {
  auto net = std::make_shared<Sequential>(std::initializer_list<std::shared_ptr<Module>>{
      std::make_shared<MultiHeadAttention>(8, 2, true, true)});
  QuantizeRules rules;
  rules.edge_layers = false;
  quantize_model(*net, rules);
  autograd::NoGradGuard ng;
  const Tensor x = testing::uniform({2, 6, 8}, -1.0f, 1.0f, 8, false);
  const Tensor y = net->forward(x);  // initialises every quantizer from x; later calls keep the state
  Tensor x2 = x.clone();
  const int64_t t = 2;
  for (int64_t b = 0; b < 2; ++b)
    for (int64_t s = t + 1; s < 6; ++s)
      for (int64_t d = 0; d < 8; ++d) x2.data()[(b * 6 + s) * 8 + d] += 3.0f * float(d % 3) - 2.5f;
  const Tensor y2 = net->forward(x2);
  bool later_changed = false;
  for (int64_t b = 0; b < 2; ++b)
    for (int64_t s = 0; s < 6; ++s)
      for (int64_t d = 0; d < 8; ++d) {
        const int64_t i = (b * 6 + s) * 8 + d;
        if (s <= t) REQUIRE(y2.data()[i] == y.data()[i]);
        else later_changed = later_changed || y2.data()[i] != y.data()[i];
      }
  CHECK(later_changed);
}

TEST_CASE("quantize_model: MultiHeadAttention becomes QuantAttention, names kept, placement by rule", "[quant]") {
  const auto make = [] {
    return std::make_shared<Sequential>(std::initializer_list<std::shared_ptr<Module>>{
        std::make_shared<Linear>(8, 8), std::make_shared<MultiHeadAttention>(8, 2, true, true), std::make_shared<Linear>(8, 8)});
  };
  auto net = make();
  const NamedTensors before = net->state_dict();
  QuantizeRules rules;
  rules.attention.bits = 3;
  const QuantizeSummary s = quantize_model(*net, rules);
  CHECK(s.on_array == std::vector<std::string>{"1", "1.qkv_proj", "1.out_proj"});
  CHECK(s.off_array == std::vector<std::string>{"0", "2"});  // the first and last Linear: edges
  auto a = net->at<QuantAttention>(1);
  CHECK(a->on_array);
  CHECK(a->q_quant->bits == 3);
  CHECK(a->v_quant->bits == 8);
  CHECK(typeid(*a->qkv_proj) == typeid(QuantLinear));
  CHECK(a->qkv_proj->weight.name() == "1.qkv_proj.weight");
  const NamedTensors after = net->state_dict();
  for (const auto& [name, t] : before) {
    bool found = false;
    for (const auto& [n2, t2] : after) found = found || (n2 == name && t2.to_vector() == t.to_vector());
    INFO(name);
    CHECK(found);
  }
  CHECK(quantize_model(*net, rules).on_array.empty());  // already quantized: nothing to do
  // W-reshape sees the projections' weights only: the keys Q K^T stores are not weights.
  const std::vector<Tensor> kappas = wreshape_kurtoses(*net);
  REQUIRE(kappas.size() == 2);
  CHECK(kappas[0].item() == kurtosis(std::dynamic_pointer_cast<QuantLinear>(a->qkv_proj)->weight_codes()).item());

  auto off = make();
  rules.off_array = {"1"};
  const QuantizeSummary s2 = quantize_model(*off, rules);
  CHECK(s2.off_array == std::vector<std::string>{"0", "1", "2"});
  CHECK_FALSE(off->at<QuantAttention>(1)->on_array);
  CHECK(wreshape_kurtoses(*off).size() == 2);
  auto kept = make();
  rules.off_array.clear();
  rules.keep_float = {"1"};
  const QuantizeSummary s3 = quantize_model(*kept, rules);
  CHECK(s3.kept_float == std::vector<std::string>{"1"});
  CHECK(typeid(*(*kept)[1]) == typeid(MultiHeadAttention));
  CHECK(s3.on_array == std::vector<std::string>{"1.qkv_proj", "1.out_proj"});
}
