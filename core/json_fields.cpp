// core/json_fields.cpp — validated field reading with key-path errors (see json_fields.h).
#include "core/json_fields.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <sstream>

#include "core/error.h"

namespace raoq {
namespace {

std::string format_number(double v) {
  std::ostringstream os;
  os << v;
  return os.str();
}

std::string type_name(const Json& v) {
  if (v.is_number_integer() || v.is_number_unsigned()) return "an integer";
  if (v.is_number()) return "a number";
  if (v.is_string()) return "a string";
  if (v.is_boolean()) return "a boolean";
  if (v.is_array()) return "a list";
  if (v.is_object()) return "an object";
  return "null";
}

size_t edit_distance(const std::string& a, const std::string& b) {
  std::vector<size_t> row(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j) row[j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    size_t diagonal = row[0];
    row[0] = i;
    for (size_t j = 1; j <= b.size(); ++j) {
      const size_t above = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diagonal + (a[i - 1] == b[j - 1] ? 0 : 1)});
      diagonal = above;
    }
  }
  return row[b.size()];
}

// The key path of the value being parsed, followed through the parser's callback events.
class PathTracker {
 public:
  template <typename J>
  void on(typename J::parse_event_t event, const J& parsed) {
    using E = typename J::parse_event_t;
    if (event == E::object_start || event == E::array_start) {
      frames_.push_back({event == E::array_start, "", 0});
    } else if (event == E::key && !frames_.empty()) {
      frames_.back().key = parsed.template get<std::string>();
    } else if (event == E::object_end || event == E::array_end) {
      if (!frames_.empty()) frames_.pop_back();
      count_element();
    } else if (event == E::value) {
      count_element();
    }
  }
  size_t depth() const { return frames_.size(); }
  std::string path() const {
    std::string out;
    // Keys come from the file: shown escaped (one line) and shortened.
    for (const Frame& f : frames_) {
      std::string key = printable(f.key);
      if (key.size() > 40) key = key.substr(0, 37) + "...";
      out = f.array ? join_index(out, f.count) : join_key(out, key);
    }
    if (out.size() > 160) out = "..." + out.substr(out.size() - 157);
    return out.empty() ? "the top level" : out;
  }

 private:
  struct Frame {
    bool array;
    std::string key;
    size_t count;  // arrays: elements completed, so the index of the one being parsed
  };
  void count_element() {
    if (!frames_.empty() && frames_.back().array) ++frames_.back().count;
  }
  std::vector<Frame> frames_;
};

template <typename J>
J parse_tracked(const std::string& text, const std::string& what) {
  PathTracker tracker;
  const typename J::parser_callback_t callback = [&](int, typename J::parse_event_t event, J& parsed) {
    tracker.on(event, parsed);
    if (tracker.depth() > static_cast<size_t>(kMaxJsonDepth))
      throw Error(what + ": " + tracker.path() + " nests deeper than " + std::to_string(kMaxJsonDepth) +
                  " levels, expected at most " + std::to_string(kMaxJsonDepth));
    return true;
  };
  try {
    return J::parse(text, callback);
  } catch (const typename J::parse_error& e) {
    // nlohmann's message is "[json.exception.parse_error.101] parse error at line 3, column 5: ...";
    // the part after "parse error " reads "at line 3, column 5: ...".
    std::string message = e.what();
    const auto at = message.find("parse error ");
    if (at != std::string::npos) message = message.substr(at + 12);
    throw JsonSyntaxError(what + " is not valid JSON: " + message);
  } catch (const typename J::out_of_range& e) {
    // 406: a number such as 1e400 that overflows a double (nlohmann refuses it rather than
    // return infinity).
    std::string number;
    const std::string message = e.what();
    if (const auto q = message.find('\''); q != std::string::npos) number = message.substr(q + 1, message.rfind('\'') - q - 1);
    if (number.size() > 40) number = number.substr(0, 37) + "...";
    // A value that is the whole text (a --set value) needs no key path.
    const std::string at = tracker.depth() ? tracker.path() + ": " : "";
    if (e.id == 406)
      throw Error(what + ": " + at + "the number " + number + " does not fit a double (at most about 1.8e308 in magnitude)");
    throw Error(what + " is not valid JSON: " + message);
  } catch (const typename J::exception& e) {
    throw Error(what + " is not valid JSON: " + e.what());
  }
}

}  // namespace

Json parse_json(const std::string& text, const std::string& what) { return parse_tracked<Json>(text, what); }

