// quant/quant_conv2d.h — QAT layers: Conv2d (here) and Linear (quant_linear.h, same contract) with
// LSQ+ activation and LSQ weight fake quantization (RAOQ Sec. 4: 4-bit body, first and last layers
// 8-bit).
//
//   y = conv2d(act_quant(x), weight_quant(weight), bias)        (QuantConv2d)
//   y = linear(act_quant(x), weight_quant(weight), bias)        (QuantLinear)
// computed from the integer codes, as an array layer computes it (dequantize.h):
//   xq, s_x, beta = act_quant(x)    wq, s_w = weight_quant(weight)
//   acc = conv2d(xq, wq) or linear(xq, wq)    (an exact integer sum in float: dequantize.h)
//   y   = dequantize_product(acc, S = window_weight_sums(wq), s_x, s_w, beta, bias)
// The same function as the fake-quantized product of s_x xq + beta and s_w wq, with the same
// LSQ / LSQ+ gradients; evaluated from the codes so that an IMC layer with the ADC bypassed gives
// these bits exactly (imc/imc_layer.h). They derive from Conv2d / Linear so that a model's typed
// fields accept them (quantize_model swaps them in), and keep the parameter names "weight", "bias"
// beside the children "act_quant" and "weight_quant". The IMC layers (imc/) derive from these and
// keep every name, so a QAT checkpoint loads into an IMC model unchanged.
//
// on_array marks a layer that is mapped to the IMC array (and so takes part in W-reshape and the
// IMC conversion); quantize_model clears it for the first and last layers and depthwise or grouped
// convolutions (RAOQ appendix J).
#pragma once

#include <memory>
#include <string>

#include "layers/conv2d.h"
#include "quant/quantizer.h"

namespace raoq::quant {

// x: (N, C_in, H, W) -> (N, C_out, H_out, W_out); weight (C_out, C_in/groups, k, k); bias (C_out).
class QuantConv2d : public Conv2d {
 public:
  QuantConv2d(int64_t in_channels, int64_t out_channels, int64_t kernel_size, ops::Conv2dOptions options, bool bias,
              QuantOptions q);
  // A QuantConv2d with conv's geometry and a copy of its weight and bias values.
  static std::shared_ptr<QuantConv2d> from(const Conv2d& conv, QuantOptions q);
  Tensor forward(const Tensor& x) override;
  std::string extra_repr() const override;
  // The product above with the weight values w_values (an IMC layer's W + delta in ImcMode::qat).
  Tensor code_forward(const Tensor& x, const Tensor& w_values);
  // The weight codes wq (graph-connected): for W-reshape and statistics.
  virtual Tensor weight_codes();  // an IMC layer with a LoRA adapter: the codes of W + delta

  QuantOptions qopts;
  bool on_array = true;
  std::shared_ptr<ActQuantizer> act_quant;
  std::shared_ptr<WeightQuantizer> weight_quant;
};

}  // namespace raoq::quant
