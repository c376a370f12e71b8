// tests/models/test_transformers.cpp — gpt and bert: causality (exact), module paths and pinned
// parameter counts, registry validation, the tied head, gradient checks of a block and of whole
// tiny models, and the masked-language-model batches.
#include <algorithm>
#include <cmath>
#include <sstream>

#include "core/error.h"
#include "core/ops.h"
#include "core/rng.h"
#include "imc/imc_model.h"
#include "imc/method.h"
#include "models/bert.h"
#include "models/gpt.h"
#include "models/registry.h"
#include "models/summary.h"
#include "quant/quant_attention.h"
#include "quant/quant_linear.h"
#include "quant/quantizer.h"
#include "quant/quantize_model.h"
#include "tests/layers/layer_check.h"

using namespace raoq;
using Catch::Detail::Approx;
using models::build_model;
using models::TransformerLM;

namespace {
// ids: (B, T) whole numbers in [0, V)
Tensor token_ids(int64_t B, int64_t T, int64_t V, uint64_t seed) {
  return testing::random_codes({B, T}, 0.0f, static_cast<float>(V - 1), seed);
}
std::shared_ptr<TransformerLM> build_lm(const std::string& name, const Json& options) {
  auto m = std::dynamic_pointer_cast<TransformerLM>(build_model(name, options));
  REQUIRE(m != nullptr);
  return m;
}
std::vector<std::string> parameter_names(const Module& m) {
  std::vector<std::string> out;
  for (const auto& [n, t] : m.named_parameters()) out.push_back(n);
  return out;
}
// The tiny configuration of the gradient checks: d 8, 1 layer, 2 heads, context 4, vocab 5.
const Json kTiny = {{"vocab", 5}, {"context", 4}, {"d_model", 8}, {"layers", 1}, {"heads", 2}};
}  // namespace

TEST_CASE("gpt: logits at position t ignore tokens after t, exactly, in full precision and on the arrays",
          "[models]") {
  for (const bool arrays : {false, true}) {
    INFO((arrays ? "4-bit, on 16-row arrays with 6-bit ADCs (BMM1 too)" : "full precision"));
    manual_seed(3);
    auto m = build_lm("gpt", {{"vocab", 11}, {"context", 8}, {"d_model", 16}, {"layers", 2}, {"heads", 2}});
    if (arrays) {
      imc::MethodConfig q;
      q.on_arrays = true, q.unsigned_inputs = {"*.fc2"}, q.adc.rows = 16, q.adc.ba = 6;
      imc::apply_method(*m, q);
      REQUIRE(imc::imc_layers(*m).size() == 10);  // per block: qkv, out_proj, fc1, fc2 and BMM1
    }
    const int64_t T = 8, V = 11;
    const Tensor ids = token_ids(2, T, V, 31);
    const std::vector<float> base = m->forward(ids).to_vector();  // (2, T, V); also LSQ+'s initialisation
    for (int64_t t = 0; t + 1 < T; ++t) {
      INFO("tokens after " << t << " changed");
      Tensor changed = ids.clone();
      for (int64_t b = 0; b < 2; ++b)
        for (int64_t s = t + 1; s < T; ++s)  // (id + 1 + s) % V differs from id for s + 1 < V
          changed.data()[b * T + s] = float((int64_t(ids.data()[b * T + s]) + 1 + s) % V);
      const std::vector<float> out = m->forward(changed).to_vector();
      bool later_changed = false;
      for (int64_t b = 0; b < 2; ++b)
        for (int64_t s = 0; s < T; ++s)
          for (int64_t v = 0; v < V; ++v) {
            const size_t i = size_t((b * T + s) * V + v);
            if (s <= t) REQUIRE(out[i] == base[i]);  // bit for bit, not approximately
            else later_changed = later_changed || out[i] != base[i];
          }
      REQUIRE(later_changed);  // the test can fail: the changes reach the positions they should
    }
  }
}

