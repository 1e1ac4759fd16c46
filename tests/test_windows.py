"""Raw sensor CSVs cut into windows (tinygen/windows.py) and `tinygen train --group --window` on them: windows
never cross recordings, mixed-label windows are dropped and counted, hop, time sorting, the one-line errors, the
CLI end to end on the vendored BasicMotions samples, and the saved model loading back."""
from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from tinygen import modelio
from tinygen.cli import main
from tinygen.errors import TinygenError
from tinygen.features import WindowFeatures
from tinygen.windows import cut_windows, load_windows
from tinygen.sensor_data import BASICMOTIONS

RAW = BASICMOTIONS.path


def run(*args, code: int = 0):
    result = CliRunner().invoke(main, [str(a) for a in args])
    assert result.exit_code == code, f"exit {result.exit_code}\nstdout: {result.stdout}\nstderr: {result.stderr}"
    assert "Traceback" not in result.output
    return result


def write(path: Path, header: str, rows: list[str]) -> Path:
    path.write_text(header + "\n" + "\n".join(rows) + "\n")
    return path


# ---- cut_windows: the arrays ---------------------------------------------------------------------------------
def test_windows_never_cross_recordings_and_follow_the_hop():
    """Recording a (rows 0..6, interleaved with b in the file) and b (rows 7..11): window 3, hop 2."""
    recordings = np.array(["a", "a", "b", "a", "b", "a", "b", "a", "b", "a", "b", "a"], dtype=object)
    samples = np.arange(12, dtype=np.float64)[:, None] * np.array([1.0, -1.0])  # two channels: i and -i
    result = cut_windows(samples, np.zeros(12, np.int64), recordings, window=3, hop=2)
    a_rows, b_rows = np.flatnonzero(recordings == "a"), np.flatnonzero(recordings == "b")
    expected = [a_rows[[0, 1, 2]], a_rows[[2, 3, 4]], a_rows[[4, 5, 6]], b_rows[[0, 1, 2]], b_rows[[2, 3, 4]]]
    assert result.X.shape == (5, 6) and list(result.groups) == ["a", "a", "a", "b", "b"]
    for row, rows in zip(result.X, expected):
        np.testing.assert_array_equal(row, np.column_stack([rows, -rows]).reshape(-1))  # time-major
    assert (result.n_samples, result.n_recordings, result.mixed_windows, result.short_recordings) == (12, 2, 0, 0)
    assert result.hop == 2 and result.channel_names == ["ch0", "ch1"]


def test_hop_defaults_to_the_window_and_short_recordings_are_counted():
    recordings = np.array(["long"] * 10 + ["short"] * 3 + ["exact"] * 4, dtype=object)
    result = cut_windows(np.zeros((17, 1)), np.ones(17, np.int64), recordings, window=4)
    assert list(result.groups) == ["long", "long", "exact"] and result.hop == 4
    assert result.short_recordings == 1 and "1 recording shorter than the window gave none" in result.summary()


def test_windows_that_span_two_labels_are_dropped_and_counted():
    labels = np.array(["walk"] * 6 + ["run"] * 6, dtype=object)
    result = cut_windows(np.arange(12.0)[:, None], labels, np.zeros(12, np.int64), window=4, hop=2)
    # starts 0, 2, 4, 6, 8: the windows at 4 (4..7) is mixed; 2 (2..5) is all walk
    assert result.mixed_windows == 1 and list(result.y) == ["walk", "walk", "run", "run"]
    assert list(result.X[:, 0]) == [0, 2, 6, 8]
    assert "dropped 1 window that span two labels" in result.summary()


def test_time_sorts_samples_within_each_recording():
    times = np.array([0.2, 0.0, 0.1, 0.3, 0.0, 0.1, 0.2, 0.3])
    recordings = np.array(["a"] * 4 + ["b"] * 4, dtype=object)
    samples = (times * 10)[:, None]
    result = cut_windows(samples, np.zeros(8, np.int64), recordings, window=4, times=times)
    np.testing.assert_array_equal(result.X, [[0, 1, 2, 3], [0, 1, 2, 3]])
    assert result.reordered_recordings == 1
    assert "1 recording had rows out of time order" in result.notes()[0]
    assert cut_windows(samples, np.zeros(8, np.int64), recordings, window=4).reordered_recordings == 0


