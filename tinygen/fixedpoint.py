"""The integer primitives: the single written spec of tinygen's arithmetic.

Every function here has a C twin in templates/c/fixedpoint.h.j2 that mirrors it line for line, and
tests/test_fixedpoint.py runs both on the same random and edge values. The simulator is built only from
these functions and plain integer adds and multiplies, so the generated C and the simulator are one
integer program written twice.

All functions work elementwise on numpy arrays; integers are carried in int64 (wide enough for every
product and accumulator tinygen emits: the range analysis in quantize.py keeps 64-bit accumulators below
2**63).
"""
from __future__ import annotations

import numpy as np

# Inputs are converted with this rounding; recorded in every manifest so nothing is implied.
INPUT_ROUNDING = "half_away_from_zero"
# Frac bits are kept where 2**frac_bits is a normal float32 (the C holds 2**frac_bits as a float).
FRAC_BITS_MIN, FRAC_BITS_MAX = -100, 100


def int_range(bits: int) -> tuple[int, int]:
    """The (min, max) of a two's complement integer of `bits` bits."""
    return -(1 << (bits - 1)), (1 << (bits - 1)) - 1


def pow2_f32(frac_bits) -> np.ndarray:
    """2**frac_bits as float32: exact, because frac_bits stays in [FRAC_BITS_MIN, FRAC_BITS_MAX]."""
    frac_bits = np.asarray(frac_bits, dtype=np.int64)
    if np.any(frac_bits < FRAC_BITS_MIN) or np.any(frac_bits > FRAC_BITS_MAX):
        raise ValueError(f"frac_bits outside [{FRAC_BITS_MIN}, {FRAC_BITS_MAX}]")
    return np.ldexp(np.float32(1.0), frac_bits.astype(np.int32)).astype(np.float32)


def saturate(value, bits: int) -> np.ndarray:
    """Clamp integers to the range of a `bits`-bit signed integer. C: NAME_sat_i32 / NAME_sat_i64."""
    lo, hi = int_range(bits)
    return np.clip(np.asarray(value, dtype=np.int64), lo, hi)


def shift_right(value, shift: int) -> np.ndarray:
    """Arithmetic shift right (floor division by 2**shift), shift >= 0.

    Rounding to nearest is done by adding 2**(shift-1) beforehand (dense folds it into the bias), so the
    shift itself is the plain `>>` every C compiler for our targets implements as arithmetic for signed
    values.
    """
    if shift < 0:
        raise ValueError("shift must be >= 0")
    return np.asarray(value, dtype=np.int64) >> shift


def to_fixed(x, frac_bits, bits: int) -> np.ndarray:
    """float32 -> signed fixed point with `frac_bits` fractional bits, stored in `bits` bits.

    C: NAME_to_fixed(x, scale, q_min, q_max) with scale = 2**frac_bits as float.
      s = x * 2**frac_bits        in float32 (exact but for overflow to inf / underflow below 2**-126)
      NaN -> 0; s >= 2**(bits-1) -> max; s <= -2**(bits-1) -> min      (so +-inf saturate)
      otherwise round half away from zero via trunc + the exact remainder s - trunc(s)
      (adding 0.5 in float would round 0.49999997 up), then saturate (32767.6 -> 32767, not 32768).
    `frac_bits` may be a scalar or one value per feature (broadcast along the last axis).
    """
    lo, hi = int_range(bits)
    x32 = np.asarray(x, dtype=np.float32)
    with np.errstate(invalid="ignore", over="ignore"):  # x * 2**f overflowing to inf saturates, as in C
        scaled = (x32 * pow2_f32(frac_bits)).astype(np.float32)
        nan = np.isnan(scaled)
        high = scaled >= np.float32(-float(lo))
        low = scaled <= np.float32(float(lo))
        inside = ~(nan | high | low)
        safe = np.where(inside, scaled, np.float32(0.0)).astype(np.float32)
        trunc = np.trunc(safe).astype(np.float32)
        remainder = (safe - trunc).astype(np.float32)
    q = trunc.astype(np.int64)
    q = q + (remainder >= np.float32(0.5)) - (remainder <= np.float32(-0.5))
    q = np.clip(q, lo, hi)
    q = np.where(high, hi, np.where(low, lo, q))
    return np.where(nan, 0, q).astype(np.int64)


def from_fixed(q, frac_bits: int) -> np.ndarray:
    """Fixed point -> float32: float32(q) * 2**-frac_bits, both steps IEEE float32 as in the C
    (`(float)q * scale`). q is an int32 score, so the int -> float32 rounding is a single rounding."""
    q32 = np.asarray(q, dtype=np.int64).astype(np.float64).astype(np.float32)
    return (q32 * pow2_f32(-frac_bits)).astype(np.float32)


def frac_bits_for(max_abs: float, bits: int) -> int:
    """The most fractional bits that still hold `max_abs` in a `bits`-bit signed integer:
    (bits - 1) - e with e the smallest integer such that max_abs < 2**e. Zero (an all-zero tensor or a
    constant-zero feature) gets the format of a value of magnitude 1."""
    if not np.isfinite(max_abs):
        raise ValueError("range is not finite")
    if max_abs <= 0:
        max_abs = 1.0
    _, exponent = np.frexp(max_abs)  # max_abs = m * 2**exponent, 0.5 <= m < 1  ->  max_abs < 2**exponent
    frac_bits = (bits - 1) - int(exponent)
    return int(min(max(frac_bits, FRAC_BITS_MIN), FRAC_BITS_MAX))
