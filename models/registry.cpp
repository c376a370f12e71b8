// models/registry.cpp — the table of model builders: name, options, validation, construction.
#include "models/registry.h"

#include <functional>

#include "core/error.h"
#include "models/bert.h"
#include "models/cnn_small.h"
#include "models/gpt.h"
#include "models/mlp.h"
#include "models/mobilenet_v2.h"
#include "models/resnet.h"
#include "models/sequential_model.h"

namespace raoq::models {
namespace {

using Builder = std::function<std::shared_ptr<Module>()>;

struct Entry {
  ModelInfo info;
  // Reads and validates every option, returning a builder that allocates the model.
  std::function<Builder(JsonFields&)> parse;
  // One example's input shape, from the resolved description.
  std::function<Shape(const Json&)> input;
};

// The transformer entries share their options; only the defaults and the model class differ.
// One example is `context` token ids (the summary feeds zeros, a valid id).
template <class M>
Entry transformer_entry(std::string name, std::string summary, const TransformerOptions& preset) {
  const auto s = [](int64_t v) { return std::to_string(v); };
  std::string options = "vocab (" + s(preset.vocab) + ") token ids in [0, vocab); context (" + s(preset.context) +
                        ") longest sequence; d_model (" + s(preset.d_model) + "); layers (" + s(preset.layers) +
                        "); heads (" + s(preset.heads) + "), dividing d_model; mlp_ratio (" + s(preset.mlp_ratio) +
                        ") MLP width over d_model; dropout (0) after the embeddings, attention and MLP; tie_head "
                        "(false) the LM head's weight is the token table; bias (true) biases of every Linear";
  return {{std::move(name), std::move(summary), std::move(options)},
          [preset](JsonFields& f) -> Builder {
            auto o = parse_transformer_options(f, preset);
            return [o] { return std::make_shared<M>(o); };
          },
          [](const Json& d) { return Shape{d.at("context").get<int64_t>()}; }};
}

TransformerOptions bert_tiny_options() {
  TransformerOptions o;
  o.d_model = 128;
  o.layers = 2;
  o.heads = 2;
  return o;
}

const std::vector<Entry>& entries() {
  static const std::vector<Entry> table = {
      {{"mlp", "flatten, Linear+ReLU per hidden layer, linear classifier",
        "in_features (784) inputs per example; hidden ([256, 128]) hidden widths; num_classes (10); "
        "dropout (0) after each hidden layer"},
       [](JsonFields& f) -> Builder {
         auto o = parse_mlp_options(f);
         return [o] { return std::make_shared<MLP>(o); };
       },
       [](const Json& d) { return Shape{d.at("in_features").get<int64_t>()}; }},
      {{"cnn-small", "five 3x3 conv-BN-ReLU layers, two max-pools, global pool, linear (Fashion-MNIST, CIFAR)",
        "in_channels (1); num_classes (10); width (32) channels of the first conv (then 2w, 2w, 4w, 4w)"},
       [](JsonFields& f) -> Builder {
         auto o = parse_cnn_small_options(f);
         return [o] { return std::make_shared<CnnSmall>(o); };
       },
       [](const Json& d) {
         return Shape{d.at("in_channels").get<int64_t>(), 28, 28};
       }},
      {{"resnet20", "CIFAR-style ResNet-20: 3 stages x 3 basic blocks, 16/32/64 channels, 1x1 projection shortcuts",
        "in_channels (3); num_classes (10); width (16) channels of the first stage; "
        "zero_init_residual (false) start each block as the identity"},
       [](JsonFields& f) -> Builder {
         auto o = parse_resnet20_options(f);
         return [o] { return std::make_shared<ResNet>(o); };
       },
       [](const Json& d) {
         return Shape{d.at("in_channels").get<int64_t>(), 32, 32};
       }},
      {{"resnet18", "ResNet-18: 4 stages x 2 basic blocks, 64/128/256/512 channels",
        "in_channels (3); num_classes (10); width (64); stem (\"imagenet\") or \"cifar\" for 32x32 inputs; "
        "zero_init_residual (false)"},
       [](JsonFields& f) -> Builder {
         auto o = parse_resnet18_options(f);
         return [o] { return std::make_shared<ResNet>(o); };
       },
       [](const Json& d) {
         const int64_t side = d.at("stem").get<std::string>() == "cifar" ? 32 : 224;
         return Shape{d.at("in_channels").get<int64_t>(), side, side};
       }},
      {{"mobilenetv2", "MobileNetV2: inverted residual blocks with depthwise convolutions, ReLU6",
        "width_mult (1.0) channel multiplier; stem (\"imagenet\") or \"cifar\" for 32x32 inputs; in_channels (3); "
        "num_classes (10); dropout (0.2) before the classifier"},
       [](JsonFields& f) -> Builder {
         auto o = parse_mobilenet_v2_options(f);
         return [o] { return std::make_shared<MobileNetV2>(o); };
       },
       [](const Json& d) {
         const int64_t side = d.at("stem").get<std::string>() == "cifar" ? 32 : 224;
         return Shape{d.at("in_channels").get<int64_t>(), side, side};
       }},
      {{"sequential", "any stack of layers written out in JSON (see models/sequential_model.h)",
        "input_shape ([1, 28, 28]) one example's shape; layers (required) a list of {\"type\": ..., keys}: linear "
        "(in, out, bias), conv2d (in, out, kernel, stride, padding, groups, bias), batchnorm2d (features), "
        "maxpool2d / avgpool2d (kernel, stride, padding), dropout (p), flatten (start_dim), relu, relu6, gelu, silu, "
        "globalavgpool"},
       [](JsonFields& f) -> Builder { return parse_sequential(f); },
       [](const Json& d) { return d.at("input_shape").get<Shape>(); }},
      // gpt's defaults are gpt-tiny's; the preset pins the benchmark's configuration by name.
      transformer_entry<Gpt>("gpt", "decoder-only transformer LM over token ids: pre-LN blocks, causal attention, "
                             "GELU MLP; logits (B, T, vocab)", TransformerOptions{}),
      transformer_entry<Gpt>("gpt-tiny", "gpt of the benchmark table: d_model 256, 4 layers, 4 heads, context 128, "
                             "vocab 256", TransformerOptions{}),
      transformer_entry<Bert>("bert", "gpt's blocks without the causal mask, masked-LM head; token id vocab is "
                              "[MASK], logits (B, T, vocab + 1)", TransformerOptions{}),
      transformer_entry<Bert>("bert-tiny", "bert with d_model 128, 2 layers, 2 heads, context 128, vocab 256",
                              bert_tiny_options()),
  };
  return table;
}

std::vector<std::string> names() {
  std::vector<std::string> out;
  for (const auto& e : entries()) out.push_back(e.info.name);
  return out;
}

// Reads the description's name and options; returns the entry, the builder and the resolved form.
struct Parsed {
  const Entry* entry;
  Builder build;
  Json resolved;
};

Parsed parse(const Json& description, const std::string& what, const std::string& path) {
  JsonFields f(description, path, what);
  const std::string name = f.choice("name", std::nullopt, names());
  for (const auto& e : entries()) {
    if (e.info.name != name) continue;
    Builder build = e.parse(f);
    f.finish();
    return {&e, std::move(build), f.resolved()};
  }
  throw Error(what + ": unknown model " + name);  // unreachable: choice() checked the name
}

}  // namespace

const std::vector<ModelInfo>& available_models() {
  static const std::vector<ModelInfo> infos = [] {
    std::vector<ModelInfo> out;
    for (const auto& e : entries()) out.push_back(e.info);
    return out;
  }();
  return infos;
}

Json validate_model(const Json& description, const std::string& what, const std::string& path) {
  return parse(description, what, path).resolved;
}

std::shared_ptr<Module> build_from_json(const Json& description, const std::string& what, const std::string& path) {
  return parse(description, what, path).build();
}

std::shared_ptr<Module> build_model(const std::string& name, const Json& options) {
  Json description = options.is_null() ? Json::object() : options;
  RAOQ_CHECK(description.is_object(), "model: options for ", name, " must be a JSON object (got ",
             json_brief(description), ")");
  description["name"] = name;
  return build_from_json(description);
}

Shape example_input_shape(const Json& description) {
  const Parsed p = parse(description, "model", "");
  return p.entry->input(p.resolved);
}

}  // namespace raoq::models
