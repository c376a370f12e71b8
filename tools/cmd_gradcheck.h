// tools/cmd_gradcheck.h — `raoq gradcheck [OP...|--all]`: every gradient-check case of the
// registry (tools/pipeline/gradcheck_suite.h) for the named ops, as a table of errors against
// central finite differences (core/gradcheck.h), and a non-zero exit status on any failure.
#pragma once

#include <iosfwd>
#include <string>
#include <vector>

namespace raoq::tools {

// `raoq gradcheck ARGS...` (the words after "gradcheck"). Returns 0 when every case passed (and,
// with --all, every registered differentiable op has a case), 1 otherwise; a user error (an
// unknown op, --dtype float64) throws raoq::Error.
int gradcheck_cli(const std::vector<std::string>& args, std::ostream& out);

extern const char* const kGradcheckHelp;

}  // namespace raoq::tools
