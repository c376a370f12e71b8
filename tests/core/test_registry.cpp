// tests/core/test_registry.cpp — every differentiable op registered by core/ has a gradient check.
//
// Ops register their names at static-initialisation time (RAOQ_REGISTER_OP) and gradient-check
// cases register theirs (RAOQ_GRADCHECK_CASE); test_core links the whole core library, so an op
// added without a RAOQ_GRADCHECK_CASE fails here by name.
#include <algorithm>
#include <string>

#include "core/autograd.h"
#include "tests/support/testing.h"

using namespace raoq;

TEST_CASE("registry: every core op has a gradient-check case", "[core]") {
  const auto missing = testing::ops_without_gradcheck("core");
  std::string names;
  for (const auto& op : missing) names += (names.empty() ? "" : ", ") + op;
  INFO("core ops without a RAOQ_GRADCHECK_CASE: " << names);
  REQUIRE(missing.empty());
}

TEST_CASE("registry: the elementwise, reduction, shape, product, softmax and loss ops are registered", "[core]") {
  // Composites (flatten = reshape, transpose = permute) have no backward of their own and are
  // deliberately absent.
  const std::vector<std::string> expected = {
      "add",  "sub",  "mul",  "div",     "add_scalar", "scale", "neg",         "pow",    "square",
      "sqrt", "exp",  "log",  "abs",     "clamp",      "relu",  "gelu",        "silu",   "tanh",
      "sigmoid", "sum", "mean", "max",   "reshape",    "permute", "slice",     "concat", "matmul",
      "linear", "softmax", "log_softmax", "cross_entropy", "mse_loss"};
  const auto ops = autograd::registered_ops();
  for (const auto& name : expected) {
    INFO("op " << name);
    const auto it = std::find_if(ops.begin(), ops.end(), [&](const auto& op) { return op.name == name; });
    REQUIRE(it != ops.end());
    REQUIRE(it->folder == "core");
    REQUIRE(it->differentiable);
  }
  REQUIRE(testing::registered_op_count("core") >= static_cast<int64_t>(expected.size()));
}
