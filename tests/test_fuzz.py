"""Fuzzing the generated C against the simulator (issue 8).

hypothesis draws models: linear models (float32, q31, q15, q7, int8), trees (exact inline / table, with and
without threshold bins; float32; q15 / q7 inline / table), MLPs (float32, q15, q7, int8; relu, tanh, logistic,
identity) and GaussianNB (float32, q15, q7), with random shapes and extreme weights (zeros, subnormals, values
near FLT_MAX, mixed magnitudes, exactly representable edges), deep random trees (thresholds at +-0.0,
subnormals, near FLT_MAX, +-inf, between two float32s, shared by many splits; NaN sent either way), and rows
of NaN (several payloads), +-inf, subnormals, +-FLT_MAX, values on and next to every threshold and on the
input conversion's rounding ties. Shapes and styles are hypothesis choices (they shrink); the numbers in the
arrays come from a numpy generator seeded by a drawn seed (one draw instead of thousands).

Each example is a batch of models of one family: every model is converted (a refusal must be a one-line
TinygenError with one of the REFUSALS reasons), all headers are built into one program
(host.multi_runner_source: runner.c once per model, so one compile serves the batch) with AddressSanitizer
and UndefinedBehaviorSanitizer (gcc, and clang), every model runs on its rows, and the C must equal the
simulator on every row (verify.compare_measured: raw scores bit for bit, predictions, predict_proba, the
quantized-input variants) with nothing on the sanitizers' stderr.

The short run (the default, in CI) takes FUZZ_EXAMPLES examples per family, derandomized: the same examples
every run. The long run draws new ones each time:
    TINYGEN_FUZZ_EXAMPLES=2000 python3 -m pytest -q tests/test_fuzz.py
(a failure prints the falsifying example and a `--hypothesis-seed` to reproduce it).
"""
from __future__ import annotations

import functools
import os
import re
import subprocess
import tempfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, Phase, event, given, note, settings
from hypothesis import strategies as st
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.naive_bayes import GaussianNB
from sklearn.neural_network import MLPClassifier, MLPRegressor
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

import tinygen
from tinygen.api import ConvertedModel
from tinygen.errors import TinygenError
from tinygen.ir import Program
from tinygen.ops.trees import FloatTrees, Tree
from tinygen.quantize import quantize
from tinygen.targets import host
from tinygen.verify import compare_measured

from conftest import REQUIRE, error_of, need_tool
from tree_cases import SPECIALS, edge_values

# the simulator meets inf and NaN on purpose here (float32 overflow, as the C does): numpy's warnings say nothing
pytestmark = pytest.mark.filterwarnings("ignore::RuntimeWarning")

LONG_RUN = int(os.environ.get("TINYGEN_FUZZ_EXAMPLES", "0"))
FUZZ_EXAMPLES = LONG_RUN or 12
# Every example compiles C: shrinking a failure takes minutes, so only the long run shrinks (the short run
# reports the batch it drew; each model's note names its styles and numpy seed).
FUZZ = settings(max_examples=FUZZ_EXAMPLES, derandomize=not LONG_RUN, deadline=None, database=None,
                suppress_health_check=list(HealthCheck), print_blob=True,
                phases=tuple(Phase) if LONG_RUN else (Phase.explicit, Phase.generate))

# -fsanitize=undefined leaves out float-cast-overflow in gcc: a float -> int conversion out of range (the
# input conversion of NaN, inf or FLT_MAX) is undefined behaviour too, so it is asked for by name.
SANITIZE = ["-fsanitize=address,undefined,float-cast-overflow", "-fno-sanitize-recover=all", "-fno-omit-frame-pointer"]
CFLAGS = ["-std=c99", "-O1", "-ffp-contract=off", "-Wall", "-Wextra", "-Wpedantic", "-Wconversion", "-Werror"]
SANITIZER_ENV = {"ASAN_OPTIONS": "detect_leaks=0:abort_on_error=0", "UBSAN_OPTIONS": "print_stacktrace=1"}
SANITIZER_WORDS = re.compile(r"runtime error|AddressSanitizer|UndefinedBehaviorSanitizer|LeakSanitizer")

