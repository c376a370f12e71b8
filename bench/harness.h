// bench/harness.h — time a step function and print one JSON line, as the peer script does:
// {"name", "impl", "threads", "batch", "median_ms", "min_ms", "max_ms", "steps"}.
#pragma once

#include <cstdint>
#include <functional>
#include <string>

namespace raoq::bench {

struct BenchOptions {
  int threads = 1;
  int steps = 20;
  int warmup = 3;
  std::string only;  // run only names containing this
};

// Runs fn `warmup` times untimed, then `steps` times timed; prints the JSON line to stdout.
// batch <= 0 prints null. Returns the median in milliseconds (or -1 when filtered out).
double time_step(const BenchOptions& opt, const std::string& name, int64_t batch, const std::function<void()>& fn);

}  // namespace raoq::bench