nlohmann::json parse_json_unordered(const std::string& text, const std::string& what) {
  return parse_tracked<nlohmann::json>(text, what);
}

bool Range::contains(double v) const {
  if (std::isnan(v)) return false;
  if (lo && (lo_open ? !(v > *lo) : !(v >= *lo))) return false;
  if (hi && (hi_open ? !(v < *hi) : !(v <= *hi))) return false;
  return true;
}

std::string Range::describe() const {
  if (lo && hi)
    return "in " + std::string(lo_open ? "(" : "[") + format_number(*lo) + ", " + format_number(*hi) +
           (hi_open ? ")" : "]");
  if (lo) return std::string(lo_open ? "> " : ">= ") + format_number(*lo);
  if (hi) return std::string(hi_open ? "< " : "<= ") + format_number(*hi);
  return "a finite number";
}

std::string join_key(const std::string& path, const std::string& key) { return path.empty() ? key : path + "." + key; }

std::string join_index(const std::string& path, size_t index) { return path + "[" + std::to_string(index) + "]"; }

std::string json_brief(const Json& value) {
  // replace: a message must never fail on a string that is not UTF-8 (only a caller's own
  // string could be one; parsed text is checked by the parser).
  std::string s = value.dump(-1, ' ', false, Json::error_handler_t::replace);
  if (s.size() > 60) s = s.substr(0, 57) + "...";
  return s;
}

std::string json_brief(const nlohmann::json& value) {
  std::string s = value.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  if (s.size() > 60) s = s.substr(0, 57) + "...";
  return s;
}

namespace {
template <class J>
std::optional<int64_t> whole_int64(const J& v) {
  if (v.is_number_unsigned()) {
    const uint64_t u = v.template get<uint64_t>();
    if (u > static_cast<uint64_t>(INT64_MAX)) return std::nullopt;
    return static_cast<int64_t>(u);
  }
  if (v.is_number_integer()) return v.template get<int64_t>();
  return std::nullopt;
}
}  // namespace

std::optional<int64_t> json_int64(const Json& value) { return whole_int64(value); }
std::optional<int64_t> json_int64(const nlohmann::json& value) { return whole_int64(value); }

int64_t json_int64_at(const Json& object, const char* key, const std::string& what) {
  RAOQ_CHECK(object.is_object() && object.contains(key), what, ": '", key, "' is missing");
  const Json& v = object.at(key);
  const std::optional<int64_t> n = json_int64(v);
  RAOQ_CHECK(n.has_value(), what, ": '", key, "' must be a whole number, got ", json_brief(v));
  return *n;
}

std::string printable(const std::string& text) {
  std::string out;
  for (size_t i = 0; i < text.size();) {
    const auto c = static_cast<unsigned char>(text[i]);
    char hex[8];
    if (c < 0x20 || c == 0x7f) {
      const std::string quoted = Json(std::string(1, static_cast<char>(c))).dump();
      out += quoted.substr(1, quoted.size() - 2);
      ++i;
      continue;
    }
    // The length of a well-formed UTF-8 sequence starting here (RFC 3629), or 0.
    size_t len = c < 0x80 ? 1 : (c >= 0xc2 && c <= 0xdf) ? 2 : (c >= 0xe0 && c <= 0xef) ? 3 : (c >= 0xf0 && c <= 0xf4) ? 4 : 0;
    if (len > 1) {
      if (i + len > text.size()) len = 0;
      for (size_t k = 1; k < len; ++k)
        if ((static_cast<unsigned char>(text[i + k]) & 0xc0) != 0x80) len = 0;
      if (len == 3 || len == 4) {  // overlong forms, surrogates and code points past U+10FFFF
        const auto c1 = static_cast<unsigned char>(text[i + 1]);
        if ((c == 0xe0 && c1 < 0xa0) || (c == 0xed && c1 >= 0xa0) || (c == 0xf0 && c1 < 0x90) || (c == 0xf4 && c1 >= 0x90))
          len = 0;
      }
    }
    if (len == 0) {
      std::snprintf(hex, sizeof hex, "\\x%02x", c);
      out += hex;
      ++i;
    } else {
      out.append(text, i, len);
      i += len;
    }
  }
  return out;
}

std::optional<std::string> closest_match(const std::string& word, const std::vector<std::string>& candidates) {
  std::optional<std::string> best;
  size_t best_distance = 0;
  for (const auto& c : candidates) {
    const size_t d = edit_distance(word, c);
    if (!best || d < best_distance) best = c, best_distance = d;
  }
  // A typo is one or two edits away (three for long words); anything further is a different word.
  const size_t limit = word.size() >= 8 ? 3 : 2;
  if (best && best_distance <= limit && best_distance < word.size()) return best;
  return std::nullopt;
}