# Why tinygen may refuse a drawn model: nothing else is a fair refusal.
REFUSALS = tuple(re.compile(pattern) for pattern in (
    r"GaussianNB's variances span too wide a range",  # q15/q7: no score format keeps every input unsaturated
    r"span too wide a range for fixed point",  # weights 2**250 apart do not share one power-of-two format
    r"beyond float32's range",  # float32: a weight that float32 cannot hold
    r"weights are outside float32's range",  # int8: weights whose per-channel scale (max |w| / 127) underflows
    r"accumulator could overflow int32",  # int8: a bias far beyond the weights' scale
    r"int8 tanh/logistic input scale is outside TFLM's range",  # int8: pre-activations of a tiny or huge range
    r"int8 tensor's range .* is beyond float32's",  # int8: a layer's outputs beyond FLT_MAX
))

F32 = np.finfo(np.float32)
SUBNORMAL_MIN = 2.0 ** -149
# exactly representable edges: powers of two, the float32 extremes, values one ulp off 1, the int16 range
EDGES = np.array([0.0, -0.0, 1.0, -1.0, 0.5, -0.5, 2.0 ** -24, 1.0 - 2.0 ** -24, 1.0 + 2.0 ** -23, 2.0 ** 15,
                  -(2.0 ** 15), 2.0 ** 31, 32767.5, 127.5, float(F32.max), -float(F32.max), float(F32.tiny),
                  -float(F32.tiny), SUBNORMAL_MIN, -SUBNORMAL_MIN, 2.0 ** -126 - 2.0 ** -149, 3.0, 0.1])
STYLES = ("unit", "normal", "tiny", "huge", "mixed", "zeros", "edges", "sparse")


def magnitudes(rng: np.random.Generator, style: str, shape) -> np.ndarray:
    """float64 values of one style, every one inside float32's range."""
    sign = rng.choice([-1.0, 1.0], size=shape)
    if style == "unit":
        return rng.normal(size=shape)
    if style == "normal":
        return rng.normal(size=shape) * 10.0 ** rng.uniform(-3, 3)
    if style == "tiny":  # float32 subnormals and the smallest normals
        return sign * np.exp2(rng.uniform(-149, -100, size=shape))
    if style == "huge":
        return sign * np.exp2(rng.uniform(60, 127.99, size=shape))
    if style == "mixed":
        return sign * np.exp2(rng.uniform(-149, 127.99, size=shape))
    if style == "zeros":
        return np.where(rng.random(shape) < 0.5, 0.0, -0.0)
    if style == "edges":
        return rng.choice(EDGES, size=shape)
    values = np.zeros(shape)  # sparse: a few mixed values among zeros
    hit = rng.random(shape) < 0.2
    values[hit] = magnitudes(rng, "mixed", shape)[hit]
    return values


def calibration(rng: np.random.Generator, style: str, n_features: int, mix: float = 0.3) -> np.ndarray:
    """Calibration rows: `style`, or with probability `mix` per feature any style (formats then differ
    wildly between features); a few NaN / inf cells."""
    n_rows = int(rng.integers(3, 30))
    columns = [magnitudes(rng, style if rng.random() >= mix else str(rng.choice(STYLES)), n_rows) for _ in range(n_features)]
    X = np.stack(columns, axis=1)
    holes = rng.random(X.shape) < 0.05
    X[holes] = rng.choice([np.nan, np.inf, -np.inf], size=int(holes.sum()))
    X[0] = np.where(np.isfinite(X[0]), X[0], 1.0)  # at least one finite value per feature
    return X


def input_rows(rng: np.random.Generator, calib: np.ndarray, near: list[np.ndarray], n_random: int = 120) -> np.ndarray:
    """float32 rows: the calibration rows, one row per special value, and random rows mixing calibration
    values (scaled up to far beyond their range), special values and each feature's `near` values."""
    n_features = calib.shape[1]
    calib32 = calib.astype(np.float32)
    uniform = np.repeat(SPECIALS[:, None], n_features, axis=1)
    rows = calib32[rng.integers(0, len(calib32), n_random)].copy()
    with np.errstate(over="ignore", invalid="ignore"):
        for f in range(n_features):
            choice = rng.random(n_random)
            scaled = rows[:, f] * rng.choice(np.array([0.5, 2.0, 3.0, 1e10, -1.0], dtype=np.float32), n_random)
            rows[:, f] = np.where(choice < 0.2, scaled, rows[:, f])
            rows[:, f] = np.where((choice >= 0.2) & (choice < 0.35), rng.choice(SPECIALS, n_random), rows[:, f])
            if len(near[f]):
                rows[:, f] = np.where(choice >= 0.35, rng.choice(near[f], n_random), rows[:, f])
    return np.concatenate([calib32, uniform, rows]).astype(np.float32)


