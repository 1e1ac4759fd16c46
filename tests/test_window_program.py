"""Window programs (issue 16): Pipeline(WindowFeatures, scaler, model) as one integer program. C == simulator on
every window on host, avr, cortex-m4, cortex-m0 and rv32 for each feature op alone (with a logistic regression)
and in pipelines with a forest, a logistic regression (q15, q7) and an MLP (q7), real BasicMotions windows plus
edge windows (NaN, +-inf, huge, constant, full-scale square wave, impulse); the integer features against the
float reference on the same samples within the ops' proven bounds; the stream (push / predict_latest) against
the simulator's windows with a hop; declared raw sample formats; the manifest round trip; the refusals."""
from __future__ import annotations

import dataclasses
import functools
import subprocess
import warnings
from pathlib import Path

import numpy as np
import pytest
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.neural_network import MLPClassifier
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

import tinygen
from tinygen import featurespec
from tinygen.errors import TinygenError
from tinygen.features import WindowFeatures
from tinygen.frontend import to_float_program
from tinygen.ir import Program
from tinygen.quantize import quantize
from tinygen.targets import avr, host, qemu
from tinygen.windows import cut_windows, load_windows
from tinygen.sensor_data import BASICMOTIONS

from conftest import need_tool, spread_over_targets

RAW = BASICMOTIONS.path
CHANNELS = ["acc_x", "acc_y", "acc_z"]
TARGETS = ("host", "avr", "cortex-m4", "cortex-m0", "rv32", "xtensa-lx106")
TOOLS = {"host": ("gcc",), "avr": ("avr-gcc", "simavr")}
ALL_STATISTICS = "mean,var,std,rms,min,max,ptp,crossings,mad"
MIXED = "mean,std,rms,crossings,fft8,fft4log,bp:0.5-3"
MODELS = {"logreg": lambda: LogisticRegression(max_iter=3000),
          "forest": lambda: RandomForestClassifier(10, max_depth=6, random_state=0),
          "mlp": lambda: MLPClassifier((16,), max_iter=3000, random_state=0)}
# (case, features, model, dtype): every feature op alone, then the pipelines the issue names
CASES = [("statistics", ALL_STATISTICS, "logreg", "q15"), ("fft", "fft8,fft4log", "logreg", "q15"),
         ("filters", "lp:1,hp:0.5,bp:0.5-3", "logreg", "q15"), ("forest", MIXED, "forest", "q15"),
         ("logreg", MIXED, "logreg", "q15"), ("logreg7", MIXED, "logreg", "q7"), ("mlp7", MIXED, "mlp", "q7")]


@functools.lru_cache(maxsize=None)
def windows(window: int = 64, hop: int = 32):
    return load_windows(RAW, label="activity", group="recording", window=window, hop=hop, time="time", channels=CHANNELS)


@functools.lru_cache(maxsize=None)
def pipeline(features: str, model: str, window: int = 64, hop: int = 32) -> Pipeline:
    data = windows(window, hop)
    steps = [("features", WindowFeatures(window, CHANNELS, features, sample_rate=10.0, hop=hop))]
    steps += [] if model == "forest" else [("scale", StandardScaler())]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return Pipeline([*steps, ("model", MODELS[model]())]).fit(data.X, data.y)


