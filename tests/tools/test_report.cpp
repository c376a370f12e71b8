// tests/tools/test_report.cpp — `raoq report`: the HTML pieces (escaping, results.md tables,
// SVGs made safe to inline), and the page of a tiny finished fp -> qat -> adc run checked for
// its sections, its figures, no resource fetched from a network, and escaped text.
#include <catch2/catch.hpp>

#include <filesystem>
#include <fstream>
#include <regex>
#include <set>
#include <sstream>

#include "tests/tools/tools_testing.h"
#include "tools/cmd_inspect.h"
#include "tools/cmd_report.h"
#include "tools/pipeline/report.h"
#include "tools/pipeline/report_html.h"

using namespace raoq;
using namespace raoq::tools;
namespace fs = std::filesystem;

namespace {

size_t count(const std::string& text, const std::string& what) {
  size_t n = 0;
  for (size_t at = text.find(what); at != std::string::npos; at = text.find(what, at + 1)) ++n;
  return n;
}

// A run with a name that needs escaping, an fp, a qat and one adc stage (so it has a results figure).
Json report_config() {
  Json c = Json::parse(R"({
    "name": "tiny <b>&'\"", "seed": 3,
    "data": {"kind": "idx", "normalize": {"mean": [0.4], "std": [0.3]}},
    "model": {"name": "cnn-small", "width": 2},
    "stages": [
      {"name": "fp", "epochs": 1, "batch_size": 16, "optimizer": {"name": "sgd", "lr": 0.05}},
      {"name": "qat", "kind": "qat", "epochs": 1, "batch_size": 16, "optimizer": {"name": "sgd", "lr": 0.01}},
      {"name": "adc", "kind": "adc", "methods": ["raoq"], "epochs": 1, "batch_size": 16,
       "optimizer": {"name": "sgd", "lr": 0.004}, "adc": {"ba": 6, "rows": 16}}
    ],
    "log": {"every_steps": 1}
  })");
  c["data"]["root"] = testing::synthetic_idx_dir("raoq_report_idx_", 64, 32, 8, 4, 5);
  return c;
}

}  // namespace

TEST_CASE("report: escaping, Markdown tables and inlined SVG", "[tools]") {
  CHECK(html_escape("a<b>&\"c'") == "a&lt;b&gt;&amp;&quot;c&#39;");
  const std::string t = markdown_tables_html("## Table <1>\n\n| m | v |\n|---|---|\n| r&q | 92.41 |\nnote\n");
  CHECK(t ==
        "<h3>Table &lt;1&gt;</h3>\n<table>\n<thead><tr><th>m</th><th>v</th></tr></thead>\n<tbody>\n"
        "<tr><td>r&amp;q</td><td class=\"num\">92.41</td></tr>\n</tbody>\n</table>\n<p>note</p>\n");
  const std::string svg =
      "<?xml version=\"1.0\" standalone=\"no\"?>\n<!DOCTYPE svg PUBLIC \"-//W3C//DTD SVG 1.1//EN\" "
      "\"http://www.w3.org/Graphics/SVG/1.1/DTD/svg11.dtd\">\n<svg width=\"400\" height=\"300\" "
      "xmlns=\"http://www.w3.org/2000/svg\"><clipPath id=\"c0\"/><g clip-path=\"url(#c0)\"/><use href=\"#c0\"/></svg>\n";
  CHECK(inline_svg(svg, "f2") ==
        "<svg viewBox=\"0 0 400 300\" width=\"400\" height=\"300\" xmlns=\"http://www.w3.org/2000/svg\"><clipPath "
        "id=\"f2-c0\"/><g clip-path=\"url(#f2-c0)\"/><use href=\"#f2-c0\"/></svg>\n");
  CHECK(inline_svg("no figure", "f1").empty());
}

