// imc/imc_layer.h — what every layer on the IMC arrays shares (ImcLayer: the hardware configuration,
// the mode, the hooks for noise and statistics, the quantizer of the operand the array streams),
// and what a layer whose array stores its weights adds (ImcWeightLayer).
//
// Two kinds of layer run products on the arrays:
//   ImcConv2d, ImcLinear (ImcWeightLayer): the array stores the layer's weight codes and streams its
//     activation codes. Each derives from its quantized counterpart (QuantConv2d / QuantLinear), so it
//     keeps every parameter name of the QAT layer (a QAT checkpoint loads unchanged) and replaces
//     Conv2d / Linear fields. Its forward in ImcMode::array:
//       xq, s_x, beta = act_quant(x)         wq, s_w = weight_quant(weight)
//       xs  = gain * xq - shift               (array_input_map, input_map.h: A-shift for unsigned codes
//                                              on a signed-input array, -1/1 encoding, or nothing)
//       acc = array_product(xs, wq, ...)      (array_product.h: per-tile ADC; patches for a conv)
//       y   = quant::dequantize_product(acc, ...)
//                 (quant/dequantize.h: s_x s_w (acc + shift S)/gain + beta s_w S + bias)
//   ImcAttention (imc_attention.h): attention's Q K^T (BMM1); the array stores the key codes of each
//     (batch, head), rewritten every forward, and streams the query codes. It has no weight tensor:
//     W-reshape does not see it, and its "bw" is the key codes' width.
// In ImcMode::qat a layer computes exactly as its QAT layer (the QAT stage of a pipeline); with
// the ADC bypassed (AdcConfig::enabled false) ImcMode::array gives the same bits too. Whether a
// layer is converted at all is its QAT layer's `on_array` placement (imc_model.h, to_imc).
#pragma once

#include <cstdint>
#include <memory>

#include "imc/adc.h"
#include "layers/module.h"
#include "quant/ashift.h"
#include "quant/quantizer.h"

namespace raoq {
class Generator;
}

namespace raoq::imc {

class LayerStats;
class TileObserver;
class LoraAdapter;

enum class ImcMode {
  qat,    // compute as the QAT layer (the product of codes in float, no array)
  array,  // the per-tile array product with its ADC (AdcConfig::enabled false: exact tile sums)
};
inline const char* to_string(ImcMode m) { return m == ImcMode::qat ? "qat" : "array"; }

// Every IMC layer: imc_layers(), set_adc_bits, set_imc_mode, set_noise_generator and StatsSession
// (imc_model.h, stats.h) work through this interface.
class ImcLayer {
 public:
  virtual ~ImcLayer() = default;

  AdcConfig config;                          // hardware; bx and bw come from the layer's quantizers
  int ba_offset = 0;                         // config.ba minus the model's ba (an override's own ba; set_adc_bits)
  ImcMode mode = ImcMode::array;
  Rounding adc_rounding = Rounding::apply;   // skip: un-floored ADC (whole-layer gradient checks)
  Generator* noise = nullptr;                // analog-noise draws; the default generator when null
  std::shared_ptr<LayerStats> stats;         // set while statistics are collected (imc/stats.h)
  // Sees every tile's column sums when no statistics are collected (an export's code comparison);
  // not owned. ImcConv2d and ImcLinear only.
  TileObserver* tile_observer = nullptr;

  // The quantization of the array's operands: bx and act_signed of the streamed codes, bw of the
  // stored codes (for ImcAttention: {bits, bits, signed, no offset}).
  virtual const quant::QuantOptions& quant_options() const = 0;
  // config with bx and bw set from the layer's quantizers: what the array runs with.
  AdcConfig layer_config() const;
  // Throws raoq::Error when the layer cannot run on layer_config() (AdcConfig::validate, and what
  // the layer itself needs: Q K^T's signed queries need a signed-input array).
  virtual void check_config() const { layer_config().validate(); }
  // How the streamed codes enter the array (array_input_map of config and the codes' signedness).
  quant::ShiftMap input_map() const;
  virtual Module& as_module() = 0;
  // The quantizer of the streamed operand (activations; the queries for ImcAttention).
  virtual quant::ActQuantizer& activation_quantizer() = 0;
};

// A layer whose array stores its weights (ImcConv2d, ImcLinear). With a LoRA adapter (imc/lora.h)
// its weight quantizer sees W + delta in both modes (RAOQ Eq. 11), and its W-reshape codes too.
class ImcWeightLayer : public ImcLayer {
 public:
  virtual quant::WeightQuantizer& weight_quantizer() = 0;
  virtual const Tensor& layer_weight() const = 0;
  virtual int64_t reduction_length() const = 0;  // K: rows of the array the layer uses
  virtual int64_t output_columns() const = 0;    // N

  std::shared_ptr<LoraAdapter> lora;  // null: none (attach_adapter, merge_adapter)
  // ADC-LoRA's Eq. 12 phase (imc/lora_mse.h): while set, the array forward also records this
  // layer's objective and passes its output on detached.
  bool lora_mse = false;
  Tensor lora_objective;  // mean((Ybar - Q_x(X) Q_w(W))^2) of the last forward with lora_mse
};

}  // namespace raoq::imc
