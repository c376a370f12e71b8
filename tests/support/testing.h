// tests/support/testing.h — helpers shared by every raoq test executable.
#pragma once

#include <catch2/catch.hpp>
#include <cstdint>
#include <string>
#include <vector>

#include "core/gradcheck.h"
#include "core/tensor.h"

namespace raoq::testing {

// Uniform / normal inputs from a fixed seed; requires_grad on by default (gradcheck inputs).
Tensor uniform(const Shape& shape, float lo, float hi, uint64_t seed, bool requires_grad = true);
Tensor randn(const Shape& shape, uint64_t seed, bool requires_grad = true);
// Uniform values whose magnitude is at least `gap` (keeps inputs away from kinks at 0).
Tensor uniform_away_from_zero(const Shape& shape, float hi, float gap, uint64_t seed, bool requires_grad = true);
// Whole numbers drawn uniformly from [lo, hi] (integer codes for the quantizer and array tests).
Tensor random_codes(const Shape& shape, float lo, float hi, uint64_t seed);
// The names of named tensors, in order (parameters, buffers, state dicts).
std::vector<std::string> names_of(const NamedTensors& t);
// a: (M, K), b: (N, K) -> y[m, n] = sum_k a[m, k] b[n, k] by plain loops, summed in double (exact
// on integer codes): the product without any array, for the A-shift and array-product tests.
Tensor plain_product(const Tensor& a, const Tensor& b);

// Checks every element of `t` against `expected` within `tol`, relative and absolute.
void require_values(const Tensor& t, const std::vector<double>& expected, double tol);

// For backwards that write their gradient buffers instead of clearing them: leaves NaN-filled
// buffers of these shapes in the tensor buffer cache, which hands freed buffers of 64 KiB or more
// back by size, so an element a backward misses shows up as NaN rather than as a lucky zero.
void leave_nan_buffers(const std::vector<Shape>& shapes);

// Restores the thread count when a test ends, even through a failed REQUIRE.
struct ThreadCountGuard {
  int saved;
  ThreadCountGuard();
  ~ThreadCountGuard();
};

// The gradcheck-case registry: RAOQ_GRADCHECK_CASE records its op name here, and each
// folder's registry test fails if an op that folder registered has no case.
bool register_gradcheck_case(const std::string& op);
std::vector<std::string> ops_without_gradcheck(const std::string& folder);
int64_t registered_op_count(const std::string& folder);

}  // namespace raoq::testing

#define RAOQ_TEST_CONCAT_INNER(a, b) a##b
#define RAOQ_TEST_CONCAT(a, b) RAOQ_TEST_CONCAT_INNER(a, b)

// Declares a gradient-check test case for `op` (a string literal equal to the op name).
//   RAOQ_GRADCHECK_CASE("tanh", "range [-2, 2]", "[core]") { ... RAOQ_REQUIRE_GRADCHECK("tanh", f, {x}); }
#define RAOQ_GRADCHECK_CASE(op, variant, tags)                                                               \
  [[maybe_unused]] static const bool RAOQ_TEST_CONCAT(raoq_gc_case_, __LINE__) =                            \
      ::raoq::testing::register_gradcheck_case(op);                                                         \
  TEST_CASE(op " gradcheck: " variant, "[gradcheck]" tags)

// Runs gradcheck, prints the worst element, requires success and that `op` was in the graph.
#define RAOQ_REQUIRE_GRADCHECK(op, fn, ...)                                                                  \
  do {                                                                                                       \
    const auto raoq_gc_result = ::raoq::gradcheck(fn, __VA_ARGS__);                                          \
    INFO(raoq_gc_result.report());                                                                           \
    REQUIRE(raoq_gc_result.ok);                                                                              \
    bool raoq_gc_seen = false;                                                                               \
    for (const auto& raoq_gc_op : raoq_gc_result.ops_seen) raoq_gc_seen = raoq_gc_seen || raoq_gc_op == op;  \
    REQUIRE(raoq_gc_seen);                                                                                   \
  } while (0)
