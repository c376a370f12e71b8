// layers/conv2d.cpp — Conv2d (the math and its backward live in ops::conv2d).
#include "layers/conv2d.h"

#include "layers/init.h"

namespace raoq {

Conv2d::Conv2d(int64_t in_channels_, int64_t out_channels_, int64_t kernel_size_, ops::Conv2dOptions options_,
               bool bias_)
    : Module("Conv2d"),
      in_channels(in_channels_),
      out_channels(out_channels_),
      kernel_size(kernel_size_),
      options(options_) {
  RAOQ_CHECK(in_channels > 0 && out_channels > 0 && kernel_size > 0, "Conv2d: channels and kernel_size must be ",
             "positive (got in ", in_channels, ", out ", out_channels, ", kernel ", kernel_size, ")");
  RAOQ_CHECK(options.stride > 0 && options.dilation > 0 && options.padding >= 0, "Conv2d: need stride > 0, ",
             "dilation > 0 and padding >= 0 (got ", options.stride, ", ", options.dilation, ", ", options.padding, ")");
  RAOQ_CHECK(options.groups > 0 && in_channels % options.groups == 0 && out_channels % options.groups == 0,
             "Conv2d: groups ", options.groups, " must divide in_channels ", in_channels, " and out_channels ",
             out_channels);
  const int64_t fan_in = in_channels / options.groups * kernel_size * kernel_size;
  weight = register_parameter(
      "weight", init::kaiming_uniform({out_channels, in_channels / options.groups, kernel_size, kernel_size}, fan_in));
  if (bias_) bias = register_parameter("bias", init::fan_in_uniform({out_channels}, fan_in));
}

Tensor Conv2d::forward(const Tensor& x) {  // x: (N, C_in, H, W) -> (N, C_out, H_out, W_out)
  RAOQ_CHECK(x.dim() == 4 && x.size(1) == in_channels, label(), " (", in_channels, "->", out_channels,
             "): expected input (N, ", in_channels, ", H, W), got ", shape_str(x.shape()));
  return named_output(ops::conv2d(x, weight, bias, options), x);
}

std::string Conv2d::extra_repr() const {
  std::string s = std::to_string(in_channels) + ", " + std::to_string(out_channels) +
                  ", kernel_size=" + std::to_string(kernel_size);
  if (options.stride != 1) s += ", stride=" + std::to_string(options.stride);
  if (options.padding != 0) s += ", padding=" + std::to_string(options.padding);
  if (options.dilation != 1) s += ", dilation=" + std::to_string(options.dilation);
  if (options.groups != 1) s += ", groups=" + std::to_string(options.groups);
  if (!bias.defined()) s += ", bias=false";
  return s;
}

}  // namespace raoq
