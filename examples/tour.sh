#!/usr/bin/env bash
# The README's five-minute tour, as one script (tests/test_examples.py runs it).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
work="${1:-$(mktemp -d)}"
mkdir -p "$work" && cd "$work"

tinygen dataset breast_cancer -o data.csv
tinygen train data.csv --label target --model logreg -o m.skops
tinygen export m.skops --dtype q15 --calibration data.csv --label target --name activity -o out/
tinygen simulate out/activity.json data.csv --label target -o sim.csv
# the files that ship: the header beside the manifest, checked against it, compiled and run on every row
tinygen verify out/activity.json --data data.csv --label target --model m.skops --json report.json

gcc -std=c99 -O2 -Wall -Wextra -I out "$here/host_c/main.c" -o classify
# the first row of data.csv, without its label
./classify $(sed -n 2p data.csv | tr ',' ' ' | cut -d' ' -f1-30)
head -2 sim.csv
