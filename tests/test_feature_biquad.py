"""window_biquad (tinygen/ops/features/biquad.py): lp/hp/bp items as second-order sections in integers, then the
RMS. Its C equals its simulator on host and on the ATmega328P (random and edge windows, one AVR run per design);
the simulator stays within the proven bound of featurespec.reference and inside the proven output range; the
manifest round-trips without scipy; designs the format cannot hold are refused."""
from __future__ import annotations

import json

import numpy as np
import pytest

from tinygen import featurespec
from tinygen.errors import TinygenError
from tinygen.ops.features import biquad
from tinygen.ops.features.biquad import MAX_RESPONSE_ERROR, BiquadRms, analyse, cascade_response

from feature_harness import c_outputs

SAMPLE_SCALE = 4 * 9.81 / 32768  # an accelerometer's +-4 g in int16
# (items, sample rate in Hz, window): low cutoffs against the rate (poles near z = 1), cutoffs near Nyquist (every
# integer part of a1, a2: -2..2 and 0..1), a negative input shift (lp:0.5 at 1000 Hz over 1024 samples)
DESIGNS = [("lp:0.5,hp:0.5,bp:0.5-3", 100.0, 64), ("lp:20,hp:12.5,bp:10-24", 50.0, 16),
           ("lp:3,bp:0.3-1.5,hp:8", 100.0, 256)]
WIDE = ("lp:0.5,bp:2-6", 1000.0, 1024)


def make(items: str, rate: float, window: int, scales=(SAMPLE_SCALE, 1.0 / 32768)) -> BiquadRms:
    return BiquadRms(window=window, specs=featurespec.parse(items, window, rate), sample_scales=list(scales),
                     sample_rate=rate)


def worst_case_windows(op: BiquadRms) -> np.ndarray:
    """Per item, the full-scale windows that drive the last sample of each section's exact response to its largest
    magnitude (x[n] = +-full scale with the sign of the response at N-1-n): the range proof's extremes."""
    rows = []
    for plan in op.plans:
        for k in range(1, len(plan.sections) + 1):
            pairs = [(tuple(s.b), s.a) for s in plan.sections[:k]]
            sign = np.sign(cascade_response(pairs, op.window))[::-1]
            rows += [np.where(sign >= 0, 32767, -32768), np.where(sign >= 0, -32768, 32767)]
    return np.array(rows, dtype=np.int64)


