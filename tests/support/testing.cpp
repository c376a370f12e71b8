// tests/support/testing.cpp — shared test helpers and the gradcheck-case registry.
#include "tests/support/testing.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <set>

#include "core/autograd.h"
#include "core/parallel.h"
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

Tensor random_codes(const Shape& shape, float lo, float hi, uint64_t seed) {
  Generator gen(seed);
  Tensor t = Tensor::empty(shape);
  for (int64_t i = 0; i < t.numel(); ++i) t.data()[i] = lo + float(gen.below(uint64_t(hi - lo + 1)));
  return t;
}

std::vector<std::string> names_of(const NamedTensors& t) {
  std::vector<std::string> n;
  for (const auto& [name, tensor] : t) n.push_back(name);
  return n;
}

Tensor plain_product(const Tensor& a, const Tensor& b) {
  const int64_t M = a.size(0), K = a.size(1), N = b.size(0);
  Tensor y = Tensor::zeros({M, N});
  for (int64_t m = 0; m < M; ++m)
    for (int64_t n = 0; n < N; ++n) {
      double acc = 0;
      for (int64_t k = 0; k < K; ++k) acc += double(a.data()[m * K + k]) * b.data()[n * K + k];
      y.data()[m * N + n] = float(acc);
    }
  return y;
}

void require_values(const Tensor& t, const std::vector<double>& expected, double tol) {
  REQUIRE(t.numel() == static_cast<int64_t>(expected.size()));
  for (size_t i = 0; i < expected.size(); ++i) {
    INFO(t.name() << "[" << i << "]");
    CHECK(t.data()[i] == Approx(expected[i]).epsilon(tol).margin(tol));
  }
}

void leave_nan_buffers(const std::vector<Shape>& shapes) {
  std::vector<Tensor> junk;
  for (const Shape& s : shapes)
    for (int i = 0; i < 6; ++i) junk.push_back(Tensor::full(s, std::numeric_limits<float>::quiet_NaN()));
}

ThreadCountGuard::ThreadCountGuard() : saved(num_threads()) {}
ThreadCountGuard::~ThreadCountGuard() { set_num_threads(saved); }

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
