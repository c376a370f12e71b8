#!/usr/bin/env bash
# tools/test.sh — the whole test run: installs what is missing, builds, runs every test
# (ctest), checks the folder dependency table, builds a consumer project against the
# installed library, and runs the demo's quick mode end to end. Non-zero on any failure.
set -euo pipefail
cd "$(dirname "$0")/.."
tools/setup.sh --demo
build=${RAOQ_BUILD_DIR:-build}
tools/build.sh "$build"
tools/check_deps.sh
ctest --test-dir "$build" --output-on-failure -j 2
# Embedding: install, then build and run a tiny project that uses find_package(raoq).
rm -rf "$build/install" "$build/consumer"
cmake --install "$build" --prefix "$build/install" >/dev/null
cmake -S tests/consumer -B "$build/consumer" -DCMAKE_PREFIX_PATH="$PWD/$build/install" -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$build/consumer" -j 2 >/dev/null
"$build/consumer/raoq_consumer"
if [[ -x tools/demo.sh && -x "$build/tools/raoq" ]]; then
  RAOQ_BUILD_DIR="$build" tools/demo.sh --quick
fi
echo "tools/test.sh: all passed"
