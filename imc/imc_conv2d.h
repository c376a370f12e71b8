// imc/imc_conv2d.h — ImcConv2d: a quantized convolution computed on the IMC array (ImcLinear, in
// imc_linear.h, is its linear twin). The forward and the shared contract are in imc_layer.h.
#pragma once

#include <memory>
#include <string>

#include "imc/imc_layer.h"
#include "quant/quant_conv2d.h"

namespace raoq::imc {

// x: (N, C_in, H, W) -> (N, C_out, H_out, W_out). groups must be 1.
class ImcConv2d : public quant::QuantConv2d, public ImcWeightLayer {
 public:
  ImcConv2d(int64_t in_channels, int64_t out_channels, int64_t kernel_size, ops::Conv2dOptions options, bool bias,
            quant::QuantOptions q, AdcConfig config);
  // An ImcConv2d with q's geometry, options and every parameter and buffer value of q.
  static std::shared_ptr<ImcConv2d> from(quant::QuantConv2d& q, const AdcConfig& config);
  Tensor forward(const Tensor& x) override;
  std::string extra_repr() const override;
  Tensor weight_codes() override;

  const quant::QuantOptions& quant_options() const override { return qopts; }
  Module& as_module() override { return *this; }
  quant::ActQuantizer& activation_quantizer() override { return *act_quant; }
  quant::WeightQuantizer& weight_quantizer() override { return *weight_quant; }
  const Tensor& layer_weight() const override { return weight; }
  int64_t reduction_length() const override { return in_channels * kernel_size * kernel_size; }
  int64_t output_columns() const override { return out_channels; }

 private:
  // The array path (see ImcLinear::array_forward).
  Tensor array_forward(const Tensor& x, const Tensor& w_values, const AdcConfig& c, bool observed);
};

}  // namespace raoq::imc
