// tools/pipeline/report_html.cpp — escaping, results.md tables as HTML, SVGs to inline (report_html.h).
#include "tools/pipeline/report_html.h"

#include <cstdlib>
#include <sstream>
#include <vector>

namespace raoq::tools {
namespace {

std::string trim(const std::string& s) {
  const size_t a = s.find_first_not_of(" \t\r");
  if (a == std::string::npos) return "";
  return s.substr(a, s.find_last_not_of(" \t\r") - a + 1);
}

// "| a | b |" -> {"a", "b"}.
std::vector<std::string> cells_of(const std::string& line) {
  std::vector<std::string> cells;
  std::string body = trim(line);
  if (!body.empty() && body.front() == '|') body.erase(0, 1);
  if (!body.empty() && body.back() == '|') body.pop_back();
  size_t at = 0;
  while (true) {
    const size_t bar = body.find('|', at);
    cells.push_back(trim(body.substr(at, bar == std::string::npos ? std::string::npos : bar - at)));
    if (bar == std::string::npos) break;
    at = bar + 1;
  }
  return cells;
}

bool is_rule(const std::string& line) { return trim(line).find_first_not_of("|-: ") == std::string::npos; }

bool is_number(const std::string& s) {
  if (s.empty()) return false;
  char* end = nullptr;
  std::strtod(s.c_str(), &end);
  return end == s.c_str() + s.size();
}

void write_table(std::ostringstream& os, const std::vector<std::string>& lines) {
  os << "<table>\n<thead><tr>";
  for (const auto& c : cells_of(lines[0])) os << "<th>" << html_escape(c) << "</th>";
  os << "</tr></thead>\n<tbody>\n";
  for (size_t i = 1; i < lines.size(); ++i) {
    if (is_rule(lines[i])) continue;
    os << "<tr>";
    for (const auto& c : cells_of(lines[i]))
      os << (is_number(c) ? "<td class=\"num\">" : "<td>") << html_escape(c) << "</td>";
    os << "</tr>\n";
  }
  os << "</tbody>\n</table>\n";
}

// The value of attribute `name` in the start tag `tag` ("" when absent).
std::string attribute(const std::string& tag, const std::string& name) {
  for (size_t at = tag.find(name + "="); at != std::string::npos; at = tag.find(name + "=", at + 1)) {
    if (at > 0 && tag[at - 1] != ' ' && tag[at - 1] != '\n' && tag[at - 1] != '\t') continue;  // "viewBox" vs "box"
    const size_t q = at + name.size() + 1;
    if (q >= tag.size() || (tag[q] != '"' && tag[q] != '\'')) return "";
    const size_t end = tag.find(tag[q], q + 1);
    return end == std::string::npos ? "" : tag.substr(q + 1, end - q - 1);
  }
  return "";
}

// Replaces every occurrence of `from` followed by an identifier with `from` PREFIX- identifier.
std::string prefix_after(const std::string& text, const std::string& from, const std::string& prefix) {
  std::string out;
  out.reserve(text.size() + text.size() / 16);
  size_t at = 0;
  while (true) {
    const size_t hit = text.find(from, at);
    if (hit == std::string::npos) break;
    out.append(text, at, hit - at).append(from).append(prefix).append("-");
    at = hit + from.size();
  }
  return out.append(text, at, std::string::npos);
}

}  // namespace

std::string html_escape(const std::string& text) {
  std::string out;
  out.reserve(text.size());
  for (char c : text) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      case '\'': out += "&#39;"; break;
      default: out += c;
    }
  }
  return out;
}

std::string markdown_tables_html(const std::string& markdown) {
  std::ostringstream os;
  std::istringstream in(markdown);
  std::vector<std::string> table;
  std::string line;
  const auto flush = [&] {
    if (!table.empty()) write_table(os, table);
    table.clear();
  };
  while (std::getline(in, line)) {
    const std::string t = trim(line);
    if (!t.empty() && t.front() == '|') {
      table.push_back(t);
      continue;
    }
    flush();
    if (t.empty()) continue;
    if (t.front() == '#')
      os << "<h3>" << html_escape(trim(t.substr(t.find_first_not_of('#')))) << "</h3>\n";
    else
      os << "<p>" << html_escape(t) << "</p>\n";
  }
  flush();
  return os.str();
}

std::string inline_svg(const std::string& svg, const std::string& prefix) {
  const size_t start = svg.find("<svg");
  if (start == std::string::npos) return "";
  std::string body = svg.substr(start);
  while (!body.empty() && (body.back() == '\n' || body.back() == '\r' || body.back() == ' ')) body.pop_back();
  // Ids and the three ways PLplot's and cairo's SVGs refer to them.
  body = prefix_after(body, " id=\"", prefix);
  body = prefix_after(body, "url(#", prefix);
  body = prefix_after(body, "href=\"#", prefix);  // also xlink:href="#
  const size_t tag_end = body.find('>');
  if (tag_end == std::string::npos) return "";
  const std::string tag = body.substr(0, tag_end);
  if (attribute(tag, "viewBox").empty()) {
    const double w = std::strtod(attribute(tag, "width").c_str(), nullptr);
    const double h = std::strtod(attribute(tag, "height").c_str(), nullptr);
    if (w > 0 && h > 0) {
      std::ostringstream vb;
      vb << " viewBox=\"0 0 " << w << " " << h << "\"";
      body.insert(4, vb.str());
    }
  }
  return body + "\n";
}

}  // namespace raoq::tools
