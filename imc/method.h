// imc/method.h — RAOQ's switches applied to a model: what a quantization-aware stage (QAT, on
// the exact product) and an ADC stage (on the arrays) change, and the loss they train with.
//
//   A-shift    ashift true: unsigned LSQ+ codes, shifted by 2^(bits-1) on a signed-input array
//              (Eq. 4-5); false: signed codes with zero offset, the vanilla QAT* baseline
//              ("signed quantization", DESIGN.md)
//   W-reshape  wreshape = lambda_k of Eq. 7: loss L_c + lambda_k * sum_l kappa_l
//   arrays     on_arrays: the array layers become IMC layers computing per-tile ADC products on
//              `adc`'s hardware at adc.ba; otherwise they are quantized layers only (a QAT stage;
//              IMC layers a model already holds compute in ImcMode::qat)
//   BitAug     per step, in imc/bitaug.h
// First and last layers stay 8-bit and off the array (paper appendix J; quant::QuantizeRules).
// Multi-head attention becomes QuantAttention with Q K^T at `bits` (on the arrays with on_arrays:
// imc::ImcAttention) and its probabilities x V product digital at 8 bits.
//
//   imc::MethodConfig m;  m.on_arrays = true;  m.adc.ba = 6;  m.wreshape = 0.002;
//   imc::apply_method(model, m);
//   Tensor loss = imc::method_loss(model, m, ops::cross_entropy(model.forward(x), y));
#pragma once

#include <string>
#include <vector>

#include "core/json_fields.h"
#include "core/tensor.h"
#include "imc/adc.h"
#include "layers/module.h"

namespace raoq::imc {

// One entry of a config's adc.overrides: the quantized layers whose path matches `layers` take
// these changes, entry after entry in order, on top of the model-wide settings.
struct LayerOverride {
  std::string layers;         // path glob (quant::path_matches); must match a quantized layer
  Json adc = Json::object();  // hardware keys (adc_json.h) set on the matched array layers
  bool off_array = false;     // keep the matched layers off the array (quantized, digital)
  int bits = 0;               // the matched weight layers' code bits (bx = bw); 0: the stage's
  std::string where = "adc.overrides[0]";  // its key path, for errors
};

struct MethodConfig {
  int bits = 4;              // activation and weight bits of the array layers (bx = bw)
  bool per_channel = false;  // per-output-channel weight scales
  bool ashift = true;        // unsigned codes + A-shift; false: signed codes, no offset
  // Array layers whose inputs are non-negative (post-ReLU/GELU): the ones A-shift applies to.
  // The others always take signed LSQ+ codes (with their offset when ashift, zero offset when
  // not: vanilla). CNNs: every layer ("*"); a transformer: fc2 only ("*.fc2", paper appendix J:
  // forcing the other activations unsigned degrades accuracy).
  std::vector<std::string> unsigned_inputs{"*"};
  double wreshape = 0.0;     // lambda_k of Eq. 7; 0 = off
  bool on_arrays = false;    // compute the array layers on the arrays (ADC in the loop)
  AdcConfig adc;             // the hardware when on_arrays (its bx, bw are set from bits)
  std::vector<LayerOverride> overrides;  // per layer, applied in order (placement and hardware)
};

// The hardware, code bits and placement of every quantized layer after the overrides, in module
// order (attention's Q K^T by the attention's path). `config` is meaningful when on_array.
struct LayerHardware {
  std::string path;
  int bits = 0;
  bool on_array = false;
  AdcConfig config;
};

// Converts model in place and idempotently: float layers are quantized (quant::quantize_model);
// with on_arrays the array layers become IMC layers (to_imc) in ImcMode::array at m.adc.ba, else
// IMC layers already there compute as their QAT layers. Layers already quantized keep their
// trained quantizer state. Throws raoq::Error "<where>.ashift is ..." when the model holds layers
// quantized the other way (signed against unsigned codes): training would silently continue them.
// The overrides: placement (off_array, bits) reaches layers the conversion quantizes; a layer the
// model already holds quantized must agree with it (an error names the layer and says to put the
// same override in the stage it starts from). Every glob must match a quantized layer, and one
// that sets hardware keys an array layer; errors name "<where>.adc.overrides[i]".
void apply_method(Module& model, const MethodConfig& m, const std::string& where = "method");

// Every quantized layer of a model apply_method has converted, as it now is.
std::vector<LayerHardware> layer_hardware(Module& model);
Json layer_hardware_to_json(const std::vector<LayerHardware>& layers);

// task_loss + lambda_k * sum of the kurtoses of the array layers' weight codes (Eq. 7); the task
// loss itself when wreshape is 0 or the model has no array layers.
Tensor method_loss(Module& model, const MethodConfig& m, const Tensor& task_loss);

}  // namespace raoq::imc
