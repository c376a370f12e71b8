// models/registry.h — build a model by name, or from its JSON description.
//
// A description is a JSON object: the model's name plus its options, e.g.
//   {"name": "resnet20", "num_classes": 10}
//   {"name": "mobilenetv2", "width_mult": 0.5, "in_channels": 3, "num_classes": 10}
//   {"name": "gpt", "d_model": 128, "layers": 2, "tie_head": true}
// Every option is validated (unknown option, wrong type, out-of-range value) with a one-line
// error naming the key path, before any tensor is allocated. Parameters are drawn from
// raoq::default_generator(): manual_seed(s) first makes a model reproducible.
//
// The models and their options are listed by available_models() (and `raoq models`).
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "core/tensor.h"
#include "layers/module.h"
#include "core/json_fields.h"

namespace raoq::models {

struct ModelInfo {
  std::string name;
  std::string summary;  // one line
  std::string options;  // one line per option: "name (default) meaning"
};
const std::vector<ModelInfo>& available_models();

// Validates a description and returns it resolved (every option with its value, defaults
// included). Errors read "<what>: <path>.<key> ...", e.g. "config: model.width must be ...".
Json validate_model(const Json& description, const std::string& what = "model", const std::string& path = "");

// Validates a description, then builds it.
std::shared_ptr<Module> build_from_json(const Json& description, const std::string& what = "model",
                                        const std::string& path = "");
// The same by name: build_model("resnet20", {{"num_classes", 100}}).
std::shared_ptr<Module> build_model(const std::string& name, const Json& options = Json::object());

// The shape of one example the model takes, without the batch dimension, e.g. [1, 28, 28]
// for cnn-small on Fashion-MNIST (used to print layer output shapes).
Shape example_input_shape(const Json& description);

}  // namespace raoq::models
