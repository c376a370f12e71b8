#!/usr/bin/env bash
# tools/check_deps.sh — fails if a folder includes a folder it may not depend on
# (the dependency table of DESIGN.md; CMake alone cannot stop a stray #include).
set -euo pipefail
cd "$(dirname "$0")/.."
declare -A forbidden=(
  [core]="layers|optim|quant|imc|models|data|tools"
  [layers]="optim|quant|imc|models|data|tools"
  [optim]="layers|quant|imc|models|data|tools"
  [quant]="optim|imc|models|data|tools"
  [imc]="optim|models|data|tools"
  [data]="layers|optim|quant|imc|models|tools"
  [models]="optim|data|tools"
)
status=0
for dir in "${!forbidden[@]}"; do
  [[ -d $dir ]] || continue
  if bad=$(grep -rnE "^[[:space:]]*#[[:space:]]*include[[:space:]]*[\"<](${forbidden[$dir]})/" "$dir"); then
    echo "check_deps: $dir/ includes a folder it must not depend on:"
    echo "$bad" | sed 's/^/  /'
    status=1
  fi
done
[[ $status -eq 0 ]] && echo "check_deps: folder dependencies follow DESIGN.md"
exit $status
