// bench/main.cpp — raoq-bench: the benchmark table (bench.h) as its own program.
#include <cstdio>
#include <exception>
#include <string>
#include <vector>

#include "bench/bench.h"
#include "core/parallel.h"

int main(int argc, char** argv) {
  raoq::prefer_passive_omp_wait(argv);
  try {
    return raoq::bench::bench_cli(std::vector<std::string>(argv + 1, argv + argc), "raoq-bench");
  } catch (const std::exception& e) {
    std::fprintf(stderr, "%s\n", e.what());  // raoq::Error messages name raoq-bench already
    return 1;
  }
}
