"""The window_statistics feature op (tinygen/ops/features/statistics.py, issue 16): mean, var, std, rms, min, max,
ptp, crossings and mad of one channel's int16 window, exact integer sums and one quotient per item.

- C == the simulator (forward) on host (the portable C) and on the ATmega328P under simavr (the assembly passes),
  for N = 2 .. 256 and selections of every item, alone and together, on random and edge windows: 0 mismatches;
  N = 1000 and 1024 on host (their window alone is the ATmega328P's 2 KB of RAM)
- forward within the proven error bound of featurespec.reference on random and edge windows, for several sample
  scales and window lengths (the tightness, max observed / bound, is printed); the crossing count equal to the
  float reference's wherever no sample equals the mean, and within its per-window bound elsewhere
- forward inside out_bounds on edge windows, and out_bounds reached by the extreme windows
- the manifest round trip, the refusals, and a hypothesis property over windows of any length and content
- the primitives on the AVR against their twins: isqrt_u64's assembly on edge radicands, div_reciprocal_u32 on every
  divisor's edges (their host C is in test_fixedpoint.py); every reciprocal the op uses equals its division
- the op inside a window program (WindowFeatures + scaler + forest): C == simulator on host and avr
Cycles and stack on the AVR are printed for N = 64 (never asserted).
"""
from __future__ import annotations

import subprocess

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tinygen import emit, featurespec, fixedpoint
from tinygen.errors import TinygenError
from tinygen.ops.features.statistics import WindowStatistics
from tinygen.targets import avr

import feature_harness
from conftest import AVR_FIRMWARE, need_tool
from test_fixedpoint import isqrt_cases, reciprocal_cases

ALL = ",".join(featurespec.STATISTICS)
# (N, items): every item alone, all together, the benchmark selection; odd N, N = 2, non-powers of two
CASES = [(16, ALL), (64, ALL), (100, ALL), (256, ALL), (64, "mean,std,min,max,rms,crossings"), (2, "max,mad,var,crossings"),
         (3, "mad,std,ptp"), (33, "std"), (100, "mean"), (100, "crossings"), (64, "var"), (255, "rms"), (17, "min"),
         (64, "ptp"), (64, "max"), (64, "mad"), (5, "rms,mean"), (513, "std,mad,crossings")]
HOST_ONLY = [(512, ALL), (1000, ALL), (1024, ALL)]
SCALES = (1.0, 0.1, 2.0 ** -15, 9.80665 / 16384, 1e-3, 37.0)
INT16_MIN, INT16_MAX = -32768, 32767


def make_op(window: int, items: str, scales=(0.01, 0.5)) -> WindowStatistics:
    return WindowStatistics(window=window, specs=featurespec.parse(items, window), sample_scales=list(scales))


def edge_windows(n: int, seed: int = 0) -> np.ndarray:
    """[rows, n] int16 windows at the edges: constants (the int16 ends), full-scale square waves, impulses, a ramp,
    alternating +-1, windows whose samples sit on the exact mean (balanced around it, and the pattern that moves the
    most crossings), mean ties where the window length allows one."""
    rng = np.random.default_rng(seed)
    half = n // 2
    rows = [np.full(n, v) for v in (INT16_MIN, -1, 0, 1, INT16_MAX)]
    rows += [np.r_[np.full(half, INT16_MAX), np.full(n - half, INT16_MIN)], np.r_[np.full(half, INT16_MIN), np.full(n - half, INT16_MAX)],
             np.resize([INT16_MIN, INT16_MAX], n), np.resize([INT16_MAX, INT16_MIN], n), np.resize([1, -1], n),
             np.resize([0, 1], n), np.round(np.linspace(INT16_MIN, INT16_MAX, n)), np.round(np.linspace(INT16_MAX, INT16_MIN, n))]
    for value, where in ((INT16_MAX, half), (INT16_MIN, 0), (INT16_MIN, n - 1), (INT16_MAX, 0), (1, n - 1)):
        impulse = np.zeros(n)
        impulse[where] = value
        rows.append(impulse)
    for _ in range(4):  # samples on the mean m, the others balanced around it: m, m + d, m, m - d, ...
        m, d = int(rng.integers(-30000, 30000)), int(rng.integers(1, 2000))
        rows.append(np.resize([m, m + d, m, m - d], n) if n >= 4 else np.full(n, m))
    if n >= 3:  # a, m, a, m, ..., one low sample b balancing them: every m moves two crossings in a float mean
        k = (n - 1 + 1) // 2
        rows.append(np.r_[np.resize([1000, 999], n - 1), [999 - k]])
    rows += mean_ties(n)
    return np.clip(np.array(rows, dtype=np.int64), INT16_MIN, INT16_MAX)