JsonFields::JsonFields(const Json& object, std::string path, std::string what)
    : object_(object), path_(std::move(path)), what_(std::move(what)) {
  if (!object_.is_object()) {
    throw Error(what_ + ": " + (path_.empty() ? std::string("the top level") : path_) + " must be an object (got " +
                json_brief(object_) + ")");
  }
}

bool JsonFields::has(const std::string& key) const { return object_.contains(key); }

void JsonFields::accept(const std::string& key) {
  if (known_.insert(key).second) known_order_.push_back(key);
}

const Json* JsonFields::find(const std::string& key) {
  accept(key);
  auto it = object_.find(key);
  if (it == object_.end()) return nullptr;
  return &*it;
}

void JsonFields::fail(const std::string& key, const std::string& message) const {
  throw Error(what_ + ": " + key_path(key) + " " + message);
}

int64_t JsonFields::integer(const std::string& key, std::optional<int64_t> fallback, int64_t min, int64_t max) {
  const Json* v = find(key);
  if (!v) {
    if (!fallback) fail(key, "is required");
    resolved_[key] = *fallback;
    return *fallback;
  }
  std::string wanted = "an integer";
  if (min == 1 && max == INT64_MAX) wanted = "a positive integer";
  if (min == 0 && max == INT64_MAX) wanted = "a non-negative integer";
  if (min != INT64_MIN && min > 1 && max == INT64_MAX) wanted = "an integer >= " + std::to_string(min);
  if (min != INT64_MIN && max != INT64_MAX)
    wanted = "an integer in [" + std::to_string(min) + ", " + std::to_string(max) + "]";
  int64_t value = 0;
  if (v->is_number_integer()) {  // signed or unsigned; an unsigned above INT64_MAX does not fit
    const std::optional<int64_t> n = json_int64(*v);
    if (!n) fail(key, "must be " + wanted + " (got " + json_brief(*v) + ")");
    value = *n;
  } else if (v->is_number_float()) {
    // 3.0 is accepted as 3: it is what a computed or --set value often looks like.
    const double d = v->get<double>();
    if (!std::isfinite(d) || d != std::floor(d) || std::fabs(d) > 9.0e15)
      fail(key, "must be " + wanted + " (got " + json_brief(*v) + ")");
    value = static_cast<int64_t>(d);
  } else {
    fail(key, "must be " + wanted + " (got " + json_brief(*v) + ")");
  }
  if (value < min || value > max) fail(key, "must be " + wanted + " (got " + json_brief(*v) + ")");
  resolved_[key] = value;
  return value;
}

double JsonFields::number(const std::string& key, std::optional<double> fallback, const Range& range) {
  const Json* v = find(key);
  if (!v) {
    if (!fallback) fail(key, "is required");
    return remember(key, *fallback);
  }
  if (!v->is_number()) fail(key, "must be a number (got " + json_brief(*v) + ")");
  const double d = v->get<double>();
  if (!std::isfinite(d) || !range.contains(d))
    fail(key, "must be " + range.describe() + " (got " + json_brief(*v) + ")");
  // An integer stays an integer in the resolved form ("epochs": 3, not 3.0).
  resolved_[key] = *v;
  return d;
}

bool JsonFields::boolean(const std::string& key, std::optional<bool> fallback) {
  const Json* v = find(key);
  if (!v) {
    if (!fallback) fail(key, "is required");
    return remember(key, *fallback);
  }
  if (!v->is_boolean()) fail(key, "must be true or false (got " + json_brief(*v) + ")");
  return remember(key, v->get<bool>());
}

std::string JsonFields::string(const std::string& key, std::optional<std::string> fallback) {
  const Json* v = find(key);
  if (!v) {
    if (!fallback) fail(key, "is required");
    return remember(key, *fallback);
  }
  if (!v->is_string()) fail(key, "must be a string (got " + json_brief(*v) + ")");
  return remember(key, v->get<std::string>());
}

std::string JsonFields::choice(const std::string& key, std::optional<std::string> fallback,
                               const std::vector<std::string>& choices) {
  std::string list;
  for (size_t i = 0; i < choices.size(); ++i) list += (i ? (i + 1 == choices.size() ? " or " : ", ") : "") + choices[i];
  const Json* v = find(key);
  if (v && !v->is_string()) fail(key, "must be one of " + list + " (got " + json_brief(*v) + ")");
  const std::string s = string(key, std::move(fallback));
  if (std::find(choices.begin(), choices.end(), s) == choices.end()) {
    const auto near = closest_match(s, choices);
    fail(key, "must be one of " + list + " (got " + json_brief(Json(s)) + ")" +
                  (near ? "; did you mean \"" + *near + "\"?" : ""));
  }
  return s;
}

