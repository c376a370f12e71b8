// tools/pipeline/checkpoint.cpp — training state to and from safetensors.
#include "tools/pipeline/checkpoint.h"

#include <climits>
#include <cmath>
#include <cstdio>
#include <filesystem>

#include "core/error.h"
#include "core/json_fields.h"
#include "layers/dropout.h"

namespace raoq::tools {
namespace {

constexpr const char* kFormat = "1";

Json totals_json(const StepTotals& t) {
  return {{"loss_sum", t.loss_sum}, {"correct", t.correct}, {"examples", t.examples}, {"steps", t.steps}};
}
StepTotals totals_from(const Json& j) {
  constexpr const char* what = "checkpoint: the training state's step totals";
  StepTotals t;
  t.loss_sum = j.at("loss_sum").get<double>();
  t.correct = json_int64_at(j, "correct", what);
  t.examples = json_int64_at(j, "examples", what);
  t.steps = json_int64_at(j, "steps", what);
  return t;
}

// Generator words as hex strings: JSON readers often hold numbers as doubles (53 bits).
Json generator_json(const Generator::State& s) {
  Json words = Json::array();
  for (uint64_t w : s) {
    char buf[20];
    std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(w));
    words.push_back(buf);
  }
  return words;
}
Generator::State generator_from(const Json& j, const std::string& what) {
  Generator::State s{};
  RAOQ_CHECK(j.is_array() && j.size() == s.size(), "checkpoint: generator '", what, "' must hold ", s.size(),
             " hex words, got ", json_brief(j));
  for (size_t i = 0; i < s.size(); ++i) {
    const std::string text = j[i].is_string() ? j[i].get<std::string>() : "";
    const bool hex = !text.empty() && text.size() <= 16 && text.find_first_not_of("0123456789abcdefABCDEF") == std::string::npos;
    RAOQ_CHECK(hex, "checkpoint: generator '", what, "' word ", i, " must be 1 to 16 hex digits, got ", json_brief(j[i]));
    s[i] = std::stoull(text, nullptr, 16);
  }
  return s;
}

NamedTensors with_prefix(const std::string& prefix, const NamedTensors& entries) {
  NamedTensors out;
  out.reserve(entries.size());
  for (const auto& [name, t] : entries) out.emplace_back(prefix + name, t);
  return out;
}

NamedTensors strip_prefix(const std::string& prefix, const SafetensorsFile& file) {
  NamedTensors out;
  for (const auto& [name, t] : file.tensors)
    if (name.compare(0, prefix.size(), prefix) == 0) out.emplace_back(name.substr(prefix.size()), t);
  return out;
}

// Refuses to write NaN or infinity: resuming from such a checkpoint would only repeat the failure,
// and overwriting the previous file would lose the last good state.
void check_finite(const std::string& path, const NamedTensors& tensors) {
  const std::string bad = first_non_finite_tensor(tensors);
  if (!bad.empty()) throw NonFiniteError("checkpoint: not writing '" + path + "': " + bad + "; the previous file is kept");
}

std::map<std::string, std::string> metadata(const std::string& kind, const Json& state, const Json& config) {
  return {{"raoq.format", kFormat}, {"raoq.kind", kind}, {"raoq.state", state.dump()}, {"raoq.config", config.dump()}};
}

}  // namespace

void StepTotals::add(double batch_mean_loss, int64_t batch_correct, int64_t batch_size) {
  loss_sum += batch_mean_loss * static_cast<double>(batch_size);
  correct += batch_correct;
  examples += batch_size;
  steps += 1;
}

std::string first_non_finite_tensor(const NamedTensors& tensors) {
  for (const auto& [name, t] : tensors) {
    const int64_t k = first_non_finite(t);
    if (k < 0) continue;
    const float v = t.data()[k];
    return "'" + name + "' holds " + (std::isnan(v) ? "nan" : v > 0 ? "inf" : "-inf") + " at element " + std::to_string(k);
  }
  return "";
}

Json to_json(const TrainState& s) {
  Json finished = Json::array(), rows = Json::array();
  for (const auto& f : s.finished) {
    Json summary = tools::to_json(f);
    summary.erase("seconds");  // the clock stays out of checkpoints, and so do memory figures
    summary.erase("peak_tensor_bytes");
    summary.erase("peak_rss_bytes");
    finished.push_back(summary);
  }
  for (const auto& r : s.rows) rows.push_back(tools::to_json(r));
  Json j = {{"stage", s.stage},
          {"epoch", s.epoch},
          {"stage_step", s.stage_step},
          {"global_step", s.global_step},
          {"loader", s.loader},
          {"epoch_totals", totals_json(s.epoch_totals)},
          {"window_totals", totals_json(s.window_totals)},
          {"best_accuracy", s.best_accuracy},
          {"last_validation", s.last_validation},
          {"last_validation_loss", s.last_validation_loss},
          {"metrics_rows", s.metrics_rows},
          {"threads", s.threads},
          {"ranks", s.ranks},
          {"generators", s.generators},
          {"finished", finished},
          {"rows", rows}};
  if (!s.sweep.empty()) {  // absent without a sweep, so checkpoints of other runs keep their bytes
    Json sweep = Json::array();
    for (const auto& r : s.sweep) sweep.push_back(tools::to_json(r));
    j["sweep"] = sweep;
  }
  return j;
}

