// tools/pipeline/figures.h — the figures a run writes beside its results, drawn with PLplot
// (Debian's libplplot: PNG through its cairo driver, SVG through its own), with axes, units,
// a title and a legend.
#pragma once

#include <string>
#include <vector>

#include "imc/stats.h"
#include "tools/pipeline/results.h"

namespace raoq::tools {

// BASE.png and BASE.svg: every finished sweep point's metric (after its fine-tune, or on the
// arrays without one) against its energy proxy per sample (log scale), one marker and colour per
// method, each method's Pareto front joined by a line. Each file is written atomically. Returns ""
// or, when a file could not be drawn (no sweep rows, a PLplot driver missing, an unwritable
// folder), one line saying why; training never fails for a figure.
std::string write_pareto_figure(const std::string& base, const Results& results);

// BASE.png and BASE.svg from a run's metrics.jsonl rows: panels of the training loss, the
// evaluations (accuracy, or perplexity for a language model), the learning rate and BitAug's
// lambda_b, against the global step, the stages marked (named when there are at most 12).
std::string write_training_curves(const std::string& base, const std::vector<Json>& rows, const std::string& title);

// One histogram of a figure: its label (the legend) and its bins.
struct HistogramSeries {
  std::string label;
  imc::Histogram h;
};

// BASE.png and BASE.svg: the histograms as fractions of their totals (outlined bars, one colour
// each, overlaid) against x_label, the values beyond the bins counted in the legend, `marks` (the
// ADC's clip limits) as red dashed lines, and faint lines at every bin edge while at most 64 bins
// are in view (the ADC's step grid). The view spans the occupied bins; marks outside it are named
// in the subtitle.
// With `codes`, bin i counts the integer code lo + i and is drawn centred on it.
std::string write_histogram_figure(const std::string& base, const std::string& title, const std::string& x_label,
                                   const std::vector<HistogramSeries>& series, const std::vector<double>& marks,
                                   bool codes = false);

// One set of bars of a grouped bar chart: its label and one value per category.
struct BarSeries {
  std::string label;
  std::vector<double> values;
  int colour = 0;  // 0: the next of the figure palette; else a palette entry (figures.cpp, begin)
};
// A panel of grouped bars: a bar per series in each category.
struct BarPanel {
  std::string title, y_label;
  std::vector<BarSeries> series;
};

// BASE.png and BASE.svg: the panels stacked, `categories` along x (rotated names), a legend per panel.
std::string write_bars_figure(const std::string& base, const std::vector<std::string>& categories,
                              const std::vector<BarPanel>& panels);

// BASE.png and BASE.svg of the Table 1/2 rows: the metric against the ADC bits, a line per method
// (fine-tuned solid, before fine-tuning dashed), full precision and no ADC as reference lines; ""
// and nothing written without ADC rows.
std::string write_results_figure(const std::string& base, const Results& results);

}  // namespace raoq::tools