def mean_ties(n: int) -> list:
    """Windows whose mean sits half-way between two steps of its format (round half away from zero decides)."""
    step = n >> (WindowStatistics(window=n, specs=featurespec.parse("mean", n), sample_scales=[1.0]).frac_bits["mean"] + 1)
    if step == 0 or n % (2 * step):
        return []
    ties = []
    for t in (step, -step, 3 * step, -5 * step):
        row = np.zeros(n)
        row[0] = t
        ties.append(row)
    return ties


def random_windows(n: int, rows: int, seed: int) -> np.ndarray:
    """Full-range uniform, small noise on a DC offset, Gaussian, and a sine with noise."""
    rng = np.random.default_rng(seed)
    quarter = max(rows // 4, 1)
    uniform = rng.integers(INT16_MIN, INT16_MAX + 1, (quarter, n))
    noise = rng.integers(-30000, 30000, (quarter, 1)) + rng.integers(-3, 4, (quarter, n))
    gauss = np.round(rng.normal(0, rng.uniform(1, 8000, (quarter, 1)), (quarter, n)))
    t = np.arange(n)
    sine = np.round(rng.uniform(0, 32000, (quarter, 1)) * np.sin(2 * np.pi * rng.uniform(0.5, n / 3, (quarter, 1)) * t / n)
                    + rng.normal(0, 20, (quarter, n)))
    return np.clip(np.concatenate([uniform, noise, gauss, sine]), INT16_MIN, INT16_MAX).astype(np.int64)


def windows_for(n: int, rows: int = 40, seed: int = 1) -> np.ndarray:
    return np.concatenate([edge_windows(n), random_windows(n, rows, seed)])


# ---- C == simulator ----------------------------------------------------------------------------------------
@pytest.mark.parametrize("window, items", CASES, ids=[f"{n}-{items}" for n, items in CASES])
def test_c_equals_forward_host_and_avr(window, items, tmp_path):
    """Every row of a case in one run per target: host (portable C) and avr (assembly passes)."""
    op = make_op(window, items)
    samples = windows_for(window)
    expected = op.forward(samples, 1)
    for target in ("host", "avr"):
        got = feature_harness.c_outputs(op, samples, 1, target, tmp_path / target)
        bad = np.flatnonzero((got != expected).any(axis=1))
        assert bad.size == 0, (f"{target}: {bad.size} of {len(samples)} windows differ, first {samples[bad[0]].tolist()}: "
                               f"C {got[bad[0]].tolist()}, Python {expected[bad[0]].tolist()}")


@pytest.mark.parametrize("build", sorted(feature_harness.M4_BUILDS))
def test_c_equals_forward_on_cortex_m4(build, tmp_path):
    """Every case on the Cortex-M4 (QEMU): its SIMD32 first pass and crossings (two int16 lanes a word, odd N's last
    sample apart), and the portable C the other cores run (NAME_PORTABLE_C)."""
    for window, items in CASES + HOST_ONLY[:1]:
        op = make_op(window, items)
        samples = windows_for(window, rows=20)
        got = feature_harness.c_outputs(op, samples, 1, "cortex-m4", tmp_path / f"{window}-{items}",
                                        feature_harness.M4_BUILDS[build])
        bad = np.flatnonzero((got != op.forward(samples, 1)).any(axis=1))
        assert bad.size == 0, f"N={window} {items}: {bad.size} of {len(samples)} windows differ, first {samples[bad[0]].tolist()}"


@pytest.mark.parametrize("window, items", HOST_ONLY)
def test_c_equals_forward_long_windows_on_host(window, items, tmp_path):
    op = make_op(window, items)
    samples = windows_for(window, rows=20)
    assert np.array_equal(feature_harness.c_outputs(op, samples, 0, "host", tmp_path), op.forward(samples))


def test_avr_cycles_and_stack_printed(tmp_path):
    """The cost on the ATmega328P at N = 64 (for notes and `tinygen bench`; not asserted): mean cycles per channel
    and the peak stack of one call."""
    samples = random_windows(64, 8, 3)
    for items in (ALL, "mean,std,min,max,rms,crossings"):
        op = make_op(64, items)
        got, regions = feature_harness.c_run(op, samples, 0, "avr", tmp_path / items.replace(",", "_"))
        assert np.array_equal(got, op.forward(samples))
        cycles = [region.cycles - 1 for region in regions]
        print(f"\nN=64 {items}: {np.mean(cycles):.0f} cycles per channel (min {min(cycles)}, max {max(cycles)}), "
              f"stack {max(region.stack_bytes for region in regions)} B")


# ---- against the float reference ----------------------------------------------------------------------------
def errors(op: WindowStatistics, samples: np.ndarray, channel: int) -> np.ndarray:
    """[rows, n_out] |real(q) - featurespec.reference| on the dequantized samples."""
    real = op.real(op.forward(samples, channel), channel)
    x = samples * op.sample_scales[channel]
    reference = np.concatenate([featurespec.reference(spec, x) for spec in op.specs], axis=1)
    return np.abs(real - reference)


@pytest.mark.parametrize("window", [2, 3, 16, 64, 100, 256, 1000, 1024])
def test_error_within_proven_bound(window):
    """Every item on random and edge windows at several sample scales: within error_bounds; the tightness is printed.
    The crossing count equals the float reference's wherever no sample is on the mean, and stays within
    crossing_bound where one is."""
    op = make_op(window, ALL, SCALES)
    samples = windows_for(window, rows=200, seed=window)
    worst = np.zeros(op.n_out)
    crossings = op.items.index("crossings")
    for channel in range(op.n_channels):
        err = errors(op, samples, channel)
        bound = op.error_bounds(channel)
        over = np.argwhere(err > bound)
        assert over.size == 0, (f"scale {op.sample_scales[channel]}: {op.items[over[0][1]]} errs "
                                f"{err[tuple(over[0])]:.3g} > {bound[over[0][1]]:.3g} on {samples[over[0][0]].tolist()}")
        assert np.all(err[:, crossings] <= op.crossing_bound(samples))
        worst = np.maximum(worst, err.max(axis=0) / np.where(bound > 0, bound, 1))
    print(f"\nN={window} max observed / bound: " + ", ".join(f"{item} {ratio:.3f}" for item, ratio in zip(op.items, worst)))
    assert worst[op.items.index("var")] > 0.9  # the bound is reached (the others: printed)


def test_crossings_differ_only_at_the_mean():
    """A window with samples on the exact mean whose float64 mean rounds off it: the counts may differ (by the
    crossings next to those samples, within crossing_bound); off the mean they never do."""
    op = make_op(64, "crossings", (0.1,))
    samples = edge_windows(64)
    x = samples * 0.1
    reference = featurespec.reference(op.specs[0], x)[:, 0]
    moved = op.forward(samples)[:, 0] != reference
    assert np.all(op.crossing_bound(samples)[moved] > 0)
    assert np.all(np.abs(op.forward(samples)[:, 0] - reference) <= op.crossing_bound(samples))


# ---- ranges, manifest, refusals -----------------------------------------------------------------------------
@pytest.mark.parametrize("window", [2, 3, 64, 100, 1024])
def test_outputs_inside_proven_bounds(window):
    op = make_op(window, ALL)
    samples = windows_for(window, rows=100)
    q = op.forward(samples)
    bounds = np.array(op.out_bounds())
    assert np.all(bounds[:, 0] >= -(1 << 31)) and np.all(bounds[:, 1] <= (1 << 31) - 1)
    assert np.all(q >= bounds[:, 0]) and np.all(q <= bounds[:, 1])
    reached = {item: (q[:, k].min(), q[:, k].max()) for k, item in enumerate(op.items)}
    assert reached["min"] == (INT16_MIN, INT16_MAX) and reached["ptp"][1] == 65535 and reached["mean"][0] == bounds[0, 0]
    assert reached["rms"][1] == bounds[op.items.index("rms"), 1]  # every sample -32768
    if window % 2 == 0:  # half at each end: the largest variance, exactly
        assert reached["var"][1] == bounds[op.items.index("var"), 1]
        assert reached["std"][1] == bounds[op.items.index("std"), 1]


def test_manifest_round_trip_and_damage():
    op = make_op(100, "rms,mean,crossings,mad", (0.25, 1e-3, 3.0))
    data = op.to_dict()
    back = WindowStatistics.from_dict(data)
    assert back.to_dict() == data and back.items == op.items and back.sample_scales == op.sample_scales
    samples = random_windows(100, 8, 5)
    assert np.array_equal(back.forward(samples), op.forward(samples))
    with pytest.raises(TinygenError):
        WindowStatistics.from_dict({**data, "frac_bits": {**data["frac_bits"], "mean": 3}})


def test_refusals():
    with pytest.raises(TinygenError):
        make_op(1, "mean")
    with pytest.raises(TinygenError):
        make_op(2048, "mean")
    with pytest.raises(TinygenError):
        WindowStatistics(window=64, specs=featurespec.parse("fft8", 64), sample_scales=[1.0])
    with pytest.raises(TinygenError):
        make_op(64, "mean", (0.0,))
    with pytest.raises(ValueError):
        make_op(8, "mean").forward(np.full((1, 8), 40000))


def test_helpers_and_tables():
    assert make_op(64, "std").c_helpers() == ("ld_pair", "isqrt_u64")
    assert make_op(64, "mean,min,crossings").c_helpers() == ("ld_pair", "sel")  # min: SSUB16 + SEL
    assert make_op(64, ALL).table_bytes() == {}


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.integers(2, 80).flatmap(lambda n: st.tuples(
    st.lists(st.integers(INT16_MIN, INT16_MAX), min_size=n, max_size=n),
    st.lists(st.sampled_from(featurespec.STATISTICS), min_size=1, max_size=9, unique=True),
    st.sampled_from(SCALES))))
