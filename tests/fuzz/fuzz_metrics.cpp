// tests/fuzz/fuzz_metrics.cpp — metrics.jsonl as a resumed run reads it (tools/pipeline/run_dir.h):
// the rows its checkpoint had seen, and the clock they carry. Input: byte 0 is the number of rows
// the checkpoint recorded (mod 32); the rest is the file. Invariants: the kept rows end at a
// newline, the file is cut exactly there, and the recovered times are finite and >= 0.
#include <cmath>
#include <filesystem>

#include "tests/fuzz/fuzz_support.h"
#include "tools/pipeline/run_dir.h"

using namespace raoq;
using namespace raoq::tools;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  const int64_t rows = data[0] % 32;
  const std::string text(reinterpret_cast<const char*>(data) + 1, size - 1);
  int64_t bytes = -1;
  MetricsTimes times;
  const bool read = fuzz::parses([&] { times = read_metrics_rows(text, rows, "fuzz.jsonl", &bytes); });
  if (read) {
    fuzz::require(bytes >= 0 && static_cast<size_t>(bytes) <= text.size() && (bytes == 0 || text[bytes - 1] == '\n'),
                  "the kept rows do not end at a newline inside the file");
    fuzz::require(std::isfinite(times.seconds) && times.seconds >= 0, "a recovered time is not finite and >= 0");
    for (const auto& [stage, seconds] : times.stage_seconds)
      fuzz::require(std::isfinite(seconds) && seconds >= 0, "a recovered stage time is not finite and >= 0");
  }
  // The same through the file a resumed run opens and cuts.
  const std::string path = fuzz::write_scratch("metrics.jsonl", text.data(), text.size());
  MetricsLog log;
  const bool opened = fuzz::parses([&] { log.open(path, rows); });
  fuzz::require(opened == read, "the file and the text disagree on whether the rows are valid");
  if (opened) {
    fuzz::require(static_cast<int64_t>(std::filesystem::file_size(path)) == bytes, "the metrics log was not cut at its kept rows");
    log.write({{"seconds", 1.0}});
    fuzz::require(log.rows() == rows + 1, "a row written after resuming is not counted");
  }
  return 0;
}
