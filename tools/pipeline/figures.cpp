// tools/pipeline/figures.cpp — the run's figures through PLplot's C API (figures.h).
//
// PLplot keeps one current stream and ends a fatal error with exit(): so each figure is one
// plinit .. plend on a fresh stream, and what could fail (the driver, the file) is checked first.
#include "tools/pipeline/figures.h"

#include <plplot.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <string>
#include <vector>

namespace raoq::tools {
namespace {

bool has_device(const char* wanted) {
  constexpr int kMax = 256;
  const char* menus[kMax];
  const char* names[kMax];
  int n = kMax;
  PLCHAR_VECTOR* pm = menus;
  PLCHAR_VECTOR* pn = names;
  plgDevs(&pm, &pn, &n);
  for (int i = 0; i < n; ++i)
    if (std::string(names[i]) == wanted) return true;
  return false;
}

struct Series {
  std::string label;
  int colour = 2;
  std::string symbol;  // a UTF-8 glyph, drawn by plstring
  std::vector<double> x, y;            // every point: log10 nJ, metric
  std::vector<double> front_x, front_y;  // the Pareto front, by energy
};

struct Figure {
  std::string title, subtitle, x_label, y_label;
  double x_min = 0, x_max = 1, y_min = 0, y_max = 1;
  std::vector<Series> series;
  bool legend_on_top = false;
  bool log_x = false;  // x holds log10 of the values (a range of a decade or more)
};

void draw(const Figure& f, const char* device, const std::string& file) {
  plsstrm(0);
  plsdev(device);
  plsfnam(file.c_str());
  plsetopt("geometry", "1200x800");
  plscolbg(255, 255, 255);
  plinit();
  plscol0(1, 0, 0, 0);        // axes, labels
  plscol0(2, 213, 94, 0);     // QAT*: vermilion
  plscol0(3, 0, 114, 178);    // RAOQ: blue (colour-blind safe pair)
  plscol0(4, 160, 160, 160);  // grid
  plschr(0, 1.15);
  pladv(0);
  plvpor(0.12, 0.95, 0.14, 0.86);
  plwind(f.x_min, f.x_max, f.y_min, f.y_max);
  plcol0(4);
  plbox(f.log_x ? "gl" : "g", 0, 0, "g", 0, 0);  // the grid under everything, in grey
  plcol0(1);
  plbox(f.log_x ? "bcnstl" : "bcnst", 0, 0, "bcnstv", 0, 0);
  pllab(f.x_label.c_str(), f.y_label.c_str(), f.title.c_str());
  if (!f.subtitle.empty()) {
    plschr(0, 0.8);
    plmtex("t", 0.6, 0.5, 0.5, f.subtitle.c_str());
    plschr(0, 1.15);
  }
  for (const Series& s : f.series) {
    plcol0(s.colour);
    plstring(static_cast<PLINT>(s.x.size()), s.x.data(), s.y.data(), s.symbol.c_str());
    plwidth(2.0);
    if (s.front_x.size() > 1) plline(static_cast<PLINT>(s.front_x.size()), s.front_x.data(), s.front_y.data());
    plwidth(1.0);
  }
  // The legend: one line + symbol entry per method, in a corner the fronts leave empty.
  const auto n = static_cast<PLINT>(f.series.size());
  std::vector<PLINT> opts(n, PL_LEGEND_LINE | PL_LEGEND_SYMBOL), colours(n), styles(n, 1), box_colours(n, 0),
      box_patterns(n, 0), numbers(n, 1);
  std::vector<PLFLT> widths(n, 2.0), scales(n, 1.0), box_scales(n, 0.8), box_widths(n, 1.0);
  std::vector<const char*> texts(n), symbols(n);
  for (PLINT i = 0; i < n; ++i) {
    colours[i] = f.series[i].colour;
    texts[i] = f.series[i].label.c_str();
    symbols[i] = f.series[i].symbol.c_str();
  }
  PLFLT w = 0, h = 0;
  pllegend(&w, &h, PL_LEGEND_BACKGROUND | PL_LEGEND_BOUNDING_BOX,
           PL_POSITION_RIGHT | (f.legend_on_top ? PL_POSITION_TOP : PL_POSITION_BOTTOM) | PL_POSITION_INSIDE, 0.02,
           0.03, 0.08, 0, 1, 1, 0, 0, n, opts.data(), 1.0, 1.0, 2.0, 0.0, colours.data(), texts.data(),
           box_colours.data(), box_patterns.data(), box_scales.data(), box_widths.data(), colours.data(),
           styles.data(), widths.data(), colours.data(), scales.data(), numbers.data(), symbols.data());
  plend();
}

}  // namespace

std::string write_pareto_figure(const std::string& base, const Results& results) {
  namespace fs = std::filesystem;
  const std::vector<bool> front = pareto_front(results.sweep);
  Figure f;
  std::string metric;
  for (size_t i = 0; i < results.sweep.size(); ++i) {
    const SweepRow& r = results.sweep[i];
    if (!r.done || r.energy <= 0) continue;
    metric = r.metric;
    const std::string label = r.method == "vanilla" ? "QAT* (vanilla QAT)" : r.method == "raoq" ? "RAOQ" : r.method;
    auto it = std::find_if(f.series.begin(), f.series.end(), [&](const Series& s) { return s.label == label; });
    if (it == f.series.end()) {
      Series s;
      s.label = label;
      s.colour = r.method == "vanilla" ? 2 : 3;
      s.symbol = r.method == "vanilla" ? "\u25CF" : "\u25A0";  // a disc, a square
      f.series.push_back(s);
      it = f.series.end() - 1;
    }
    const double x = r.energy * 1e9, y = r.final_value();
    it->x.push_back(x);
    it->y.push_back(y);
    if (front[i]) it->front_x.push_back(x), it->front_y.push_back(y);
  }
  if (f.series.empty()) return "no finished sweep point to draw";
  for (Series& s : f.series) {  // the front as a line from low to high energy
    std::vector<size_t> order(s.front_x.size());
    for (size_t i = 0; i < order.size(); ++i) order[i] = i;
    std::sort(order.begin(), order.end(), [&](size_t a, size_t b) { return s.front_x[a] < s.front_x[b]; });
    std::vector<double> fx, fy;
    for (size_t i : order) fx.push_back(s.front_x[i]), fy.push_back(s.front_y[i]);
    s.front_x = fx, s.front_y = fy;
  }
  double x0 = INFINITY, x1 = -INFINITY, y0 = INFINITY, y1 = -INFINITY;
  for (const Series& s : f.series)
    for (size_t i = 0; i < s.x.size(); ++i)
      x0 = std::min(x0, s.x[i]), x1 = std::max(x1, s.x[i]), y0 = std::min(y0, s.y[i]), y1 = std::max(y1, s.y[i]);
  // Energies a decade or more apart read best on a log axis; closer ones on a linear one, where
  // a log axis would show no labelled tick at all.
  f.log_x = x1 >= 10.0 * x0;
  if (f.log_x) {
    x0 = std::log10(x0), x1 = std::log10(x1);
    for (Series& s : f.series) {
      for (double& x : s.x) x = std::log10(x);
      for (double& x : s.front_x) x = std::log10(x);
    }
  }
  const double dx = std::max(f.log_x ? 0.05 : 0.02 * std::max(x1, 1e-30), 0.06 * (x1 - x0)),
               dy = std::max(0.5, 0.08 * (y1 - y0));
  f.x_min = x0 - dx, f.x_max = x1 + dx, f.y_min = y0 - dy, f.y_max = y1 + dy;
  const bool perplexity = metric == "test_perplexity";
  f.legend_on_top = perplexity;  // accuracy: the bottom right holds nothing on a front; perplexity: the top right
  f.title = results.config_name + ": sweep points and each method's Pareto front";
  f.subtitle = "after the fine-tune where a sweep fine-tunes; the energy is a proxy (imc/cost.h)";
  f.x_label = f.log_x ? "energy proxy per sample (nJ, log scale)" : "energy proxy per sample (nJ)";
  f.y_label = perplexity ? "test perplexity (lower is better)" : "test accuracy (%)";
  std::string problems;
  for (const auto& [device, ext] : {std::pair{"pngcairo", ".png"}, std::pair{"svg", ".svg"}}) {
    const std::string target = base + ext;
    if (!has_device(device)) {
      problems += (problems.empty() ? "" : "; ") + target + ": PLplot has no " + device + " driver here (Debian: " +
                  (std::string(device) == "pngcairo" ? "plplot-driver-cairo" : "libplplot17") + ")";
      continue;
    }
    const fs::path p(target);
    const std::string tmp =
        (p.parent_path() / ("." + p.filename().string() + ".tmp." + std::to_string(::getpid()))).string();
    if (std::FILE* probe = std::fopen(tmp.c_str(), "wb")) {
      std::fclose(probe);
    } else {
      problems += (problems.empty() ? "" : "; ") + target + ": cannot write in its folder";
      continue;
    }
    draw(f, device, tmp);
    std::error_code ec;
    fs::rename(tmp, target, ec);
    if (ec) {
      fs::remove(tmp, ec);
      problems += (problems.empty() ? "" : "; ") + target + ": " + ec.message();
    }
  }
  return problems;
}

}  // namespace raoq::tools
