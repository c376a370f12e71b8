// tests/models/test_models.cpp — model builders: output shapes, pinned parameter counts, names,
// option validation and the layer summary.
#include <sstream>

#include "core/error.h"
#include "core/ops.h"
#include "core/rng.h"
#include "models/mobilenet_v2.h"
#include "models/registry.h"
#include "models/summary.h"
#include "tests/support/testing.h"

using namespace raoq;
using raoq::models::build_model;

namespace {
Shape output_shape(Module& m, const Shape& input) {
  Tensor x = testing::uniform(input, -1.0f, 1.0f, /*seed=*/3, /*requires_grad=*/false);
  return m.forward(x).shape();
}
bool has_parameter(const Module& m, const std::string& name) {
  for (const auto& [n, t] : m.named_parameters())
    if (n == name) return true;
  return false;
}
}  // namespace

TEST_CASE("cnn-small: layer table, shapes and parameter count", "[models]") {
  manual_seed(0);
  auto m = build_model("cnn-small");
  // Hand count (width 32, 1 input channel, 10 classes), convs without bias, BN weight+bias:
  //   conv 1*32*9 + 32*64*9 + 64*64*9 + 64*128*9 + 128*128*9 = 276,768
  //   bn   2*(32 + 64 + 64 + 128 + 128)                       =     832
  //   classifier 128*10 + 10                                    =   1,290   -> 278,890
  REQUIRE(m->num_parameters() == 278890);
  REQUIRE(output_shape(*m, {2, 1, 28, 28}) == Shape{2, 10});
  for (const char* name :
       {"features.0.conv.weight", "features.0.bn.weight", "features.1.conv.weight", "features.3.conv.weight",
        "features.4.bn.bias", "features.6.conv.weight", "classifier.weight", "classifier.bias"})
    CHECK(has_parameter(*m, name));
  CHECK_FALSE(has_parameter(*m, "features.0.conv.bias"));  // convs have no bias
  REQUIRE(m->submodule("features.2")->type_name() == "MaxPool2d");
  REQUIRE(m->submodule("features.5")->type_name() == "MaxPool2d");
  // Three input channels and a CIFAR-sized input only change the first conv and nothing else.
  auto rgb = build_model("cnn-small", {{"in_channels", 3}, {"num_classes", 100}});
  REQUIRE(rgb->num_parameters() == 278890 + 2 * 32 * 9 + 90 * 128 + 90);
  REQUIRE(output_shape(*rgb, {1, 3, 32, 32}) == Shape{1, 100});
}

TEST_CASE("resnet20: projection shortcuts, shapes and parameter count", "[models]") {
  manual_seed(0);
  auto m = build_model("resnet20");
  // Hand count (16/32/64 channels, 1x1 conv + BN projections where the shape changes):
  //   stem 3*16*9 + 32                                         =     464
  //   layer1: 3 * (2*16*16*9 + 2*32)                           =  14,016
  //   layer2: 16*32*9 + 32*32*9 + 2*64 + 16*32 + 64 + 2*(2*32*32*9 + 2*64) = 51,648
  //   layer3: 32*64*9 + 64*64*9 + 2*128 + 32*64 + 128 + 2*(2*64*64*9 + 2*128) = 205,696
  //   fc 64*10 + 10                                            =     650   -> 272,474
  REQUIRE(m->num_parameters() == 272474);
  REQUIRE(output_shape(*m, {2, 3, 32, 32}) == Shape{2, 10});
  CHECK(has_parameter(*m, "layer2.0.downsample.conv.weight"));
  CHECK(has_parameter(*m, "layer3.0.downsample.bn.weight"));
  CHECK_FALSE(has_parameter(*m, "layer1.0.downsample.conv.weight"));
  CHECK_FALSE(has_parameter(*m, "layer2.1.downsample.conv.weight"));
  CHECK(has_parameter(*m, "layer3.2.conv2.weight"));
  CHECK(has_parameter(*m, "fc.weight"));
}