def conversion_ties(model: ConvertedModel) -> list[np.ndarray]:
    """Per feature: float32 values on the input conversion's rounding ties and saturation edges (fixed point),
    with their neighbours."""
    first = model.program.ops[0]
    n_features = model.program.n_features
    if getattr(first, "op", "") == "quantize_input":
        half = 1 << (int(re.sub(r"\D", "", first.out_type)) - 1)
        steps = [np.exp2(-float(f)) for f in first.frac_bits]
        centres = first.offsets_real()  # with input offsets, the saturation edges sit around each offset
    elif getattr(first, "op", "") == "quantize_affine":
        half = 128
        steps = [float(s) for s in first.scale]
        centres = np.zeros(n_features)
    else:
        return [np.array([], dtype=np.float32)] * n_features
    ks = np.array([0, 1, 2, 7, half - 2, half - 1, half, half + 1], dtype=np.float64)
    out = []
    with np.errstate(over="ignore"):
        for step, centre in zip(steps, centres):
            ties = (centre + np.concatenate([(ks + 0.5) * step, -(ks + 0.5) * step, ks * step])).astype(np.float32)
            up, down = np.nextafter(ties, np.float32(np.inf)), np.nextafter(ties, np.float32(-np.inf))
            out.append(np.concatenate([ties, up, down]))
    return out


# ---- building and running a batch --------------------------------------------------------------------------
def convert_or_refuse(make, what: str):
    """The converted model, or None when tinygen refuses it for a fair reason (a one-line TinygenError)."""
    try:
        model = make()
    except TinygenError as exc:
        message = str(exc)
        assert "\n" not in message, f"{what}: not a one-line message: {message!r}"
        reason = next((pattern.pattern for pattern in REFUSALS if pattern.search(message)), None)
        assert reason, f"{what}: refused for an unexpected reason: {message}"
        event(f"refused: {reason}")
        return None
    event(f"converted {model.dtype}")
    return model


@functools.cache
def _sanitizer_problem(compiler: str) -> str | None:
    """Why `compiler` cannot build and run a sanitized program (its runtime libraries missing), or None."""
    with tempfile.TemporaryDirectory(prefix="tinygen-fuzz-") as tmp:
        source, exe = Path(tmp) / "probe.c", Path(tmp) / "probe"
        source.write_text("int main(void) { return 0; }\n")
        done = subprocess.run([compiler, *SANITIZE, str(source), "-o", str(exe)], capture_output=True, text=True)
        if done.returncode == 0:
            done = subprocess.run([str(exe)], capture_output=True, text=True, env={**os.environ, **SANITIZER_ENV})
    if done.returncode == 0:
        return None
    return f"{Path(compiler).name} cannot build with {' '.join(SANITIZE[:1])}: {done.stderr.strip().splitlines()[-1:]}"


def first_difference(model: ConvertedModel, records: np.ndarray, X: np.ndarray) -> str:
    c_scores = records["scores"].astype(np.float64)
    sim_scores = np.asarray(model.scores(X), dtype=np.float64)
    rows = np.nonzero(np.any((c_scores != sim_scores) & ~(np.isnan(c_scores) & np.isnan(sim_scores)), axis=1))[0]
    if not len(rows):
        return "the scores agree (predictions or predict_proba differ)"
    row = int(rows[0])
    return f"first row {row}: x = {X[row].tolist()}, C scores {c_scores[row].tolist()}, simulator {sim_scores[row].tolist()}"


def compilers() -> list[str]:
    """gcc and clang, each able to build sanitized programs (skip locally, fail in CI, as conftest.need_tool)."""
    found = [need_tool("gcc"), need_tool("clang")]
    for compiler, package in zip(found, ("libgcc-12-dev", "libclang-rt-dev")):
        problem = _sanitizer_problem(compiler)
        if problem:
            message = f"{problem} (apt-get install {package})"
            pytest.fail(message + " and TINYGEN_REQUIRE_TOOLCHAINS=1") if REQUIRE else pytest.skip(message)
    return found