TrainState train_state_from_json(const Json& j) {
  TrainState s;
  RAOQ_CHECK(j.is_object(), "checkpoint: the training state is ", json_brief(j), ", expected a JSON object");
  RAOQ_CHECK(!(j.contains("metrics_bytes") && !j.contains("metrics_rows")),
             "checkpoint: this training state was written by an earlier raoq (it records metrics_bytes and elapsed "
             "time); finish the run with that raoq, or start it again");
  try {
    constexpr const char* what = "checkpoint: the training state";
    s.stage = json_int64_at(j, "stage", what);
    s.epoch = json_int64_at(j, "epoch", what);
    s.stage_step = json_int64_at(j, "stage_step", what);
    s.global_step = json_int64_at(j, "global_step", what);
    s.loader = j.at("loader");
    s.epoch_totals = totals_from(j.at("epoch_totals"));
    s.window_totals = totals_from(j.at("window_totals"));
    s.best_accuracy = j.at("best_accuracy").get<double>();
    s.last_validation = j.at("last_validation").get<double>();
    s.last_validation_loss = j.at("last_validation_loss").get<double>();
    s.metrics_rows = json_int64_at(j, "metrics_rows", what);
    const int64_t threads = json_int64_at(j, "threads", what);
    RAOQ_CHECK(threads >= 1 && threads <= INT_MAX, what, ": 'threads' must be a positive int, got ", threads);
    s.threads = static_cast<int>(threads);
    if (j.contains("ranks")) {  // absent in checkpoints written before data-parallel runs: one process
      const int64_t ranks = json_int64_at(j, "ranks", what);
      RAOQ_CHECK(ranks >= 1 && ranks <= INT_MAX, what, ": 'ranks' must be a positive int, got ", ranks);
      s.ranks = static_cast<int>(ranks);
    }
    s.generators = j.at("generators");
    for (const auto& f : j.at("finished")) s.finished.push_back(stage_summary_from_json(f));
    for (const auto& r : j.at("rows")) s.rows.push_back(result_row_from_json(r));
    if (j.contains("sweep"))
      for (const auto& r : j.at("sweep")) s.sweep.push_back(sweep_row_from_json(r));
  } catch (const Json::exception& e) {
    throw Error(std::string("checkpoint: the training state is incomplete or malformed (") + e.what() + ")");
  }
  return s;
}

Json capture_generators(Module& model) {
  Json j = Json::object();
  j["default"] = generator_json(default_generator().state());
  for (const auto& [path, m] : model.named_modules())
    if (auto* d = dynamic_cast<Dropout*>(m.get())) j["dropout:" + path] = generator_json(d->generator().state());
  return j;
}

void restore_generators(Module& model, const Json& j) {
  RAOQ_CHECK(j.is_object() && j.contains("default"), "checkpoint: the generator states must be an object with a "
             "'default' entry, got ", json_brief(j));
  default_generator().set_state(generator_from(j.at("default"), "default"));
  for (const auto& [path, m] : model.named_modules()) {
    auto* d = dynamic_cast<Dropout*>(m.get());
    if (!d) continue;
    const std::string key = "dropout:" + path;
    RAOQ_CHECK(j.contains(key), "checkpoint: no generator state for the dropout layer '", path, "'");
    d->generator().set_state(generator_from(j.at(key), key));
  }
}

void save_train_checkpoint(const std::string& path, const Module& model, const Optimizer* optimizer,
                           const TrainState& state, const Json& config) {
  NamedTensors tensors = with_prefix("model.", model.state_dict());
  if (optimizer) {
    const NamedTensors opt = with_prefix("optimizer.", optimizer->state_dict());
    tensors.insert(tensors.end(), opt.begin(), opt.end());
  }
  check_finite(path, tensors);
  save_safetensors(path, tensors, metadata("train", to_json(state), config));
}

void save_model_checkpoint(const std::string& path, const Module& model, const Json& info, const Json& config) {
  const NamedTensors tensors = with_prefix("model.", model.state_dict());
  check_finite(path, tensors);
  save_safetensors(path, tensors, metadata("model", info, config));
}

Checkpoint read_checkpoint(const std::string& path) {
  std::error_code ec;
  RAOQ_CHECK(!std::filesystem::is_directory(path, ec), "checkpoint '", path, "' is a directory, expected a checkpoint ",
             "file (a run's checkpoints/<stage>.safetensors, best.safetensors or last.safetensors)");
  Checkpoint c;
  c.file = load_safetensors(path);
  auto meta = [&](const char* key) -> const std::string& {
    auto it = c.file.metadata.find(key);
    RAOQ_CHECK(it != c.file.metadata.end(), "checkpoint '", path, "' has no '", key,
               "' metadata: it was not written by raoq train");
    return it->second;
  };
  RAOQ_CHECK(meta("raoq.format") == kFormat, "checkpoint '", path, "' has format ", meta("raoq.format"),
             "; this raoq reads format ", kFormat);
  c.kind = meta("raoq.kind");
  c.state = parse_json(meta("raoq.state"), "checkpoint '" + path + "': raoq.state");
  c.config = parse_json(meta("raoq.config"), "checkpoint '" + path + "': raoq.config");
  return c;
}

void load_model(Module& model, const Checkpoint& c, const std::string& path) {
  try {
    model.load_state_dict(strip_prefix("model.", c.file));
  } catch (const Error& e) {
    throw Error("checkpoint '" + path + "' does not fit this model: " + e.what());
  }
}

void load_optimizer(Optimizer& optimizer, const Checkpoint& c, const std::string& path) {
  try {
    optimizer.load_state_dict(strip_prefix("optimizer.", c.file));
  } catch (const Error& e) {
    throw Error("checkpoint '" + path + "' does not fit this optimizer: " + e.what());
  }
}

}  // namespace raoq::tools
