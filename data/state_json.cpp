// data/state_json.cpp — the loaders' shared state JSON (data/detail/state_json.h).
#include "data/detail/state_json.h"

#include <cinttypes>
#include <cstdio>
#include <string>

#include "core/error.h"
#include "core/json_fields.h"

namespace raoq::data::detail {

const nlohmann::json& state_field(const nlohmann::json& j, const char* what, const char* key) {
  RAOQ_CHECK(j.contains(key), what, ": key '", key, "' is missing");
  return j.at(key);
}

int64_t state_non_negative(const nlohmann::json& j, const char* what, const char* key) {
  const nlohmann::json& v = state_field(j, what, key);
  const std::optional<int64_t> n = json_int64(v);
  RAOQ_CHECK(n && *n >= 0, what, ": '", key, "' must be a non-negative integer, got ", json_brief(v));
  return *n;
}

bool state_boolean(const nlohmann::json& j, const char* what, const char* key) {
  const nlohmann::json& v = state_field(j, what, key);
  RAOQ_CHECK(v.is_boolean(), what, ": '", key, "' must be true or false, got ", json_brief(v));
  return v.get<bool>();
}

nlohmann::json generator_to_json(const Generator::State& s) {
  nlohmann::json words = nlohmann::json::array();
  for (uint64_t w : s) {
    char text[19];
    std::snprintf(text, sizeof text, "0x%016" PRIx64, w);
    words.push_back(text);
  }
  return words;
}

Generator::State generator_from_json(const nlohmann::json& j, const char* what, const char* key) {
  Generator::State s{};
  const nlohmann::json& words = state_field(j, what, key);
  RAOQ_CHECK(words.is_array() && words.size() == s.size(), what, ": '", key, "' must be an array of ", s.size(),
             " hex strings, got ", json_brief(words));
  for (size_t k = 0; k < s.size(); ++k) {
    const std::string text = words[k].is_string() ? words[k].get<std::string>() : "";
    const bool ok = text.size() > 2 && text.size() <= 18 && text.rfind("0x", 0) == 0 &&
                    text.find_first_not_of("0123456789abcdefABCDEF", 2) == std::string::npos;
    RAOQ_CHECK(ok, what, ": '", key, "'[", k, "] must be a hex string like \"0x0123456789abcdef\", got ",
               json_brief(words[k]));
    s[k] = std::stoull(text.substr(2), nullptr, 16);
  }
  return s;
}

}  // namespace raoq::data::detail
