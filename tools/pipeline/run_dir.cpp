// tools/pipeline/run_dir.cpp — run directory housekeeping and the append-only metrics log.
#include "tools/pipeline/run_dir.h"

#include <cerrno>
#include <cstring>
#include <filesystem>

#include "core/error.h"

namespace raoq::tools {
namespace fs = std::filesystem;

bool RunDir::holds_run() const { return fs::exists(last_checkpoint()) || fs::exists(metrics()); }

void RunDir::create() const {
  std::error_code ec;
  fs::create_directories(checkpoints(), ec);
  RAOQ_CHECK(!ec, "cannot create run directory '", checkpoints(), "' (", ec.message(), ")");
}

void RunDir::clear() const {
  for (const auto& file : {config(), metrics(), results_json(), results_md()}) fs::remove(file);
  if (fs::is_directory(checkpoints())) {
    for (const auto& entry : fs::directory_iterator(checkpoints()))
      if (entry.path().extension() == ".safetensors") fs::remove(entry.path());
  }
}

void MetricsLog::open(const std::string& path, int64_t keep_bytes) {
  path_ = path;
  if (keep_bytes < 0 || !fs::exists(path)) {
    out_.open(path, std::ios::binary | std::ios::trunc);
    size_ = 0;
  } else {
    const auto have = static_cast<int64_t>(fs::file_size(path));
    RAOQ_CHECK(have >= keep_bytes, "metrics log '", path, "' has ", have, " bytes but the checkpoint recorded ",
               keep_bytes, " -- was it edited? move it away to resume");
    fs::resize_file(path, static_cast<uintmax_t>(keep_bytes));
    out_.open(path, std::ios::binary | std::ios::app);
    size_ = keep_bytes;
  }
  RAOQ_CHECK(out_, "cannot open metrics log '", path, "' (", std::strerror(errno), ")");
}

void MetricsLog::write(const Json& row) {
  if (!out_.is_open()) return;
  const std::string line = row.dump() + "\n";
  out_ << line;
  out_.flush();
  RAOQ_CHECK(out_, "cannot write metrics log '", path_, "'");
  size_ += static_cast<int64_t>(line.size());
}

}  // namespace raoq::tools
