#!/usr/bin/env bash
# tools/check_report.sh [BUILD_DIR] | --page FILE.html — opens the `raoq report` page of a tiny
# run in headless Chromium, as a reader would from disk, and fails on any console message (a
# script error, a console.error: the page has no scripts, so any message is a defect), on a page
# that renders blank (its screenshot compresses almost as well as an empty page's, or the DOM lacks
# the sections), or on a tag or URL that would fetch something (offline, a failed fetch logs
# nothing). Before that it proves its detection on two bad pages, one with script errors and one
# whose text is invisible, so a Chromium that stops logging cannot make the check pass silently.
# Runs as root (--no-sandbox), every Chromium call under a timeout ($RAOQ_CHROMIUM_TIMEOUT, 90 s);
# prints a skip message when Chromium is not installed. RAOQ_REPORT_KEEP=DIR keeps the run, page
# and screenshots. --page FILE.html checks a page already written (a real run's report) instead.
set -euo pipefail
page=""
if [[ ${1:-} == --page ]]; then
  [[ -f ${2:-} ]] || { echo "tools/check_report.sh: --page needs an HTML file (got '${2:-}')" >&2; exit 1; }
  page=$(realpath "$2")
  shift 2
fi
cd "$(dirname "$0")/.."
build=${1:-${RAOQ_BUILD_DIR:-build}}
raoq=$(realpath -m "$build/tools/raoq")  # BUILD_DIR relative to the repository, or absolute
browser=$(command -v chromium || command -v chromium-browser || true)
if [[ -z $browser ]]; then
  echo "tools/check_report.sh: chromium not installed: the report rendering check is skipped (apt-get install chromium)"
  exit 0
fi
[[ -n $page || -x $raoq ]] || { echo "tools/check_report.sh: $raoq not built (run tools/build.sh $build)" >&2; exit 1; }
work=$(mktemp -d "${TMPDIR:-/tmp}/raoq_check_report.XXXXXX")
trap 'rm -rf "$work"' EXIT
limit=${RAOQ_CHROMIUM_TIMEOUT:-90}
fail() { echo "tools/check_report.sh: $*" >&2; exit 1; }

# chromium ARGS...: one headless run with its own profile (a second Chromium on the machine would
# otherwise take the page over), logging to stderr, killed after $limit seconds.
chromium_run() {
  timeout -k 5 "$limit" "$browser" --headless --no-sandbox --disable-gpu --hide-scrollbars --no-first-run \
    --user-data-dir="$work/profile" --enable-logging=stderr --v=0 "$@"
}

# render PAGE OUT: OUT.dom (the DOM after loading), OUT.png (1280 x 2400 screenshot), OUT.log.
render() {
  chromium_run --dump-dom "file://$1" >"$2.dom" 2>"$2.log" || fail "chromium --dump-dom $1 failed or ran past ${limit} s"
  chromium_run --window-size=1280,2400 --screenshot="$2.png" "file://$1" >/dev/null 2>>"$2.log" ||
    fail "chromium --screenshot $1 failed or ran past ${limit} s"
  [[ -s $2.png ]] || fail "chromium wrote no screenshot of $1"
}

# problems OUT: one line per defect of a rendered page (nothing when it is fine). Console lines
# look like `[pid:tid:time:INFO:CONSOLE:12] "Uncaught ReferenceError: ...", source: file:///... (12)`.
problems() {
  grep -h ':CONSOLE' "$1.log" | sed 's/^[^]]*] /console: /' || true
  local size blank
  size=$(stat -c %s "$1.png")
  blank=$(stat -c %s "$work/blank.png")
  # A uniform screenshot deflates to almost nothing; text and figures cost several times more.
  ((size > 3 * blank)) || echo "blank: the screenshot is $size bytes, an empty page's $blank"
}

# The yardstick: an empty page at the same size.
printf '<!DOCTYPE html>\n<html><head><meta charset="utf-8"><title>blank</title></head><body></body></html>\n' >"$work/empty.html"
render "$work/empty.html" "$work/blank"

# The detection on pages that must fail: a script error and a console.error; text drawn white on white.
cat >"$work/broken.html" <<'HTML'
<!DOCTYPE html><html><head><meta charset="utf-8"><title>broken</title></head>
<body><h1>Results</h1><script>undefined_function();</script><script>console.error("deliberate");</script></body></html>
HTML
render "$work/broken.html" "$work/broken"
found=$(problems "$work/broken")
if ! grep -q 'console: "Uncaught ReferenceError: undefined_function is not defined"' <<<"$found" ||
  ! grep -q 'console: "deliberate"' <<<"$found"; then
  fail "the console check missed the broken page's errors (Chromium's log format changed?): $(tail -5 "$work/broken.log")"
fi
printf '<!DOCTYPE html><html><body style="color:#fff"><h1>Results</h1><p>%s</p></body></html>\n' \
  "$(printf 'invisible text %.0s' {1..200})" >"$work/white.html"
render "$work/white.html" "$work/white"
problems "$work/white" | grep -q '^blank:' || fail "the blank check missed a page of white text"

