// tools/pipeline/results_sweep.cpp — a hardware sweep's points as the paper's Appendix F lays them
// out (Table 13: array rows; Table 14: k; a ba x k grid as one matrix per method), the same points
// as CSV, and which of them are on the accuracy / energy Pareto front.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <sstream>
#include <string>
#include <vector>

#include "tools/pipeline/results.h"

namespace raoq::tools {
namespace {

std::string cell(const SweepRow* r, bool after) {
  if (!r || !r->done) return "-";
  if (after) return r->after ? fixed(*r->after, 2) : "-";
  return fixed(r->before, 2);
}

// 1,572,864 -> "1.57 M"; 905,000 -> "905 k".
std::string magnitude(double v) {
  const char* units[] = {"", " k", " M", " G", " T"};
  int u = 0;
  while (std::fabs(v) >= 1000.0 && u < 4) v /= 1000.0, ++u;
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.3g%s", v, units[u]);
  return buf;
}

std::string value_text(const Json& v) { return v.is_string() ? v.get<std::string>() : v.dump(); }

// A CSV field: quoted (quotes doubled) when it holds a comma, a quote or a line break.
std::string csv_field(const std::string& text) {
  if (text.find_first_of(",\"\n\r") == std::string::npos) return text;
  std::string out = "\"";
  for (char c : text) out += c == '"' ? std::string("\"\"") : std::string(1, c);
  return out + "\"";
}

std::string method_name(const std::string& m) { return m == "vanilla" ? "QAT*" : m == "raoq" ? "RAOQ" : m; }

bool higher_is_better(const std::string& metric) { return metric != "test_perplexity"; }

std::string metric_title(const std::string& metric) {
  return metric == "test_perplexity" ? "test perplexity (lower is better)" : "test accuracy (%)";
}

// The grid's keys of one sweep, in the order its points give them.
std::vector<std::string> keys_of(const std::vector<const SweepRow*>& rows) {
  std::vector<std::string> keys;
  for (const SweepRow* r : rows)
    for (auto it = r->values.begin(); it != r->values.end(); ++it)
      if (std::find(keys.begin(), keys.end(), it.key()) == keys.end()) keys.push_back(it.key());
  return keys;
}

// The distinct values of `key` in the order the points give them.
std::vector<Json> values_of(const std::vector<const SweepRow*>& rows, const std::string& key) {
  std::vector<Json> out;
  for (const SweepRow* r : rows)
    if (r->values.contains(key) && std::find(out.begin(), out.end(), r->values[key]) == out.end())
      out.push_back(r->values[key]);
  return out;
}

std::vector<std::string> methods_of(const std::vector<const SweepRow*>& rows) {
  std::vector<std::string> out;
  for (const SweepRow* r : rows)
    if (std::find(out.begin(), out.end(), r->method) == out.end()) out.push_back(r->method);
  return out;
}

const SweepRow* find(const std::vector<const SweepRow*>& rows, const std::string& method, const Json& values) {
  for (const SweepRow* r : rows)
    if (r->method == method && r->values == values) return r;
  return nullptr;
}

// One key (Tables 13 and 14): the values as columns, a line per method before and after its
// fine-tune, then the point's cost (the last method's: A-shift's offset adds a few digital ops).
void one_key_table(std::ostream& os, const std::vector<const SweepRow*>& rows, const std::string& key,
                   bool finetuned) {
  const std::vector<Json> values = values_of(rows, key);
  const std::vector<std::string> methods = methods_of(rows);
  const std::string short_key = key.substr(key.find_last_of('.') + 1);
  os << "| " << key << " |";
  for (const Json& v : values) os << " " << short_key << "=" << value_text(v) << " |";
  os << "\n|---|";
  for (size_t i = 0; i < values.size(); ++i) os << "---|";
  auto point = [&](const std::string& m, const Json& v) { return find(rows, m, Json{{key, v}}); };
  for (const std::string& m : methods)
    for (const bool after : finetuned ? std::vector<bool>{false, true} : std::vector<bool>{false}) {
      os << "\n| " << method_name(m) << (after ? "" : ", no fine-tune") << " |";
      for (const Json& v : values) os << " " << cell(point(m, v), after) << " |";
    }
  const std::string& last = methods.back();
  const auto cost_line = [&](const char* label, auto field) {
    os << "\n| " << label << " |";
    for (const Json& v : values) {
      const SweepRow* r = point(last, v);
      os << " " << (r && r->done ? field(*r) : std::string("-")) << " |";
    }
  };
  cost_line("arrays", [](const SweepRow& r) { return std::to_string(r.arrays); });
  cost_line("ADC conversions per sample", [](const SweepRow& r) { return magnitude(r.conversions); });
  cost_line("energy proxy per sample (nJ)", [](const SweepRow& r) { return fixed(r.energy * 1e9, 2); });
  os << "\n\n";
}

// Two keys (ba x k): per method and phase one matrix, the first key down, the second across.
void two_key_tables(std::ostream& os, const std::vector<const SweepRow*>& rows, const std::vector<std::string>& keys,
                    bool finetuned, const std::string& metric) {
  const std::vector<Json> down = values_of(rows, keys[0]), across = values_of(rows, keys[1]);
  const std::vector<std::string> methods = methods_of(rows);
  auto point = [&](const std::string& m, const Json& a, const Json& b) {
    return find(rows, m, Json{{keys[0], a}, {keys[1], b}});
  };
  auto header = [&](const std::string& title) {
    os << title << "\n\n| " << keys[0] << " \\ " << keys[1] << " |";
    for (const Json& b : across) os << " " << value_text(b) << " |";
    os << "\n|---|";
    for (size_t i = 0; i < across.size(); ++i) os << "---|";
  };
  for (const std::string& m : methods)
    for (const bool after : finetuned ? std::vector<bool>{false, true} : std::vector<bool>{false}) {
      header(method_name(m) + (after ? ", fine-tuned" : ", no fine-tune") + ": " + metric_title(metric));
      for (const Json& a : down) {
        os << "\n| " << value_text(a) << " |";
        for (const Json& b : across) os << " " << cell(point(m, a, b), after) << " |";
      }
      os << "\n\n";
    }
  header("energy proxy per sample (nJ, " + method_name(methods.back()) + ")");
  for (const Json& a : down) {
    os << "\n| " << value_text(a) << " |";
    for (const Json& b : across) {
      const SweepRow* r = point(methods.back(), a, b);
      os << " " << (r && r->done ? fixed(r->energy * 1e9, 2) : std::string("-")) << " |";
    }
  }
  os << "\n\n";
}

// Any number of keys: one line per point.
void point_table(std::ostream& os, const std::vector<const SweepRow*>& rows, const std::vector<std::string>& keys,
                 const std::vector<bool>& front) {
  os << "| point | method |";
  for (const auto& k : keys) os << " " << k << " |";
  os << " no fine-tune | fine-tuned | arrays | conversions | energy (nJ) | Pareto |\n|---|---|";
  for (size_t i = 0; i < keys.size(); ++i) os << "---|";
  os << "---|---|---|---|---|---|";
  for (size_t i = 0; i < rows.size(); ++i) {
    const SweepRow& r = *rows[i];
    os << "\n| " << r.point << " | " << method_name(r.method) << " |";
    for (const auto& k : keys) os << " " << (r.values.contains(k) ? value_text(r.values[k]) : "-") << " |";
    os << " " << cell(&r, false) << " | " << cell(&r, true) << " | " << r.arrays << " | " << magnitude(r.conversions)
       << " | " << fixed(r.energy * 1e9, 2) << " | " << (front[i] ? "yes" : "") << " |";
  }
  os << "\n\n";
}

}  // namespace

std::vector<bool> pareto_front(const std::vector<SweepRow>& rows) {
  std::vector<bool> front(rows.size(), false);
  for (size_t i = 0; i < rows.size(); ++i) {
    if (!rows[i].done) continue;
    const bool higher = higher_is_better(rows[i].metric);
    const double vi = rows[i].final_value();
    bool dominated = false;
    for (size_t j = 0; j < rows.size() && !dominated; ++j) {
      if (j == i || !rows[j].done || rows[j].method != rows[i].method || rows[j].metric != rows[i].metric) continue;
      const double vj = rows[j].final_value();
      const bool as_good = higher ? vj >= vi : vj <= vi;
      const bool strictly = (higher ? vj > vi : vj < vi) || rows[j].energy < rows[i].energy;
      dominated = as_good && rows[j].energy <= rows[i].energy && strictly;
    }
    front[i] = !dominated;
  }
  return front;
}

std::string sweep_markdown(const Results& results) {
  if (results.sweep.empty()) return "";
  std::vector<std::string> sweeps;
  for (const auto& r : results.sweep)
    if (std::find(sweeps.begin(), sweeps.end(), r.sweep) == sweeps.end()) sweeps.push_back(r.sweep);
  const std::vector<bool> front_all = pareto_front(results.sweep);
  std::ostringstream os;
  for (const std::string& name : sweeps) {
    std::vector<const SweepRow*> rows;
    std::vector<bool> front;
    for (size_t i = 0; i < results.sweep.size(); ++i)
      if (results.sweep[i].sweep == name) rows.push_back(&results.sweep[i]), front.push_back(front_all[i]);
    const std::vector<std::string> keys = keys_of(rows);
    int64_t steps = 0;
    for (const SweepRow* r : rows) steps = std::max(steps, r->finetune_steps);
    const std::string& metric = rows.front()->metric;
    os << "## Sweep " << name << ": " << metric_title(metric) << " on the arrays, QAT* = vanilla QAT\n\n"
       << (steps > 0 ? "Each point evaluated with the ADC inserted, then fine-tuned for " + std::to_string(steps) +
                           " steps. "
                     : "Each point evaluated with the ADC inserted (no fine-tune). ")
       << "The energy is a proxy (imc/cost.h), per sample.\n\n";
    if (keys.size() == 1) one_key_table(os, rows, keys[0], steps > 0);
    else if (keys.size() == 2) two_key_tables(os, rows, keys, steps > 0, metric);
    else point_table(os, rows, keys, front);
  }
  return os.str();
}

std::string sweep_csv(const Results& results) {
  std::vector<const SweepRow*> all;
  for (const auto& r : results.sweep) all.push_back(&r);
  const std::vector<std::string> keys = keys_of(all);
  const std::vector<bool> front = pareto_front(results.sweep);
  std::ostringstream os;
  os << "sweep,method,stage,point";
  for (const auto& k : keys) os << "," << csv_field(k);
  os << ",finetune_steps,metric,before_finetune,after_finetune,arrays,conversions_per_sample,array_macs_per_sample,"
        "digital_ops_per_sample,energy_proxy_joules_per_sample,pareto\n";
  char num[64];
  auto g = [&](double v) {
    std::snprintf(num, sizeof num, "%.9g", v);
    return std::string(num);
  };
  for (size_t i = 0; i < results.sweep.size(); ++i) {
    const SweepRow& r = results.sweep[i];
    if (!r.done) continue;
    // Stage and sweep names are letters, digits, '-' and '_'; a grid value may be any string.
    os << r.sweep << "," << r.method << "," << r.stage << "," << r.point;
    for (const auto& k : keys) os << "," << (r.values.contains(k) ? csv_field(value_text(r.values[k])) : "");
    os << "," << r.finetune_steps << "," << r.metric << "," << g(r.before) << "," << (r.after ? g(*r.after) : "")
       << "," << r.arrays << "," << g(r.conversions) << "," << g(r.array_macs) << "," << g(r.digital_ops) << ","
       << g(r.energy) << "," << (front[i] ? "true" : "false") << "\n";
  }
  return os.str();
}

}  // namespace raoq::tools
