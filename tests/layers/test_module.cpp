// tests/layers/test_module.cpp — Module: registration, dotted paths, state dicts, modes,
// printing and replace_module.
#include <cstring>
#include <sstream>

#include "core/autograd.h"
#include "core/ops.h"
#include "core/rng.h"
#include "layers/layers.h"
#include "tests/support/testing.h"

using namespace raoq;

namespace {
// conv -> bn, registered in field form so replace_module can swap either.
struct Block : Module {
  std::shared_ptr<Conv2d> conv1;
  std::shared_ptr<BatchNorm2d> bn1;
  std::shared_ptr<ReLU> act;
  Block(int64_t in, int64_t out) : Module("Block") {
    register_module("conv1", conv1, std::make_shared<Conv2d>(in, out, 3, ops::Conv2dOptions{.padding = 1}, false));
    register_module("bn1", bn1, std::make_shared<BatchNorm2d>(out));
    act = register_module("act", std::make_shared<ReLU>());  // value form
  }
  Tensor forward(const Tensor& x) override { return act->forward(bn1->forward(conv1->forward(x))); }
};

struct Net : Module {
  std::shared_ptr<Sequential> layer1;
  std::shared_ptr<Linear> fc;
  Tensor scale;
  Net() : Module("Net") {
    auto blocks = std::make_shared<Sequential>();
    blocks->push_back(std::make_shared<Block>(1, 2));
    blocks->push_back(std::make_shared<Block>(2, 2));
    register_module("layer1", layer1, blocks);
    register_module("fc", fc, std::make_shared<Linear>(2, 3));
    scale = register_parameter("scale", Tensor::ones({}));
  }
  // x: (N, 1, H, W) -> (N, 3)
  Tensor forward(const Tensor& x) override {
    return ops::mul(fc->forward(ops::global_avg_pool(layer1->forward(x))), scale);
  }
};

// A quantized conv stand-in: replacements of a Conv2d field derive from Conv2d.
struct TaggedConv : Conv2d {
  Tensor step;
  TaggedConv(int64_t in, int64_t out) : Conv2d(in, out, 3, {.padding = 1}, false) {
    step = register_parameter("step", Tensor::full({}, 0.5f));
  }
};

std::vector<std::string> keys(const NamedTensors& entries) {
  std::vector<std::string> out;
  for (const auto& [k, t] : entries) out.push_back(k);
  return out;
}
bool same_bytes(const NamedTensors& a, const NamedTensors& b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i)
    if (a[i].first != b[i].first || a[i].second.shape() != b[i].second.shape() ||
        std::memcmp(a[i].second.data(), b[i].second.data(), sizeof(float) * a[i].second.numel()) != 0)
      return false;
  return true;
}
}  // namespace

TEST_CASE("module: registration errors say what to do", "[layers]") {
  Module m("Thing");
  m.register_parameter("w", Tensor::zeros({2}));
  REQUIRE_THROWS_WITH(m.register_parameter("conv.weight", Tensor::zeros({2})),
                      Catch::Contains("name 'conv.weight' must not contain '.'; register a child module instead"));
  REQUIRE_THROWS_WITH(m.register_buffer("w", Tensor::zeros({2})),
                      Catch::Contains("register_buffer: 'w' is already registered in Thing as a parameter"));
  REQUIRE_THROWS_WITH(m.register_module("w", std::make_shared<ReLU>()),
                      Catch::Contains("'w' is already registered in Thing as a parameter"));
  REQUIRE_THROWS_WITH(m.register_parameter("", Tensor::zeros({2})), Catch::Contains("empty name"));
  REQUIRE_THROWS_WITH(m.register_parameter("b", Tensor()), Catch::Contains("is undefined"));
  REQUIRE_THROWS_WITH(m.register_module("r", std::shared_ptr<ReLU>()), Catch::Contains("child 'r' of Thing is null"));
  REQUIRE_THROWS_WITH(m.register_buffer("g", Tensor::zeros({1}).set_requires_grad(true)),
                      Catch::Contains("buffers are not trained"));
  REQUIRE_THROWS_WITH(m.forward(Tensor::zeros({1})), Catch::Contains("Thing: this module takes no single tensor input"));
  REQUIRE(m.named_parameters()[0].second.requires_grad());
}

