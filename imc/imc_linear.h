// imc/imc_linear.h — ImcLinear: a quantized linear layer computed on the IMC array. The forward
// and the contract shared with ImcConv2d are in imc_layer.h.
#pragma once

#include <memory>
#include <string>

#include "imc/imc_layer.h"
#include "quant/quant_linear.h"

namespace raoq::imc {

// x: (..., in) -> (..., out).
class ImcLinear : public quant::QuantLinear, public ImcWeightLayer {
 public:
  ImcLinear(int64_t in_features, int64_t out_features, bool bias, quant::QuantOptions q, AdcConfig config);
  static std::shared_ptr<ImcLinear> from(quant::QuantLinear& q, const AdcConfig& config);
  Tensor forward(const Tensor& x) override;
  std::string extra_repr() const override;
  Tensor weight_codes() override;

  const quant::QuantOptions& quant_options() const override { return qopts; }
  Module& as_module() override { return *this; }
  quant::ActQuantizer& activation_quantizer() override { return *act_quant; }
  quant::WeightQuantizer& weight_quantizer() override { return *weight_quant; }
  const Tensor& layer_weight() const override { return weight; }
  int64_t reduction_length() const override { return in_features; }
  int64_t output_columns() const override { return out_features; }

 private:
  // The array path on x with the weight values w_values under the hardware c; `observed`: the
  // statistics and the noise see it (the Eq. 12 target does not).
  Tensor array_forward(const Tensor& x, const Tensor& w_values, const AdcConfig& c, bool observed);
};

}  // namespace raoq::imc
