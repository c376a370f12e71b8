#!/usr/bin/env bash
# bench/data_parallel.sh [BUILD_DIR] — training steps per second of cnn-small (Fashion-MNIST, batch
# 128) and gpt-tiny (fortunes, batch 32 x 128 tokens) as 1 process x 1 thread, 1 process x 2
# threads and mpirun -np 2 x 1 thread, one JSON line each. Needs the demo's data (tools/setup.sh
# --demo) and a build with MPI. Run it with nothing else on the machine: the ranks share its cores.
set -euo pipefail
cd "$(dirname "$0")/.."
raoq="$(realpath "${1:-build}")/tools/raoq"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mpirun=(mpirun --oversubscribe --bind-to none -np 2)
[[ $(id -u) -eq 0 ]] && mpirun+=(--allow-run-as-root)

# The config's first stage alone, cut to STEPS steps and logged every EVERY steps.
first_stage() {  # CONFIG OUT STEPS EVERY
  python3 -c '
import json, sys
c = json.load(open(sys.argv[1]))
c["stages"] = c["stages"][:1]
c["stages"][0]["max_steps"] = int(sys.argv[3])
c["stages"][0]["schedule"] = {"name": "cosine"}  # no warm-up longer than the cut stage
c["log"] = {"every_steps": int(sys.argv[4])}
c["checkpoint"] = {"every_steps": 0}
json.dump(c, open(sys.argv[2], "w"))' "$@"
}

# Steps per second over the logged windows after the first (set-up and first allocations left out).
rate() {  # METRICS BATCH
  python3 -c '
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if "\"kind\":\"train\"" in l]
rates = [r["examples_per_second"] for r in rows[1:]]
print(f"{sum(rates) / len(rates) / float(sys.argv[2]):.3f}")' "$@"
}

measure() {  # NAME CONFIG ROWS STEPS EVERY (ROWS: scored rows per step, which metrics count as examples)
  local name=$1 batch=$3 config="$work/$1.json"
  first_stage "$2" "$config" "$4" "$5"
  for layout in 1x1 1x2 2x1; do
    local out="$work/$name-$layout"
    local command=("$raoq" train "$config" --threads 1 --out "$out")
    case $layout in
      1x2) command[4]=2 ;;
      2x1) command=("${mpirun[@]}" "${command[@]}") ;;
    esac
    "${command[@]}" >"$out.log" 2>&1 || { tail -5 "$out.log" >&2; exit 1; }
    echo "{\"name\": \"$name\", \"processes_x_threads\": \"$layout\", \"steps_per_second\": $(rate "$out/metrics.jsonl" "$batch")}"
  done
}

measure cnn-small-fp-train configs/fmnist-fp.json 128 60 10
measure gpt-tiny-fp-train configs/fortunes-gpt-raoq.json 4096 16 4  # 32 windows x 128 scored tokens