TEST_CASE("module: dotted paths follow registration order and later registration", "[layers]") {
  Net net;
  REQUIRE(keys(net.named_parameters()) ==
          std::vector<std::string>{"scale", "layer1.0.conv1.weight", "layer1.0.bn1.weight", "layer1.0.bn1.bias",
                                   "layer1.1.conv1.weight", "layer1.1.bn1.weight", "layer1.1.bn1.bias", "fc.weight",
                                   "fc.bias"});
  REQUIRE(keys(net.named_buffers()) ==
          std::vector<std::string>{"layer1.0.bn1.running_mean", "layer1.0.bn1.running_var", "layer1.1.bn1.running_mean",
                                   "layer1.1.bn1.running_var"});
  std::vector<std::string> modules;
  for (const auto& [path, m] : net.named_modules()) modules.push_back(path + "=" + m->type_name());
  REQUIRE(modules == std::vector<std::string>{"=Net", "layer1=Sequential", "layer1.0=Block", "layer1.0.conv1=Conv2d",
                                              "layer1.0.bn1=BatchNorm2d", "layer1.0.act=ReLU", "layer1.1=Block",
                                              "layer1.1.conv1=Conv2d", "layer1.1.bn1=BatchNorm2d", "layer1.1.act=ReLU",
                                              "fc=Linear"});
  REQUIRE(net.named_children().size() == 2);
  // Blocks were built before they joined the tree; their paths were re-derived on registration.
  auto block = net.layer1->at<Block>(1);
  REQUIRE(block->conv1->path() == "layer1.1.conv1");
  REQUIRE(block->conv1->weight.name() == "layer1.1.conv1.weight");
  REQUIRE(block->label() == "Block 'layer1.1'");
  REQUIRE(net.submodule("layer1.1.bn1") == block->bn1);
  REQUIRE_THROWS_WITH(net.submodule("layer1.7.bn1"), Catch::Contains("Sequential 'layer1' has no child '7'"));
  REQUIRE_THROWS_WITH(net.layer1->at<Linear>(0), Catch::Contains("child 0 is a Block"));
  // Sizes: conv 2*1*9 + 2*2*9, bn 4 + 4, fc 6 + 3, scale 1.
  REQUIRE(net.num_parameters() == 18 + 36 + 8 + 9 + 1);
  net.fc->weight.set_requires_grad(false);
  REQUIRE(net.num_trainable_parameters() == 18 + 36 + 8 + 3 + 1);
}

TEST_CASE("module: initial parameters are reproducible from manual_seed", "[layers]") {
  manual_seed(5);
  Net a;
  manual_seed(5);
  Net b;
  manual_seed(6);
  Net c;
  REQUIRE(same_bytes(a.state_dict(), b.state_dict()));
  REQUIRE_FALSE(same_bytes(a.state_dict(), c.state_dict()));
  // PyTorch's default bounds: |w| <= 1/sqrt(fan_in) for Linear(2, 3).
  REQUIRE(a.fc->weight.flat().abs().maxCoeff() <= 1.0f / std::sqrt(2.0f));
  REQUIRE(a.fc->weight.flat().abs().maxCoeff() > 0.0f);
}

TEST_CASE("module: state_dict round trip copies into the existing tensors", "[layers]") {
  manual_seed(1);
  Net a;
  manual_seed(2);
  Net b;
  a.layer1->at<Block>(0)->bn1->running_mean.flat() = 0.25f;  // buffers travel too
  const Tensor handle = b.fc->weight;
  b.load_state_dict(a.state_dict());
  REQUIRE(same_bytes(a.state_dict(), b.state_dict()));
  REQUIRE(b.fc->weight.is_same(handle));  // optimizers keep their handles
  REQUIRE(keys(a.state_dict()).size() == 9 + 4);
}

TEST_CASE("module: load_state_dict errors name the key and both shapes", "[layers]") {
  Net a, b;
  NamedTensors entries = a.state_dict();
  const NamedTensors before = [&] {
    NamedTensors out;
    for (const auto& [k, t] : b.state_dict()) out.emplace_back(k, t.clone());
    return out;
  }();

  SECTION("missing") {
    entries.erase(entries.begin() + 3);
    REQUIRE_THROWS_WITH(b.load_state_dict(entries), Catch::Contains("missing key 'layer1.0.bn1.bias' (model shape [2])"));
    b.load_state_dict(entries, /*strict=*/false);  // a partial load is allowed when asked for
  }
  SECTION("unexpected") {
    entries.emplace_back("fc.extra", Tensor::zeros({4}));
    REQUIRE_THROWS_WITH(b.load_state_dict(entries), Catch::Contains("unexpected key 'fc.extra' (shape [4])"));
    REQUIRE(same_bytes(b.state_dict(), before));  // nothing copied on error
  }
  SECTION("shape mismatch, even when not strict") {
    for (auto& [key, t] : entries)
      if (key == "fc.weight") t = Tensor::zeros({3, 4});
    REQUIRE_THROWS_WITH(b.load_state_dict(entries, false),
                        Catch::Contains("'fc.weight' has shape [3, 4] in the entries but [3, 2] in the model"));
    REQUIRE(same_bytes(b.state_dict(), before));
  }
  SECTION("duplicate") {
    entries.push_back(entries[0]);
    REQUIRE_THROWS_WITH(b.load_state_dict(entries), Catch::Contains("key 'scale' appears twice"));
  }
}

