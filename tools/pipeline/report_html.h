// tools/pipeline/report_html.h — the small HTML pieces a run report is built from
// (tools/pipeline/report.h): escaping, the Markdown tables that results.md holds, and SVG
// figures made safe to inline several to a page.
//
// What it deliberately does not do: parse general Markdown or sanitise arbitrary SVG. It handles
// what raoq itself writes (results.md tables and headings, PLplot's SVG), and escapes the rest.
#pragma once

#include <string>

namespace raoq::tools {

// Text for HTML element content and quoted attribute values: & < > " ' as character references.
std::string html_escape(const std::string& text);

// The subset of Markdown that Results::markdown() writes, as HTML: "#"/"##" headings (as <h3>),
// pipe tables (first row the header, the |---| rule dropped; cells that are numbers get
// class="num" so they align right), every other non-empty line a paragraph. All text escaped.
std::string markdown_tables_html(const std::string& markdown);

// An SVG document ready to inline: what precedes the <svg> element (the XML prolog, a DOCTYPE,
// comments) dropped, every id="X" renamed to PREFIX-X together with its references (url(#X),
// href="#X", xlink:href="#X"), since PLplot numbers its clip paths from 0 in every file and the
// ids of two figures on one page would otherwise collide (the second figure clipped by the
// first's paths), and a viewBox added from width and height when there is none so CSS can scale
// it. Returns "" when `svg` holds no <svg element.
std::string inline_svg(const std::string& svg, const std::string& prefix);

}  // namespace raoq::tools
