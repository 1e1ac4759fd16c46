"""window_biquad: the items lp:F, hp:F and bp:F1-F2 in integers, the RMS of one channel's window filtered by a
cascade of second-order sections (featurespec.filter_sos: scipy's 2nd-order Butterworth sections, one for lp/hp,
two for bp, started from rest at every window).

Coefficients: designed on the host (scipy), stored as integers in the manifest (with scipy's float sections, the
reference the error bound is stated against, so loading needs no scipy):
  numerator    scipy's section is g [1, c, 1] with c = +2 (zeros at z = -1) or -2 (zeros at z = +1): the pattern
               [1, c, 1] is exact in integers and the gain g goes into the output scale
  denominator  a_i = a_int[i] + a_frac[i] 2^-(16 + frac_shift): a_int[i] = round(a_i) (-2..2, -1..1), a_frac int16 with
               |a_frac| < 2^15, frac_shift in 0..15 the largest that keeps both fractions in int16 (|a_i -
               a_int[i]| <= 1/2, so at least 2^-16; poles near z = 1 have small fractions and get finer steps:
               2^-19 for 0.5 Hz at 100 Hz). The integer part multiplies the full 32-bit state by shifts and adds.
  input shift  e in -15..15 per section, the largest the range proof allows: the input pattern is scaled by 2^e
               (floored, when e < 0), so each section's state fills int32 for a full-scale window

Integer program (per item, per section, per sample n; forward and templates/c/features/window_biquad.c.j2 are the
same steps; u is the section's input: the int16 samples for the first section, the previous section's h after;
every history value is 0 before the window):
  1. w = u[n] + c u[n-1] + u[n-2]                      int32, |w| <= 2^17
  2. P = (a_frac[0] t[n-1] + a_frac[1] t[n-2]) >> frac_shift, t = Y >> 16 (the state's top word, floored)
                                                       int32: |sum| <= (2^16 - 2) 2^15 < 2^31 before the floor
  3. Y[n] = w 2^e - a_int[0] Y[n-1] - a_int[1] Y[n-2] - P
                                                       the state (h with 16 more bits): computed modulo 2^32
                                                       (uint32_t in C) and proven in [-2^31, 2^31 - 2^16] (below),
                                                       so the wrapped partial sums come back exact
  4. h[n] = (Y[n] + 2^15) >> 16                        int16 in [-32767, 32767]: Y / 2^16 rounded half up, the
                                                       section's output
  5. S = sum_n h_K[n]^2 over the last section's h      < N 2^30 <= 2^40 (the C: a uint32 and its carries)
  6. q = isqrt_u64(S, radicand_bytes) = round(sqrt(S)) the output, in [0, 2^20] (out_bounds)
The real RMS is q * s_h / sqrt(N) with s_h = sample_scale 2^(16 K) prod_k g_k 2^-e_k (out_affine; bias 0).

Rounding noise (per section; Y in its own units): with rho = Y - 2^16 t in [0, 2^16) and the floors of steps
2 (tau in [0, 1)) and 1 (e < 0: in (-1, 0]), A_q(z) Y = 2^e B(z) u + (a_f[0] z^-1 + a_f[1] z^-2) rho + (floors),
a_f = a_frac 2^-(16 + frac_shift) and A_q the quantized denominator. So Y differs from the exact quantized
cascade T_k x (x the samples) by at most
  E_k = 2^16 max(sum g+, sum g-) + ||1/A_q||_1 + ||2^e B/A_q||_1 (E_{k-1} / 2^16 + 1/2)   (the last term, k >= 2)
with g the impulse response of G_k = (a_f[0] z^-1 + a_f[1] z^-2) / A_q and g+, g- its parts of either sign
(rho >= 0): the truncation of the state to t reaches it only through the small fractions, not through the
near-unit poles, and the 16 bits of the state below t keep the poles' integer parts exact. ||.||_1 sums an
impulse response over the window's N samples: the filter starts from rest, so no earlier sample counts. Range: |Y_k| <= ||T_k||_1 2^15 + E_k <= 2^31 - 2^16 (design() picks e_k by this; check() re-proves
it from the stored integers).

Error bound (error_bounds(), per item), against featurespec.reference on x * sample_scale:
  |q s_h / sqrt(N) - RMS(y_ref)| <= s_h (E_K / 2^16 + 1/2 + 1 / (2 sqrt(N))) + sample_scale 2^15 ||h_q - h_ref||_1
the isqrt's rounding; |RMS(a) - RMS(b)| <= max |a - b|, with h_K within E_K / 2^16 + 1/2 of the exact quantized
cascade; and the coefficients' quantization, h_q and h_ref the real impulse responses of the quantized and of
scipy's cascade over N samples, at most 2^15 per sample. The bound is 6e-5..5e-3 of full scale for the tests'
designs (rounding and coefficients alike up to N = 256, the coefficients dominating for low cutoffs over 1024
samples); the largest error seen on their random, sine, step, impulse, square and constant windows is 0.06..0.7
of it.

Limits (TinygenError, one line): quantized poles on or outside the unit circle (a cutoff below ~5e-6 of the sample
rate, e.g. lp:0.0003 at 100 Hz, or within ~1e-6 of Nyquist); ||h_q - h_ref||_1 above MAX_RESPONSE_ERROR (1% of
full scale: none at 100 Hz for cutoffs 0.005..45 Hz and N <= 1024, the largest being 0.69%, hp:0.012 over 1024
samples, because a pole pair whose time constant exceeds the window barely moves within it); no input shift in
-15..15 with a range proof (none seen for N <= 1024). Windows of 2..1024 samples.

Cost (templates/c/features/window_biquad.c.j2, ATmega328P, tests/feature_harness.py): on AVR the section step is
inline assembly (four MUL/MULS/MULSU per fraction, shifts unrolled with byte moves, the 12-byte history in RAM),
about 145 cycles; one bp item over N = 64 takes 26,700 cycles a channel (384 a sample, 192 a section a sample with
the sum of squares and the loop; ~2,000 fixed, most of it the square root), 66 B of stack, ~960 B of flash. The
portable C, which every other target runs (and AVR with avr_assembly off), takes 43,800 there: libgcc's 16 x 16
-> 32 calls and one-bit-a-step shifts.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import ClassVar

import numpy as np

from ... import featurespec
from ...errors import TinygenError
from ...fixedpoint import isqrt_u64
from ...qparams import round_half_away
from .base import FeatureOp

STATE_BITS = 16  # Y holds h with 16 more bits
STATE_LIMIT = (1 << 31) - (1 << 16)  # |Y| bound: Y + 2^15 stays in int32, so h is in int16
SAMPLE_MAX = 1 << 15  # |x| <= 2^15 for int16 samples
FRAC_MAX = (1 << 15) - 1  # |a_frac|: two products sum below 2^31
MAX_FRAC_SHIFT = 15
IN_SHIFTS = range(15, -16, -1)  # the input shifts tried, largest first
MAX_RESPONSE_ERROR = 0.01  # ||h_q - h_ref||_1: the coefficients may move a filtered sample by 1% of full scale
NORM_SLACK = 1e-9  # relative margin on the float64 norms (their rounding is ~1e-13)
MIN_WINDOW, MAX_WINDOW = 2, 1024


@dataclass(frozen=True)
class Section:
    """One second-order section in integers (module doc): numerator [1, middle, 1], denominator 1 + a[0] z^-1 +
    a[1] z^-2 with a[i] = a_int[i] + a_frac[i] 2^-(16 + frac_shift), input scaled by 2^in_shift."""

    middle: int  # +2 or -2
    a_int: tuple[int, int]  # -2..2 and -1..1 (a stable a2 is in (-1, 1))
    a_frac: tuple[int, int]  # int16, |value| <= 2^15 - 1
    frac_shift: int  # 0..15
    in_shift: int  # -15..15

    @property
    def a(self) -> tuple[float, float]:
        """The quantized denominator, exact in float64 (at most 2 + 31 fraction bits)."""
        step = 2.0 ** -(STATE_BITS + self.frac_shift)
        return (self.a_int[0] + self.a_frac[0] * step, self.a_int[1] + self.a_frac[1] * step)

    @property
    def b(self) -> tuple[float, float, float]:
        return (1.0, float(self.middle), 1.0)

    def valid(self) -> bool:
        return (self.middle in (2, -2) and -2 <= self.a_int[0] <= 2 and -1 <= self.a_int[1] <= 1
                and all(abs(v) <= FRAC_MAX for v in self.a_frac)
                and 0 <= self.frac_shift <= MAX_FRAC_SHIFT and self.in_shift in IN_SHIFTS)

    def stable(self) -> bool:
        """Both poles strictly inside the unit circle (|a2| < 1 and |a1| < 1 + a2), exactly."""
        a1, a2 = self.a
        return abs(a2) < 1 and abs(a1) < 1 + a2

    def to_dict(self) -> dict:
        return {"middle": self.middle, "a_int": list(self.a_int), "a_frac": list(self.a_frac),
                "frac_shift": self.frac_shift, "in_shift": self.in_shift}

    @classmethod
    def from_dict(cls, data: dict) -> "Section":
        return cls(int(data["middle"]), tuple(int(v) for v in data["a_int"]), tuple(int(v) for v in data["a_frac"]),
                   int(data["frac_shift"]), int(data["in_shift"]))


@dataclass
class Plan:
    """One filter item: scipy's sections (rows b0 b1 b2 1 a1 a2, the float reference) and their integer form."""

    reference: list[list[float]]
    sections: list[Section]

    @property
    def gains(self) -> list[float]:
        return [row[0] for row in self.reference]