TEST_CASE("report: an SVG that could run a script or fetch anything is left out, with a note", "[tools]") {
  const std::string ok = "<svg width=\"4\" height=\"3\" xmlns=\"http://www.w3.org/2000/svg\" "
                         "xmlns:xlink=\"http://www.w3.org/1999/xlink\"><!-- <foreignObject> in a comment --><clipPath "
                         "id=\"c0\"/><g clip-path=\"url(#c0)\"><use xlink:href=\"#c0\"/><text>on=1 &lt;b&gt;</text></g></svg>\n";
  CHECK(svg_unsafe_reason(ok).empty());
  const std::vector<std::pair<std::string, std::string>> bad = {
      {"<svg><script>alert(1)</script></svg>", "holds a <script> element"},
      {"<svg><SCRIPT type='text/javascript'>x</SCRIPT></svg>", "holds a <script> element"},
      {"<svg><foreignObject><p>x</p></foreignObject></svg>", "holds a <foreignobject> element"},
      {"<svg onload=\"alert(1)\"></svg>", "holds an event attribute (onload)"},
      {"<svg><rect width=\"1\" ONCLICK='x()'/></svg>", "holds an event attribute (onclick)"},
      {"<svg><use href=\"https://example.com/a.svg#x\"/></svg>", "links outside itself (href=\"https://example.com"},
      {"<svg><a xlink:href=\"http://example.com\">x</a></svg>", "links outside itself (xlink:href="},
      {"<svg><use href=\" //example.com/a.svg\"/></svg>", "links outside itself (href="},
      {"<svg><use href=\"file:///etc/passwd\"/></svg>", "links outside itself (href="},
      {"<svg><img src=\"x.png\"/></svg>", "holds a <img> element"},
      {"<svg><rect style=\"fill: url(http://example.com/p)\"/></svg>", "a url(...) not of the form url(#id)"},
      {"<svg><style>@import 'https://example.com/s.css';</style></svg>", "holds a style sheet @import"},
  };
  for (const auto& [svg, why] : bad) {
    INFO(svg);
    CHECK_THAT(svg_unsafe_reason(svg), Catch::Contains(why));
  }

  // In a report: the safe figure is inlined, the malicious one (e.g. a step dump's graph.svg that
  // someone edited) is named in a note and none of it reaches the page.
  const std::string out = testing::make_temp_dir("raoq_report_svg_");
  std::ofstream(out + "/config.json") << R"({"name": "svgs"})";
  fs::create_directories(out + "/dump");
  std::ofstream(out + "/dump/graph.svg") << "<svg width=\"4\" height=\"3\" onload=\"fetch('https://example.com')\">"
                                            "<script>alert(1)</script></svg>\n";
  fs::create_directories(out + "/more");
  std::ofstream(out + "/more/fine.svg") << ok;
  std::ofstream(out + "/more/evil.svg") << "<svg width=\"4\" height=\"3\"><image href=\"https://example.com/x.png\"/></svg>";
  int figures = -1;
  const std::string html = report_html(out, {{out + "/more"}}, &figures);
  CHECK(figures == 1);
  CHECK(count(html, "<svg") == 1);
  CHECK_THAT(html, Catch::Contains("<p class=\"note\">Figure left out: " + out + "/dump/graph.svg holds an event attribute (onload)"));
  CHECK_THAT(html, Catch::Contains("Figure left out: " + out + "/more/evil.svg holds a &lt;image&gt; element"));
  for (const char* never : {"<script", "onload=", "<image", "example.com/x.png"}) {
    INFO(never);
    CHECK(count(html, never) == 0);
  }
  fs::remove_all(out);
}

