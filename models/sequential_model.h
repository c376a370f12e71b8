// models/sequential_model.h — a model written out layer by layer in JSON (name "sequential").
//
//   {"name": "sequential", "input_shape": [1, 28, 28], "layers": [
//      {"type": "conv2d", "in": 1, "out": 8, "kernel": 3, "padding": 1, "bias": false},
//      {"type": "batchnorm2d", "features": 8}, {"type": "relu"}, {"type": "maxpool2d", "kernel": 2},
//      {"type": "flatten"}, {"type": "linear", "in": 1568, "out": 10}]}
// Layer types and their keys (defaults in parentheses):
//   linear in, out, bias (true)          conv2d in, out, kernel, stride (1), padding (0), groups (1), bias (true)
//   batchnorm2d features                 maxpool2d / avgpool2d kernel, stride (= kernel), padding (0)
//   dropout p (0.5)                      flatten start_dim (1)
//   relu, relu6, gelu, silu, globalavgpool (no keys)
// The model is a Sequential: children are named "0", "1", ..., so parameter paths read "3.weight".
#pragma once

#include <functional>
#include <memory>

#include "layers/layers.h"
#include "core/json_fields.h"

namespace raoq::models {

// Reads and validates the "layers" list (errors name "<path>.layers[i].<key>") and returns a
// builder; the caller has read "name" and must call f.finish().
std::function<std::shared_ptr<Module>()> parse_sequential(JsonFields& f);

}  // namespace raoq::models
