// imc/stats.h — what a person needs to see per IMC layer to judge ADC quantization (DESIGN.md,
// "Statistics a user must be able to see per IMC layer"), collected on demand during evaluation.
//
//   {
//     imc::StatsSession session(model);          // attaches a LayerStats to every IMC layer
//     for (batch : eval_set) model.forward(batch.x);
//     imc::print_stats(std::cout, session.summaries());
//   }                                             // detaches
//
// Everything about ADC inputs is measured per conversion (one tile's column sum y, output noise
// included, in ADC steps y/D) and its conversion yq = floor(clip(y/D)):
//   adc_input_var_steps           Var[y/D] over all conversions of the layer
//   adc_input_var_steps_centered  the same with each array column's mean removed first (column =
//                                 output channel n of row tile t): the spread the ADC resolves
//   clip_fraction                 conversions with y/D outside [-2^(ba-1), 2^(ba-1)-1]
//   mean_error_steps              E[yq - y/D]; a floor ADC sits near -0.5 step
//   sqnr_db_all                   10 log10(Var[y] / Var[D yq - y]) over all values
//   sqnr_db_centered              the same after removing each column's mean from the signal and the
//                                 error. This is the honest figure: with A-shift every column carries
//                                 a constant offset (about -C sum wq) that inflates sqnr_db_all by
//                                 around 10 dB while carrying no information.
//   *_unshifted                   the same layer's column sums without A-shift (xq wq per tile,
//                                 computed exactly from y, the shift and the tile's weight sums);
//                                 equal to the shifted figures when the layer has no shift, NaN for
//                                 bit-sliced mapping (no single column sum to compare)
//   xs_second_moment, xq_second_moment   E[xs^2] of the array inputs, and E[xq^2] of the codes
//                                 without A-shift (RAOQ Fig. 3a: 57.9 against 3.89)
//   wq_var, wq_kurtosis           of the weight codes (W-reshape raises the first, lowers the second)
//   tiles, arrays, row_utilisation  ceil(K/rows) row tiles, arrays used (also over columns and
//                                 slice pairs), K / (tiles * rows)
//   adc_inputs, weight_codes      histograms: one bin per ADC code (y/D floored, clipped values
//                                 counted below/above), one bin per weight code
// Attention's Q K^T (BMM1, imc_attention.h) reports the same figures with the query codes as the
// inputs xs and the key codes as the stored "weights": K = the head width, N = the key length
// (an array column holds one key position), and since keys change with every batch, the key-code
// moments and histogram gather every batch (a weight layer's are its weights, the same every
// batch). Its *_unshifted figures equal the shifted ones (signed query codes need no shift), and
// are NaN on a -1/1 array (there the map does shift, and per-batch key sums are not kept).
// Sums are kept in double and merged under a lock as worker threads report; their last digits can
// depend on thread scheduling (histogram counts cannot). Under data-parallel evaluation each rank
// collects its share of the examples and summary() adds every rank's sums (rank order): in a world
// of several ranks (core/distributed.h) summary() and StatsSession::summaries() are collectives,
// so every rank must call them, in the same order. PNG rendering of the histograms is left
// to the tools (they own stb_image_write).
#pragma once

#include <cstdint>
#include <iosfwd>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "core/ops.h"
#include "imc/imc_layer.h"
#include "imc/array_product.h"

namespace raoq::imc {

struct Histogram {
  double lo = 0;                 // left edge of bin 0
  double width = 1;              // bin width
  std::vector<int64_t> counts;   // bins [lo + i*width, lo + (i+1)*width)
  int64_t below = 0, above = 0;  // values left of bin 0 / right of the last bin
  int64_t total() const;
};

struct LayerSummary {
  std::string path;
  std::string config;  // the layer's AdcConfig, one line
  int64_t K = 0, N = 0, tiles = 0, arrays = 0;
  double row_utilisation = 0;
  int64_t conversions = 0;
  double adc_input_var_steps = 0, adc_input_var_steps_centered = 0;
  double adc_input_var_steps_unshifted = 0, adc_input_var_steps_unshifted_centered = 0;
  double clip_fraction = 0, mean_error_steps = 0;
  double sqnr_db_all = 0, sqnr_db_centered = 0;
  double sqnr_db_all_unshifted = 0, sqnr_db_centered_unshifted = 0;
  double xs_second_moment = 0, xq_second_moment = 0;
  double wq_var = 0, wq_kurtosis = 0;
  Histogram adc_inputs, weight_codes;
};

class LayerStats : public TileObserver {
 public:
  explicit LayerStats(std::string path);
  // Called by the layer before each array product. xs: the array inputs, map.gain * xq - map.shift
  // for the activation codes xq; wq: the stored codes as array_product takes them for the geometry:
  // (N, K), (N, C, kH, kW) or (G, N, K); H, W: input size of a convolution (patches only).
  void record_forward(const Tensor& xs, const Tensor& wq, quant::ShiftMap map, const AdcConfig& config,
                      const ArrayGeometry& geometry, int64_t H = 1, int64_t W = 1);
  void observe(const TileView& view) override;
  LayerSummary summary() const;

 private:
  struct Column {  // one (tile, n) column: signal and error sums, in ADC steps
    double n = 0, sy = 0, syy = 0, se = 0, see = 0, su = 0, suu = 0, seu = 0, seeu = 0;
  };
  void record_weights(const Tensor& wq, int bw, bool gather);
  // What summary() reads; data-parallel (core/distributed.h), every rank's sums added in rank order
  // (a collective: every rank calls summary() alike).
  struct Totals {
    std::vector<Column> columns;
    int64_t clipped = 0;
    double xs_ss = 0, xq_ss = 0, x_count = 0, w_count = 0, w_s1 = 0, w_s2 = 0, w_s3 = 0, w_s4 = 0;
    Histogram adc, weights;
  };
  Totals totals() const;
  mutable std::mutex mu_;
  std::string path_;
  AdcConfig config_;
  quant::ShiftMap map_;
  int64_t K_ = 0, N_ = 0, T_ = 0, P_ = 1;
  bool unshifted_ok_ = true;
  std::vector<float> tile_sums_;  // (T, N, P): tile t's weight sums over the taps inside the image
  std::vector<Column> columns_;   // (N, T): column n's tile t at n * T + t (grows with N for batched)
  int64_t clipped_ = 0;
  double xs_ss_ = 0, xq_ss_ = 0, x_count_ = 0;
  double w_count_ = 0, w_s1_ = 0, w_s2_ = 0, w_s3_ = 0, w_s4_ = 0;  // raw moments of the stored codes (exact)
  Histogram adc_hist_, weight_hist_;
  bool weights_gathered_ = false;  // the stored codes change every batch (BMM1's keys): summed over ranks too
};

// Attaches a fresh LayerStats to every IMC layer below root for its lifetime.
class StatsSession {
 public:
  explicit StatsSession(Module& root);
  ~StatsSession();
  StatsSession(const StatsSession&) = delete;
  StatsSession& operator=(const StatsSession&) = delete;
  std::vector<LayerSummary> summaries() const;

 private:
  std::vector<std::pair<std::string, ImcLayer*>> layers_;
};

// A fixed-width table, one row per layer, both SQNR figures labelled.
void print_stats(std::ostream& os, const std::vector<LayerSummary>& summaries);

}  // namespace raoq::imc
