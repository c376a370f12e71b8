// imc/imc_layer.cpp — what every IMC layer shares (imc_layer.h).
#include "imc/imc_layer.h"

#include "imc/input_map.h"

namespace raoq::imc {

AdcConfig ImcLayer::layer_config() const {
  AdcConfig c = config;
  c.bx = quant_options().bx, c.bw = quant_options().bw;
  return c;
}

quant::ShiftMap ImcLayer::input_map() const {
  return array_input_map(config, quant_options().act_signed, quant_options().bx);
}

}  // namespace raoq::imc
