// tests/quant/test_registry.cpp — every op quant/ registers has a gradient-check case.
#include <string>

#include "tests/support/testing.h"

TEST_CASE("quant: every registered op has a gradcheck case", "[quant][gradcheck]") {
  REQUIRE(raoq::testing::registered_op_count("quant") >= 10);
  const auto missing = raoq::testing::ops_without_gradcheck("quant");
  std::string names;
  for (const auto& op : missing) names += " " + op;
  INFO("ops without RAOQ_GRADCHECK_CASE:" << names);
  REQUIRE(missing.empty());
}
