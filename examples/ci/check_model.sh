#!/usr/bin/env bash
# A CI gate for a tinygen model: train, export the C, and verify the exported files (OUTDIR/c/model.json and the
# model.h beside it, as they ship) on the host and on an ATmega328P (simavr), against the float model.
# Fails (non-zero exit) when any check fails: the header does not match its manifest, the fixed-point accuracy
# drops more than MAX_DROP below the float model's, the C disagrees with tinygen's simulator on any row, or a
# budget is exceeded. verify names the
# failing check on stderr, and junit.xml (one testcase per check) tells the CI system which one.
#
#   bash examples/ci/check_model.sh [OUTDIR]        (default OUTDIR: ci-out)
#
# Settings (environment variables; defaults in brackets):
#   DATA, LABEL       a CSV and its label column [a bundled DATASET written as CSV, label "target"]
#   DATASET           bundled data set when DATA is unset: iris, wine, breast_cancer, diabetes, digits [breast_cancer]
#   MODEL             tinygen train --model KIND [logreg]
#   DTYPE             q15, q7, int8, float32, exact, ... [q7]
#   MAX_DROP          allowed accuracy (R^2) drop of DTYPE against the float model [0.02]
#   TARGETS           where the C runs [host avr]
#   VERIFY_ARGS       more verify options, e.g. "--max-flash avr=4000 --max-ram avr=512 --max-cycles avr=20000"
# Exit codes are verify's: 0 every check passed, 1 a check failed (a build error on a target too), 2 bad input or
# a missing tool, 3 a tinygen bug.
set -euo pipefail

out="${1:-ci-out}"
dataset="${DATASET:-breast_cancer}"
model="${MODEL:-logreg}"
dtype="${DTYPE:-q7}"
max_drop="${MAX_DROP:-0.02}"
read -r -a targets <<< "${TARGETS:-host avr}"
read -r -a verify_args <<< "${VERIFY_ARGS:-}"
mkdir -p "$out"

if [ -n "${DATA:-}" ]; then
  data="$DATA"
  label="${LABEL:?set LABEL to the label column of $DATA}"
else
  data="$out/data.csv"
  label="target"
  tinygen dataset "$dataset" -o "$data"
fi

tinygen train "$data" --label "$label" --model "$model" -o "$out/model.skops"
tinygen export "$out/model.skops" --dtype "$dtype" --calibration "$data" --label "$label" --name model -o "$out/c"

target_args=()
for target in "${targets[@]}"; do
  target_args+=(--target "$target")
done
status=0
tinygen verify "$out/c/model.json" --model "$out/model.skops" --data "$data" --label "$label" "${target_args[@]}" \
  --max-accuracy-drop "$max_drop" "${verify_args[@]}" --json "$out/report.json" --junit "$out/junit.xml" || status=$?
if [ "$status" -ne 0 ]; then
  echo "model gate: FAILED (exit $status); the failing checks are above and in $out/junit.xml" >&2
  exit "$status"
fi
echo "model gate: passed; the header is $out/c/model.h"
