// data/detail/state_json.h — internal to data/: the JSON form shared by the loaders' resumable
// states (data/loader.h, data/text_loader.h): checked fields, and a Generator's words as hex
// strings (JSON readers often hold numbers as doubles, which would lose bits of a 64-bit word).
// Every error names `what` ("loader state", "text_loader state") and the key.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>

#include "core/rng.h"

namespace raoq::data::detail {

const nlohmann::json& state_field(const nlohmann::json& j, const char* what, const char* key);
int64_t state_non_negative(const nlohmann::json& j, const char* what, const char* key);
bool state_boolean(const nlohmann::json& j, const char* what, const char* key);
// ["0x0123456789abcdef", ...]
nlohmann::json generator_to_json(const Generator::State& s);
Generator::State generator_from_json(const nlohmann::json& j, const char* what, const char* key);

}  // namespace raoq::data::detail