def check_batch(batch: dict) -> None:
    """batch: name -> (ConvertedModel, rows). Build every header into one sanitized program per compiler, run
    each model on its rows: C == simulator on every row, and not a word from the sanitizers."""
    if not batch:
        return
    with tempfile.TemporaryDirectory(prefix="tinygen-fuzz-") as tmp:
        directory = Path(tmp)
        for name, (model, _) in batch.items():
            model.save(directory, name)
        source = host.multi_runner_source({name: model.program for name, (model, _) in batch.items()}, directory)
        for compiler in compilers():
            exe = directory / f"runners_{Path(compiler).name}"
            build = subprocess.run([compiler, *CFLAGS, *SANITIZE, str(source), "-o", str(exe)], capture_output=True,
                                   text=True, timeout=600)
            assert build.returncode == 0, f"{compiler}: the batch does not build:\n{build.stderr[:4000]}"
            for name, (model, X) in batch.items():
                rows, out = directory / f"{name}.f32", directory / f"{name}.out"
                X.astype(np.float32).tofile(rows)
                done = subprocess.run([str(exe), name, str(rows), str(out)], capture_output=True, text=True, timeout=120,
                                      env={**os.environ, **SANITIZER_ENV})
                what = f"{name} ({model.program.source}, {model.dtype}) built by {Path(compiler).name}"
                assert done.returncode == 0 and not SANITIZER_WORDS.search(done.stderr), \
                    f"{what}: exit {done.returncode}\n{done.stderr[:4000]}"
                records = np.fromfile(out, dtype=host.record_dtype(model.program))
                result = compare_measured(model.program, host.measurement(model.program, records), X)
                assert result["mismatches"] == 0, (f"{what}: C != simulator on {result['mismatches']} of {len(X)} rows: "
                                                   f"{result}; {first_difference(model, records, X)}")


# ---- linear models -----------------------------------------------------------------------------------------
LINEAR_DTYPES = ("float32", "q31", "q15", "q7", "int8")


@st.composite
def linear_cases(draw):
    kind = draw(st.sampled_from(("binary", "multiclass", "regressor")))
    n_features = draw(st.integers(1, 10))
    n_classes = draw(st.integers(3, 5)) if kind == "multiclass" else 2
    weight_style, bias_style, calib_style = (draw(st.sampled_from(STYLES)) for _ in range(3))
    dtype = draw(st.sampled_from(LINEAR_DTYPES))
    scaler = draw(st.booleans())
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    n_rows = 1 if kind != "multiclass" else n_classes
    coef = magnitudes(rng, weight_style, (n_rows, n_features))
    intercept = magnitudes(rng, bias_style, n_rows)
    if kind == "regressor":
        estimator = Ridge()
        estimator.coef_, estimator.intercept_ = coef[0], float(intercept[0])
    else:
        estimator = LogisticRegression()
        estimator.coef_, estimator.intercept_ = coef, intercept
        estimator.classes_ = np.arange(n_classes)
    estimator.n_features_in_ = n_features
    calib = calibration(rng, calib_style, n_features)
    if scaler:  # a StandardScaler in front folds into the weights: its scales multiply their range
        standard = StandardScaler()
        standard.mean_ = magnitudes(rng, "normal", n_features)
        standard.scale_ = np.abs(magnitudes(rng, draw(st.sampled_from(("normal", "tiny", "huge", "edges"))), n_features))
        standard.scale_[standard.scale_ == 0] = 1.0
        standard.var_, standard.n_features_in_ = standard.scale_ ** 2, n_features
        estimator = Pipeline([("scale", standard), ("model", estimator)])
    note(f"linear {kind} {n_features} features, weights {weight_style}, bias {bias_style}, calibration "
         f"{calib_style}, scaler {scaler}, {dtype}, seed {seed}")
    return estimator, dtype, calib, rng


@FUZZ
@given(st.lists(linear_cases(), min_size=2, max_size=5))
def test_fuzz_linear(cases):
    batch = {}
    for index, (estimator, dtype, calib, rng) in enumerate(cases):
        model = convert_or_refuse(lambda: tinygen.convert(estimator, dtype=dtype, calibration=calib), f"linear {index}")
        if model is not None:
            batch[f"lin{index}"] = (model, input_rows(rng, calib, conversion_ties(model)))
    check_batch(batch)