if [[ -z $page ]]; then
  # A tiny run: 8x8 synthetic IDX images of 4 classes, fp -> qat -> adc, inspect's figures in the run.
  data="$work/data"
  mkdir -p "$data"
  # idx FILE COUNT IMAGES(0/1): the big-endian header, then the bytes (printf formats built from
  # octal escapes, since bash's printf is the portable way to write a byte).
  idx() {
    local n=$3 count=$2
    {
      if ((n)); then printf '\0\0\010\003'; else printf '\0\0\010\001'; fi
      printf "\\$(printf %03o $((count >> 24 & 255)))\\$(printf %03o $((count >> 16 & 255)))"
      printf "\\$(printf %03o $((count >> 8 & 255)))\\$(printf %03o $((count & 255)))"
      if ((n)); then printf '\0\0\0\010\0\0\0\010'; head -c $((count * 64)) /dev/urandom
      else for ((i = 0; i < count; i++)); do printf "\\$(printf %03o $((i % 4)))"; done; fi
    } >"$data/$1"
  }
  idx train-images-idx3-ubyte 64 1; idx train-labels-idx1-ubyte 64 0
  idx t10k-images-idx3-ubyte 32 1; idx t10k-labels-idx1-ubyte 32 0
  cat >"$work/check.json" <<JSON
  {"name": "check <report> & 'escaping'", "seed": 1,
   "data": {"kind": "idx", "root": "$data", "normalize": {"mean": [0.5], "std": [0.3]}},
   "model": {"name": "cnn-small", "width": 2},
   "stages": [
     {"name": "fp", "epochs": 2, "batch_size": 16, "optimizer": {"name": "sgd", "lr": 0.05}},
     {"name": "qat", "kind": "qat", "epochs": 1, "batch_size": 16, "optimizer": {"name": "sgd", "lr": 0.01}},
     {"name": "qat_v", "kind": "qat", "epochs": 1, "batch_size": 16, "optimizer": {"name": "sgd", "lr": 0.01},
      "ashift": false, "init_from": "fp"},
     {"name": "adc", "kind": "adc", "methods": ["vanilla", "raoq"], "epochs": 1, "batch_size": 16,
      "init_from": {"vanilla": "qat_v", "raoq": "qat"}, "optimizer": {"name": "sgd", "lr": 0.004},
      "adc": {"ba": [6, 8], "rows": 16}}],
   "log": {"every_steps": 1}}
JSON
  run="$work/run"
  "$raoq" train "$work/check.json" --out "$run" --threads 1 >"$work/train.log" 2>&1 || { cat "$work/train.log"; fail "raoq train failed"; }
  "$raoq" inspect "$run" --png "$run/figs" --examples 16 --threads 1 >"$work/inspect.log" 2>&1 ||
    { cat "$work/inspect.log"; fail "raoq inspect failed"; }
  said=$("$raoq" report "$run") || fail "raoq report failed"
  svg_files=$(ls "$run"/*.svg "$run"/figs/*.svg | wc -l)
  [[ $said == *"($svg_files figures)" ]] || fail "raoq report shows other figures than the run's $svg_files SVG files: $said"
  page="$run/report.html"
fi
figures=$(grep -o '<figure>' "$page" | wc -l)
render "$page" "$work/report"
found=$(problems "$work/report")
# Offline, a fetch fails without a console line: refuse anything the page would fetch (the only
# URLs allowed are XML namespace names, which nothing fetches).
fetches=$(grep -oE '<(script|link|iframe|img|object|embed)\b|(src|href)=["'"'"']?(https?:)?//|url\(["'"'"']?https?:|@import' "$page" |
  sort | uniq -c || true)
[[ -z $fetches ]] || found+=$'\n'"fetches: the page refers to outside resources: $(tr -s ' \n' ' ' <<<"$fetches")"
dom="$work/report.dom"
sections=(results environment config)
((figures == 0)) || sections+=(figures)
for section in "${sections[@]}"; do
  grep -q "id=\"$section\"" "$dom" || found+=$'\n'"blank: the rendered DOM has no section '$section'"
done
svgs=$(grep -o '<svg' "$dom" | wc -l)
((svgs == figures)) || found+=$'\n'"the rendered DOM holds $svgs SVG figures, the report $figures"
grep -q '<h1>raoq report: ' "$dom" || found+=$'\n'"blank: the rendered DOM has no title"
[[ $page != "$work/run/report.html" ]] || grep -q '<h1>raoq report: check &lt;report&gt; &amp;' "$dom" ||
  found+=$'\n'"the run's name is not in the rendered page, escaped"
if [[ -n ${RAOQ_REPORT_KEEP:-} ]]; then
  mkdir -p "$RAOQ_REPORT_KEEP" && cp -r "$work"/*.png "$work"/*.log "$RAOQ_REPORT_KEEP"/
  if [[ -d $work/run ]]; then cp -r "$work/run" "$work/data" "$RAOQ_REPORT_KEEP"/; fi
fi
found=$(sed '/^$/d' <<<"$found")
[[ -z $found ]] || fail "$page renders with problems:"$'\n'"$found"
echo "tools/check_report.sh: the report renders in $("$browser" --version 2>/dev/null | head -1): $figures figures," \
  "no console message, screenshot $(stat -c %s "$work/report.png") bytes (an empty page: $(stat -c %s "$work/blank.png"))"
