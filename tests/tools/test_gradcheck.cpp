// tests/tools/test_gradcheck.cpp — the library's gradient-check registry (every case passes, every
// registered differentiable op has a case) and `raoq gradcheck` on one op, on an unknown op and
// with --dtype float64. test_tools links core, quant and imc whole (tests/CMakeLists.txt), so
// every op of those folders is registered here and an op added without a case fails by name.
#include <sstream>

#include "core/autograd.h"
#include "core/error.h"
#include "core/ops.h"
#include "tests/support/testing.h"
#include "tools/cli.h"
#include "tools/pipeline/gradcheck_suite.h"

using namespace raoq;
using Catch::Contains;

TEST_CASE("gradcheck registry: every registered differentiable op has a case", "[tools][gradcheck]") {
  const GradcheckCases cases = pipeline::all_gradcheck_cases();
  REQUIRE(testing::registered_op_count("core") >= 40);
  REQUIRE(testing::registered_op_count("quant") >= 10);
  REQUIRE(testing::registered_op_count("imc") >= 2);
  const auto missing = pipeline::ops_without_gradcheck_case(cases);
  std::string names;
  for (const auto& op : missing) names += " " + op;
  INFO("registered ops without a case in their folder's gradcheck_cases.cpp:" << names);
  REQUIRE(missing.empty());
}

TEST_CASE("gradcheck registry: every case passes with the default tolerances", "[tools][gradcheck]") {
  for (const auto& c : pipeline::all_gradcheck_cases()) {
    INFO(c.op << " (" << c.variant << ")");
    const GradcheckResult r = run_gradcheck_case(c);
    INFO(r.report());
    CHECK(r.ok);
    CHECK(r.max_tolerance_ratio <= 1.0);
  }
}

TEST_CASE("gradcheck registry: a case whose op is not in the graph fails", "[tools][gradcheck]") {
  GradcheckCase c{"tanh", "really exp", [] { return std::vector<Tensor>{gradcheck_inputs::uniform({3}, -1, 1, 1)}; },
                  [](const std::vector<Tensor>& in) { return ops::exp(in[0]); }};
  CHECK_FALSE(run_gradcheck_case(c).ok);
}

TEST_CASE("cli: raoq gradcheck on one op, an unknown op and --dtype float64", "[tools][gradcheck]") {
  std::ostringstream out;
  REQUIRE(tools::run_command_line({"gradcheck", "adc_quantize"}, out) == 0);
  CHECK_THAT(out.str(), Contains("max abs err") && Contains("adc_quantize") && Contains("pass") &&
                            Contains("case(s) of 1 op(s): all passed"));
  CHECK_THAT(out.str(), !Contains("lsq_codes"));
  try {
    std::ostringstream o;
    tools::run_command_line({"gradcheck", "lsq_code"}, o);
    FAIL("no error for an unknown op");
  } catch (const Error& e) {
    const std::string m = e.what();
    CHECK(m.find('\n') == std::string::npos);
    CHECK_THAT(m, Contains("unknown op 'lsq_code'") && Contains("did you mean lsq_codes?") &&
                      Contains("known ops: add") && Contains("array_product"));
  }
  try {
    std::ostringstream o;
    tools::run_command_line({"gradcheck", "--dtype", "float64", "tanh"}, o);
    FAIL("no error for --dtype float64");
  } catch (const Error& e) {
    CHECK_THAT(std::string(e.what()), Contains("float32 only") && Contains("double"));
  }
  std::ostringstream help;
  REQUIRE(tools::run_command_line({"help", "gradcheck"}, help) == 0);
  CHECK_THAT(help.str(), Contains("usage: raoq gradcheck"));
}
