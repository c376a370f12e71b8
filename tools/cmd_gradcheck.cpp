// tools/cmd_gradcheck.cpp — `raoq gradcheck`: runs the registry's cases for the named ops and
// prints one row per case. It checks nothing of its own: the finite differences and the
// tolerances are core/gradcheck.h's, the cases each folder's gradcheck_cases.cpp.
#include "tools/cmd_gradcheck.h"

#include <algorithm>
#include <cstdio>
#include <ostream>
#include <set>

#include "core/error.h"
#include "core/json_fields.h"
#include "tools/cli.h"
#include "tools/pipeline/gradcheck_suite.h"

namespace raoq::tools {

const char* const kGradcheckHelp = R"(usage: raoq gradcheck [OP...|--all] [--dtype float32]

Checks each named op's backward against central finite differences of
L = sum(f(x) * r), r a fixed random projection (core/gradcheck.h: the 4-point stencil with
h = 1e-2, L accumulated in double; an element fails when |analytic - numeric| > 2e-3 + 2e-3
|numeric|), on every case the registry holds for it, and prints per case: the elements checked,
the largest absolute error, the largest relative error (over elements with |numeric| > 2e-3),
the largest error as a fraction of its tolerance, and pass or FAIL. Quantizer and ADC cases skip
the rounding: their declared straight-through/LSQ gradient is the exact gradient of the
un-rounded expression. A case marked "rounding skipped*" therefore checks the STE gradient of the
un-rounded expression only: LSQ's in-range step-size term round(v) - v is identically 0 there, so
a pass says nothing about it; tests/quant/test_lsq.cpp pins that term against hand-computed
values instead. Without OP (or with --all) every case runs, and an op registered without
a case is a failure too. The exit status is 1 when anything failed.

options:
)";

namespace {
std::vector<OptionSpec> gradcheck_options() {
  return {{"--all", "", "every case of every op (the default without OP)"},
          {"--dtype", "TYPE",
           "float32 only: raoq tensors are float32; the check already accumulates L in double (float64 is refused)"},
          {"--list", "", "list the ops that have cases, with their case counts, and exit"}};
}

std::string fmt(const char* f, double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, f, v);
  return buf;
}

// Pads `s` to `w` columns (left-aligned) or right-aligns it.
std::string pad(const std::string& s, size_t w, bool right = false) {
  if (s.size() >= w) return s;
  return right ? std::string(w - s.size(), ' ') + s : s + std::string(w - s.size(), ' ');
}
}  // namespace

int gradcheck_cli(const std::vector<std::string>& args, std::ostream& out) {
  const auto p = parse_args("gradcheck", gradcheck_options(), args);
  if (p.help) {
    out << kGradcheckHelp << options_text(gradcheck_options());
    return 0;
  }
  const std::string dtype = p.get("--dtype", "float32");
  if (dtype == "float64" || dtype == "double")
    throw Error("gradcheck: --dtype float64: raoq tensors are float32 only, so there is no float64 mode; the check "
                "already accumulates L in double and uses float-sized steps and tolerances (core/gradcheck.h)");
  if (dtype != "float32") throw Error("gradcheck: --dtype must be float32 (got '" + dtype + "')");
  if (p.has("--all") && !p.positional.empty())
    throw Error("gradcheck: --all and op names contradict each other; give one or the other");

  const GradcheckCases cases = pipeline::all_gradcheck_cases();
  std::vector<std::string> known;
  for (const auto& c : cases)
    if (std::find(known.begin(), known.end(), c.op) == known.end()) known.push_back(c.op);
  if (p.has("--list")) {
    for (const auto& op : known)
      out << pad(op, 30) << std::count_if(cases.begin(), cases.end(), [&](const auto& c) { return c.op == op; })
          << " case(s)\n";
    return 0;
  }
  std::set<std::string> wanted(p.positional.begin(), p.positional.end());
  for (const auto& op : wanted)
    if (std::find(known.begin(), known.end(), op) == known.end()) {
      std::string list;
      for (const auto& k : known) list += (list.empty() ? "" : ", ") + k;
      const auto near = closest_match(op, known);
      throw Error("gradcheck: unknown op '" + op + "'" + (near ? " (did you mean " + *near + "?)" : "") +
                  "; known ops: " + list);
    }
  const bool all = wanted.empty();

  size_t op_w = 2, case_w = 4;
  for (const auto& c : cases)
    if (all || wanted.count(c.op)) op_w = std::max(op_w, c.op.size()), case_w = std::max(case_w, c.variant.size());
  out << pad("op", op_w) << "  " << pad("case", case_w) << "  elements  max abs err  max rel err  err/tol  result\n";
  int run = 0, failed = 0;
  bool marked = false;  // a case whose name carries the rounding footnote ran
  std::string failures;
  for (const auto& c : cases) {
    if (!all && !wanted.count(c.op)) continue;
    const GradcheckResult r = run_gradcheck_case(c);
    ++run;
    marked = marked || c.variant.find("rounding skipped*") != std::string::npos;
    if (!r.ok) {
      ++failed;
      failures += "  " + c.op + " (" + c.variant + "): " + r.report() + "\n";
    }
    out << pad(c.op, op_w) << "  " << pad(c.variant, case_w) << "  " << pad(std::to_string(r.checked), 8, true) << "  "
        << pad(fmt("%.2e", r.max_abs_error), 11, true) << "  " << pad(fmt("%.2e", r.max_rel_error), 11, true) << "  "
        << pad(fmt("%.3f", r.max_tolerance_ratio), 7, true) << "  " << (r.ok ? "pass" : "FAIL") << "\n";
  }
  if (marked)
    out << "* rounding skipped: the STE gradient of the un-rounded expression is checked; LSQ's in-range step-size "
           "term round(v) - v is 0 there (pinned by hand in tests/quant/test_lsq.cpp)\n";
  out << run << " case(s) of " << (all ? known.size() : wanted.size()) << " op(s): "
      << (failed ? std::to_string(failed) + " FAILED" : "all passed") << "\n";
  if (failed) out << "worst element of each failure (a case also fails when its op is not in the graph):\n" << failures;
  if (all) {
    const auto missing = pipeline::ops_without_gradcheck_case(cases);
    if (!missing.empty()) {
      std::string list;
      for (const auto& m : missing) list += " " + m;
      out << "registered ops without a gradcheck case (add one to their folder's gradcheck_cases.cpp):" << list << "\n";
      return 1;
    }
  }
  return failed ? 1 : 0;
}

}  // namespace raoq::tools
