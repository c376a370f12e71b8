#!/usr/bin/env bash
# tools/test.sh — the whole test run: installs what is missing, builds, runs every test
# (ctest), renders a run report in headless Chromium when it is installed, checks the folder
# dependency table, builds a consumer project against the installed library, runs each fuzz
# harness for a short smoke when clang is installed, and runs the demo's quick mode end to end.
# Non-zero on any failure.
set -euo pipefail
cd "$(dirname "$0")/.."
tools/setup.sh --demo
build=${RAOQ_BUILD_DIR:-build}
tools/build.sh "$build"
tools/check_deps.sh
ctest --test-dir "$build" --output-on-failure -j 2
# The report page of a tiny run, rendered in headless Chromium when it is installed (else a skip line).
tools/check_report.sh "$build"
# Embedding: install, then build and run a tiny project that uses find_package(raoq).
rm -rf "$build/install" "$build/consumer"
cmake --install "$build" --prefix "$build/install" >/dev/null
cmake -S tests/consumer -B "$build/consumer" -DCMAKE_PREFIX_PATH="$PWD/$build/install" -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$build/consumer" -j 2 >/dev/null
"$build/consumer/raoq_consumer"
# Fuzz smoke: every harness replays its seeds (the findings fixed so far among them) and fuzzes
# for 15 s each ($RAOQ_FUZZ_SMOKE seconds). Built at -O0 in its own folder, which takes half the
# time of tools/fuzz.sh's -O1 build.
if tools/fuzz.sh --available; then
  RAOQ_FUZZ_BUILD_DIR="$build-fuzz-smoke" RAOQ_FUZZ_OPT=-O0 tools/fuzz.sh "${RAOQ_FUZZ_SMOKE:-15}"
else
  echo "tools/test.sh: no clang with libFuzzer here: fuzz smoke skipped (tools/setup.sh --fuzz installs it)"
fi
if [[ -x tools/demo.sh && -x "$build/tools/raoq" ]]; then
  RAOQ_BUILD_DIR="$build" tools/demo.sh --quick
fi
echo "tools/test.sh: all passed"