# ---- trees (the float IR built directly: any structure, any threshold) ---------------------------------------
# thresholds scikit-learn can produce, and the awkward ones: +-0.0, subnormals (float32 and float64), FLT_MAX and
# just above it (floors to FLT_MAX), beyond float32 (+-1e39), +-inf (HistGradientBoosting's split on NaN)
THRESHOLD_EDGES = np.array([0.0, -0.0, SUBNORMAL_MIN, -SUBNORMAL_MIN, 1e-310, -1e-310, float(F32.tiny), -float(F32.tiny),
                            float(F32.max), -float(F32.max), float(F32.max) * (1 + 2.0 ** -26), 1e39, -1e39, np.inf,
                            -np.inf, 0.5, -0.5, 1.0, 2.0 ** 15, -(2.0 ** 15)])
THRESHOLD_STYLES = ("normal", "edges", "between", "mixed", "tiny", "huge")
TREE_VARIANTS = (("exact", "inline", False), ("exact", "inline", True), ("exact", "table", False), ("exact", "table", True),
                 ("exact", "auto", None), ("float32", "inline", None), ("q15", "inline", None), ("q15", "table", None),
                 ("q7", "inline", None), ("q7", "table", None))


def thresholds(rng: np.random.Generator, style: str, size: int) -> np.ndarray:
    if style == "edges":
        return rng.choice(THRESHOLD_EDGES, size)
    if style == "between":  # float64 values between two adjacent float32 (as scikit-learn's midpoints are)
        low = (rng.normal(size=size) * 10.0 ** rng.uniform(-3, 3)).astype(np.float32)
        return (low.astype(np.float64) + np.nextafter(low, np.float32(np.inf)).astype(np.float64)) / 2
    return magnitudes(rng, style, size)


def random_tree(rng: np.random.Generator, pools: list[np.ndarray], depth: int, chain: bool, leaf) -> Tree:
    """A random tree of at most `depth` levels (chain: one long path, a leaf beside every split), splits on
    random features at values from that feature's pool, NaN sent left or right at random."""
    feature, threshold, left, right, missing, value = [], [], [], [], [], []

    def node(level: int) -> int:
        index = len(feature)
        for column in (feature, threshold, left, right, missing, value):
            column.append(None)
        if level < depth and (chain or rng.random() < 0.8 or level == 0):
            f = int(rng.integers(len(pools)))
            feature[index], threshold[index], missing[index] = f, float(rng.choice(pools[f])), bool(rng.random() < 0.5)
            deeper_left = bool(rng.random() < 0.5)
            left[index] = node(level + 1) if (deeper_left or not chain) else node(depth)
            right[index] = node(level + 1) if (not deeper_left or not chain) else node(depth)
            value[index] = np.zeros_like(leaf())
        else:
            feature[index], threshold[index], left[index], right[index], missing[index] = -2, -2.0, -1, -1, False
            value[index] = leaf()
        return index

    node(0)
    return Tree(feature=np.array(feature, dtype=np.int64), threshold=np.array(threshold, dtype=np.float64),
                left=np.array(left, dtype=np.int64), right=np.array(right, dtype=np.int64),
                missing_left=np.array(missing, dtype=bool), value=np.array(value, dtype=np.float64))


def fractions(rng: np.random.Generator, n_classes: int) -> np.ndarray:
    """Class fractions of a leaf: random, one class, or exact ties (1/2, 1/3, ...)."""
    kind = rng.integers(3)
    if kind == 0:
        return rng.dirichlet(np.ones(n_classes))
    if kind == 1:
        return np.eye(n_classes)[rng.integers(n_classes)]
    tied = rng.integers(2, n_classes + 1)
    return np.concatenate([np.full(tied, 1.0 / tied), np.zeros(n_classes - tied)])[rng.permutation(n_classes)]


