// tools/pipeline/environment.h — what a run ran on: the raoq version, the thread count and the
// CPU, and the data-parallel ranks (core/distributed.h), recorded in results.json ("environment") so a report can say where its timings come from.
#pragma once

#include <string>

#include "core/json_fields.h"

namespace raoq::tools {

// {"raoq_version": "0.1.0", "threads": 2, "ranks": 1, "world": "1 process", "cpu_model": "AMD EPYC 9R14 96-Core Processor",
//  "logical_cpus": 2, "compiler": "GCC 12.2.0"}. cpu_model is "unknown" when /proc/cpuinfo
// names none (another OS, an emulator).
Json run_environment(int threads);

// The version this build of raoq carries (the CMake project's).
std::string raoq_version();

}  // namespace raoq::tools
