// core/gradcheck.h — check any op or model against finite differences.
//
// L = sum_i f(x)_i * r_i with a fixed random projection r (so every output element matters),
// analytic dL/dx from backward(), numeric dL/dx from the 4-point central stencil
//   (8 (L(x+h) - L(x-h)) - (L(x+2h) - L(x-2h))) / (12 h)     (truncation error O(h^4)),
// with L accumulated in double. raoq's tensors are float32, so the numeric side carries a
// rounding error of about eps_f * |L| / h: the defaults below (h = 1e-2, atol = rtol = 2e-3)
// were chosen for inputs of magnitude ~1 and at most a few hundred output elements, where that
// error is ~1e-4; they are fixed, not tuned per test. Inputs must sit away from kinks (relu at 0,
// clamp bounds, round steps): finite differences are meaningless there.
// An element fails when |analytic - numeric| > atol + rtol * |numeric|.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "core/tensor.h"

namespace raoq {

struct GradcheckOptions {
  double step = 1e-2;
  double atol = 2e-3;
  double rtol = 2e-3;
  uint64_t seed = 1234;            // seeds the projection r
  std::vector<bool> check_input;   // which inputs to perturb; empty = all that require grad
};

struct GradcheckResult {
  bool ok = true;
  int64_t checked = 0;             // elements compared
  // The worst element (largest error relative to its tolerance):
  int input = -1;
  Shape position;
  double analytic = 0, numeric = 0, error = 0;
  // Over all elements: the largest |analytic - numeric|; the largest |analytic - numeric| / |numeric|
  // among elements with |numeric| > atol (below that the absolute criterion decides, and a ratio to
  // a near-zero number says nothing); and the largest error / (atol + rtol |numeric|), which is
  // what fails an element when it exceeds 1.
  double max_abs_error = 0, max_rel_error = 0, max_tolerance_ratio = 0;
  std::vector<std::string> ops_seen;  // op names in f's graph (to prove which op was checked)
  std::string report() const;         // "input 0 at [2, 4]: analytic 0.4199 numeric 0.42 err 2e-4 (ok)"
};

using GradcheckFn = std::function<Tensor(const std::vector<Tensor>&)>;

// Inputs are used in place (perturbed and restored); those to check must require grad.
GradcheckResult gradcheck(const GradcheckFn& f, const std::vector<Tensor>& inputs, const GradcheckOptions& opt = {});

}  // namespace raoq