@st.composite
def tree_cases(draw):
    kind = draw(st.sampled_from(("forest-classifier", "forest-regressor", "boosting-binary", "boosting-multiclass",
                                 "boosting-regressor")))
    big = draw(st.integers(0, 7)) == 0  # now and then: many features (wide feature codes), many splits
    n_features = draw(st.integers(1, 40 if big else 8))
    n_classes = draw(st.integers(2, 4)) if kind in ("forest-classifier", "boosting-multiclass") else 2
    if kind == "boosting-multiclass":
        n_classes = max(n_classes, 3)
    n_trees = draw(st.integers(1, 3))
    depth = draw(st.integers(1, 10 if big else 6))
    chain = draw(st.integers(0, 4)) == 0
    if chain:
        depth = draw(st.integers(10, 120))
    threshold_style, leaf_style, calib_style = (draw(st.sampled_from(s)) for s in (THRESHOLD_STYLES, STYLES, STYLES))
    dtype, layout, bins = draw(st.sampled_from(TREE_VARIANTS))
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    pools = [thresholds(rng, threshold_style if rng.random() < 0.8 else str(rng.choice(THRESHOLD_STYLES)),
                        int(rng.integers(1, 5))) for _ in range(n_features)]
    n_out = {"boosting-binary": 1, "boosting-regressor": 1, "forest-regressor": 1}.get(kind, n_classes)
    columns = n_out if kind == "boosting-multiclass" else 1
    trees = []
    for stage in range(n_trees):
        for column in range(columns):
            if kind == "forest-classifier":
                leaf = lambda: fractions(rng, n_classes)  # noqa: E731
            elif kind == "boosting-multiclass":  # one tree per class and stage, adding to its column only
                leaf = lambda column=column: np.eye(n_out)[column] * magnitudes(rng, leaf_style, 1)[0]  # noqa: E731
            else:
                leaf = lambda: magnitudes(rng, leaf_style, 1)  # noqa: E731
            trees.append(random_tree(rng, pools, depth, chain, leaf))
    boosting = kind.startswith("boosting")
    op = FloatTrees(trees=trees, task="regression" if kind.endswith("regressor") else "classification", n_in=n_features,
                    combine="sum" if boosting else "mean",
                    leaf_kind="fractions" if kind == "forest-classifier" else "values",
                    bias=magnitudes(rng, leaf_style, n_out) if boosting else None)
    decisions = {"forest-classifier": "argmax", "boosting-multiclass": "argmax", "boosting-binary": "positive"}
    decision = decisions.get(kind, "value")
    program = Program(dtype="float", task=op.task, decision=decision, n_features=n_features,
                      feature_names=[f"f{i}" for i in range(n_features)],
                      labels=None if op.task == "regression" else list(range(n_classes)), ops=[op], source=f"fuzz {kind}")
    calib = calibration(rng, calib_style, n_features)
    if rng.random() < 0.5:  # formats that fit the thresholds
        calib = np.concatenate([calib, np.stack([rng.choice(pool[np.isfinite(pool)] if np.isfinite(pool).any() else [1.0], 4)
                                                 for pool in pools], axis=1)])
    note(f"trees {kind} {n_features} features, {len(trees)} trees of depth {depth}{' (chain)' if chain else ''}, "
         f"thresholds {threshold_style}, leaves {leaf_style}, calibration {calib_style}, {dtype} {layout} bins {bins}, "
         f"seed {seed}")
    near = [np.unique(np.concatenate([edge_values(t) for t in pool])) for pool in pools]
    return program, dtype, layout, bins, calib, near, rng


@FUZZ
@given(st.lists(tree_cases(), min_size=2, max_size=5))
def test_fuzz_trees(cases):
    batch = {}
    for index, (program, dtype, layout, bins, calib, near, rng) in enumerate(cases):
        model = convert_or_refuse(lambda: ConvertedModel(quantize(program, dtype, calib, layout, bins)), f"trees {index}")
        if model is not None:
            ties = conversion_ties(model)
            batch[f"trees{index}"] = (model, input_rows(rng, calib, [np.concatenate([a, b]) for a, b in zip(near, ties)]))
    check_batch(batch)


