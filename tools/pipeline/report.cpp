// tools/pipeline/report.cpp — the run report's sections (report.h); the HTML pieces are in
// report_html.cpp.
#include "tools/pipeline/report.h"

#include <stdlib.h>  // mkdtemp

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <ctime>
#include <filesystem>
#include <functional>
#include <optional>
#include <set>
#include <sstream>

#include "core/error.h"
#include "core/json_fields.h"
#include "tools/pipeline/atomic_file.h"
#include "tools/pipeline/environment.h"
#include "tools/pipeline/figures.h"
#include "tools/pipeline/report_html.h"
#include "tools/pipeline/results.h"
#include "tools/pipeline/run_dir.h"

namespace raoq::tools {
namespace fs = std::filesystem;
namespace {

// Plain, print-friendly and self-contained: generic font families only, nothing fetched.
const char* const kStyle = R"(body { font-family: sans-serif; color: #111; background: #fff; max-width: 64em;
       margin: 2em auto; padding: 0 1em; line-height: 1.45; }
h1 { font-size: 1.6em; margin-bottom: .2em; }
h2 { font-size: 1.3em; border-bottom: 1px solid #bbb; padding-bottom: .15em; margin-top: 2em; }
h3 { font-size: 1.05em; margin: 1.4em 0 .4em; }
.meta { color: #444; margin-top: 0; }
.note { color: #8a4b00; }
nav ul { padding-left: 1.2em; }
table { border-collapse: collapse; margin: .4em 0 1.4em; }
th, td { border: 1px solid #bbb; padding: .2em .6em; text-align: left; vertical-align: top; }
th { background: #eee; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
figure { margin: 1em 0 2em; break-inside: avoid; page-break-inside: avoid; }
figure svg { display: block; width: 100%; height: auto; border: 1px solid #ddd; background: #fff; }
figcaption { font-size: .9em; color: #333; margin-top: .3em; }
pre { background: #f6f6f6; border: 1px solid #ddd; padding: .8em; font-size: .85em; white-space: pre-wrap;
      overflow-wrap: anywhere; }
.absent { color: #666; font-style: italic; }
@media print { body { max-width: none; margin: 0; } nav { display: none; }
               h2, h3 { break-after: avoid; page-break-after: avoid; } }
)";

struct Figure {
  std::string caption;
  std::string svg;   // the SVG document as read
  std::string file;  // where it was read (or what was drawn), for the note when it is left out
};

std::string text_if_present(const fs::path& p) {
  std::error_code ec;
  return fs::is_regular_file(p, ec) ? read_file(p.string()) : std::string();
}

// The rows of metrics.jsonl (a line that does not parse, e.g. one cut short by a crash, is skipped).
std::vector<Json> metrics_rows(const std::string& text) {
  std::vector<Json> rows;
  for (size_t at = 0; at < text.size();) {
    const size_t end = std::min(text.find('\n', at), text.size());
    if (end > at) {
      Json row = Json::parse(text.substr(at, end - at), nullptr, /*allow_exceptions=*/false);
      if (row.is_object()) rows.push_back(std::move(row));
    }
    at = end + 1;
  }
  return rows;
}

// Draws a figure the run lacks into a temporary folder (the run stays as it was) and returns the
// SVG's text, "" when it could not be drawn.
std::string draw_svg(const std::function<std::string(const std::string&)>& draw) {
  std::error_code ec;
  std::string name = (fs::temp_directory_path(ec) / "raoq_report_XXXXXX").string();
  if (ec || ::mkdtemp(name.data()) == nullptr) return "";
  const fs::path dir(name);
  std::string svg;
  if (draw((dir / "figure").string()).empty()) svg = text_if_present(dir / "figure.svg");
  fs::remove_all(dir, ec);
  return svg;
}

// What a figure shows, from its file name (the names figures.h and `raoq inspect --png` use).
std::string caption_of(const std::string& stem) {
  const auto ends = [&](const std::string& tail) {
    return stem.size() > tail.size() && stem.compare(stem.size() - tail.size(), tail.size(), tail) == 0;
  };
  if (stem == "training_curves")
    return "Training curves: training loss, evaluations, learning rate and BitAug's lambda_b against the step, "
           "stages marked.";
  if (stem == "results")
    return "The results table's metric against the ADC bits, a line per method (fine-tuned solid, before "
           "fine-tuning dashed), full precision and no ADC as reference lines.";
  if (stem == "pareto")
    return "Every sweep point's metric against its energy proxy per sample; each method's Pareto front joined.";
  if (stem == "sqnr") return "SQNR and clipped conversions per array layer (raoq inspect).";
  if (ends("_adc_inputs"))
    return "Layer " + stem.substr(0, stem.size() - 11) + ": ADC inputs, the clip limits dashed (raoq inspect).";
  if (ends("_weight_codes"))
    return "Layer " + stem.substr(0, stem.size() - 13) + ": weight codes (raoq inspect).";
  return stem + ".svg";
}

// Every *.svg directly in `dir`, by name, skipping those already taken.
void add_folder(std::vector<Figure>& figures, std::set<std::string>& taken, const fs::path& dir,
                const std::string& label) {
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) return;
  std::vector<fs::path> files;
  for (const auto& e : fs::directory_iterator(dir, ec))
    if (e.is_regular_file(ec) && e.path().extension() == ".svg" && e.path().filename().string()[0] != '.')
      files.push_back(e.path());
  std::sort(files.begin(), files.end());
  for (const auto& f : files) {
    const std::string key = fs::weakly_canonical(f, ec).string();
    if (!taken.insert(key).second) continue;
    std::string caption = caption_of(f.stem().string());
    if (!label.empty()) caption += " (" + label + "/" + f.filename().string() + ")";
    figures.push_back({caption, read_file(f.string()), f.string()});
  }
}

std::vector<Figure> collect_figures(const RunDir& run, const Results* results, const std::vector<Json>& rows,
                                    const std::string& title, const ReportOptions& options) {
  std::vector<Figure> figures;
  std::set<std::string> taken;
  std::error_code ec;
  // The run's own figures first, in the order a reader wants them; drawn afresh when missing.
  const std::vector<std::pair<std::string, std::function<std::string(const std::string&)>>> own = {
      {run.curves_figure(),
       [&](const std::string& b) { return rows.empty() ? "no rows" : write_training_curves(b, rows, title); }},
      {run.results_figure(),
       [&](const std::string& b) { return results ? write_results_figure(b, *results) : "no results"; }},
      {run.pareto_figure(), [&](const std::string& b) {
         return results && !results->sweep.empty() ? write_pareto_figure(b, *results) : "no sweep";
       }}};
  for (const auto& [base, draw] : own) {
    const fs::path file(base + ".svg");
    taken.insert(fs::weakly_canonical(file, ec).string());
    std::string svg = text_if_present(file);
    if (svg.empty()) svg = draw_svg(draw);
    if (!svg.empty()) figures.push_back({caption_of(file.stem().string()), svg, file.string()});
  }
  add_folder(figures, taken, run.root, "");
  // Folders inside the run (e.g. inspect --png RUN/figs), then the ones asked for.
  std::vector<fs::path> inside;
  for (const auto& e : fs::directory_iterator(run.root, ec))
    if (e.is_directory(ec) && e.path().filename() != "checkpoints") inside.push_back(e.path());
  std::sort(inside.begin(), inside.end());
  for (const auto& d : inside) add_folder(figures, taken, d, d.filename().string());
  for (const auto& d : options.figure_dirs) {
    RAOQ_CHECK(fs::is_directory(d, ec), "report: --figures '", d, "' is not a directory");
    add_folder(figures, taken, d, fs::path(d).filename().string());
  }
  return figures;
}

// "0.42 s" under a minute (a tiny run's stages would all read 0:00:00), else "1:02:03".
std::string duration(double seconds) {
  char buf[48];
  if (seconds < 59.995) {
    std::snprintf(buf, sizeof buf, "%.2f s", seconds);
  } else {
    const auto s = static_cast<long long>(std::llround(seconds));
    std::snprintf(buf, sizeof buf, "%lld:%02lld:%02lld", s / 3600, s / 60 % 60, s % 60);
  }
  return buf;
}

std::string recorded(const Json& env, const char* key) {
  if (!env.is_object() || !env.contains(key) || env[key].is_null()) return "not recorded";
  return env[key].is_string() ? env[key].get<std::string>() : env[key].dump();
}

void environment_section(std::ostringstream& os, const Results* results, const std::vector<Json>& rows) {
  const Json env = results ? results->environment : Json();
  os << "<h2 id=\"environment\">Environment</h2>\n<table>\n<tbody>\n";
  const auto row = [&](const std::string& k, const std::string& v) {
    os << "<tr><th>" << html_escape(k) << "</th><td" << (v == "not recorded" ? " class=\"absent\"" : "") << ">"
       << html_escape(v) << "</td></tr>\n";
  };
  row("raoq version of the run", recorded(env, "raoq_version"));
  row("raoq version of this report", raoq_version());
  row("threads", recorded(env, "threads"));
  row("data-parallel ranks", recorded(env, "world"));
  row("CPU model", recorded(env, "cpu_model"));
  row("logical CPUs", recorded(env, "logical_cpus"));
  row("compiler", recorded(env, "compiler"));
  double total = -1;
  for (const Json& r : rows)
    if (r.contains("seconds") && r["seconds"].is_number()) total = r["seconds"].get<double>();
  row("wall time of the run", total >= 0 ? duration(total) : "not recorded");
  os << "</tbody>\n</table>\n";
  if (!results || results->stages.empty()) return;
  os << "<h3>Wall time per stage</h3>\n<table>\n<thead><tr><th>stage</th><th>kind</th><th>steps</th>"
        "<th>wall time</th><th>steps per second</th></tr></thead>\n<tbody>\n";
  for (const StageSummary& s : results->stages)
    os << "<tr><td>" << html_escape(s.name) << "</td><td>" << html_escape(s.kind) << "</td><td class=\"num\">"
       << s.steps << "</td><td class=\"num\">" << duration(s.seconds) << "</td><td class=\"num\">"
       << (s.seconds > 0 && s.steps > 0 ? fixed(static_cast<double>(s.steps) / s.seconds, 2) : std::string("-"))
       << "</td></tr>\n";
  os << "</tbody>\n</table>\n";
}

std::string now_utc() {
  const std::time_t t = std::chrono::system_clock::to_time_t(std::chrono::system_clock::now());
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%d %H:%M UTC", &tm);
  return buf;
}

}  // namespace

std::string report_html(const std::string& run_dir, const ReportOptions& options, int* figure_count) {
  const RunDir run{run_dir};
  std::error_code ec;
  RAOQ_CHECK(fs::is_regular_file(run.config(), ec), "report: '", run_dir,
             "' is not a run directory (no config.json); pass the folder raoq train wrote");
  const std::string config_text = read_file(run.config());
  const Json config = Json::parse(config_text, nullptr, /*allow_exceptions=*/false);
  std::optional<Results> results;
  if (const std::string r = text_if_present(run.results_json()); !r.empty())
    results = Results::from_json(parse_json(r, "report: " + run.results_json()));
  const std::vector<Json> rows = metrics_rows(text_if_present(run.metrics()));
  const std::string name = results ? results->config_name : config.is_object() ? config.value("name", "") : "";
  const std::string model = results ? results->model : "";
  // The figures first, so the contents can leave their section out when there are none.
  std::ostringstream figs;
  int shown = 0;
  for (const Figure& f : collect_figures(run, results ? &*results : nullptr, rows, name, options)) {
    // An SVG that could run a script or fetch anything would break the report's promise: left out, said so.
    if (const std::string why = svg_unsafe_reason(f.svg); !why.empty()) {
      figs << "<p class=\"note\">Figure left out: " << html_escape(f.file) << " " << html_escape(why)
           << ", and this report runs no scripts and fetches nothing.</p>\n";
      continue;
    }
    const std::string svg = inline_svg(f.svg, "f" + std::to_string(shown + 1));
    if (svg.empty()) continue;  // not an SVG after all
    ++shown;
    figs << "<figure>\n" << svg << "<figcaption>Figure " << shown << ". " << html_escape(f.caption)
         << "</figcaption>\n</figure>\n";
  }
  if (figure_count) *figure_count = shown;

  std::ostringstream os;
  const std::string title = "raoq report: " + (name.empty() ? fs::path(run_dir).filename().string() : name) +
                            (model.empty() ? "" : " (" + model + ")");
  os << "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
     << "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n<title>" << html_escape(title)
     << "</title>\n<style>\n" << kStyle << "</style>\n</head>\n<body>\n<h1>" << html_escape(title) << "</h1>\n"
     << "<p class=\"meta\">Run directory " << html_escape(run_dir) << "; written " << now_utc() << " by raoq "
     << html_escape(raoq_version()) << ".</p>\n<nav><ul>\n<li><a href=\"#results\">Results</a></li>\n";
  if (!figs.str().empty()) os << "<li><a href=\"#figures\">Figures</a></li>\n";
  os << "<li><a href=\"#environment\">Environment</a></li>\n<li><a href=\"#config\">Config</a></li>\n</ul></nav>\n";

  os << "<h2 id=\"results\">Results</h2>\n";
  if (results) {
    std::string md = results->markdown();
    if (md.rfind("# ", 0) == 0) md.erase(0, md.find('\n') + 1);  // the page's title says it
    os << markdown_tables_html(md);
  } else {
    os << "<p class=\"absent\">No results.json: the run has not finished a stage yet.</p>\n";
  }
  if (!figs.str().empty()) os << "<h2 id=\"figures\">Figures</h2>\n" << figs.str();
  environment_section(os, results ? &*results : nullptr, rows);
  os << "<h2 id=\"config\">Config</h2>\n<p>The resolved config (config.json: every default filled in, --set "
        "values applied).</p>\n<pre>"
     << html_escape(config.is_discarded() ? config_text : config.dump(2)) << "</pre>\n</body>\n</html>\n";
  return os.str();
}

}  // namespace raoq::tools
