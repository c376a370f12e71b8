// models/mlp.cpp — the multi-layer perceptron.
#include "models/mlp.h"

namespace raoq::models {

MLPOptions parse_mlp_options(JsonFields& f) {
  MLPOptions o;
  o.in_features = f.integer("in_features", o.in_features, 1, int64_t{1} << 31);
  o.hidden = f.integers("hidden", o.hidden, 1, 1 << 20);
  o.num_classes = f.integer("num_classes", o.num_classes, 1, 1 << 20);
  o.dropout = f.number("dropout", o.dropout, Range::half_open(0.0, 1.0));
  return o;
}

MLP::MLP(const MLPOptions& opt) : Module("MLP"), options(opt) {
  set_children_read_by_name();
  register_module("flatten", std::make_shared<Flatten>(1));
  int64_t width = opt.in_features;
  for (size_t i = 0; i < opt.hidden.size(); ++i) {
    const std::string n = std::to_string(i + 1);
    register_module("fc" + n, std::make_shared<Linear>(width, opt.hidden[i]));
    register_module("act" + n, std::make_shared<ReLU>());
    if (opt.dropout > 0) register_module("drop" + n, std::make_shared<Dropout>(static_cast<float>(opt.dropout)));
    width = opt.hidden[i];
  }
  register_module("classifier", std::make_shared<Linear>(width, opt.num_classes));
}

Tensor MLP::forward(const Tensor& x) {  // x: (N, ...) -> (N, num_classes)
  RAOQ_CHECK(x.dim() >= 2 && x.numel() / x.size(0) == options.in_features, label(), ": expected input (N, ...) with ",
             options.in_features, " features per example, got ", shape_str(x.shape()));
  Tensor h = x;
  for (const auto& [name, child] : children()) h = child->forward(h);
  return h;
}

std::string MLP::extra_repr() const {
  std::string hidden;
  for (size_t i = 0; i < options.hidden.size(); ++i) hidden += (i ? ", " : "") + std::to_string(options.hidden[i]);
  return "in_features=" + std::to_string(options.in_features) + ", hidden=[" + hidden +
         "], num_classes=" + std::to_string(options.num_classes);
}

}  // namespace raoq::models