TEST_CASE("gpt: on arrays without ADC it computes the QAT model; with the ADC the logits move", "[models]") {
  manual_seed(4);
  auto m = build_lm("gpt", {{"vocab", 11}, {"context", 8}, {"d_model", 16}, {"layers", 2}, {"heads", 2}});
  imc::MethodConfig q;
  q.on_arrays = true, q.unsigned_inputs = {"*.fc2"}, q.adc.rows = 16, q.adc.ba = 4, q.adc.enabled = false;
  imc::apply_method(*m, q);
  const Tensor ids = token_ids(2, 8, 11, 32);
  const Tensor exact = m->forward(ids);  // the arrays' exact integer sums, dequantized
  imc::set_imc_mode(*m, imc::ImcMode::qat);
  const Tensor qat = m->forward(ids);  // the QAT model: float products of the codes
  // Bit for bit: every IMC layer (qkv, proj, fc1, fc2 with A-shift, BMM1) dequantizes the same
  // integer sums the same way as its QAT layer (quant/dequantize.h).
  REQUIRE(exact.to_vector() == qat.to_vector());
  for (auto& [path, l] : imc::imc_layers(*m)) l->config.enabled = true;  // 4-bit ADCs on 16 rows: coarse
  imc::set_imc_mode(*m, imc::ImcMode::array);
  const std::vector<float> adc = m->forward(ids).to_vector();
  double moved = 0;
  for (size_t i = 0; i < adc.size(); ++i) moved = std::max(moved, double(std::fabs(adc[i] - exact.data()[i])));
  CHECK(moved > 1e-3);  // the ADC is in the loop
}

TEST_CASE("bert: attention is bidirectional, so a later token changes an earlier logit", "[models]") {
  manual_seed(4);
  auto m = build_lm("bert", {{"vocab", 11}, {"context", 8}, {"d_model", 16}, {"layers", 2}, {"heads", 2}});
  const Tensor ids = token_ids(1, 8, 11, 41);
  const Tensor logits = m->forward(ids);
  REQUIRE(logits.shape() == Shape{1, 8, 12});  // vocab + 1 columns: id 11 is [MASK]
  Tensor changed = ids.clone();
  changed.data()[7] = float((int64_t(ids.data()[7]) + 1) % 11);
  const std::vector<float> a = logits.to_vector(), b = m->forward(changed).to_vector();
  bool first_changed = false;
  for (size_t v = 0; v < 12; ++v) first_changed = first_changed || a[v] != b[v];  // position 0
  REQUIRE(first_changed);
  REQUIRE(std::dynamic_pointer_cast<models::Bert>(m)->mask_id() == 11);
}

