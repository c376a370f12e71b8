// imc/imc_linear.cpp — ImcLinear (contract in imc_layer.h).
#include "imc/imc_linear.h"

#include <sstream>

#include "core/error.h"
#include "core/ops.h"
#include "imc/array_product.h"
#include "quant/dequantize.h"
#include "imc/input_map.h"
#include "imc/lora.h"
#include "imc/stats.h"

namespace raoq::imc {

ImcLinear::ImcLinear(int64_t in, int64_t out, bool has_bias, quant::QuantOptions q, AdcConfig c)
    : QuantLinear(in, out, has_bias, q) {
  config = c;
  check_config();
}

std::shared_ptr<ImcLinear> ImcLinear::from(quant::QuantLinear& q, const AdcConfig& c) {
  auto m = std::make_shared<ImcLinear>(q.in_features, q.out_features, q.bias.defined(), q.qopts, c);
  if (auto* l = dynamic_cast<ImcLinear*>(&q); l && l->lora) attach_adapter(*m, copy_structure(*l->lora));
  m->load_state_dict(q.state_dict());
  m->on_array = q.on_array;
  m->train(q.is_training());
  return m;
}

// x: (..., in) -> (..., out); the product runs on x viewed as (M, in).
Tensor ImcLinear::forward(const Tensor& x) {
  if (mode == ImcMode::qat && !lora) return QuantLinear::forward(x);
  RAOQ_CHECK(x.dim() >= 1 && x.size(-1) == in_features, label(), " (", in_features, "->", out_features,
             "): expected input (..., ", in_features, "), got ", shape_str(x.shape()));
  if (mode == ImcMode::qat)
    return named_output(code_forward(x, adapted_weight(*this)), x);
  if (lora_mse && lora) {  // Eq. 12's phase (imc/lora.h)
    const auto path = [this](const Tensor& in, const Tensor& w, const AdcConfig& c, bool observed) {
      return array_forward(in, w, c, observed);
    };
    return named_output(lora_mse_forward(*this, x, path), x);
  }
  return named_output(array_forward(x, adapted_weight(*this), layer_config(), true), x);
}

Tensor ImcLinear::array_forward(const Tensor& x, const Tensor& w_values, const AdcConfig& c, bool observed) {
  const quant::ShiftMap map = input_map();
  const quant::Quantized a = act_quant->quantize(x, map);       // xs = gain xq - shift: (..., in)
  const quant::Quantized w = weight_quant->quantize(w_values);  // wq: (out, in)
  const Tensor xs = ops::reshape(a.codes, {-1, in_features});  // (M, in)
  ArrayProductOptions opt;
  opt.rounding = adc_rounding, opt.noise = noise;
  if (stats && observed) {
    stats->record_forward(xs, w.codes, map, c, ArrayGeometry::matrix());
    opt.observer = stats.get();
  } else if (tile_observer && observed) {
    opt.observer = tile_observer;
  }
  const Tensor acc = array_product(xs, w.codes, c, ArrayGeometry::matrix(), opt);  // (M, out)
  const Tensor S = quant::window_weight_sums(w.codes, 1, 1);     // (out, 1)
  Tensor y = quant::dequantize_product(acc, -1, S, a.scale, w.scale, a.offset, bias, map);
  Shape out_shape = x.shape();
  out_shape.back() = out_features;
  return ops::reshape(y, out_shape);
}

Tensor ImcLinear::weight_codes() { return weight_quant->quantize(adapted_weight(*this)).codes; }

std::string ImcLinear::extra_repr() const {
  std::ostringstream os;
  os << QuantLinear::extra_repr() << ", imc(" << layer_config() << "), mode " << to_string(mode);
  return os.str();
}

}  // namespace raoq::imc
