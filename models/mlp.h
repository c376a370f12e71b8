// models/mlp.h — MLP: flatten, then Linear -> ReLU (-> Dropout) per hidden layer, then a classifier.
#pragma once

#include <cstdint>
#include <vector>

#include "layers/layers.h"
#include "core/json_fields.h"

namespace raoq::models {

struct MLPOptions {
  int64_t in_features = 784;                 // C*H*W of the input
  std::vector<int64_t> hidden = {256, 128};  // widths of the hidden layers (may be empty)
  int64_t num_classes = 10;
  double dropout = 0.0;  // after each hidden activation; 0 = none
};
MLPOptions parse_mlp_options(JsonFields& f);

// x: (N, ...) with in_features elements per example -> logits (N, num_classes).
// Children, in order: flatten, fc1, act1, [drop1,] fc2, act2, ..., classifier. They are read by
// name in forward, so any of them can be swapped with replace_module.
class MLP : public Module {
 public:
  explicit MLP(const MLPOptions& options);
  Tensor forward(const Tensor& x) override;
  std::string extra_repr() const override;

  MLPOptions options;
};

}  // namespace raoq::models
