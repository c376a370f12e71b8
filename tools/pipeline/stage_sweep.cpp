// tools/pipeline/stage_sweep.cpp — the adc kind's sweep over methods and ADC bits (stage_kind.h).
#include <algorithm>
#include <cctype>
#include <cstdint>

#include "core/error.h"
#include "tools/pipeline/stage_kind.h"

namespace raoq::tools {

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
  if (f.has("method") && f.has("methods")) f.fail("methods", "cannot be given together with method");
  const std::string single = f.has("method") ? f.string("method", "raoq") : "raoq";
  const std::vector<std::string> methods = f.strings("methods", std::vector<std::string>{single});
  if (methods.empty()) f.fail("methods", "must list at least one method");
  for (size_t i = 0; i < methods.size(); ++i) {
    if (methods[i] != "raoq" && methods[i] != "vanilla")
      f.fail("methods", "items must be \"raoq\" or \"vanilla\" (got " + json_brief(Json(methods[i])) + ")");
    for (size_t j = 0; j < i; ++j)
      if (methods[j] == methods[i]) f.fail("methods", "lists " + json_brief(Json(methods[i])) + " twice");
  }
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
  if (by_method) {
    const Json& by = stage["init_from"];
    for (auto it = by.begin(); it != by.end(); ++it)
      if (std::find(methods.begin(), methods.end(), it.key()) == methods.end())
        throw Error("config: " + join_key(path, "init_from") + "." + it.key() +
                    " names no method of this stage (methods: " + Json(methods).dump() + ")");
    for (const auto& m : methods)
      if (!by.contains(m) || !by[m].is_string())
        throw Error("config: " + join_key(path, "init_from") + "." + m + " must name the stage the " + m +
                    " fine-tunes start from");
  }
  std::vector<Json> out;
  for (const auto& m : methods) {
    for (int64_t ba : bas) {
      Json one = stage;
      one.erase("methods");
      one.erase("label_suffix");
      one["method"] = m;
      one["name"] = name + "-" + m + "-ba" + std::to_string(ba);
      if (!suffix.empty()) one["label"] = m + suffix;
      if (!one.contains("adc")) one["adc"] = Json::object();
      one["adc"]["ba"] = ba;
      if (by_method) one["init_from"] = stage["init_from"][m];
      out.push_back(one);
    }
  }
  return out;
}

}  // namespace raoq::tools