@dataclass(frozen=True)
class Analysis:
    """What the proofs of one item compute from its integers (module doc): per section the bound on |Y| and on its
    rounding error E (Y units), and ||h_q - h_ref||_1 over the window."""

    state_bounds: list[float]
    state_errors: list[float]
    response_error: float


# ---- impulse responses (float64, no scipy: check() runs on a loaded manifest) --------------------------------------
def run_section(b, a, x: np.ndarray) -> np.ndarray:
    """b / (1 + a[0] z^-1 + a[1] z^-2) on x ([n] or [n, m], along axis 0; a may hold one value per column), from
    rest."""
    x = np.asarray(x, dtype=np.float64)
    y = np.zeros_like(x)
    x1 = x2 = y1 = y2 = np.zeros(x.shape[1:])
    a = [np.asarray(v, dtype=np.float64) for v in a]  # scalars, or one per column
    for n in range(len(x)):
        y[n] = b[0] * x[n] + b[1] * x1 + b[2] * x2 - a[0] * y1 - a[1] * y2
        x1, x2, y1, y2 = x[n], x1, y[n], y1
    return y


def l1(response: np.ndarray) -> float:
    return float(np.abs(response).sum()) * (1 + NORM_SLACK)


def impulse(window: int) -> np.ndarray:
    return np.eye(1, window, dtype=np.float64)[0]


