"""window_fft_bands: the FFT band energies of one channel's window (the fftK and fftKlog items), in integers.

The float definition (featurespec.band_energies): P[j] = |X[j]|^2 / N^2, X = rfft(x w), w the periodic Hann window,
bins j = 1..N/2; an item fftK gives the mean of P over each of K bands of B = (N/2)/K contiguous bins, fftKlog the
log2 of (that + eps). N in 16..256 and K are powers of two. One spectrum serves every item of the op.

Integer program (per window of N int16 samples s[n]; M = N/2 complex points, L = log2 M stages; forward and
templates/c/features/window_fft_bands.c.j2 are the same steps; every rounding is floor(v + 1/2), half up):
  1. e = 15 - bitlength(OR_n (s[n] ^ (s[n] >> 15)))  in [0, 15]: the block exponent. Every s lies in
     [-2^(15-e), 2^(15-e)), so s' = s 2^e is an int16 (the window's peak near full scale: quiet windows keep
     their precision). All later values are in these normalized units.
  2. y[n] = (s'[n] hann[n] + 2^15) >> 16             hann[n] = round(2^15 w[n]) (int16, flash, n = 0..N/2 with
     w[N-n] = w[n]; w[N/2] = 1 kept as 32767): y in [-2^14, 2^14). Packed as M complex points z[m] = y[2m] +
     i y[2m+1] in bit-reversed order (a flash table of M bytes), in the int16 work buffer of N values (2N bytes of
     stack, the only one).
  3. L radix-2 decimation-in-time stages, each halving: the butterfly on (a, b) with W = c - i s, c, s =
     round(2^15 cos, sin(2 pi idx / N)) from a quarter-wave int16 table (flash, N/4 + 1 entries):
        t = b W 2^15 (int32)      a <- (a 2^15 + t + 2^15) >> 16      b <- (a 2^15 - t + 2^15) >> 16
     i.e. (a +- b W) / 2 rounded once per component (fixedpoint.butterflies_q15; AVR assembly). W = 1 and W = -i
     (idx 0 and N/4: c or s stands for an exact 2^15) are computed in int16 as (a >> 1) + ((d + 1 + (a & 1)) >> 1),
     d = +-b W, the same floor. The result is Z[k] = DFT_M(z)[k] / M.
  4. The split into the real spectrum, for k = 1..M/2: A = Z[k], B = conj Z[M-k]; the butterfly of step 3 on
     (A + B, -i (A - B)) with W_N^k gives X[k] and conj X[M-k]; X[M] = Re Z[0] - Im Z[0] exactly. Then
     X[j] = DFT_N(s' w)[j] / N, |X| <= 2^14 + delta, and P'[j] = re^2 + im^2 (uint32, < 2^29) is P[j] 4^e in units
     of one sample step squared; each power overwrites its point as two int16 words (bin j in slot j mod M).
  5. Per item, per band: S = the sum of its B powers (uint32; Parseval keeps every band below 2^29).
     fftK:    q = round(S 2^(F - 2e) / B), F = LINEAR_FRAC_BITS = 2: the energy in units of 2^-F sample^2
              (shift = log2 B + 2e - F; q = S << -shift if shift <= 0, 0 if shift >= 32, else
              ((S >> (shift - 1)) + 1) >> 1); q in [0, 1.076e9].
     fftKlog: eps B / sample_scale^2 = mant 2^exp (mant in [2^29, 2^30), per channel, flash); sh = exp + 2e:
              sh >= 0: v = (S >> min(sh, 31)) + mant,  offset = exp - log2 B       (eps dominates; v < 2^31)
              sh < 0:  v = S + max(1, round(mant 2^sh)), offset = -2e - log2 B  (eps rounded to whole units of S,
                       at least 1: it moves by at most 1 unit of S, 1/B of a normalized energy unit)
              q = log2_u32(v) + offset 2^16: log2(energy + eps) - 2 log2(sample_scale) in Q16
              (fixedpoint.log2_u32: the leading bit, then a 33-entry table with linear interpolation).
Every intermediate's range is proven in `ranges` (FftBands.check holds each to its C type; the simulator refuses any
value beyond it): stage values below 23,200 in modulus (int16), butterfly sums below 1.52e9 (int32), split sums
below 2^14 + 16 (int16), powers and band sums below 2^29.
On ARMv7E-M cores (NAME_SIMD32: Cortex-M4/M7/M33 with DSP) steps 1-5 work on a complex point a word
(templates/c/features/window_fft_bands_simd32.c.j2): the same operations on the same integers, each butterfly
component from one dual multiply-accumulate (SMLAD, SMLSDX), the exact ones from halving adds (SHADD16, SHSUB16,
SHASX, SHSAX), the first two stages at once; the tests hold them to forward on the Cortex-M4 under QEMU.

Error (error_bounds, window_error_bounds): the roundings of steps 2-4 move each X[j] by at most delta (modulus,
normalized units, spectrum_error: a rounding anywhere reaches an output bin with gain 1 through the halving
butterflies, so the stages' errors add; the split gains sqrt 2): delta = 6.2 (N = 16) .. 11.6 (N = 256). With E a
band's exact energy in normalized units (the reference's energy / sample_scale^2 * 4^e):
  |S / B - E| <= 2 delta sqrt(E) + delta^2                       (Cauchy-Schwarz over the band)
  fftK:    |q 2^-F - E 4^-e| <= (2 delta sqrt(E) + delta^2) 4^-e + 2^-(F+1)  sample^2; at worst (e = 0,
           E = 2^28) 2^15 delta + delta^2 + 1/8 sample^2, 2^-13 delta of the full-scale energy.
  fftKlog: with eps' = eps 4^e / sample_scale^2, rho = (2 delta sqrt(E) + delta^2 + 1/B) / (E + eps') + 2^-28 (the
           1/B: eps rounded to units of S; 2^-28: mant's rounding and the shift of S when eps dominates):
           |q 2^-16 + 2 log2(sample_scale) - log2(energy + eps)| <= -log2(1 - rho) + LOG2_ERROR_BOUND.
           error_bounds states it where E + eps' >= 2^LOG_REGION_BITS, which holds wherever energy + eps >=
           2^-8 (max(peak, 1) sample_scale)^2 (peak = max |s|): 0.018 (N = 16) .. 0.033 (N = 256) log2 units;
           below, the bound (window_error_bounds) grows as 2 delta / sqrt(E).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from fractions import Fraction
from typing import ClassVar

import numpy as np

from ...errors import TinygenError
from ...featurespec import FFT_SIZES, FeatureSpec, band_energies, hann
from ...fixedpoint import LOG2_FRAC_BITS, butterflies_q15, log2_u32
from ...qparams import round_half_away
from .base import INT32, FeatureOp

Q15 = 1 << 15
ONE = Q15  # an exact twiddle component of 1 (idx 0 and N/4: never multiplied in the C)
LINEAR_FRAC_BITS = 2  # fftK outputs are energies in units of 2^-2 sample^2 (full scale 2^28 sample^2 -> 2^30)
EPS_MANT_BITS = 30  # eps B / sample_scale^2 = mant 2^exp, mant in [2^29, 2^30)
LOG_REGION_BITS = 20  # error_bounds of fftKlog hold where E + eps' >= 2^20 (normalized units)
MAX_EXPONENT = 15  # the block exponent e of step 1
MARGIN = 1 + 1e-9  # host float64 arithmetic of the bounds, rounded up


def _log2_error_bound() -> float:
    """The largest |log2_u32(v) 2^-16 - log2 v| over every v >= 1, exhaustively: a v whose leading 16 bits are t
    (shifted to [2^15, 2^16)) lies in [t, t + 1) 2^k, log2_u32(v) = log2_u32(t) + k 2^16, and log2 is monotone, so
    the error is at most the larger of the errors at t and t + 1 (at t alone when v has at most 16 bits)."""
    t = np.arange(1 << 15, 1 << 16, dtype=np.int64)
    q = log2_u32(t) / 2.0 ** LOG2_FRAC_BITS
    worst = np.maximum(np.abs(q - np.log2(t)), np.abs(q - np.log2(t + 1.0)))
    return float(worst.max()) * MARGIN + 1e-12


LOG2_ERROR_BOUND = _log2_error_bound()


# ---- the constant tables (flash) -------------------------------------------------------------------------
def hann_table(window: int) -> list[int]:
    """round(2^15 w[n]) for n = 0..N/2 (w[N - n] = w[n]); w[N/2] = 1 becomes 32767 (int16)."""
    return [min(int(round_half_away(Q15 * v)), Q15 - 1) for v in hann(window)[: window // 2 + 1]]


def cos_table(window: int) -> list[int]:
    """round(2^15 cos(2 pi i / N)) for i = 0..N/4 (int16; i = 0 is 32767, never read as a multiplier)."""
    return [min(int(round_half_away(Q15 * math.cos(2 * math.pi * i / window))), Q15 - 1)
            for i in range(window // 4 + 1)]


def bit_reversed(count: int) -> list[int]:
    """The bit-reversal permutation of 0..count-1 (count a power of two): an involution."""
    bits = count.bit_length() - 1
    return [int(format(i, f"0{bits}b")[::-1], 2) if bits else 0 for i in range(count)]


def twiddles(window: int, idx) -> tuple[np.ndarray, np.ndarray]:
    """(c, s) of W = e^(-2 pi i idx / N) = c - i s in Q15 for idx in [0, N/2), from the quarter-wave table; idx 0
    and N/4 are exact (2^15 stands for 1)."""
    idx = np.asarray(idx, dtype=np.int64)
    quarter = window // 4
    table = np.asarray(cos_table(window), dtype=np.int64)
    below = idx < quarter
    c = np.where(below, table[np.clip(idx, 0, quarter)], -table[np.clip(2 * quarter - idx, 0, quarter)])
    s = np.where(below, table[np.clip(quarter - idx, 0, quarter)], table[np.clip(idx - quarter, 0, quarter)])
    c = np.where(idx == 0, ONE, np.where(idx == quarter, 0, c))
    s = np.where(idx == 0, 0, np.where(idx == quarter, ONE, s))
    return c, s


def twiddle_error(window: int, idx) -> float:
    """max |W_q 2^-15 - W| over the twiddles idx (0 for the exact ones)."""
    idx = np.asarray(idx, dtype=np.int64)
    if idx.size == 0:
        return 0.0
    c, s = twiddles(window, idx)
    angle = 2 * np.pi * idx / window
    return float(np.max(np.hypot(c / Q15 - np.cos(angle), s / Q15 - np.sin(angle))))


# ---- the integer program (the simulator) ---------------------------------------------------------------------
def block_exponent(samples: np.ndarray) -> np.ndarray:
    """Step 1: [rows] e in [0, 15], the left shift that brings the window's peak to the top of int16."""
    folded = np.bitwise_or.reduce(samples ^ (samples >> 15), axis=1)  # s for s >= 0, -s - 1 otherwise
    length = np.zeros_like(folded)
    for bit in range(15):
        length = np.where(folded >> bit != 0, bit + 1, length)
    return MAX_EXPONENT - length