TEST_CASE("module: train, eval and zero_grad recurse", "[layers]") {
  Net net;
  net.eval();
  for (const auto& [path, m] : net.named_modules()) {
    INFO(path);
    REQUIRE_FALSE(m->is_training());
  }
  net.train();
  REQUIRE(net.layer1->at<Block>(1)->bn1->is_training());
  for (auto& p : net.parameters()) p.set_grad(Tensor::ones(p.shape()));
  net.zero_grad(/*set_to_none=*/false);
  REQUIRE(net.fc->bias.grad().to_vector() == std::vector<float>{0, 0, 0});
  net.zero_grad();
  REQUIRE_FALSE(net.fc->bias.grad().defined());
}

TEST_CASE("module: printing shows the tree, shapes and parameter counts", "[layers]") {
  Net net;
  std::ostringstream os;
  os << net;
  const std::string s = os.str();
  INFO(s);
  CHECK_THAT(s, Catch::StartsWith("Net(  # 72 params\n  scale []\n  (layer1): Sequential(  # 62 params\n"));
  CHECK_THAT(s, Catch::Contains("    (0): Block(  # 22 params\n"
                                "      (conv1): Conv2d(1, 2, kernel_size=3, padding=1, bias=false)  weight [2, 1, 3, 3]"
                                "  # 18 params\n"
                                "      (bn1): BatchNorm2d(2, eps=1e-05, momentum=0.1)  weight [2], bias [2], "
                                "running_mean [2] (buffer), running_var [2] (buffer)  # 4 params\n"
                                "      (act): ReLU()\n"
                                "    )\n"));
  CHECK_THAT(s, Catch::EndsWith("  (fc): Linear(in_features=2, out_features=3, bias=true)  weight [3, 2], bias [3]"
                                "  # 9 params\n)"));
  net.fc->bias.set_requires_grad(false);
  std::ostringstream frozen;
  frozen << *net.fc;
  CHECK(frozen.str() ==
        "Linear(in_features=2, out_features=3, bias=true)  weight [3, 2], bias [3] (frozen)  # 9 params (6 trainable)");
}

TEST_CASE("module: replace_module swaps a child by path and updates typed fields", "[layers]") {
  Net net;
  auto block = net.layer1->at<Block>(0);
  auto old = block->conv1;
  auto q = std::make_shared<TaggedConv>(1, 2);
  net.eval();
  REQUIRE(net.replace_module("layer1.0.conv1", q) == old);
  REQUIRE(block->conv1 == q);  // the field follows
  REQUIRE(q->path() == "layer1.0.conv1");
  REQUIRE(q->step.name() == "layer1.0.conv1.step");
  REQUIRE_FALSE(q->is_training());  // takes the parent's mode
  REQUIRE(net.named_parameters()[2].first == "layer1.0.conv1.step");

  // Sequential reads children by name: any module may replace one.
  auto relu = std::make_shared<ReLU>();
  net.replace_module("layer1.1", relu);
  REQUIRE((*net.layer1)[1] == relu);

  REQUIRE_THROWS_WITH(net.replace_module("layer1.0.bn1", std::make_shared<Linear>(2, 2)),
                      Catch::Contains("typed field of Block that cannot hold a Linear"));
  REQUIRE(block->bn1->type_name() == "BatchNorm2d");
  REQUIRE_THROWS_WITH(net.replace_module("layer1.0.act", std::make_shared<GELU>()),
                      Catch::Contains("register it as register_module(\"act\", field, child)"));
  REQUIRE_THROWS_WITH(net.replace_module("layer1.0.nope", std::make_shared<GELU>()),
                      Catch::Contains("Block has no child 'nope'"));
  REQUIRE_THROWS_WITH(net.replace_module("fc", nullptr), Catch::Contains("replacement for 'fc' is null"));
}

TEST_CASE("module: layer outputs and parameters are named by path in the graph", "[layers]") {
  auto net = std::make_shared<Net>();
  const Tensor loss = ops::sum(net->forward(testing::uniform({2, 1, 4, 4}, -1, 1, 7, false)));
  std::ostringstream os;
  autograd::print_graph(loss, os);
  const std::string g = os.str();
  INFO(g);
  CHECK_THAT(g, Catch::Contains("conv2d -> 'layer1.0.conv1:out' [2, 2, 4, 4]  inputs: '' [2, 1, 4, 4], 'layer1.0.conv1.weight'"));
  CHECK_THAT(g, Catch::Contains("'layer1.1.conv1.weight' [2, 2, 3, 3]"));
  CHECK_THAT(g, Catch::Contains("batch_norm -> 'layer1.1.bn1:out'"));
  CHECK_THAT(g, Catch::Contains("relu -> 'layer1.1.act:out'"));
  CHECK_THAT(g, Catch::Contains("linear -> 'fc:out' [2, 3]"));
}
