#!/usr/bin/env bash
# tools/check_deps.sh — fails if a folder includes a folder it may not depend on (the dependency
# table of DESIGN.md; CMake alone cannot stop a stray #include), or if a public header includes an
# internal one (a detail/ header: not installed, so a program using the installed library could not
# compile it).
#
#   folder          may include
#   core            -
#   layers          core
#   optim           core
#   quant           core layers
#   imc             core layers quant
#   data            core
#   models          core layers quant imc
#   tools/pipeline  everything above (the installed raoq::pipeline: configs, stage kinds, trainer)
#   tools           everything (the command line)
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
  [tools/pipeline]="tools/[^/\"]+\\.h"
)
status=0
for dir in "${!forbidden[@]}"; do
  [[ -d $dir ]] || continue
  if bad=$(grep -rnE "^[[:space:]]*#[[:space:]]*include[[:space:]]*[\"<](${forbidden[$dir]})[/\"]" "$dir"); then
    echo "check_deps: $dir/ includes a folder it must not depend on:"
    echo "$bad" | sed 's/^/  /'
    status=1
  fi
done
# Public headers (everything installed: any .h outside a detail/ folder) must not include a detail/ header.
if bad=$(find core layers optim quant imc data models tools/pipeline -name '*.h' -not -path '*/detail/*' -print0 |
         xargs -0 grep -nE '^[[:space:]]*#[[:space:]]*include[[:space:]]*"[^"]*/detail/' || true) && [[ -n $bad ]]; then
  echo "check_deps: a public (installed) header includes an internal detail/ header:"
  echo "$bad" | sed 's/^/  /'
  status=1
fi
[[ $status -eq 0 ]] && echo "check_deps: folder dependencies follow DESIGN.md; public headers include no internal one"
exit $status
