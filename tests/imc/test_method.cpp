// tests/imc/test_method.cpp — RAOQ's switches on a whole model (apply_method, method_loss), a
// BitAug step against its two passes done by hand, and the "adc" JSON keys of the hardware.
#include <limits>

#include "core/error.h"
#include "core/json_fields.h"
#include "core/ops.h"
#include "core/rng.h"
#include "imc/adc_json.h"
#include "imc/bitaug.h"
#include "imc/imc_model.h"
#include "imc/method.h"
#include "layers/batch_norm2d.h"
#include "layers/conv2d.h"
#include "layers/flatten.h"
#include "layers/linear.h"
#include "layers/relu.h"
#include "layers/sequential.h"
#include "quant/quantize_model.h"
#include "quant/wreshape.h"
#include "tests/support/testing.h"

using namespace raoq;
using namespace raoq::imc;

namespace {
// conv (first: 8-bit, off the array) -> conv + BatchNorm -> conv -> linear (last: off the array).
// 16 input channels x 9 taps = 144 rows: with 64-row arrays each middle conv spans 3 row tiles.
std::shared_ptr<Module> small_net(uint64_t seed) {
  manual_seed(seed);
  return std::make_shared<Sequential>(std::initializer_list<std::shared_ptr<Module>>{
      std::make_shared<Conv2d>(1, 16, 3, ops::Conv2dOptions{.padding = 1}), std::make_shared<ReLU>(),
      std::make_shared<Conv2d>(16, 16, 3, ops::Conv2dOptions{.padding = 1}), std::make_shared<BatchNorm2d>(16),
      std::make_shared<ReLU>(), std::make_shared<Conv2d>(16, 16, 3, ops::Conv2dOptions{.padding = 1}),
      std::make_shared<ReLU>(), std::make_shared<Flatten>(), std::make_shared<Linear>(16 * 6 * 6, 4)});
}

MethodConfig raoq_on_arrays() {
  MethodConfig m;
  m.on_arrays = true;
  m.wreshape = 0.002;
  m.adc.rows = 64;
  m.adc.ba = 6;
  return m;
}

std::vector<std::vector<float>> grads_of(Module& model) {
  std::vector<std::vector<float>> g;
  for (const auto& [name, p] : model.named_parameters()) g.push_back(p.grad().defined() ? p.grad().to_vector() : std::vector<float>{});
  return g;
}
}  // namespace

TEST_CASE("method: apply_method maps the middle layers onto arrays at adc.ba, and refuses the other codes", "[imc]") {
  auto net = small_net(1);
  MethodConfig qat = raoq_on_arrays();
  qat.on_arrays = false;
  apply_method(*net, qat);  // a QAT stage: quantized layers, nothing on arrays yet
  CHECK(imc_layers(*net).empty());
  apply_method(*net, raoq_on_arrays());
  const auto layers = imc_layers(*net);
  REQUIRE(layers.size() == 2);  // the middle convs: first and last layers stay off the array
  for (const auto& [path, l] : layers) {
    CHECK(l->mode == ImcMode::array);
    CHECK(l->layer_config().ba == 6);
    CHECK(l->layer_config().bx == 4);
    CHECK(l->input_map().shift == 8);  // A-shift: unsigned 4-bit codes - 2^3
  }
  apply_method(*net, qat);  // back to QAT: the IMC layers stay, computing as their QAT layers
  for (const auto& [path, l] : imc_layers(*net)) CHECK(l->mode == ImcMode::qat);
  MethodConfig vanilla = raoq_on_arrays();
  vanilla.ashift = false;
  CHECK_THROWS_WITH(apply_method(*net, vanilla, "stage"),
                    Catch::StartsWith("stage.ashift is false but layer '2' of the model it starts from has unsigned"));
}

TEST_CASE("method: A-shift applies to the layers of unsigned_inputs; the others take signed LSQ+ codes", "[imc]") {
  auto net = small_net(3);
  MethodConfig m = raoq_on_arrays();
  m.unsigned_inputs = {"5"};  // as "*.fc2" for a transformer: only this layer's input is non-negative
  apply_method(*net, m);
  const auto layers = imc_layers(*net);
  REQUIRE(layers.size() == 2);
  CHECK(layers[0].first == "2");
  CHECK(layers[0].second->activation_quantizer().signed_codes);  // signed LSQ+, straight into the array
  CHECK(layers[0].second->quant_options().act_offset);
  CHECK(layers[0].second->input_map().shift == 0);
  CHECK_FALSE(layers[1].second->activation_quantizer().signed_codes);  // unsigned codes, A-shifted
  CHECK(layers[1].second->input_map().shift == 8);
  MethodConfig vanilla = m;
  vanilla.ashift = false;  // refused because of layer 5 only: layer 2 is signed either way
  CHECK_THROWS_WITH(apply_method(*net, vanilla, "stage"), Catch::Contains("layer '5'"));
  auto fresh = small_net(3);
  apply_method(*fresh, vanilla);  // vanilla: every array layer signed, zero offset
  for (const auto& [path, l] : imc_layers(*fresh)) {
    CHECK(l->activation_quantizer().signed_codes);
    CHECK_FALSE(l->quant_options().act_offset);
  }
}

