// layers/init.cpp — PyTorch-style parameter initialisers (see init.h).
#include "layers/init.h"

#include "core/error.h"

namespace raoq::init {

Tensor kaiming_uniform(const Shape& shape, int64_t fan_in, double a, Generator& gen) {
  RAOQ_CHECK(fan_in > 0, "kaiming_uniform: fan_in must be positive for shape ", shape_str(shape), " (got ", fan_in, ")");
  const double gain = std::sqrt(2.0 / (1.0 + a * a));
  const auto bound = static_cast<float>(gain * std::sqrt(3.0 / static_cast<double>(fan_in)));
  return Tensor::uniform(shape, gen, -bound, bound);
}

Tensor fan_in_uniform(const Shape& shape, int64_t fan_in, Generator& gen) {
  RAOQ_CHECK(fan_in > 0, "fan_in_uniform: fan_in must be positive for shape ", shape_str(shape), " (got ", fan_in, ")");
  const auto bound = static_cast<float>(1.0 / std::sqrt(static_cast<double>(fan_in)));
  return Tensor::uniform(shape, gen, -bound, bound);
}

Tensor normal(const Shape& shape, float mean, float stddev, Generator& gen) {
  RAOQ_CHECK(stddev >= 0.0f, "init::normal: stddev must be >= 0 (got ", stddev, ")");
  return Tensor::randn(shape, gen, mean, stddev);
}

}  // namespace raoq::init
