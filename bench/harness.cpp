// bench/harness.cpp — the timing loop and the JSON line.
#include "bench/harness.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <nlohmann/json.hpp>
#include <vector>

namespace raoq::bench {

namespace {
bool selected(const BenchOptions& opt, const std::string& name) {
  return opt.only.empty() || name.find(opt.only) != std::string::npos;
}

// Sorts ms, prints the JSON line, returns the median.
double report(const BenchOptions& opt, const std::string& name, int64_t batch, std::vector<double> ms, double flop) {
  std::sort(ms.begin(), ms.end());
  auto round3 = [](double v) { return static_cast<double>(static_cast<int64_t>(v * 1000.0 + 0.5)) / 1000.0; };
  nlohmann::ordered_json line = {{"name", name},         {"impl", "raoq-0.1.0"},
                                 {"threads", opt.threads}, {"batch", nullptr},
                                 {"median_ms", round3(ms[ms.size() / 2])}, {"min_ms", round3(ms.front())},
                                 {"max_ms", round3(ms.back())},            {"steps", ms.size()}};
  if (batch > 0) line["batch"] = batch;
  if (flop > 0) {
    const double gflops = flop / (ms[ms.size() / 2] * 1e-3) / 1e9;
    line["gflop"] = round3(flop / 1e9);
    line["gflops"] = round3(gflops);
    if (opt.peak_gflops > 0) line["pct_peak"] = round3(100.0 * gflops / opt.peak_gflops);
  }
  std::printf("%s\n", line.dump().c_str());
  std::fflush(stdout);
  return ms[ms.size() / 2];
}

double timed_ms(const std::function<void()>& fn) {
  const auto t0 = std::chrono::steady_clock::now();
  fn();
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
}
}  // namespace

double time_step(const BenchOptions& opt, const std::string& name, int64_t batch, const std::function<void()>& fn,
                 double flop) {
  if (!selected(opt, name)) return -1;
  for (int i = 0; i < opt.warmup; ++i) fn();
  std::vector<double> ms;
  for (int i = 0; i < opt.steps; ++i) ms.push_back(timed_ms(fn));
  return report(opt, name, batch, std::move(ms), flop);
}

void time_steps_interleaved(const BenchOptions& opt, const std::vector<Step>& steps) {
  std::vector<const Step*> run;
  for (const Step& s : steps)
    if (selected(opt, s.name)) run.push_back(&s);
  for (const Step* s : run)
    for (int i = 0; i < opt.warmup; ++i) s->fn();
  std::vector<std::vector<double>> ms(run.size());
  for (int i = 0; i < opt.steps; ++i)
    for (size_t j = 0; j < run.size(); ++j) ms[j].push_back(timed_ms(run[j]->fn));
  for (size_t j = 0; j < run.size(); ++j) report(opt, run[j]->name, run[j]->batch, std::move(ms[j]), run[j]->flop);
}

}  // namespace raoq::bench