# ---- MLPs --------------------------------------------------------------------------------------------------
@st.composite
def mlp_cases(draw):
    kind = draw(st.sampled_from(("binary", "multiclass", "regressor")))
    n_features = draw(st.integers(1, 8))
    hidden = draw(st.lists(st.integers(1, 8), min_size=1, max_size=2))
    activation = draw(st.sampled_from(("relu", "tanh", "logistic", "identity")))
    dtype = draw(st.sampled_from(("float32", "q15", "q7", "int8") + (("q31",) if activation == "identity" else ())))
    weight_style = draw(st.sampled_from(STYLES))
    calib_style = draw(st.sampled_from(("unit", "unit", *STYLES)))
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    n_classes = draw(st.integers(3, 5)) if kind == "multiclass" else 2
    n_out = n_classes if kind == "multiclass" else 1
    sizes = [n_features, *hidden, n_out]
    if kind == "regressor":
        estimator = MLPRegressor(activation=activation)
        estimator.out_activation_ = "identity"
    else:
        estimator = MLPClassifier(activation=activation)
        estimator.out_activation_ = "softmax" if kind == "multiclass" else "logistic"
        estimator.classes_ = np.arange(n_classes)
    # one layer of the drawn style, the others ordinary: extreme everywhere is refused as too wide a range
    odd = int(rng.integers(len(sizes) - 1))
    styles = [weight_style if k == odd else "unit" for k in range(len(sizes) - 1)]
    estimator.coefs_ = [magnitudes(rng, style, (a, b)) for style, a, b in zip(styles, sizes, sizes[1:])]
    estimator.intercepts_ = [magnitudes(rng, style, b) for style, b in zip(styles, sizes[1:])]
    estimator.n_outputs_, estimator.n_layers_, estimator.n_features_in_ = n_out, len(sizes), n_features
    note(f"mlp {kind} {sizes} {activation}, layer {odd} {weight_style}, calibration {calib_style}, {dtype}, seed {seed}")
    return estimator, dtype, calibration(rng, calib_style, n_features, mix=0.1), rng


@FUZZ
@given(st.lists(mlp_cases(), min_size=2, max_size=5))
def test_fuzz_mlp(cases):
    batch = {}
    for index, (estimator, dtype, calib, rng) in enumerate(cases):
        model = convert_or_refuse(lambda: tinygen.convert(estimator, dtype=dtype, calibration=calib), f"mlp {index}")
        if model is not None:
            batch[f"mlp{index}"] = (model, input_rows(rng, calib, conversion_ties(model)))
    check_batch(batch)


# ---- GaussianNB --------------------------------------------------------------------------------------------
@st.composite
def gaussian_cases(draw):
    n_features = draw(st.integers(1, 8))
    n_classes = draw(st.integers(2, 5))
    theta_style = draw(st.sampled_from(STYLES))
    var_style = draw(st.sampled_from(("unit", "normal", "edges", "tiny", "huge", "mixed")))
    prior_kind = draw(st.sampled_from(("random", "uniform", "zero", "extreme")))
    dtype = draw(st.sampled_from(("float32", "q15", "q7")))
    calib_style = draw(st.sampled_from(("unit", "normal", "edges", "tiny", "zeros", "sparse")))
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    estimator = GaussianNB()
    estimator.theta_ = magnitudes(rng, theta_style, (n_classes, n_features))
    var = np.abs(magnitudes(rng, var_style, (n_classes, n_features)))
    estimator.var_ = np.where(var > 0, var, 1.0)
    prior = {"random": rng.dirichlet(np.ones(n_classes)), "uniform": np.full(n_classes, 1.0 / n_classes),
             "zero": np.eye(n_classes)[0] * 0.5 + np.eye(n_classes)[-1] * 0.5,  # classes in between: prior 0
             "extreme": np.concatenate([[1.0 - 1e-300 * (n_classes - 1)], np.full(n_classes - 1, 1e-300)])}[prior_kind]
    estimator.class_prior_, estimator.classes_ = prior, np.arange(n_classes)
    estimator.n_features_in_, estimator.epsilon_ = n_features, 0.0
    calib = calibration(rng, calib_style, n_features, mix=0.0)
    if rng.random() < 0.5:  # rows near the means: formats that fit them
        calib = np.concatenate([calib, estimator.theta_ + rng.normal(size=estimator.theta_.shape) * np.sqrt(estimator.var_)])
    note(f"gaussian {n_classes} classes x {n_features} features, theta {theta_style}, var {var_style}, prior "
         f"{prior_kind}, calibration {calib_style}, {dtype}, seed {seed}")
    return estimator, dtype, calib, rng


@FUZZ
@given(st.lists(gaussian_cases(), min_size=2, max_size=5))
def test_fuzz_gaussian_nb(cases):
    batch = {}
    for index, (estimator, dtype, calib, rng) in enumerate(cases):
        model = convert_or_refuse(lambda: tinygen.convert(estimator, dtype=dtype, calibration=calib), f"gaussian {index}")
        if model is not None:
            means = estimator.theta_.astype(np.float32)
            near = [np.concatenate([ties, means[:, i]]) for i, ties in enumerate(conversion_ties(model))]
            batch[f"gnb{index}"] = (model, input_rows(rng, calib, near))
    check_batch(batch)


