"""window_statistics: mean, var, std, rms, min, max, ptp, crossings and mad of one channel's window, in integers.

Input: one channel's N int16 samples x[0..N-1], 2 <= N <= 1024; the real sample is x[i] c (c = sample_scales[ch]).
Output: int32 q per selected item, in the order of the feature list; its real value is q * scale + bias (bias 0).

Accumulators, one pass (only those the selected items need; the C and forward compute the same integers):
  S = sum x[i]                         int32:  |S| <= N 2^15 <= 2^25
  Q = sum x[i]^2                       40 bits: Q <= N 2^30 <= 2^40 (C: uint32 low word + uint16 carry count <= 256)
  lo = min x[i], hi = max x[i]         int16
  D = sum_{i>=1} |x[i] - x[i-1]|       uint32: D <= (N - 1) 65535 < 2^26 (each |step| <= 65535 fits uint16)
  A = |S|                              uint32
Every rounding to nearest is half away from zero (mean; the other quotients are of non-negative values, where that
is half up); "floor" is said where it is one. The quotients below are of non-negative integers by a constant: the C
divides a uint32 or uint64 (a shift where the divisor is a power of two, which Python decides; floor((v 2^s + a) /
d) is printed reduced by the common powers of two of 2^s and d, the same value).

Items, exact rationals in sample units first, then the integer q and its real value:
  mean = S / N         q = sign(S) floor((A 2^km + floor(N/2)) / N) = round(S 2^km / N); real q c 2^-km.
                       km = the largest k <= 16 with N 2^15 2^k + floor(N/2) < 2^32 (the numerator fits uint32):
                       15 at N = 2, 12 at 16, 10 at 64 and 100, 8 at 256, 6 at 1024.  |q| <= 2^(15 + km) <= 2^30.
  var  = V / N^2, V = N Q - A^2 (an exact integer, V = sum_{i<j} (x[i] - x[j])^2 >= 0, and var <= 65535^2 / 4 <
                       2^30, Popoviciu, so V < N^2 2^30 <= 2^50): W = floor(V 2^(2 ks) / N^2) (uint64: V 2^(2 ks) <
                       N^2 2^(30 + 2 ks) <= 2^64 by the choice of ks), W < 2^(30 + 2 ks) <= 2^46;
                       q = floor((W + 2^(2 ks - 2)) / 2^(2 ks - 1)) = round(2 var) (floor(floor(z) / m) = floor(z / m)
                       for whole m); real q c^2 / 2.  q in [0, round(65535^2 / 2)] = [0, 2147418113].
  std  = sqrt(var)     q = round(sqrt(W)) (fixedpoint.isqrt_u64; no tie: W is whole); real q c 2^-ks.
                       ks = 8 for N <= 512, 7 above (the W bound above).  q in [0, 32767.5 2^ks].
  rms  = sqrt(Q / N)   P = floor(Q 2^(2 kr) / N) <= 2^(30 + 2 kr) = 2^46 (uint64), q = round(sqrt(P)); real q c 2^-kr;
                       kr = 8.  q in [0, 2^(15 + kr)].
  min, max             q = lo, hi exactly; real q c.  ptp  q = hi - lo in [0, 65535] exactly; real q c.
  crossings            q = #{i in 1..N-1: (N x[i-1] >= S) != (N x[i] >= S)} in [0, N - 1]: the integer form of
                       x >= mean. x is whole, so N x >= S <=> x >= S / N <=> x >= T = ceil(S / N), T =
                       floor((A + N - 1) / N) for S >= 0 and -floor(A / N) otherwise, an int16 (S / N is in
                       [-32768, 32767]); the second pass compares int16 samples with T. real q.
  mad  = D / (N - 1)   q = floor((D 2^kd + floor((N-1)/2)) / (N - 1)) = round(mad 2^kd); real q c 2^-kd.
                       kd = the largest k <= 15 with (N - 1) 65535 2^k + floor((N-1)/2) < 2^32: 15 at N = 2, 10 at
                       64, 9 at 100, 8 at 256, 6 at 1024.  q in [0, 65535 2^kd].

Error bounds (error_bounds; the tests check them on random and edge windows and print max observed / bound) against
featurespec.reference on the float64 samples x[i] c: the integer program's own error (integer_errors, in sample
units; var in their square) plus the float64 rounding of the reference itself, at most (2 N + 16) 2^-53 of the item's
full scale (2^15; 2^16 for ptp and mad; 2^30 for var): sums of N terms err by (N - 1) u of their absolute sum, plus a
rounding per product, difference and division; np.std's centring error (N + 1) u 2^15 enters std linearly; a square
root halves a relative error.
  mean, mad   floor(d/2)/d of a step (2^-km, 2^-kd), d the divisor of the reduced quotient: the exact quotient is a
              multiple of 1/d, so rounding it to whole errs by at most that; 0 when d = 1 (N = 2^p, p <= km), about
              1/2 otherwise
  var         the same with d = the denominator of 2 V / N^2 in lowest terms (N^2, or N^2 / 2 for even N), of 1/2
  std, rms    (1/2 + 1/(2 sqrt(R_min))) of a step (2^-ks, 2^-kr), R_min the least non-zero radicand: with R = floor(y)
              the rounded root r errs by r - sqrt(y) in [-1/2 - (sqrt(y) - sqrt(R)), 1/2] and sqrt(y) - sqrt(R) <
              1 / (2 sqrt(R)); a zero radicand is exact (var = 0, or every sample 0). Two samples that differ make
              V >= N - 1 (N - 1 pairs at least differ by 1 at least), so R_min = floor(2^(2 ks) (N - 1) / N^2) for std
              and floor(2^(2 kr) / N) (Q >= 1) for rms: the bound is 0.50 to 0.63 of a step
  min, max    0; ptp 0 (exact; min and max are the reference's own float64 products)
  crossings   N - 1 over every window, and 0 unless a sample equals the mean exactly (N x[i] = S): a sample off the
              mean is at least 1/N from it, while the float64 comparison x[i] c >= mean(x c) errs by at most
              (N + 3) 2^-53 2^15 c < 2^-27 c (c normal, nothing overflowing); the samples on the mean all count as
              above here and all fall on one side in float64, so each moves at most its two neighbouring crossings:
              |error| <= 2 #{i: N x[i] = S}, at most N - 1 (crossing_bound gives it per window; a window of
              a, m, a, m, ..., b around its mean m nearly reaches N - 1 when float64 rounds m down).
Cost on the ATmega328P (avr-gcc 5.4 -Os, tests/test_feature_statistics.py prints it): N = 64, all nine items about
8,100 cycles per channel and 31 B of stack; mean, std, min, max, rms, crossings about 6,800 and 18 B. The first pass
(about 65 cycles a sample), isqrt_u64's digits and the crossing pass are AVR assembly there; on ARMv7E-M cores
(NAME_SIMD32: Cortex-M4/M7/M33 with DSP) the first pass and the crossing pass take two samples a word (SMLAD, SMLALD,
SSUB16 + SEL, QSUB16) and isqrt_u64 takes its top 16 digits from Newton's method with UDIV; the portable C serves
every other target (the tests hold each to forward, the SIMD32 ones on the Cortex-M4 under QEMU); windows that are
not powers of two add the 64-bit divisions of W and P (N = 100: about 12,500 cycles for all nine).
NaN and infinite samples never reach this op: the window program converts them to int16 first (to_fixed: NaN -> 0,
+-inf saturate), and the op is exact on the int16 window it gets.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from ... import featurespec
from ...errors import TinygenError
from ...fixedpoint import div_reciprocal_u32, isqrt_u64
from .base import FeatureOp, INT16

MIN_WINDOW, MAX_WINDOW = 2, 1024
RMS_FRAC_BITS = 8
ROOT_FRAC_BITS = 8  # std's, where the window allows it (root_frac_bits)
VAR_FRAC_BITS = 1
UNIT_ROUNDOFF = 2.0 ** -53
U32_MAX = (1 << 32) - 1
# what each item reads: the accumulators of the first pass, "spread" (W) and "mean_square" (P)
NEEDS = {"mean": ("sum",), "var": ("sum", "squares", "spread"), "std": ("sum", "squares", "spread"),
         "rms": ("squares", "mean_square"), "min": ("min",), "max": ("max",), "ptp": ("min", "max"),
         "crossings": ("sum",), "mad": ("steps",)}
# the item's full scale in sample units (its power of c: var is in c^2), for the float64 slack of the reference
FULL_SCALE = {"mean": 2.0 ** 15, "var": 2.0 ** 30, "std": 2.0 ** 15, "rms": 2.0 ** 15, "min": 0.0, "max": 0.0,
              "ptp": 2.0 ** 16, "crossings": 0.0, "mad": 2.0 ** 16}


@dataclass(frozen=True)
class Quotient:
    """floor((v 2^shift + add) / divisor) of a non-negative integer v, as the template divides: a shift when
    divisor == 1; with a multiplier (uint32 numerators n, divisor not a power of two; reciprocal), by
    fixedpoint.div_reciprocal_u32, the same value at about a fourth of a uint32 division's AVR cycles."""

    shift: int
    divisor: int
    add: int
    multiplier: int = 0
    post_shift: int = 0
    add_back: bool = False

    def of(self, v) -> np.ndarray:
        """The quotient of int64 values, without forming v 2^shift (which can pass 2^63): v = divisor w + p gives
        w 2^shift + floor((p 2^shift + add) / divisor), exactly."""
        whole, part = np.divmod(np.asarray(v, dtype=np.int64), self.divisor)
        return (whole << self.shift) + ((part << self.shift) + self.add) // self.divisor

    def by_multiplier(self, numerator) -> np.ndarray:
        """What the C computes from a uint32 numerator with the multiplier (tests hold it to the exact quotient)."""
        return div_reciprocal_u32(numerator, self.multiplier, self.post_shift, self.add_back)