TEST_CASE("method: method_loss is the task loss plus lambda_k times the kurtoses (Eq. 7)", "[imc]") {
  auto net = small_net(2);
  const MethodConfig m = raoq_on_arrays();
  apply_method(*net, m);
  const Tensor x = testing::uniform({2, 1, 6, 6}, 0.0f, 1.0f, 3, false);
  const Tensor task = ops::cross_entropy(net->forward(x), {0, 3});
  const std::vector<Tensor> kappas = quant::wreshape_kurtoses(*net);
  REQUIRE(kappas.size() == 2);
  const double expected = task.item() + 0.002 * (kappas[0].item() + kappas[1].item());
  CHECK(method_loss(*net, m, task).item() == Approx(expected).epsilon(1e-6));
  MethodConfig off = m;
  off.wreshape = 0.0;
  CHECK(method_loss(*net, off, task).is_same(task));
}

TEST_CASE("bitaug: a step's gradients are the pass at ba plus lambda_b times the pass at ba~", "[imc]") {
  const Tensor x = testing::uniform({4, 1, 6, 6}, 0.0f, 1.0f, 4, false);
  const std::vector<int64_t> y{0, 1, 2, 3};
  BitAugConfig c;
  c.ba = 6;
  c.seed = 11;
  const BitAugPosition at{.step = 3, .steps = 9, .draw = 5};
  // The same model twice; one takes bitaug_step, the other the two passes written out.
  auto a = small_net(5), b = small_net(5);
  apply_method(*a, raoq_on_arrays());
  apply_method(*b, raoq_on_arrays());
  a->train(), b->train();
  a->forward(x), b->forward(x);  // LSQ+ data initialisation, the same in both
  a->zero_grad(), b->zero_grad();
  const NamedTensors buffers_before = b->named_buffers();
  std::vector<std::vector<float>> running;
  for (const auto& [name, t] : buffers_before) running.push_back(t.to_vector());

  const BitAugStep s = bitaug_step(*a, c, at, [&] { return ops::cross_entropy(a->forward(x), y); });
  CHECK(s.ba_tilde == bitaug_bits(c, 5));
  CHECK(s.lambda == Approx(bitaug_lambda(3, 9)));
  CHECK(s.lambda == Approx(0.5 * (1 + std::cos(M_PI * 3.0 / 8.0))));

  set_adc_bits(*b, c.ba);
  ops::cross_entropy(b->forward(x), y).backward();
  std::vector<std::vector<float>> after_first;
  for (const auto& [name, t] : b->named_buffers()) after_first.push_back(t.to_vector());
  set_adc_bits(*b, s.ba_tilde);
  ops::scale(ops::cross_entropy(b->forward(x), y), static_cast<float>(s.lambda)).backward();
  set_adc_bits(*b, c.ba);

  CHECK(grads_of(*a) == grads_of(*b));  // bitwise: the same operations in the same order
  for (const auto& [path, l] : imc_layers(*a)) CHECK(l->config.ba == 6);
  // The pass at ba~ left the running statistics where the pass at ba put them.
  size_t i = 0;
  for (const auto& [name, t] : a->named_buffers()) CHECK(t.to_vector() == after_first[i++]);
  CHECK(after_first != running);  // (the pass at ba did move them)
}

TEST_CASE("adc json: every hardware key round-trips, and AdcConfig::validate names the bad key", "[imc]") {
  AdcConfig c;
  c.rows = 128, c.cols = 256, c.ba = 7, c.k = 2, c.signed_input = false, c.enabled = false;
  c.mapping = Mapping::bit_sliced, c.slice_bits = 3, c.weight_noise = 0.25f, c.output_noise = 0.5f;
  const Json j = adc_config_to_json(c);
  JsonFields f(j, "stages[2].adc");
  const AdcConfig back = adc_config_from_json(f);
  f.finish();
  CHECK(adc_config_to_json(back) == j);
  CHECK(back.slice_bits == 3);
  CHECK_FALSE(back.enabled);
  CHECK(back.mapping == Mapping::bit_sliced);
  AdcConfig noisy;
  noisy.weight_noise = 0.1f;
  CHECK(adc_config_to_json(noisy)["weight_noise"].dump() == "0.1");  // as a person wrote it, and exact:
  CHECK(static_cast<float>(adc_config_to_json(noisy)["weight_noise"].get<double>()) == 0.1f);

  auto error_for = [](const char* text) {
    const Json bad = Json::parse(text);
    JsonFields g(bad, "stages[2].adc");
    try {
      adc_config_from_json(g);
    } catch (const Error& e) {
      return std::string(e.what());
    }
    return std::string();
  };
  CHECK(error_for(R"({"k": 0})") == "config: stages[2].adc.k must be a positive integer (got 0)");
  CHECK(error_for(R"({"ba": 17})") == "config: stages[2].adc.ba must be in [1, 16] (got 17)");
  CHECK(error_for(R"({"mapping": "bit_sliced", "slice_bits": 1})") ==
        "config: stages[2].adc.slice_bits must be in [2, 8] (got 1)");
  CHECK(error_for(R"({"weight_noise": -1})") == "config: stages[2].adc.weight_noise must be >= 0 (got -1)");
  // 300000 rows x 8 x 7 reaches 2^24: column sums would stop being exact in float.
  CHECK_THAT(error_for(R"({"rows": 300000})"), Catch::StartsWith("config: stages[2].adc.rows * max|x| * max|w|"));
  CHECK_THAT(error_for(R"({"enabled": "yes"})"), Catch::StartsWith("config: stages[2].adc.enabled must be"));
}
