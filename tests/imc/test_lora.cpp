// tests/imc/test_lora.cpp — ADC-LoRA (imc/lora.h): hu starts where the model was, the adapters'
// gradients through Q_w(W + A B) and through a whole LoRA IMC layer with the un-floored ADC,
// Eq. 12's objective falls, svd's rank-r correction matches the truncated SVD, the parameter
// counts, and merge equals the adapted model bit for bit.
#include <Eigen/SVD>
#include <cmath>

#include "core/autograd.h"
#include "core/error.h"
#include "core/gradcheck.h"
#include "core/ops.h"
#include "core/rng.h"
#include "imc/imc_linear.h"
#include "imc/imc_model.h"
#include "imc/lora.h"
#include "imc/method.h"
#include "layers/conv2d.h"
#include "layers/flatten.h"
#include "layers/linear.h"
#include "layers/relu.h"
#include "layers/sequential.h"
#include "quant/quantize_model.h"
#include "tests/support/testing.h"

using namespace raoq;
using namespace raoq::imc;

namespace {
// conv (first, off the array) -> conv -> linear 144 -> 24 -> linear (last, off the array):
// the middle conv and linear go onto 64-row arrays with a coarse 5-bit ADC.
std::shared_ptr<Module> lora_net(uint64_t seed) {
  manual_seed(seed);
  auto net = std::make_shared<Sequential>(std::initializer_list<std::shared_ptr<Module>>{
      std::make_shared<Conv2d>(1, 16, 3, ops::Conv2dOptions{.padding = 1}), std::make_shared<ReLU>(),
      std::make_shared<Conv2d>(16, 4, 3, ops::Conv2dOptions{.padding = 1}), std::make_shared<ReLU>(),
      std::make_shared<Flatten>(), std::make_shared<Linear>(4 * 6 * 6, 24), std::make_shared<ReLU>(),
      std::make_shared<Linear>(24, 3)});
  MethodConfig m;
  m.on_arrays = true;
  m.adc.rows = 64, m.adc.ba = 5;
  apply_method(*net, m);
  net->forward(testing::uniform({4, 1, 6, 6}, -1, 1, seed + 100));  // LSQ+ initialisation
  return net;
}

LoraConfig rank(int64_t r) {
  LoraConfig c;
  c.rank = r;
  return c;
}
}  // namespace

TEST_CASE("lora: hu starts exactly where the model was; merge computes the adapted model bit for bit", "[imc]") {
  auto net = lora_net(1);
  const Tensor x = testing::uniform({5, 1, 6, 6}, -1, 1, 7);
  net->eval();
  const std::vector<float> before = net->forward(x).to_vector();
  Generator gen(3);
  REQUIRE(attach_lora(*net, rank(2), gen, "test") == std::vector<std::string>{"2", "5"});
  CHECK(net->forward(x).to_vector() == before);  // B = 0: W + 0 is W, every bit
  // Move B (and so the function), then merge: the same outputs from the folded weights.
  for (auto& [path, l] : imc_layers(*net))
    if (auto* w = dynamic_cast<ImcWeightLayer*>(l); w && w->lora)
      w->lora->B.copy_from(testing::uniform(w->lora->B.shape(), -0.3f, 0.3f, 11));
  const std::vector<float> adapted = net->forward(x).to_vector();
  CHECK(adapted != before);
  REQUIRE(merge_lora(*net) == std::vector<std::string>{"2", "5"});
  for (const auto& [name, p] : net->named_parameters()) CHECK(name.find("lora") == std::string::npos);
  CHECK(net->forward(x).to_vector() == adapted);
}

TEST_CASE("lora: a glob that matches no layer on the arrays is an error naming it", "[imc]") {
  auto net = lora_net(1);
  Generator gen(3);
  LoraConfig c = rank(2);
  c.targets = {"5", "*.qkv"};
  CHECK_THROWS_WITH(attach_lora(*net, c, gen, "config: stages[2]"),
                    Catch::Equals("config: stages[2]: lora.targets glob \"*.qkv\" matches no layer on the arrays "
                                  "(they are: 2, 5)"));
  // Nothing was attached on the way to the error.
  for (const auto& [name, p] : net->named_parameters()) CHECK(name.find("lora") == std::string::npos);
}

