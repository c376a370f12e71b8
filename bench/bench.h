// bench/bench.h — the benchmark table (benchmarks.cpp), for raoq-bench and `raoq bench`.
#pragma once

#include <string>
#include <vector>

namespace raoq::bench {

// Parses [--threads N] [--only SUBSTRING] [--steps N] (or --help), measures the peaks and runs
// the table, printing JSON lines to stdout. Throws raoq::Error "<command>: ..." for a bad argument.
int bench_cli(const std::vector<std::string>& args, const std::string& command);

}  // namespace raoq::bench
