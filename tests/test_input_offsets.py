"""Input offsets of the power-of-two dtypes (issue 14): a feature far from zero gets an integer offset in its own
format, subtracted in the integer domain before the narrow saturation, so the format covers its spread.

Outside case: a 10-feature, 3-class LogisticRegression with one feature at barometric pressure (1013 +- 5 hPa)
dropped to near chance in q7 (input step 8 hPa). Raw, unscaled features (SGDClassifier on breast_cancer drifted in
q7) take offsets as a measured refinement: tests/test_raw_features.py.
"""
from __future__ import annotations

import ctypes
import json
import subprocess

import numpy as np
import pytest
from sklearn.datasets import load_breast_cancer
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split
from sklearn.neural_network import MLPClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

import tinygen
from tinygen import fixedpoint
from tinygen.fixedpoint import int_range
from tinygen.frontend import to_float_program
from tinygen.ops.quantize_input import QuantizeInput
from tinygen.profiling import profile
from tinygen.verify import compare_on_target

from conftest import edge_rows, need_tool
from test_fixedpoint import CFLAGS, _ptr, assert_equal_arrays, describe_float, random_floats, to_fixed_edges

TOLERANCE = {"q15": 0.01, "q7": 0.02}
NAME = "tgoff"


def pressure_data(seed: int = 0, n: int = 1200):
    """10 features, 3 classes; feature 0 is pressure, 1013 hPa plus a class signal of +-2 hPa and noise."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 3, n)
    X = rng.normal(0.0, 1.0, (n, 10)) + 0.8 * (y[:, None] == (np.arange(10) % 3))
    X[:, 0] = 1013.0 + 2.0 * (y - 1) + rng.normal(0.0, 1.5, n)
    return X, y


def _split(X, y):
    return train_test_split(X, y, test_size=0.3, random_state=0, stratify=y)


CASES = {
    "pressure-scaled-logreg": (lambda: make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000)), pressure_data),
    "pressure-scaled-mlp": (lambda: make_pipeline(StandardScaler(), MLPClassifier((8,), max_iter=600, random_state=0)),
                            pressure_data),
}


def test_offsets_beyond_coarse_features_are_measured():
    """breast_cancer's features are resolved in 48 or more steps even in q7, so the coarse rule gives none of them an
    offset (each costs the wide conversion's cycles). Offsets on every feature they give a bit are then a measured
    refinement (quantize.REFINE_FACTOR): the scaled logistic regression takes them in q7, with a note giving the
    calibration errors (its 5-fold cross-validated q7 accuracy: 0.9772 without, 0.9789 = float with), and not in
    q15, where they do not cut the error."""
    X, y = load_breast_cancer(return_X_y=True)
    assert not QuantizeInput.from_calibration(X, 8, offsets=True).has_offsets
    estimator = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000)).fit(X, y)
    q15 = tinygen.convert(estimator, dtype="q15", calibration=X).program
    assert not q15.ops[0].has_offsets and not any("score error falls" in n for n in q15.notes)
    q7 = tinygen.convert(estimator, dtype="q7", calibration=X).program
    assert q7.ops[0].has_offsets
    assert any(n.startswith("input offsets on every feature they give a bit") and "score error falls" in n
               for n in q7.notes)


@pytest.mark.parametrize("dtype", ["q15", "q7"])
@pytest.mark.parametrize("case", list(CASES))
def test_offsets_keep_accuracy_and_c_equals_simulator(case, dtype):
    """Pressure-like and raw unscaled features: within 0.01 (q7: 0.02) of the float model; C == simulator on
    every row on host and on the ATmega328P (simavr), edge rows (NaN, +-inf, huge) included."""
    need_tool("gcc")
    need_tool("avr-gcc")
    make_estimator, load = CASES[case]
    X, y = load()
    X_train, X_test, y_train, y_test = _split(X, y)
    estimator = make_estimator().fit(X_train, y_train)
    model = tinygen.convert(estimator, dtype=dtype, calibration=X_train)
    assert model.program.ops[0].has_offsets, case
    float_accuracy = float((estimator.predict(X_test) == y_test).mean())
    fixed_accuracy = float((model.predict(X_test) == y_test).mean())
    assert abs(float_accuracy - fixed_accuracy) <= TOLERANCE[dtype], (float_accuracy, fixed_accuracy)
    rows = np.vstack([X, edge_rows(X.shape[1])])
    for target in ("host", "avr"):
        result = compare_on_target(model, target, rows, "m")
        assert (result["rows"], result["mismatches"]) == (len(rows), 0), (target, result)


def test_pressure_offset_is_the_calibration_midpoint_and_the_bias_absorbs_it():
    """The pressure feature's offset is the midpoint of its calibration range on its own grid, and its format
    then resolves the spread (q7: 16-hPa steps without an offset): x_q * 2^-f + offset is within half a step
    of float32(x) on every calibration row."""
    X, y = pressure_data()
    X_train, _, y_train, _ = _split(X, y)
    first = QuantizeInput.from_calibration(X_train, 8, offsets=True)
    plain = QuantizeInput.from_calibration(X_train, 8)
    low, high = X_train[:, 0].min(), X_train[:, 0].max()
    assert plain.frac_bits[0] == -4  # 1013 * 2 headroom < 2^11: 8 bits leave a step of 16
    assert first.frac_bits[0] >= 2 and abs(first.offsets_real()[0] - (low + high) / 2) <= 2.0 ** -first.frac_bits[0]
    gained = np.asarray(first.frac_bits) > np.asarray(plain.frac_bits)
    assert np.array_equal(np.asarray(first.offsets) != 0, gained)  # an offset only where it gains a bit
    x_q = first.forward(X_train)
    x32 = X_train[:, 0].astype(np.float32).astype(np.float64)  # the C reads float32
    assert np.abs(x_q[:, 0] * 2.0 ** -first.frac_bits[0] + first.offsets_real()[0] - x32).max() \
        <= 2.0 ** -(first.frac_bits[0] + 1)


def test_no_offset_for_a_feature_constant_on_the_calibration_rows():
    """A constant calibration column keeps its plain format: a format fitted to zero spread would saturate any
    other value; the pressure column next to it still gets its offset."""
    X, _ = pressure_data()
    X = np.column_stack([X[:, 0], np.full(len(X), 1013.0)])
    first = QuantizeInput.from_calibration(X, 8, offsets=True)
    assert first.offsets[0] != 0 and first.offsets[1] == 0
    assert first.frac_bits[1] == QuantizeInput.from_calibration(X, 8).frac_bits[1]


def test_precision_profile_reads_inputs_with_their_offsets():
    """The report's precision profile maps x_q back through the offset: the pressure input's format is centred
    on its offset, nothing saturates on the calibration rows, and the error stays within half a step."""
    X, y = pressure_data()
    estimator = LogisticRegression(max_iter=2000).fit(X, y)
    program = tinygen.convert(estimator, dtype="q7", calibration=X).program
    stages = profile(to_float_program(estimator), program, X)
    pressure, offset = stages[0], program.ops[0].offsets_real()[0]
    assert offset != 0 and pressure.fmt.offset == offset and pressure.fmt.low < 1013.0 < pressure.fmt.high
    assert all(stage.clipped == 0 for stage in stages[:X.shape[1]])
    assert pressure.max_error <= pressure.fmt.scale / 2 + 2.0 ** -24 * 1100


def test_manifest_round_trips_offsets_and_old_manifests_load_as_zero(tmp_path):
    """The manifest records the offsets (quantize_input "offsets"); loading it gives the same program; a
    manifest without the field (written before offsets) loads with offset 0 everywhere."""
    X, y = pressure_data()
    X_train, X_test, y_train, _ = _split(X, y)
    model = tinygen.convert(LogisticRegression(max_iter=2000).fit(X_train, y_train), dtype="q7", calibration=X_train)
    paths = model.save(tmp_path, "p")
    manifest = json.loads(paths["manifest"].read_text() if hasattr(paths["manifest"], "read_text") else
                          open(paths["manifest"]).read())
    op = manifest["ops"][0]
    assert op["op"] == "quantize_input" and op["offsets"] == model.program.ops[0].offsets and any(op["offsets"])
    loaded = tinygen.load(paths["manifest"])
    assert np.array_equal(loaded.program.scores(X_test), model.program.scores(X_test))
    del op["offsets"]
    old = QuantizeInput.from_dict(op)
    assert not old.has_offsets
    assert np.array_equal(old.forward(X_test), fixedpoint.to_fixed(X_test.astype(np.float32), np.asarray(op["frac_bits"]), 8))


def test_no_offset_code_for_a_model_without_offsets():
    """A model whose features straddle zero gets no offsets, and its header holds no offset code or table."""
    rng = np.random.default_rng(1)
    X = rng.normal(size=(300, 4))
    y = (X[:, 0] + X[:, 1] > 0).astype(int)
    model = tinygen.convert(LogisticRegression().fit(X, y), dtype="q7", calibration=X)
    assert not model.program.ops[0].has_offsets
    header = model.header("c")
    assert "offset" not in header, "offset code emitted for a model without offsets"
    assert "offsets" not in json.loads(model.manifest("c"))["ops"][0]


# ---- to_fixed_offset: C == Python on edge and random values ---------------------------------------------

WRAPPER = """
#include <stdint.h>
#include "{n}.h"
void tg_to_fixed_offset_n(const float *x, int64_t count, int8_t frac_bits, int32_t offset_q, int32_t q_min,
                          int32_t q_max, int32_t wide_min, int32_t wide_max, int32_t *out)
{{
    int64_t i;
    for (i = 0; i < count; i++) {{
        out[i] = {n}_to_fixed_offset(x[i], frac_bits, offset_q, q_min, q_max, wide_min, wide_max);
    }}
}}
"""


def _wrapper_library(tmp_path_factory, dtype: str, wrapper: str, function: str, argtypes: list):
    """The header of a pressure model in `dtype` (its offsets give it the offset helpers) with `wrapper` around
    them, built as a shared library; `function` with its ctypes `argtypes`."""
    gcc = need_tool("gcc")
    directory = tmp_path_factory.mktemp(f"offset_{dtype}")
    X, y = pressure_data()
    model = tinygen.convert(LogisticRegression(max_iter=2000).fit(X, y), dtype=dtype, calibration=X)
    assert model.program.ops[0].has_offsets
    (directory / f"{NAME}.h").write_text(model.header(NAME))
    (directory / "w.c").write_text(wrapper.format(n=NAME))
    library = directory / "liboff.so"
    done = subprocess.run([gcc, *CFLAGS, "-o", str(library), "w.c"], cwd=directory, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    lib = ctypes.CDLL(str(library))
    getattr(lib, function).restype = None
    getattr(lib, function).argtypes = argtypes
    return lib, model


@pytest.fixture(scope="module")
def offset_lib(tmp_path_factory):
    return _wrapper_library(tmp_path_factory, "q15", WRAPPER, "tg_to_fixed_offset_n",
                            [_ptr(np.float32), ctypes.c_int64, ctypes.c_int8, ctypes.c_int32, ctypes.c_int32,
                             ctypes.c_int32, ctypes.c_int32, ctypes.c_int32, _ptr(np.int32)])[0]


OFFSETS = {16: (0, 1, -1, 8104, -8104, 127, -128, 1 << 14, -(1 << 14)),
           31: (0, 1, -1, 8104, 32767, (1 << 28) + 3, -(1 << 29), 1 << 29)}


@pytest.mark.parametrize("wide_bits", [16, 31])
@pytest.mark.parametrize("bits", [8, 16, 32])
def test_to_fixed_offset_matches_c(offset_lib, bits, wide_bits):
    """NaN, +-inf, +-FLT_MAX, subnormals, ties and their neighbours, random bit patterns: C == Python, for both
    wide ranges (16 bits: to_fixed's 16-bit path) and offsets up to the largest allowed, 2**(wide_bits-2)."""
    rng = np.random.default_rng(bits)
    lo, hi = int_range(bits)
    wide_lo, wide_hi = int_range(wide_bits)
    for frac_bits in (-100, -8, -4, 0, 3, 7, 15, 20, 31, 100):
        x = np.concatenate([to_fixed_edges(bits, frac_bits), random_floats(rng, bits, frac_bits, 20_000)])
        for offset_q in OFFSETS[wide_bits]:
            placed = ((offset_q + rng.integers(-300, 300, 2000) + 0.5) * 2.0 ** -frac_bits)
            with np.errstate(over="ignore", under="ignore"):
                values = np.ascontiguousarray(np.concatenate([x, placed.astype(np.float32)]), dtype=np.float32)
                expected = fixedpoint.to_fixed_offset(values, frac_bits, offset_q, bits, wide_bits)
            out = np.empty(values.size, dtype=np.int32)
            offset_lib.tg_to_fixed_offset_n(values, values.size, frac_bits, offset_q, lo, hi, wide_lo, wide_hi, out)
            assert_equal_arrays(values, expected, out, f"to_fixed_offset(f={frac_bits}, o={offset_q}, bits={bits}, "
                                f"wide_bits={wide_bits})", describe_float)


WRAPPER_I8 = """
#include <stdint.h>
#include "{n}.h"
void tg_to_fixed_offset_i8_n(const float *x, int64_t count, int8_t frac_bits, int16_t offset_q, int32_t *out)
{{
    int64_t i;
    for (i = 0; i < count; i++) {{
        out[i] = {n}_to_fixed_offset_i8(x[i], frac_bits, offset_q);
    }}
}}
"""


@pytest.fixture(scope="module")
def offset_i8_lib(tmp_path_factory):
    """The q7 fast path (to_fixed_offset_i8), from the header of a q7 model whose offsets use the 16-bit range."""
    lib, model = _wrapper_library(tmp_path_factory, "q7", WRAPPER_I8, "tg_to_fixed_offset_i8_n",
                                  [_ptr(np.float32), ctypes.c_int64, ctypes.c_int8, ctypes.c_int16, _ptr(np.int32)])
    assert model.program.ops[0].wide_bits == 16
    return lib


def test_to_fixed_offset_i8_matches_c(offset_i8_lib):
    """The q7 fast path (16-bit compares instead of 32-bit ones) equals to_fixed_offset(bits=8, wide_bits=16) on
    edges, random bit patterns and values around each offset, offsets up to the largest allowed (2**14)."""
    rng = np.random.default_rng(8)
    for frac_bits in (-100, -8, -4, 0, 3, 7, 15, 20, 100):
        x = np.concatenate([to_fixed_edges(8, frac_bits), to_fixed_edges(16, frac_bits),
                            random_floats(rng, 16, frac_bits, 20_000)])
        for offset_q in OFFSETS[16]:
            placed = ((offset_q + rng.integers(-300, 300, 2000) + 0.5) * 2.0 ** -frac_bits)
            with np.errstate(over="ignore", under="ignore"):
                values = np.ascontiguousarray(np.concatenate([x, placed.astype(np.float32)]), dtype=np.float32)
                expected = fixedpoint.to_fixed_offset_i8(values, frac_bits, offset_q)  # the C's Python twin
                assert np.array_equal(expected, fixedpoint.to_fixed_offset(values, frac_bits, offset_q, 8, 16))
            out = np.empty(values.size, dtype=np.int32)
            offset_i8_lib.tg_to_fixed_offset_i8_n(values, values.size, frac_bits, offset_q, out)
            assert_equal_arrays(values, expected, out, f"to_fixed_offset_i8(f={frac_bits}, o={offset_q})", describe_float)


def test_to_fixed_offset_spec():
    """Offset 0 is to_fixed; otherwise the wide conversion minus the offset, saturated; NaN -> 0; +-inf and
    huge values saturate; ties round away from zero before the offset is subtracted."""
    rng = np.random.default_rng(3)
    x = np.concatenate([random_floats(rng, 16, 4, 20_000), to_fixed_edges(16, 4)])
    with np.errstate(over="ignore", invalid="ignore"):
        assert np.array_equal(fixedpoint.to_fixed_offset(x, 4, 0, 16), fixedpoint.to_fixed(x, 4, 16))
    cases = [(np.nan, 0), (np.inf, 32767), (-np.inf, -32768), (3e38, 32767), (-3e38, -32768),
             (1013.0, 0), (1013.0 + 2.5 / 16, 3), (1013.0 - 2.5 / 16, -2), (1013.0 + 4000.0, 32767),
             (1013.0 - 4000.0, -32768), (0.0, -1013 * 16)]
    for value, expected in cases:
        got = int(fixedpoint.to_fixed_offset(np.float32(value), 4, 1013 * 16, 16))
        assert got == expected, (value, got, expected)