TEST_CASE("lora: trainable-parameter counts are r (K + N) per adapted layer", "[imc]") {
  auto net = lora_net(1);
  Generator gen(3);
  LoraConfig c = rank(3);
  c.targets = {"*"};
  attach_lora(*net, c, gen, "test");
  const std::vector<LoraCount> counts = lora_counts(*net);
  REQUIRE(counts.size() == 2);
  CHECK(counts[0].path == "2");
  CHECK(counts[0].weight == 4 * 16 * 9);
  CHECK(counts[0].adapter == 3 * (16 * 9 + 4));  // K = 144 rows, N = 4 columns
  CHECK(counts[1].weight == 24 * 144);
  CHECK(counts[1].adapter == 3 * (144 + 24));
  int64_t adapter_params = 0;
  for (const auto& [name, p] : net->named_parameters())
    if (name.find(".lora.") != std::string::npos) adapter_params += p.numel();
  CHECK(adapter_params == counts[0].adapter + counts[1].adapter);
  // A rank above min(K, N) is cut to it (conv 2 has N = 4).
  auto wide = lora_net(1);
  attach_lora(*wide, rank(8), gen, "test");
  CHECK(lora_counts(*wide)[0].adapter == 4 * (144 + 4));
}

TEST_CASE("lora: gradient check into A and B through Q_w(W + A B), and through the whole LoRA IMC layer", "[imc][gradcheck]") {
  // The declared surrogate of Q_w is the straight-through estimator: with its rounding skipped,
  // Q_w is clip(w / s) s, smooth inside the clip range, and the finite differences check the
  // adapter's backward exactly. On the arrays the ADC's floor is skipped too (un-floored ADC,
  // 16-row tiles at k = 1, ba 12: nothing clips), so the whole layer is smooth.
  for (const bool arrays : {false, true}) {
    INFO((arrays ? "ImcLinear on arrays, un-floored ADC" : "ImcLinear in qat mode (product of codes)"));
    manual_seed(5);
    AdcConfig hw;
    hw.rows = 16, hw.k = 1, hw.ba = 12;
    ImcLinear layer(20, 6, true, quant::QuantOptions{4, 4, true, false, false}, hw);
    layer.mode = arrays ? ImcMode::array : ImcMode::qat;
    const Tensor x = testing::uniform({3, 20}, -1, 1, 8);
    layer.forward(x);  // LSQ+ initialisation
    layer.act_quant->rounding = quant::Rounding::skip;
    layer.weight_quant->rounding = quant::Rounding::skip;
    layer.act_quant->scale.data()[0] *= 2.0f;
    layer.weight_quant->scale.data()[0] *= 4.0f;  // nothing clips, W + A B included
    layer.adc_rounding = quant::Rounding::skip;
    auto adapter = std::make_shared<LoraAdapter>(20, 6, 2, 4.0);
    adapter->A.copy_from(testing::uniform({20, 2}, -0.2f, 0.2f, 9));
    adapter->B.copy_from(testing::uniform({2, 6}, -0.2f, 0.2f, 10));
    attach_adapter(layer, adapter);
    const GradcheckResult r = gradcheck([&](const std::vector<Tensor>& in) { return layer.forward(in[0]); },
                                        {x, adapter->A, adapter->B, layer.weight, layer.bias});
    INFO(r.report());
    REQUIRE(r.ok);
    REQUIRE(r.checked > 0);
  }
}

