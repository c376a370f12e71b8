// quant/quantizer.cpp — ActQuantizer and WeightQuantizer (contract in quantizer.h).
#include "quant/quantizer.h"

#include <algorithm>
#include <vector>

#include "core/autograd.h"
#include "core/distributed.h"
#include "core/error.h"

namespace raoq::quant {

std::string to_string(const QuantOptions& q) {
  return "bx=" + std::to_string(q.bx) + ", bw=" + std::to_string(q.bw) + (q.act_signed ? ", signed" : ", unsigned") +
         (q.act_offset ? ", offset" : "") + (q.per_channel ? ", per_channel" : "");
}

namespace {
int64_t features_per_sample(const Tensor& x) { return x.dim() >= 1 && x.size(0) > 0 ? x.numel() / x.size(0) : x.numel(); }
}  // namespace

// ---- ActQuantizer

ActQuantizer::ActQuantizer(int bits_, bool signed_codes_, bool learn_offset_, bool symmetric_)
    : Module("ActQuantizer"), bits(bits_), signed_codes(signed_codes_), learn_offset(learn_offset_), symmetric(symmetric_) {
  RAOQ_CHECK(signed_codes || !symmetric, "ActQuantizer: symmetric codes are signed; pass signed_codes = true");
  (void)range();  // validates bits
  scale = register_parameter("scale", Tensor::scalar(1.0f));
  if (learn_offset) beta = register_parameter("beta", Tensor::scalar(0.0f));
  init = register_buffer("initialized", Tensor::scalar(0.0f));
}

CodeRange ActQuantizer::range() const {
  if (symmetric) return quant::symmetric_codes(bits);
  return signed_codes ? quant::signed_codes(bits) : quant::unsigned_codes(bits);
}
bool ActQuantizer::initialized() const { return init.item() != 0.0f; }

void ActQuantizer::initialize_from(const Tensor& x) {
  // Data-parallel: from the global batch, every rank's slice in rank order (batch order), so every
  // rank starts from the same scale and offset.
  Tensor batch = x;
  if (dist::distributed()) {
    const std::vector<float> all = dist::gather_all(x.data(), x.numel());
    batch = Tensor::empty({static_cast<int64_t>(all.size())});
    std::copy(all.begin(), all.end(), batch.data());
  }
  const ScaleOffset so = lsq_plus_activation_init(batch, range(), learn_offset);
  scale.data()[0] = so.scale;
  if (learn_offset) beta.data()[0] = so.offset;
  init.data()[0] = 1.0f;
}

void ActQuantizer::prepare(const Tensor& x, Tensor* s_eff, Tensor* b_eff) {
  RAOQ_CHECK(x.numel() > 0, label(), ": empty input ", shape_str(x.shape()));
  if (!initialized()) {
    autograd::NoGradGuard ng;
    initialize_from(x);
  }
  const float g = lsq_grad_scale(features_per_sample(x), range().hi);
  *s_eff = scale_floor(grad_scale(scale, g));
  *b_eff = learn_offset ? grad_scale(beta, g) : Tensor();
}

Tensor ActQuantizer::forward(const Tensor& x) {
  Tensor s, b;
  prepare(x, &s, &b);
  return lsq_fake_quant(x, s, b, range(), rounding);
}

Quantized ActQuantizer::quantize(const Tensor& x, ShiftMap map) {
  Quantized q;
  prepare(x, &q.scale, &q.offset);
  q.codes = lsq_codes(x, q.scale, q.offset, range(), rounding, map.gain, map.shift);
  return q;
}

std::string ActQuantizer::extra_repr() const {
  return "bits=" + std::to_string(bits) + (symmetric ? ", symmetric" : signed_codes ? ", signed" : ", unsigned") +
         (learn_offset ? ", offset" : "");
}

// ---- WeightQuantizer

WeightQuantizer::WeightQuantizer(int bits_, bool per_channel_, int64_t channels)
    : Module("WeightQuantizer"), bits(bits_), per_channel(per_channel_) {
  (void)range();
  RAOQ_CHECK(!per_channel || channels > 0, "WeightQuantizer: per-channel scales need channels > 0 (got ", channels, ")");
  scale = register_parameter("scale", per_channel ? Tensor::ones({channels}) : Tensor::scalar(1.0f));
  init = register_buffer("initialized", Tensor::scalar(0.0f));
}

CodeRange WeightQuantizer::range() const { return symmetric_codes(bits); }
bool WeightQuantizer::initialized() const { return init.item() != 0.0f; }

void WeightQuantizer::initialize_from(const Tensor& w) {
  scale.copy_from(lsq_plus_weight_scale(w, bits, per_channel));
  init.data()[0] = 1.0f;
}

Tensor WeightQuantizer::prepare(const Tensor& w) {
  RAOQ_CHECK(w.numel() > 0, label(), ": empty weight");
  RAOQ_CHECK(!per_channel || (w.dim() >= 1 && w.size(0) == scale.numel()), label(), ": per-channel scale has ",
             scale.numel(), " channels but the weight is ", shape_str(w.shape()));
  if (!initialized()) {
    autograd::NoGradGuard ng;
    initialize_from(w);
  }
  const int64_t per_scale = per_channel ? w.numel() / w.size(0) : w.numel();
  return scale_floor(grad_scale(scale, lsq_grad_scale(per_scale, range().hi)));
}

Tensor WeightQuantizer::forward(const Tensor& w) { return lsq_fake_quant(w, prepare(w), Tensor(), range(), rounding); }

Quantized WeightQuantizer::quantize(const Tensor& w) {
  Quantized q;
  q.scale = prepare(w);
  q.codes = lsq_codes(w, q.scale, Tensor(), range(), rounding);
  return q;
}

std::string WeightQuantizer::extra_repr() const {
  return "bits=" + std::to_string(bits) + (per_channel ? ", per_channel" : "");
}

}  // namespace raoq::quant