def edge_windows(window: int, n_channels: int) -> np.ndarray:
    """NaN, +-inf, huge, zero, constant, full-scale square wave and impulse windows, time-major."""
    t = np.arange(window)[:, None] * np.ones(n_channels)
    square = np.where(t % 8 < 4, 1e9, -1e9)
    impulse = np.where(t == window // 2, 50.0, 0.0)
    nan = np.where(t % 5 == 0, np.nan, 0.3)
    rows = [np.full_like(t, np.nan), np.full_like(t, np.inf), np.full_like(t, -np.inf), np.full_like(t, 3e38),
            np.zeros_like(t), np.full_like(t, 0.7), square, impulse, nan]
    return np.stack([row.reshape(-1) for row in rows])


def measure(target: str, model, header: Path, X: np.ndarray):
    for tool in TOOLS.get(target) or qemu.TARGETS[target].tools:
        need_tool(tool)
    if target in ("host", "avr"):
        return {"host": host, "avr": avr}[target].measure(model.program, header, "w", X)
    return qemu.TARGETS[target].measure(model.program, header, "w", X)


@pytest.mark.parametrize("case, features, kind, dtype, target", spread_over_targets(CASES, TARGETS))
def test_c_equals_simulator_on_every_window(case, features, kind, dtype, target, tmp_path):
    data = windows()
    model = tinygen.convert(pipeline(features, kind), dtype=dtype, calibration=data.X)
    assert [op.op for op in model.program.ops[:3]] == ["window_input", "window_features", "feature_input"]
    rows = np.vstack([data.X[::4], edge_windows(64, len(CHANNELS))])
    header = model.save(tmp_path, "w")["header"]
    measured = measure(target, model, header, rows)
    expected = model.program.scores(rows)
    mismatches = int((np.asarray(measured.scores).reshape(expected.shape) != expected).any(axis=1).sum())
    assert mismatches == 0, f"{case} {dtype} on {target}: {mismatches} of {len(rows)} windows differ"
    assert np.array_equal(np.asarray(measured.predictions), model.program.decide(expected))
    if model.program.proba is not None and measured.proba is not None:
        assert np.array_equal(measured.proba, model.program.proba_q(rows))


def test_q7_forest_on_linear_fft_bands_decides_as_the_float_pipeline(tmp_path):
    """Linear FFT band energies span many powers of two: q7 formats from the calibration maximum left the trees
    coarse steps on them, and 28 of the 160 windows took another class than the float pipeline. From the
    thresholds (quantize._fixed_trees): feature_input's formats are at most frac_bits 0 (the features are integers,
    and from 0 on a split decides every integer exactly), every threshold lies in [-128, 126], each window takes the
    float pipeline's class, and the C equals the simulator on them and on the edge windows."""
    need_tool("gcc")
    data = windows()
    fitted = pipeline("mean,std,min,max,rms,crossings,fft8", "forest")
    model = tinygen.convert(fitted, dtype="q7", calibration=data.X)
    conversion, trees = model.program.ops[2], model.program.ops[3]
    assert conversion.op == "feature_input" and max(conversion.frac_bits) <= 0
    assert all(-128 <= t <= 126 for tree in trees.trees for t, left in zip(tree.threshold, tree.left) if left >= 0)
    assert (model.predict(data.X) == fitted.predict(data.X)).all()
    rows = np.vstack([data.X[::4], edge_windows(64, len(CHANNELS))])
    measured = measure("host", model, model.save(tmp_path, "w")["header"], rows)
    assert np.array_equal(np.asarray(measured.scores).reshape(len(rows), -1), model.program.scores(rows))


@pytest.mark.parametrize("features", [ALL_STATISTICS, "fft8,fft8log,fft2", "lp:1,hp:0.5,bp:0.5-3"])
def test_integer_features_are_within_their_proven_bounds(features):
    """The window_features op's real values against WindowFeatures' float features of the same int16 samples,
    dequantized: within each op's proven bound, and on the real windows within 2 % of each feature's spread."""
    data = windows()
    program = tinygen.convert(pipeline(features, "logreg"), dtype="q15", calibration=data.X).program
    conversion, extraction = program.ops[0], program.ops[1]
    rows = np.vstack([data.X, edge_windows(64, len(CHANNELS))[4:]])
    samples = conversion.forward(rows.astype(np.float32))
    real = extraction.forward(samples) * extraction.out_affine()[0] + extraction.out_affine()[1]
    dequantized = samples.reshape(len(rows), 64, -1) * np.asarray(conversion.sample_scales())
    reference = featurespec.window_features(dequantized.reshape(len(rows), -1), 64, len(CHANNELS), extraction.specs, 10.0)
    bounds = extraction.error_bounds()
    error = np.abs(real - reference)
    in_region = np.ones_like(error, dtype=bool)
    for k, name in enumerate(featurespec.feature_names(CHANNELS, extraction.specs)):
        if "log" in name:  # fftKlog's bound holds near the window's peak energy (ops/features/fft_bands.py)
            in_region[:, k] = reference[:, k] >= np.max(reference[:, k]) - 8
    assert np.all(error[in_region] <= np.broadcast_to(bounds, error.shape)[in_region] + 1e-9)
    # and on the real windows the features are accurate: within 2 % of each feature's spread over them
    spread = np.ptp(reference[: len(data.X)], axis=0)
    names = featurespec.feature_names(CHANNELS, extraction.specs)
    accurate = error[: len(data.X)].max(axis=0) <= 0.02 * spread + 1e-9
    assert all(ok or "crossings" in name for ok, name in zip(accurate, names)), \
        [name for ok, name in zip(accurate, names) if not ok]


STREAM_MAIN = r"""
#include <stdio.h>
#include "w.h"
/* argv[1]: frames of w_N_CHANNELS float32; prints, per completed window, its frame count and its raw scores */
int main(int argc, char **argv)
{
    static w_stream_t stream;
    float frame[w_N_CHANNELS];
    int16_t raw[w_N_CHANNELS];
    w_score_t scores[w_N_OUTPUTS];
    long frames = 0;
    int k;
    FILE *in = argc == 2 ? fopen(argv[1], "rb") : NULL;
    if (in == NULL) return 2;
    w_stream_init(&stream);
    while (fread(frame, sizeof frame[0], w_N_CHANNELS, in) == w_N_CHANNELS) {
        frames++;
        w_quantize_frame(frame, raw);
        if (w_push(&stream, raw)) {
            w_scores_ring(stream.ring, stream.next, scores);
            printf("%ld %ld", frames, (long)w_predict_latest(&stream));
            for (k = 0; k < w_N_OUTPUTS; k++) printf(" %ld", (long)scores[k]);
            printf("\n");
        }
    }
    return 0;
}
"""


@pytest.mark.parametrize("hop", [8, 32, 40])
def test_stream_gives_the_windows_of_its_hop(hop, tmp_path):
    """Frames of one long recording through quantize_frame + push: a window every `hop` frames once 32 have arrived,
    each with the simulator's scores and class for that window."""
    need_tool("gcc")
    data = windows(32, 32)
    model = tinygen.convert(pipeline("mean,std,rms,crossings", "logreg", 32, 32), dtype="q15", calibration=data.X)
    model.program.window_op.hop = hop
    model.save(tmp_path, "w")
    frames = np.vstack([load_windows(RAW, label="activity", group="recording", window=100, channels=CHANNELS)
                        .X[k].reshape(100, -1) for k in (0, 40)])  # two recordings back to back: 200 frames
    cut = cut_windows(frames, np.zeros(len(frames), np.int64), np.zeros(len(frames), np.int64), window=32, hop=hop)
    (tmp_path / "main.c").write_text(STREAM_MAIN)
    subprocess.run(["gcc", *host.CFLAGS, f"-I{tmp_path}", str(tmp_path / "main.c"), "-o", str(tmp_path / "run")],
                   check=True, capture_output=True, text=True)
    frames.astype("<f4").tofile(tmp_path / "frames.bin")
    lines = subprocess.run([str(tmp_path / "run"), str(tmp_path / "frames.bin")], check=True, capture_output=True,
                           text=True).stdout.split("\n")[:-1]
    got = np.array([[int(v) for v in line.split()] for line in lines])
    assert list(got[:, 0]) == list(range(32, len(frames) + 1, hop))
    assert np.array_equal(got[:, 1], model.program.decide(model.program.scores(cut.X)))
    assert np.array_equal(got[:, 2:], model.program.scores(cut.X))


def raw_program(scales, offsets) -> Program:
    float_program = to_float_program(pipeline("mean,std,fft8,bp:0.5-3", "logreg"))
    float_program.ops[0].raw_scales, float_program.ops[0].raw_offsets = scales, offsets
    return quantize(float_program, "q15", windows().X)


@pytest.mark.parametrize("target", ["host", "cortex-m4", "cortex-m0"])
@pytest.mark.parametrize("scales, offsets", [([1 / 131, 2.0 ** -10, 0.01], [0, 512, -100]), (None, [0, 512, -100])])
def test_declared_raw_formats(scales, offsets, target, tmp_path):
    """Declared per-channel scales (any float: the float path divides, as TFLM's AffineQuantize) and offsets:
    the C equals the simulator, and the offsets are subtracted before the features (a window of raw values
    r = round(x / scale) + offset has the features of x). On the QEMU targets the stream is checked from an odd
    ring start: the copy-out wraps with the offsets subtracted, two samples at a time (QSUB16) on the Cortex-M4, in
    the portable C on the Cortex-M0."""
    program = raw_program(scales, offsets)
    model = tinygen.api.ConvertedModel(program)
    header = model.save(tmp_path, "w")["header"]
    rows = np.vstack([windows().X[::6], edge_windows(64, 3)])
    measured = measure(target, model, header, rows)
    assert np.array_equal(np.asarray(measured.scores).reshape(len(rows), -1), program.scores(rows))
    raw = program.ops[0].forward(rows.astype(np.float32))
    centred = np.clip(raw.reshape(len(rows), 64, 3) - np.asarray(offsets), -32768, 32767).reshape(len(rows), -1)
    without_offsets = dataclasses.replace(program.ops[1], offsets=None)
    assert np.array_equal(program.ops[1].forward(raw), without_offsets.forward(centred))
    assert program.ops[0].to_dict()["offsets"] == offsets


def test_manifest_round_trip(tmp_path):
    data = windows()
    model = tinygen.convert(pipeline(MIXED, "forest"), dtype="q7", calibration=data.X)
    paths = model.save(tmp_path, "w")
    loaded = Program.load(paths["manifest"])
    assert np.array_equal(loaded.scores(data.X), model.program.scores(data.X))
    assert tinygen.api.render_header(loaded, "w") == tinygen.api.render_header(model.program, "w")
    assert loaded.window_op.hop == 32 and loaded.window_op.window == 64


@pytest.mark.parametrize("dtype", ["int8", "float32", "exact"])
def test_dtypes_a_window_program_does_not_take_are_refused(dtype):
    kind = "forest" if dtype == "exact" else "logreg"
    with pytest.raises(TinygenError, match="window programs export in q15 or q7"):
        tinygen.convert(pipeline("mean,std", kind), dtype=dtype, calibration=windows().X)


def test_window_features_must_come_first():
    data = windows()
    late = Pipeline([("scale", StandardScaler()), ("features", WindowFeatures(64, CHANNELS, "mean")),
                     ("model", LogisticRegression())])
    late.fit(data.X, data.y)
    with pytest.raises(TinygenError, match="must be the first step"):
        tinygen.convert(late, dtype="q15", calibration=data.X)
