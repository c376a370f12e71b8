// tests/layers/layer_check.h — gradient check of a layer as a function of its input and of
// every parameter it owns (layers are not ops, so this calls raoq::gradcheck directly).
#pragma once

#include <vector>

#include "core/gradcheck.h"
#include "layers/module.h"
#include "tests/support/testing.h"

namespace raoq::testing {

// Perturbs x and each parameter of m in place. `before` runs ahead of every forward (e.g. to
// reseed a dropout mask).
inline GradcheckResult check_layer(Module& m, const Tensor& x, const std::function<void()>& before = {}) {
  std::vector<Tensor> inputs{x};
  for (const auto& [name, p] : m.named_parameters()) inputs.push_back(p);
  return gradcheck(
      [&](const std::vector<Tensor>& in) {
        if (before) before();
        return m.forward(in[0]);
      },
      inputs);
}

}  // namespace raoq::testing

// Requires the layer gradcheck to pass, printing the worst element on failure.
#define RAOQ_REQUIRE_LAYER_GRADCHECK(...)                                   \
  do {                                                                      \
    const auto raoq_layer_gc = ::raoq::testing::check_layer(__VA_ARGS__); \
    INFO(raoq_layer_gc.report());                                           \
    REQUIRE(raoq_layer_gc.ok);                                              \
    REQUIRE(raoq_layer_gc.checked > 0);                                     \
  } while (0)