def edge_windows(op: BiquadRms, rng) -> np.ndarray:
    """Random full-scale and small windows, constants, steps, impulses, full-scale squares, and sines in band, out of
    band and at each cutoff of every item, plus the worst cases of the range proof."""
    n = op.window
    t = np.arange(n)
    rows = [rng.integers(-32768, 32768, (24, n)), rng.integers(-200, 200, (4, n)),
            np.cumsum(rng.integers(-2000, 2000, (4, n)), axis=1).clip(-32768, 32767)]
    rows += [np.full((1, n), v) for v in (32767, -32768, 0, 1, -1)]
    rows += [np.where(t >= n // 2, 32767, -32768)[None], np.where(t == 0, 32767, 0)[None],
             np.where(t == n // 3, -32768, 0)[None], np.where(t % 2 == 0, 32767, -32768)[None],
             np.where((t // max(1, n // 8)) % 2 == 0, 32767, -32768)[None]]
    nyquist = op.sample_rate / 2
    for spec in op.specs:
        low, high = spec.cutoffs[0], spec.cutoffs[-1]
        for freq in {low, high, low / 4, min(4 * high, 0.9 * nyquist), (low * high) ** 0.5}:
            rows.append(np.round(32767 * np.sin(2 * np.pi * freq * t / op.sample_rate + rng.uniform(0, 6.3, (2, 1)))))
    rows.append(worst_case_windows(op))
    return np.concatenate(rows).astype(np.int64)


@pytest.fixture(scope="module", params=DESIGNS, ids=[f"{d[0]}@{d[1]:g}Hz/{d[2]}" for d in DESIGNS])
def design(request):
    op = make(*request.param)
    return op, edge_windows(op, np.random.default_rng(len(request.param[0])))


@pytest.mark.parametrize("target", ["host", "avr"])
def test_c_equals_simulator(design, target, tmp_path):
    op, windows = design
    channel = 1
    assert np.array_equal(c_outputs(op, windows, channel, target, tmp_path), op.forward(windows, channel))


def test_portable_c_equals_simulator_on_avr(tmp_path):
    """The template's portable C, which the other targets run, on the AVR too (16-bit int)."""
    op = make(*DESIGNS[1])
    op.avr_assembly = False
    windows = edge_windows(op, np.random.default_rng(4))[::2]
    assert np.array_equal(c_outputs(op, windows, 0, "avr", tmp_path), op.forward(windows, 0))


@pytest.mark.parametrize("window", [2, 3, 37])
def test_c_equals_simulator_short_and_odd_windows(window, tmp_path):
    op = make("lp:2,bp:1-5", 50.0, window)
    windows = np.concatenate([np.random.default_rng(window).integers(-32768, 32768, (40, window)),
                              np.full((1, window), -32768), np.full((1, window), 32767)])
    assert np.array_equal(c_outputs(op, windows, 1, "host", tmp_path), op.forward(windows, 1))
    assert (np.abs(op.real(op.forward(windows, 1), 1) - np.concatenate(
        [featurespec.reference(spec, windows * op.sample_scales[1], 50.0) for spec in op.specs], axis=1))
        <= op.error_bounds(1)).all()


def test_c_equals_simulator_wide_window_and_negative_shift(tmp_path):
    op = make(*WIDE)
    assert any(s.in_shift < 0 for plan in op.plans for s in plan.sections)
    windows = edge_windows(op, np.random.default_rng(5))[::3]
    assert np.array_equal(c_outputs(op, windows, 0, "host", tmp_path), op.forward(windows, 0))


def test_within_error_bound_and_out_bounds(design):
    """|real(q) - reference(s * scale)| <= error_bounds on every window and channel; q inside out_bounds."""
    op, windows = design
    q = op.forward(windows, 0)
    for k, (lo, hi) in enumerate(op.out_bounds()):
        assert lo <= q[:, k].min() and q[:, k].max() <= hi
    for channel, scale in enumerate(op.sample_scales):
        bounds = op.error_bounds(channel)
        real = op.real(op.forward(windows, channel), channel)
        for k, spec in enumerate(op.specs):
            error = np.abs(real[:, k] - featurespec.reference(spec, windows * scale, op.sample_rate)[:, 0])
            assert error.max() <= bounds[k], (spec.text, error.max(), bounds[k])
            assert bounds[k] <= 2e-3 * 32768 * scale  # the bound says something: 0.2% of full scale here


def test_states_use_their_range():
    """The input shifts fill the 32-bit states (at least half of the proven range is reachable)."""
    for items, rate, window in DESIGNS + [WIDE]:
        op = make(items, rate, window)
        for plan, analysis in zip(op.plans, op.analyses):
            assert all(2 ** 30 <= b <= 2 ** 31 - 2 ** 16 for b in analysis.state_bounds), (items, analysis)


def test_manifest_round_trip_needs_no_scipy(monkeypatch):
    op = make(*DESIGNS[0])
    data = json.loads(json.dumps(op.to_dict()))
    monkeypatch.setattr(featurespec, "filter_sos", lambda *a: pytest.fail("from_dict designed the filters again"))
    loaded = BiquadRms.from_dict(data)
    assert loaded.plans == op.plans and loaded.to_dict() == data
    windows = np.random.default_rng(3).integers(-32768, 32768, (8, op.window))
    assert np.array_equal(loaded.forward(windows, 1), op.forward(windows, 1))
    assert np.array_equal(loaded.error_bounds(0), op.error_bounds(0))


def test_damaged_manifest_is_refused():
    data = make(*DESIGNS[0]).to_dict()
    data["filters"][0]["sections"][0]["a_frac"][1] += 3000  # moves a pole: the response error exceeds the limit
    with pytest.raises(TinygenError, match="re-export"):
        BiquadRms.from_dict(data)
    data = make(*DESIGNS[0]).to_dict()
    data["filters"][2]["sections"][1]["in_shift"] += 1  # the range proof fails
    with pytest.raises(TinygenError, match="re-export"):
        BiquadRms.from_dict(data)


@pytest.mark.parametrize("items, advice", [("lp:0.0002", "raise the cutoff or lower the sample rate"),
                                           ("hp:0.0003", "raise the cutoff"), ("bp:0.0001-0.0003", "raise the cutoff"),
                                           ("lp:49.9999", "lower the cutoff")])
def test_unrealizable_designs_are_refused(items, advice):
    """Poles within ~2^-31 of z = 1 (a cutoff below ~5e-6 of the sample rate) or of z = -1: their quantized
    denominators are not stable."""
    with pytest.raises(TinygenError, match=f"leave the unit circle; {advice}"):
        make(items, 100.0, 64)


def test_designs_beyond_the_response_limit_are_refused(monkeypatch):
    """The limit on the coefficients' effect is the stated one: a design above it is refused, at it kept. (At 1%
    none is refused at 100 Hz: the largest over cutoffs 0.005..45 Hz and N <= 1024 is 0.69%, hp:0.012.)"""
    op = make("lp:0.5", 100.0, 1024)
    error = op.analyses[0].response_error
    assert 1e-4 < error <= MAX_RESPONSE_ERROR and analyse(op.plans[0], op.window) == op.analyses[0]
    monkeypatch.setattr(biquad, "MAX_RESPONSE_ERROR", error * 0.99)
    with pytest.raises(TinygenError, match="move the response by 0.0[0-9]% of full scale"):
        make("lp:0.5", 100.0, 1024)


def test_only_filter_items():
    with pytest.raises(TinygenError, match="lp, hp and bp"):
        BiquadRms(window=16, specs=featurespec.parse("mean,lp:2", 16, 50.0), sample_scales=[1.0], sample_rate=50.0)