TEST_CASE("report: a finished run's page has its sections and figures, fetches nothing, escapes text", "[tools]") {
  const std::string out = testing::make_temp_dir("raoq_report_run_");
  testing::train_run(out, report_config(), "tiny", false);
  // inspect's figures in a folder of the run are shown too.
  std::ostringstream text;
  REQUIRE(inspect_command({out, out + "/figs", 16, 1, false, ""}, text) == 0);
  int inspect_svgs = 0;
  for (const auto& e : fs::directory_iterator(out + "/figs")) inspect_svgs += e.path().extension() == ".svg";
  REQUIRE(inspect_svgs >= 3);  // sqnr, and per array layer its ADC inputs and weight codes

  std::ostringstream said;
  REQUIRE(report_command({out, "", {}}, said) == 0);
  const int expected = 2 + inspect_svgs;  // training curves, results figure (no sweep: no Pareto figure)
  CHECK(said.str() == "wrote " + out + "/report.html (" + std::to_string(expected) + " figures)\n");
  const std::string html = testing::read_text(out + "/report.html");
  INFO(html.substr(0, 3000));
  REQUIRE(html.rfind("<!DOCTYPE html>", 0) == 0);
  for (const char* section : {"id=\"results\"", "id=\"figures\"", "id=\"environment\"", "id=\"config\""})
    CHECK(count(html, section) == 1);
  CHECK_THAT(html, Catch::Contains("<h3>Table 1: test accuracy (%), QAT* = vanilla QAT</h3>"));
  CHECK_THAT(html, Catch::Contains("<th>method</th><th>ADC bits</th><th>metric</th><th>value</th>"));
  CHECK_THAT(html, Catch::Contains("<h3>Wall time per stage</h3>"));
  CHECK_THAT(html, Catch::Contains("<th>CPU model</th>"));
  CHECK(count(html, "<svg") == static_cast<size_t>(expected));
  CHECK(count(html, "</svg>") == static_cast<size_t>(expected));
  CHECK(count(html, "<figure>") == static_cast<size_t>(expected));
  // Nothing the page would fetch: no scripts, links, sources; the only URLs are XML namespaces.
  for (const char* never : {"<script", "<link", "src=", "<?xml", "<!DOCTYPE svg", "@import", "url(http"})
    CHECK(count(html, never) == 0);
  const std::regex url("(https?://)");
  for (auto it = std::sregex_iterator(html.begin(), html.end(), url); it != std::sregex_iterator(); ++it) {
    const std::string before = html.substr(static_cast<size_t>(std::max<long>(0, it->position() - 16)),
                                           std::min<long>(16, it->position()));
    INFO("a URL after '" << before << "'");
    CHECK(std::regex_search(before, std::regex("xmlns(:[a-z]+)?=\"$")));
  }
  // Each id once in the page, though every PLplot SVG numbers its own from 0.
  std::set<std::string> ids;
  const std::regex id(" id=\"([^\"]+)\"");
  for (auto it = std::sregex_iterator(html.begin(), html.end(), id); it != std::sregex_iterator(); ++it) {
    INFO((*it)[1].str());
    CHECK(ids.insert((*it)[1].str()).second);
  }
  // The run's name escaped in the title and the config; raw nowhere.
  CHECK_THAT(html, Catch::Contains("<title>raoq report: tiny &lt;b&gt;&amp;&#39;&quot; (cnn-small)</title>"));
  CHECK_THAT(html, Catch::Contains("&quot;name&quot;: &quot;tiny &lt;b&gt;&amp;&#39;\\&quot;&quot;"));
  CHECK(count(html, "<b>") == 0);
  // This run recorded its environment.
  CHECK(count(html, "not recorded") == 0);

  // A run from before the environment was recorded, and without its SVG files: the curves and the
  // results figure are drawn again, the environment says "not recorded", --out puts the page elsewhere.
  Json results = Json::parse(testing::read_text(out + "/results.json"));
  REQUIRE(results.contains("environment"));
  results.erase("environment");
  std::ofstream(out + "/results.json") << results.dump(2);
  fs::remove(out + "/training_curves.svg");
  fs::remove(out + "/results.svg");
  fs::remove_all(out + "/figs");
  const std::string other = out + "/elsewhere.html";
  std::ostringstream said2;
  REQUIRE(report_command({out, other, {}}, said2) == 0);
  const std::string old = testing::read_text(other);
  CHECK(count(old, "<svg") == 2);
  CHECK_THAT(old, Catch::Contains("<th>CPU model</th><td class=\"absent\">not recorded</td>"));
  CHECK(!fs::exists(out + "/training_curves.svg"));  // drawn for the page only

  // No figures at all (no metrics, no results): the section is left out, the page still stands.
  fs::remove(out + "/metrics.jsonl");
  fs::remove(out + "/results.json");
  fs::remove(out + "/results.png");
  int figures = -1;
  const std::string bare = report_html(out, {}, &figures);
  CHECK(figures == 0);
  CHECK(count(bare, "id=\"figures\"") == 0);
  CHECK_THAT(bare, Catch::Contains("No results.json"));
  CHECK_THROWS_WITH(report_html(out + "/nothing"),
                    Catch::Equals("report: '" + out + "/nothing' is not a run directory (no config.json); pass the "
                                  "folder raoq train wrote"));
  fs::remove_all(out);
}