TEST_CASE("resnet18 and mobilenetv2: counts match the reference layouts", "[models]") {
  manual_seed(0);
  // torchvision's resnet18() and mobilenet_v2() have 11,689,512 and 3,504,872 parameters with
  // 1000 classes (as published in torchvision's model table); our layouts must match them.
  auto r18 = build_model("resnet18", {{"num_classes", 1000}});
  REQUIRE(r18->num_parameters() == 11689512);
  auto mb = build_model("mobilenetv2", {{"num_classes", 1000}});
  REQUIRE(mb->num_parameters() == 3504872);
  // The CIFAR stems run on 32x32 inputs.
  auto small = build_model("resnet18", {{"stem", "cifar"}, {"width", 8}});
  REQUIRE(output_shape(*small, {1, 3, 32, 32}) == Shape{1, 10});
  auto half = build_model("mobilenetv2", {{"stem", "cifar"}, {"width_mult", 0.25}});
  REQUIRE(output_shape(*half, {2, 3, 32, 32}) == Shape{2, 10});
  CHECK(has_parameter(*half, "features.2.expand.conv.weight"));
  CHECK(has_parameter(*half, "features.2.depthwise.conv.weight"));
  CHECK(has_parameter(*half, "features.1.project.bn.weight"));
  CHECK_FALSE(has_parameter(*half, "features.1.expand.conv.weight"));  // t = 1: no expansion
  // Channel rounding as in the reference: nearest multiple of 8, never 10% below.
  CHECK(models::make_divisible(32 * 0.25) == 8);
  CHECK(models::make_divisible(24 * 0.75) == 24);  // 18 -> 16 would be 11% below: bumped to 24
  CHECK(models::make_divisible(96 * 1.4) == 136);
}

TEST_CASE("mlp: shapes, counts and the hidden list", "[models]") {
  manual_seed(0);
  auto m = build_model("mlp");
  REQUIRE(m->num_parameters() == 784 * 256 + 256 + 256 * 128 + 128 + 128 * 10 + 10);
  REQUIRE(output_shape(*m, {3, 1, 28, 28}) == Shape{3, 10});
  auto linear = build_model("mlp", {{"in_features", 6}, {"hidden", Json::array()}, {"num_classes", 4}});
  REQUIRE(linear->num_parameters() == 6 * 4 + 4);
  REQUIRE(output_shape(*linear, {5, 6}) == Shape{5, 4});
  REQUIRE_THROWS_WITH(output_shape(*linear, {5, 7}), Catch::Contains("6 features per example"));
}

TEST_CASE("sequential: a model written layer by layer in JSON", "[models]") {
  manual_seed(0);
  const Json description = Json::parse(R"({"name": "sequential", "input_shape": [1, 8, 8], "layers": [
      {"type": "conv2d", "in": 1, "out": 4, "kernel": 3, "padding": 1, "bias": false},
      {"type": "batchnorm2d", "features": 4}, {"type": "relu6"}, {"type": "maxpool2d", "kernel": 2},
      {"type": "conv2d", "in": 4, "out": 4, "kernel": 3, "padding": 1, "groups": 4},
      {"type": "dropout", "p": 0.1}, {"type": "flatten"}, {"type": "linear", "in": 64, "out": 3}]})");
  auto m = models::build_from_json(description);
  REQUIRE(m->num_parameters() == 36 + 8 + (4 * 9 + 4) + (64 * 3 + 3));
  REQUIRE(output_shape(*m, {2, 1, 8, 8}) == Shape{2, 3});
  CHECK(has_parameter(*m, "0.weight"));
  CHECK(has_parameter(*m, "7.bias"));
  REQUIRE(models::example_input_shape(description) == Shape{1, 8, 8});
  auto error = [](const std::string& layers) {
    try {
      models::build_from_json(Json::parse(R"({"name": "sequential", "layers": )" + layers + "}"), "config", "model");
    } catch (const Error& e) {
      return std::string(e.what());
    }
    return std::string("(no error)");
  };
  using Catch::Equals;
  CHECK_THAT(error(R"([{"type": "relu"}, {"type": "maxpool2d"}])"),
             Equals("config: model.layers[1].kernel is required"));
  CHECK_THAT(error(R"([{"type": "pool"}])"),
             Equals("config: model.layers[0].type must be one of linear, conv2d, batchnorm2d, relu, relu6, gelu, silu, "
                    "maxpool2d, avgpool2d, globalavgpool, flatten or dropout (got \"pool\")"));
  CHECK_THAT(error(R"([{"type": "conv2d", "in": 3, "out": 4, "kernel": 3, "groups": 2}])"),
             Equals("config: model.layers[0].groups must divide in (3) and out (4), got 2"));
  CHECK_THAT(error(R"([{"type": "relu", "inplace": true}])"),
             Equals("config: model.layers[0].inplace is not a known key (known keys here: type)"));
  CHECK_THAT(error("[]"), Equals("config: model.layers must list at least one layer"));
}

