"""The integer contract: every primitive in tinygen/fixedpoint.py equals its C twin in a real header.

The C side is not a copy: a tiny classifier and a few regressors are converted with tinygen.convert and
their headers (the same text `tinygen export` writes) are compiled once per session into a shared library
with plain wrapper functions, loaded with ctypes. Each primitive then runs in Python and in C on the same
random and edge values (INT_MIN/MAX, +-0.5 ties, 0.49999997, NaN, +-inf, FLT_MAX, subnormals, the range
ends and one ulp either side), and the results must be identical: integers equal, floats equal bit for bit.

Two ways in: per-example ctypes calls driven by hypothesis, and array wrappers that check ~1e5 values
(random float32 bit patterns included, so every exponent and NaN payload) in one call per format.
"""
from __future__ import annotations

import math
import warnings

import ctypes
import subprocess

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sklearn.linear_model import LinearRegression

import tinygen
from tinygen import c_primitives, emit, fixedpoint
from tinygen.emit import render_primitives
from tinygen.fixedpoint import FRAC_BITS_MAX, FRAC_BITS_MIN, int_range, pow2_f32

from conftest import need_tool

F32 = np.float32
INT32_MIN, INT32_MAX = int_range(32)
INT64_MIN, INT64_MAX = int_range(64)
ALL_BITS = (8, 16, 32)
SETTINGS = settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
CFLAGS = ["-std=c99", "-O2", "-ffp-contract=off", "-shared", "-fPIC", "-Wall", "-Wextra", "-Werror"]
PRIM = "tgprim"  # the header whose to_fixed / sat_i32 / sat_i64 are tested

# Regressors for the decision test: (name, dtype, target scale). The target scale moves the output format
# over most of [FRAC_BITS_MIN, FRAC_BITS_MAX] (q15 at 1e-25 hits the clamp at 100; q7 at 1e25 gives -73).
REGRESSORS = [(f"reg_{dtype}_{i}", dtype, scale)
              for dtype in ("q7", "q15", "q31") for i, scale in enumerate((1e-25, 1e-3, 1.0, 1e12, 1e25))]


# ---- building the library ------------------------------------------------------------------------------

def _tiny_data(seed: int = 0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(20, 3)) * np.array([1e-3, 1.0, 1e4])  # features of very different ranges
    return X, X @ np.array([2e3, 1.0, -3e-4]) + 0.25


def _wrappers(names: list[str]) -> str:
    includes = "".join(f'#include "{n}.h"\n' for n in [PRIM, *names])
    lines = ["#include <stdint.h>\n" + includes, SCALAR_WRAPPERS.format(p=PRIM), PRIMITIVE_WRAPPERS.format(p=PRIM),
             FEATURE_WRAPPERS.format(p=PRIM)]
    for n in names:
        lines.append(f"""
float tg_decide_{n}(int32_t score)
{{
    {n}_score_t scores[{n}_N_OUTPUTS];
    scores[0] = score;
    return {n}_decide(scores);
}}

void tg_decide_n_{n}(const int32_t *score, int64_t n, float *out)
{{
    int64_t i;
    {n}_score_t scores[{n}_N_OUTPUTS];
    for (i = 0; i < n; i++) {{
        scores[0] = score[i];
        out[i] = {n}_decide(scores);
    }}
}}

void tg_quantize_n_{n}(const float *x, int64_t rows, int32_t *out)
{{
    int64_t r;
    int32_t i;
    {n}_input_t x_q[{n}_N_FEATURES];
    for (r = 0; r < rows; r++) {{
        {n}_quantize_input(x + r * {n}_N_FEATURES, x_q);
        for (i = 0; i < {n}_N_FEATURES; i++) {{
            out[r * {n}_N_FEATURES + i] = (int32_t)x_q[i];
        }}
    }}
}}
""")
    return "".join(lines)


# Exported wrappers of the primitives for ctypes (the header's functions are static inline).
SCALAR_WRAPPERS = """
/* Exported wrappers around the header's static inline functions, for ctypes. */
int32_t tg_to_fixed(float x, int8_t frac_bits, int32_t q_min, int32_t q_max)
{{
    return {p}_to_fixed(x, frac_bits, q_min, q_max);
}}

void tg_to_fixed_n(const float *x, int64_t n, int8_t frac_bits, int32_t q_min, int32_t q_max, int32_t *out)
{{
    int64_t i;
    for (i = 0; i < n; i++) {{
        out[i] = {p}_to_fixed(x[i], frac_bits, q_min, q_max);
    }}
}}

void tg_to_fixed_i8_n(const float *x, int64_t n, int8_t frac_bits, int32_t *out)
{{
    int64_t i;
    for (i = 0; i < n; i++) {{
        out[i] = {p}_to_fixed_i8(x[i], frac_bits);
    }}
}}

int32_t tg_sat_i32(int32_t v, int32_t lo, int32_t hi)
{{
    return {p}_sat_i32(v, lo, hi);
}}

void tg_sat_i32_n(const int32_t *v, int64_t n, int32_t lo, int32_t hi, int32_t *out)
{{
    int64_t i;
    for (i = 0; i < n; i++) {{
        out[i] = {p}_sat_i32(v[i], lo, hi);
    }}
}}

int64_t tg_sat_i64(int64_t v, int64_t lo, int64_t hi)
{{
    return {p}_sat_i64(v, lo, hi);
}}

void tg_sat_i64_n(const int64_t *v, int64_t n, int64_t lo, int64_t hi, int64_t *out)
{{
    int64_t i;
    for (i = 0; i < n; i++) {{
        out[i] = {p}_sat_i64(v[i], lo, hi);
    }}
}}

/* The dense template shifts its accumulator with a plain >> (int32_t or int64_t). */
int32_t tg_shr_i32(int32_t v, int32_t s)
{{
    return v >> s;
}}

void tg_shr_i32_n(const int32_t *v, int64_t n, int32_t s, int32_t *out)
{{
    int64_t i;
    for (i = 0; i < n; i++) {{
        out[i] = v[i] >> s;
    }}
}}

int64_t tg_shr_i64(int64_t v, int32_t s)
{{
    return v >> s;
}}

void tg_shr_i64_n(const int64_t *v, int64_t n, int32_t s, int64_t *out)
{{
    int64_t i;
    for (i = 0; i < n; i++) {{
        out[i] = v[i] >> s;
    }}
}}

void tg_mul_u32_u16_shr_n(const uint32_t *t, const uint16_t *m, const uint8_t *shift, int64_t n, uint32_t *out)
{{
    int64_t i;
    for (i = 0; i < n; i++) {{
        out[i] = {p}_mul_u32_u16_shr(t[i], m[i], shift[i]);
    }}
}}
"""


# Array wrappers of the primitives the wrappers above do not reach; MAC rows are MAC_STRIDE values apart.
MAC_STRIDE = 255
PRIMITIVE_WRAPPERS = """
void tg_to_fixed_short_n(const uint32_t *bits, const uint8_t *exponent, const int8_t *frac_bits, const uint16_t *limit,
                         int64_t n, int32_t *out)
{{
    int64_t i;
    for (i = 0; i < n; i++) {{
        out[i] = {p}_to_fixed_short(bits[i], exponent[i], frac_bits[i], limit[i]);
    }}
}}

void tg_to_fixed_i16_n(const float *x, int64_t n, int8_t frac_bits, int32_t *out)
{{
    int64_t i;
    for (i = 0; i < n; i++) {{
        out[i] = {p}_to_fixed_i16(x[i], frac_bits);
    }}
}}

void tg_mac_n(int kernel, const int32_t *acc, const void *w, const void *x, const uint8_t *count, int64_t n, int32_t *out)
{{
    int64_t r;
    for (r = 0; r < n; r++) {{
        const int8_t *w8 = (const int8_t *)w + r * 255;
        const int8_t *x8 = (const int8_t *)x + r * 255;
        const int16_t *w16 = (const int16_t *)w + r * 255;
        const int16_t *x16 = (const int16_t *)x + r * 255;
        if (kernel == 0) {{
            out[r] = {p}_mac_i8_i32(acc[r], w8, x8, count[r]);
        }} else if (kernel == 1) {{
            out[r] = {p}_mac_i8_i16((int16_t)acc[r], w8, x8, count[r]);
        }} else {{
            out[r] = {p}_mac_i16_i32(acc[r], w16, x16, count[r]);
        }}
    }}
}}

void tg_mac2_i8_n(const int8_t *w, const int8_t *x, const uint8_t *count, int64_t n, int32_t *sum0, int32_t *sum1)
{{
    int64_t r;
    for (r = 0; r < n; r++) {{
        {p}_mac2_i8(w + r * 510, x + r * 255, count[r], &sum0[r], &sum1[r]);
    }}
}}

void tg_div_q15_n(const uint32_t *e, const uint32_t *total, int64_t n, int32_t *out)
{{
    int64_t i;
    for (i = 0; i < n; i++) {{
        out[i] = {p}_div_q15(e[i], total[i]);
    }}
}}

void tg_keys_n(const float *x, int64_t n, int32_t nan_key, uint32_t *bits, int32_t *keys)
{{
    int64_t i;
    for (i = 0; i < n; i++) {{
        bits[i] = {p}_bits(&x[i]);
        keys[i] = {p}_order_key(&x[i], nan_key);
    }}
}}

void tg_int8_n(const int32_t *a, const int32_t *b, const uint8_t *exponent, const int8_t *shift, int64_t n, int32_t *out)
{{
    int64_t i;
    for (i = 0; i < n; i++) {{
        out[3 * i] = {p}_srdhm(a[i], b[i]);
        out[3 * i + 1] = {p}_rdbpot(a[i], exponent[i]);
        out[3 * i + 2] = {p}_mbqm(a[i] >> 8, b[i], shift[i]);
    }}
}}

void tg_affine_quantize_n(const float *x, const float *scale, const int32_t *zero_point, int64_t n, int32_t *out)
{{
    int64_t i;
    for (i = 0; i < n; i++) {{
        out[i] = {p}_affine_quantize(x[i], scale[i], zero_point[i], -128, 127);
    }}
}}

void tg_mul_hi_u32_n(const uint32_t *a, const uint32_t *b, int64_t n, uint32_t *out)
{{
    int64_t i;
    for (i = 0; i < n; i++) {{
        out[i] = {p}_mul_hi_u32(a[i], b[i]);
    }}
}}

void tg_to_fixed_offset_n(const float *x, int64_t n, int8_t frac_bits, int16_t offset_q, int32_t *wide, int32_t *narrow)
{{
    int64_t i;
    for (i = 0; i < n; i++) {{
        wide[i] = {p}_to_fixed_offset_fast(x[i], frac_bits, offset_q, -32768, 32767, INT32_C(-1073741824), INT32_C(1073741823));
        narrow[i] = {p}_to_fixed_offset_i8(x[i], frac_bits, offset_q);
    }}
}}
"""

