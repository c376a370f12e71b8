// layers/init.h — PyTorch-style parameter initialisers.
//
// Every draw comes from a Generator, by default raoq::default_generator(), so
// raoq::manual_seed(s) before building a model makes its initial parameters reproducible.
// Layers draw their tensors in registration order (weight, then bias).
#pragma once

#include <cmath>
#include <cstdint>

#include "core/rng.h"
#include "core/tensor.h"

namespace raoq::init {

// U(-b, b) with b = gain * sqrt(3 / fan_in) and gain = sqrt(2 / (1 + a^2)) (He et al. 2015).
// PyTorch's default for Linear and Conv2d weights uses a = sqrt(5), which gives b = 1/sqrt(fan_in).
Tensor kaiming_uniform(const Shape& shape, int64_t fan_in, double a = std::sqrt(5.0),
                       Generator& gen = default_generator());
// U(-1/sqrt(fan_in), 1/sqrt(fan_in)): PyTorch's default for Linear and Conv2d biases.
Tensor fan_in_uniform(const Shape& shape, int64_t fan_in, Generator& gen = default_generator());
// N(mean, stddev^2): PyTorch's default for Embedding weights (0, 1).
Tensor normal(const Shape& shape, float mean = 0.0f, float stddev = 1.0f, Generator& gen = default_generator());

}  // namespace raoq::init
