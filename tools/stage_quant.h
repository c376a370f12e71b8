// tools/stage_quant.h — what the trainer does differently in the quantized stage kinds.
//
//   qat: float Conv2d/Linear -> QuantConv2d/QuantLinear by quant::quantize_model (array layers at
//        `bits`, first and last layer 8-bit off the array), array bypassed; loss L_c + lambda_k sum kappa.
//   adc: the same quantization, then imc::to_imc with the stage's array configuration, array on at
//        the target ba; BitAug per step (RAOQ Eq. 8-10):
//          loss(ba).backward();  set ba~ = ba + offset;  (lambda_b * loss(ba~)).backward();  back to ba
//        with lambda_b = (1 + cos(pi * t / T)) / 2 over the stage's T steps, and the offset drawn
//        uniformly from bitaug_offsets by a hash of (seed, global step): no generator state, so a
//        resumed run draws the same offsets. The pass at ba~ leaves BatchNorm running statistics
//        alone (bitaug_bn_update false, the default): eval mode runs at the target ba.
// Conversion is in place and idempotent: layers already quantized (or already IMC) are kept, so a
// stage continuing the previous stage's model keeps its trained quantizer state.
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "core/tensor.h"
#include "imc/adc.h"
#include "layers/module.h"
#include "tools/config.h"

namespace raoq::tools {

// Converts `model` for stage s (nothing for fp). `where` names the stage in errors ("stages[2]").
void convert_for_stage(Module& model, const StageConfig& s, const std::string& where);

// The task loss plus the stage's W-reshape term (the task loss alone when lambda_k is 0).
Tensor stage_loss(Module& model, const StageConfig& s, const Tensor& task_loss);

// True when the stage trains with BitAug.
bool uses_bitaug(const StageConfig& s);
double bitaug_lambda(int64_t stage_step, int64_t stage_steps);
int bitaug_bits(const StageConfig& s, uint64_t seed, int64_t global_step);

// The second half of a BitAug step: forward at ba~, backward of lambda_b * loss (gradients add to
// those already accumulated), and back to the target ba. BatchNorm running statistics come out as
// they went in unless s.quant.bitaug_bn_update. Returns the loss at ba~.
double bitaug_backward(Module& model, const StageConfig& s, const Tensor& x, const std::vector<int64_t>& y,
                       int64_t stage_step, int64_t stage_steps, uint64_t seed, int64_t global_step);

// A freshly built model (config.model) with the structure it has once stage si is converted
// (following init_from); si < 0 gives the float model. Load a checkpoint of that stage into it.
std::shared_ptr<Module> build_model_for_stage(const Config& config, int64_t si);

// The configured array of an adc stage, as the IMC layers take it.
imc::AdcConfig adc_config(const StageConfig& s);

}  // namespace raoq::tools
