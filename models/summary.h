// models/summary.h — a model's layers with their output shapes and parameter counts.
//
//   layer                   type           output shape     params
//   features.0.conv         Conv2d         [1, 32, 28, 28]  288
//   ...
//   total: 278,890 parameters (278,890 trainable)
// The output shapes come from one forward pass on a zero batch of one example, read off the
// graph: every layer names its output "<path>:out", so no forward hooks are needed.
#pragma once

#include <iosfwd>

#include "core/tensor.h"
#include "layers/module.h"

namespace raoq::models {

// Prints the table for `model` on an input of shape (1, input...). Runs in eval mode and
// restores the model's train/eval mode afterwards; running statistics are not touched.
void print_summary(Module& model, const Shape& input, std::ostream& os);

// 1234567 -> "1,234,567".
std::string with_commas(int64_t n);

}  // namespace raoq::models
