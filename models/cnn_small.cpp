// models/cnn_small.cpp — cnn-small (layer table in cnn_small.h).
#include "models/cnn_small.h"

#include "models/blocks.h"

namespace raoq::models {

CnnSmallOptions parse_cnn_small_options(JsonFields& f) {
  CnnSmallOptions o;
  o.in_channels = f.integer("in_channels", o.in_channels, 1, 4096);
  o.num_classes = f.integer("num_classes", o.num_classes, 1, 1 << 20);
  o.width = f.integer("width", o.width, 1, 4096);
  return o;
}

CnnSmall::CnnSmall(const CnnSmallOptions& opt) : Module("CnnSmall"), options(opt) {
  const int64_t w = opt.width;
  register_module("features", features, std::make_shared<Sequential>());
  features->push_back(std::make_shared<ConvBNAct>(opt.in_channels, w, 3));
  features->push_back(std::make_shared<ConvBNAct>(w, 2 * w, 3));
  features->push_back(std::make_shared<MaxPool2d>(2));
  features->push_back(std::make_shared<ConvBNAct>(2 * w, 2 * w, 3));
  features->push_back(std::make_shared<ConvBNAct>(2 * w, 4 * w, 3));
  features->push_back(std::make_shared<MaxPool2d>(2));
  features->push_back(std::make_shared<ConvBNAct>(4 * w, 4 * w, 3));
  register_module("pool", pool, std::make_shared<GlobalAvgPool>());
  register_module("classifier", classifier, std::make_shared<Linear>(4 * w, opt.num_classes));
}

Tensor CnnSmall::forward(const Tensor& x) {  // x: (N, C_in, H, W) -> (N, num_classes)
  RAOQ_CHECK(x.dim() == 4 && x.size(1) == options.in_channels && x.size(2) >= 4 && x.size(3) >= 4, label(),
             ": expected input (N, ", options.in_channels, ", H, W) with H, W >= 4, got ", shape_str(x.shape()));
  return classifier->forward(pool->forward(features->forward(x)));
}

std::string CnnSmall::extra_repr() const {
  return "in_channels=" + std::to_string(options.in_channels) + ", num_classes=" + std::to_string(options.num_classes) +
         ", width=" + std::to_string(options.width);
}

}  // namespace raoq::models