# Array wrappers of the window-feature ops' primitives (issue 16).
FEATURE_WRAPPERS = """
void tg_log2_u32_n(const uint32_t *v, int64_t n, int32_t *out)
{{
    int64_t i;
    for (i = 0; i < n; i++) {{
        out[i] = {p}_log2_u32(v[i]);
    }}
}}

void tg_rdbpot_16_n(const int32_t *x, int64_t n, int32_t *out)
{{
    int64_t i;
    for (i = 0; i < n; i++) {{
        out[i] = {p}_rdbpot_16(x[i]);
    }}
}}

void tg_rdbpot_bytes_n(const int32_t *x, const uint8_t *exponent, int64_t n, int32_t *out)
{{
    int64_t i;
    for (i = 0; i < n; i++) {{
        out[i] = {p}_rdbpot_bytes(x[i], exponent[i], ((uint32_t)1 << exponent[i]) - 1u);
    }}
}}

void tg_mul_i16_u16_i32_n(const int16_t *a, const uint16_t *b, int64_t n, int32_t *out)
{{
    int64_t i;
    for (i = 0; i < n; i++) {{
        out[i] = {p}_mul_i16_u16_i32(a[i], b[i]);
    }}
}}

void tg_mul_i16_i32_n(const int16_t *a, const int16_t *b, int64_t n, int32_t *out)
{{
    int64_t i;
    for (i = 0; i < n; i++) {{
        out[i] = {p}_mul_i16_i32(a[i], b[i]);
    }}
}}

/* z: rows of 8 int16 (a_re, a_im, x, x, b_re, b_im, x, x): two butterflies a row, with stride 1 */
void tg_butterflies_q15_n(int16_t *z, const int16_t *c, const int16_t *s, int64_t rows)
{{
    int64_t r;
    for (r = 0; r < rows; r++) {{
        {p}_butterflies_q15(z + 8 * r, z + 8 * r + 4, c[r], s[r], 2u, 1u);
    }}
}}
"""


def _ptr(dtype):
    return np.ctypeslib.ndpointer(dtype=dtype, flags="C_CONTIGUOUS")


def _declare(lib, regressor_names):
    c = ctypes
    sig = {
        "tg_to_fixed": (c.c_int32, [c.c_float, c.c_int8, c.c_int32, c.c_int32]),
        "tg_to_fixed_n": (None, [_ptr(np.float32), c.c_int64, c.c_int8, c.c_int32, c.c_int32, _ptr(np.int32)]),
        "tg_to_fixed_i8_n": (None, [_ptr(np.float32), c.c_int64, c.c_int8, _ptr(np.int32)]),
        "tg_sat_i32": (c.c_int32, [c.c_int32, c.c_int32, c.c_int32]),
        "tg_sat_i32_n": (None, [_ptr(np.int32), c.c_int64, c.c_int32, c.c_int32, _ptr(np.int32)]),
        "tg_sat_i64": (c.c_int64, [c.c_int64, c.c_int64, c.c_int64]),
        "tg_sat_i64_n": (None, [_ptr(np.int64), c.c_int64, c.c_int64, c.c_int64, _ptr(np.int64)]),
        "tg_shr_i32": (c.c_int32, [c.c_int32, c.c_int32]),
        "tg_shr_i32_n": (None, [_ptr(np.int32), c.c_int64, c.c_int32, _ptr(np.int32)]),
        "tg_shr_i64": (c.c_int64, [c.c_int64, c.c_int32]),
        "tg_shr_i64_n": (None, [_ptr(np.int64), c.c_int64, c.c_int32, _ptr(np.int64)]),
        "tg_mul_u32_u16_shr_n": (None, [_ptr(np.uint32), _ptr(np.uint16), _ptr(np.uint8), c.c_int64, _ptr(np.uint32)]),
        "tg_to_fixed_short_n": (None, [_ptr(np.uint32), _ptr(np.uint8), _ptr(np.int8), _ptr(np.uint16), c.c_int64,
                                       _ptr(np.int32)]),
        "tg_to_fixed_i16_n": (None, [_ptr(np.float32), c.c_int64, c.c_int8, _ptr(np.int32)]),
        "tg_mac_n": (None, [c.c_int, _ptr(np.int32), c.c_void_p, c.c_void_p, _ptr(np.uint8), c.c_int64, _ptr(np.int32)]),
        "tg_mac2_i8_n": (None, [_ptr(np.int8), _ptr(np.int8), _ptr(np.uint8), c.c_int64, _ptr(np.int32), _ptr(np.int32)]),
        "tg_div_q15_n": (None, [_ptr(np.uint32), _ptr(np.uint32), c.c_int64, _ptr(np.int32)]),
        "tg_keys_n": (None, [_ptr(np.float32), c.c_int64, c.c_int32, _ptr(np.uint32), _ptr(np.int32)]),
        "tg_int8_n": (None, [_ptr(np.int32), _ptr(np.int32), _ptr(np.uint8), _ptr(np.int8), c.c_int64, _ptr(np.int32)]),
        "tg_affine_quantize_n": (None, [_ptr(np.float32), _ptr(np.float32), _ptr(np.int32), c.c_int64, _ptr(np.int32)]),
        "tg_mul_hi_u32_n": (None, [_ptr(np.uint32), _ptr(np.uint32), c.c_int64, _ptr(np.uint32)]),
        "tg_to_fixed_offset_n": (None, [_ptr(np.float32), c.c_int64, c.c_int8, c.c_int16, _ptr(np.int32), _ptr(np.int32)]),
        "tg_log2_u32_n": (None, [_ptr(np.uint32), c.c_int64, _ptr(np.int32)]),
        "tg_rdbpot_bytes_n": (None, [_ptr(np.int32), _ptr(np.uint8), c.c_int64, _ptr(np.int32)]),
        "tg_rdbpot_16_n": (None, [_ptr(np.int32), c.c_int64, _ptr(np.int32)]),
        "tg_mul_i16_u16_i32_n": (None, [_ptr(np.int16), _ptr(np.uint16), c.c_int64, _ptr(np.int32)]),
        "tg_mul_i16_i32_n": (None, [_ptr(np.int16), _ptr(np.int16), c.c_int64, _ptr(np.int32)]),
        "tg_butterflies_q15_n": (None, [_ptr(np.int16), _ptr(np.int16), _ptr(np.int16), c.c_int64]),
    }
    for n in regressor_names:
        sig[f"tg_decide_{n}"] = (c.c_float, [c.c_int32])
        sig[f"tg_decide_n_{n}"] = (None, [_ptr(np.int32), c.c_int64, _ptr(np.float32)])
        sig[f"tg_quantize_n_{n}"] = (None, [_ptr(np.float32), c.c_int64, _ptr(np.int32)])
    for fname, (restype, argtypes) in sig.items():
        func = getattr(lib, fname)
        func.restype, func.argtypes = restype, argtypes


class CLib:
    """The compiled wrappers plus the converted models they came from."""

    def __init__(self, lib, regressors: dict):
        self.lib = lib
        self.regressors = regressors  # name -> ConvertedModel


@pytest.fixture(scope="session")
def clib(tmp_path_factory) -> CLib:
    gcc = need_tool("gcc")
    directory = tmp_path_factory.mktemp("fixedpoint_c")
    X, y = _tiny_data()
    # every primitive of templates/c/fixedpoint/, as a header would print it
    (directory / f"{PRIM}.h").write_text("#include <stdint.h>\n" + render_primitives(PRIM, c_primitives.PRIMITIVES))
    regressors = {}
    for name, dtype, scale in REGRESSORS:
        model = tinygen.convert(LinearRegression().fit(X, y * scale), dtype=dtype, calibration=X)
        # the wrappers pass scores as int32; a wider score type would need new wrappers, not a silent cast
        assert model.program.ops[-1].out_type == "int32", (name, model.program.ops[-1].out_type)
        (directory / f"{name}.h").write_text(model.header(name))
        regressors[name] = model
    source = directory / "wrappers.c"
    source.write_text(_wrappers(list(regressors)))
    library = directory / "libtgfixed.so"
    done = subprocess.run([gcc, *CFLAGS, "-o", str(library), str(source)], cwd=directory,
                          capture_output=True, text=True)
    assert done.returncode == 0, f"compiling the generated headers failed:\n{done.stderr}"
    lib = ctypes.CDLL(str(library))
    _declare(lib, list(regressors))
    return CLib(lib, regressors)


# ---- helpers -------------------------------------------------------------------------------------------

def f32_bits(values) -> np.ndarray:
    return np.ascontiguousarray(values, dtype=np.float32).view(np.int32)


def describe_float(x) -> str:
    x = F32(x)
    return f"{x!r} (0x{int(np.asarray(x).view(np.uint32)):08x})"