TEST_CASE("gpt, bert: module paths, module order and the presets' parameter counts", "[models]") {
  manual_seed(0);
  auto gpt = build_lm("gpt", {{"vocab", 7}, {"context", 4}, {"d_model", 8}, {"layers", 1}, {"heads", 2}});
  // A module lists its own parameters before its children's: pos_emb comes first.
  REQUIRE(parameter_names(*gpt) ==
          std::vector<std::string>{"pos_emb", "tok_emb.weight", "blocks.0.ln1.weight", "blocks.0.ln1.bias",
                                   "blocks.0.attn.qkv_proj.weight", "blocks.0.attn.qkv_proj.bias",
                                   "blocks.0.attn.out_proj.weight", "blocks.0.attn.out_proj.bias",
                                   "blocks.0.ln2.weight", "blocks.0.ln2.bias", "blocks.0.fc1.weight",
                                   "blocks.0.fc1.bias", "blocks.0.fc2.weight", "blocks.0.fc2.bias", "ln_f.weight",
                                   "ln_f.bias", "head.weight", "head.bias"});
  // The LM head is the last Linear in module order and the token embedding, the first layer, is
  // no Linear: the quantization pass keeps the embedding digital, gives only the head its 8-bit
  // edge options off the array, and maps qkv, out_proj, fc1, fc2 and BMM1 (attn) onto it
  // (paper appendix J).
  const auto summary = quant::quantize_model(*gpt);
  REQUIRE(summary.off_array == std::vector<std::string>{"head"});
  REQUIRE(summary.on_array == std::vector<std::string>{"blocks.0.attn", "blocks.0.attn.qkv_proj",
                                                       "blocks.0.attn.out_proj", "blocks.0.fc1", "blocks.0.fc2"});
  REQUIRE(gpt->forward(token_ids(1, 4, 7, 5)).shape() == Shape{1, 4, 7});
  // gpt-tiny, by hand (V 256, context 128, D 256, F 1024, 4 layers):
  //   tok_emb 256*256 = 65,536   pos_emb 128*256 = 32,768   ln_f 512   head 256*256 + 256 = 65,792
  //   per block: ln1 + ln2 1,024, qkv 256*768 + 768 = 197,376, out 65,792, fc1 263,168, fc2 262,400
  //              = 789,760, times 4 = 3,159,040                                     -> 3,323,648
  // which is also the count of the benchmark's former gpt-tiny (bench::GptTiny, before the
  // benchmark moved to this model).
  auto tiny = build_model("gpt-tiny");
  REQUIRE(tiny->num_parameters() == 3323648);
  REQUIRE(tiny->num_parameters() == build_model("gpt")->num_parameters());
  // bert-tiny (V 256 + [MASK], context 128, D 128, F 512, 2 layers):
  //   tok_emb 257*128 = 32,896   pos_emb 16,384   ln_f 256   head 128*257 + 257 = 33,153
  //   per block: 512 + (128*384 + 384) + (128*128 + 128) + (128*512 + 512) + (512*128 + 128) = 198,272
  //              times 2 = 396,544                                                    -> 479,233
  auto bert = build_lm("bert-tiny", Json::object());
  REQUIRE(bert->num_parameters() == 479233);
  REQUIRE(parameter_names(*bert) == parameter_names(*build_lm("gpt", {{"d_model", 128}, {"layers", 2}, {"heads", 2},
                                                                      {"vocab", 257}})));
  REQUIRE(bert->forward(token_ids(2, 5, 257, 6)).shape() == Shape{2, 5, 257});
  REQUIRE(models::example_input_shape(Json{{"name", "bert-tiny"}}) == Shape{128});
  // Dropout modules exist only when asked for, so dropout 0 draws nothing from the generator.
  auto dropped = build_lm("gpt", {{"vocab", 7}, {"context", 4}, {"d_model", 8}, {"layers", 1}, {"heads", 2},
                                  {"dropout", 0.1}});
  for (const char* path : {"drop", "blocks.0.drop1", "blocks.0.drop2"})
    CHECK(dropped->submodule(path)->type_name() == "Dropout");
  const Tensor some_ids = token_ids(1, 4, 7, 7);
  CHECK(dropped->forward(some_ids).to_vector() != dropped->forward(some_ids).to_vector());  // training: masks differ
  dropped->eval();
  CHECK(dropped->forward(some_ids).to_vector() == dropped->forward(some_ids).to_vector());
  REQUIRE_THROWS_WITH(gpt->submodule("drop"), Catch::Contains("has no child 'drop'"));
}

TEST_CASE("gpt: the registry validates every key with a one-line error naming it", "[models]") {
  using Catch::Equals;
  const auto error = [](const Json& options) {
    try {
      build_model("gpt", options);
    } catch (const Error& e) {
      return std::string(e.what());
    }
    return std::string("(no error)");
  };
  CHECK_THAT(error({{"vocab", 0}}), Equals("model: vocab must be an integer in [1, 16777215] (got 0)"));
  CHECK_THAT(error({{"context", 0}}), Equals("model: context must be an integer in [1, 1048576] (got 0)"));
  CHECK_THAT(error({{"d_model", 2.5}}), Equals("model: d_model must be an integer in [1, 65536] (got 2.5)"));
  CHECK_THAT(error({{"layers", 0}}), Equals("model: layers must be an integer in [1, 1024] (got 0)"));
  CHECK_THAT(error({{"heads", 3}}), Equals("model: heads must divide d_model (256), got 3"));
  CHECK_THAT(error({{"mlp_ratio", 0}}), Equals("model: mlp_ratio must be an integer in [1, 64] (got 0)"));
  CHECK_THAT(error({{"dropout", 1.0}}), Equals("model: dropout must be in [0, 1) (got 1.0)"));
  CHECK_THAT(error({{"tie_head", "yes"}}), Equals("model: tie_head must be true or false (got \"yes\")"));
  CHECK_THAT(error({{"bias", 1}}), Equals("model: bias must be true or false (got 1)"));
  CHECK_THAT(error({{"d_modle", 64}}), Equals("model: d_modle is not a known key (did you mean d_model?)"));
  REQUIRE_THROWS_WITH(models::validate_model(Json{{"name", "bert-tiny"}, {"heads", 0}}, "config", "model"),
                      Equals("config: model.heads must be an integer in [1, 65536] (got 0)"));
  // Every option appears in the resolved description, in a fixed order, with the preset's defaults.
  REQUIRE(models::validate_model(Json{{"name", "bert-tiny"}}) ==
          Json{{"name", "bert-tiny"}, {"vocab", 256},    {"context", 128},   {"d_model", 128}, {"layers", 2},
               {"heads", 2},          {"mlp_ratio", 4},  {"dropout", 0.0},   {"tie_head", false}, {"bias", true}});
  // Inputs are checked at forward, naming the model and what it expected.
  manual_seed(0);
  auto m = build_model("gpt", kTiny);
  REQUIRE_THROWS_WITH(m->forward(token_ids(1, 5, 5, 1)),
                      Equals("Gpt: expected token ids (B, T) with 1 <= T <= context (4), got [1, 5]"));
  REQUIRE_THROWS_WITH(m->forward(Tensor::full({1, 2}, 5.0f)), Catch::Contains("index 5") && Catch::Contains("[0, 5)"));
  REQUIRE_THROWS_WITH(m->forward(Tensor::full({1, 2}, 0.5f)), Catch::Contains("is not a whole number"));
}