def test_property_any_window(case):
    """Any window, any selection: inside out_bounds and within error_bounds of the float reference."""
    samples, items, scale = case
    op = make_op(len(samples), ",".join(items), (scale,))
    x = np.array([samples], dtype=np.int64)
    q = op.forward(x)
    bounds = np.array(op.out_bounds())
    assert np.all(q >= bounds[:, 0]) and np.all(q <= bounds[:, 1])
    assert np.all(errors(op, x, 0) <= op.error_bounds(0))


# ---- the primitives on the AVR: isqrt_u64's assembly, div_reciprocal_u32's 16-bit products -------------------
PRIMITIVES_MAIN = r"""
#include <stdint.h>
#include <avr/io.h>
#include "uart.h"
#include "prim.h"
/* UART0 in: a count (uint16), then per case 8 bytes of v and radicand_bytes (isqrt_u64), or 4 bytes of n, 4 of m,
 * s and add_back (div_reciprocal_u32), as the first byte of the run says (0 or 1); out: one uint32 a case, hex. */
static uint32_t get_u32(void)
{
    uint32_t value = 0u;
    uint8_t i;
    for (i = 0; i < 32u; i = (uint8_t)(i + 8u)) {
        value |= (uint32_t)get_byte() << i;
    }
    return value;
}

int main(void)
{
    uint8_t which;
    uint16_t count;
    uint16_t row;
    cli();
    uart_init();
    which = get_byte();
    count = get_u16();
    for (row = 0; row < count; row++) {
        uint32_t result;
        if (which == 0u) {
            uint32_t low = get_u32();
            uint64_t v = ((uint64_t)get_u32() << 32) | low;
            result = t_isqrt_u64(v, get_byte());
        } else {
            uint32_t n = get_u32();
            uint32_t m = get_u32();
            uint8_t s = get_byte();
            result = t_div_reciprocal_u32(n, m, s, get_byte());
        }
        put_hex(&result, sizeof result);
    }
    put_byte('\n');
    uart_stop();
    return 0;
}
"""


