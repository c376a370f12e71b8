// tools/pipeline/figures.cpp — the run's figures through PLplot's C API (figures.h).
//
// PLplot keeps one current stream and ends a fatal error with exit(): so each figure is one
// plinit .. plend on a fresh stream, and what could fail (the driver, the file) is checked first.
#include "tools/pipeline/figures.h"

#include <plplot.h>
#include <unistd.h>

#include <algorithm>
#include <functional>
#include <map>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <string>
#include <tuple>
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

// Draws BASE.png (cairo) and BASE.svg through `draw(device, file)`, each into a temporary file
// renamed over its target; returns "" or one line per file that could not be made.
std::string write_both(const std::string& base, const std::function<void(const char*, const std::string&)>& draw) {
  namespace fs = std::filesystem;
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
    draw(device, tmp);
    std::error_code ec;
    fs::rename(tmp, target, ec);
    if (ec) {
      fs::remove(tmp, ec);
      problems += (problems.empty() ? "" : "; ") + target + ": " + ec.message();
    }
  }
  return problems;
}

// A fresh stream on `device` into `file`, white, with the palette every figure uses; `panels`
// subpages stacked vertically.
void begin(const char* device, const std::string& file, int panels, const char* geometry) {
  plsstrm(0);
  plsdev(device);
  plsfnam(file.c_str());
  plsetopt("geometry", geometry);
  plscolbg(255, 255, 255);
  plssub(1, panels);
  plinit();
  plscol0(1, 0, 0, 0);        // axes, labels
  plscol0(2, 213, 94, 0);     // QAT*: vermilion
  plscol0(3, 0, 114, 178);    // RAOQ: blue (colour-blind safe pair)
  plscol0(4, 160, 160, 160);  // grid, stage marks
  plscol0(5, 0, 158, 115);    // a third series: green
  plscol0(6, 204, 121, 167);  // a fourth: purple
  plscol0(7, 90, 90, 90);     // reference lines
  plscol0(10, 86, 180, 233);  // RAOQ's lighter blue (a second bar of the same stage)
  plscol0(11, 230, 159, 0);   // QAT*'s lighter orange
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
  begin(device, file, 1, "1200x800");
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
  return write_both(base, [&](const char* device, const std::string& file) { draw(f, device, file); });
}

namespace {

// The range [lo, hi] of `v` padded by `pad` of its width (a flat range by `flat`).
std::pair<double, double> padded(const std::vector<double>& v, double pad, double flat) {
  double lo = INFINITY, hi = -INFINITY;
  for (double x : v) lo = std::min(lo, x), hi = std::max(hi, x);
  if (!(lo <= hi)) return {0, 1};
  const double d = hi > lo ? pad * (hi - lo) : flat;
  return {lo - d, hi + d};
}

// One panel of the training curves: its box, labels and the stage marks.
void panel(int index, double x0, double x1, double y0, double y1, bool log_y, const char* y_label, const char* title,
           const std::vector<std::pair<double, std::string>>& stages, bool name_stages, bool x_label) {
  pladv(index);
  plvpor(0.09, 0.97, x_label ? 0.22 : 0.12, 0.84);
  plwind(x0, x1, y0, y1);
  plcol0(4);
  plbox("g", 0, 0, log_y ? "gl" : "g", 0, 0);
  for (size_t i = 0; i < stages.size(); ++i) {  // a stage starts here
    const auto& [x, name] = stages[i];
    const PLFLT xs[2] = {x, x}, ys[2] = {y0, y1};
    plcol0(4);
    pllsty(2);
    plline(2, xs, ys);
    pllsty(1);
    if (name_stages) {  // names on three staggered lines, dark, so short neighbouring stages stay legible
      plcol0(1);
      plschr(0, 0.75);
      plptex(x + 0.004 * (x1 - x0), y1 - (0.06 + 0.09 * double(i % 3)) * (y1 - y0), 1, 0, 0, name.c_str());
      plschr(0, 1.0);
    }
  }
  plcol0(1);
  plbox("bcnst", 0, 0, log_y ? "bcnstlv" : "bcnstv", 0, 0);
  pllab(x_label ? "global step" : "", y_label, title);
}

}  // namespace

