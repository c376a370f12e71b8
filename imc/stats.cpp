// imc/stats.cpp — per-layer IMC statistics (definitions of every figure in stats.h).
#include "imc/stats.h"

#include <algorithm>
#include <cmath>
#include <iomanip>
#include <limits>
#include <ostream>
#include <sstream>

#include "core/autograd.h"
#include "core/distributed.h"
#include "core/error.h"
#include "quant/dequantize.h"
#include "imc/imc_model.h"

namespace raoq::imc {

int64_t Histogram::total() const {
  int64_t t = below + above;
  for (int64_t c : counts) t += c;
  return t;
}

LayerStats::LayerStats(std::string path) : path_(std::move(path)) {}

void LayerStats::record_forward(const Tensor& xs, const Tensor& wq, quant::ShiftMap map, const AdcConfig& config,
                                const ArrayGeometry& geometry, int64_t H, int64_t W) {
  std::lock_guard<std::mutex> lock(mu_);
  const bool batched = geometry.kind == ArrayGeometry::Kind::batched;
  const int64_t N = batched ? wq.size(1) : wq.size(0), K = batched ? wq.size(2) : wq.numel() / N;
  const int64_t T = row_tiles(config, K);
  if (columns_.empty()) {
    config_ = config, map_ = map, K_ = K, N_ = 0, T_ = T;
    const int64_t half = int64_t(1) << (config.ba - 1);
    adc_hist_ = {double(-half), 1.0, std::vector<int64_t>(size_t(2 * half), 0), 0, 0};
  }
  RAOQ_CHECK(config.ba == config_.ba && K == K_ && (batched || N_ == 0 || N == N_), "LayerStats '", path_,
             "': the layer's ADC bits or shape changed during a statistics session (collect with a fixed ba)");
  if (N > N_) columns_.resize(size_t(N * T)), N_ = N;  // (N, T) layout: a longer key length appends
  for (int64_t i = 0; i < xs.numel(); ++i) {
    const double s = xs.data()[i], q = (s + map.shift) / map.gain;  // the code before the map: exact
    xs_ss_ += s * s;
    xq_ss_ += q * q;
  }
  x_count_ += double(xs.numel());
  // A weight layer's codes are the same every batch (replaced); keys are new every batch (gathered).
  record_weights(wq, config.bw, batched);
  weights_gathered_ = batched;

  // Tile t's weight sums over the taps inside the image, for the column sums without A-shift.
  // Batched: the keys' sums change every batch and are not kept (unshifted == shifted without a shift).
  unshifted_ok_ = config.mapping == Mapping::direct && (!batched || map.shift == 0.0f);
  if (!unshifted_ok_ || map.shift == 0.0f || !tile_sums_.empty()) return;
  autograd::NoGradGuard ng;
  for (int64_t t = 0; t < T; ++t) {
    Tensor masked = Tensor::zeros(wq.shape());
    for (int64_t n = 0; n < N; ++n)
      for (int64_t k = t * config.rows; k < std::min(K, (t + 1) * config.rows); ++k)
        masked.data()[n * K + k] = wq.data()[n * K + k];
    const Tensor S = geometry.kind == ArrayGeometry::Kind::patches ? quant::window_weight_sums(masked, H, W, geometry.conv)
                                                                  : quant::window_weight_sums(masked, 1, 1);  // (N, P)
    P_ = S.size(1);
    tile_sums_.insert(tile_sums_.end(), S.data(), S.data() + S.numel());
  }
}

// Raw moments (sums of whole codes and their powers: exact in double) and the histogram of the
// stored codes; without `gather` they restart from this call's codes.
void LayerStats::record_weights(const Tensor& wq, int bw, bool gather) {
  const int64_t qmax = (int64_t(1) << (bw - 1)) - 1;
  if (!gather || weight_hist_.counts.empty()) {
    weight_hist_ = {double(-qmax), 1.0, std::vector<int64_t>(size_t(2 * qmax + 1), 0), 0, 0};
    w_count_ = w_s1_ = w_s2_ = w_s3_ = w_s4_ = 0;
  }
  for (int64_t i = 0; i < wq.numel(); ++i) {
    const double w = wq.data()[i];
    w_s1_ += w, w_s2_ += w * w, w_s3_ += w * w * w, w_s4_ += w * w * w * w;
    const int64_t bin = std::lround(wq.data()[i]) + qmax;  // whole codes: the nearest is the code
    if (bin < 0) ++weight_hist_.below;
    else if (bin > 2 * qmax) ++weight_hist_.above;
    else ++weight_hist_.counts[size_t(bin)];
  }
  w_count_ += double(wq.numel());
}

void LayerStats::observe(const TileView& v) {
  const int64_t N = v.n_cols;
  const quant::CodeRange codes = adc_codes(config_.ba);
  const float lo = codes.lo, hi = codes.hi;
  std::vector<Column> local(static_cast<size_t>(N));
  std::vector<int64_t> hist(adc_hist_.counts.size(), 0);
  int64_t below = 0, above = 0, clipped = 0;
  for (int64_t r = 0; r < v.m_count; ++r) {
    const int64_t p = P_ == 1 ? 0 : v.m0 + r;
    for (int64_t n = 0; n < N; ++n) {
      // The conversion the array made (Eq. 2, adc.h), and its input and error in steps.
      const float yq = adc_convert(v.at(r, n), v.D, lo, hi);
      const double y = double(v.at(r, n)) / v.D;
      const double e = yq - y;
      clipped += adc_clipped(v.at(r, n), v.D, lo, hi);
      // One bin [c, c + 1) of y/D per code c (stats.h); what lies outside [lo, hi + 1) counts below/above.
      if (y < lo) ++below;
      else if (y >= hi + 1) ++above;
      else ++hist[size_t(int64_t(yq) - int64_t(lo))];
      // The same column sum without A-shift (exact: xq = (xs + shift)/gain), converted alike.
      double yu = v.at(r, n);
      if (map_.shift != 0.0f && !tile_sums_.empty())
        yu = (yu + map_.shift * tile_sums_[size_t((v.tile * N + n) * P_ + p)]) / map_.gain;
      const double u = yu / v.D;
      const double eu = adc_convert(float(yu), v.D, lo, hi) - u;
      Column& c = local[size_t(n)];
      c.n += 1, c.sy += y, c.syy += y * y, c.se += e, c.see += e * e;
      c.su += u, c.suu += u * u, c.seu += eu, c.seeu += eu * eu;
    }
  }
  std::lock_guard<std::mutex> lock(mu_);
  for (int64_t n = 0; n < N; ++n) {
    Column& c = columns_[size_t(n * T_ + v.tile)];
    const Column& l = local[size_t(n)];
    c.n += l.n, c.sy += l.sy, c.syy += l.syy, c.se += l.se, c.see += l.see;
    c.su += l.su, c.suu += l.suu, c.seu += l.seu, c.seeu += l.seeu;
  }
  for (size_t i = 0; i < hist.size(); ++i) adc_hist_.counts[i] += hist[i];
  adc_hist_.below += below, adc_hist_.above += above;
  clipped_ += clipped;
}

namespace {
void add_histogram(Histogram& into, const double* p, size_t bins) {  // p: below, above, counts
  if (into.counts.size() < bins) into.counts.resize(bins, 0);
  into.below += int64_t(p[0]), into.above += int64_t(p[1]);
  for (size_t i = 0; i < bins; ++i) into.counts[i] += int64_t(p[2 + i]);
}
}  // namespace

LayerStats::Totals LayerStats::totals() const {
  Totals t{columns_, clipped_, xs_ss_, xq_ss_, x_count_, w_count_, w_s1_, w_s2_, w_s3_, w_s4_, adc_hist_, weight_hist_};
  if (!dist::distributed()) return t;
  // One record per rank: 9 scalars; the lengths of the ADC histogram, weight histogram and columns;
  // then each histogram's below, above and counts, and each column's 9 sums. Counts stay exact in
  // double; the column index n * T + t is the same on every rank (a longer key length appends).
  constexpr size_t kColumnSums = 9;
  std::vector<double> mine = {double(clipped_), xs_ss_, xq_ss_, x_count_, w_count_, w_s1_, w_s2_, w_s3_, w_s4_,
                              double(adc_hist_.counts.size()), double(weight_hist_.counts.size()), double(columns_.size())};
  for (const Histogram* h : {&adc_hist_, &weight_hist_}) {
    mine.push_back(double(h->below)), mine.push_back(double(h->above));
    for (int64_t c : h->counts) mine.push_back(double(c));
  }
  for (const Column& c : columns_) mine.insert(mine.end(), {c.n, c.sy, c.syy, c.se, c.see, c.su, c.suu, c.seu, c.seeu});
  const std::vector<double> all = dist::gather_all(mine.data(), int64_t(mine.size()));
  t = Totals{};
  t.adc = adc_hist_, t.weights = weight_hist_;  // the bin layout; counts are rebuilt below
  t.adc.counts.assign(t.adc.counts.size(), 0), t.adc.below = t.adc.above = 0;
  if (weights_gathered_) t.weights.counts.assign(t.weights.counts.size(), 0), t.weights.below = t.weights.above = 0;
  for (size_t at = 0; at < all.size();) {
    const double* r = all.data() + at;
    const auto na = size_t(r[9]), nw = size_t(r[10]), nc = size_t(r[11]);
    t.clipped += int64_t(r[0]), t.xs_ss += r[1], t.xq_ss += r[2], t.x_count += r[3];
    if (weights_gathered_) t.w_count += r[4], t.w_s1 += r[5], t.w_s2 += r[6], t.w_s3 += r[7], t.w_s4 += r[8];
    const double* p = r + 12;
    add_histogram(t.adc, p, na);
    p += 2 + na;
    if (weights_gathered_) add_histogram(t.weights, p, nw);
    p += 2 + nw;
    if (t.columns.size() < nc) t.columns.resize(nc);
    for (size_t i = 0; i < nc; ++i, p += kColumnSums) {
      Column& c = t.columns[i];
      c.n += p[0], c.sy += p[1], c.syy += p[2], c.se += p[3], c.see += p[4], c.su += p[5], c.suu += p[6], c.seu += p[7],
          c.seeu += p[8];
    }
    at = size_t(p - all.data());
  }
  if (!weights_gathered_)  // a weight layer's codes: the same on every rank
    t.w_count = w_count_, t.w_s1 = w_s1_, t.w_s2 = w_s2_, t.w_s3 = w_s3_, t.w_s4 = w_s4_;
  return t;
}

LayerSummary LayerStats::summary() const {
  std::lock_guard<std::mutex> lock(mu_);
  const Totals tot = totals();
  LayerSummary s;
  std::ostringstream cfg;
  cfg << config_;
  s.path = path_, s.config = cfg.str(), s.K = K_, s.N = N_, s.tiles = T_;
  s.arrays = arrays_used(config_, K_, N_);
  s.row_utilisation = T_ ? double(K_) / double(T_ * config_.rows) : 0.0;
  double n = 0, sy = 0, syy = 0, se = 0, see = 0, su = 0, suu = 0, seu = 0, seeu = 0;
  double sig_c = 0, err_c = 0, sigu_c = 0, erru_c = 0;
  for (const Column& c : tot.columns) {
    if (c.n == 0) continue;
    n += c.n, sy += c.sy, syy += c.syy, se += c.se, see += c.see, su += c.su, suu += c.suu, seu += c.seu, seeu += c.seeu;
    sig_c += c.syy - c.sy * c.sy / c.n, err_c += c.see - c.se * c.se / c.n;
    sigu_c += c.suu - c.su * c.su / c.n, erru_c += c.seeu - c.seu * c.seu / c.n;
  }
  const double nan = std::numeric_limits<double>::quiet_NaN();
  auto var = [&](double s1, double s2) { return n > 0 ? s2 / n - (s1 / n) * (s1 / n) : nan; };
  auto db = [](double signal, double noise) { return 10.0 * std::log10(signal / noise); };
  s.conversions = int64_t(n);
  s.adc_input_var_steps = var(sy, syy);
  s.adc_input_var_steps_centered = n > 0 ? sig_c / n : nan;
  s.clip_fraction = n > 0 ? double(tot.clipped) / n : nan;
  s.mean_error_steps = n > 0 ? se / n : nan;
  s.sqnr_db_all = db(var(sy, syy), var(se, see));
  s.sqnr_db_centered = db(sig_c, err_c);
  const bool u_ok = unshifted_ok_ && n > 0;
  s.adc_input_var_steps_unshifted = u_ok ? var(su, suu) : nan;
  s.adc_input_var_steps_unshifted_centered = u_ok ? sigu_c / n : nan;
  s.sqnr_db_all_unshifted = u_ok ? db(var(su, suu), var(seu, seeu)) : nan;
  s.sqnr_db_centered_unshifted = u_ok ? db(sigu_c, erru_c) : nan;
  s.xs_second_moment = tot.x_count > 0 ? tot.xs_ss / tot.x_count : nan;
  s.xq_second_moment = tot.x_count > 0 ? tot.xq_ss / tot.x_count : nan;
  // Central moments from the raw ones: var = E[w^2] - mu^2, E[(w - mu)^4] = E[w^4] - 4 mu E[w^3]
  // + 6 mu^2 E[w^2] - 3 mu^4.
  if (tot.w_count > 0) {
    const double mu = tot.w_s1 / tot.w_count, e2 = tot.w_s2 / tot.w_count, e3 = tot.w_s3 / tot.w_count, e4 = tot.w_s4 / tot.w_count;
    const double m2 = e2 - mu * mu, m4 = e4 - 4 * mu * e3 + 6 * mu * mu * e2 - 3 * mu * mu * mu * mu;
    s.wq_var = m2, s.wq_kurtosis = m2 > 0 ? m4 / (m2 * m2) : 0.0;
  }
  s.adc_inputs = tot.adc, s.weight_codes = tot.weights;
  return s;
}

StatsSession::StatsSession(Module& root) : layers_(imc_layers(root)) {
  for (auto& [path, layer] : layers_) layer->stats = std::make_shared<LayerStats>(path);
}

StatsSession::~StatsSession() {
  for (auto& [path, layer] : layers_) layer->stats.reset();
}

std::vector<LayerSummary> StatsSession::summaries() const {
  std::vector<LayerSummary> out;
  for (const auto& [path, layer] : layers_) out.push_back(layer->stats->summary());
  return out;
}

void print_stats(std::ostream& os, const std::vector<LayerSummary>& summaries) {
  const auto flags = os.flags();
  os << std::left << std::setw(24) << "layer" << std::right << std::setw(6) << "tiles" << std::setw(7) << "util"
     << std::setw(10) << "var(y/D)" << std::setw(10) << "centred" << std::setw(8) << "clip%" << std::setw(8) << "err"
     << std::setw(9) << "SQNR-all" << std::setw(9) << "SQNR-c" << std::setw(9) << "c,no-sh" << std::setw(8)
     << "E[xs2]" << std::setw(8) << "E[xq2]" << std::setw(8) << "Var[wq]" << std::setw(7) << "kurt" << '\n';
  os << std::fixed;
  for (const LayerSummary& s : summaries)
    os << std::left << std::setw(24) << s.path << std::right << std::setw(6) << s.tiles << std::setw(7)
       << std::setprecision(2) << s.row_utilisation << std::setw(10) << std::setprecision(2) << s.adc_input_var_steps
       << std::setw(10) << s.adc_input_var_steps_centered << std::setw(8) << 100 * s.clip_fraction << std::setw(8)
       << s.mean_error_steps << std::setw(9) << std::setprecision(1) << s.sqnr_db_all << std::setw(9)
       << s.sqnr_db_centered << std::setw(9) << s.sqnr_db_centered_unshifted << std::setw(8) << s.xs_second_moment
       << std::setw(8) << s.xq_second_moment << std::setw(8) << std::setprecision(2) << s.wq_var << std::setw(7)
       << s.wq_kurtosis << '\n';
  os << "SQNR-all: over all conversions; SQNR-c: each array column's mean removed from signal and error "
        "(the informative figure); c,no-sh: SQNR-c of the same product without A-shift\n";
  os.flags(flags);
}

}  // namespace raoq::imc