def cascade_response(rows, window: int) -> np.ndarray:
    """The impulse response over `window` samples of sections given as (b, a) pairs."""
    h = impulse(window)
    for b, a in rows:
        h = run_section(b, a, h)
    return h


def section_norms(section: Section, upstream: np.ndarray) -> tuple[np.ndarray, float, float, float]:
    """(B/A_q applied to `upstream` (the response of T_{k-1} / 2^16), max(sum g+, sum g-) of G, ||1/A_q||_1,
    ||B/A_q||_1), for in_shift 0: they scale by 2^in_shift exactly (module doc)."""
    a = section.a
    unit = impulse(len(upstream))
    noise = run_section((0.0, a[0] - section.a_int[0], a[1] - section.a_int[1]), a, unit)
    one_sided = max(noise[noise > 0].sum(), -noise[noise < 0].sum()) * (1 + NORM_SLACK)  # rho >= 0
    shaped = run_section(section.b, a, np.stack([upstream, unit], axis=1))
    return shaped[:, 0], float(one_sided), l1(run_section((1.0, 0.0, 0.0), a, unit)), l1(shaped[:, 1])


def section_bounds(in_shift: int, norms, upstream_error: float | None) -> tuple[float, float]:
    """(the bound on |Y|, the bound E on its rounding error) for one input shift (module doc)."""
    shaped, noise_norm, inverse_norm, pattern_norm = norms
    error = noise_norm * (1 << STATE_BITS) + inverse_norm
    if upstream_error is not None:
        error += 2.0 ** in_shift * pattern_norm * (upstream_error / 2 ** STATE_BITS + 0.5)
    return 2.0 ** in_shift * l1(shaped) * SAMPLE_MAX + error, error