TEST_CASE("gpt, bert: a tied head shares the token table, also after quantization", "[models]") {
  manual_seed(0);
  Json tied = kTiny;
  tied["tie_head"] = true;
  auto m = build_lm("gpt", tied);
  REQUIRE(m->tok_emb->type_name() == "TiedEmbedding");
  REQUIRE(m->token_table().data() == m->head->weight.data());  // one tensor, not a copy
  const auto names = parameter_names(*m);
  REQUIRE(std::count(names.begin(), names.end(), "tok_emb.weight") == 0);  // registered once, as head.weight
  REQUIRE(m->num_parameters() == build_model("gpt", kTiny)->num_parameters() - 5 * 8);
  // The lookup reads the head's rows: id 3 embeds as head.weight[3, :] (the position rows start at 0).
  const Tensor row = m->tok_emb->forward(Tensor::full({1}, 3.0f));  // (1, D)
  for (int64_t d = 0; d < 8; ++d) REQUIRE(row.data()[d] == m->head->weight.data()[3 * 8 + d]);
  // quantize_model swaps the head for a QuantLinear holding a copy; the lookup follows the swap.
  quant::quantize_model(*m);
  REQUIRE(std::dynamic_pointer_cast<quant::QuantLinear>(m->head) != nullptr);
  REQUIRE(m->token_table().data() == m->head->weight.data());
  auto bert = build_lm("bert", tied);
  REQUIRE(bert->token_table().data() == bert->head->weight.data());
  REQUIRE(bert->token_table().shape() == Shape{6, 8});  // vocab + [MASK]
}

TEST_CASE("gpt: gradient check of a whole block, causal and not", "[models][gradcheck]") {
  for (bool causal : {true, false}) {
    INFO("causal " << causal);
    manual_seed(5);
    models::TransformerBlock block(8, 2, 32, causal, /*bias=*/true, /*dropout=*/0.0f);
    RAOQ_REQUIRE_LAYER_GRADCHECK(block, testing::uniform({1, 3, 8}, -1, 1, 51));
  }
}

