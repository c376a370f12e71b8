// bench/harness.h — time a step function and print one JSON line, as the peer script does:
// {"name", "impl", "threads", "batch", "median_ms", "min_ms", "max_ms", "steps"}, then, when the
// work is known (bench/work.h), "gflop" (per step), "gflops" (at the median) and "pct_peak" (of
// the fp32 peak the run measured first, bench/peak.h).
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

namespace raoq::bench {

struct BenchOptions {
  int threads = 1;
  int steps = 20;
  int warmup = 3;
  std::string only;  // run only names containing this
  double peak_gflops = 0;  // the measured fp32 peak at `threads` (0: no pct_peak field)
};

// Runs fn `warmup` times untimed, then `steps` times timed; prints the JSON line to stdout.
// batch <= 0 prints null. Returns the median in milliseconds (or -1 when filtered out).
// flop: the work of one call (0: unknown, no GFLOP/s fields).
double time_step(const BenchOptions& opt, const std::string& name, int64_t batch, const std::function<void()>& fn,
                 double flop = 0);

// Several step functions timed round-robin, one step of each in turn (after each one's warm-up),
// then one JSON line each, in the order given. On a shared machine whose speed drifts from minute
// to minute, their ratios are then taken over the same minutes: what the per-step overhead ratios
// of the quantized training steps are quoted from.
struct Step {
  std::string name;
  int64_t batch = 0;
  std::function<void()> fn;
  double flop = 0;  // work per step (0: unknown)
};
void time_steps_interleaved(const BenchOptions& opt, const std::vector<Step>& steps);

}  // namespace raoq::bench
