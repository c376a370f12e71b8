// models/resnet.cpp — basic-block ResNets (see resnet.h for the layouts).
#include "models/resnet.h"

#include "models/blocks.h"

namespace raoq::models {

BasicBlock::BasicBlock(int64_t in_channels, int64_t out_channels, int64_t stride) : Module("BasicBlock") {
  ops::Conv2dOptions first;
  first.stride = stride;
  first.padding = 1;
  ops::Conv2dOptions second;
  second.padding = 1;
  register_module("conv1", conv1, std::make_shared<Conv2d>(in_channels, out_channels, 3, first, false));
  register_module("bn1", bn1, std::make_shared<BatchNorm2d>(out_channels));
  register_module("act1", act1, std::make_shared<ReLU>());
  register_module("conv2", conv2, std::make_shared<Conv2d>(out_channels, out_channels, 3, second, false));
  register_module("bn2", bn2, std::make_shared<BatchNorm2d>(out_channels));
  if (stride != 1 || in_channels != out_channels)
    register_module("downsample", downsample,
                    std::make_shared<ConvBNAct>(in_channels, out_channels, 1, stride, 1, Activation::none));
  register_module("act2", act2, std::make_shared<ReLU>());
}

Tensor BasicBlock::forward(const Tensor& x) {  // x: (N, C_in, H, W) -> (N, C_out, H/s, W/s)
  Tensor h = bn2->forward(conv2->forward(act1->forward(bn1->forward(conv1->forward(x)))));
  Tensor shortcut = downsample ? downsample->forward(x) : x;
  return act2->forward(ops::add(h, shortcut));
}

namespace {
void parse_common(JsonFields& f, ResNetOptions& o) {
  o.in_channels = f.integer("in_channels", o.in_channels, 1, 4096);
  o.num_classes = f.integer("num_classes", o.num_classes, 1, 1 << 20);
  o.width = f.integer("width", o.width, 1, 4096);
  o.zero_init_residual = f.boolean("zero_init_residual", false);
}
}  // namespace

ResNetOptions parse_resnet20_options(JsonFields& f) {
  ResNetOptions o;
  o.blocks = {3, 3, 3};
  o.width = 16;
  o.stem = "cifar";
  parse_common(f, o);
  return o;
}

ResNetOptions parse_resnet18_options(JsonFields& f) {
  ResNetOptions o;
  o.blocks = {2, 2, 2, 2};
  o.width = 64;
  parse_common(f, o);
  o.stem = f.choice("stem", "imagenet", {"imagenet", "cifar"});
  return o;
}

ResNet::ResNet(const ResNetOptions& opt) : Module("ResNet"), options(opt) {
  const bool imagenet = opt.stem == "imagenet";
  ops::Conv2dOptions stem;
  stem.stride = imagenet ? 2 : 1;
  stem.padding = imagenet ? 3 : 1;
  register_module("conv1", conv1, std::make_shared<Conv2d>(opt.in_channels, opt.width, imagenet ? 7 : 3, stem, false));
  register_module("bn1", bn1, std::make_shared<BatchNorm2d>(opt.width));
  register_module("act1", act1, std::make_shared<ReLU>());
  if (imagenet) register_module("maxpool", maxpool, std::make_shared<MaxPool2d>(3, 2, 1));
  int64_t channels = opt.width;
  for (size_t s = 0; s < opt.blocks.size(); ++s) {
    const int64_t out = opt.width << s;
    auto stage = register_module("layer" + std::to_string(s + 1), std::make_shared<Sequential>());
    for (int64_t b = 0; b < opt.blocks[s]; ++b) {
      stage->push_back(std::make_shared<BasicBlock>(channels, out, (s > 0 && b == 0) ? 2 : 1));
      channels = out;
    }
    stages.push_back(stage);
  }
  register_module("pool", pool, std::make_shared<GlobalAvgPool>());
  register_module("fc", fc, std::make_shared<Linear>(channels, opt.num_classes));
  if (opt.zero_init_residual) {
    for (const auto& stage : stages)
      for (size_t b = 0; b < stage->size(); ++b) stage->at<BasicBlock>(b)->bn2->weight.flat().setZero();
  }
}

Tensor ResNet::forward(const Tensor& x) {  // x: (N, C_in, H, W) -> (N, num_classes)
  RAOQ_CHECK(x.dim() == 4 && x.size(1) == options.in_channels, label(), ": expected input (N, ", options.in_channels,
             ", H, W), got ", shape_str(x.shape()));
  Tensor h = act1->forward(bn1->forward(conv1->forward(x)));
  if (maxpool) h = maxpool->forward(h);
  for (const auto& stage : stages) h = stage->forward(h);
  return fc->forward(pool->forward(h));
}

std::string ResNet::extra_repr() const {
  std::string blocks;
  for (size_t i = 0; i < options.blocks.size(); ++i) blocks += (i ? ", " : "") + std::to_string(options.blocks[i]);
  return "blocks=[" + blocks + "], width=" + std::to_string(options.width) + ", stem=" + options.stem +
         ", in_channels=" + std::to_string(options.in_channels) +
         ", num_classes=" + std::to_string(options.num_classes);
}

}  // namespace raoq::models
