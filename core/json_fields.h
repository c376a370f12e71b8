// core/json_fields.h — read one JSON object field by field, validating every value and
// naming its key path in the one-line error when something is wrong.
//
// Model builders read their options through it, and the raoq command line reads a whole
// training config with it, so both speak the same error language:
//   config: stages[1].optimizer.lr must be > 0 (got -0.1)
//   config: model.widht is not a known key (did you mean model.width?)
// A JsonFields remembers which keys were read; finish() rejects any key nobody asked for, so
// a misspelt key is an error instead of a silently ignored setting.
//
// What it deliberately does not do: coerce types. "3" is not a number and 3.5 is not an
// integer (3.0 is: `--set` values and hand-written JSON both produce it).
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "core/error.h"

namespace raoq {

// Key order is kept (a resolved config is written back in the order a person wrote it).
using Json = nlohmann::ordered_json;

// An allowed interval for a number: each end optional, open or closed.
struct Range {
  std::optional<double> lo, hi;
  bool lo_open = false, hi_open = false;

  static Range any() { return {}; }
  static Range positive() { return {0.0, std::nullopt, true, false}; }        // > 0
  static Range non_negative() { return {0.0, std::nullopt, false, false}; }   // >= 0
  static Range closed(double a, double b) { return {a, b, false, false}; }    // [a, b]
  static Range half_open(double a, double b) { return {a, b, false, true}; }  // [a, b)
  static Range open(double a, double b) { return {a, b, true, true}; }        // (a, b)
  bool contains(double v) const;
  std::string describe() const;  // "> 0", ">= 0", "in [0, 1)"
};

// The deepest nesting a parsed document may have. raoq's own files nest about 6 levels; nlohmann's
// copy, comparison and dump recurse, so a hostile file nested thousands of levels deep would
// overflow the stack long after it was read.
inline constexpr int kMaxJsonDepth = 64;

// What parse_json throws for text that is not JSON at all (a subclass, so that `--set` can take
// such text as a plain string while a number that overflows stays an error).
class JsonSyntaxError : public Error {
 public:
  using Error::Error;
};

// Parses JSON text from a file, a checkpoint or the command line. `what` starts every message
// ("config: 'x.json'"). Errors (raoq::Error, one line):
//   config: 'x.json' is not valid JSON: at line 3, column 5: syntax error ...
//   config: 'x.json': stages[0].optimizer.lr: the number 1e400 does not fit a double (...)
//   config: 'x.json': stages[0].a.b nests deeper than 64 levels, expected at most 64
Json parse_json(const std::string& text, const std::string& what);
// The same, as the unordered nlohmann::json that the data/ readers take.
nlohmann::json parse_json_unordered(const std::string& text, const std::string& what);

// "stages" + 1 -> "stages[1]";  "data" + "root" -> "data.root";  "" + "seed" -> "seed".
std::string join_key(const std::string& path, const std::string& key);
std::string join_index(const std::string& path, size_t index);
// The value as it appears in a message: numbers and strings as JSON ("adam" with quotes).
std::string json_brief(const Json& value);
std::string json_brief(const nlohmann::json& value);
// Text from a user (a key, a path, a --set argument) as a message can show it on one line:
// control characters escaped as in JSON (\n, \u0001), bytes that are not UTF-8 as \xff.
std::string printable(const std::string& text);
// A whole JSON number as an int64_t, or nothing when the value is not one or does not fit: a
// number written with a fraction or exponent (3.5, 1e43) is not whole here, and nlohmann's
// get<int64_t> would cast it (undefined behaviour out of range) or wrap an unsigned above INT64_MAX.
std::optional<int64_t> json_int64(const Json& value);
std::optional<int64_t> json_int64(const nlohmann::json& value);
// object[key] through json_int64, for files raoq wrote and reads back (checkpoints, results,
// metrics): "what: 'key' is missing" or "what: 'key' must be a whole number, got 1e+43".
int64_t json_int64_at(const Json& object, const char* key, const std::string& what);
// The closest candidate by edit distance, if it is close enough to be a likely typo.
std::optional<std::string> closest_match(const std::string& word, const std::vector<std::string>& candidates);

class JsonFields {
 public:
  // `object` must be a JSON object (an error naming `path` otherwise). `what` starts every
  // message ("config", "model"); `path` is this object's key path ("" for the root).
  // The object is referenced, not copied: it must outlive this reader.
  JsonFields(const Json& object, std::string path, std::string what = "config");

  bool has(const std::string& key) const;
  const std::string& path() const { return path_; }
  const std::string& what() const { return what_; }
  std::string key_path(const std::string& key) const { return join_key(path_, key); }

  // Each getter marks `key` as known. Without a fallback the key is required.
  int64_t integer(const std::string& key, std::optional<int64_t> fallback, int64_t min = INT64_MIN,
                  int64_t max = INT64_MAX);
  double number(const std::string& key, std::optional<double> fallback, const Range& range = Range::any());
  bool boolean(const std::string& key, std::optional<bool> fallback);
  std::string string(const std::string& key, std::optional<std::string> fallback);
  std::string choice(const std::string& key, std::optional<std::string> fallback,
                     const std::vector<std::string>& choices);
  // A number or a list of numbers (a single number becomes a list of one).
  std::vector<double> numbers(const std::string& key, std::optional<std::vector<double>> fallback,
                              const Range& range = Range::any());
  // An integer or a list of integers, each in [min, max].
  std::vector<int64_t> integers(const std::string& key, std::optional<std::vector<int64_t>> fallback,
                                int64_t min = INT64_MIN, int64_t max = INT64_MAX);
  std::vector<std::string> strings(const std::string& key, std::optional<std::vector<std::string>> fallback);
  // A nested object (an empty one when absent and not required); read it with its own JsonFields.
  const Json& object(const std::string& key, bool required = false);
  // A nested array of anything (empty when absent and not required).
  const Json& array(const std::string& key, bool required = false);
  // Marks a key as known without reading it (a caller validates it some other way).
  void accept(const std::string& key);
  // Every key read so far with the value the getter returned (defaults included), in reading
  // order: the resolved form of the object. Nested objects and arrays appear as given.
  const Json& resolved() const { return resolved_; }

  // Throws "<what>: <path.key> <message>".
  [[noreturn]] void fail(const std::string& key, const std::string& message) const;
  // Throws for the first key that no getter asked for, suggesting the closest known key.
  void finish() const;

 private:
  const Json* find(const std::string& key);
  template <typename T>
  T remember(const std::string& key, T value) {
    resolved_[key] = value;
    return value;
  }
  const Json& object_;
  std::string path_, what_;
  std::set<std::string> known_;
  std::vector<std::string> known_order_;
  Json resolved_ = Json::object();
};

}  // namespace raoq
