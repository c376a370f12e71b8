// tests/support/testing.cpp — shared test helpers and the gradcheck-case registry.
#include "tests/support/testing.h"

#include <algorithm>
#include <cmath>
#include <set>

#include "core/autograd.h"
#include "core/rng.h"

namespace raoq::testing {

Tensor uniform(const Shape& shape, float lo, float hi, uint64_t seed, bool requires_grad) {
  Generator gen(seed);
  Tensor t = Tensor::uniform(shape, gen, lo, hi);
  t.set_requires_grad(requires_grad);
  return t;
}

Tensor randn(const Shape& shape, uint64_t seed, bool requires_grad) {
  Generator gen(seed);
  Tensor t = Tensor::randn(shape, gen);
  t.set_requires_grad(requires_grad);
  return t;
}

Tensor uniform_away_from_zero(const Shape& shape, float hi, float gap, uint64_t seed, bool requires_grad) {
  Generator gen(seed);
  Tensor t = Tensor::uniform(shape, gen, gap, hi);
  for (int64_t i = 0; i < t.numel(); ++i)
    if (gen.uniform01() < 0.5f) t.data()[i] = -t.data()[i];
  t.set_requires_grad(requires_grad);
  return t;
}

namespace {
std::set<std::string>& cases() {
  static std::set<std::string> s;
  return s;
}
}  // namespace

bool register_gradcheck_case(const std::string& op) {
  cases().insert(op);
  return true;
}

std::vector<std::string> ops_without_gradcheck(const std::string& folder) {
  std::vector<std::string> missing;
  for (const auto& op : autograd::registered_ops())
    if (op.folder == folder && op.differentiable && !cases().count(op.name)) missing.push_back(op.name);
  return missing;
}

int64_t registered_op_count(const std::string& folder) {
  const auto ops = autograd::registered_ops();
  return std::count_if(ops.begin(), ops.end(), [&](const auto& op) { return op.folder == folder; });
}

}  // namespace raoq::testing
