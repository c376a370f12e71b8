// bench/harness.cpp — the timing loop and the JSON line.
#include "bench/harness.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <nlohmann/json.hpp>
#include <vector>

namespace raoq::bench {

double time_step(const BenchOptions& opt, const std::string& name, int64_t batch, const std::function<void()>& fn) {
  if (!opt.only.empty() && name.find(opt.only) == std::string::npos) return -1;
  for (int i = 0; i < opt.warmup; ++i) fn();
  std::vector<double> ms;
  for (int i = 0; i < opt.steps; ++i) {
    const auto t0 = std::chrono::steady_clock::now();
    fn();
    ms.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
  }
  std::sort(ms.begin(), ms.end());
  auto round3 = [](double v) { return static_cast<double>(static_cast<int64_t>(v * 1000.0 + 0.5)) / 1000.0; };
  nlohmann::ordered_json line = {{"name", name},         {"impl", "raoq-0.1.0"},
                                 {"threads", opt.threads}, {"batch", nullptr},
                                 {"median_ms", round3(ms[ms.size() / 2])}, {"min_ms", round3(ms.front())},
                                 {"max_ms", round3(ms.back())},            {"steps", ms.size()}};
  if (batch > 0) line["batch"] = batch;
  std::printf("%s\n", line.dump().c_str());
  std::fflush(stdout);
  return ms[ms.size() / 2];
}

}  // namespace raoq::bench