std::vector<double> JsonFields::numbers(const std::string& key, std::optional<std::vector<double>> fallback,
                                        const Range& range) {
  const Json* v = find(key);
  if (!v) {
    if (!fallback) fail(key, "is required");
    return remember(key, *fallback);
  }
  std::vector<double> out;
  if (v->is_number()) {
    out.push_back(v->get<double>());
  } else if (v->is_array()) {
    for (size_t i = 0; i < v->size(); ++i) {
      if (!(*v)[i].is_number()) fail(key, "must be a list of numbers (got " + json_brief(*v) + ")");
      out.push_back((*v)[i].get<double>());
    }
  } else {
    fail(key, "must be a number or a list of numbers (got " + json_brief(*v) + ")");
  }
  for (size_t i = 0; i < out.size(); ++i) {
    if (!std::isfinite(out[i]) || !range.contains(out[i])) {
      const std::string where = v->is_array() ? "[" + std::to_string(i) + "]" : "";
      throw Error(what_ + ": " + key_path(key) + where + " must be " + range.describe() + " (got " +
                  json_brief(v->is_array() ? (*v)[i] : *v) + ")");
    }
  }
  resolved_[key] = *v;
  return out;
}

std::vector<int64_t> JsonFields::integers(const std::string& key, std::optional<std::vector<int64_t>> fallback,
                                          int64_t min, int64_t max) {
  const Json* v = find(key);
  if (!v) {
    if (!fallback) fail(key, "is required");
    return remember(key, *fallback);
  }
  // Each item is read as its own field "key[i]", so an error names the item.
  Json items = Json::object();
  std::vector<std::string> names;
  if (v->is_array()) {
    for (size_t i = 0; i < v->size(); ++i) {
      names.push_back(key + "[" + std::to_string(i) + "]");
      items[names.back()] = (*v)[i];
    }
  } else {
    names.push_back(key);
    items[key] = *v;
  }
  JsonFields each(items, path_, what_);
  std::vector<int64_t> out;
  for (const auto& name : names) out.push_back(each.integer(name, std::nullopt, min, max));
  return remember(key, out);
}

std::vector<std::string> JsonFields::strings(const std::string& key, std::optional<std::vector<std::string>> fallback) {
  const Json* v = find(key);
  if (!v) {
    if (!fallback) fail(key, "is required");
    return remember(key, *fallback);
  }
  std::vector<std::string> out;
  if (!v->is_array()) fail(key, "must be a list of strings (got " + json_brief(*v) + ")");
  for (const auto& item : *v) {
    if (!item.is_string()) fail(key, "must be a list of strings (got " + json_brief(*v) + ")");
    out.push_back(item.get<std::string>());
  }
  return remember(key, out);
}

const Json& JsonFields::object(const std::string& key, bool required) {
  static const Json empty_object = Json::object();
  const Json* v = find(key);
  if (!v) {
    if (required) fail(key, "is required");
    return empty_object;
  }
  if (!v->is_object()) fail(key, "must be an object (got " + type_name(*v) + " " + json_brief(*v) + ")");
  resolved_[key] = *v;
  return *v;
}

const Json& JsonFields::array(const std::string& key, bool required) {
  static const Json empty_array = Json::array();
  const Json* v = find(key);
  if (!v) {
    if (required) fail(key, "is required");
    return empty_array;
  }
  if (!v->is_array()) fail(key, "must be a list (got " + type_name(*v) + " " + json_brief(*v) + ")");
  resolved_[key] = *v;
  return *v;
}

void JsonFields::finish() const {
  for (auto it = object_.begin(); it != object_.end(); ++it) {
    if (known_.count(it.key())) continue;
    const auto near = closest_match(it.key(), known_order_);
    std::string hint;
    if (near) {
      hint = " (did you mean " + key_path(*near) + "?)";
    } else {
      hint = " (known keys here: ";
      for (size_t i = 0; i < known_order_.size(); ++i) hint += (i ? ", " : "") + known_order_[i];
      hint += ")";
    }
    throw Error(what_ + ": " + key_path(printable(it.key())) + " is not a known key" + hint);
  }
}

}  // namespace raoq
