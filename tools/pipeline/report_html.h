// tools/pipeline/report_html.h — the small HTML pieces a run report is built from
// (tools/pipeline/report.h): escaping, the Markdown tables that results.md holds, and SVG
// figures made safe to inline several to a page.
//
// What it deliberately does not do: parse general Markdown or sanitise arbitrary SVG. It handles
// what raoq itself writes (results.md tables and headings, PLplot's and Graphviz's SVG), escapes
// the rest, and refuses to inline an SVG that could run a script or fetch anything
// (svg_unsafe_reason): the report promises neither.
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

// Why `svg` must not be inlined into a report that runs no script and fetches nothing, as a phrase
// ("holds a <script> element", "holds an event attribute (onload)", "links outside itself
// (href=\"https://...\")"); "" when it may be. Refused (case-insensitive): the elements script,
// foreignObject and those that would leave the SVG or load something (iframe, embed, object, img,
// image, meta, link, audio, video, base, form), any on* attribute, an href, xlink:href or src that
// is not a reference "#id" inside the document, a url(...) other than url(#id), @import and
// javascript: anywhere. Comments are skipped.
std::string svg_unsafe_reason(const std::string& svg);

}  // namespace raoq::tools