def analyse(plan: Plan, window: int) -> Analysis:
    """The proofs' numbers for the stored integers (no design choice: check() and the op's bounds use this)."""
    upstream, error = impulse(window) * 2.0 ** STATE_BITS, None
    bounds, errors = [], []
    for section in plan.sections:
        norms = section_norms(section, upstream / 2 ** STATE_BITS)
        bound, error = section_bounds(section.in_shift, norms, error)
        bounds.append(bound)
        errors.append(error)
        upstream = norms[0] * 2.0 ** section.in_shift
    quantized = cascade_response([(tuple(g * v for v in s.b), s.a) for g, s in zip(plan.gains, plan.sections)], window)
    reference = cascade_response([(row[:3], row[4:6]) for row in plan.reference], window)
    return Analysis(bounds, errors, l1(quantized - reference))


# ---- design -------------------------------------------------------------------------------------------------------
def quantize_poles(row, window: int, item: str) -> tuple[tuple[int, int], tuple[int, int], int]:
    """(a_int, a_frac, frac_shift) of one of scipy's rows: the finest step 2^-(16 + frac_shift) that keeps both
    fractions in int16, and of the fractions rounded either way (or to nearest), the pair whose section response
    is nearest scipy's over the window (the DC gain of a pole pair near z = 1 hangs on a1 + a2)."""
    a1, a2 = row[4], row[5]
    a_int = (int(round_half_away(a1)), int(round_half_away(a2)))
    fractions = (a1 - a_int[0], a2 - a_int[1])  # exact in float64, |.| <= 1/2
    for shift in range(MAX_FRAC_SHIFT, -1, -1):
        scaled = [f * 2.0 ** (STATE_BITS + shift) for f in fractions]
        if max(abs(v) for v in scaled) <= FRAC_MAX - 1:
            break
    else:
        raise TinygenError(f"{item}: a pole coefficient sits half-way between integers ({a1:.17g}, {a2:.17g}); move "
                           "the cutoff slightly")
    pairs = [(int(round_half_away(scaled[0])), int(round_half_away(scaled[1])))]
    pairs += [(f0, f1) for f0 in (math.floor(scaled[0]), math.ceil(scaled[0]))
              for f1 in (math.floor(scaled[1]), math.ceil(scaled[1]))]
    step = 2.0 ** -(STATE_BITS + shift)
    a = np.array([(a_int[0] + f0 * step, a_int[1] + f1 * step) for f0, f1 in pairs]).T
    unit = np.repeat(impulse(window)[:, None], len(pairs), axis=1)
    errors = np.abs(run_section(row[:3], a, unit) - run_section(row[:3], (a1, a2), unit)).sum(axis=0)
    return a_int, pairs[int(np.argmin(errors))], shift


def section_pattern(row, item: str) -> int:
    """c of scipy's numerator g [1, c, 1] (Butterworth sections always have one)."""
    b0, b1, b2 = row[:3]
    middle = int(round_half_away(b1 / b0)) if b0 else 0
    if middle not in (2, -2) or abs(b1 / b0 - middle) > 1e-9 or abs(b2 / b0 - 1) > 1e-9 or row[3] != 1:
        raise TinygenError(f"{item}: scipy gave the section {list(row)}, not g [1, +-2, 1] / [1, a1, a2]")
    return middle


def design(spec, sample_rate: float, window: int) -> Plan:
    """The integer sections of one filter item (module doc), or a TinygenError saying why it cannot be realised."""
    reference = [[float(v) for v in row] for row in featurespec.filter_sos(spec, sample_rate)]
    sections = []
    upstream, error = impulse(window), None
    for row in reference:
        middle = section_pattern(row, spec.text)
        trial = Section(middle, *quantize_poles(row, window, spec.text), in_shift=0)
        if not trial.stable():
            advice = "raise the cutoff or lower the sample rate" if row[4] < 0 else "lower the cutoff"  # near z = 1 or -1
            raise TinygenError(f"{spec.text} at {sample_rate:g} Hz: the quantized poles leave the unit circle; {advice}")
        norms = section_norms(trial, upstream)
        fits = [e for e in IN_SHIFTS if section_bounds(e, norms, error)[0] <= STATE_LIMIT]
        if not fits:
            raise TinygenError(f"{spec.text} at {sample_rate:g} Hz: the filter's gain is too large for a 32-bit state "
                               f"over {window} samples; raise the cutoff or lower the sample rate")
        error = section_bounds(fits[0], norms, error)[1]
        sections.append(Section(middle, trial.a_int, trial.a_frac, trial.frac_shift, fits[0]))
        upstream = norms[0] * 2.0 ** (fits[0] - STATE_BITS)
    plan = Plan(reference, sections)
    response_error = analyse(plan, window).response_error
    if response_error > MAX_RESPONSE_ERROR:
        raise TinygenError(f"{spec.text} at {sample_rate:g} Hz: the 16-bit pole coefficients move the response by "
                           f"{response_error:.2%} of full scale (limit {MAX_RESPONSE_ERROR:.0%}); raise the cutoff or "
                           "lower the sample rate")
    return plan