TEST_CASE("gpt: gradient check of a whole block quantized, and on arrays, with every rounding skipped",
          "[models][gradcheck]") {
  // The declared surrogates (STE through LSQ+ and the ADC) are the exact gradients of the same
  // functions without rounding: with it skipped everywhere, the block is smooth away from the clip
  // limits, and finite differences check the whole quantized and IMC backward, BMM1 included.
  for (const bool arrays : {false, true}) {
    INFO((arrays ? "on 16-row arrays, k = 1, ba 12 (no clipping)" : "QAT"));
    manual_seed(9);
    auto block = std::make_shared<models::TransformerBlock>(8, 2, 32, /*causal=*/true, /*bias=*/true, 0.0f);
    quant::QuantizeRules rules;
    rules.edge_layers = false;  // every Linear of the block is a body layer here
    rules.body = quant::QuantOptions{4, 4, true, true, false};
    rules.body_paths = {"fc2"};
    rules.body.act_signed = false;  // fc2's GELU input: unsigned codes (A-shifted on the arrays)
    quant::quantize_model(*block, rules);
    if (arrays) {
      imc::AdcConfig hw;
      hw.rows = 16, hw.k = 1, hw.ba = 12;
      imc::to_imc(*block, imc::ImcRules{hw, {}});
      REQUIRE(imc::imc_layers(*block).size() == 5);
    }
    const Tensor x = testing::uniform({1, 3, 8}, -1, 1, 52);
    block->forward(x);  // LSQ+ initialisation from this input
    for (auto& [path, m] : block->named_modules()) {  // skip every rounding; widen the scales: nothing clips
      if (auto* a = dynamic_cast<quant::ActQuantizer*>(m.get())) a->rounding = quant::Rounding::skip, a->scale.data()[0] *= 2.0f;
      if (auto* w = dynamic_cast<quant::WeightQuantizer*>(m.get())) {
        w->rounding = quant::Rounding::skip;
        for (int64_t i = 0; i < w->scale.numel(); ++i) w->scale.data()[i] *= 2.0f;
      }
      if (auto* q = dynamic_cast<quant::QuantAttention*>(m.get())) q->prob_rounding = quant::Rounding::skip;
    }
    for (auto& [path, l] : imc::imc_layers(*block)) l->adc_rounding = quant::Rounding::skip;
    // The input, weights, biases and LayerNorm parameters. Quantizer scales are left to the
    // quantizer tests (tests/quant): BMM2's V scale is 0.021 here and the stencil reaches 2h = 0.02
    // from it, down to the scale's floor, so a difference quotient measures that floor (the same
    // check passes with that scale multiplied by 50, tried while writing this test).
    std::vector<Tensor> inputs{x};
    for (const auto& [name, t] : block->named_parameters())
      if (name.find("_quant.") == std::string::npos) inputs.push_back(t);
    const GradcheckResult r = gradcheck([&](const std::vector<Tensor>& in) { return block->forward(in[0]); }, inputs);
    INFO(r.report());
    REQUIRE(r.ok);
    REQUIRE(r.checked > 0);
  }
}

TEST_CASE("gpt, bert: gradient check of whole tiny models (d 8, 1 layer, 2 heads, context 4, vocab 5)",
          "[models][gradcheck]") {
  // Token ids are not differentiable: the check perturbs every parameter, with the ids fixed.
  const auto check = [](Module& m, const std::function<Tensor(const Tensor&)>& loss, const Tensor& ids) {
    const GradcheckResult r = gradcheck([&](const std::vector<Tensor>&) { return loss(m.forward(ids)); },
                                        m.parameters());
    INFO(r.report());
    REQUIRE(r.ok);
    REQUIRE(r.checked == m.num_parameters());
  };
  const auto logits = [](const Tensor& y) { return y; };  // (B, T, V), projected by gradcheck
  const Tensor ids = token_ids(2, 4, 5, 61);
  for (bool tie : {false, true}) {
    INFO("tie_head " << tie);
    Json options = kTiny;
    options["tie_head"] = tie;
    manual_seed(6);
    auto gpt = build_model("gpt", options);
    check(*gpt, logits, ids);  // tied: the table's gradient sums the lookup's and the head's
    manual_seed(7);
    auto bert = build_model("bert", options);
    Generator gen(8);
    const models::MlmBatch batch = models::make_mlm_batch(ids, 5, gen, {0.5, 0.8, 0.1});
    check(*bert, [&](const Tensor& y) { return models::mlm_loss(y, batch); }, batch.inputs);
  }
}