def assert_equal_arrays(inputs, python, c, what: str, describe=repr):
    """Exact equality; on failure, name the first few inputs with both outputs."""
    python, c = np.asarray(python), np.asarray(c)
    assert python.shape == c.shape, (what, python.shape, c.shape)
    bad = np.flatnonzero(python != c)
    if bad.size:
        rows = "\n".join(f"  input {describe(inputs[i])}: python {python[i]!r}, C {c[i]!r}" for i in bad[:10])
        pytest.fail(f"{what}: {bad.size} of {python.size} differ between Python and C\n{rows}")


def py_to_fixed(x, frac_bits: int, bits: int) -> np.ndarray:
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # overflow to inf is part of the spec: it must not warn
        return fixedpoint.to_fixed(x, frac_bits, bits)


def c_to_fixed_n(clib: CLib, x: np.ndarray, frac_bits: int, bits: int) -> np.ndarray:
    x = np.ascontiguousarray(x, dtype=np.float32)
    out = np.empty(x.size, dtype=np.int32)
    lo, hi = int_range(bits)
    clib.lib.tg_to_fixed_n(x, x.size, frac_bits, lo, hi, out)
    return out


def c_to_fixed_i8_n(clib: CLib, x: np.ndarray, frac_bits: int) -> np.ndarray:
    """NAME_to_fixed_i8, the 8-bit fast path that q7 input conversion takes."""
    x = np.ascontiguousarray(x, dtype=np.float32)
    out = np.empty(x.size, dtype=np.int32)
    clib.lib.tg_to_fixed_i8_n(x, x.size, frac_bits, out)
    return out


def to_fixed_edges(bits: int, frac_bits: int) -> np.ndarray:
    """Edge inputs for one format: absolute edges plus values placed in the scaled domain (ties, range
    ends, just-below-half) and divided back by 2**frac_bits, each with its float32 neighbours."""
    fi = np.finfo(np.float32)
    below_half = float(np.nextafter(F32(0.5), F32(0)))  # 0.49999997
    half = 2.0 ** (bits - 1)
    absolute = [0.0, -0.0, np.nan, np.inf, -np.inf, float(fi.max), -float(fi.max), float(fi.tiny),
                -float(fi.tiny), float(fi.smallest_subnormal), -float(fi.smallest_subnormal),
                below_half, -below_half, 0.5, -0.5, 1.0, -1.0, 1.5, -1.5]
    scaled = [below_half, 1.0 + below_half, half, half - 0.4, half - 0.5, half + 0.5, half - 1, half + 1,
              half - 0.6, 2 * half, 2 * half + 1, 100 * half, 32767.6, 127.6, 2147483520.0]
    scaled += [k + 0.5 for k in (0, 1, 2, 3, 10, 126, 127, 1000, 32766, 32767, 2 ** 22, half - 2, half - 1, half)]
    with np.errstate(over="ignore", under="ignore"):
        placed = (np.array(scaled + [-v for v in scaled]) * 2.0 ** -frac_bits).astype(np.float32)
    values = np.concatenate([np.array(absolute, dtype=np.float32), placed])
    finite = values[np.isfinite(values)]
    with np.errstate(over="ignore"):  # FLT_MAX's neighbour is inf, which is wanted
        return np.concatenate([values, np.nextafter(finite, F32(np.inf)), np.nextafter(finite, F32(-np.inf))])


