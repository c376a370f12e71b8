#!/usr/bin/env bash
# tools/build.sh [BUILD_DIR] [cmake args...] — configures (Release, -march=native) and builds raoq.
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build}
shift || true
gen=()
command -v ninja >/dev/null && gen=(-G Ninja)
if [[ ! -f "$build/CMakeCache.txt" ]]; then
  cmake -S . -B "$build" "${gen[@]}" -DCMAKE_BUILD_TYPE=Release "$@"
elif (($#)); then
  cmake -S . -B "$build" "$@"
fi
cmake --build "$build" -j "$(nproc)"
