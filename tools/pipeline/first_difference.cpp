// tools/pipeline/first_difference.cpp — the first key path at which two JSON values differ
// (trainer.h): what --resume names when a config no longer matches its run.
#include "tools/pipeline/trainer.h"

namespace raoq::tools {

std::string first_difference(const Json& a, const Json& b, const std::string& path, const std::string& a_is,
                             const std::string& b_is) {
  const std::string where = path.empty() ? "the top level" : path;
  auto both = [&](const std::string& x, const std::string& y) {
    return " (" + x + " " + a_is + ", " + y + " " + b_is + ")";
  };
  if (a.type() != b.type() && !(a.is_number() && b.is_number())) return where + both(json_brief(a), json_brief(b));
  if (a.is_object()) {
    for (auto it = a.begin(); it != a.end(); ++it) {
      if (!b.contains(it.key())) return join_key(path, it.key()) + both(json_brief(it.value()), "absent");
      const std::string d = first_difference(it.value(), b.at(it.key()), join_key(path, it.key()), a_is, b_is);
      if (!d.empty()) return d;
    }
    for (auto it = b.begin(); it != b.end(); ++it)
      if (!a.contains(it.key())) return join_key(path, it.key()) + both("absent", json_brief(it.value()));
    return "";
  }
  if (a.is_array()) {
    auto items = [](size_t n) { return std::to_string(n) + (n == 1 ? " item" : " items"); };
    if (a.size() != b.size()) return where + both(items(a.size()), items(b.size()));
    for (size_t i = 0; i < a.size(); ++i) {
      const std::string d = first_difference(a[i], b[i], join_index(path, i), a_is, b_is);
      if (!d.empty()) return d;
    }
    return "";
  }
  const bool same = a.is_number() ? a.get<double>() == b.get<double>() : a == b;
  return same ? "" : where + both(json_brief(a), json_brief(b));
}

}  // namespace raoq::tools