# ---- what the fuzzing found: each once more, as a plain test --------------------------------------------------
F32_MAX = float(F32.max)


def logistic(coef, intercept) -> LogisticRegression:
    estimator = LogisticRegression()
    estimator.coef_, estimator.intercept_ = np.asarray(coef, dtype=np.float64), np.asarray(intercept, dtype=np.float64)
    estimator.classes_, estimator.n_features_in_ = np.arange(2), estimator.coef_.shape[1]
    return estimator


CALIBRATION = np.array([[1.0], [-3.0], [2.0]])
REFUSED = [  # (what, estimator, dtype, calibration, words): each was a C compile error or a traceback before
    ("float32 weight beyond float32 (was `inff` in the C)", logistic([[1e39]], [0.0]), "float32", CALIBRATION,
     ["beyond float32's range", "fixed-point dtype"]),
    ("float32 NaN weight (was `nanf` in the C)", logistic([[np.nan]], [0.0]), "float32", CALIBRATION, ["non-finite"]),
    ("q15 NaN weight (was ValueError: range is not finite)", logistic([[np.nan]], [0.0]), "q15", CALIBRATION,
     ["non-finite weights"]),
    ("q15 weight 1e300 times a tiny input format (was ValueError)", logistic([[1e300]], [0.0]), "q15", CALIBRATION * 1e-30,
     ["too wide a range"]),
    ("int8 bias 1e30 (was an int64 wrap: INT32_C(9223372036854773776) in the C)", logistic([[1.0]], [1e30]), "int8",
     CALIBRATION, ["accumulator could overflow int32"]),
]


@pytest.mark.parametrize("what, estimator, dtype, calib, words", REFUSED, ids=[case[0] for case in REFUSED])
def test_found_by_fuzzing_refused_clearly(what, estimator, dtype, calib, words):
    message = error_of(tinygen.convert, estimator, dtype=dtype, calibration=calib)
    for word in words:
        assert word in message


def test_found_by_fuzzing_int8_layer_outputs_beyond_float32():
    """Hidden outputs of 1e42 have no float32 int8 scale: was ValueError (multiplier not finite)."""
    mlp = MLPClassifier(activation="relu")
    mlp.coefs_, mlp.intercepts_ = [np.array([[F32_MAX, -F32_MAX]]), np.ones((2, 1))], [np.zeros(2), np.zeros(1)]
    mlp.out_activation_, mlp.classes_, mlp.n_outputs_, mlp.n_layers_, mlp.n_features_in_ = "logistic", np.arange(2), 1, 3, 1
    assert "beyond float32's" in error_of(tinygen.convert, mlp, dtype="int8", calibration=CALIBRATION * 1000)


def test_found_by_fuzzing_models_that_now_convert():
    """Each failed before the fix; now each converts, and its sanitized C equals the simulator on edge rows:
    q31 bias 1e38 (OverflowError: the rounding constant and the bias beyond int64), int8 zero weights with bias
    1e-40 (a subnormal output scale made shift 141: a shift beyond int32 in the C), GaussianNB whose means lie far
    outside the calibration rows (TypeError: no calibration-fitting score format above the saturation-free one)."""
    gaussian = GaussianNB()
    gaussian.theta_, gaussian.var_ = np.array([[-1000.0, 500.0], [700.0, 400.0]]), np.full((2, 2), 0.009)
    gaussian.class_prior_, gaussian.classes_, gaussian.n_features_in_, gaussian.epsilon_ = np.full(2, 0.5), np.arange(2), 2, 0.0
    rng = np.random.default_rng(0)
    cases = {"bias_q31": (logistic([[1.0]], [1e38]), "q31", CALIBRATION),
             "zero_int8": (logistic([[0.0]], [1e-40]), "int8", CALIBRATION),
             "gnb_far": (gaussian, "q15", np.array([[-100.0, 7.0], [100.0, -7.0]]))}
    batch = {}
    for name, (estimator, dtype, calib) in cases.items():
        model = tinygen.convert(estimator, dtype=dtype, calibration=calib)
        batch[name] = (model, input_rows(rng, calib, conversion_ties(model)))
    assert batch["zero_int8"][0].program.ops[1].shift == [0]
    check_batch(batch)
