// tools/pipeline/gradcheck_suite.h — every folder's gradient-check cases in one list, and the
// ops that have none. It lives here because it names core, quant and imc together (DESIGN.md's
// table lets only tools/ do that); `raoq gradcheck` and the registry tests iterate it.
#pragma once

#include <string>
#include <vector>

#include "core/gradcheck_cases.h"

namespace raoq::pipeline {

// core's, quant's and imc's cases, in that order (layers/ registers no op of its own: its modules
// are compositions of core's ops).
GradcheckCases all_gradcheck_cases();

// The registered differentiable ops (autograd::registered_ops) that no case checks, sorted. An
// op only registers when its object file is linked, so a caller that must see every op links
// the libraries whole (the tests do; the raoq binary links every op the trainer can reach).
std::vector<std::string> ops_without_gradcheck_case(const GradcheckCases& cases);

}  // namespace raoq::pipeline
