// imc/imc_conv2d.cpp — ImcConv2d (contract in imc_layer.h).
#include "imc/imc_conv2d.h"

#include <sstream>

#include "core/error.h"
#include "core/ops.h"
#include "imc/array_product.h"
#include "quant/dequantize.h"
#include "imc/input_map.h"
#include "imc/lora.h"
#include "imc/stats.h"

namespace raoq::imc {

ImcConv2d::ImcConv2d(int64_t in, int64_t out, int64_t k, ops::Conv2dOptions opt, bool has_bias, quant::QuantOptions q,
                     AdcConfig c)
    : QuantConv2d(in, out, k, opt, has_bias, q) {
  RAOQ_CHECK(opt.groups == 1, "ImcConv2d: only groups == 1 is mapped to the array (got groups ", opt.groups,
             "); keep depthwise and grouped convolutions as QuantConv2d");
  config = c;
  check_config();
}

std::shared_ptr<ImcConv2d> ImcConv2d::from(quant::QuantConv2d& q, const AdcConfig& c) {
  auto m = std::make_shared<ImcConv2d>(q.in_channels, q.out_channels, q.kernel_size, q.options, q.bias.defined(),
                                       q.qopts, c);
  if (auto* l = dynamic_cast<ImcConv2d*>(&q); l && l->lora) attach_adapter(*m, copy_structure(*l->lora));
  m->load_state_dict(q.state_dict());
  m->on_array = q.on_array;
  m->train(q.is_training());
  return m;
}

// x: (N, C_in, H, W) -> (N, C_out, H_out, W_out)
Tensor ImcConv2d::forward(const Tensor& x) {
  if (mode == ImcMode::qat && !lora) return QuantConv2d::forward(x);
  RAOQ_CHECK(x.dim() == 4 && x.size(1) == in_channels, label(), " (", in_channels, "->", out_channels,
             "): expected input (N, ", in_channels, ", H, W), got ", shape_str(x.shape()));
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

Tensor ImcConv2d::array_forward(const Tensor& x, const Tensor& w_values, const AdcConfig& c, bool observed) {
  const quant::ShiftMap map = input_map();
  const quant::Quantized a = act_quant->quantize(x, map);       // xs = gain xq - shift: (N, C_in, H, W)
  const quant::Quantized w = weight_quant->quantize(w_values);  // wq: (C_out, C_in, k, k)
  const Tensor& xs = a.codes;
  ArrayProductOptions opt;
  opt.rounding = adc_rounding, opt.noise = noise;
  if (stats && observed) {
    stats->record_forward(xs, w.codes, map, c, ArrayGeometry::patches(options), x.size(2), x.size(3));
    opt.observer = stats.get();
  } else if (tile_observer && observed) {
    opt.observer = tile_observer;
  }
  const Tensor acc = array_product(xs, w.codes, c, ArrayGeometry::patches(options), opt);  // (N, C_out, H_out, W_out)
  const Tensor S = quant::window_weight_sums(w.codes, x.size(2), x.size(3), options);  // (C_out, H_out*W_out)
  return quant::dequantize_product(acc, 1, S, a.scale, w.scale, a.offset, bias, map);
}

Tensor ImcConv2d::weight_codes() { return weight_quant->quantize(adapted_weight(*this)).codes; }

std::string ImcConv2d::extra_repr() const {
  std::ostringstream os;
  os << QuantConv2d::extra_repr() << ", imc(" << layer_config() << "), mode " << to_string(mode);
  return os.str();
}

}  // namespace raoq::imc
