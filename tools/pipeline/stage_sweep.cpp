// tools/pipeline/stage_sweep.cpp — the stages a sweep stands for: the adc kind's sweep over methods
// and ADC bits, and the sweep kind's grid of hardware points (stage_kind.h).
#include <algorithm>
#include <cctype>
#include <cstdint>

#include "core/error.h"
#include "tools/pipeline/config.h"
#include "tools/pipeline/stage_kind.h"

namespace raoq::tools {
namespace {

// The methods a sweep runs and the stage each starts from: "init_from" is one stage name for
// all of them, or an object naming one per method.
struct MethodStarts {
  std::vector<std::string> methods;
  std::vector<Json> init_from;  // per method: a string, or null (the previous stage)
};

MethodStarts read_methods(const Json& stage, const std::string& path, JsonFields& f) {
  MethodStarts m;
  if (f.has("method") && f.has("methods")) f.fail("methods", "cannot be given together with method");
  const std::string single = f.has("method") ? f.string("method", "raoq") : "raoq";
  m.methods = f.strings("methods", std::vector<std::string>{single});
  if (m.methods.empty()) f.fail("methods", "must list at least one method");
  for (size_t i = 0; i < m.methods.size(); ++i) {
    if (m.methods[i] != "raoq" && m.methods[i] != "vanilla")
      f.fail("methods", "items must be \"raoq\" or \"vanilla\" (got " + json_brief(Json(m.methods[i])) + ")");
    for (size_t j = 0; j < i; ++j)
      if (m.methods[j] == m.methods[i]) f.fail("methods", "lists " + json_brief(Json(m.methods[i])) + " twice");
  }
  const Json none;
  const Json& by = stage.contains("init_from") ? stage["init_from"] : none;
  if (by.is_object()) {
    for (auto it = by.begin(); it != by.end(); ++it)
      if (std::find(m.methods.begin(), m.methods.end(), it.key()) == m.methods.end())
        throw Error("config: " + join_key(path, "init_from") + "." + printable(it.key()) +
                    " names no method of this stage (methods: " + Json(m.methods).dump() + ")");
    for (const auto& name : m.methods) {
      if (!by.contains(name) || !by[name].is_string())
        throw Error("config: " + join_key(path, "init_from") + "." + name + " must name the stage the " + name +
                    " fine-tunes start from");
      m.init_from.push_back(by[name]);
    }
  } else {
    m.init_from.assign(m.methods.size(), by);  // a string (checked with each stage) or absent
  }
  return m;
}

// "rows128", "ba6", "wreshape0p002": a grid value as part of a stage name; "" when it has no
// short form (the point is then named by its number).
std::string value_tag(const std::string& key, const Json& value) {
  const std::string last = key.substr(key.find_last_of('.') + 1);
  std::string text = value.is_string() ? value.get<std::string>() : value.dump();
  std::string out = last;
  for (char c : text) {
    if (std::isalnum(static_cast<unsigned char>(c))) out += c;
    else if (c == '.') out += 'p';
    else if (c == '-') out += 'm';
    else return "";
  }
  return out;
}

}  // namespace

std::vector<Json> expand_grid_sweep(const Json& stage, const std::string& path, const std::string& default_name) {
  if (!stage.is_object()) return {stage};  // parse_stage names the problem
  static const char* const own[] = {"kind", "name", "method", "methods", "init_from", "grid", "finetune_steps",
                                    "keep_checkpoints"};
  Json probe = Json::object();
  for (const char* key : own)
    if (stage.contains(key)) probe[key] = stage[key];
  JsonFields f(probe, path);
  f.accept("kind");
  const std::string name = f.string("name", default_name);
  const MethodStarts starts = read_methods(stage, path, f);
  // Every point starts from the same checkpoint (per method), never from the point before it.
  if (!stage.contains("init_from"))
    f.fail("init_from", "is required: the stage every point starts from, or one per method "
                        "({\"vanilla\": \"qat_vanilla\", \"raoq\": \"qat\"})");
  f.accept("init_from");
  const int64_t finetune_steps = f.integer("finetune_steps", 0, 0);
  const bool keep = f.boolean("keep_checkpoints", false);
  const Json& grid = f.object("grid", true);
  f.finish();
  const std::string grid_path = join_key(path, "grid");
  if (grid.empty()) throw Error("config: " + grid_path + " must name at least one key to sweep, e.g. {\"adc.ba\": [6, 7, 8]}");
  // Keys the sweep itself decides per point may not be swept.
  static const char* const fixed[] = {"kind", "name", "method", "methods", "init_from", "grid", "finetune_steps",
                                      "keep_checkpoints", "label", "sweep", "finetune", "save_checkpoint", "max_steps"};
  std::vector<std::pair<std::string, std::vector<Json>>> axes;
  for (auto it = grid.begin(); it != grid.end(); ++it) {
    const std::string at = grid_path + "." + printable(it.key());
    const std::string root = it.key().substr(0, it.key().find_first_of(".["));
    for (const char* k : fixed)
      if (root == k) throw Error("config: " + at + ": " + json_brief(Json(root)) + " is set by the sweep itself, not a grid key");
    if (!it.value().is_array() || it.value().empty())
      throw Error("config: " + at + " must be a non-empty list of values (got " + json_brief(it.value()) + ")");
    std::vector<Json> values;
    for (const Json& v : it.value()) {
      if (v.is_object() || v.is_array() || v.is_null())
        throw Error("config: " + at + " items must be numbers, strings or booleans (got " + json_brief(v) + ")");
      for (const Json& w : values)
        if (w == v) throw Error("config: " + at + " lists " + json_brief(v) + " twice");
      values.push_back(v);
    }
    axes.emplace_back(it.key(), std::move(values));
  }
  Json base = stage;
  for (const char* key : own) base.erase(key);
  base["kind"] = "adc";
  if (!base.contains("epochs")) base["epochs"] = 1;
  // An evaluation-only sweep trains nothing; parse_stage still reads an optimizer, so one is named.
  if (!base.contains("optimizer") && finetune_steps == 0) base["optimizer"] = {{"name", "sgd"}};
  size_t points = 1;
  for (const auto& a : axes) points *= a.second.size();
  const size_t total = points * starts.methods.size();
  std::vector<Json> out;
  for (size_t p = 0; p < points; ++p) {
    // Point p's value on each axis: the last axis varies fastest.
    Json values = Json::object();
    std::string tag;
    bool tagged = true;
    size_t rest = p;
    std::vector<size_t> index(axes.size());
    for (size_t a = axes.size(); a-- > 0;) {
      index[a] = rest % axes[a].second.size();
      rest /= axes[a].second.size();
    }
    for (size_t a = 0; a < axes.size(); ++a) {
      const Json& v = axes[a].second[index[a]];
      values[axes[a].first] = v;
      const std::string t = value_tag(axes[a].first, v);
      tagged = tagged && !t.empty();
      tag += (a ? "-" : "") + t;
    }
    for (size_t m = 0; m < starts.methods.size(); ++m) {
      Json one = base;
      const std::string& method = starts.methods[m];
      for (auto it = values.begin(); it != values.end(); ++it) {
        try {
          apply_override(one, it.key() + "=" + it.value().dump());
        } catch (const Error& e) {
          throw Error("config: " + grid_path + "." + printable(it.key()) + ": " + e.what());
        }
      }
      const size_t i = p * starts.methods.size() + m;
      std::string stage_name = name + "-" + method + "-" + tag;
      if (!tagged || !valid_stage_name(stage_name)) stage_name = name + "-" + method + "-p" + std::to_string(p + 1);
      one["name"] = stage_name;
      one["method"] = method;
      if (!starts.init_from[m].is_null()) one["init_from"] = starts.init_from[m];
      one["max_steps"] = finetune_steps;
      one["finetune"] = finetune_steps > 0;
      one["save_checkpoint"] = keep;
      one["sweep"] = {{"name", name}, {"point", static_cast<int64_t>(i + 1)}, {"points", static_cast<int64_t>(total)},
                      {"values", values}};
      out.push_back(std::move(one));
    }
  }
  return out;
}

std::vector<Json> expand_sweep(const Json& stage, const std::string& path, const std::string& default_name) {
  if (!stage.is_object()) return {stage};
  const bool ba_list =
      stage.contains("adc") && stage["adc"].is_object() && stage["adc"].contains("ba") && stage["adc"]["ba"].is_array();
  const bool by_method = stage.contains("init_from") && stage["init_from"].is_object();
  if (!stage.contains("methods") && !ba_list && !by_method) return {stage};
  // The sweep's own keys are validated here; everything else per expanded stage, under `path`.
  Json probe = Json::object();
  for (const char* key : {"methods", "method", "name", "label", "label_suffix"})
    if (stage.contains(key)) probe[key] = stage[key];
  JsonFields f(probe, path);
  const MethodStarts starts = read_methods(stage, path, f);
  const std::vector<std::string>& methods = starts.methods;
  const std::string name = f.string("name", default_name);
  // The results rows of a sweep are labelled by method; a suffix keeps a second sweep's rows apart
  // (e.g. "_k1" for harder hardware: rows vanilla_k1 and raoq_k1, printed as their own table lines).
  const std::string suffix = f.string("label_suffix", "");
  if (f.has("label") && f.has("label_suffix"))
    f.fail("label_suffix", "cannot be given together with label (a sweep labels its rows METHOD + label_suffix)");
  for (char ch : suffix)
    if (!std::isalnum(static_cast<unsigned char>(ch)) && ch != '_' && ch != '-')
      f.fail("label_suffix", "must be letters, digits, '_' or '-' (got " + json_brief(Json(suffix)) + ")");
  std::vector<int64_t> bas{8};
  if (stage.contains("adc") && stage["adc"].is_object() && stage["adc"].contains("ba")) {
    Json a = Json::object();
    a["ba"] = stage["adc"]["ba"];
    JsonFields af(a, join_key(path, "adc"));
    // Each width's range is checked where each expanded stage is validated (AdcConfig::validate).
    bas = af.integers("ba", std::nullopt, INT32_MIN, INT32_MAX);
    if (bas.empty()) af.fail("ba", "must list at least one ADC bit width");
    for (size_t i = 0; i < bas.size(); ++i)
      for (size_t j = 0; j < i; ++j)
        if (bas[i] == bas[j]) af.fail("ba", "lists " + std::to_string(bas[i]) + " twice");
  }
  std::vector<Json> out;
  for (size_t mi = 0; mi < methods.size(); ++mi) {
    const std::string& m = methods[mi];
    for (int64_t ba : bas) {
      Json one = stage;
      one.erase("methods");
      one.erase("label_suffix");
      one["method"] = m;
      one["name"] = name + "-" + m + "-ba" + std::to_string(ba);
      if (!suffix.empty()) one["label"] = m + suffix;
      if (!one.contains("adc")) one["adc"] = Json::object();
      one["adc"]["ba"] = ba;
      if (by_method) one["init_from"] = starts.init_from[mi];
      out.push_back(one);
    }
  }
  return out;
}

}  // namespace raoq::tools
