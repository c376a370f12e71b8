// quant/quant_linear.cpp — QuantLinear (contract in quant_linear.h and quant_conv2d.h).
#include "quant/quant_linear.h"

#include "core/autograd.h"
#include "core/ops.h"
#include "quant/dequantize.h"

namespace raoq::quant {

QuantLinear::QuantLinear(int64_t in, int64_t out, bool has_bias, QuantOptions q) : Linear(in, out, has_bias), qopts(q) {
  act_quant = register_module("act_quant", std::make_shared<ActQuantizer>(q.bx, q.act_signed, q.act_offset));
  weight_quant = register_module("weight_quant", std::make_shared<WeightQuantizer>(q.bw, q.per_channel, out));
}

std::shared_ptr<QuantLinear> QuantLinear::from(const Linear& linear, QuantOptions q) {
  auto m = std::make_shared<QuantLinear>(linear.in_features, linear.out_features, linear.bias.defined(), q);
  {
    autograd::NoGradGuard ng;
    m->weight.copy_from(linear.weight);
    if (m->bias.defined()) m->bias.copy_from(linear.bias);
  }
  m->train(linear.is_training());
  return m;
}

Tensor QuantLinear::forward(const Tensor& x) {  // x: (..., in) -> (..., out)
  RAOQ_CHECK(x.dim() >= 1 && x.size(-1) == in_features, label(), " (", in_features, "->", out_features,
             "): expected input (..., ", in_features, "), got ", shape_str(x.shape()));
  return named_output(code_forward(x, weight), x);
}

Tensor QuantLinear::code_forward(const Tensor& x, const Tensor& w_values) {
  const Quantized a = act_quant->quantize(x);            // xq: (..., in)
  const Quantized w = weight_quant->quantize(w_values);  // wq: (out, in)
  const Tensor acc = ops::linear(a.codes, w.codes, Tensor());  // (..., out), exact integer sums
  return dequantize_product(acc, -1, window_weight_sums(w.codes, 1, 1), a.scale, w.scale, a.offset, bias);
}

Tensor QuantLinear::weight_codes() { return weight_quant->quantize(weight).codes; }

std::string QuantLinear::extra_repr() const {
  return Linear::extra_repr() + ", " + to_string(qopts) + (on_array ? "" : ", off_array");
}

}  // namespace raoq::quant