def quotient(shift: int, divisor: int, rounded: bool = False, add: int | None = None,
             largest: int | None = None) -> Quotient:
    """round (half up) or floor of v 2^shift / divisor, the common powers of two of 2^shift and divisor taken out
    (the same value: the rational is unchanged, and adding floor(d / 2) rounds any multiple of 1 / d as adding 1 / 2
    does); or, with `add`, floor((v 2^shift + add) / divisor) as it stands. largest: the largest v of a uint32
    numerator, which then takes a multiplier where the divisor is not a power of two."""
    if add is None:
        common = min(shift, (divisor & -divisor).bit_length() - 1)
        shift, divisor = shift - common, divisor >> common
        add = divisor // 2 if rounded else 0
    if largest is None or divisor & (divisor - 1) == 0:
        return Quotient(shift, divisor, add)
    return Quotient(shift, divisor, add, *reciprocal(divisor, (largest << shift) + add))


def reciprocal(divisor: int, largest: int) -> tuple[int, int, bool]:
    """(multiplier, post_shift, add_back) dividing every uint32 n <= largest by a divisor that is not a power of two
    (Granlund and Montgomery). With s = floor(log2 d) (2^s < d < 2^(s+1)), P = 32 + s, m = ceil(2^P / d) and
    e = m d - 2^P in [0, d): n m / 2^P = n / d + n e / (d 2^P), and where n e < 2^P the second term is below 1 / d,
    which cannot carry n / d (a multiple of 1 / d) to the next whole number, so floor(n m / 2^P) = floor(n / d);
    m < 2^32 here, and floor(n m / 2^P) = mul_hi_u32(n, m) >> s. Where largest * e reaches 2^P (d = 2^k - 1, say),
    P = 33 + s instead: m = ceil(2^P / d) is in [2^32, 2^33) and e < d, so n e < d 2^32 < 2^P for every n < 2^32;
    with m = 2^32 + m' and t = mul_hi_u32(n, m') <= n, floor(n m / 2^P) = floor((n + t) / 2^(s+1)) (the dropped
    fraction cannot reach a whole number) = (t + ((n - t) >> 1)) >> s, which never leaves uint32."""
    if largest >= 1 << 32:
        raise ValueError("reciprocal takes uint32 numerators")
    s = divisor.bit_length() - 1
    power = 1 << (32 + s)
    m = -(-power // divisor)
    if largest * (m * divisor - power) < power:
        return m, s, False
    return -(-(power << 1) // divisor) - (1 << 32), s, True


def mean_frac_bits(window: int) -> int:
    return max(k for k in range(17) if window * (1 << (15 + k)) + window // 2 <= U32_MAX)


def mad_frac_bits(window: int) -> int:
    return max(k for k in range(16) if (window - 1) * 65535 * (1 << k) + (window - 1) // 2 <= U32_MAX)


def root_frac_bits(window: int) -> int:
    """std's fraction bits: V 2^(2 ks) < window^2 2^(30 + 2 ks) must stay within uint64."""
    return max(k for k in range(ROOT_FRAC_BITS + 1) if window * window * (1 << (30 + 2 * k)) <= 1 << 64)


def radicand_bytes(frac_bits: int) -> int:
    """Bytes of a radicand below 2^(31 + 2 frac_bits) (W, P)."""
    return (31 + 2 * frac_bits + 7) // 8


@dataclass
class WindowStatistics(FeatureOp):
    """The statistics items of a feature list over one channel's window (see the module doc)."""

    op: ClassVar[str] = "window_statistics"

    def __post_init__(self):
        self.specs = list(self.specs)
        self.sample_scales = [float(c) for c in self.sample_scales]
        if not MIN_WINDOW <= self.window <= MAX_WINDOW:
            raise TinygenError(f"window statistics take windows of {MIN_WINDOW} to {MAX_WINDOW} samples, "
                               f"not {self.window}")
        if not self.specs or any(spec.kind not in featurespec.STATISTICS for spec in self.specs):
            raise TinygenError(f"window_statistics computes {', '.join(featurespec.STATISTICS)}, "
                               f"not {[spec.text for spec in self.specs]}")
        if not all(np.isfinite(c) and c > 0 for c in self.sample_scales):
            raise TinygenError("sample scales must be positive finite numbers")

    @classmethod
    def build(cls, window: int, specs: list, sample_scales: list[float], sample_rate: float | None = None):
        """The op for these statistics items of a feature list (registry.build_ops; the sample rate is not used)."""
        return cls(window=window, specs=list(specs), sample_scales=list(sample_scales))

    # ---- the integer program's constants (functions of N) -------------------------------------------------
    @property
    def items(self) -> list[str]:
        return [spec.kind for spec in self.specs]

    def needs(self, what: str) -> bool:
        """Whether a selected item needs an accumulator or a derived value (NEEDS)."""
        return any(what in NEEDS[item] for item in self.items)

    @property
    def frac_bits(self) -> dict[str, int]:
        """Fraction bits of each item's q (crossings, min, max, ptp: 0)."""
        n = self.window
        return {"mean": mean_frac_bits(n), "var": VAR_FRAC_BITS, "std": root_frac_bits(n), "rms": RMS_FRAC_BITS,
                "min": 0, "max": 0, "ptp": 0, "crossings": 0, "mad": mad_frac_bits(n)}

    @property
    def quotients(self) -> dict[str, Quotient]:
        """The divisions of the program: mean (of A), spread (W, of V), mean_square (P, of Q), mad (of D) and the
        crossing threshold's ceil(A / N) and floor(A / N)."""
        n, bits = self.window, self.frac_bits
        largest_sum, largest_steps = n << 15, (n - 1) * 65535
        return {"mean": quotient(bits["mean"], n, rounded=True, largest=largest_sum),
                "spread": quotient(2 * bits["std"], n * n), "mean_square": quotient(2 * RMS_FRAC_BITS, n),
                "mad": quotient(bits["mad"], n - 1, rounded=True, largest=largest_steps),
                "ceil": quotient(0, n, add=n - 1, largest=largest_sum),
                "floor": quotient(0, n, add=0, largest=largest_sum)}

    @property
    def var_rounding(self) -> tuple[int, int]:
        """(add, shift): var's q = (W + add) >> shift = round(2 var)."""
        shift = 2 * self.frac_bits["std"] - VAR_FRAC_BITS
        return 1 << (shift - 1), shift

    @property
    def radicand_bytes(self) -> dict[str, int]:
        return {"std": radicand_bytes(self.frac_bits["std"]), "rms": radicand_bytes(RMS_FRAC_BITS)}

    # ---- the simulator -------------------------------------------------------------------------------------
    def accumulate(self, samples: np.ndarray) -> dict[str, np.ndarray]:
        """The first pass and what follows from it: S, Q, lo, hi, D, A, W, P (each [rows] int64)."""
        x = np.asarray(samples, dtype=np.int64)
        if x.ndim != 2 or x.shape[1] != self.window or x.min(initial=0) < INT16[0] or x.max(initial=0) > INT16[1]:
            raise ValueError(f"window_statistics takes [rows, {self.window}] int16 samples")
        total = x.sum(axis=1)
        squares = (x * x).sum(axis=1)
        magnitude = np.abs(total)
        spread = self.quotients["spread"].of(self.window * squares - magnitude * magnitude)
        return {"sum": total, "squares": squares, "min": x.min(axis=1), "max": x.max(axis=1),
                "steps": np.abs(np.diff(x, axis=1)).sum(axis=1), "magnitude": magnitude, "spread": spread,
                "mean_square": self.quotients["mean_square"].of(squares), "samples": x}

    def forward(self, samples: np.ndarray, channel: int = 0) -> np.ndarray:
        """[rows, N] int16 values -> [rows, n_out] int64: each item's q as the C computes it (channel: no effect)."""
        acc = self.accumulate(samples)
        return np.stack([self._item(item, acc) for item in self.items], axis=1).astype(np.int64)

    def _item(self, item: str, acc: dict) -> np.ndarray:
        q = self.quotients
        if item == "mean":
            return np.sign(acc["sum"]) * q["mean"].of(acc["magnitude"])
        if item == "var":
            add, shift = self.var_rounding
            return (acc["spread"] + add) >> shift
        if item in ("std", "rms"):
            radicand = acc["spread" if item == "std" else "mean_square"]
            return isqrt_u64(radicand, self.radicand_bytes[item])
        if item in ("min", "max"):
            return acc[item]
        if item == "ptp":
            return acc["max"] - acc["min"]
        if item == "crossings":
            above = acc["samples"] >= self.threshold(acc)[:, None]
            return (above[:, 1:] != above[:, :-1]).sum(axis=1)
        return q["mad"].of(acc["steps"])

    def threshold(self, acc: dict) -> np.ndarray:
        """T = ceil(S / N), an int16: x >= T exactly when N x >= S."""
        q = self.quotients
        return np.where(acc["sum"] >= 0, q["ceil"].of(acc["magnitude"]), -q["floor"].of(acc["magnitude"]))

    # ---- scales, bounds ------------------------------------------------------------------------------------
    def item_scale(self, item: str, channel: int) -> float:
        """The real value of one unit of the item's q."""
        c = self.sample_scales[channel]
        if item == "crossings":
            return 1.0
        return (c * c if item == "var" else c) * 2.0 ** -self.frac_bits[item]

    def out_affine(self, channel: int) -> tuple[np.ndarray, np.ndarray]:
        scale = np.array([self.item_scale(item, channel) for item in self.items])
        return scale, np.zeros(len(self.items))

    def out_bounds(self) -> list[tuple[int, int]]:
        bits = self.frac_bits
        ranges = {"mean": (-(1 << (15 + bits["mean"])), 32767 << bits["mean"]), "var": (0, (65535 ** 2 + 1) // 2),
                  "std": (0, (65535 << bits["std"]) >> 1), "rms": (0, 1 << (15 + RMS_FRAC_BITS)), "min": INT16,
                  "max": INT16, "ptp": (0, 65535), "crossings": (0, self.window - 1),
                  "mad": (0, 65535 << bits["mad"])}
        return [ranges[item] for item in self.items]

    def error_bounds(self, channel: int) -> np.ndarray:
        """Proven max |real(q) - reference| per item over every int16 window (module doc), in real units."""
        own = self.integer_errors()
        c = self.sample_scales[channel]
        slack = (2 * self.window + 16) * UNIT_ROUNDOFF
        units = {"var": c * c, "crossings": 1.0}
        return np.array([(own[item] + slack * FULL_SCALE[item]) * units.get(item, c) for item in self.items])

    def integer_errors(self) -> dict[str, float]:
        """The integer program's own max error per item in sample units (var: squared; module doc): a quotient
        rounded to nearest errs by at most floor(d/2)/d of its step (d its reduced divisor: 0 when exact); a root,
        by 1/2 + 1/(2 sqrt(R_min)) of its step, R_min the least non-zero radicand (a zero radicand is exact)."""
        bits, q, n = self.frac_bits, self.quotients, self.window
        std_min = ((n - 1) << (2 * bits["std"])) // (n * n)  # V >= N - 1 once two samples differ
        rms_min = (1 << (2 * RMS_FRAC_BITS)) // n  # Q >= 1
        var_divisor = n * n // (2 if n % 2 == 0 else 1)  # 2 var = 2 V / N^2 is a multiple of 1 / var_divisor
        return {"mean": (q["mean"].divisor // 2) / q["mean"].divisor * 2.0 ** -bits["mean"],
                "var": (var_divisor // 2) / var_divisor / 2,
                "std": (0.5 + 0.5 / np.sqrt(std_min)) * 2.0 ** -bits["std"],
                "rms": (0.5 + 0.5 / np.sqrt(rms_min)) * 2.0 ** -RMS_FRAC_BITS, "min": 0.0, "max": 0.0, "ptp": 0.0,
                "crossings": n - 1.0, "mad": (q["mad"].divisor // 2) / q["mad"].divisor * 2.0 ** -bits["mad"]}

    def crossing_bound(self, samples: np.ndarray) -> np.ndarray:
        """[rows]: the proven bound of the crossing count's error per window, 2 #{i: N x[i] = S} capped at N - 1
        (0 when no sample equals the mean)."""
        x = np.asarray(samples, dtype=np.int64)
        at_mean = (x * self.window == x.sum(axis=1, keepdims=True)).sum(axis=1)
        return np.minimum(2 * at_mean, self.window - 1)

    # ---- C, manifest ----------------------------------------------------------------------------------------
    @property
    def reciprocals(self) -> bool:
        """Whether a quotient the selected items divide by takes a multiplier (the template's reciprocal helper)."""
        used = {"mean": ("mean",), "mad": ("mad",), "crossings": ("ceil", "floor")}
        return any(self.quotients[name].multiplier for item in self.items for name in used.get(item, ()))

    def c_helpers(self) -> tuple[str, ...]:
        roots = ("isqrt_u64",) if self.needs("spread") or self.needs("mean_square") else ()
        sel = ("sel",) if any(self.needs(what) for what in ("min", "max", "steps")) else ()  # the first pass's SEL
        return ("ld_pair",) + sel + roots + (("div_reciprocal_u32",) if self.reciprocals else ())

    def table_bytes(self) -> dict[str, int]:
        return {}  # no tables: every constant is an immediate

    def to_dict(self) -> dict:
        return {"op": self.op, "window": int(self.window), "items": [spec.text for spec in self.specs],
                "sample_scales": [float(c) for c in self.sample_scales],
                "frac_bits": {item: self.frac_bits[item] for item in self.items},
                "rounding": "half_away_from_zero (mean, mad, var); std, rms: round(sqrt(floor(radicand)))",
                "error_bounds": [self.error_bounds(channel).tolist() for channel in range(self.n_channels)],
                "compute": "exact integer sums, then one quotient per item; tinygen/ops/features/statistics.py"}

    @classmethod
    def from_dict(cls, data: dict) -> "WindowStatistics":
        window = int(data["window"])
        op = cls(window=window, specs=featurespec.parse(list(data["items"]), window),
                 sample_scales=[float(c) for c in data["sample_scales"]])
        if data.get("frac_bits", {}) != {item: op.frac_bits[item] for item in op.items}:
            raise TinygenError("the manifest's window_statistics formats differ from this tinygen's; re-export")
        return op
