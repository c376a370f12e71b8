// tools/stage_quant_config.cpp — validation of the qat and adc stage keys (see stage_quant_config.h).
#include "tools/stage_quant_config.h"

#include <algorithm>

#include "core/error.h"

namespace raoq::tools {

void parse_quant_stage(JsonFields& f, const std::string& kind, QuantStageConfig& q) {
  if (kind != "qat" && kind != "adc") return;
  q.bits = f.integer("bits", 4, 2, 8);
  q.per_channel = f.boolean("per_channel", false);
  if (kind == "qat") {
    q.ashift = f.boolean("ashift", true);
    q.wreshape = f.number("wreshape", 0.0, Range::non_negative());
    return;
  }
  q.method = f.choice("method", "raoq", {"raoq", "vanilla"});
  const bool raoq = q.method == "raoq";
  {
    JsonFields a(f.object("adc"), f.key_path("adc"));
    q.rows = a.integer("rows", 512, 1, 1 << 16);
    q.cols = a.integer("cols", 512, 1, 1 << 16);
    q.ba = a.integer("ba", 8, 2, 16);
    q.k = a.integer("k", 4, 1, 1024);
    q.signed_input = a.boolean("signed_input", true);
    q.representation = a.choice("representation", "zero_one", {"zero_one", "minus_one_one"});
    q.mapping = a.choice("mapping", "direct", {"direct", "bit_sliced"});
    q.weight_noise = a.number("weight_noise", 0.0, Range::non_negative());
    q.output_noise = a.number("output_noise", 0.0, Range::non_negative());
    a.finish();
  }
  q.ashift = f.boolean("ashift", raoq);
  if (!q.ashift && !q.signed_input && q.representation == "zero_one")
    f.fail("ashift", "must be true on an unsigned-input array (adc.signed_input false): it takes unsigned codes only");
  q.wreshape = f.number("wreshape", raoq ? 0.002 : 0.0, Range::non_negative());
  q.bitaug = f.boolean("bitaug", raoq);
  q.bitaug_offsets = f.integers("bitaug_offsets", std::vector<int64_t>{-1, 1, 2}, -8, 8);
  q.bitaug_bn_update = f.boolean("bitaug_bn_update", false);
  if (q.bitaug && q.bitaug_offsets.empty()) f.fail("bitaug_offsets", "must list at least one offset when bitaug is on");
  for (int64_t o : q.bitaug_offsets) {
    if (o == 0) f.fail("bitaug_offsets", "must not contain 0 (the target ba is always trained)");
    if (q.ba + o < 2 || q.ba + o > 16)
      f.fail("bitaug_offsets",
             "must keep ba + offset in [2, 16] (ba " + std::to_string(q.ba) + ", offset " + std::to_string(o) + ")");
  }
}

std::vector<Json> expand_sweep(const Json& stage, const std::string& path, const std::string& default_name) {
  if (!stage.is_object() || !stage.contains("kind") || stage["kind"] != "adc") return {stage};
  const bool ba_list =
      stage.contains("adc") && stage["adc"].is_object() && stage["adc"].contains("ba") && stage["adc"]["ba"].is_array();
  const bool by_method = stage.contains("init_from") && stage["init_from"].is_object();
  if (!stage.contains("methods") && !ba_list && !by_method) return {stage};
  // The sweep's own keys are validated here; everything else per expanded stage, under `path`.
  Json probe = Json::object();
  for (const char* key : {"methods", "method", "name"})
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
  std::vector<int64_t> bas{8};
  if (stage.contains("adc") && stage["adc"].is_object() && stage["adc"].contains("ba")) {
    Json a = Json::object();
    a["ba"] = stage["adc"]["ba"];
    JsonFields af(a, join_key(path, "adc"));
    bas = af.integers("ba", std::nullopt, 2, 16);
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
      one["method"] = m;
      one["name"] = name + "-" + m + "-ba" + std::to_string(ba);
      if (!one.contains("adc")) one["adc"] = Json::object();
      one["adc"]["ba"] = ba;
      if (by_method) one["init_from"] = stage["init_from"][m];
      out.push_back(one);
    }
  }
  return out;
}

void quant_stage_to_json(const std::string& kind, const QuantStageConfig& q, Json& st) {
  if (kind != "qat" && kind != "adc") return;
  st["bits"] = q.bits;
  st["per_channel"] = q.per_channel;
  st["ashift"] = q.ashift;
  st["wreshape"] = q.wreshape;
  if (kind != "adc") return;
  st["method"] = q.method;
  st["adc"] = {{"rows", q.rows},
               {"cols", q.cols},
               {"ba", q.ba},
               {"k", q.k},
               {"signed_input", q.signed_input},
               {"representation", q.representation},
               {"mapping", q.mapping},
               {"weight_noise", q.weight_noise},
               {"output_noise", q.output_noise}};
  st["bitaug"] = q.bitaug;
  st["bitaug_offsets"] = q.bitaug_offsets;
  st["bitaug_bn_update"] = q.bitaug_bn_update;
}

}  // namespace raoq::tools
