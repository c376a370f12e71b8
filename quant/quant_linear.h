// quant/quant_linear.h — QuantLinear: Linear with LSQ+ activation and LSQ weight fake quantization.
// The contract (parameter names, on_array, how quantize_model and the IMC layers use it) is the
// one of QuantConv2d in quant_conv2d.h.
#pragma once

#include <memory>
#include <string>

#include "layers/linear.h"
#include "quant/quantizer.h"

namespace raoq::quant {

// x: (..., in) -> (..., out); weight (out, in); bias (out).
class QuantLinear : public Linear {
 public:
  QuantLinear(int64_t in_features, int64_t out_features, bool bias, QuantOptions q);
  static std::shared_ptr<QuantLinear> from(const Linear& linear, QuantOptions q);
  Tensor forward(const Tensor& x) override;
  std::string extra_repr() const override;
  // The product of codes (quant_conv2d.h) with the weight values w_values (an IMC layer's W + delta).
  Tensor code_forward(const Tensor& x, const Tensor& w_values);
  virtual Tensor weight_codes();  // an IMC layer with a LoRA adapter: the codes of W + delta

  QuantOptions qopts;
  bool on_array = true;
  std::shared_ptr<ActQuantizer> act_quant;
  std::shared_ptr<WeightQuantizer> weight_quant;
};

}  // namespace raoq::quant
