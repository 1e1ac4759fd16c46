"""The CLI of window programs (issue 16): export, simulate, verify and report read a raw sensor CSV with --group and
cut it with the model's window, hop and channels (matched by name); rows are then windows. Also export's
--raw-scale/--raw-offset (the raw int16 formats of NAME_predict_window_q and NAME_push) and the one-line errors.
Data: the vendored BasicMotions samples (80 recordings of 100 samples at 10 Hz)."""
from __future__ import annotations

import csv
import gzip
import io
import json
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from tinygen import load
from tinygen.cli import main
from tinygen.windows import load_windows
from tinygen.sensor_data import BASICMOTIONS

RAW = BASICMOTIONS.path
CHANNELS = ["acc_x", "acc_y", "acc_z"]
SUMMARY = "8000 samples in 80 recordings -> 400 windows of 32 samples x 3 channels (hop 16)"


def run(*args, code: int = 0):
    result = CliRunner().invoke(main, [str(a) for a in args])
    assert result.exit_code == code, f"exit {result.exit_code}\nstdout: {result.stdout}\nstderr: {result.stderr}"
    assert "Traceback" not in result.output
    return result


def error(*args) -> str:
    """The one line a refused command writes (exit 2)."""
    result = run(*args, code=2)
    assert result.stderr.count("\n") == 1 and result.stderr.startswith("error: "), result.stderr
    return result.stderr


def subset(path: Path, recordings: set[str], relabel: dict | None = None) -> Path:
    """Those recordings of the BasicMotions CSV (relabel: {(recording, first sample index): label} from there on)."""
    with gzip.open(RAW, "rt") as fh:
        rows = list(csv.reader(fh))
    kept, seen = [rows[0]], {}
    for row in rows[1:]:
        if row[0] in recordings:
            index = seen[row[0]] = seen.get(row[0], -1) + 1
            for (recording, start), label in (relabel or {}).items():
                if row[0] == recording and index >= start:
                    row = row[:-1] + [label]
            kept.append(row)
    path.write_text("\n".join(",".join(row) for row in kept) + "\n")
    return path


@pytest.fixture(scope="module")
def ws(tmp_path_factory):
    """A logistic regression on windows of 32 samples (hop 16) of three channels, trained and exported by the CLI."""
    ws = tmp_path_factory.mktemp("window_cli")
    run("train", RAW, "--label", "activity", "--group", "recording", "--time", "time", "--window", 32, "--hop", 16,
        "--channels", ",".join(CHANNELS), "--features", "mean,std,rms", "--model", "logreg", "--test-size", 0,
        "-o", ws / "bm.skops")
    result = run("export", ws / "bm.skops", "--calibration", RAW, "--label", "activity", "--group", "recording",
                 "--time", "time", "-o", ws / "out")
    assert f"{RAW}: {SUMMARY}" in result.stderr
    assert result.stdout.startswith(f"wrote {ws / 'out' / 'bm.h'} and {ws / 'out' / 'bm.json'} (Pipeline(WindowFeatures")
    small = {f"{kind}0{k}" for kind in ("train", "test") for k in range(1, 5)}
    subset(ws / "small.csv", small)
    rows = (ws / "small.csv").read_text().splitlines()
    (ws / "no_acc_z.csv").write_text("\n".join(",".join(r.split(",")[:4] + r.split(",")[5:]) for r in rows) + "\n")
    return ws


def test_simulate_writes_one_row_per_window(ws):
    result = run("simulate", ws / "out" / "bm.json", RAW, "--group", "recording", "--time", "time")
    assert f"{RAW}: {SUMMARY}" in result.stderr
    table = list(csv.DictReader(io.StringIO(result.stdout)))
    windows = load_windows(RAW, label=None, group="recording", time="time", window=32, hop=16, channels=CHANNELS)
    program = load(ws / "out" / "bm.json").program
    assert len(table) == windows.n_windows == 400
    assert list(table[0])[:5] == ["recording", "start", "line", "prediction", "score_0"]
    assert [(r["recording"], r["start"], r["line"]) for r in table[:6]] == [
        ("train01", "0", "2"), ("train01", "16", "18"), ("train01", "32", "34"), ("train01", "48", "50"),
        ("train01", "64", "66"), ("train02", "0", "102")]
    assert [r["prediction"] for r in table] == [str(p) for p in program.predict(windows.X)]
    np.testing.assert_array_equal([[int(r[f"score_{k}"]) for k in range(4)] for r in table], program.scores(windows.X))