@pytest.mark.parametrize("window, hop, labels, message", [
    (1, None, None, "--window must be a whole number of samples, at least 2, not 1"),
    (3, 0, None, "--hop must be a whole number of samples, at least 1, not 0"),
    (9, None, None, "no recording has 9 samples (the longest has 5, of 2 recordings); give a smaller --window"),
    (5, None, [0, 0, 0, 1, 1, 0, 1, 1, 1, 1], "all 2 windows of 5 samples span two labels"),
])
def test_cut_windows_errors(window, hop, labels, message):
    labels = np.zeros(10, np.int64) if labels is None else np.array(labels)
    with pytest.raises(TinygenError) as info:
        cut_windows(np.zeros((10, 1)), labels, np.repeat(["a", "b"], 5), window, hop)
    assert message in str(info.value)


def test_two_samples_at_one_time_are_an_error():
    with pytest.raises(TinygenError, match=r"recording 'b' has two samples at time 2 \(lines 6 and 7, 1 such pair"):
        cut_windows(np.zeros((6, 1)), np.zeros(6), np.repeat(["a", "b"], 3), 2, times=np.array([0, 1, 2, 1, 2, 2.0]))


def test_a_rising_channel_is_flagged_as_a_clock():
    samples = np.column_stack([np.tile(np.arange(5.0), 2), np.zeros(10)])
    result = cut_windows(samples, np.zeros(10), np.repeat(["a", "b"], 5), 2, channel_names=["t", "x"])
    assert result.clock_channels == ["t"] and "name it with --time" in result.notes()[0]


# ---- load_windows: the CSV -----------------------------------------------------------------------------------
def sample_csv(tmp_path: Path) -> Path:
    """Three recordings of 6 samples (x = i % 4, y = -i: x is no clock), up for 3 samples, then down."""
    rows = [f"r{i // 6},{(i % 6) / 10:g},{i % 4},{-i},dev{i // 6},{'up' if i % 6 < 3 else 'down'}" for i in range(18)]
    return write(tmp_path / "raw.csv", "rec,t,x,y,device,state", rows)


def test_load_windows_reads_the_columns_by_role(tmp_path):
    path = sample_csv(tmp_path)
    result = load_windows(path, label="state", group="rec", time="t", window=3)
    assert result.channel_names == ["x", "y"] and result.skipped_columns == ["device"]
    assert result.X.shape == (6, 6) and list(result.groups) == ["r0", "r0", "r1", "r1", "r2", "r2"]
    np.testing.assert_array_equal(result.X[1], [3, -3, 0, -4, 1, -5])
    assert list(result.y) == ["up", "down"] * 3 and result.label_name == "state"
    assert "text column 'device' left out of the channels" in result.notes()[0]
    chosen = load_windows(path, label="state", group="rec", window=3, channels=["y", "t"])
    assert chosen.channel_names == ["y", "t"] and chosen.skipped_columns == []


def test_without_a_label_every_window_is_kept(tmp_path):
    result = load_windows(sample_csv(tmp_path), label=None, group="rec", time="t", window=4, hop=2)
    assert result.y is None and result.mixed_windows == 0 and result.n_windows == 6  # starts 0 and 2 of 3 recordings
    assert result.channel_names == ["x", "y"] and result.skipped_columns == ["device", "state"]


def test_load_windows_reads_gzip(tmp_path):
    path = sample_csv(tmp_path)
    packed = tmp_path / "raw.csv.gz"
    packed.write_bytes(gzip.compress(path.read_bytes()))
    np.testing.assert_array_equal(load_windows(packed, label="state", group="rec", window=3).X,
                                  load_windows(path, label="state", group="rec", window=3).X)


@pytest.mark.parametrize("options, message", [
    ({"group": "recording"}, "group column 'recording' not found in"),
    ({"group": "Rec"}, "group column 'Rec' not found in"),
    ({"time": "time"}, "time column 'time' not found"),
    ({"channels": ["x", "z"]}, "channel column 'z' not found"),
    ({"channels": ["x", "t"], "time": "t"}, "--channels names 't', the label, group or time column"),
    ({"channels": ["device"]}, "column 'device' in"),
    ({"time": "rec"}, "--label, --group and --time must name different columns"),
    ({"time": "device"}, "the time column must hold numbers"),
])
def test_load_windows_errors(tmp_path, options, message):
    path = sample_csv(tmp_path)
    with pytest.raises(TinygenError) as info:
        load_windows(path, **{"label": "state", "group": "rec", "window": 3, **options})
    assert message in str(info.value) and "\n" not in str(info.value)
    if options.get("group") == "Rec":
        assert "did you mean 'rec'?" in str(info.value)
    if options.get("channels") == ["device"]:
        assert "has a non-numeric value 'dev0' at line 2 (data row 1); channels must be numbers" in str(info.value)