# ---- the op -------------------------------------------------------------------------------------------------------
@dataclass
class BiquadRms(FeatureOp):
    """The RMS of the window filtered by each lp/hp/bp item (module doc). plans: one per item, designed from the
    specs and sample_rate when not given (that needs scipy; a loaded manifest brings them)."""

    op: ClassVar[str] = "window_biquad"
    state_bits: ClassVar[int] = STATE_BITS  # for the template
    sample_rate: float = 0.0
    plans: list[Plan] | None = None
    avr_assembly: bool = True  # the AVR path of the template (the same integers; off: the portable C there too)
    analyses: list[Analysis] = field(default_factory=list, init=False, repr=False, compare=False)

    def __post_init__(self):
        if any(spec.kind not in featurespec.FILTERS for spec in self.specs):
            raise TinygenError(f"window_biquad computes lp, hp and bp items, not {[s.text for s in self.specs]}")
        if not MIN_WINDOW <= self.window <= MAX_WINDOW:
            raise TinygenError(f"filter features need a window of {MIN_WINDOW} to {MAX_WINDOW} samples, not {self.window}")
        if self.plans is None:
            self.plans = [design(spec, self.sample_rate, self.window) for spec in self.specs]
        self.check()

    def check(self) -> None:
        """Re-prove from the stored integers what the module doc claims; a damaged manifest fails here."""
        ok = len(self.plans) == len(self.specs) and all(
            len(plan.sections) == len(plan.reference) == (2 if spec.kind == "bp" else 1)
            and all(s.valid() and s.stable() for s in plan.sections) for spec, plan in zip(self.specs, self.plans))
        self.analyses = [analyse(plan, self.window) for plan in self.plans] if ok else []
        if not ok or any(max(a.state_bounds) > STATE_LIMIT or a.response_error > MAX_RESPONSE_ERROR for a in self.analyses):
            raise TinygenError("the manifest's filter coefficients are out of range; re-export the model")

    # ---- the simulator ------------------------------------------------------------------------------------------
    def forward(self, samples: np.ndarray, channel: int) -> np.ndarray:
        """[rows, N] int64 holding int16 values -> [rows, n_out] int64: q = round(sqrt(sum h^2)) per item."""
        x = np.asarray(samples, dtype=np.int64)
        if x.ndim != 2 or x.shape[1] != self.window or (x.size and (x.min() < -(1 << 15) or x.max() >= 1 << 15)):
            raise ValueError(f"window_biquad takes [rows, {self.window}] int16 samples")
        columns = [isqrt_u64(self.filtered(x, plan).astype(np.int64) ** 2 @ np.ones(self.window, dtype=np.int64),
                             self.radicand_bytes)
                   for plan in self.plans]
        return np.stack(columns, axis=1) if columns else np.zeros((len(x), 0), dtype=np.int64)

    def filtered(self, x: np.ndarray, plan: Plan) -> np.ndarray:
        """[rows, N]: the last section's h (steps 1-4 of the module doc), sample after sample."""
        zeros = np.zeros(len(x), dtype=np.int64)
        states = [[zeros] * 4 for _ in plan.sections]  # per section: u[n-1], u[n-2], Y[n-1], Y[n-2]
        out = np.empty_like(x)
        for n in range(x.shape[1]):
            u = x[:, n]
            for section, state in zip(plan.sections, states):
                u = section_step(section, state, u)
            out[:, n] = u
        return out

    # ---- scales and bounds --------------------------------------------------------------------------------------
    def h_scale(self, index: int, channel: int) -> float:
        """s_h: the real value of one unit of the item's last h (module doc)."""
        plan = self.plans[index]
        gain = math.prod(g * 2.0 ** -s.in_shift for g, s in zip(plan.gains, plan.sections))
        return self.sample_scales[channel] * 2.0 ** (STATE_BITS * len(plan.sections)) * gain

    def out_affine(self, channel: int) -> tuple[np.ndarray, np.ndarray]:
        scale = [self.h_scale(i, channel) / math.sqrt(self.window) for i in range(len(self.plans))]
        return np.array(scale, dtype=np.float64), np.zeros(len(self.plans))

    def h_bound(self, index: int) -> int:
        """A bound on |h| of the item's last section: |Y| <= its bound, h = (Y + 2^15) >> 16."""
        return min(1 << 15, math.ceil(self.analyses[index].state_bounds[-1] / 2 ** STATE_BITS + 0.5))

    def out_bounds(self) -> list[tuple[int, int]]:
        """q <= round(sqrt(N h_bound^2)) (the rounding is monotone)."""
        return [(0, int(isqrt_u64(self.window * self.h_bound(i) ** 2, self.radicand_bytes))) for i in range(len(self.plans))]

    def error_bounds(self, channel: int) -> np.ndarray:
        """Per item, the proven bound of the module doc in the feature's real units."""
        bounds = []
        for index, analysis in enumerate(self.analyses):
            rounding = analysis.state_errors[-1] / 2 ** STATE_BITS + 0.5 + 0.5 / math.sqrt(self.window)
            coefficients = self.sample_scales[channel] * SAMPLE_MAX * analysis.response_error
            bounds.append((self.h_scale(index, channel) * rounding + coefficients) * (1 + NORM_SLACK))
        return np.array(bounds, dtype=np.float64)

    @property
    def radicand_bytes(self) -> int:
        """The bytes of step 5's sum, S < N 2^30, that isqrt_u64 reads (the fewer, the fewer digit steps)."""
        return (30 + (self.window - 1).bit_length() + 7) // 8

    def c_helpers(self) -> tuple[str, ...]:
        return ("isqrt_u64",)

    # ---- manifest -----------------------------------------------------------------------------------------------
    def to_dict(self) -> dict:
        return {"op": self.op, "window": int(self.window), "features": [spec.text for spec in self.specs],
                "sample_scales": [float(v) for v in self.sample_scales], "sample_rate": float(self.sample_rate),
                "filters": [{"reference_sos": plan.reference, "sections": [s.to_dict() for s in plan.sections]}
                            for plan in self.plans],
                "error_bounds": [self.error_bounds(c).tolist() for c in range(self.n_channels)],
                "compute": "q = round(sqrt(sum h^2)): h the int16 output of second-order sections with numerator "
                           "[1, +-2, 1] and denominator a_int + a_frac 2^-(16 + frac_shift), a 32-bit state with 16 bits "
                           "below h; tinygen/ops/features/biquad.py"}

    @classmethod
    def build(cls, window: int, specs: list, sample_scales: list[float], sample_rate: float | None) -> "BiquadRms":
        """The op for these filter items (ops/features/registry.py): designed from the specs and the sample rate."""
        if sample_rate is None:
            raise TinygenError("filter features give their cutoffs in Hz: the model needs its sample rate")
        return cls(window=window, specs=list(specs), sample_scales=list(sample_scales), sample_rate=float(sample_rate))

    @classmethod
    def from_dict(cls, data: dict) -> "BiquadRms":
        window, rate = int(data["window"]), float(data["sample_rate"])
        plans = [Plan([[float(v) for v in row] for row in item["reference_sos"]],
                      [Section.from_dict(s) for s in item["sections"]]) for item in data["filters"]]
        return cls(window=window, specs=featurespec.parse(list(data["features"]), window, rate),
                   sample_scales=[float(v) for v in data["sample_scales"]], sample_rate=rate, plans=plans)


def section_step(section: Section, state: list, u: np.ndarray) -> np.ndarray:
    """Steps 1-4 of the module doc for one sample of every row; updates `state` in place and returns h[n]."""
    u1, u2, y1, y2 = state
    w = u + section.middle * u1 + u2
    wide = w << section.in_shift if section.in_shift >= 0 else w >> -section.in_shift
    products = (section.a_frac[0] * (y1 >> STATE_BITS) + section.a_frac[1] * (y2 >> STATE_BITS)) >> section.frac_shift
    y = wide - section.a_int[0] * y1 - section.a_int[1] * y2 - products
    if np.any(y < -(1 << 31)) or np.any(y > STATE_LIMIT):
        raise AssertionError("window_biquad: a state left its proven range (the range analysis is wrong)")
    h = (y + (1 << 15)) >> STATE_BITS
    state[:] = [u, u1, y, y1]
    return h
