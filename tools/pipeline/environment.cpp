// tools/pipeline/environment.cpp — the run's environment (environment.h). Linux only reads
// /proc/cpuinfo; elsewhere the CPU is "unknown" rather than an error, since no run should fail
// for want of a description.
#include "tools/pipeline/environment.h"

#include <fstream>
#include <thread>

#include "core/distributed.h"

#ifndef RAOQ_VERSION
#define RAOQ_VERSION "unknown"  // set by CMake for this file only, so a version bump rebuilds one file
#endif

namespace raoq::tools {
namespace {

// The first "model name" line (x86) or "Hardware"/"CPU part" line (some ARM kernels).
std::string cpu_model() {
  std::ifstream in("/proc/cpuinfo");
  std::string line;
  while (std::getline(in, line)) {
    const size_t colon = line.find(':');
    if (colon == std::string::npos) continue;
    std::string key = line.substr(0, colon);
    while (!key.empty() && (key.back() == ' ' || key.back() == '\t')) key.pop_back();
    if (key != "model name" && key != "Hardware") continue;
    const size_t start = line.find_first_not_of(" \t", colon + 1);
    if (start != std::string::npos) return line.substr(start);
  }
  return "unknown";
}

std::string compiler() {
#if defined(__clang__)
  return "clang " __clang_version__;
#elif defined(__GNUC__)
  return "GCC " __VERSION__;
#else
  return "unknown";
#endif
}

}  // namespace

std::string raoq_version() { return RAOQ_VERSION; }

Json run_environment(int threads) {
  return {{"raoq_version", raoq_version()},
          {"threads", threads},
          {"ranks", dist::size()},
          {"world", dist::world().describe()},
          {"cpu_model", cpu_model()},
          {"logical_cpus", static_cast<int64_t>(std::thread::hardware_concurrency())},
          {"compiler", compiler()}};
}

}  // namespace raoq::tools