def test_verify_estimator_on_windows(ws):
    result = run("verify", ws / "bm.skops", "--data", RAW, "--label", "activity", "--group", "recording",
                 "--json", ws / "v.json")
    assert "on 400 windows of" in result.stdout and "C == simulator on host: 0 of 400 windows differ" in result.stdout
    report = json.loads((ws / "v.json").read_text())
    assert report["passed"] and report["rows"] == 400 and report["targets"]["host"]["mismatches"] == 0
    assert report["windows"] == {"group": "recording", "window": 32, "hop": 16, "channels": CHANNELS, "samples": 8000,
                                 "recordings": 80, "windows": 400, "mixed_label_windows_dropped": 0,
                                 "short_recordings": 0}


def test_verify_manifest_on_avr(ws, tool):
    """The exported files, windows streamed frame by frame into the AVR's C (--hop 32 keeps the data small)."""
    tool("avr-gcc")
    tool("simavr")
    result = run("verify", ws / "out" / "bm.json", "--data", ws / "small.csv", "--label", "activity", "--group",
                 "recording", "--hop", 32, "--target", "host", "--target", "avr", "--model", ws / "bm.skops",
                 "--json", ws / "avr.json")
    assert "800 samples in 8 recordings -> 24 windows of 32 samples x 3 channels (hop 32)" in result.stderr
    report = json.loads((ws / "avr.json").read_text())
    assert report["passed"] and report["rows"] == 24 and report["windows"]["hop"] == 32
    assert [report["targets"][t]["mismatches"] for t in ("host", "avr")] == [0, 0]
    assert report["targets"]["avr"]["rows"] == 24 and report["targets"]["avr"]["cycles_per_inference"] > 0
    assert {"header matches manifest", "manifest comes from --model"} <= {c["name"] for c in report["checks"]}


def test_windows_that_span_two_labels_are_counted(ws, tmp_path):
    path = subset(tmp_path / "mixed.csv", {"train01", "train02"}, relabel={("train01", 40): "Walking"})
    run("verify", ws / "bm.skops", "--data", path, "--label", "activity", "--group", "recording",
        "--json", tmp_path / "v.json")
    windows = json.loads((tmp_path / "v.json").read_text())["windows"]
    assert windows["mixed_label_windows_dropped"] == 2 and windows["windows"] == 8  # starts 32 and 16 span line 40


def test_report_reads_windows(ws, tmp_path):
    result = run("report", ws / "bm.skops", "--data", ws / "small.csv", "--label", "activity", "--group", "recording",
                 "--dtype", "q15", "-o", tmp_path / "r.html")
    assert "on 40 windows, dtypes q15" in result.stdout and (tmp_path / "r.html").stat().st_size > 0


def test_raw_scales_and_offsets(ws, tmp_path):
    """Declared raw formats reach the manifest's window_input op; the simulator and the C still agree."""
    out = tmp_path / "raw"
    run("export", ws / "bm.skops", "--calibration", ws / "small.csv", "--group", "recording", "--raw-scale",
        "acc_x=0.001,acc_y=0.001", "--raw-scale", "acc_z=0.002", "--raw-offset", "acc_x=100", "-o", out)
    op = json.loads((out / "bm.json").read_text())["ops"][0]
    assert op["op"] == "window_input" and op["offsets"] == [100, 0, 0]
    np.testing.assert_allclose(op["scales"], [0.001, 0.001, 0.002], rtol=1e-7)
    header = (out / "bm.h").read_text()
    assert "bm_predict_window_q" in header and "bm_push" in header
    result = run("simulate", out / "bm.json", ws / "small.csv", "--group", "recording")
    assert len(result.stdout.splitlines()) == 1 + 40
    run("verify", out / "bm.json", "--data", ws / "small.csv", "--label", "activity", "--group", "recording")
    run("export", ws / "bm.skops", "--calibration", ws / "small.csv", "--group", "recording", "--raw-offset",
        "acc_y=-512", "-o", tmp_path / "offsets")
    op = json.loads((tmp_path / "offsets" / "bm.json").read_text())["ops"][0]
    assert op["offsets"] == [0, -512, 0] and "scales" not in op
    run("verify", tmp_path / "offsets" / "bm.json", "--data", ws / "small.csv", "--label", "activity", "--group",
        "recording")


def test_saturating_raw_scale_is_a_warning(ws, tmp_path):
    result = run("export", ws / "bm.skops", "--calibration", ws / "small.csv", "--group", "recording", "--raw-scale",
                 "acc_x=0.00001,acc_y=0.001,acc_z=0.001", "-o", tmp_path / "out")
    assert "calibration samples of acc_x are outside [-0.32768, 0.32767], what raw int16 samples of scale 1e-05 " \
           "and offset 0 hold: they saturate" in result.stderr


