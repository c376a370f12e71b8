// tools/pipeline/report.h — one self-contained HTML page for a run directory (`raoq report`).
//
// Sections, each left out when the run has nothing for it: the results tables (the same data as
// results.md), the figures (the run's SVGs inlined; training curves, the results figure and the
// Pareto figure drawn afresh when the run has their data but not the file, and every SVG in
// the extra folders given, e.g. what `raoq inspect --png DIR` wrote), the environment (raoq
// version, threads, CPU, wall time per stage; "not recorded" for runs made before results.json
// kept it) and the resolved config. The page needs no network: no scripts, no external styles,
// fonts or images, so it opens from disk and prints as it shows. An SVG that could break that (a
// script, an event attribute, a link outside itself: svg_unsafe_reason in report_html.h) is not
// inlined; the figures section says which file was left out and why.
#pragma once

#include <string>
#include <vector>

namespace raoq::tools {

struct ReportOptions {
  std::vector<std::string> figure_dirs;  // more folders whose *.svg figures the report shows
};

// The page for the run in `run_dir`. Requires run_dir/config.json (what makes a folder a run);
// throws raoq::Error "report: ..." otherwise, or when a file the run holds cannot be parsed.
// *figures (when given) receives the number of figures the page holds.
std::string report_html(const std::string& run_dir, const ReportOptions& options = {}, int* figures = nullptr);

}  // namespace raoq::tools