def run_primitive_on_avr(tmp_path, which: int, payload: bytes, count: int) -> np.ndarray:
    for tool in ("avr-gcc", "simavr"):
        need_tool(tool)
    (tmp_path / "prim.h").write_text("#include <stdint.h>\n" + emit.render_primitives("t", ["isqrt_u64", "div_reciprocal_u32"]))
    (tmp_path / "main.c").write_text(PRIMITIVES_MAIN)
    elf = tmp_path / "prim.elf"
    subprocess.run(["avr-gcc", *avr.CFLAGS, f"-I{tmp_path}", f"-I{AVR_FIRMWARE}", str(tmp_path / "main.c"), "-o", str(elf)],
                   check=True, capture_output=True, text=True)
    uart, _ = avr.run_elf(elf, cycle_limit=200_000_000, uart_input=bytes([which]) + np.uint16(count).tobytes() + payload)
    return np.frombuffer(bytes.fromhex(uart.decode("ascii").strip()), dtype="<u4").astype(np.int64)


def test_isqrt_u64_avr_assembly_matches_twin(tmp_path):
    values, sizes = isqrt_cases()
    payload = b"".join(int(v).to_bytes(8, "little") + bytes([int(s)]) for v, s in zip(values, sizes))
    got = run_primitive_on_avr(tmp_path, 0, payload, len(values))
    expected = fixedpoint.isqrt_u64(values, sizes)
    assert np.array_equal(got, expected), [(int(v), int(g), int(e)) for v, g, e in zip(values, got, expected) if g != e][:5]


