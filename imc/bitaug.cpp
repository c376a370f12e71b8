// imc/bitaug.cpp — BitAug's draw, its lambda_b schedule and its two backward passes (bitaug.h).
#include "imc/bitaug.h"

#include <cmath>
#include <optional>

#include "core/error.h"
#include "core/ops.h"
#include "imc/adc.h"
#include "imc/imc_model.h"

namespace raoq::imc {

void BitAugConfig::validate(const std::string& key) const {
  RAOQ_CHECK(!offsets.empty(), key, " must list at least one offset when BitAug is on");
  for (int o : offsets) {
    RAOQ_CHECK(o != 0, key, " must not contain 0 (the target ba is always trained)");
    AdcConfig probe;  // the ADC bits every array accepts, by AdcConfig's own rule
    probe.ba = ba + o;
    try {
      probe.validate("");
    } catch (const Error& e) {
      throw Error(key + " must keep ba + offset a width an ADC can have (ba " + std::to_string(ba) + ", offset " +
                  std::to_string(o) + ": " + e.what() + ")");
    }
  }
}

double bitaug_lambda(int64_t step, int64_t steps) {
  if (steps <= 1) return 1.0;
  const double t = static_cast<double>(step) / static_cast<double>(steps - 1);
  return 0.5 * (1.0 + std::cos(M_PI * std::min(1.0, t)));
}

int bitaug_bits(const BitAugConfig& c, int64_t draw) {
  RAOQ_CHECK(!c.offsets.empty(), "bitaug_bits: offsets is empty");
  // splitmix64 of (seed, draw): independent of thread count and of where a run was resumed.
  uint64_t z = c.seed * 0x9E3779B97F4A7C15ULL + static_cast<uint64_t>(draw) + 0x632BE59BD9B4E019ULL;
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
  z ^= z >> 31;
  return c.ba + c.offsets[z % c.offsets.size()];
}

BufferGuard::BufferGuard(const Module& model) {
  for (const auto& [name, t] : model.named_buffers()) saved_.emplace_back(t, t.clone());
}

BufferGuard::~BufferGuard() {
  for (auto& [live, copy] : saved_) live.flat() = copy.flat();
}

double bitaug_backward(Module& model, const BitAugConfig& c, int ba_tilde, double lambda, const LossFn& loss) {
  std::optional<BufferGuard> keep_buffers;
  if (!c.update_buffers) keep_buffers.emplace(model);
  set_adc_bits(model, ba_tilde);
  double value = 0.0;
  try {
    Tensor l = loss();
    value = l.item();
    if (lambda > 0.0) ops::scale(l, static_cast<float>(lambda)).backward();
  } catch (...) {
    set_adc_bits(model, c.ba);
    throw;
  }
  set_adc_bits(model, c.ba);
  return value;
}

BitAugStep bitaug_step(Module& model, const BitAugConfig& c, const BitAugPosition& at, const LossFn& loss) {
  BitAugStep s;
  set_adc_bits(model, c.ba);
  Tensor l = loss();
  s.loss = l.item();
  l.backward();
  s.ba_tilde = bitaug_bits(c, at.draw);
  s.lambda = bitaug_lambda(at.step, at.steps);
  s.loss_tilde = bitaug_backward(model, c, s.ba_tilde, s.lambda, loss);
  return s;
}

}  // namespace raoq::imc
