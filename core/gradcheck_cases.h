// core/gradcheck_cases.h — a library-side registry of gradient-check cases, one or more per op.
//
// Each folder that defines differentiable ops adds its own cases (core here, quant/ and imc/ in
// their gradcheck_cases.h), so core never names a quantizer; tools/pipeline/gradcheck_suite.h
// collects them all for `raoq gradcheck` and for the registry test that fails when a registered
// op has no case. Cases are added by plain function calls rather than static registration: a
// static-library object that nothing references is dropped by the linker, and its cases with it.
// Every case runs gradcheck() with the fixed defaults of gradcheck.h; a case that needs other
// options says why next to them.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "core/gradcheck.h"
#include "core/tensor.h"

namespace raoq {

struct GradcheckCase {
  std::string op;       // the registered op this case checks (it must appear in the graph)
  std::string variant;  // what the case covers: "3x3 padding 1 with bias"
  std::function<std::vector<Tensor>()> inputs;  // fresh inputs on every run (gradcheck perturbs them)
  GradcheckFn fn;
  GradcheckOptions options = {};
};
using GradcheckCases = std::vector<GradcheckCase>;

// Runs one case: gradcheck() on fresh inputs, and ok only if the case's op was in the graph
// (a case that stopped reaching its op must fail, not pass vacuously).
GradcheckResult run_gradcheck_case(const GradcheckCase& c);

// Appends the cases of every differentiable op core/ registers.
void add_core_gradcheck_cases(GradcheckCases& cases);

// Inputs for cases, each from a fixed seed and requiring grad unless said otherwise.
namespace gradcheck_inputs {
Tensor uniform(const Shape& shape, float lo, float hi, uint64_t seed, bool requires_grad = true);
Tensor randn(const Shape& shape, uint64_t seed);
// Uniform magnitudes in [gap, hi] with random signs: away from a kink at 0 (relu, abs).
Tensor away_from_zero(const Shape& shape, float hi, float gap, uint64_t seed);
Tensor values(const std::vector<float>& v, const Shape& shape);  // requires grad
}  // namespace gradcheck_inputs

}  // namespace raoq
