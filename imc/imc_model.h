// imc/imc_model.h — model-level IMC operations: convert a QAT model to IMC layers by rules, find
// the IMC layers, and switch what a training pipeline switches (ADC bits for BitAug, the mode).
//
// The steps a pipeline takes (imc/method.h and imc/bitaug.h wrap them; the training stages are in
// tools/pipeline/):
//   quant::quantize_model(model, qrules);                  // float -> QAT layers (quant/)
//   imc::to_imc(model, imc::ImcRules{hardware});            // on-array QAT layers -> IMC layers
//   imc::set_imc_mode(model, imc::ImcMode::qat);            // QAT stage: computed as the QAT layers
//   ... train with L_c + lambda_k * wreshape_loss(quant::wreshape_kurtoses(model)) ...
//   imc::set_imc_mode(model, imc::ImcMode::array);          // RAOQ stage: per-tile ADC
//   per step (BitAug, RAOQ Eq. 10):
//     imc::set_adc_bits(model, ba);       loss(model).backward();
//     imc::set_adc_bits(model, ba_tilde); (lambda_b * loss(model)).backward();
//     imc::set_adc_bits(model, ba);       optimizer.step();
// Because ImcConv2d / ImcLinear / ImcAttention keep the parameter names of QuantConv2d / QuantLinear /
// QuantAttention, converting before or after loading a QAT checkpoint gives the same model.
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "imc/adc.h"
#include "imc/imc_layer.h"
#include "layers/module.h"

namespace raoq::imc {

struct ImcRules {
  AdcConfig base;                                            // the model-wide hardware
  std::vector<std::pair<std::string, AdcConfig>> overrides;  // by path glob (quant::path_matches); first match wins
};

// Replaces every QuantConv2d / QuantLinear / QuantAttention with on_array set (and not already an
// IMC layer) by an ImcConv2d / ImcLinear / ImcAttention with the config of its first matching
// override, else `base`; each layer's config is validated (errors name "imc.<path>"). An attention
// layer and its projections convert on their own (paths "blocks.0.attn", "blocks.0.attn.qkv_proj").
// Returns the converted paths in module order.
std::vector<std::string> to_imc(Module& root, const ImcRules& rules);

// The IMC layers below root, with their paths, in module order (attention's BMM1 included).
std::vector<std::pair<std::string, ImcLayer*>> imc_layers(Module& root);

// config.ba = ba + ba_offset on every IMC layer (BitAug; a layer an override gave its own ba moves
// with the others). Nothing changes when a layer would leave [1, 16]: an error names it.
void set_adc_bits(Module& root, int ba);
void set_imc_mode(Module& root, ImcMode mode);      // the mode of every IMC layer (imc_layer.h)
void set_noise_generator(Module& root, Generator* gen);

}  // namespace raoq::imc
