// tools/cmd_report.cpp — `raoq report`: argument handling around report_html (cmd_report.h).
#include "tools/cmd_report.h"

#include <ostream>

#include "core/error.h"
#include "core/json_fields.h"
#include "tools/cli.h"
#include "tools/pipeline/atomic_file.h"
#include "tools/pipeline/report.h"
#include "tools/pipeline/run_dir.h"

namespace raoq::tools {
namespace {

const char* const kReportHelp = R"(usage: raoq report RUN_DIR [--out FILE] [--figures DIR ...]

Writes one HTML page about a run that opens from disk in any browser, with no network: the
results tables (as results.md), the figures inlined as SVG (training curves, results, Pareto, and
every SVG in RUN_DIR's folders, e.g. `raoq inspect --png RUN_DIR/figs`), the environment (raoq
version, threads, CPU model, wall time per stage) and the resolved config. A section the run has
nothing for is left out; runs made before results.json recorded the environment say "not recorded".

options:
)";

std::vector<OptionSpec> report_options() {
  return {{"--out", "FILE", "where to write the page (default RUN_DIR/report.html)"},
          {"--figures", "DIR", "also show the SVG figures in DIR, e.g. what raoq inspect --png DIR wrote (repeatable)",
           true}};
}

}  // namespace

int report_command(const ReportArgs& args, std::ostream& out) {
  ReportOptions options;
  options.figure_dirs = args.figure_dirs;
  int figures = 0;
  const std::string html = report_html(args.run_dir, options, &figures);
  const std::string path = args.out.empty() ? RunDir{args.run_dir}.report() : args.out;
  write_file_atomic(path, html);
  out << "wrote " << path << " (" << figures << (figures == 1 ? " figure" : " figures") << ")\n";
  return 0;
}

int report_cli(const std::vector<std::string>& args, std::ostream& out) {
  const ParsedArgs p = parse_args("report", report_options(), args);
  if (p.help) {
    out << kReportHelp << options_text(report_options());
    return 0;
  }
  RAOQ_CHECK(!p.positional.empty(), "report: missing RUN_DIR (usage: raoq report RUN_DIR [--out FILE])");
  RAOQ_CHECK(p.positional.size() == 1, "report: unexpected argument '", printable(p.positional[1]),
             "' (usage: raoq report RUN_DIR [--out FILE])");
  ReportArgs a;
  a.run_dir = p.positional[0];
  a.out = p.get("--out");
  a.figure_dirs = p.all("--figures");
  return report_command(a, out);
}

}  // namespace raoq::tools