TEST_CASE("lora: adc_mse's Eq. 12 objective falls with training on a fixed batch; W and the scales stay put", "[imc]") {
  auto net = lora_net(2);
  Generator gen(4);
  attach_lora(*net, rank(4), gen, "test");
  const Tensor x = testing::uniform({16, 1, 6, 6}, -1, 1, 21);
  NamedTensors adapters;
  std::vector<std::vector<float>> frozen;
  for (auto& [name, p] : net->named_parameters()) {
    if (name.find(".lora.") != std::string::npos) adapters.emplace_back(name, p);
    else frozen.push_back(p.to_vector());
  }
  REQUIRE(set_lora_mse(*net, true) == 2);
  std::vector<double> objective;
  for (int step = 0; step <= 40; ++step) {  // plain gradient descent on A and B (imc/ has no optimizer)
    net->zero_grad();
    net->forward(x);
    const LoraMseObjective o = lora_mse_objective(*net);
    REQUIRE(o.per_layer.size() == 2);
    objective.push_back(o.total.item());
    o.total.backward();
    autograd::NoGradGuard ng;
    for (auto& [name, p] : adapters) {
      const std::vector<float> g = p.grad().to_vector();
      for (size_t i = 0; i < g.size(); ++i) p.data()[i] -= 1.0f * g[i];
    }
  }
  CHECK(objective.back() < 0.5 * objective.front());  // 0.0095 -> 0.0027 when written
  // The objective at step 0 is the ADC's own error: B = 0, Ybar is Q_A of the exact product.
  CHECK(objective.front() > 0.0);
  set_lora_mse(*net, false);
  size_t i = 0;
  for (auto& [name, p] : net->named_parameters())
    if (name.find(".lora.") == std::string::npos) CHECK(p.to_vector() == frozen[i++]);
}

TEST_CASE("lora: svd's rank-r correction removes what the truncated SVD of W - Q_w(W) predicts", "[imc]") {
  // A hand-made 6 x 8 weight: a smooth ramp plus a checkerboard, 3-bit codes (the residual is
  // large and has structure). One round: Q = Q_w(W), delta = the rank-r SVD of R = W - Q, so
  // ||R - delta||^2 = ||R||^2 - (sigma_1^2 + ... + sigma_r^2) (Eckart-Young), checked against an
  // independent JacobiSVD of R.
  AdcConfig hw;
  ImcLinear layer(8, 6, false, quant::QuantOptions{3, 3, true, false, false}, hw);
  for (int64_t n = 0; n < 6; ++n)
    for (int64_t k = 0; k < 8; ++k)
      layer.weight.data()[n * 8 + k] = 0.07f * float(n) - 0.05f * float(k) + ((n + k) % 2 ? 0.031f : -0.027f);
  layer.weight_quant->scale.data()[0] = 0.09f;
  const std::vector<float> w0 = layer.weight.to_vector();
  Eigen::MatrixXd R(6, 8);
  {
    autograd::NoGradGuard ng;
    const std::vector<float> q = layer.weight_quant->forward(layer.weight).to_vector();
    for (int64_t i = 0; i < 48; ++i) R(i / 8, i % 8) = double(w0[size_t(i)]) - double(q[size_t(i)]);
  }
  const Eigen::VectorXd sigma = Eigen::JacobiSVD<Eigen::MatrixXd>(R).singularValues();
  for (const int64_t r : {1, 2, 3}) {
    CAPTURE(r);
    layer.weight.copy_from(Tensor::from_vector(w0, {6, 8}));
    if (layer.lora) merge_adapter(layer), layer.weight.copy_from(Tensor::from_vector(w0, {6, 8}));
    attach_adapter(layer, std::make_shared<LoraAdapter>(8, 6, r, 1.0));
    const double residual = lora_svd_init(layer, 1);
    const double predicted = std::sqrt(R.squaredNorm() - sigma.head(r).squaredNorm());
    CHECK(residual == Approx(predicted).epsilon(1e-9));
    CHECK(residual < R.norm());
    // The float adapter and the frozen backbone carry it: ||W0 - (Q + delta)|| with what the layer holds.
    autograd::NoGradGuard ng;
    const std::vector<float> held = adapted_weight(layer).to_vector();
    double e = 0;
    for (size_t i = 0; i < 48; ++i) e += std::pow(double(w0[i]) - double(held[i]), 2);
    CHECK(std::sqrt(e) == Approx(predicted).epsilon(1e-4));
  }
}
