// tools/pipeline/run_dir.cpp — run directory housekeeping and the append-only metrics log.
#include "tools/pipeline/run_dir.h"

#include <cerrno>
#include <cstring>
#include <cmath>
#include <filesystem>
#include <optional>

#include "core/error.h"
#include "tools/pipeline/atomic_file.h"

namespace raoq::tools {
namespace fs = std::filesystem;

bool RunDir::holds_run() const { return fs::exists(last_checkpoint()) || fs::exists(metrics()); }

void RunDir::create() const {
  std::error_code ec;
  fs::create_directories(checkpoints(), ec);
  RAOQ_CHECK(!ec, "cannot create run directory '", checkpoints(), "' (", ec.message(), ")");
}

void RunDir::clear() const {
  for (const std::string& figure : {pareto_figure(), curves_figure(), results_figure()})
    for (const char* ext : {".png", ".svg"}) fs::remove(figure + ext);
  for (const auto& file : {config(), metrics(), results_json(), results_md(), sweep_csv(), report()}) fs::remove(file);
  if (fs::is_directory(checkpoints())) {
    for (const auto& entry : fs::directory_iterator(checkpoints()))
      if (entry.path().extension() == ".safetensors") fs::remove(entry.path());
  }
}

int RunDir::remove_partial_writes() const {
  int removed = 0;
  std::error_code ec;
  for (const std::string& folder : {root, checkpoints()}) {
    if (!fs::is_directory(folder, ec)) continue;
    for (const auto& entry : fs::directory_iterator(folder, ec)) {
      const std::string name = entry.path().filename().string();
      const bool partial = name.find(".safetensors.tmp.") != std::string::npos ||
                           (name.size() > 1 && name[0] == '.' && name.find(".tmp.") != std::string::npos);
      if (partial && entry.is_regular_file(ec) && fs::remove(entry.path(), ec)) ++removed;
    }
  }
  return removed;
}

MetricsTimes read_metrics_rows(const std::string& text, int64_t rows, const std::string& path, int64_t* bytes) {
  MetricsTimes t;
  size_t at = 0;
  for (int64_t line = 1; line <= rows; ++line) {
    const size_t end = text.find('\n', at);
    if (end == std::string::npos)
      throw Error("metrics log '" + path + "' holds " + std::to_string(line - 1) + " whole rows but the checkpoint " +
                  "recorded " + std::to_string(rows) + " -- was it edited? move it away to resume");
    const std::string where = "metrics log '" + path + "': line " + std::to_string(line) + " (byte " + std::to_string(at) + ")";
    const Json row = parse_json(text.substr(at, end - at), where);
    if (!row.is_object()) throw Error(where + " is " + json_brief(row) + ", expected a JSON object");
    const auto number = [&](const char* key, bool required) -> std::optional<double> {
      if (!row.contains(key)) {
        if (required) throw Error(where + " has no \"" + std::string(key) + "\", expected one in every row raoq train writes");
        return std::nullopt;
      }
      const Json& v = row.at(key);
      if (!v.is_number() || !std::isfinite(v.get<double>()) || v.get<double>() < 0)
        throw Error(where + ": \"" + key + "\" is " + json_brief(v) + ", expected a finite number >= 0");
      return v.get<double>();
    };
    t.seconds = *number("seconds", true);
    if (const auto stage_seconds = number("stage_seconds", false)) {
      if (!row.contains("stage") || !row.at("stage").is_string())
        throw Error(where + " has \"stage_seconds\" but no \"stage\" name, expected both");
      t.stage_seconds[row.at("stage").get<std::string>()] = *stage_seconds;
    }
    if (row.contains("peak_tensor_bytes") && row.contains("stage") && row.at("stage").is_string()) {
      const Json &tb = row.at("peak_tensor_bytes"), &rb = row.value("peak_rss_bytes", Json(-1));
      const std::optional<int64_t> tensor_bytes = json_int64(tb), rss_bytes = json_int64(rb);
      if (!tensor_bytes || !rss_bytes)
        throw Error(where + ": \"peak_tensor_bytes\" and \"peak_rss_bytes\" must be whole numbers");
      t.stage_memory[row.at("stage").get<std::string>()] = {*tensor_bytes, *rss_bytes};
    }
    at = end + 1;
  }
  if (bytes) *bytes = static_cast<int64_t>(at);
  return t;
}

MetricsTimes MetricsLog::open(const std::string& path, int64_t keep_rows) {
  path_ = path;
  MetricsTimes times;
  if (keep_rows < 0 || !fs::exists(path)) {
    RAOQ_CHECK(keep_rows <= 0, "metrics log '", path, "' is missing but the checkpoint recorded ", keep_rows,
               " rows -- restore it, or start the run again");
    out_.open(path, std::ios::binary | std::ios::trunc);
    rows_ = 0;
  } else {
    RAOQ_CHECK(!fs::is_directory(path), "metrics log '", path, "' is a directory, expected a file");
    int64_t bytes = 0;
    times = read_metrics_rows(read_file(path), keep_rows, path, &bytes);
    fs::resize_file(path, static_cast<uintmax_t>(bytes));
    out_.open(path, std::ios::binary | std::ios::app);
    rows_ = keep_rows;
  }
  RAOQ_CHECK(out_, "cannot open metrics log '", path, "' (", std::strerror(errno), ")");
  return times;
}

void MetricsLog::write(const Json& row) {
  if (!out_.is_open()) return;
  const std::string line = row.dump() + "\n";
  out_ << line;
  out_.flush();
  RAOQ_CHECK(out_, "cannot write metrics log '", path_, "'");
  ++rows_;
}

}  // namespace raoq::tools