def test_non_numeric_channel_cell_and_empty_group_cell(tmp_path):
    path = write(tmp_path / "bad.csv", "rec,x,label", ["a,1,u", "a,2,u", "a,oops,u", ",4,u"])
    with pytest.raises(TinygenError, match=r"column 'x' .* non-numeric value 'oops' at line 4 \(data row 3\); channels"):
        load_windows(path, label="label", group="rec", window=2)
    path = write(tmp_path / "bad.csv", "rec,x,label", ["a,1,u", "a,2,u", "a,3,u", " ,4,u"])
    with pytest.raises(TinygenError, match=r"group column 'rec' .* is empty at line 5 \(data row 4\)"):
        load_windows(path, label="label", group="rec", window=2)


# ---- the CLI -------------------------------------------------------------------------------------------------
def test_train_on_raw_samples_end_to_end(tmp_path):
    """The vendored BasicMotions samples: windows of 32 samples with hop 16 (5 per recording), statistics and four
    log2 FFT bands, a logistic regression behind a scaler; the model loads back and predicts its windows."""
    out = tmp_path / "bm.skops"
    result = run("train", RAW, "--label", "activity", "--group", "recording", "--time", "time", "--window", 32,
                 "--hop", 16, "--features", "mean,std,fft4log", "--model", "logreg", "-o", out)
    lines = result.stdout.splitlines()
    assert lines[0] == ("8000 samples in 80 recordings -> 400 windows of 32 samples x 6 channels (hop 16); dropped 0 "
                        "windows that span two labels")
    assert lines[1].startswith(f"wrote {out}: Pipeline(WindowFeatures, StandardScaler, LogisticRegression) on 400 "
                               "windows, 36 features (6 channels x 3 items: mean,std,fft4log), training accuracy")
    assert lines[2].startswith("held-out accuracy ") and "windows of 16 recordings (split by recording" in lines[2]
    assert float(lines[2].split()[2]) >= 0.9
    model = modelio.load_model(out)
    assert isinstance(model[0], WindowFeatures) and model[0].hop == 16 and model[0].window == 32
    assert model[0].channel_names_ == ["acc_x", "acc_y", "acc_z", "gyro_x", "gyro_y", "gyro_z"]
    windows = load_windows(RAW, label="activity", group="recording", time="time", window=32, hop=16)
    assert model.score(windows.X, windows.y) >= 0.95


def test_train_on_raw_samples_forest_without_a_scaler(tmp_path):
    path = sample_csv(tmp_path)
    result = run("train", path, "--label", "state", "--group", "rec", "--time", "t", "--window", 3, "--model", "forest",
                 "-o", tmp_path / "f.skops", "--test-size", 0)
    assert "Pipeline(WindowFeatures, RandomForestClassifier) on 6 windows, 12 features (2 channels x 6 items: " \
           "mean,std,min,max,rms,crossings)" in result.stdout
    assert "note: text column 'device' left out of the channels" in result.stderr


@pytest.mark.parametrize("extra, message", [
    (["--window", 3], "a raw sensor CSV (one row per sample) needs --group COLUMN besides --window"),
    (["--group", "rec", "--hop", 2], "needs --window N besides --group, --hop"),
    (["--group", "rec", "--window", 3, "--columns", "x"], "--columns, --drop and --by-position are for feature tables"),
    (["--group", "rec", "--window", 3, "--features", "mean,fft8"], "fft8 needs a window of 16, 32, 64, 128 or 256"),
    (["--group", "rec", "--window", 3, "--features", "lp:2"], "give the sample rate (--sample-rate HZ)"),
    (["--group", "rec", "--window", 3, "--search"], "--search does not take raw sensor windows yet"),
    (["--group", "rec", "--window", 9], "no recording has 9 samples (the longest has 6"),
])
def test_train_window_errors(tmp_path, extra, message):
    path = sample_csv(tmp_path)
    result = run("train", path, "--label", "state", "--model", "logreg", "-o", tmp_path / "m.skops", *extra, code=2)
    assert message in result.stderr and result.stderr.count("\n") == 1
