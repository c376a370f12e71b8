// tools/pipeline/gradcheck_suite.cpp — the gradient-check cases of every folder (see the header).
#include "tools/pipeline/gradcheck_suite.h"

#include <algorithm>
#include <set>

#include "core/autograd.h"
#include "imc/gradcheck_cases.h"
#include "quant/gradcheck_cases.h"

namespace raoq::pipeline {

GradcheckCases all_gradcheck_cases() {
  GradcheckCases cases;
  add_core_gradcheck_cases(cases);
  quant::add_gradcheck_cases(cases);
  imc::add_gradcheck_cases(cases);
  return cases;
}

std::vector<std::string> ops_without_gradcheck_case(const GradcheckCases& cases) {
  std::set<std::string> covered;
  for (const auto& c : cases) covered.insert(c.op);
  std::vector<std::string> missing;
  for (const auto& op : autograd::registered_ops())
    if (op.differentiable && !covered.count(op.name)) missing.push_back(op.name);
  std::sort(missing.begin(), missing.end());
  missing.erase(std::unique(missing.begin(), missing.end()), missing.end());
  return missing;
}

}  // namespace raoq::pipeline