TEST_CASE("bert: MLM batches are deterministic for a seed and follow 15% and 80/10/10", "[models]") {
  const int64_t B = 1024, T = 128, V = 256;
  const Tensor ids = token_ids(B, T, V, 71);
  Generator g1(9), g2(9), g3(10);
  const models::MlmBatch a = models::make_mlm_batch(ids, V, g1), b = models::make_mlm_batch(ids, V, g2);
  REQUIRE(a.inputs.to_vector() == b.inputs.to_vector());
  REQUIRE(a.targets == b.targets);
  REQUIRE(a.positions == b.positions);
  REQUIRE(models::make_mlm_batch(ids, V, g3).positions != a.positions);
  // Exactly round(0.15 * 128) = 19 positions per sequence, ascending; targets -1 elsewhere.
  REQUIRE(a.positions.size() == size_t(B * 19));
  REQUIRE(std::is_sorted(a.positions.begin(), a.positions.end()));
  REQUIRE(a.inputs.shape() == ids.shape());
  int64_t masked = 0, replaced = 0, kept = 0, chosen = 0;
  for (int64_t i = 0; i < B * T; ++i) {
    const float in = a.inputs.data()[i], orig = ids.data()[i];
    if (a.targets[size_t(i)] < 0) {
      REQUIRE(in == orig);  // unchosen positions are untouched
      continue;
    }
    ++chosen;
    REQUIRE(a.targets[size_t(i)] == int64_t(orig));
    if (in == float(V)) ++masked;
    else if (in != orig) ++replaced;
    else ++kept;
  }
  REQUIRE(chosen == B * 19);
  // 19,456 chosen positions: one standard deviation of the masked fraction is sqrt(0.8*0.2/n) =
  // 0.0029 and of each 10% part sqrt(0.1*0.9/n) = 0.0022, so 0.015 is over 5 of them. A random
  // draw equal to the original counts as kept (expected 0.1 / 256 of the chosen), far inside.
  const double n = double(chosen);
  CHECK(double(masked) / n == Approx(0.8).margin(0.015));
  CHECK(double(replaced) / n == Approx(0.1).margin(0.015));
  CHECK(double(kept) / n == Approx(0.1).margin(0.015));
  // A short sequence still gets one position; bad arguments are named.
  Generator g4(1);
  REQUIRE(models::make_mlm_batch(token_ids(3, 4, V, 72), V, g4).positions.size() == 3);
  REQUIRE_THROWS_WITH(models::make_mlm_batch(ids, 100, g4), Catch::Contains("is not a whole number in [0, 100)"));
  REQUIRE_THROWS_WITH(models::make_mlm_batch(ids, V, g4, {0.15, 0.8, 0.3}),
                      Catch::Contains("mask_prob and random_prob must be >= 0 with a sum <= 1"));
}

TEST_CASE("bert: the MLM loss scores the chosen positions only", "[models]") {
  const int64_t B = 2, T = 6, C = 7;
  Tensor logits = testing::uniform({B, T, C}, -2, 2, 81);
  Generator gen(11);
  const models::MlmBatch batch = models::make_mlm_batch(token_ids(B, T, C - 1, 82), C - 1, gen, {0.5, 0.8, 0.1});
  REQUIRE(batch.positions.size() == 6);
  const Tensor loss = models::mlm_loss(logits, batch);
  // The same rows copied out by hand and scored by ops::cross_entropy.
  Tensor rows = Tensor::empty({6, C});
  std::vector<int64_t> targets;
  for (size_t r = 0; r < 6; ++r) {
    std::copy_n(logits.data() + batch.positions[r] * C, C, rows.data() + r * C);
    targets.push_back(batch.targets[size_t(batch.positions[r])]);
  }
  REQUIRE(loss.item() == ops::cross_entropy(rows, targets).item());
  loss.backward();
  for (int64_t i = 0; i < B * T; ++i) {
    const bool chosen = batch.targets[size_t(i)] >= 0;
    double norm = 0;
    for (int64_t c = 0; c < C; ++c) norm += std::abs(logits.grad().data()[i * C + c]);
    CHECK((norm > 0) == chosen);
  }
}

TEST_CASE("gpt: the summary prints the tree from token-id inputs", "[models]") {
  manual_seed(0);
  auto m = build_model("gpt", kTiny);
  std::ostringstream os;
  models::print_summary(*m, models::example_input_shape(Json{{"name", "gpt"}, {"context", 4}}), os);
  const std::string s = os.str();
  INFO(s);
  CHECK_THAT(s, Catch::Contains("blocks.0.attn.qkv_proj") && Catch::Contains("[1, 4, 24]"));
  CHECK_THAT(s, Catch::Contains("head") && Catch::Contains("[1, 4, 5]"));
  std::ostringstream tree;
  tree << *m;
  CHECK_THAT(tree.str(), Catch::Contains("Gpt(") && Catch::Contains("vocab=5, table_rows=5") &&
                             Catch::Contains("TransformerBlock"));
}
