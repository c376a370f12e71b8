// tools/stage_quant_config.h — the keys of the quantized stage kinds, "qat" and "adc".
//
//   {"kind": "qat", "bits": 4, "ashift": true, "wreshape": 0.002, "per_channel": false, "init_from": "fp"}
//   {"kind": "adc", "method": "raoq", "bits": 4, "init_from": "qat",
//    "adc": {"rows": 512, "cols": 512, "ba": 8, "k": 4, "signed_input": true, "representation": "zero_one",
//            "mapping": "direct", "weight_noise": 0, "output_noise": 0},
//    "ashift": true, "wreshape": 0.002, "bitaug": true, "bitaug_offsets": [-1, 1, 2],
//    "bitaug_bn_update": false}
// `method` only sets the defaults of the three switches (raoq: all on; vanilla: all off, the
// vanilla QAT* baseline of DESIGN.md); each switch can be set on its own for ablations.
// ashift false means signed activation codes with zero offset on array layers ("signed
// quantization"); on an unsigned-input array that is an error, so vanilla there keeps unsigned codes.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "models/json_fields.h"

namespace raoq::tools {

struct QuantStageConfig {
  int64_t bits = 4;          // activation and weight bits of the array layers (edges stay 8-bit)
  bool per_channel = false;  // per-output-channel weight scales
  bool ashift = true;        // unsigned LSQ+ codes shifted by 2^(bx-1); false: signed codes, no offset
  double wreshape = 0.0;     // lambda_k of Eq. 7; 0 = off
  // adc only
  std::string method;  // raoq | vanilla
  int64_t rows = 512, cols = 512, ba = 8, k = 4;
  bool signed_input = true;
  std::string representation = "zero_one", mapping = "direct";
  double weight_noise = 0.0, output_noise = 0.0;
  bool bitaug = false;
  std::vector<int64_t> bitaug_offsets{-1, 1, 2};
  bool bitaug_bn_update = false;  // BitAug's pass at ba~ also moves BatchNorm running statistics
};

// Reads the keys of a "qat" or "adc" stage from `f` (nothing for other kinds).
void parse_quant_stage(JsonFields& f, const std::string& kind, QuantStageConfig& q);
// A sweep: an "adc" stage with "methods": [...] and/or a list "adc": {"ba": [...]} stands for one
// stage per (method, ba), in that order, named "<name>-<method>-ba<ba>"; "init_from" may then be
// an object naming the stage each method starts from ({"vanilla": "qat_vanilla", "raoq": "qat"}).
// Returns the raw stages it stands for (the stage itself when it is no sweep); `path` and
// `default_name` are the stage's key path and default name, for errors and names.
std::vector<Json> expand_sweep(const Json& stage, const std::string& path, const std::string& default_name);

// Adds the resolved keys of a "qat" or "adc" stage to `stage`.
void quant_stage_to_json(const std::string& kind, const QuantStageConfig& q, Json& stage);

}  // namespace raoq::tools