TEST_CASE("models: every parameter gets a gradient", "[models]") {
  manual_seed(1);
  for (const char* name : {"cnn-small", "resnet20", "mobilenetv2"}) {
    INFO(name);
    Json options = {{"in_channels", 3}};
    if (std::string(name) == "mobilenetv2") options = {{"stem", "cifar"}, {"width_mult", 0.25}};
    if (std::string(name) != "mobilenetv2") options["width"] = 4;
    auto m = build_model(name, options);
    Tensor x = testing::uniform({2, 3, 16, 16}, -1.0f, 1.0f, 5, false);
    ops::cross_entropy(m->forward(x), {1, 7}).backward();
    for (const auto& [n, p] : m->named_parameters()) {
      INFO(n);
      REQUIRE(p.grad().defined());
    }
  }
}

TEST_CASE("models: unknown names and bad options are one-line errors naming the key", "[models]") {
  using Catch::Equals;
  REQUIRE_THROWS_WITH(build_model("resnet21"),
                      Equals("model: name must be one of mlp, cnn-small, resnet20, resnet18, mobilenetv2, "
                             "sequential, gpt, gpt-tiny, bert or bert-tiny (got \"resnet21\"); did you mean "
                             "\"resnet20\"?"));
  REQUIRE_THROWS_WITH(build_model("cnn-small", {{"widht", 16}}),
                      Equals("model: widht is not a known key (did you mean width?)"));
  REQUIRE_THROWS_WITH(build_model("cnn-small", {{"width", 0}}),
                      Equals("model: width must be an integer in [1, 4096] (got 0)"));
  REQUIRE_THROWS_WITH(build_model("mobilenetv2", {{"width_mult", -0.5}}),
                      Equals("model: width_mult must be in (0, 4] (got -0.5)"));
  REQUIRE_THROWS_WITH(
      build_model("resnet18", {{"stem", "cifar10"}}),
      Equals("model: stem must be one of imagenet or cifar (got \"cifar10\"); did you mean \"cifar\"?"));
  REQUIRE_THROWS_WITH(build_model("mlp", {{"hidden", {64, 0}}}),
                      Equals("model: hidden[1] must be an integer in [1, 1048576] (got 0)"));
  REQUIRE_THROWS_WITH(build_model("resnet20", {{"num_classes", "ten"}}),
                      Equals("model: num_classes must be an integer in [1, 1048576] (got \"ten\")"));
  REQUIRE_THROWS_WITH(models::build_from_json(Json{{"width", 3}}), Equals("model: name is required"));
  // Inside a config, the error names the full key path.
  REQUIRE_THROWS_WITH(models::validate_model(Json{{"name", "resnet20"}, {"zero_init_residual", 1}}, "config", "model"),
                      Equals("config: model.zero_init_residual must be true or false (got 1)"));
}

TEST_CASE("models: the resolved description lists every option", "[models]") {
  const Json resolved = models::validate_model(Json{{"name", "resnet20"}, {"num_classes", 100}});
  REQUIRE(resolved == Json{{"name", "resnet20"},
                           {"in_channels", 3},
                           {"num_classes", 100},
                           {"width", 16},
                           {"zero_init_residual", false}});
  REQUIRE(models::example_input_shape(Json{{"name", "cnn-small"}}) == Shape{1, 28, 28});
  // Resolving twice changes nothing.
  REQUIRE(models::validate_model(resolved) == resolved);
}

TEST_CASE("models: summary prints layers, output shapes and counts", "[models]") {
  manual_seed(0);
  auto m = build_model("cnn-small");
  std::ostringstream os;
  models::print_summary(*m, {1, 28, 28}, os);
  const std::string s = os.str();
  INFO(s);
  CHECK_THAT(s, Catch::Contains("features.0.conv") && Catch::Contains("[1, 32, 28, 28]"));
  CHECK_THAT(s, Catch::Contains("features.2") && Catch::Contains("[1, 64, 14, 14]"));
  CHECK_THAT(s, Catch::Contains("classifier") && Catch::Contains("[1, 10]"));
  CHECK_THAT(s, Catch::Contains("147,456"));  // features.6.conv
  CHECK_THAT(s, Catch::Contains("total: 278,890 parameters"));
  REQUIRE(m->is_training());  // mode restored
  std::ostringstream tree;
  tree << *m;
  CHECK_THAT(tree.str(), Catch::Contains("CnnSmall") && Catch::Contains("Conv2d"));
}
