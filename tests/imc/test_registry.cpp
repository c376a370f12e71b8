// tests/imc/test_registry.cpp — every op imc/ registers has a gradient-check case.
#include <string>

#include "tests/support/testing.h"

TEST_CASE("imc: every registered op has a gradcheck case", "[imc][gradcheck]") {
  REQUIRE(raoq::testing::registered_op_count("imc") >= 2);  // adc_quantize, array_product
  const auto missing = raoq::testing::ops_without_gradcheck("imc");
  std::string names;
  for (const auto& op : missing) names += " " + op;
  INFO("ops without RAOQ_GRADCHECK_CASE:" << names);
  REQUIRE(missing.empty());
}
