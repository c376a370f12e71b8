// models/mobilenet_v2.cpp — MobileNetV2 (layout in mobilenet_v2.h).
#include "models/mobilenet_v2.h"

#include <algorithm>
#include <cstdio>

#include "models/blocks.h"

namespace raoq::models {

int64_t make_divisible(double v, int64_t divisor) {
  const auto d = static_cast<double>(divisor);
  int64_t rounded = std::max(divisor, static_cast<int64_t>(v + d / 2) / divisor * divisor);
  if (static_cast<double>(rounded) < 0.9 * v) rounded += divisor;
  return rounded;
}

InvertedResidual::InvertedResidual(int64_t in_channels, int64_t out_channels, int64_t stride, int64_t expansion)
    : Module("InvertedResidual"), residual(stride == 1 && in_channels == out_channels) {
  const int64_t hidden = in_channels * expansion;
  if (expansion != 1)
    register_module("expand", expand, std::make_shared<ConvBNAct>(in_channels, hidden, 1, 1, 1, Activation::relu6));
  register_module("depthwise", depthwise,
                  std::make_shared<ConvBNAct>(hidden, hidden, 3, stride, hidden, Activation::relu6));
  register_module("project", project, std::make_shared<ConvBNAct>(hidden, out_channels, 1, 1, 1, Activation::none));
}

Tensor InvertedResidual::forward(const Tensor& x) {  // x: (N, C_in, H, W)
  Tensor h = expand ? expand->forward(x) : x;
  h = project->forward(depthwise->forward(h));
  return residual ? named_output(ops::add(h, x), x) : h;
}

std::string InvertedResidual::extra_repr() const { return residual ? "residual" : ""; }

MobileNetV2Options parse_mobilenet_v2_options(JsonFields& f) {
  MobileNetV2Options o;
  o.width_mult = f.number("width_mult", o.width_mult, Range{0.0, 4.0, true, false});
  o.stem = f.choice("stem", o.stem, {"imagenet", "cifar"});
  o.in_channels = f.integer("in_channels", o.in_channels, 1, 4096);
  o.num_classes = f.integer("num_classes", o.num_classes, 1, 1 << 20);
  o.dropout = f.number("dropout", o.dropout, Range::half_open(0.0, 1.0));
  return o;
}

MobileNetV2::MobileNetV2(const MobileNetV2Options& opt) : Module("MobileNetV2"), options(opt) {
  struct Setting {
    int64_t t, c, n, s;
  };
  const bool cifar = opt.stem == "cifar";
  const Setting settings[] = {
      {1, 16, 1, 1}, {6, 24, 2, cifar ? 1 : 2}, {6, 32, 3, 2}, {6, 64, 4, 2}, {6, 96, 3, 1}, {6, 160, 3, 2},
      {6, 320, 1, 1}};
  int64_t channels = make_divisible(32 * opt.width_mult);
  const int64_t last = make_divisible(1280 * std::max(1.0, opt.width_mult));
  register_module("features", features, std::make_shared<Sequential>());
  features->push_back(std::make_shared<ConvBNAct>(opt.in_channels, channels, 3, cifar ? 1 : 2, 1, Activation::relu6));
  for (const auto& st : settings) {
    const int64_t out = make_divisible(static_cast<double>(st.c) * opt.width_mult);
    for (int64_t i = 0; i < st.n; ++i) {
      features->push_back(std::make_shared<InvertedResidual>(channels, out, i == 0 ? st.s : 1, st.t));
      channels = out;
    }
  }
  features->push_back(std::make_shared<ConvBNAct>(channels, last, 1, 1, 1, Activation::relu6));
  register_module("pool", pool, std::make_shared<GlobalAvgPool>());
  register_module("dropout", dropout, std::make_shared<Dropout>(static_cast<float>(opt.dropout)));
  register_module("classifier", classifier, std::make_shared<Linear>(last, opt.num_classes));
}

Tensor MobileNetV2::forward(const Tensor& x) {  // x: (N, C_in, H, W) -> (N, num_classes)
  RAOQ_CHECK(x.dim() == 4 && x.size(1) == options.in_channels, label(), ": expected input (N, ", options.in_channels,
             ", H, W), got ", shape_str(x.shape()));
  return classifier->forward(dropout->forward(pool->forward(features->forward(x))));
}

std::string MobileNetV2::extra_repr() const {
  char buf[160];
  std::snprintf(buf, sizeof buf, "width_mult=%g, stem=%s, in_channels=%lld, num_classes=%lld", options.width_mult,
                options.stem.c_str(), static_cast<long long>(options.in_channels),
                static_cast<long long>(options.num_classes));
  return buf;
}

}  // namespace raoq::models