@pytest.mark.parametrize("build", sorted(feature_harness.M4_BUILDS))
def test_isqrt_u64_on_cortex_m4_matches_twin(build, tmp_path):
    """The Cortex-M4's isqrt_u64: the top word's digits by Newton's method with UDIV (SIMD32 build), and the portable
    digit loop; each row is v as four 16-bit words, low first, and radicand_bytes."""
    from tinygen.emit import render_primitives
    from tinygen.targets import qemu

    values, sizes = isqrt_cases(random_per_size=200)
    words = [(values >> (16 * k)) & 0xFFFF for k in range(4)]
    rows = np.stack([*words, sizes], axis=1).astype(np.uint16).view(np.int16)
    run = ("#include <stdint.h>\n" + render_primitives("m", ["isqrt_u64"]) + "\n#define ROW_LEN 5\n"
           + feature_harness.SIMD32_CHECK + "static void run_row(const int16_t *in, int32_t *out)\n{\n"
           "    uint64_t v = 0u;\n    int k;\n    for (k = 3; k >= 0; k--) {\n"
           "        v = (v << 16) | (uint16_t)in[k];\n    }\n"
           "    out[0] = (int32_t)m_isqrt_u64(v, (uint8_t)in[4]);\n}\n")
    got = feature_harness.qemu_rows(run, rows, 1, qemu.TARGETS["cortex-m4"], tmp_path, feature_harness.M4_BUILDS[build])
    expected = fixedpoint.isqrt_u64(values, sizes)
    assert np.array_equal(got[:, 0], expected), [(int(v), int(g), int(e)) for v, g, e in zip(values, got[:, 0], expected) if g != e][:5]


