// tools/pipeline/report_html.cpp — escaping, results.md tables as HTML, SVGs to inline (report_html.h).
#include "tools/pipeline/report_html.h"

#include <algorithm>
#include <cctype>
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

namespace {
std::string lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

bool starts(const std::string& s, const char* head) { return s.rfind(head, 0) == 0; }

// Why one start tag (the text between '<' and '>', lower case) may not be inlined; "" when it may.
std::string unsafe_tag(const std::string& tag) {
  size_t at = 0;
  while (at < tag.size() && (std::isalnum(static_cast<unsigned char>(tag[at])) || tag[at] == ':' || tag[at] == '-')) ++at;
  const std::string element = tag.substr(0, at);
  // script and foreignObject run or embed HTML; the others are HTML elements that would end the
  // <svg> in the HTML parser (or load something by themselves).
  for (const char* e : {"script", "foreignobject", "iframe", "embed", "object", "img", "image", "meta", "link", "audio",
                        "video", "base", "form"})
    if (element == e) return "holds a <" + element + "> element";
  while (at < tag.size()) {  // the attributes: name[ = "value"]
    while (at < tag.size() && (std::isspace(static_cast<unsigned char>(tag[at])) || tag[at] == '/')) ++at;
    const size_t name_at = at;
    while (at < tag.size() && !std::isspace(static_cast<unsigned char>(tag[at])) && tag[at] != '=' && tag[at] != '/') ++at;
    const std::string name = tag.substr(name_at, at - name_at);
    while (at < tag.size() && std::isspace(static_cast<unsigned char>(tag[at]))) ++at;
    std::string value;
    if (at < tag.size() && tag[at] == '=') {
      ++at;
      while (at < tag.size() && std::isspace(static_cast<unsigned char>(tag[at]))) ++at;
      if (at < tag.size() && (tag[at] == '"' || tag[at] == '\'')) {
        const size_t end = tag.find(tag[at], at + 1);
        value = tag.substr(at + 1, end == std::string::npos ? std::string::npos : end - at - 1);
        at = end == std::string::npos ? tag.size() : end + 1;
      } else {
        const size_t v = at;
        while (at < tag.size() && !std::isspace(static_cast<unsigned char>(tag[at]))) ++at;
        value = tag.substr(v, at - v);
      }
    }
    if (name.empty()) {
      if (at < tag.size()) ++at;  // a stray character: step over it
      continue;
    }
    if (starts(name, "on")) return "holds an event attribute (" + name + ")";
    const bool link = name == "href" || name == "src" || (name.size() > 5 && name.compare(name.size() - 5, 5, ":href") == 0);
    const std::string v = value.substr(std::min(value.size(), value.find_first_not_of(" \t\r\n")));
    if (link && !v.empty() && v[0] != '#') return "links outside itself (" + name + "=\"" + value.substr(0, 40) + "\")";
  }
  return "";
}
}  // namespace

std::string svg_unsafe_reason(const std::string& svg) {
  const std::string s = lower(svg);
  for (size_t at = s.find('<'); at != std::string::npos; at = s.find('<', at + 1)) {
    if (s.compare(at, 4, "<!--") == 0) {  // a comment: skipped whole
      const size_t end = s.find("-->", at + 4);
      if (end == std::string::npos) break;
      at = end + 2;
      continue;
    }
    size_t end = at + 1;  // the tag's '>', outside quoted values
    for (char quote = 0; end < s.size() && (quote || s[end] != '>'); ++end)
      if (quote ? s[end] == quote : (s[end] == '"' || s[end] == '\'')) quote = quote ? 0 : s[end];
    const std::string tag = s.substr(at + 1, end - at - 1);
    if (!tag.empty() && tag[0] != '/' && tag[0] != '!' && tag[0] != '?')
      if (std::string why = unsafe_tag(tag); !why.empty()) return why;
  }
  // Style sheets (a <style> element or a style attribute) load through url(...) and @import.
  for (size_t at = s.find("url("); at != std::string::npos; at = s.find("url(", at + 4)) {
    const size_t v = s.find_first_not_of(" \t\r\n'\"", at + 4);
    if (v == std::string::npos || s[v] != '#') return "links outside itself (a url(...) not of the form url(#id))";
  }
  if (s.find("@import") != std::string::npos) return "holds a style sheet @import";
  if (s.find("javascript:") != std::string::npos) return "holds a javascript: URL";
  return "";
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