def random_floats(rng, bits: int, frac_bits: int, n: int = 100_000) -> np.ndarray:
    """Random bit patterns (every exponent, NaN payloads, subnormals) plus values whose scaled magnitude
    spans the whole integer range, ties (k + 0.5) * 2**-frac_bits, and their float32 neighbours."""
    raw = rng.integers(0, 1 << 32, size=n // 2, dtype=np.uint64).astype(np.uint32).view(np.float32)
    m = n // 8
    half = 2.0 ** (bits - 1)
    signs = rng.choice([-1.0, 1.0], size=m)
    spread = signs * 2.0 ** rng.uniform(-4.0, bits + 1.0, size=m)
    small_ties = rng.integers(-300, 300, size=m) + 0.5
    big_ties = rng.integers(-int(half) - 3, int(half) + 3, size=m, dtype=np.int64) + 0.5
    with np.errstate(over="ignore", under="ignore"):
        placed = (np.concatenate([spread, small_ties, big_ties]) * 2.0 ** -frac_bits).astype(np.float32)
        neighbours = np.nextafter(placed[: m], np.where(signs > 0, F32(np.inf), F32(-np.inf)).astype(np.float32))
    return np.concatenate([raw, placed, neighbours])


# ---- to_fixed ------------------------------------------------------------------------------------------

def test_to_fixed_spec_examples():
    """The spec itself (the C is held to Python below): half away from zero, no float +0.5 shortcut,
    saturation after rounding, NaN -> 0, infinities saturate."""
    cases = [  # (x, frac_bits, bits, expected)
        (0.5, 0, 16, 1), (-0.5, 0, 16, -1), (1.5, 0, 16, 2), (-2.5, 0, 16, -3), (0.49999997, 0, 16, 0),
        (-0.49999997, 0, 16, 0), (32767.6, 0, 16, 32767), (-32768.6, 0, 16, -32768), (127.5, 0, 8, 127),
        (0.25, 1, 8, 1), (-0.25, 1, 8, -1), (0.75, -1, 8, 0), (3.0, -1, 8, 2), (float("nan"), 10, 32, 0),
        (float("inf"), 0, 32, INT32_MAX), (float("-inf"), 0, 32, INT32_MIN), (2.0 ** 31, 0, 32, INT32_MAX),
        (2147483520.0, 0, 32, 2147483520), (3e38, 100, 8, 127), (1e-45, -100, 16, 0),
    ]
    for x, frac_bits, bits, expected in cases:
        assert int(py_to_fixed(F32(x), frac_bits, bits)) == expected, (x, frac_bits, bits)


def test_to_fixed_edges_every_format(clib):
    """All edge values, for every bits and every frac_bits in [FRAC_BITS_MIN, FRAC_BITS_MAX]."""
    for bits in ALL_BITS:
        for frac_bits in range(FRAC_BITS_MIN, FRAC_BITS_MAX + 1):
            x = to_fixed_edges(bits, frac_bits)
            assert_equal_arrays(x, py_to_fixed(x, frac_bits, bits), c_to_fixed_n(clib, x, frac_bits, bits),
                                 f"to_fixed(bits={bits}, frac_bits={frac_bits})", describe_float)
            if bits == 8:
                assert_equal_arrays(x, py_to_fixed(x, frac_bits, bits), c_to_fixed_i8_n(clib, x, frac_bits),
                                     f"to_fixed_i8(frac_bits={frac_bits})", describe_float)


@pytest.mark.parametrize("bits", ALL_BITS)
def test_to_fixed_vectorized_random(clib, bits):
    """~1e5 values per format, checked in one C call each."""
    rng = np.random.default_rng(1234 + bits)
    for frac_bits in (FRAC_BITS_MIN, -60, -30, -8, -1, 0, 1, 4, 7, 15, 16, 23, 31, 40, 60, FRAC_BITS_MAX):
        x = random_floats(rng, bits, frac_bits)
        assert_equal_arrays(x, py_to_fixed(x, frac_bits, bits), c_to_fixed_n(clib, x, frac_bits, bits),
                             f"to_fixed(bits={bits}, frac_bits={frac_bits})", describe_float)
        if bits == 8:
            assert_equal_arrays(x, py_to_fixed(x, frac_bits, bits), c_to_fixed_i8_n(clib, x, frac_bits),
                                 f"to_fixed_i8(frac_bits={frac_bits})", describe_float)


def _f32_or_inf(value: float) -> np.float32:
    """float32 of a value; beyond float32's range that is +-inf, which is a wanted input here."""
    with np.errstate(over="ignore"):
        return F32(value)


@st.composite
def to_fixed_cases(draw):
    bits = draw(st.sampled_from(ALL_BITS))
    frac_bits = draw(st.one_of(st.integers(-30, 60), st.integers(FRAC_BITS_MIN, FRAC_BITS_MAX)))
    half = 1 << (bits - 1)
    tie = st.integers(-half - 2, half + 2).map(lambda k: float(_f32_or_inf((k + 0.5) * 2.0 ** -frac_bits)))
    any_float = st.floats(width=32, allow_nan=True, allow_infinity=True, allow_subnormal=True)
    edge = st.sampled_from([float(v) for v in to_fixed_edges(bits, frac_bits)])
    return draw(st.one_of(any_float, edge, tie)), frac_bits, bits


@SETTINGS
@given(to_fixed_cases())
def test_to_fixed_matches_c(clib, case):
    x, frac_bits, bits = case
    lo, hi = int_range(bits)
    expected = int(py_to_fixed(F32(x), frac_bits, bits))
    got = clib.lib.tg_to_fixed(x, frac_bits, lo, hi)
    assert lo <= expected <= hi
    assert got == expected, f"to_fixed({describe_float(x)}, frac_bits={frac_bits}, bits={bits}): python {expected}, C {got}"


def test_quantize_input_matches_simulator(clib):
    """NAME_quantize_input (per-feature scale tables emitted into the header) equals the simulator's op."""
    rng = np.random.default_rng(7)
    X, _ = _tiny_data()
    for name, model in clib.regressors.items():
        op = model.program.ops[0]
        frac = np.asarray(op.frac_bits)
        rows = np.concatenate([  # each part made float32 on its own, so NaN payloads stay as drawn
            (X[rng.integers(0, len(X), 3000)] * 2.0 ** rng.uniform(-3, 3, (3000, 3))).astype(np.float32),
            ((rng.integers(-200, 200, (2000, 3)) + 0.5) * 2.0 ** -frac).astype(np.float32),
            rng.integers(0, 1 << 32, (2000, 3), dtype=np.uint64).astype(np.uint32).view(np.float32),
        ])
        with np.errstate(over="ignore", invalid="ignore"):
            expected = op.forward(rows)
        out = np.empty(rows.size, dtype=np.int32)
        getattr(clib.lib, f"tg_quantize_n_{name}")(np.ascontiguousarray(rows), len(rows), out)
        assert_equal_arrays(rows.reshape(-1), expected.reshape(-1), out, f"{name}_quantize_input", describe_float)


# ---- saturate ------------------------------------------------------------------------------------------

INT32_EDGES = [INT32_MIN, INT32_MIN + 1, -32769, -32768, -32767, -129, -128, -127, -1, 0, 1, 126, 127, 128,
               32766, 32767, 32768, INT32_MAX - 1, INT32_MAX]
INT64_EDGES = INT32_EDGES + [INT32_MIN - 1, INT32_MAX + 1, INT64_MIN, INT64_MIN + 1, INT64_MAX - 1, INT64_MAX,
                             -(1 << 40), 1 << 40]


@SETTINGS
@given(st.sampled_from(ALL_BITS), st.one_of(st.integers(INT32_MIN, INT32_MAX), st.sampled_from(INT32_EDGES)))
def test_saturate_i32_matches_c(clib, bits, v):
    lo, hi = int_range(bits)
    assert clib.lib.tg_sat_i32(v, lo, hi) == int(fixedpoint.saturate(v, bits))


@SETTINGS
@given(st.sampled_from(ALL_BITS), st.one_of(st.integers(INT64_MIN, INT64_MAX), st.sampled_from(INT64_EDGES)))
def test_saturate_i64_matches_c(clib, bits, v):
    lo, hi = int_range(bits)
    assert clib.lib.tg_sat_i64(v, lo, hi) == int(fixedpoint.saturate(v, bits))


@pytest.mark.parametrize("bits", ALL_BITS)
def test_saturate_vectorized(clib, bits):
    rng = np.random.default_rng(99 + bits)
    lo, hi = int_range(bits)
    v32 = np.concatenate([np.array(INT32_EDGES, dtype=np.int32), rng.integers(INT32_MIN, INT32_MAX, 50_000, dtype=np.int32, endpoint=True),
                          rng.integers(lo - 3, hi + 3, 50_000, endpoint=True).clip(INT32_MIN, INT32_MAX).astype(np.int32)])
    out32 = np.empty_like(v32)
    clib.lib.tg_sat_i32_n(v32, v32.size, lo, hi, out32)
    assert_equal_arrays(v32, fixedpoint.sat_i32(v32, lo, hi), out32, f"sat_i32(bits={bits})")
    v64 = np.concatenate([np.array(INT64_EDGES, dtype=np.int64), rng.integers(INT64_MIN, INT64_MAX, 50_000, dtype=np.int64, endpoint=True),
                          rng.integers(lo - 3, hi + 3, 50_000, endpoint=True).astype(np.int64)])
    out64 = np.empty_like(v64)
    clib.lib.tg_sat_i64_n(v64, v64.size, lo, hi, out64)
    assert_equal_arrays(v64, fixedpoint.sat_i64(v64, lo, hi), out64, f"sat_i64(bits={bits})")


# ---- shift_right ---------------------------------------------------------------------------------------

def test_shift_right_spec_examples():
    """Floor, not truncation toward zero: -1 >> s stays -1, -3 >> 1 is -2."""
    assert int(fixedpoint.shift_right(-1, 5)) == -1
    assert int(fixedpoint.shift_right(-3, 1)) == -2
    assert int(fixedpoint.shift_right(3, 1)) == 1
    assert int(fixedpoint.shift_right(INT64_MIN, 63)) == -1
    with pytest.raises(ValueError):
        fixedpoint.shift_right(1, -1)


@SETTINGS
@given(st.one_of(st.integers(INT32_MIN, INT32_MAX), st.sampled_from(INT32_EDGES)), st.integers(0, 31))
def test_shift_right_i32_matches_c(clib, v, s):
    assert clib.lib.tg_shr_i32(v, s) == int(fixedpoint.shift_right(v, s))


@SETTINGS
@given(st.one_of(st.integers(INT64_MIN, INT64_MAX), st.sampled_from(INT64_EDGES)), st.integers(0, 63))
def test_shift_right_i64_matches_c(clib, v, s):
    assert clib.lib.tg_shr_i64(v, s) == int(fixedpoint.shift_right(v, s))


def test_shift_right_vectorized(clib):
    rng = np.random.default_rng(5)
    v32 = np.concatenate([np.array(INT32_EDGES, dtype=np.int32), rng.integers(INT32_MIN, INT32_MAX, 20_000, dtype=np.int32, endpoint=True),
                          rng.integers(-1000, 1000, 5_000, dtype=np.int32)])
    v64 = np.concatenate([np.array(INT64_EDGES, dtype=np.int64), rng.integers(INT64_MIN, INT64_MAX, 20_000, dtype=np.int64, endpoint=True),
                          rng.integers(-1000, 1000, 5_000, dtype=np.int64)])
    for s in range(32):
        out = np.empty_like(v32)
        clib.lib.tg_shr_i32_n(v32, v32.size, s, out)
        assert_equal_arrays(v32, fixedpoint.shift_right(v32, s), out, f"int32 >> {s}")
    for s in range(64):
        out = np.empty_like(v64)
        clib.lib.tg_shr_i64_n(v64, v64.size, s, out)
        assert_equal_arrays(v64, fixedpoint.shift_right(v64, s), out, f"int64 >> {s}")


# ---- mul_u32_u16_shr (GaussianNB's scaled squares) ---------------------------------------------------------

U32_EDGES = [0, 1, 0xFFFF, 0x10000, 0x10001, 0x7FFFFFFF, 0x80000000, 0xFFFF0000, 0xFFFFFFFE, 0xFFFFFFFF]
U16_EDGES = [0, 1, 0x7FFF, 0x8000, 0xFFFE, 0xFFFF]


@SETTINGS
@given(st.integers(0, (1 << 32) - 1), st.integers(0, (1 << 16) - 1), st.integers(0, 31))
def test_mul_u32_u16_shr_is_the_floor_of_the_exact_product(t, m, shift):
    assert int(fixedpoint.mul_u32_u16_shr(t, m, shift)) == (t * m) >> (16 + shift)


def test_mul_u32_u16_shr_matches_c(clib):
    rng = np.random.default_rng(11)
    edges = np.array([(t, m, s) for t in U32_EDGES for m in U16_EDGES for s in (0, 1, 7, 8, 9, 15, 16, 24, 31)])
    n = 100_000
    t = np.concatenate([edges[:, 0], rng.integers(0, 1 << 32, n), rng.integers(0, 1 << 16, n) << 16,
                        rng.integers(0, 1 << 16, n)]).astype(np.uint32)
    m = np.concatenate([edges[:, 1], rng.integers(0, 1 << 16, 3 * n)]).astype(np.uint16)
    shift = np.concatenate([edges[:, 2], rng.integers(0, 32, 3 * n)]).astype(np.uint8)
    out = np.empty_like(t)
    clib.lib.tg_mul_u32_u16_shr_n(t, m, shift, t.size, out)
    python = fixedpoint.mul_u32_u16_shr(t.astype(np.int64), m.astype(np.int64), shift.astype(np.int64))
    assert_equal_arrays(t, python, out.astype(np.int64), "mul_u32_u16_shr")
    with pytest.raises(ValueError):
        fixedpoint.mul_u32_u16_shr(1 << 32, 1, 0)


# ---- from_fixed (the regression decision) --------------------------------------------------------------

SCORE_EDGES = [INT32_MIN, INT32_MIN + 1, -(1 << 24) - 1, -(1 << 24), -1, 0, 1, (1 << 24) - 1, 1 << 24,
               (1 << 24) + 1, (1 << 24) + 3, (1 << 25) + 2, (1 << 25) + 6, INT32_MAX - 64, INT32_MAX - 63,
               INT32_MAX - 1, INT32_MAX]  # around 2**24 the int -> float32 conversion starts to round (to even)


def test_regressor_formats_span_the_range(clib):
    """The decision tests below see output formats from far negative to the FRAC_BITS_MAX clamp."""
    formats = {m.program.output_frac_bits for m in clib.regressors.values()}
    assert min(formats) < -30 and max(formats) == FRAC_BITS_MAX


@SETTINGS
@given(st.sampled_from([name for name, _, _ in REGRESSORS]),
       st.one_of(st.integers(INT32_MIN, INT32_MAX), st.sampled_from(SCORE_EDGES)))
def test_from_fixed_matches_c_decide(clib, name, score):
    frac_bits = clib.regressors[name].program.output_frac_bits
    expected = fixedpoint.from_fixed(score, frac_bits)
    got = F32(getattr(clib.lib, f"tg_decide_{name}")(score))
    assert f32_bits(got) == f32_bits(expected), (
        f"{name}_decide({score}) with output_frac_bits={frac_bits}: python {describe_float(expected)}, "
        f"C {describe_float(got)}")


def test_from_fixed_vectorized(clib):
    rng = np.random.default_rng(11)
    scores = np.concatenate([np.array(SCORE_EDGES, dtype=np.int32),
                             rng.integers(INT32_MIN, INT32_MAX, 100_000, dtype=np.int32, endpoint=True),
                             rng.integers(-(1 << 26), 1 << 26, 20_000, dtype=np.int32)])
    for name, model in clib.regressors.items():
        frac_bits = model.program.output_frac_bits
        out = np.empty(scores.size, dtype=np.float32)
        getattr(clib.lib, f"tg_decide_n_{name}")(scores, scores.size, out)
        expected = fixedpoint.from_fixed(scores, frac_bits)
        assert_equal_arrays(scores, f32_bits(expected), f32_bits(out),
                             f"{name}_decide vs from_fixed(frac_bits={frac_bits}) (float32 bit patterns)")
        # and the simulator's decision is that same function
        assert np.array_equal(f32_bits(model.program.decide(scores.reshape(-1, 1))), f32_bits(expected))


def to_fixed_by_float_arithmetic(x, frac_bits: int, bits: int) -> np.ndarray:
    """The same function written with float32 arithmetic (scale, trunc, exact remainder): an independent
    formulation that fixedpoint.to_fixed (integer-only, from the float's bits) must agree with."""
    lo, hi = int_range(bits)
    with np.errstate(over="ignore", invalid="ignore"):
        scaled = (np.asarray(x, dtype=np.float32) * pow2_f32(frac_bits)).astype(np.float32)
        inside = ~(np.isnan(scaled) | (scaled >= np.float32(-float(lo))) | (scaled <= np.float32(float(lo))))
        safe = np.where(inside, scaled, np.float32(0.0)).astype(np.float32)
        trunc = np.trunc(safe).astype(np.float32)
        remainder = (safe - trunc).astype(np.float32)
    q = trunc.astype(np.int64) + (remainder >= 0.5) - (remainder <= -0.5)
    q = np.where(scaled >= np.float32(-float(lo)), hi, np.where(scaled <= np.float32(float(lo)), lo, np.clip(q, lo, hi)))
    return np.where(np.isnan(scaled), 0, q)


@pytest.mark.parametrize("bits", [8, 16, 32])
def test_integer_to_fixed_equals_float_formulation(bits):
    for frac_bits in (-40, -7, 0, 3, 15, 31, 60, 100):
        x = np.concatenate([random_floats(np.random.default_rng(frac_bits + 200), bits, frac_bits), to_fixed_edges(bits, frac_bits)])
        assert_equal_arrays(x, to_fixed_by_float_arithmetic(x, frac_bits, bits), py_to_fixed(x, frac_bits, bits),
                            f"float formulation vs to_fixed(bits={bits}, frac_bits={frac_bits})", describe_float)


# ---- every primitive template has its Python twin, run on the same values --------------------------------------
# primitive -> the test that holds its C (a compiled template) to its twin in tinygen/fixedpoint.py
TWIN_TESTS = {
    "to_fixed": "test_to_fixed_vectorized_random", "to_fixed_short": "test_to_fixed_short_matches_c",
    "to_fixed_i8": "test_to_fixed_i8_and_i16_match_c", "to_fixed_i16": "test_to_fixed_i8_and_i16_match_c",
    "to_fixed_offset": "test_to_fixed_offset_matches_c", "to_fixed_offset_i8": "test_to_fixed_offset_matches_c",
    "sat_i32": "test_saturate_vectorized", "sat_i64": "test_saturate_vectorized",
    "mul_hi_u32": "test_mul_hi_u32_matches_c", "mul_u32_u16_shr": "test_mul_u32_u16_shr_matches_c",
    "mac_i8_i32": "test_mac_kernels_match_c", "mac_i8_i16": "test_mac_kernels_match_c",
    "mac_i16_i32": "test_mac_kernels_match_c", "mac2_i8": "test_mac2_i8_matches_c",
    "srdhm": "test_int8_requantization_matches_c", "rdbpot": "test_int8_requantization_matches_c",
    "mbqm": "test_int8_requantization_matches_c", "affine_quantize": "test_affine_quantize_matches_c",
    "div_q15": "test_div_q15_matches_c", "bits": "test_bits_and_order_key_match_c",
    "order_key": "test_bits_and_order_key_match_c",
    "log2_u32": "test_log2_u32_matches_c", "mul_i16_i32": "test_mul_i16_i32_matches_c",
    "butterflies_q15": "test_butterflies_q15_matches_c", "rdbpot_bytes": "test_rdbpot_bytes_matches_c",
    "mul_i16_u16_i32": "test_mul_i16_u16_i32_matches_c", "rdbpot_16": "test_rdbpot_16_matches_c",
    "round_right_u24": "test_to_fixed_offset_fast_matches_python_on_the_avr",
    "to_fixed_offset_fast": "test_to_fixed_offset_fast_matches_python_on_the_avr",
}


def test_every_primitive_template_has_a_twin_and_a_test():
    """templates/c/fixedpoint/ holds one primitive per file (base.h.j2: the macros); each is in c_primitives'
    table, has a function of its name in fixedpoint.py, and a test here that compares the two."""
    directory = emit.template_dir() / "c" / "fixedpoint"
    names = {path.name.removesuffix(".h.j2") for path in directory.glob("*.h.j2")} - {"base"}
    assert names == set(c_primitives.PRIMITIVES)
    for name in sorted(names):
        assert callable(getattr(fixedpoint, name, None)), f"{name}: no Python twin in tinygen/fixedpoint.py"
        assert name in TWIN_TESTS and callable(globals().get(TWIN_TESTS[name])), f"{name}: no C-vs-Python test"


def _out(n: int, dtype=np.int32) -> np.ndarray:
    return np.empty(n, dtype=dtype)


def test_to_fixed_short_matches_c(clib):
    """Every shift `right` around its cases (below 8: the limit, 16: the 8-bit path, 24: zero) with random
    mantissas, limits up to 2**15, and the same magnitude as to_fixed of that float."""
    rng = np.random.default_rng(21)
    n = 200_000
    frac_bits = rng.integers(FRAC_BITS_MIN, FRAC_BITS_MAX + 1, n)
    exponent = np.clip(149 - frac_bits - rng.integers(-2, 28, n), 1, 254)
    bits = (rng.integers(0, 1 << 31, n) & ~(0xFF << 23)) | (exponent << 23)
    limit = rng.choice([0, 1, 127, 128, 255, 32767, 32768, int(rng.integers(0, 1 << 15))], n)
    out = _out(n)
    clib.lib.tg_to_fixed_short_n(bits.astype(np.uint32), exponent.astype(np.uint8), frac_bits.astype(np.int8),
                                 limit.astype(np.uint16), n, out)
    python = fixedpoint.to_fixed_short(bits, exponent, frac_bits, limit)
    assert_equal_arrays(bits, python, out, "to_fixed_short")
    x = bits.astype(np.uint32).view(np.float32)
    for cap in (32767, 32768):  # the magnitude of to_fixed into 16 bits, on each sign's limit
        assert np.array_equal(fixedpoint.to_fixed_short(bits, exponent, frac_bits, cap),
                              np.minimum(np.abs(fixedpoint.to_fixed(np.abs(x), frac_bits, 17)), cap))


def test_to_fixed_i8_and_i16_match_c(clib):
    """The q7 and q15 input conversions in C equal their twins, and the twins equal to_fixed(bits=8 / 16), over
    every frac_bits the quantizer gives (subnormals are 0 only there)."""
    rng = np.random.default_rng(22)
    for frac_bits in range(FRAC_BITS_MIN, FRAC_BITS_MAX + 1, 3):
        for bits, convert in ((8, "to_fixed_i8"), (16, "to_fixed_i16")):
            x = np.concatenate([to_fixed_edges(bits, frac_bits), random_floats(rng, bits, frac_bits, 6_000)])
            twin = getattr(fixedpoint, convert)(x, frac_bits)
            assert np.array_equal(twin, py_to_fixed(x, frac_bits, bits)), (convert, frac_bits)
            out = _out(x.size)
            getattr(clib.lib, f"tg_{convert}_n")(np.ascontiguousarray(x), x.size, frac_bits, out)
            assert_equal_arrays(x, twin, out, f"{convert}(f={frac_bits})", describe_float)


def test_to_fixed_offset_matches_c(clib):
    """to_fixed_offset into the 31-bit wide range and to_fixed_offset_i8 (16-bit wide range), around offsets up to
    2**14, against their twins; the 8-bit twin equals to_fixed_offset(bits=8, wide_bits=16)."""
    rng = np.random.default_rng(23)
    for frac_bits in (-100, -8, 0, 3, 7, 15, 20, 100):
        for offset_q in (0, 1, -1, 200, -5000, 1 << 14, -(1 << 14)):
            placed = (offset_q + rng.integers(-300, 300, 1000) + 0.5) * 2.0 ** -frac_bits
            with np.errstate(over="ignore", under="ignore"):  # beyond float32: +-inf, also an input wanted
                x = np.concatenate([to_fixed_edges(16, frac_bits), random_floats(rng, 16, frac_bits, 10_000),
                                    placed.astype(np.float32)])
            wide, narrow = _out(x.size), _out(x.size)
            clib.lib.tg_to_fixed_offset_n(x, x.size, frac_bits, offset_q, wide, narrow)
            what = f"(f={frac_bits}, o={offset_q})"
            assert_equal_arrays(x, fixedpoint.to_fixed_offset(x, frac_bits, offset_q, 16), wide, "to_fixed_offset" + what,
                                describe_float)
            twin = fixedpoint.to_fixed_offset_i8(x, frac_bits, offset_q)
            assert np.array_equal(twin, fixedpoint.to_fixed_offset(x, frac_bits, offset_q, 8, 16))
            assert_equal_arrays(x, twin, narrow, "to_fixed_offset_i8" + what, describe_float)


def test_mul_hi_u32_matches_c(clib):
    rng = np.random.default_rng(24)
    a = np.concatenate([np.repeat(U32_EDGES, len(U32_EDGES)), rng.integers(0, 1 << 32, 100_000)]).astype(np.uint32)
    b = np.concatenate([np.tile(U32_EDGES, len(U32_EDGES)), rng.integers(0, 1 << 32, 100_000)]).astype(np.uint32)
    out = _out(a.size, np.uint32)
    clib.lib.tg_mul_hi_u32_n(a, b, a.size, out)
    python = fixedpoint.mul_hi_u32(a.astype(np.int64), b.astype(np.int64))
    assert np.array_equal(python, (a.astype(object) * b.astype(object)) >> 32)  # the exact high half
    assert_equal_arrays(a, python, out.astype(np.int64), "mul_hi_u32")


def _mac_rows(rng, n: int, value_bits: int, acc_bits: int):
    """n rows of MAC_STRIDE weights and inputs (full range, or shifted down to fit), counts 1..255 (the ends
    included), and each row's acc drawn where no partial sum leaves acc_bits (the kernels' precondition)."""
    lo, hi = int_range(value_bits)
    shrink = rng.integers(0, value_bits, (n, 1)) if acc_bits - 2 * value_bits < 9 else 0
    w = rng.integers(lo, hi + 1, (n, MAC_STRIDE)) >> shrink
    x = rng.integers(lo, hi + 1, (n, MAC_STRIDE)) >> shrink
    count = np.concatenate([[1, 2, 255, 254], rng.integers(1, 256, n - 4)])
    partial = np.cumsum(np.where(np.arange(MAC_STRIDE) < count[:, None], w * x, 0), axis=1)
    acc_lo, acc_hi = int_range(acc_bits)
    low, high = acc_lo - np.minimum(partial.min(axis=1), 0), acc_hi - np.maximum(partial.max(axis=1), 0)
    keep = low <= high
    acc = low + (rng.random(n) * (high - low + 1)).astype(np.int64).clip(0, None)
    acc = np.where(rng.random(n) < 0.2, np.where(rng.random(n) < 0.5, low, high), np.minimum(acc, high))
    return acc[keep], w[keep], x[keep], count[keep]


@pytest.mark.parametrize("kernel, value_bits, acc_bits", [("mac_i8_i32", 8, 32), ("mac_i8_i16", 8, 16),
                                                          ("mac_i16_i32", 16, 32)])
def test_mac_kernels_match_c(clib, kernel, value_bits, acc_bits):
    """The MAC kernels' portable C (the AVR assembly is held to the simulator by the AVR end-to-end tests) equals
    the twins on rows whose partial sums stay in the accumulator, its ends included."""
    acc, w, x, count = _mac_rows(np.random.default_rng(25 + value_bits + acc_bits), 3000, value_bits, acc_bits)
    value_type = np.int8 if value_bits == 8 else np.int16
    w_c, x_c = (np.ascontiguousarray(v, dtype=value_type) for v in (w, x))
    out = _out(len(acc))
    clib.lib.tg_mac_n(("mac_i8_i32", "mac_i8_i16", "mac_i16_i32").index(kernel), np.ascontiguousarray(acc, dtype=np.int32),
                      w_c.ctypes.data, x_c.ctypes.data, count.astype(np.uint8), len(acc), out)
    python = np.array([getattr(fixedpoint, kernel)(a, wr, xr, int(c)) for a, wr, xr, c in zip(acc, w, x, count)])
    assert_equal_arrays(count, python, out, kernel)
    with pytest.raises(AssertionError):
        getattr(fixedpoint, kernel)(int_range(acc_bits)[1], [1], [1], 1)  # a partial sum beyond the accumulator


def test_mac2_i8_matches_c(clib):
    rng = np.random.default_rng(26)
    n = 3000
    w = rng.integers(-128, 128, (n, 2 * MAC_STRIDE))
    w[:10] = -128  # the largest sums: 255 * 128 * 128
    x = rng.integers(-128, 128, (n, MAC_STRIDE))
    x[:10] = -128
    count = np.concatenate([[255] * 10, [1, 2, 254], rng.integers(1, 256, n - 13)]).astype(np.uint8)
    sum0, sum1 = _out(n), _out(n)
    clib.lib.tg_mac2_i8_n(np.ascontiguousarray(w, dtype=np.int8), np.ascontiguousarray(x, dtype=np.int8), count, n,
                          sum0, sum1)
    python = np.array([fixedpoint.mac2_i8(wr[:2 * int(c)], xr, int(c)) for wr, xr, c in zip(w, x, count)])
    assert_equal_arrays(count, python[:, 0], sum0, "mac2_i8 sum0")
    assert_equal_arrays(count, python[:, 1], sum1, "mac2_i8 sum1")


def test_int8_requantization_matches_c(clib):
    """srdhm, rdbpot (every exponent) and mbqm (shifts -31..7 on accumulator-sized inputs) on edges and random."""
    rng = np.random.default_rng(27)
    edges = np.array(INT32_EDGES + [1 << 30, -(1 << 30), (1 << 30) + 1], dtype=np.int64)
    a = np.concatenate([np.repeat(edges, len(edges)), rng.integers(INT32_MIN, INT32_MAX, 100_000, endpoint=True)])
    b = np.concatenate([np.tile(edges, len(edges)), rng.integers(INT32_MIN, INT32_MAX, 100_000, endpoint=True)])
    exponent = rng.integers(0, 32, a.size)
    shift = rng.integers(-31, 8, a.size)
    out = _out(3 * a.size)
    clib.lib.tg_int8_n(a.astype(np.int32), b.astype(np.int32), exponent.astype(np.uint8), shift.astype(np.int8), a.size, out)
    out = out.reshape(-1, 3)
    assert_equal_arrays(a, fixedpoint.srdhm(a, b), out[:, 0], "srdhm")
    assert_equal_arrays(a, fixedpoint.rdbpot(a, exponent), out[:, 1], "rdbpot")
    assert_equal_arrays(a, fixedpoint.mbqm(a >> 8, b, shift), out[:, 2], "mbqm")


def test_affine_quantize_matches_c(clib):
    """Quotients on and around every +-0.5 tie, beyond +-256, NaN and infinities, over scales of many sizes."""
    rng = np.random.default_rng(28)
    n = 100_000
    scale = (2.0 ** rng.uniform(-20, 10, n)).astype(np.float32)
    ties = (rng.integers(-300, 300, n) + 0.5).astype(np.float32) * scale
    x = np.concatenate([ties[: n // 2], np.nextafter(ties[n // 2:], np.float32(0)),
                        np.array([np.nan, np.inf, -np.inf, 0.0, -0.0] * 20, dtype=np.float32)])[:n].astype(np.float32)
    x[: n // 10] = rng.integers(0, 1 << 32, n // 10, dtype=np.uint64).astype(np.uint32).view(np.float32)
    zero_point = rng.integers(-128, 128, n)
    out = _out(n)
    clib.lib.tg_affine_quantize_n(x, scale, zero_point.astype(np.int32), n, out)
    assert_equal_arrays(x, fixedpoint.affine_quantize(x, scale, zero_point), out, "affine_quantize", describe_float)


def test_div_q15_matches_c(clib):
    rng = np.random.default_rng(29)
    total = np.concatenate([[1, 2, 3, (1 << 31) - 1, 1 << 30, 65535], rng.integers(1, 1 << 31, 100_000)])
    pick = rng.integers(0, 4, total.size)
    e = np.where(pick == 0, 0, np.where(pick == 1, total, np.where(pick == 2, total - 1,
                                                                     (rng.random(total.size) * total).astype(np.int64))))
    out = _out(total.size)
    clib.lib.tg_div_q15_n(e.astype(np.uint32), total.astype(np.uint32), total.size, out)
    assert_equal_arrays(e, fixedpoint.div_q15(e, total), out, "div_q15")


def test_bits_and_order_key_match_c(clib):
    """Every kind of float32 (random bit patterns: NaN payloads of either sign, subnormals, -0.0), both NaN keys;
    the keys order as the floats do."""
    rng = np.random.default_rng(30)
    x = np.concatenate([rng.integers(0, 1 << 32, 100_000, dtype=np.uint64).astype(np.uint32).view(np.float32),
                        to_fixed_edges(32, 0)]).astype(np.float32)
    for nan_key in (INT32_MAX, INT32_MIN):
        bits, keys = _out(x.size, np.uint32), _out(x.size)
        clib.lib.tg_keys_n(x, x.size, nan_key, bits, keys)
        assert_equal_arrays(x, fixedpoint.bits(x), bits.astype(np.int64), "bits", describe_float)
        assert_equal_arrays(x, fixedpoint.order_key(x, nan_key), keys, "order_key", describe_float)
    numbers = np.sort(x[~np.isnan(x) & ~((x == 0) & np.signbit(x))])  # -0.0 == +0.0 sorts either way
    assert np.all(np.diff(fixedpoint.order_key(numbers)) >= 0)


# ---- window statistics (ops/features/statistics.py) ----------------------------------------------------------
TWIN_TESTS["isqrt_u64"] = "test_isqrt_u64_matches_c"
TWIN_TESTS["div_reciprocal_u32"] = "test_div_reciprocal_u32_matches_c"
STATISTICS_WRAPPERS = """
void tg_isqrt_u64_n(const uint64_t *v, const uint8_t *radicand_bytes, int64_t n, uint32_t *out)
{
    int64_t i;
    for (i = 0; i < n; i++) {
        out[i] = tgws_isqrt_u64(v[i], radicand_bytes[i]);
    }
}

void tg_div_reciprocal_u32_n(const uint32_t *n, const uint32_t *m, const uint8_t *s, const uint8_t *add_back,
                             int64_t count, uint32_t *out)
{
    int64_t i;
    for (i = 0; i < count; i++) {
        out[i] = tgws_div_reciprocal_u32(n[i], m[i], s[i], add_back[i]);
    }
}
"""


def statistics_library(directory):
    """The window statistics' primitives (and nothing else: each compiles alone) behind array wrappers, for ctypes."""
    gcc = need_tool("gcc")
    source = directory / "statistics.c"
    source.write_text("#include <stdint.h>\n" + render_primitives("tgws", ["isqrt_u64", "div_reciprocal_u32"])
                      + STATISTICS_WRAPPERS)
    library = directory / "libstatistics.so"
    subprocess.run([gcc, *CFLAGS, "-o", str(library), str(source)], check=True, capture_output=True, text=True)
    lib = ctypes.CDLL(str(library))
    lib.tg_isqrt_u64_n.restype = lib.tg_div_reciprocal_u32_n.restype = None
    lib.tg_isqrt_u64_n.argtypes = [_ptr(np.uint64), _ptr(np.uint8), ctypes.c_int64, _ptr(np.uint32)]
    lib.tg_div_reciprocal_u32_n.argtypes = [_ptr(np.uint32), _ptr(np.uint32), _ptr(np.uint8), _ptr(np.uint8),
                                            ctypes.c_int64, _ptr(np.uint32)]
    return lib


def isqrt_cases(seed: int = 0, random_per_size: int = 20) -> tuple[np.ndarray, np.ndarray]:
    """(radicands, radicand_bytes): per byte count 1..7, 0 to 3, the largest radicand, and r^2 - 1, r^2, r^2 + 1,
    r^2 + r (rounds down), r^2 + r + 1 (rounds up) around small, random and the largest roots, plus random radicands.
    The AVR assembly's test (test_feature_statistics.py) runs the same values."""
    rng = np.random.default_rng(seed)
    values, sizes = [], []
    for size in range(1, fixedpoint.ISQRT_MAX_BYTES + 1):
        top = (1 << (8 * size)) - 1
        largest = int(np.floor(np.sqrt(float(top))))
        largest -= largest * largest > top
        roots = np.r_[[1, 2, 15, 16, 255, 256, largest], rng.integers(1, largest + 1, 12)]
        around = np.concatenate([roots * roots + d for d in (-1, 0, 1)] + [roots * roots + roots + d for d in (0, 1)])
        chosen = np.r_[[0, 1, 2, 3, top], around, rng.integers(0, top, random_per_size, endpoint=True)]
        chosen = chosen[chosen <= top]
        values.append(chosen)
        sizes.append(np.full(len(chosen), size))
    return np.concatenate(values), np.concatenate(sizes)


def test_isqrt_u64_matches_c(tmp_path):
    """The portable C of isqrt_u64 against its twin, and the twin against math.isqrt rounded (r + (v - r^2 > r))."""
    import math

    lib = statistics_library(tmp_path)
    values, sizes = isqrt_cases(random_per_size=5000)
    out = _out(values.size, np.uint32)
    lib.tg_isqrt_u64_n(values.astype(np.uint64), sizes.astype(np.uint8), values.size, out)
    twin = fixedpoint.isqrt_u64(values, sizes)
    exact = [math.isqrt(int(v)) + (int(v) - math.isqrt(int(v)) ** 2 > math.isqrt(int(v))) for v in values]
    assert np.array_equal(twin, exact)
    assert_equal_arrays(values, twin, out.astype(np.int64), "isqrt_u64")
    with pytest.raises(ValueError):
        fixedpoint.isqrt_u64(1 << 8, 1)


def reciprocal_cases(seed: int = 0, random_per_divisor: int = 40) -> tuple[np.ndarray, ...]:
    """(n, multiplier, post_shift, add_back, divisor): the reciprocals the window statistics use for every divisor
    2..1024 that is not a power of two (both forms), on 0, 1, d - 1, d, multiples of d +- 1, 2^32 - 1 and random n."""
    from tinygen.ops.features.statistics import reciprocal

    rng = np.random.default_rng(seed)
    columns = [[] for _ in range(5)]
    top = (1 << 32) - 1
    for divisor in (d for d in range(3, 1025) if d & (d - 1)):
        for largest in (top, (1 << 31) - 1):
            multiplier, post_shift, add_back = reciprocal(divisor, largest)
            multiple = (largest // divisor) * divisor
            n = np.r_[[0, 1, divisor - 1, divisor, multiple - 1, multiple, largest], rng.integers(0, largest, random_per_divisor)]
            n = n[(n >= 0) & (n <= largest)]
            for column, value in zip(columns, (n, multiplier, post_shift, add_back, divisor)):
                column.append(np.broadcast_to(value, n.shape))
    return tuple(np.concatenate(column).astype(np.int64) for column in columns)


def test_div_reciprocal_u32_matches_c(tmp_path):
    """The C against its twin, and the twin against exact division, for the reciprocal of every divisor up to 1024."""
    lib = statistics_library(tmp_path)
    n, multiplier, post_shift, add_back, divisor = reciprocal_cases()
    assert add_back.any() and not add_back.all()  # both forms
    out = _out(n.size, np.uint32)
    lib.tg_div_reciprocal_u32_n(n.astype(np.uint32), multiplier.astype(np.uint32), post_shift.astype(np.uint8),
                                add_back.astype(np.uint8), n.size, out)
    twin = fixedpoint.div_reciprocal_u32(n, multiplier, post_shift, add_back)
    assert np.array_equal(twin, n // divisor)
    assert_equal_arrays(n, twin, out.astype(np.int64), "div_reciprocal_u32")


# ---- window_fft_bands (ops/features/fft_bands.py) -------------------------------------------------------------
def test_log2_u32_matches_c(clib):
    """log2_u32 in C equals its twin on every v below 2**17, around every power of two and on random uint32 values;
    it never decreases, and it is within the bound ops/features/fft_bands.py proves over every mantissa."""
    from tinygen.ops.features.fft_bands import LOG2_ERROR_BOUND

    rng = np.random.default_rng(31)
    powers = np.int64(1) << np.arange(32, dtype=np.int64)
    v = np.concatenate([np.arange(1 << 17), powers, powers - 1, powers + 1, [(1 << 32) - 1],
                        rng.integers(0, 1 << 32, 100_000)])
    v = np.unique(np.clip(v, 0, (1 << 32) - 1))
    out = _out(v.size)
    clib.lib.tg_log2_u32_n(v.astype(np.uint32), v.size, out)
    twin = fixedpoint.log2_u32(v)
    assert_equal_arrays(v, twin, out, "log2_u32")
    assert twin[0] == 0 and twin[1] == 0 and np.all(np.diff(twin) >= 0)
    error = np.abs(twin[1:] / 2.0 ** fixedpoint.LOG2_FRAC_BITS - np.log2(v[1:].astype(np.float64)))
    assert error.max() <= LOG2_ERROR_BOUND, error.max()
    with pytest.raises(ValueError):
        fixedpoint.log2_u32(1 << 32)


def test_mul_i16_i32_matches_c(clib):
    """The portable C product (the AVR assembly is held to the twin by tests/test_feature_fft.py on the ATmega328P)."""
    rng = np.random.default_rng(32)
    edges = np.array([-32768, -32767, -1, 0, 1, 32766, 32767])
    a = np.concatenate([np.repeat(edges, edges.size), rng.integers(-32768, 32768, 50_000)])
    b = np.concatenate([np.tile(edges, edges.size), rng.integers(-32768, 32768, 50_000)])
    out = _out(a.size)
    clib.lib.tg_mul_i16_i32_n(a.astype(np.int16), b.astype(np.int16), a.size, out)
    assert_equal_arrays(a, fixedpoint.mul_i16_i32(a, b), out, "mul_i16_i32")
    with pytest.raises(ValueError):
        fixedpoint.mul_i16_i32(32768, 1)


def test_mul_i16_u16_i32_matches_c(clib):
    """The portable C product (the AVR assembly is held to the twin by tests/test_trainable.py on the ATmega328P)."""
    rng = np.random.default_rng(35)
    a_edges = np.array([-32768, -32767, -1, 0, 1, 32766, 32767])
    b_edges = np.array([0, 1, 255, 256, 32767, 32768, 65534, 65535])
    a = np.concatenate([np.repeat(a_edges, b_edges.size), rng.integers(-32768, 32768, 50_000)])
    b = np.concatenate([np.tile(b_edges, a_edges.size), rng.integers(0, 65536, 50_000)])
    out = _out(a.size)
    clib.lib.tg_mul_i16_u16_i32_n(a.astype(np.int16), b.astype(np.uint16), a.size, out)
    assert_equal_arrays(a, fixedpoint.mul_i16_u16_i32(a, b), out, "mul_i16_u16_i32")
    with pytest.raises(ValueError):
        fixedpoint.mul_i16_u16_i32(1, -1)


def test_rdbpot_bytes_matches_c(clib):
    """Every exponent on the int32 edges, the ties around each power of two and random values (the AVR shift by
    bytes and bits is held to the twin by tests/test_trainable.py on the ATmega328P)."""
    rng = np.random.default_rng(34)
    exponent = np.repeat(np.arange(32), 40)
    ties = np.int64(1) << np.maximum(exponent - 1, 0)
    edges = np.array([-(1 << 31), -(1 << 31) + 1, -(1 << 30), -1, 0, 1, (1 << 30), (1 << 31) - 1])
    x = np.concatenate([np.tile(edges, 160), ties, -ties, ties - 1, -ties + 1, ties + 1, -ties - 1,
                        rng.integers(-(1 << 31), 1 << 31, 50_000)])
    e = np.concatenate([np.repeat(np.arange(32), 40), *[exponent] * 6, rng.integers(0, 32, 50_000)]).astype(np.uint8)
    x = np.clip(x, -(1 << 31), (1 << 31) - 1)
    out = _out(x.size)
    clib.lib.tg_rdbpot_bytes_n(x.astype(np.int32), e, x.size, out)
    assert_equal_arrays(x, fixedpoint.rdbpot_bytes(x, e, (np.int64(1) << e.astype(np.int64)) - 1), out, "rdbpot_bytes")
    with pytest.raises(ValueError):
        fixedpoint.rdbpot_bytes(5, 3, 3)


def butterfly_cases(rng, rows: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(z [rows, 8]: a, x, b, x pairs, two butterflies a row; c, s): twiddles on the unit circle in Q15 (and the
    exact -2^15) and values up to the modulus 23,170 a caller may hand over, its edges included."""
    angle = rng.uniform(0, 2 * np.pi, rows)
    c = np.clip(np.round(np.cos(angle) * 32768), -32768, 32767).astype(np.int64)
    s = np.clip(np.round(np.sin(angle) * 32768), -32768, 32767).astype(np.int64)
    c[:4], s[:4] = [-32768, 0, 32767, 23170], [0, -32768, 0, 23170]
    radius = rng.uniform(0, 23170, (rows, 4)) * np.where(rng.random((rows, 4)) < 0.1, 1, rng.random((rows, 4)))
    phase = rng.uniform(0, 2 * np.pi, (rows, 4))
    pairs = np.stack([np.round(radius * np.cos(phase)), np.round(radius * np.sin(phase))], axis=2).astype(np.int64)
    pairs[:8] = np.array([[16383, -16384], [-16384, 16383], [1, -1], [0, 0]])[np.arange(8) % 4][:, None, :]
    return pairs.reshape(rows, 8), c, s


def test_butterflies_q15_matches_c(clib):
    """The portable C loop equals the twin applied to each pair (the AVR assembly: tests/test_feature_fft.py)."""
    z, c, s = butterfly_cases(np.random.default_rng(33), 20_000)
    buffer = np.ascontiguousarray(z, dtype=np.int16)
    clib.lib.tg_butterflies_q15_n(buffer, c.astype(np.int16), s.astype(np.int16), len(z))
    expected = z.copy()
    for first in (0, 2):  # the pairs (0, 4) and (2, 6) of every row
        a_re, a_im, b_re, b_im = (z[:, first + offset] for offset in (0, 1, 4, 5))
        outputs = fixedpoint.butterflies_q15(a_re, a_im, b_re, b_im, c, s)
        for offset, value in zip((0, 1, 4, 5), outputs):
            expected[:, first + offset] = value
    assert_equal_arrays(z, expected, buffer.astype(np.int64), "butterflies_q15")
    with pytest.raises(AssertionError):
        fixedpoint.butterflies_q15(32767, 0, 32767, 32767, 32767, 32767)


def test_rdbpot_16_matches_c(clib):
    """rdbpot(x, 16) in 16-bit operations on the ties and their neighbours of every upper half near the int16 ends and
    zero, and random values whose result fits int16 (standardize's products: |x| < 2^31 - 2^15)."""
    rng = np.random.default_rng(16)
    highs = np.concatenate([np.arange(-32768, -32700), np.arange(-70, 70), np.arange(32700, 32767)]).astype(np.int64)
    lows = np.array([0, 1, 0x7FFE, 0x7FFF, 0x8000, 0x8001, 0xFFFE, 0xFFFF], dtype=np.int64)
    x = (highs[:, None] * 65536 + lows[None, :]).ravel()
    x = np.concatenate([x, rng.integers(-(1 << 31), (1 << 31) - (1 << 15), 100_000)])
    x = x[np.abs(fixedpoint.rdbpot(x, 16)) < (1 << 15)]
    out = _out(x.size)
    clib.lib.tg_rdbpot_16_n(x.astype(np.int32), x.size, out)
    assert_equal_arrays(x, fixedpoint.rdbpot_16(x), out, "rdbpot_16")
    with pytest.raises(ValueError):
        fixedpoint.rdbpot_16((1 << 31) - 1)


AVR_OFFSET_FIRMWARE = r"""
#include <stdint.h>
#include <avr/interrupt.h>
#include <avr/io.h>
#include <avr/sleep.h>
#include "{n}.h"
#include "cases.h"

static void put(uint8_t b) {{ while (!(UCSR0A & _BV(UDRE0))) {{}} UDR0 = b; }}

int main(void)
{{
    uint16_t i;
    uint16_t wrong = 0u;
    uint16_t first = 0xFFFFu;
    UCSR0B = (uint8_t)_BV(TXEN0);
    for (i = 0; i < N_CASES; i++) {{
        const int32_t *format = formats[pgm_read_byte(&case_format[i])];
        int32_t got = {n}_to_fixed_offset_fast(pgm_read_float(&case_x[i]), (int8_t)pgm_read_byte(&case_frac[i]),
                                               (int32_t)pgm_read_dword(&case_offset[i]), (int32_t)pgm_read_dword(&format[0]),
                                               (int32_t)pgm_read_dword(&format[1]), (int32_t)pgm_read_dword(&format[2]),
                                               (int32_t)pgm_read_dword(&format[3]));
        if (got != (int32_t)pgm_read_dword(&case_expected[i])) {{
            first = first == 0xFFFFu ? i : first;
            wrong++;
        }}
    }}
    put((uint8_t)wrong); put((uint8_t)(wrong >> 8)); put((uint8_t)first); put((uint8_t)(first >> 8));
    cli(); sleep_enable(); sleep_cpu();
    return 0;
}}
"""

AVR_OFFSET_FORMATS = [(bits, wide) for bits in (8, 16, 32) for wide in (16, 31)]  # (result bits, wide range bits)
AVR_OFFSETS = {16: (0, -8104, 1 << 14), 31: (0, 8104, 1 << 29)}


def _avr_offset_cases(rng) -> list[tuple]:
    """(x, frac_bits, offset_q, format index, expected) for every format: edges, random bit patterns and values
    around each offset, with frac_bits up to 127 (the subnormal shortcut ends at 125)."""
    cases = []
    for index, (bits, wide) in enumerate(AVR_OFFSET_FORMATS):
        for frac_bits in (-100, -8, 0, 3, 7, 15, 20, 31, 100, 125, 126, 127):
            x = np.concatenate([to_fixed_edges(bits, frac_bits), random_floats(rng, bits, frac_bits, 80)])
            for offset_q in AVR_OFFSETS[wide]:
                with np.errstate(over="ignore", under="ignore"):
                    placed = ((offset_q + rng.integers(-3, 3, 6) + 0.5) * 2.0 ** -frac_bits).astype(np.float32)
                    values = np.concatenate([x, placed]).astype(np.float32)
                    expected = fixedpoint.to_fixed_offset_fast(values, frac_bits, offset_q, bits, wide)
                    assert np.array_equal(expected, fixedpoint.to_fixed_offset(values, frac_bits, offset_q, bits, wide))
                cases += [(v, frac_bits, offset_q, index, int(e)) for v, e in zip(values, expected)]
    return cases


def _avr_offset_cases_header(cases) -> str:
    def longs(values):
        return ", ".join(f"{v}L" if v != -(1 << 31) else "(-2147483647L - 1)" for v in values)
    formats = ", ".join("{" + longs([*int_range(bits), *int_range(wide)]) + "}" for bits, wide in AVR_OFFSET_FORMATS)
    return "\n".join([
        "#include <avr/pgmspace.h>", f"#define N_CASES {len(cases)}u",
        f"static const uint32_t case_bits[N_CASES] PROGMEM = {{{', '.join(f'{np.float32(c[0]).view(np.uint32)}u' for c in cases)}}};",
        "#define case_x ((const float *)case_bits)",
        f"static const int8_t case_frac[N_CASES] PROGMEM = {{{', '.join(str(c[1]) for c in cases)}}};",
        f"static const int32_t case_offset[N_CASES] PROGMEM = {{{longs(c[2] for c in cases)}}};",
        f"static const uint8_t case_format[N_CASES] PROGMEM = {{{', '.join(str(c[3]) for c in cases)}}};",
        f"static const int32_t case_expected[N_CASES] PROGMEM = {{{longs(c[4] for c in cases)}}};",
        f"static const int32_t formats[{len(AVR_OFFSET_FORMATS)}][4] PROGMEM = {{{formats}}};", ""])


def test_to_fixed_offset_fast_matches_python_on_the_avr(tmp_path):
    """The AVR path of to_fixed_offset_fast (round_right_u24's MUL-and-bytes shift, the zero/subnormal shortcut, the
    wide clamp) equals its twin, and the twin to_fixed_offset, on about 67,000 values for 8-, 16- and 32-bit results
    with 16- and 31-bit wide ranges, under simavr; round_right_u24's twin against the plain shift on every u."""
    from tinygen.targets import avr
    gcc = need_tool("avr-gcc")
    m = np.random.default_rng(24).integers(0, 1 << 32, 4000, dtype=np.uint64).astype(np.int64)
    for u in range(24):
        assert np.array_equal(fixedpoint.round_right_u24(m, u), (((m & 0xFFFFFF) >> u) + 1) >> 1)
    (tmp_path / f"{PRIM}.h").write_text("#include <stdint.h>\n" + render_primitives(PRIM, c_primitives.PRIMITIVES))
    cases = _avr_offset_cases(np.random.default_rng(24))
    for start in range(0, len(cases), 1500):  # what fits the ATmega328P's flash beside the code
        chunk = cases[start:start + 1500]
        (tmp_path / "cases.h").write_text(_avr_offset_cases_header(chunk))
        (tmp_path / "fw.c").write_text(AVR_OFFSET_FIRMWARE.format(n=PRIM))
        subprocess.run([gcc, "-std=c99", "-Os", "-mmcu=atmega328p", "-DF_CPU=16000000UL", "fw.c", "-o", "fw.elf"],
                       cwd=tmp_path, check=True)
        output, _ = avr.run_elf(str(tmp_path / "fw.elf"))
        wrong, first = int.from_bytes(output[:2], "little"), int.from_bytes(output[2:4], "little")
        assert wrong == 0, (f"{wrong} of {len(chunk)} differ; first: x={chunk[first][0]!r} frac={chunk[first][1]} "
                            f"offset={chunk[first][2]} format={AVR_OFFSET_FORMATS[chunk[first][3]]} expected "
                            f"{chunk[first][4]}")
    assert len(cases) > 60_000