def test_div_reciprocal_u32_on_avr_matches_twin(tmp_path):
    n, multiplier, post_shift, add_back, divisor = reciprocal_cases(random_per_divisor=2)
    pick = np.random.default_rng(4).permutation(n.size)[:6000]  # a sample of every divisor's edges, both forms
    n, multiplier, post_shift, add_back, divisor = (a[pick] for a in (n, multiplier, post_shift, add_back, divisor))
    payload = b"".join(int(a).to_bytes(4, "little") + int(m).to_bytes(4, "little") + bytes([int(s), int(b)])
                       for a, m, s, b in zip(n, multiplier, post_shift, add_back))
    got = run_primitive_on_avr(tmp_path, 1, payload, len(n))
    assert np.array_equal(got, n // divisor)


def test_every_reciprocal_equals_the_division():
    """For every window length, each uint32 quotient given a multiplier equals its exact division on its numerator's
    edges (0, 1, d - 1, d, multiples of d +- 1, the largest numerator) and on random numerators."""
    rng = np.random.default_rng(6)
    forms = set()
    for window in range(2, 1025):
        op = make_op(window, "mean")
        largest = {"mean": window << 15, "ceil": window << 15, "floor": window << 15, "mad": (window - 1) * 65535}
        for name, quot in op.quotients.items():
            if not quot.multiplier:
                continue
            forms.add(quot.add_back)
            top = (largest[name] << quot.shift) + quot.add
            multiple = (top // quot.divisor) * quot.divisor
            n = np.r_[[0, 1, quot.divisor - 1, quot.divisor, multiple - 1, multiple, top], rng.integers(0, top, 200)]
            assert np.array_equal(quot.by_multiplier(n), n // quot.divisor), (window, name, quot)
    assert forms == {False, True}


# ---- inside a window program -----------------------------------------------------------------------------------
def test_in_a_window_program_c_equals_simulator():
    """The op as registry.build_ops makes it, inside Pipeline(WindowFeatures, StandardScaler, forest) converted as one
    program: NAME_predict on host and on the ATmega328P equals the simulator on every window (NaN and inf samples
    too, which window_input turns into int16 first)."""
    import tinygen
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import StandardScaler
    from tinygen.features import WindowFeatures
    from tinygen.verify import compare_on_target

    rng = np.random.default_rng(7)
    window, channels, rows = 50, 2, 40
    y = rng.integers(0, 2, rows)
    t = np.arange(window)[None, :, None]
    frames = (1 + y[:, None, None]) * np.sin(0.4 * t + rng.uniform(0, 6, (rows, 1, channels))) + rng.normal(0, 0.3, (rows, window, channels))
    X = frames.reshape(rows, window * channels)
    pipe = Pipeline([("features", WindowFeatures(window, channels, ALL)), ("scale", StandardScaler()),
                     ("model", RandomForestClassifier(n_estimators=4, max_depth=4, random_state=0))]).fit(X, y)
    model = tinygen.convert(pipe, dtype="q15", calibration=X)
    assert [op.op for op in model.program.ops][1] == "window_features"
    bad = X.copy()
    bad[0, 3], bad[1, 8], bad[2, 11] = np.nan, np.inf, -np.inf
    for target in ("host", "avr"):
        assert compare_on_target(model, target, bad, "stats")["mismatches"] == 0, target


# ---- an outside implementation: CMSIS-DSP ------------------------------------------------------------------
@pytest.mark.parametrize("window", [16, 64, 100, 256])
def test_mean_and_rms_agree_with_cmsis(window):
    """CMSIS-DSP's arm_mean_q15 and arm_rms_q15 on the same int16 windows. Its mean is the sum over N truncated:
    ours within one sample step of it. Its RMS goes through arm_sqrt_q15, whose own error is up to about 1 %
    (measured here: 1000 for an alternating +-1000 window gives 991, 4096 gives 4091; small amplitudes come out 0):
    on windows with an RMS of 1024 steps or more, ours within CMSIS's own distance from the exact RMS + half a step."""
    from test_feature_fft import cmsis

    dsp = cmsis()
    op = make_op(window, "mean,rms", scales=(1.0,))
    samples = np.vstack([random_windows(window, 30, seed=5), edge_windows(window)])
    ours = op.real(op.forward(samples, 0), 0)
    theirs = np.array([[dsp.arm_mean_q15(row.astype(np.int16)), dsp.arm_rms_q15(row.astype(np.int16))]
                       for row in samples], dtype=np.float64)
    exact_rms = np.sqrt(np.mean(samples.astype(np.float64) ** 2, axis=1))
    assert np.all(np.abs(ours[:, 0] - theirs[:, 0]) <= 1.0)
    loud = exact_rms >= 1024  # CMSIS's q15 mean square drops small amplitudes (an RMS of 72 comes out 0 at N=100)
    cmsis_error = np.abs(theirs[loud, 1] - exact_rms[loud])
    assert loud.sum() >= 20 and np.all(cmsis_error <= 0.02 * exact_rms[loud] + 16)  # a fair reference there
    assert np.all(np.abs(ours[loud, 1] - theirs[loud, 1]) <= cmsis_error + 0.5)  # and ours agrees with it that well
