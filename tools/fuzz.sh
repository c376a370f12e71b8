#!/usr/bin/env bash
# tools/fuzz.sh [SECONDS [NAME...]] — builds the libFuzzer harnesses of tests/fuzz/ with clang, ASan and UBSan
# (in build-fuzz/, or $RAOQ_FUZZ_BUILD_DIR; the fuzzed sources at $RAOQ_FUZZ_OPT, default -O1, which
# a new build folder takes) and runs each for SECONDS (default 60) on a working copy of its seed
# corpus, tests/fuzz/corpus/<name>/ (new inputs go to the build folder, never into the repository);
# NAMEs (e.g. checkpoint config) run only those harnesses. Prints the executions per second of
# each harness. A finding fails its harness (the others still run) and the status is non-zero: the
# input is kept in BUILD/findings/<name>/; replay it with BUILD/tests/fuzz/fuzz_<name> FILE.
#   tools/fuzz.sh --available   status 0 when clang++ can build the harnesses here (libFuzzer and
#                               OpenMP for clang: Debian's clang, libclang-rt-dev, libomp-dev;
#                               tools/setup.sh --fuzz installs them)
set -euo pipefail
cd "$(dirname "$0")/.."
clang=${RAOQ_FUZZ_CXX:-$(command -v clang++ || true)}
if [[ ${1:-} == --available ]]; then
  [[ -n $clang ]] || exit 1
  probe=$(mktemp -d)
  trap 'rm -rf "$probe"' EXIT
  echo 'extern "C" int LLVMFuzzerTestOneInput(const unsigned char*, unsigned long) { return 0; }' >"$probe/p.cpp"
  "$clang" -fsanitize=fuzzer,address,undefined -fopenmp "$probe/p.cpp" -o "$probe/p" >/dev/null 2>&1
  exit $?
fi
seconds=${1:-60}
[[ $seconds =~ ^[1-9][0-9]*$ ]] || { echo "fuzz: SECONDS must be a positive whole number (got '$seconds')" >&2; exit 2; }
shift || true
names=("$@")
for name in "${names[@]}"; do
  [[ -d tests/fuzz/corpus/$name ]] || { echo "fuzz: no harness '$name' (tests/fuzz/corpus/ names them)" >&2; exit 2; }
done
[[ -n $clang ]] || { echo "fuzz: clang++ not found (tools/setup.sh --fuzz installs it)" >&2; exit 2; }
build=${RAOQ_FUZZ_BUILD_DIR:-build-fuzz}
# The libraries the harnesses only link build at -O0 without instrumentation (CMakeLists.txt).
if [[ ! -f $build/CMakeCache.txt ]]; then
  gen=()
  command -v ninja >/dev/null && gen=(-G Ninja)
  cmake -S . -B "$build" "${gen[@]}" -DCMAKE_CXX_COMPILER="$clang" -DCMAKE_BUILD_TYPE=Debug -DCMAKE_CXX_FLAGS_DEBUG=-O0 \
    -DRAOQ_FUZZ=ON -DRAOQ_FUZZ_OPT="${RAOQ_FUZZ_OPT:--O1}" -DRAOQ_BUILD_TESTS=OFF -DRAOQ_BUILD_TOOLS=OFF >/dev/null
fi
cmake --build "$build" -j 2 >/dev/null
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
status=0
for seeds in tests/fuzz/corpus/*/; do
  name=$(basename "$seeds")
  [[ ${#names[@]} -eq 0 || " ${names[*]} " == *" $name "* ]] || continue
  harness=$build/tests/fuzz/fuzz_$name
  work=$build/corpus/$name
  findings=$build/findings/$name
  mkdir -p "$work" "$findings"
  log=$build/findings/$name.log
  # -timeout: one input taking 10 s is a finding (a hang); -rss_limit_mb: so is 2 GB of memory.
  if "$harness" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
      -artifact_prefix="$findings/" "$work" "$seeds" >"$log" 2>&1; then
    runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")
    rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log")
    printf 'fuzz: %-15s %8s runs in %ss, %6s exec/s, corpus %s inputs\n' "$name" "$runs" "$seconds" "$rate" \
      "$(find "$work" -type f | wc -l)"
  else
    echo "fuzz: $name FAILED; input in $findings/, log $log:" >&2
    grep -m 12 -E "ERROR|SUMMARY|runtime error|invariant|uncaught|deadly|timeout|out-of-memory|==[0-9]+==" "$log" >&2 || tail -20 "$log" >&2
    status=1
  fi
done
exit $status
