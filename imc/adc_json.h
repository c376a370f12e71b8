// imc/adc_json.h — the array configuration as JSON: the one reader and the one writer of the
// hardware keys, so a config's "adc" object and AdcConfig cannot drift apart.
//
//   "adc": {"rows": 512, "cols": 512, "ba": 8, "k": 4, "signed_input": true, "enabled": true,
//           "representation": "zero_one", "mapping": "direct", "slice_bits": 4,
//           "weight_noise": 0, "output_noise": 0}
// bx and bw are not keys: they are the layer's quantizer bits (a stage's "bits"), set by the caller
// in `defaults` before reading, because validation (the 2^24 exactness bound) depends on them.
// Every range is AdcConfig::validate's (imc/adc.cpp): the reader checks types, validate checks
// values, so no key has a second, different range here.
#pragma once

#include "core/json_fields.h"
#include "imc/adc.h"

namespace raoq::imc {

// Reads every hardware key of f's object (each optional, default from `defaults`), then validates
// the result. Errors are one line naming the key: "config: stages[3].adc.k must be a positive
// integer (got 0)". Unknown keys are left to f.finish().
AdcConfig adc_config_from_json(JsonFields& f, AdcConfig defaults = {});

// Every key adc_config_from_json reads, with c's values: reading it back gives c (bx, bw aside).
Json adc_config_to_json(const AdcConfig& c);

}  // namespace raoq::imc
