// tests/optim/test_optimizer.cpp — parameter groups, glob patterns, lr and optimizer state.
#include <cstring>

#include "optim/adamw.h"
#include "optim/sgd.h"
#include "tests/support/testing.h"

using namespace raoq;

namespace {
Tensor param(const Shape& shape, float value) { return Tensor::full(shape, value).set_requires_grad(true); }
std::vector<std::string> member_names(const Optimizer& opt, const std::string& group) {
  std::vector<std::string> out;
  for (const auto& g : opt.groups())
    if (g.name == group)
      for (size_t i : g.members) out.push_back(opt.params()[i].first);
  return out;
}
bool same_bytes(const Tensor& a, const Tensor& b) {
  return a.shape() == b.shape() && std::memcmp(a.data(), b.data(), sizeof(float) * a.numel()) == 0;
}
}  // namespace

TEST_CASE("optimizer: glob_match", "[optim]") {
  CHECK(glob_match("*.bias", "fc.bias"));
  CHECK(glob_match("*.bias", "layer1.0.bn1.bias"));
  CHECK_FALSE(glob_match("*.bias", "bias"));
  CHECK_FALSE(glob_match("*.bias", "fc.bias_extra"));
  CHECK(glob_match("*bn*.weight", "layer1.0.bn1.weight"));
  CHECK_FALSE(glob_match("*bn*.weight", "layer1.0.conv1.weight"));
  CHECK(glob_match("*", ""));
  CHECK(glob_match("fc.weight", "fc.weight"));
  CHECK_FALSE(glob_match("fc.weight", "fc.weights"));
  CHECK(glob_match("a*b*c", "aXXbYYbZc"));
  CHECK_FALSE(glob_match("a*b*c", "aXXbYY"));
}

TEST_CASE("optimizer: groups by pattern, 1-D rule, frozen parameters left out", "[optim]") {
  Tensor w = param({2, 2}, 1.0f), b = param({2}, 1.0f), bnw = param({2}, 1.0f), scale = param({}, 1.0f);
  Tensor head = param({2, 2}, 1.0f), frozen = Tensor::full({2, 2}, 1.0f);
  const NamedTensors named{{"fc.weight", w},        {"fc.bias", b},        {"bn.weight", bnw},
                           {"quant.scale", scale}, {"head.weight", head}, {"base.weight", frozen}};
  GroupSpec slow{.name = "head", .patterns = {"head.*"}, .lr_scale = 0.1, .weight_decay = 0.5};
  SGD opt(named, {.lr = 1.0, .weight_decay = 0.5}, {no_weight_decay(), slow});
  REQUIRE(member_names(opt, "no_decay") == std::vector<std::string>{"fc.bias", "bn.weight", "quant.scale"});
  REQUIRE(member_names(opt, "head") == std::vector<std::string>{"head.weight"});
  REQUIRE(member_names(opt, "default") == std::vector<std::string>{"fc.weight"});
  REQUIRE(opt.params().size() == 5);  // the frozen tensor is not optimised
  REQUIRE_THAT(opt.describe(), Catch::Contains("group 'head': lr_scale 0.1, weight_decay 0.5, 1 params: head.weight"));

  // Zero gradients isolate weight decay: p -= lr * lr_scale * wd * p.
  for (const auto& [name, t] : opt.params()) Tensor(t).set_grad(Tensor::zeros(t.shape()));
  opt.step();
  CHECK(w.data()[0] == 0.5f);          // default: 1 - 1.0 * 0.5
  CHECK(b.data()[0] == 1.0f);          // no decay
  CHECK(bnw.data()[0] == 1.0f);        // 1-D: no decay
  CHECK(scale.item() == 1.0f);         // *.scale: no decay
  CHECK(head.data()[0] == 0.95f);      // 1 - 0.1 * 0.5
  CHECK(frozen.data()[0] == 1.0f);

  opt.set_lr(0.0);
  opt.step();
  CHECK(w.data()[0] == 0.5f);
  REQUIRE(opt.lr() == 0.0);
}

TEST_CASE("optimizer: state_dict round trip resumes bit for bit", "[optim]") {
  const auto run = [](Optimizer& opt, const Tensor& p, int steps, int offset) {
    for (int s = 0; s < steps; ++s) {
      std::vector<float> g(static_cast<size_t>(p.numel()));
      for (size_t i = 0; i < g.size(); ++i) g[i] = 0.3f * static_cast<float>(i + 1) - 0.1f * static_cast<float>(s + offset);
      Tensor(p).set_grad(Tensor::from_vector(g, p.shape()));
      opt.step();
    }
  };
  Tensor p = param({3}, 0.5f);
  AdamW a({{"fc.weight", p}}, {.lr = 0.05});
  run(a, p, 2, 0);
  // Checkpoint: clone parameter and state, continue the original.
  Tensor p2 = p.clone().set_requires_grad(true);
  NamedTensors saved;
  for (const auto& [k, t] : a.state_dict()) saved.emplace_back(k, t.clone());
  run(a, p, 3, 2);
  AdamW b({{"fc.weight", p2}}, {.lr = 0.05});
  b.load_state_dict(saved);
  REQUIRE(b.step_count() == 2);
  run(b, p2, 3, 2);
  REQUIRE(same_bytes(p, p2));
  REQUIRE(same_bytes(a.state_dict()[3].second, b.state_dict()[3].second));

  SECTION("errors name the key") {
    NamedTensors missing(saved.begin(), saved.end() - 1);
    REQUIRE_THROWS_WITH(b.load_state_dict(missing), Catch::Contains("missing key 'fc.weight.exp_avg_sq'"));
    NamedTensors extra = saved;
    extra.emplace_back("fc.bias.exp_avg", Tensor::zeros({3}));
    REQUIRE_THROWS_WITH(b.load_state_dict(extra), Catch::Contains("unexpected key 'fc.bias.exp_avg'"));
    NamedTensors wrong = saved;
    wrong[2].second = Tensor::zeros({4});
    REQUIRE_THROWS_WITH(b.load_state_dict(wrong),
                        Catch::Contains("'fc.weight.exp_avg' has shape [4] in the entries but [3] here"));
  }
}
