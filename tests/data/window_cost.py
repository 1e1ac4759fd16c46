"""Prints the costs of issue 16's cost case on every target: a 64-sample x 3-channel window (BasicMotions'
accelerometer, hop 32) with mean, std, min, max, rms, crossings and 8 FFT bands per channel, then a 10-tree
forest (max depth 6), q15. AVR: flash, RAM, stack and exact cycles of NAME_predict_latest (the int16 stream);
QEMU targets: instructions of the int16 path (NAME_predict_q on the window's int16 samples, what
NAME_predict_latest runs on a full ring) and of NAME_predict on the float window.

Run from the repository root: `python3 tests/data/window_cost.py [TARGET ...] [--rows N] [--keep DIR]`
(targets: avr cortex-m4 cortex-m0 rv32; default all; 40 windows). Each target's scores are checked against the
simulator's on the same windows."""
from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import numpy as np
from sklearn.ensemble import RandomForestClassifier
from sklearn.pipeline import Pipeline

import tinygen
from tinygen.features import WindowFeatures
from tinygen.targets import avr, qemu
from tinygen.windows import load_windows

RAW = Path(__file__).parent / "basicmotions_raw.csv.gz"
FEATURES = "mean,std,min,max,rms,crossings,fft8"


def cost_case():
    """(the converted model, the windows) of the cost case."""
    w = load_windows(str(RAW), label="activity", group="recording", window=64, hop=32, time="time",
                     channels=["acc_x", "acc_y", "acc_z"])
    pipe = Pipeline([("f", WindowFeatures(64, w.channel_names, FEATURES, hop=32)),
                     ("m", RandomForestClassifier(10, max_depth=6, random_state=0))]).fit(w.X, w.y)
    return tinygen.convert(pipe, dtype="q15", calibration=w.X), w


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("targets", nargs="*", default=["avr", "cortex-m4", "cortex-m0", "rv32"])
    parser.add_argument("--rows", type=int, default=40)
    parser.add_argument("--keep", help="save the header here")
    args = parser.parse_args()
    model, w = cost_case()
    outdir = args.keep or tempfile.mkdtemp(prefix="window-cost-")
    paths = model.save(outdir, "w")
    rows = w.X[:args.rows]
    expected = model.program.scores(rows)
    for target in args.targets:
        if target == "avr":
            m = avr.measure(model.program, paths["header"], "w", rows)
            print(f"avr: flash {m.flash_bytes} B, RAM {m.ram_bytes} B, stack {m.stack_bytes} B, "
                  f"predict_latest {m.cycles_per_inference:.0f} cycles (min {m.extra['cycles_min']}, "
                  f"max {m.extra['cycles_max']}), firmware SRAM {m.extra['firmware_sram_bytes']} B")
        else:
            m = qemu.TARGETS[target].measure(model.program, paths["header"], "w", rows)
            float_path = m.extra.get("instructions_predict_float")
            print(f"{target}: flash {m.flash_bytes} B, RAM {m.ram_bytes} B, stack {m.stack_bytes} B, "
                  f"int16 path {m.cycles_per_inference:.0f} instructions (min {m.extra['instructions_min']}, "
                  f"max {m.extra['instructions_max']})"
                  + (f", float path {float_path:.0f}" if float_path is not None else ""))
        same = np.array_equal(np.asarray(m.scores).reshape(expected.shape), expected)
        print(f"{target}: C == simulator on {len(rows)} windows: {same}")


if __name__ == "__main__":
    main()