WINDOW_ERRORS = [
    (["simulate", "{out}/bm.json", "{raw}"], "the model reads windows of 32 samples x 3 channels (acc_x, acc_y, "
     "acc_z), hop 16: pass --group COLUMN"),
    (["verify", "{ws}/bm.skops", "--data", "{raw}", "--label", "activity"], "pass --group COLUMN, and a CSV of raw"),
    (["export", "{ws}/bm.skops", "--calibration", "{raw}", "-o", "{tmp}/o"], "pass --group COLUMN"),
    (["verify", "{out}/bm.json", "--data", "{raw}", "--label", "activity", "--group", "recording", "--window", "64"],
     "--window 64: the model's windows hold 32 samples, fixed when it was trained"),
    (["simulate", "{out}/bm.json", "{ws}/no_acc_z.csv", "--group", "recording"],
     "channel column 'acc_z' not found in"),
    (["export", "{ws}/bm.skops", "--group", "recording", "-o", "{tmp}/o"],
     "--group is for reading the --calibration CSV as raw sensor samples: add --calibration RAW.csv"),
    (["verify", "{ws}/bm.skops", "--data", "{raw}", "--label", "activity", "--group", "recording", "--by-position"],
     "--by-position is for feature tables"),
    (["export", "{ws}/bm.skops", "--calibration", "{raw}", "--group", "recording", "--raw-scale", "gyro_x=1",
      "-o", "{tmp}/o"], "raw sample formats for 'gyro_x': not a channel of the model (its channels: 'acc_x', "),
    (["export", "{ws}/bm.skops", "--calibration", "{raw}", "--group", "recording", "--raw-scale", "acc_x=abc",
      "-o", "{tmp}/o"], "Invalid value for '--raw-scale': 'acc_x=abc': 'abc' is not a number"),
    (["export", "{ws}/bm.skops", "--calibration", "{raw}", "--group", "recording", "--raw-scale",
      "acc_x=0,acc_y=1,acc_z=1", "-o", "{tmp}/o"], "the raw scale of channel 'acc_x' must be a positive number"),
    (["export", "{ws}/bm.skops", "--calibration", "{raw}", "--group", "recording", "--raw-scale", "acc_x=0.01",
      "-o", "{tmp}/o"], "raw sample scales are given for 'acc_x' but not for 'acc_y', 'acc_z'"),
    (["export", "{ws}/bm.skops", "--calibration", "{raw}", "--group", "recording", "--raw-offset", "acc_x=32768",
      "-o", "{tmp}/o"], "the raw offset of channel 'acc_x' must be a whole number from -32768 to 32767"),
    (["export", "{ws}/bm.skops", "--calibration", "{raw}", "--group", "recording", "--raw-offset", "acc_x=1.5",
      "-o", "{tmp}/o"], "'1.5' is not a whole number"),
    (["export", "{ws}/bm.skops", "--calibration", "{raw}", "--group", "recording", "--raw-offset", "acc_x",
      "-o", "{tmp}/o"], "'acc_x' is not CHANNEL=VALUE"),
]


@pytest.mark.parametrize("args, message", WINDOW_ERRORS)
def test_window_errors(ws, tmp_path, args, message):
    fields = dict(ws=ws, out=ws / "out", raw=RAW, tmp=tmp_path)
    assert message in error(*(arg.format(**fields) for arg in args))
    assert not (tmp_path / "o").exists()  # nothing written, not even half


@pytest.mark.parametrize("args, message", [
    (["verify", "{m}", "--data", "{csv}", "--label", "target", "--group", "g", "--hop", "3"],
     "--group and --hop are for window models (a Pipeline whose first step is WindowFeatures"),
    (["simulate", "{out}/m.json", "{csv}", "--window", "4"], "--window is for window models"),
    (["export", "{m}", "--calibration", "{csv}", "--label", "target", "--raw-offset", "a=1", "-o", "{tmp}/o"],
     "raw sample scales and offsets (export --raw-scale/--raw-offset) are for window models"),
])
def test_window_options_on_a_model_of_features(tmp_path, args, message):
    from conftest import iris_workspace

    iris_workspace(tmp_path)
    run("export", tmp_path / "m.skops", "--calibration", tmp_path / "iris.csv", "--label", "target", "-o",
        tmp_path / "out")
    fields = dict(m=tmp_path / "m.skops", csv=tmp_path / "iris.csv", out=tmp_path / "out", tmp=tmp_path)
    assert message in error(*(arg.format(**fields) for arg in args))
    assert not (tmp_path / "o").exists()
