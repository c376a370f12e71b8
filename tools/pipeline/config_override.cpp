// tools/pipeline/config_override.cpp — `--set key.path=value`: edits raw config JSON before validation,
// so an override is checked exactly like a key written in the file.
#include <algorithm>
#include <cctype>
#include <cstdio>
#include <string>
#include <variant>
#include <vector>

#include "core/error.h"
#include "data/text_tokenizer.h"
#include "tools/pipeline/config.h"

namespace raoq::tools {
namespace {

// One step of a key path: an object key, a list index, or every item of a list (-1).
using PathStep = std::variant<std::string, int64_t>;
constexpr int64_t kEveryItem = -1;

std::vector<PathStep> parse_path(const std::string& path, const std::string& assignment) {
  auto fail = [&](const std::string& why) -> void {
    throw Error("--set " + printable(assignment) + ": " + why + " (expected e.g. stages[0].optimizer.lr=0.05)");
  };
  auto is_digits = [](const std::string& s) {
    return !s.empty() && std::all_of(s.begin(), s.end(), [](unsigned char c) { return std::isdigit(c); });
  };
  // No config holds a billion items; a longer number would overflow std::stoll (found by
  // tests/fuzz/fuzz_config).
  auto index = [&](const std::string& digits) -> int64_t {
    if (digits.size() > 9) fail("list index '" + digits + "' is too large");
    return std::stoll(digits);
  };
  std::vector<PathStep> steps;
  size_t i = 0;
  while (i < path.size()) {
    if (path[i] == '[') {
      const size_t close = path.find(']', i);
      if (close == std::string::npos) fail("unclosed '['");
      const std::string inside = path.substr(i + 1, close - i - 1);
      if (inside == "*") {
        steps.emplace_back(kEveryItem);
      } else if (is_digits(inside)) {
        steps.emplace_back(index(inside));
      } else {
        fail("list index '" + printable(inside) + "' must be a number or *");
      }
      i = close + 1;
      if (i < path.size() && path[i] == '.') ++i;
      continue;
    }
    size_t end = i;
    while (end < path.size() && path[end] != '.' && path[end] != '[') ++end;
    const std::string name = path.substr(i, end - i);
    if (name.empty()) fail("empty key in '" + printable(path) + "'");
    // "stages.1.epochs" means the same as "stages[1].epochs" (keys are never all digits).
    if (is_digits(name) && !steps.empty()) {
      steps.emplace_back(index(name));
    } else {
      steps.emplace_back(name);
    }
    i = end;
    if (i < path.size() && path[i] == '.') {
      ++i;
      if (i == path.size()) fail("key path ends with '.'");
    }
  }
  if (steps.empty()) fail("empty key path");
  return steps;
}

std::string describe(const std::vector<PathStep>& steps, size_t upto) {
  std::string out;
  for (size_t i = 0; i < upto; ++i) {
    if (const auto* key = std::get_if<std::string>(&steps[i])) {
      out = join_key(out, printable(*key));
    } else {
      const int64_t index = std::get<int64_t>(steps[i]);
      out += index == kEveryItem ? "[*]" : "[" + std::to_string(index) + "]";
    }
  }
  return out;
}

void assign(Json& node, const std::vector<PathStep>& steps, size_t at, const Json& value,
            const std::string& assignment) {
  if (at == steps.size()) {
    node = value;
    return;
  }
  const std::string here = at ? describe(steps, at) : std::string("the top level");
  if (const auto* key = std::get_if<std::string>(&steps[at])) {
    if (node.is_null()) node = Json::object();
    if (!node.is_object())
      throw Error("--set " + printable(assignment) + ": " + here + " is " + json_brief(node) + ", not an object with keys");
    if (!node.contains(*key) && at + 1 < steps.size() && std::holds_alternative<int64_t>(steps[at + 1]))
      throw Error("--set " + printable(assignment) + ": " + describe(steps, at + 1) + " is not in the config, so it has no items");
    assign(node[*key], steps, at + 1, value, assignment);
    return;
  }
  const int64_t index = std::get<int64_t>(steps[at]);
  if (!node.is_array()) throw Error("--set " + printable(assignment) + ": " + here + " is not a list");
  if (index == kEveryItem) {
    for (auto& item : node) assign(item, steps, at + 1, value, assignment);
    return;
  }
  if (index >= static_cast<int64_t>(node.size()))
    throw Error("--set " + printable(assignment) + ": " + here + " has " + std::to_string(node.size()) + " item" +
                (node.size() == 1 ? "" : "s") + " (indices start at 0)");
  assign(node[static_cast<size_t>(index)], steps, at + 1, value, assignment);
}

// A config is JSON text, so every key and string value must be UTF-8 (the resolved config could
// not be written otherwise); the first offending byte is named.
void check_utf8(const std::string& assignment) {
  for (size_t i = 0; i < assignment.size();) {
    const size_t at = i;
    char32_t cp = 0;
    if (!data::utf8_next(assignment, i, cp)) {
      char hex[8];
      std::snprintf(hex, sizeof hex, "0x%02x", static_cast<unsigned char>(assignment[at]));
      throw Error("--set " + printable(assignment) + ": byte " + hex + " at position " + std::to_string(at) +
                  " is not valid UTF-8, expected UTF-8 text (config keys and values are JSON strings)");
    }
  }
}

}  // namespace

void apply_override(Json& j, const std::string& assignment) {
  check_utf8(assignment);
  const size_t eq = assignment.find('=');
  if (eq == std::string::npos || eq == 0)
    throw Error("--set " + printable(assignment) + ": expected key.path=value (e.g. stages[0].optimizer.lr=0.05)");
  const std::string path = assignment.substr(0, eq), text = assignment.substr(eq + 1);
  const auto steps = parse_path(path, assignment);
  Json value;
  try {
    value = parse_json(text, "--set " + printable(assignment));
  } catch (const JsonSyntaxError&) {
    // Not JSON: a plain string such as sgd or /data/fashion-mnist. JSON that cannot be held
    // (a number that overflows, nesting too deep) stays an error.
    value = text;
  }
  assign(j, steps, 0, value, assignment);
}

}  // namespace raoq::tools