def check_range(values: np.ndarray, limit: int, what: str) -> np.ndarray:
    """values, after checking |values| <= limit (the C's type): the simulator refuses what the proof excludes."""
    if values.size and np.max(np.abs(values)) > limit:
        raise AssertionError(f"{what} leaves its proven range (the range analysis is wrong)")
    return values


def complex_spectrum(samples: np.ndarray, e: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Steps 2-3: (re, im) [rows, M] of Z = DFT_M(z) / M, natural order."""
    window = samples.shape[1]
    half_n = window // 2
    table = np.asarray(hann_table(window), dtype=np.int64)
    hann_q = np.concatenate([table, table[1:half_n][::-1]])  # w[N - n] = w[n]
    y = check_range(((samples << e[:, None]) * hann_q + Q15) >> 16, 1 << 14, "a windowed sample")
    order = bit_reversed(half_n)
    re, im = y[:, 0::2][:, order], y[:, 1::2][:, order]
    half = 1
    while half < half_n:
        positions = np.arange(half_n)
        top = positions[(positions & half) == 0]
        bottom = top + half
        c, s = twiddles(window, (top & (half - 1)) * (window // (2 * half)))
        re[:, top], im[:, top], re[:, bottom], im[:, bottom] = butterflies_q15(
            re[:, top], im[:, top], re[:, bottom], im[:, bottom], c, s)
        check_range(re, Q15 - 1, "a stage value")
        check_range(im, Q15 - 1, "a stage value")
        half *= 2
    return re, im


def bin_powers(samples: np.ndarray, e: np.ndarray) -> np.ndarray:
    """Steps 2-4: [rows, N/2] P'[j] = |X[j]|^2 (uint32 values), bins j = 1..N/2."""
    window = samples.shape[1]
    half_n = window // 2
    re, im = complex_spectrum(samples, e)
    k = np.arange(1, half_n // 2 + 1)
    a_re, a_im, b_re, b_im = re[:, k], im[:, k], re[:, half_n - k], -im[:, half_n - k]
    sum_re, sum_im, diff_re, diff_im = (check_range(v, Q15 - 1, "a split sum")
                                        for v in (a_re + b_re, a_im + b_im, a_re - b_re, a_im - b_im))
    x_re, x_im, y_re, y_im = (check_range(v, Q15 - 1, "a spectrum value")
                              for v in butterflies_q15(sum_re, sum_im, diff_im, -diff_re, *twiddles(window, k)))
    power = np.zeros((len(samples), half_n + 1), dtype=np.int64)
    power[:, half_n - k] = y_re * y_re + y_im * y_im  # conj X[M - k]; k = M/2 gives the same bin twice
    power[:, k] = x_re * x_re + x_im * x_im
    nyquist = check_range(re[:, 0] - im[:, 0], Q15 - 1, "X[N/2]")
    power[:, half_n] = nyquist * nyquist
    return check_range(power[:, 1:], 1 << 29, "a power")


def round_shift(value: np.ndarray, shift: np.ndarray) -> np.ndarray:
    """Step 5 (fftK): value 2^-shift rounded half up, for value in [0, 2^31): value << -shift for shift <= 0, 0 for
    shift >= 32, else ((value >> (shift - 1)) + 1) >> 1 (= floor(value 2^-shift + 1/2), without overflow)."""
    left = value << np.clip(-shift, 0, 31)
    right = ((value >> np.clip(shift - 1, 0, 31)) + 1) >> 1
    return np.where(shift <= 0, left, np.where(shift >= 32, 0, right))


def stage_error(window: int) -> tuple[float, float]:
    """(the bound on the complex values' error after the last stage, the bound on their exact modulus), normalized
    units. Every stage maps errors with gain 1 to the next (a halving butterfly with |W| = 1), so the stages' own
    errors add: per element the rounding (<= 1/2 per component, sqrt 2 / 2 in modulus) and the twiddle's (|b| |W_q -
    W| / 2, |b| <= the exact bound plus the error so far); the window's step adds 1/2 + 2^14 |hann - w| per
    component. The exact values are halved sums of unit-modulus multiples: never above max |z|."""
    w = hann(window)
    table = np.asarray(hann_table(window), dtype=np.float64)
    window_error = 0.5 + 2 ** 14 * float(np.max(np.abs(table / Q15 - w[: window // 2 + 1])))
    error = math.sqrt(2) * window_error
    exact_bound = 2 ** 14 * float(np.max(np.hypot(w[0::2], w[1::2])))  # |z| <= 2^14 sqrt(w0^2 + w1^2)
    half = 1
    while half < window // 2:
        idx = np.arange(half) * (window // (2 * half))
        error += math.sqrt(2) / 2 + (exact_bound + error) * twiddle_error(window, idx) / 2
        half *= 2
    return error * MARGIN, exact_bound * MARGIN


def spectrum_error(window: int) -> float:
    """delta: the proven bound on |X[j] - X_exact[j]| (modulus, normalized units) for every bin j = 1..N/2, X_exact
    = DFT_N(s' w)[j] / N with the real Hann w. The split's inputs (A + B, -i (A - B)) carry the stages' errors of A
    and B, which reach X[k] as ((1 - iW) dA + (1 + iW) conj dB) / 2: at most sqrt 2 times the stages' bound; its
    own rounding and twiddle add as in a stage (|-i (A - B)| <= 2^14 + 2 error: the odd samples' DFT is at most
    2^13 in exact arithmetic, their Hann weights summing to N/4). X[N/2] = Re Z[0] - Im Z[0] is exact arithmetic."""
    error, _ = stage_error(window)
    split = twiddle_error(window, np.arange(1, window // 4))
    return (math.sqrt(2) * error + math.sqrt(2) / 2 + (2 ** 14 + 2 * error) * split / 2) * MARGIN


def ranges(window: int) -> dict[str, float]:
    """The proven bounds of the intermediates' magnitudes (module doc); FftBands.check holds each to its type."""
    error, exact_bound = stage_error(window)
    delta = spectrum_error(window)
    stage = exact_bound + error
    return {"windowed": 2 ** 14, "stage_value": stage, "butterfly_sum": stage * (2 * Q15 + 2) + Q15,
            "split_sum": 2 ** 14 + 2 * error, "spectrum": 2 ** 14 + delta, "power": (2 ** 14 + delta) ** 2,
            "band_sum": (math.sqrt(3 * 2 ** 27) + math.sqrt(window // 2) * delta) ** 2}  # Parseval: sum w^2 = 3N/8


def eps_constants(eps: float, bins: int, sample_scale: float) -> tuple[int, int]:
    """(mant, exp) with mant 2^exp = eps bins / sample_scale^2 (the item's eps in band-sum units of one sample
    step squared), mant in [2^29, 2^30) rounded half away from zero (relative error <= 2^-30); exact rationals."""
    value = Fraction(eps) * bins / Fraction(sample_scale) ** 2
    exp = value.numerator.bit_length() - value.denominator.bit_length() - EPS_MANT_BITS
    while value / Fraction(2) ** exp >= 1 << EPS_MANT_BITS:
        exp += 1
    while value / Fraction(2) ** exp < 1 << (EPS_MANT_BITS - 1):
        exp -= 1
    mant = round_half_away(value / Fraction(2) ** exp)
    if mant == 1 << EPS_MANT_BITS:
        mant, exp = mant >> 1, exp + 1
    return int(mant), int(exp)


def log_terms(mant: int, exp: int, bins: int, e: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Step 5 (fftKlog), per window: (right shift of S, eps in those units, offset in whole log2 units)."""
    sh = exp + 2 * e
    drop = np.clip(-sh, 1, 32)
    eps_rounded = np.where(-sh >= 32, 0, ((mant >> (drop - 1)) + 1) >> 1)  # round(mant 2^sh), half up
    eps = np.where(sh >= 0, mant, np.maximum(eps_rounded, 1))
    offset = np.where(sh >= 0, exp, -2 * e) - (bins.bit_length() - 1)
    return np.clip(sh, 0, 31), eps, offset


def log2_bands(sums: np.ndarray, mant: int, exp: int, bins: int, e: np.ndarray) -> np.ndarray:
    """Step 5 (fftKlog): [rows, K] log2(energy + eps) - 2 log2(sample_scale) in Q16."""
    right, eps, offset = log_terms(mant, exp, bins, e)
    return log2_u32((sums >> right[:, None]) + eps[:, None]) + (offset[:, None] << LOG2_FRAC_BITS)


@dataclass
class FftBands(FeatureOp):
    """The fftK and fftKlog items of one channel's window (module doc), one spectrum for all of them."""

    op: ClassVar[str] = "window_fft_bands"
    linear_frac_bits: ClassVar[int] = LINEAR_FRAC_BITS  # for the template
    log_frac_bits: ClassVar[int] = LOG2_FRAC_BITS
    eps: list[list[tuple[int, int]]] = field(init=False, repr=False)  # per item (None for fftK), per channel

    def __post_init__(self):
        self.check()
        self.eps = [[eps_constants(spec.eps, self.bins(spec), scale) for scale in self.sample_scales]
                    if spec.kind == "fftlog" else None for spec in self.specs]

    @classmethod
    def build(cls, window: int, specs: list, sample_scales: list[float], sample_rate: float | None = None):
        """The op for these fftK / fftKlog items of a feature list (registry.build_ops; the sample rate is not used:
        the bands are fractions of the Nyquist frequency)."""
        return cls(window=window, specs=list(specs), sample_scales=list(sample_scales))

    def check(self) -> None:
        """What the module doc's proof assumes; a damaged manifest fails here, not in the C."""
        half_n = self.window // 2
        if self.window not in FFT_SIZES:
            raise TinygenError(f"{self.op}: the window must be one of {FFT_SIZES} samples, not {self.window}")
        for spec in self.specs:
            if spec.kind not in ("fft", "fftlog") or spec.bands < 1 or half_n % spec.bands:
                raise TinygenError(f"{self.op}: {spec.text!r} is not an fftK or fftKlog item for {self.window} samples")
            if spec.kind == "fftlog" and not (math.isfinite(spec.eps) and spec.eps > 0):
                raise TinygenError(f"{self.op}: {spec.text!r} needs a positive eps")
        if not self.sample_scales or not all(math.isfinite(v) and v > 0 for v in self.sample_scales):
            raise TinygenError(f"{self.op}: sample scales must be positive numbers")
        if len(self.sample_scales) > 255:
            raise TinygenError(f"{self.op}: at most 255 channels (the C's channel is a uint8_t)")
        limits = {"stage_value": Q15 - 1, "butterfly_sum": INT32[1], "split_sum": Q15 - 1, "spectrum": Q15 - 1,
                  "power": 1 << 29, "band_sum": 1 << 29}
        for name, value in ranges(self.window).items():
            assert value <= limits.get(name, value), f"{name} range {value} exceeds {limits[name]}"

    def bins(self, spec: FeatureSpec) -> int:
        """B: the bins of one band of the item."""
        return self.window // 2 // spec.bands

    # ---- the simulator ---------------------------------------------------------------------------------
    def forward(self, samples: np.ndarray, channel: int) -> np.ndarray:
        """[rows, N] int64 holding int16 values -> [rows, n_out] int64, as the C computes (module doc)."""
        samples = np.asarray(samples, dtype=np.int64).reshape(-1, self.window)
        e = block_exponent(samples)
        power = bin_powers(samples, e)
        outputs = []
        for spec, eps in zip(self.specs, self.eps):
            bins = self.bins(spec)
            sums = check_range(power.reshape(len(samples), spec.bands, bins).sum(axis=2), 1 << 29, "a band sum")
            if eps is None:
                shift = (bins.bit_length() - 1) + 2 * e - LINEAR_FRAC_BITS
                outputs.append(round_shift(sums, shift[:, None]))
            else:
                outputs.append(log2_bands(sums, *eps[channel], bins, e))
        return np.concatenate(outputs, axis=1) if outputs else np.zeros((len(samples), 0), dtype=np.int64)

    # ---- what the outputs mean, and how far they are from the float reference ----------------------------
    def out_affine(self, channel: int) -> tuple[np.ndarray, np.ndarray]:
        """fftK: q 2^-2 sample_scale^2 (an energy); fftKlog: q 2^-16 + 2 log2(sample_scale) (log2 of energy + eps)."""
        scale = float(self.sample_scales[channel])
        scales, biases = [], []
        for spec in self.specs:
            log = spec.kind == "fftlog"
            scales += [2.0 ** -LOG2_FRAC_BITS if log else 2.0 ** -LINEAR_FRAC_BITS * scale * scale] * spec.bands
            biases += [2 * math.log2(scale) if log else 0.0] * spec.bands
        return np.asarray(scales), np.asarray(biases)

    def error_bounds(self, channel: int) -> np.ndarray:
        """[n_out] proven bounds against featurespec.reference (module doc): fftK over every window, (2^15 delta +
        delta^2 + 1/8) sample_scale^2 in the energy's units; fftKlog in log2 units wherever energy + eps >= 2^-8
        (max(peak, 1) sample_scale)^2, peak = max |sample| of the window (E + eps' >= 2^LOG_REGION_BITS normalized:
        in_log_region)."""
        delta = spectrum_error(self.window)
        scale = float(self.sample_scales[channel])
        linear = ((2 * delta * 2 ** 14 + delta * delta) + 2.0 ** -(LINEAR_FRAC_BITS + 1)) * scale * scale * MARGIN
        region = 2.0 ** LOG_REGION_BITS
        rho = (2 * delta * math.sqrt(region) + delta * delta + 1) / region + 2.0 ** -28
        log = (-math.log2(1 - rho) + LOG2_ERROR_BOUND) * MARGIN
        return np.concatenate([np.full(spec.bands, log if spec.kind == "fftlog" else linear) for spec in self.specs])

    def normalized_energies(self, samples: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(e [rows], E [rows, n_out]): the block exponent and each output's exact band energy (float64, the
        reference's) in normalized units, energy / sample_scale^2 4^e."""
        samples = np.asarray(samples, dtype=np.int64).reshape(-1, self.window)
        e = block_exponent(samples)
        normalized = (samples << e[:, None]).astype(np.float64)
        energies = [band_energies(normalized, spec.bands) for spec in self.specs]
        return e, np.concatenate(energies, axis=1)

    def window_error_bounds(self, samples: np.ndarray, channel: int) -> np.ndarray:
        """[rows, n_out]: the module doc's bound for each window's own outputs (from its exact band energies): the
        linear bound (2 delta sqrt(E) + delta^2) 4^-e + 2^-3, and -log2(1 - rho) + LOG2_ERROR_BOUND (inf where
        rho >= 1: a band so far below its window's peak that rounding may be all it holds)."""
        delta = spectrum_error(self.window)
        e, energy = self.normalized_energies(samples)
        scale = float(self.sample_scales[channel])
        noise = 2 * delta * np.sqrt(energy) + delta * delta
        linear = (noise * 4.0 ** -e[:, None] + 2.0 ** -(LINEAR_FRAC_BITS + 1)) * scale * scale * MARGIN
        bounds = []
        for spec, part in self.columns():
            if spec.kind == "fft":
                bounds.append(linear[:, part])
                continue
            eps = spec.eps / scale ** 2 * 4.0 ** e[:, None]
            rho = (noise[:, part] + 1.0 / self.bins(spec)) / (energy[:, part] + eps) + 2.0 ** -28
            with np.errstate(divide="ignore"):
                log = -np.log2(np.where(rho < 1, 1 - rho, 0.0))  # inf where rho >= 1
            bounds.append(log * MARGIN + LOG2_ERROR_BOUND)
        return np.concatenate(bounds, axis=1)

    def in_log_region(self, samples: np.ndarray, channel: int) -> np.ndarray:
        """[rows, n_out]: where error_bounds holds (every fftK output; fftKlog where E + eps' >= 2^20)."""
        e, energy = self.normalized_energies(samples)
        scale = float(self.sample_scales[channel])
        inside = np.ones(energy.shape, dtype=bool)
        for spec, part in self.columns():
            if spec.kind == "fftlog":
                inside[:, part] = energy[:, part] + spec.eps / scale ** 2 * 4.0 ** e[:, None] >= 2.0 ** LOG_REGION_BITS
        return inside

    def columns(self):
        """(spec, slice of its outputs) for every item, in order."""
        first = 0
        for spec in self.specs:
            yield spec, slice(first, first + spec.bands)
            first += spec.bands

    def out_bounds(self) -> list[tuple[int, int]]:
        """Per output, [lo, hi] over every window and channel: fftK in [0, round((2^14 + delta)^2 2^2)] (a band's
        mean power at e = 0 is the most); fftKlog log2_u32 in [0, log2_u32(v_max)] (v <= band_sum + 2^30) plus the
        offsets 2^16 (exp or -2e - log2 B) that the channels' eps and e = 0..15 reach."""
        limits = ranges(self.window)
        linear = (0, int(math.floor(limits["power"] * 2 ** LINEAR_FRAC_BITS + 0.5)))
        top = int(log2_u32(int(limits["band_sum"]) + (1 << EPS_MANT_BITS)))
        e = np.arange(MAX_EXPONENT + 1)
        bounds = []
        for spec, eps in zip(self.specs, self.eps):
            if eps is None:
                bounds += [linear] * spec.bands
                continue
            offsets = np.concatenate([log_terms(mant, exp, self.bins(spec), e)[2] for mant, exp in eps])
            lo, hi = int(offsets.min()) << LOG2_FRAC_BITS, top + (int(offsets.max()) << LOG2_FRAC_BITS)
            if lo < INT32[0] or hi > INT32[1]:
                raise TinygenError(f"{spec.text}: eps / sample_scale^2 is too far from 1 for an int32 log2 "
                                   f"(offsets {int(offsets.min())}..{int(offsets.max())})")
            bounds += [(lo, hi)] * spec.bands
        return bounds

    # ---- the C and the manifest -------------------------------------------------------------------------
    @property
    def hann(self) -> list[int]:
        return hann_table(self.window)

    @property
    def cos(self) -> list[int]:
        return cos_table(self.window)

    @property
    def bitrev(self) -> list[int]:
        return bit_reversed(self.window // 2)

    @property
    def stages(self) -> int:
        return (self.window // 2).bit_length() - 1

    @property
    def items(self) -> list[dict]:
        """What the template prints per item: its outputs' first index, bands, bins and (fftKlog) eps constants."""
        items = []
        for index, ((spec, part), eps) in enumerate(zip(self.columns(), self.eps)):
            bins = self.bins(spec)
            items.append({"index": index, "text": spec.text, "log": eps is not None, "first": part.start,
                          "bands": spec.bands, "bins": bins, "log2_bins": bins.bit_length() - 1,
                          "mant": [m for m, _ in eps or []], "exp": [x for _, x in eps or []]})
        return items

    def c_helpers(self) -> tuple[str, ...]:
        log = any(spec.kind == "fftlog" for spec in self.specs)
        own = ("ROM", "rd_i16", "rd_u8", "sel", "mul_i16_i32", "butterflies_q15")  # sel: the SIMD32 block exponent
        return own + (("rd_u32", "log2_u32") if log else ())

    def table_bytes(self) -> dict[str, int]:
        sizes = {"hann": 2 * (self.window // 2 + 1), "cos": 2 * (self.window // 4 + 1), "bitrev": self.window // 2}
        for index, eps in enumerate(self.eps):
            if eps is not None:
                sizes[f"eps{index}"] = 6 * self.n_channels  # uint32 mant and int16 exp per channel
        return sizes

    def stack_bytes(self) -> int:
        """The work buffer on the stack: N int16 (the complex points, then the uint32 powers in place)."""
        return 2 * self.window

    def to_dict(self) -> dict:
        return {"op": self.op, "window": int(self.window), "sample_scales": [float(v) for v in self.sample_scales],
                "specs": [{"text": s.text, "kind": s.kind, "bands": int(s.bands), "eps": float(s.eps)} for s in self.specs],
                "linear_frac_bits": LINEAR_FRAC_BITS, "log_frac_bits": LOG2_FRAC_BITS,
                "eps": [None if eps is None else [list(pair) for pair in eps] for eps in self.eps],
                "hann": hann_table(self.window), "cos": cos_table(self.window),
                "error_bounds": [self.error_bounds(c).tolist() for c in range(self.n_channels)],
                "compute": "block exponent, Q15 Hann, N/2-point radix-2 DIT FFT with (a +- bW)/2 rounded half up per "
                           "stage, real split, band sums of re^2 + im^2; log2 by log2_u32; "
                           "tinygen/ops/features/fft_bands.py"}

    @classmethod
    def from_dict(cls, data: dict) -> "FftBands":
        specs = [FeatureSpec(str(s["text"]), str(s["kind"]), bands=int(s["bands"]), eps=float(s["eps"]))
                 for s in data["specs"]]
        op = cls(window=int(data["window"]), specs=specs, sample_scales=[float(v) for v in data["sample_scales"]])
        stored = {"eps": data.get("eps"), "hann": data.get("hann"), "cos": data.get("cos")}
        derived = op.to_dict()
        for name, value in stored.items():
            if value is not None and value != derived[name]:
                raise TinygenError(f"{cls.op}: the manifest's {name} table differs from the one its window and "
                                   f"scales give (a damaged manifest)")
        return op
