// quant/quant_conv2d.cpp — QuantConv2d (contract in quant_conv2d.h).
#include "quant/quant_conv2d.h"

#include "core/autograd.h"
#include "core/ops.h"
#include "quant/dequantize.h"

namespace raoq::quant {

namespace {
// Copies weight and bias values from a float layer into its quantized replacement.
void copy_weights(const Tensor& from_w, const Tensor& from_b, const Tensor& to_w, const Tensor& to_b) {
  autograd::NoGradGuard ng;
  to_w.copy_from(from_w);
  if (to_b.defined()) to_b.copy_from(from_b);
}
}  // namespace

// ---- QuantConv2d

QuantConv2d::QuantConv2d(int64_t in, int64_t out, int64_t k, ops::Conv2dOptions opt, bool has_bias, QuantOptions q)
    : Conv2d(in, out, k, opt, has_bias), qopts(q) {
  act_quant = register_module("act_quant", std::make_shared<ActQuantizer>(q.bx, q.act_signed, q.act_offset));
  weight_quant = register_module("weight_quant", std::make_shared<WeightQuantizer>(q.bw, q.per_channel, out));
}

std::shared_ptr<QuantConv2d> QuantConv2d::from(const Conv2d& conv, QuantOptions q) {
  auto m = std::make_shared<QuantConv2d>(conv.in_channels, conv.out_channels, conv.kernel_size, conv.options,
                                         conv.bias.defined(), q);
  copy_weights(conv.weight, conv.bias, m->weight, m->bias);
  m->train(conv.is_training());
  return m;
}

Tensor QuantConv2d::forward(const Tensor& x) {  // x: (N, C_in, H, W) -> (N, C_out, H_out, W_out)
  RAOQ_CHECK(x.dim() == 4 && x.size(1) == in_channels, label(), " (", in_channels, "->", out_channels,
             "): expected input (N, ", in_channels, ", H, W), got ", shape_str(x.shape()));
  return named_output(code_forward(x, weight), x);
}

Tensor QuantConv2d::code_forward(const Tensor& x, const Tensor& w_values) {
  const Quantized a = act_quant->quantize(x);            // xq: (N, C_in, H, W)
  const Quantized w = weight_quant->quantize(w_values);  // wq: (C_out, C_in/groups, k, k)
  ops::Conv2dOptions exact = options;
  exact.exact_integers = true;  // Winograd only where its transforms stay exact (core/ops.h)
  const Tensor acc = ops::conv2d(a.codes, w.codes, Tensor(), exact);  // exact integer sums
  const Tensor S = window_weight_sums(w.codes, x.size(2), x.size(3), options);  // (C_out, H_out*W_out)
  return dequantize_product(acc, 1, S, a.scale, w.scale, a.offset, bias);
}

Tensor QuantConv2d::weight_codes() { return weight_quant->quantize(weight).codes; }

std::string QuantConv2d::extra_repr() const {
  return Conv2d::extra_repr() + ", " + to_string(qopts) + (on_array ? "" : ", off_array");
}

}  // namespace raoq::quant
