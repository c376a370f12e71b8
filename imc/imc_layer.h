// imc/imc_layer.h — what ImcConv2d and ImcLinear share: the hardware configuration of the layer,
// the switch between the QAT path and the array path, and the hooks for noise and statistics.
//
// An IMC layer derives from its quantized counterpart (QuantConv2d / QuantLinear) and from
// ImcLayer, so it keeps every parameter name of the QAT layer (a QAT checkpoint loads unchanged)
// and replaces Conv2d / Linear fields. Its forward, with the array enabled:
//   xq, s_x, beta = act_quant(x)         wq, s_w = weight_quant(weight)
//   xs  = gain * xq - shift               (array_input_map: A-shift for unsigned codes on a
//                                          signed-input array, -1/1 encoding, or nothing)
//   acc = tiled product of xs and wq      (imc_conv2d / tiled_matmul: per-tile ADC)
//   y   = imc_dequantize(acc, ...)        (s_x s_w (acc + shift S)/gain + beta s_w S + bias)
// With the array disabled it is exactly the QAT layer (the QAT stage of a pipeline).
#pragma once

#include <memory>

#include "imc/adc.h"
#include "imc/tiled_matmul.h"
#include "layers/module.h"
#include "quant/ashift.h"
#include "quant/quantizer.h"

namespace raoq {
class Generator;
}

namespace raoq::imc {

class LayerStats;

// How activation codes enter the array (xs = gain * xq - shift):
//   zero_one, signed-input array:   unsigned codes -> A-shift {1, 2^(bx-1)} (RAOQ Eq. 4);
//                                    signed codes   -> as they are {1, 0} (vanilla QAT*)
//   zero_one, unsigned-input array: unsigned codes -> {1, 0}; signed codes are an error
//   minus_one_one:                   unsigned codes -> {2, 2^bx - 1} (Eq. 15); signed -> {2, -1} (Eq. 14)
quant::ShiftMap array_input_map(const AdcConfig& config, bool signed_codes, int bx);

class ImcLayer {
 public:
  virtual ~ImcLayer() = default;

  AdcConfig config;                          // hardware; bx and bw come from the layer's quantizers
  bool array_enabled = true;                 // false: compute as the QAT layer
  Rounding adc_rounding = Rounding::apply;   // skip: un-floored ADC (whole-layer gradient checks)
  Generator* noise = nullptr;                // analog-noise draws; the default generator when null
  std::shared_ptr<LayerStats> stats;         // set while statistics are collected (imc/stats.h)

  // config with bx and bw set from the layer's quantizers: what the array runs with.
  virtual AdcConfig layer_config() const = 0;
  virtual quant::ShiftMap input_map() const = 0;
  virtual Module& as_module() = 0;
  virtual quant::ActQuantizer& activation_quantizer() = 0;
  virtual quant::WeightQuantizer& weight_quantizer() = 0;
  virtual const Tensor& layer_weight() const = 0;
  virtual int64_t reduction_length() const = 0;  // K: rows of the array the layer uses
  virtual int64_t output_columns() const = 0;    // N
};

}  // namespace raoq::imc