std::string write_training_curves(const std::string& base, const std::vector<Json>& rows, const std::string& title) {
  // Per stage, the train rows' (step, loss, lr, lambda_b); the evaluations as points.
  struct Trace {
    std::vector<double> step, loss, lr, lam;
  };
  std::vector<std::pair<std::string, Trace>> traces;
  std::vector<double> eval_step, eval_value, before_step, before_value;
  bool perplexity = false, any_lambda = false;
  for (const Json& r : rows) {
    if (!r.is_object() || !r.contains("step") || !r["step"].is_number()) continue;
    const std::string kind = r.value("kind", ""), stage = r.value("stage", "");
    const double step = r["step"].get<double>();
    if (kind == "train" && r.contains("loss") && r["loss"].is_number() && r.contains("lr") && r["lr"].is_number()) {
      if (traces.empty() || traces.back().first != stage) traces.push_back({stage, {}});
      Trace& t = traces.back().second;
      t.step.push_back(step), t.loss.push_back(r["loss"].get<double>()), t.lr.push_back(r["lr"].get<double>());
      const bool has = r.contains("bitaug_lambda") && r["bitaug_lambda"].is_number();
      t.lam.push_back(has ? r["bitaug_lambda"].get<double>() : NAN);
      any_lambda = any_lambda || has;
    } else if (kind == "eval") {
      const bool ppl = r.contains("perplexity") && r["perplexity"].is_number();
      perplexity = perplexity || ppl;
      const Json& v = ppl ? r["perplexity"] : r["accuracy"];
      if (!v.is_number()) continue;
      (r.value("before_finetune", false) ? before_step : eval_step).push_back(step);
      (r.value("before_finetune", false) ? before_value : eval_value).push_back(v.get<double>());
    }
  }
  if (traces.empty()) return "no training rows to draw";
  std::vector<double> steps, losses, lrs, evals = eval_value;
  evals.insert(evals.end(), before_value.begin(), before_value.end());
  std::vector<std::pair<double, std::string>> stages;
  for (const auto& [name, t] : traces) {
    steps.insert(steps.end(), t.step.begin(), t.step.end());
    losses.insert(losses.end(), t.loss.begin(), t.loss.end());
    for (double lr : t.lr)
      if (lr > 0) lrs.push_back(std::log10(lr));
    if (stages.empty() || stages.back().second != name) stages.push_back({t.step.front(), name});
  }
  steps.insert(steps.end(), eval_step.begin(), eval_step.end());
  // Plain variables, not structured bindings: the drawing lambda captures them (clang before 16
  // refuses to capture a binding).
  double x0, x1, l0, l1, e0, e1, r0, r1;
  std::tie(x0, x1) = padded(steps, 0.01, 1);
  std::tie(l0, l1) = padded(losses, 0.06, 0.1);
  std::tie(e0, e1) = padded(evals.empty() ? std::vector<double>{0, 1} : evals, 0.08, 0.5);
  std::tie(r0, r1) = padded(lrs.empty() ? std::vector<double>{-4, -1} : lrs, 0.06, 0.3);
  const bool name_stages = stages.size() <= 12;
  if (name_stages) x1 += 0.08 * (x1 - x0);  // room for the last stage's name
  const int panels = any_lambda ? 4 : 3;
  return write_both(base, [&](const char* device, const std::string& file) {
    begin(device, file, panels, any_lambda ? "1400x1500" : "1400x1150");
    plschr(0, 1.0);
    const std::string top = title + ": training loss (mean over each logged window)";
    panel(1, x0, x1, l0, l1, false, "loss (nats)", top.c_str(), stages, name_stages, false);
    for (const auto& [name, t] : traces) {
      plcol0(3);
      plwidth(1.5);
      plline(static_cast<PLINT>(t.step.size()), t.step.data(), t.loss.data());
      plwidth(1.0);
    }
    panel(2, x0, x1, e0, e1, false, perplexity ? "perplexity" : "accuracy (%)",
          perplexity ? "evaluations (validation or test perplexity); hollow: with the ADC inserted, before fine-tuning"
                     : "evaluations (validation or test accuracy); hollow: with the ADC inserted, before fine-tuning",
          stages, false, false);
    plcol0(2);
    if (!eval_step.empty()) plstring(static_cast<PLINT>(eval_step.size()), eval_step.data(), eval_value.data(), "\u25CF");
    if (!before_step.empty())
      plstring(static_cast<PLINT>(before_step.size()), before_step.data(), before_value.data(), "\u25CB");
    panel(3, x0, x1, r0, r1, true, "learning rate", "learning rate (log scale)", stages, false, !any_lambda);
    for (const auto& [name, t] : traces) {
      std::vector<double> x, y;
      for (size_t i = 0; i < t.lr.size(); ++i)
        if (t.lr[i] > 0) x.push_back(t.step[i]), y.push_back(std::log10(t.lr[i]));
      plcol0(5);
      plwidth(1.5);
      if (x.size() > 1) plline(static_cast<PLINT>(x.size()), x.data(), y.data());
      plwidth(1.0);
    }
    if (any_lambda) {
      panel(4, x0, x1, -0.05, 1.05, false, "lambda_b", "BitAug's lambda_b (weight of the pass at ba~)", stages, false,
            true);
      for (const auto& [name, t] : traces) {
        std::vector<double> x, y;
        for (size_t i = 0; i < t.lam.size(); ++i)
          if (!std::isnan(t.lam[i])) x.push_back(t.step[i]), y.push_back(t.lam[i]);
        plcol0(6);
        plwidth(1.5);
        if (x.size() > 1) plline(static_cast<PLINT>(x.size()), x.data(), y.data());
        plwidth(1.0);
      }
    }
    plend();
  });
}

