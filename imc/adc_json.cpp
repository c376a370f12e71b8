// imc/adc_json.cpp — the "adc" object of a config (contract in adc_json.h).
#include "imc/adc_json.h"

#include <charconv>
#include <climits>
#include <cstdlib>
#include <string>

#include "core/error.h"

namespace raoq::imc {

namespace {
int as_int(JsonFields& f, const char* key, int fallback) {
  return static_cast<int>(f.integer(key, fallback, INT_MIN, INT_MAX));
}

// The shortest decimal that reads back as v: a resolved config shows 0.1, not 0.10000000149011612.
double shortest(float v) {
  char buf[32];
  const auto end = std::to_chars(buf, buf + sizeof buf, v).ptr;
  return std::strtod(std::string(buf, end).c_str(), nullptr);
}
}  // namespace

AdcConfig adc_config_from_json(JsonFields& f, AdcConfig d) {
  AdcConfig c = d;
  c.rows = f.integer("rows", d.rows);
  c.cols = f.integer("cols", d.cols);
  c.ba = as_int(f, "ba", d.ba);
  c.k = as_int(f, "k", d.k);
  c.signed_input = f.boolean("signed_input", d.signed_input);
  c.enabled = f.boolean("enabled", d.enabled);
  c.representation = quant::representation_from_string(
      f.choice("representation", quant::to_string(d.representation), {"zero_one", "minus_one_one"}));
  c.mapping = mapping_from_string(f.choice("mapping", to_string(d.mapping), {"direct", "bit_sliced"}));
  c.slice_bits = as_int(f, "slice_bits", d.slice_bits);
  c.weight_noise = static_cast<float>(f.number("weight_noise", d.weight_noise));
  c.output_noise = static_cast<float>(f.number("output_noise", d.output_noise));
  try {
    c.validate(f.path());
  } catch (const Error& e) {
    throw Error(f.what() + ": " + e.what());
  }
  return c;
}

Json adc_config_to_json(const AdcConfig& c) {
  Json j = Json::object();
  j["rows"] = c.rows;
  j["cols"] = c.cols;
  j["ba"] = c.ba;
  j["k"] = c.k;
  j["signed_input"] = c.signed_input;
  j["enabled"] = c.enabled;
  j["representation"] = quant::to_string(c.representation);
  j["mapping"] = to_string(c.mapping);
  j["slice_bits"] = c.slice_bits;
  j["weight_noise"] = shortest(c.weight_noise);
  j["output_noise"] = shortest(c.output_noise);
  return j;
}

}  // namespace raoq::imc
