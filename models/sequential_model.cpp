// models/sequential_model.cpp — layer-list models from JSON (see sequential_model.h).
#include "models/sequential_model.h"

#include <functional>
#include <vector>

#include "models/blocks.h"

namespace raoq::models {
namespace {

using LayerBuilder = std::function<std::shared_ptr<Module>()>;

LayerBuilder parse_layer(const Json& j, const std::string& path, const std::string& what) {
  JsonFields f(j, path, what);
  const std::string type = f.choice("type", std::nullopt,
                                    {"linear", "conv2d", "batchnorm2d", "relu", "relu6", "gelu", "silu", "maxpool2d",
                                     "avgpool2d", "globalavgpool", "flatten", "dropout"});
  constexpr int64_t kMaxWidth = int64_t{1} << 24;
  LayerBuilder build;
  if (type == "linear") {
    const int64_t in = f.integer("in", std::nullopt, 1, kMaxWidth), out = f.integer("out", std::nullopt, 1, kMaxWidth);
    const bool bias = f.boolean("bias", true);
    build = [=] { return std::make_shared<Linear>(in, out, bias); };
  } else if (type == "conv2d") {
    const int64_t in = f.integer("in", std::nullopt, 1, kMaxWidth), out = f.integer("out", std::nullopt, 1, kMaxWidth);
    const int64_t kernel = f.integer("kernel", std::nullopt, 1, 64);
    ops::Conv2dOptions o;
    o.stride = f.integer("stride", 1, 1, 64);
    o.padding = f.integer("padding", 0, 0, 64);
    o.groups = f.integer("groups", 1, 1, kMaxWidth);
    if (in % o.groups != 0 || out % o.groups != 0)
      f.fail("groups", "must divide in (" + std::to_string(in) + ") and out (" + std::to_string(out) + "), got " +
                           std::to_string(o.groups));
    const bool bias = f.boolean("bias", true);
    build = [=] { return std::make_shared<Conv2d>(in, out, kernel, o, bias); };
  } else if (type == "batchnorm2d") {
    const int64_t features = f.integer("features", std::nullopt, 1, kMaxWidth);
    build = [=] { return std::make_shared<BatchNorm2d>(features); };
  } else if (type == "maxpool2d" || type == "avgpool2d") {
    const int64_t kernel = f.integer("kernel", std::nullopt, 1, 64);
    const int64_t stride = f.integer("stride", kernel, 1, 64), padding = f.integer("padding", 0, 0, 64);
    if (type == "maxpool2d")
      build = [=] { return std::make_shared<MaxPool2d>(kernel, stride, padding); };
    else
      build = [=] { return std::make_shared<AvgPool2d>(kernel, stride, padding); };
  } else if (type == "dropout") {
    const auto p = static_cast<float>(f.number("p", 0.5, Range::half_open(0.0, 1.0)));
    build = [=] { return std::make_shared<Dropout>(p); };
  } else if (type == "flatten") {
    const int64_t start = f.integer("start_dim", 1, 1, 8);
    build = [=] { return std::make_shared<Flatten>(start); };
  } else if (type == "relu") {
    build = [] { return std::make_shared<ReLU>(); };
  } else if (type == "relu6") {
    build = [] { return std::make_shared<ReLU6>(); };
  } else if (type == "gelu") {
    build = [] { return std::make_shared<GELU>(); };
  } else if (type == "silu") {
    build = [] { return std::make_shared<SiLU>(); };
  } else {
    build = [] { return std::make_shared<GlobalAvgPool>(); };
  }
  f.finish();
  return build;
}

}  // namespace

std::function<std::shared_ptr<Module>()> parse_sequential(JsonFields& f) {
  f.integers("input_shape", std::vector<int64_t>{1, 28, 28}, 1, 1 << 16);
  const Json& layers = f.array("layers", true);
  if (layers.empty()) f.fail("layers", "must list at least one layer");
  std::vector<LayerBuilder> builders;
  for (size_t i = 0; i < layers.size(); ++i)
    builders.push_back(parse_layer(layers[i], join_index(f.key_path("layers"), i), f.what()));
  return [builders] {
    auto net = std::make_shared<Sequential>();
    for (const auto& b : builders) net->push_back(b());
    return std::shared_ptr<Module>(net);
  };
}

}  // namespace raoq::models