std::string write_results_figure(const std::string& base, const Results& results) {
  bool perplexity = false;
  for (const auto& r : results.table) perplexity = perplexity || r.metric == "test_perplexity";
  const std::string metric = perplexity ? "test_perplexity" : "test_accuracy";
  // method -> (ba -> value), for the adc rows; fp and qat as reference levels.
  std::map<std::string, std::map<int64_t, double>> by;
  std::vector<std::string> order;
  double fp = NAN, qat = NAN;
  for (const auto& r : results.table) {
    if (r.metric != metric) continue;
    if (!r.ba) {
      if (r.method == "fp") fp = r.value;
      if (r.method == "qat") qat = r.value;
      continue;
    }
    if (!by.count(r.method)) order.push_back(r.method);
    by[r.method][*r.ba] = r.value;
  }
  if (order.empty()) return "";
  std::vector<double> xs, ys;
  for (const auto& [m, points] : by)
    for (const auto& [ba, v] : points) xs.push_back(double(ba)), ys.push_back(v);
  if (!std::isnan(fp)) ys.push_back(fp);
  if (!std::isnan(qat)) ys.push_back(qat);
  double x0, x1, y0, y1;  // captured by the drawing lambda (no structured bindings there)
  std::tie(x0, x1) = padded(xs, 0.08, 0.5);
  std::tie(y0, y1) = padded(ys, 0.08, 0.5);
  return write_both(base, [&](const char* device, const std::string& file) {
    begin(device, file, 1, "1200x800");
    plschr(0, 1.1);
    pladv(0);
    plvpor(0.13, 0.66, 0.13, 0.88);
    plwind(x0, x1, y0, y1);
    plcol0(4);
    plbox("g", 1, 0, "g", 0, 0);
    plcol0(1);
    plbox("bcnst", 1, 0, "bcnstv", 0, 0);
    const std::string title = results.config_name + " (" + results.model + ")";
    pllab("ADC bits ba", perplexity ? "test perplexity (lower is better)" : "test accuracy (%)", title.c_str());
    std::vector<std::string> labels;
    std::vector<PLINT> colours, styles, opts;
    const auto ref = [&](double v, int style, const std::string& label) {
      if (std::isnan(v)) return;
      const PLFLT lx[2] = {x0, x1}, ly[2] = {v, v};
      plcol0(7);
      pllsty(style);
      plline(2, lx, ly);
      labels.push_back(label), colours.push_back(7), styles.push_back(style), opts.push_back(PL_LEGEND_LINE);
    };
    ref(fp, 3, "full precision");
    ref(qat, 2, "QAT, no ADC");
    const int palette[] = {2, 3, 5, 6};
    std::map<std::string, int> colour_of;  // a base method (and suffix) keeps its colour with and without fine-tune
    for (const std::string& m : order) {
      const bool noft = m.size() > 5 && m.compare(m.size() - 5, 5, "_noft") == 0;
      const std::string key = noft ? m.substr(0, m.size() - 5) : m;
      if (!colour_of.count(key)) colour_of[key] = palette[colour_of.size() % 4];
      std::vector<double> x, y;
      for (const auto& [ba, v] : by[m]) x.push_back(double(ba)), y.push_back(v);
      plcol0(colour_of[key]);
      pllsty(noft ? 2 : 1);
      plwidth(2.0);
      plline(static_cast<PLINT>(x.size()), x.data(), y.data());
      plstring(static_cast<PLINT>(x.size()), x.data(), y.data(), noft ? "\u25CB" : "\u25CF");
      plwidth(1.0);
      std::string name = key.rfind("vanilla", 0) == 0 ? "QAT*" + key.substr(7) : key.rfind("raoq", 0) == 0 ? "RAOQ" + key.substr(4) : key;
      labels.push_back(name + (noft ? ", no fine-tune" : ", fine-tuned"));
      colours.push_back(colour_of[key]), styles.push_back(noft ? 2 : 1), opts.push_back(PL_LEGEND_LINE);
    }
    pllsty(1);
    const auto n = static_cast<PLINT>(labels.size());
    std::vector<const char*> texts;
    for (const auto& l : labels) texts.push_back(l.c_str());
    std::vector<PLFLT> widths(n, 2.0);
    PLFLT w = 0, h = 0;
    pllegend(&w, &h, PL_LEGEND_BACKGROUND | PL_LEGEND_BOUNDING_BOX, PL_POSITION_RIGHT | PL_POSITION_OUTSIDE,
             0.02, 0.0, 0.06, 0, 1, 1, 0, 0, n, opts.data(), 1.0, 0.8, 2.0, 0.0, colours.data(), texts.data(), nullptr,
             nullptr, nullptr, nullptr, colours.data(), styles.data(), widths.data(), nullptr, nullptr, nullptr, nullptr);
    plend();
  });
}

