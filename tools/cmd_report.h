// tools/cmd_report.h — `raoq report RUN_DIR [--out FILE] [--figures DIR]`: the run as one
// self-contained HTML page (tools/pipeline/report.h), RUN_DIR/report.html by default.
#pragma once

#include <iosfwd>
#include <string>
#include <vector>

namespace raoq::tools {

struct ReportArgs {
  std::string run_dir;
  std::string out;                       // "" = RUN_DIR/report.html
  std::vector<std::string> figure_dirs;  // extra folders of SVG figures
};
int report_command(const ReportArgs& args, std::ostream& out);

// `raoq report ARGS...` (the words after "report"): parses them and runs report_command.
int report_cli(const std::vector<std::string>& args, std::ostream& out);

}  // namespace raoq::tools
