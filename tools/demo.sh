#!/usr/bin/env bash
# tools/demo.sh [--quick] — from a fresh Debian machine to a trained model: installs what is
# missing (tools/setup.sh --demo), builds (tools/build.sh), then runs the RAOQ pipeline on
# Fashion-MNIST (configs/fmnist-raoq.json: cnn-small trained in full precision, then 4-bit QAT,
# then fine-tuned on 512x512 arrays with 6-, 7- and 8-bit ADCs, vanilla QAT* against RAOQ) and
# prints the paper's Table 1 for it: about 27 minutes on 2 cores.
#   --quick   every stage one epoch on 4096 training and 1000 test examples: a smoke test of the
#             whole pipeline in about two minutes (tools/test.sh runs it)
# Without --quick an interrupted demo continues where it stopped when run again (--resume).
# RAOQ_BUILD_DIR chooses the build directory (default: build).
set -euo pipefail
cd "$(dirname "$0")/.."
quick=0
case "${1:-}" in
  "") ;;
  --quick) quick=1 ;;
  -h | --help)
    sed -n '2,10p' "$0" | sed 's/^# \{0,1\}//'
    exit 0
    ;;
  *)
    echo "demo: unknown option '$1' (usage: tools/demo.sh [--quick])" >&2
    exit 2
    ;;
esac
build=${RAOQ_BUILD_DIR:-build}

tools/setup.sh --demo
tools/build.sh "$build"

config=configs/fmnist-raoq.json
if ((quick)); then
  out=runs/fmnist-raoq-quick
  args=(--quick --overwrite)
else
  out=runs/fmnist-raoq
  args=(--resume)
fi
"$build/tools/raoq" train "$config" --out "$out" "${args[@]}"
# The per-layer ADC statistics and histograms of the RAOQ ba=6 model against QAT*'s, and the report.
"$build/tools/raoq" inspect "$out/checkpoints/adc-raoq-ba6.safetensors" --png "$out/figures" \
  --against "$out/checkpoints/adc-vanilla-ba6.safetensors" >"$out/inspect.txt"
"$build/tools/raoq" report "$out" >/dev/null

cat <<MSG

demo: finished. The run directory is $out:
  $out/results.md       the results table (below)
  $out/results.json     the same, for programs
  $out/metrics.jsonl    loss, learning rate and accuracy per logged step and per evaluation
  $out/checkpoints/     last, best and per-stage checkpoints (safetensors)
  $out/results.png      Table 1 against the ADC bits, QAT* and RAOQ, before and after fine-tuning (and .svg)
  $out/training_curves.png  loss, evaluations, learning rate and BitAug's lambda_b per step (and .svg)
  $out/inspect.txt      per-layer ADC statistics of RAOQ at ba=6 (SQNR, clipping, E[xs^2], Var[wq], kurtosis)
  $out/figures/         its ADC-input and weight-code histograms against QAT*, and SQNR / clip bars (PNG, SVG)
  $out/report.html      everything above in one page that opens from disk
Evaluate a checkpoint again with:
  $build/tools/raoq eval $out/config.json --checkpoint $out/checkpoints/best.safetensors

MSG
cat "$out/results.md"