std::string write_histogram_figure(const std::string& base, const std::string& title, const std::string& x_label,
                                   const std::vector<HistogramSeries>& series, const std::vector<double>& marks,
                                   bool codes) {
  const double shift = codes ? -0.5 * series.front().h.width : 0.0;  // a code's bar centred on it
  double x0 = INFINITY, x1 = -INFINITY, top = 0;
  for (const auto& s : series) {
    const double total = double(std::max<int64_t>(1, s.h.total()));
    for (size_t i = 0; i < s.h.counts.size(); ++i)
      if (s.h.counts[i] > 0) {
        x0 = std::min(x0, s.h.lo + double(i) * s.h.width + shift);
        x1 = std::max(x1, s.h.lo + double(i + 1) * s.h.width + shift);
        top = std::max(top, double(s.h.counts[i]) / total);
      }
  }
  if (!(x0 < x1)) return "no values to draw in " + base;
  const double pad = 0.05 * (x1 - x0) + series.front().h.width;
  x0 -= pad, x1 += pad;
  std::string outside;
  for (double m : marks)
    if (m < x0 || m > x1) outside += (outside.empty() ? "" : ", ") + std::to_string(static_cast<long long>(std::lround(m)));
  const std::string subtitle = outside.empty() ? "" : "clip limits at " + outside + " (outside the view)";
  return write_both(base, [&](const char* device, const std::string& file) {
    begin(device, file, 1, "1200x800");
    plschr(0, 1.1);
    pladv(0);
    plvpor(0.11, 0.95, 0.13, 0.84);
    plwind(x0, x1, 0, top * 1.4);
    const double width = series.front().h.width;
    if ((x1 - x0) / width <= 64) {  // the step grid: every bin edge
      plcol0(4);
      for (double e = series.front().h.lo + shift; e <= x1; e += width)
        if (e >= x0) {
          const PLFLT gx[2] = {e, e}, gy[2] = {0, top * 1.4};
          plwidth(0.5);
          plline(2, gx, gy);
          plwidth(1.0);
        }
    }
    plcol0(1);
    plbox("bcnst", 0, 0, "bcnstv", 0, 0);
    pllab(x_label.c_str(), "fraction of values", title.c_str());
    if (!subtitle.empty()) {
      plschr(0, 0.8);
      plmtex("t", 0.6, 0.5, 0.5, subtitle.c_str());
      plschr(0, 1.1);
    }
    const int palette[] = {3, 2, 5, 6};
    std::vector<std::string> labels;
    std::vector<PLINT> colours, styles, opts;
    for (size_t k = 0; k < series.size(); ++k) {
      const imc::Histogram& h = series[k].h;
      const double total = double(std::max<int64_t>(1, h.total()));
      std::vector<double> x, y;  // the outline of the bars
      for (size_t i = 0; i < h.counts.size(); ++i) {
        const double left = h.lo + double(i) * h.width + shift, f = double(h.counts[i]) / total;
        x.push_back(left), y.push_back(i ? y.back() : 0.0);
        x.push_back(left), y.push_back(f);
        x.push_back(left + h.width), y.push_back(f);
      }
      x.push_back(x.back()), y.push_back(0.0);
      plcol0(palette[k % 4]);
      plwidth(2.0);
      plline(static_cast<PLINT>(x.size()), x.data(), y.data());
      plwidth(1.0);
      std::string label = series[k].label;
      if (h.below || h.above) {
        char buf[96];
        std::snprintf(buf, sizeof buf, " (%.2f%% below, %.2f%% above)", 100.0 * double(h.below) / total,
                      100.0 * double(h.above) / total);
        label += buf;
      }
      labels.push_back(label), colours.push_back(palette[k % 4]), styles.push_back(1), opts.push_back(PL_LEGEND_LINE);
    }
    plcol0(9);
    plscol0(9, 200, 0, 0);
    for (double m : marks)
      if (m >= x0 && m <= x1) {
        const PLFLT mx[2] = {m, m}, my[2] = {0, top * 1.4};
        plcol0(9);
        pllsty(2);
        plwidth(2.0);
        plline(2, mx, my);
        plwidth(1.0);
        pllsty(1);
      }
    if (!marks.empty()) labels.push_back("ADC clip limits"), colours.push_back(9), styles.push_back(2), opts.push_back(PL_LEGEND_LINE);
    const auto n = static_cast<PLINT>(labels.size());
    std::vector<const char*> texts;
    for (const auto& l : labels) texts.push_back(l.c_str());
    std::vector<PLFLT> widths(n, 2.0);
    PLFLT w = 0, hgt = 0;
    pllegend(&w, &hgt, PL_LEGEND_BACKGROUND | PL_LEGEND_BOUNDING_BOX, PL_POSITION_RIGHT | PL_POSITION_TOP | PL_POSITION_INSIDE,
             0.02, 0.03, 0.06, 0, 1, 1, 0, 0, n, opts.data(), 1.0, 0.8, 2.0, 0.0, colours.data(), texts.data(), nullptr,
             nullptr, nullptr, nullptr, colours.data(), styles.data(), widths.data(), nullptr, nullptr, nullptr, nullptr);
    plend();
  });
}

