// tools/stage_quant_config.cpp — validation of the qat and adc stage keys (see stage_quant_config.h).
#include "tools/stage_quant_config.h"

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
  if (q.bitaug && q.bitaug_offsets.empty()) f.fail("bitaug_offsets", "must list at least one offset when bitaug is on");
  for (int64_t o : q.bitaug_offsets) {
    if (o == 0) f.fail("bitaug_offsets", "must not contain 0 (the target ba is always trained)");
    if (q.ba + o < 2 || q.ba + o > 16)
      f.fail("bitaug_offsets", "must keep ba + offset in [2, 16] (ba " + std::to_string(q.ba) + ", offset " +
                                   std::to_string(o) + ")");
  }
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
}

}  // namespace raoq::tools