std::string write_bars_figure(const std::string& base, const std::vector<std::string>& categories,
                              const std::vector<BarPanel>& panels) {
  if (categories.empty() || panels.empty()) return "no bars to draw in " + base;
  const auto C = static_cast<double>(categories.size());
  return write_both(base, [&](const char* device, const std::string& file) {
    begin(device, file, static_cast<int>(panels.size()), panels.size() > 1 ? "1300x1100" : "1300x700");
    const int palette[] = {3, 5, 2, 6};
    for (size_t p = 0; p < panels.size(); ++p) {
      const BarPanel& panel = panels[p];
      double lo = 0, hi = 0;
      for (const auto& s : panel.series)
        for (double v : s.values)
          if (std::isfinite(v)) lo = std::min(lo, v), hi = std::max(hi, v);
      if (hi <= lo) hi = lo + 1;
      const double top = hi + 0.45 * (hi - lo);  // room for the legend
      pladv(static_cast<int>(p) + 1);
      plschr(0, 1.0);
      plvpor(0.08, 0.97, p + 1 == panels.size() ? 0.4 : 0.12, 0.86);
      plwind(-0.5, C - 0.5, lo, top);
      plcol0(4);
      plbox("", 0, 0, "g", 0, 0);
      const double group = 0.8, width = group / double(panel.series.size());
      std::vector<std::string> labels;
      std::vector<PLINT> colours, opts, patterns;
      std::vector<PLFLT> scales;
      for (size_t k = 0; k < panel.series.size(); ++k) {
        const BarSeries& s = panel.series[k];
        const int colour = s.colour ? s.colour : palette[k % 4];
        for (size_t c = 0; c < s.values.size() && c < categories.size(); ++c) {
          if (!std::isfinite(s.values[c])) continue;
          const double x0 = double(c) - group / 2 + double(k) * width, x1 = x0 + 0.9 * width;
          const PLFLT bx[4] = {x0, x0, x1, x1}, by[4] = {0, s.values[c], s.values[c], 0};
          plcol0(colour);
          plfill(4, bx, by);
        }
        labels.push_back(s.label), colours.push_back(colour), opts.push_back(PL_LEGEND_COLOR_BOX);
        patterns.push_back(0), scales.push_back(0.8);
      }
      plcol0(1);
      plbox("bct", 1, 0, "bcnstv", 0, 0);
      if (p + 1 == panels.size()) {  // the layer names under the last panel, rotated
        plschr(0, 0.72);
        for (size_t c = 0; c < categories.size(); ++c)
          plmtex("bv", 0.5, (double(c) + 0.5) / C, 1.0, categories[c].c_str());
        plschr(0, 1.0);
      }
      pllab("", panel.y_label.c_str(), panel.title.c_str());
      const auto n = static_cast<PLINT>(labels.size());
      std::vector<const char*> texts;
      for (const auto& l : labels) texts.push_back(l.c_str());
      std::vector<PLFLT> box_widths(n, 1.0);
      PLFLT w = 0, h = 0;
      const PLINT columns = std::min<PLINT>(n, 2), rows = (n + columns - 1) / columns;
      pllegend(&w, &h, PL_LEGEND_BACKGROUND | PL_LEGEND_BOUNDING_BOX | PL_LEGEND_ROW_MAJOR,
               PL_POSITION_TOP | PL_POSITION_INSIDE, 0.0, 0.03, 0.05, 0, 1, 1, rows, columns, n, opts.data(), 1.0, 0.8, 1.5,
               0.0, colours.data(), texts.data(), colours.data(), patterns.data(), scales.data(), box_widths.data(),
               nullptr, nullptr, nullptr, nullptr, nullptr, nullptr, nullptr);
    }
    plend();
  });
}

}  // namespace raoq::tools
