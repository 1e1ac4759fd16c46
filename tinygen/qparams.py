"""Host-side parameter math: what the quantizer computes once, on the host, to make an integer program's
constants (formats, multipliers, tables). Nothing here runs on the MCU; the device arithmetic that uses these
constants is tinygen/fixedpoint.py (which this module builds on, never the other way round).

Every parameter is rounded by one function, round_half_away: to nearest, ties away from zero, exactly (TFLM's
std::round, and what the C's own roundings of x * 2**frac_bits do), for float64 values and exact rationals alike.
"""
from __future__ import annotations

from fractions import Fraction

import numpy as np

from . import fixedpoint
from .fixedpoint import FRAC_BITS_MAX, FRAC_BITS_MIN, INT32_MAX, INT32_MIN


def round_half_away(values):
    """Round to the nearest integer, ties away from zero, exactly. An int or Fraction gives an int (exact
    rational arithmetic); float64 values (arrays too) give int64 values: |x| - floor(|x|) is exact in float64,
    so no tie is decided by a rounding of x + 0.5 (floor(x + 0.5) rounds 0.49999999999999994 up, and
    2**52 + 1 to 2**52 + 2)."""
    if isinstance(values, (int, Fraction)) and not isinstance(values, bool):
        exact = Fraction(values)
        whole, rest = divmod(abs(exact.numerator), exact.denominator)
        magnitude = whole + (2 * rest >= exact.denominator)
        return -magnitude if exact < 0 else magnitude
    values = np.asarray(values, dtype=np.float64)
    magnitude = np.abs(values)
    whole = np.floor(magnitude)
    return (np.sign(values) * (whole + (magnitude - whole >= 0.5))).astype(np.int64)


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


# ---- affine int8 (TFLM / CMSIS-NN): the multiplier of a real scale ---------------------------------------
def quantize_multiplier(real: float) -> tuple[int, int]:
    """A real multiplier m >= 0 as (M, s) with m ~= M * 2**(s - 31), M in [2**30, 2**31) (or 0), exactly as
    TFLM's QuantizeMultiplier: q, s = frexp(m); M = round(q * 2**31) half away from zero (std::round;
    q * 2**31 is exact in double); M == 2**31 -> M = 2**30, s + 1; s < -31 -> M = s = 0. Host only."""
    real = float(real)
    if real < 0 or not np.isfinite(real):
        raise ValueError("multiplier must be finite and >= 0")
    if real == 0.0:
        return 0, 0
    q, shift = np.frexp(real)
    scaled = float(q) * float(1 << 31)
    M = int(round_half_away(scaled))  # std::round
    shift = int(shift)
    if M == 1 << 31:
        M //= 2
        shift += 1
    if shift < -31:
        M, shift = 0, 0
    return M, shift


# ---- gemmlowp fixed-point logistic / tanh, as TFLM's int8 LOGISTIC and TANH kernels compute them ---------
# Scalar Python ints (an int8 activation has 256 inputs: the quantizer tabulates them, the C looks the table up).
# Every intermediate is checked to stay in int32, so the arithmetic is gemmlowp's own without wrap-around. The
# device's srdhm and rdbpot (fixedpoint.py) are the same functions on the MCU.
def _i32(value: int) -> int:
    if value < INT32_MIN or value > INT32_MAX:
        raise AssertionError("gemmlowp arithmetic left int32")
    return value


def _srdhm(a: int, b: int) -> int:
    return int(fixedpoint.srdhm(a, b))


def _rdbpot(x: int, exponent: int) -> int:
    return int(fixedpoint.rdbpot(x, exponent))


def _sat_mul_pot(x: int, exponent: int) -> int:
    """SaturatingRoundingMultiplyByPOT<exponent>: saturating x * 2^exponent, or RDBPOT for exponent < 0."""
    if exponent == 0:
        return x
    if exponent < 0:
        return _rdbpot(x, -exponent)
    threshold = (1 << (31 - exponent)) - 1
    return INT32_MAX if x > threshold else INT32_MIN if x < -threshold else x << exponent


def _rounding_half_sum(a: int, b: int) -> int:
    total = a + b
    total += 1 if total >= 0 else -1
    return _i32(abs(total) // 2 if total >= 0 else -(abs(total) // 2))  # C's division truncates toward zero


def _exp_quarter(a: int) -> int:
    """exp(a) for a in [-1/4, 0), Q0.31 in and out: Taylor expansion around -1/8."""
    constant_term, one_third = 1895147668, 715827883
    x = _i32(a + (1 << 28))
    x2 = _srdhm(x, x)
    x3 = _srdhm(x2, x)
    x4 = _srdhm(x2, x2)
    x4_over_4 = _rdbpot(x4, 2)
    poly = _rdbpot(_i32(_srdhm(_i32(x4_over_4 + x3), one_third) + x2), 1)
    return _i32(constant_term + _srdhm(constant_term, _i32(x + poly)))


EXP_BARREL = ((-2, 1672461947), (-1, 1302514674), (0, 790015084), (1, 290630308), (2, 39332535), (3, 720401), (4, 242))


def exp_on_negative_values(a: int, integer_bits: int) -> int:
    """exp(a) for a <= 0 in Q(integer_bits), result Q0.31 (gemmlowp)."""
    frac = 31 - integer_bits
    quarter = 1 << (frac - 2)
    a_mod = _i32((a & (quarter - 1)) - quarter)
    result = _exp_quarter(_sat_mul_pot(a_mod, integer_bits))
    remainder = _i32(a_mod - a)
    for exponent, multiplier in EXP_BARREL:
        if integer_bits > exponent and remainder & (1 << (frac + exponent)):
            result = _srdhm(result, multiplier)
    if integer_bits > 5 and a < -(1 << (36 - integer_bits)):
        result = 0
    return INT32_MAX if a == 0 else result


def _newton_reciprocal(a: int) -> int:
    """x ~= 1 / half_denominator in Q2.29 after three Newton-Raphson steps, half_denominator = (a + 1) / 2."""
    half = _rounding_half_sum(a, INT32_MAX)
    x = _i32(1515870810 + _srdhm(half, -1010580540))
    for _ in range(3):
        one_minus = _i32((1 << 29) - _srdhm(half, x))
        x = _i32(x + _sat_mul_pot(_srdhm(x, one_minus), 2))
    return x


def logistic_q4(a: int) -> int:
    """gemmlowp::logistic of a Q4.27 value, Q0.31 result."""
    if a == 0:
        return 1 << 30
    positive = _sat_mul_pot(_newton_reciprocal(exp_on_negative_values(-abs(a), 4)), 1)  # Rescale<0>(x / 2)
    return positive if a > 0 else _i32(INT32_MAX - positive)


def tanh_q4(a: int) -> int:
    """gemmlowp::tanh of a Q4.27 value, Q0.31 result."""
    if a == 0:
        return 0
    t = _sat_mul_pot(_i32(_newton_reciprocal(exp_on_negative_values(-abs(a), 5)) - (1 << 29)), 2)
    return -t if a < 0 else t


def activation_input_params(scale: float) -> tuple[int, int, int]:
    """TFLM's int8 LOGISTIC/TANH Prepare: (multiplier, left_shift, range_radius) from the input scale:
    q, shift = frexp(double(scale) * 2^27); multiplier = round(q * 2^31) (no M == 2^31 fix: q has float32's
    24 bits, so q * 2^31 is an integer below 2^31); radius = floor(15 * 2^27 / 2^shift)."""
    q, shift = np.frexp(float(np.float32(scale)) * float(1 << 27))
    multiplier = int(round_half_away(float(q) * float(1 << 31)))
    shift = int(shift)
    if multiplier >= 1 << 31 or shift < 0 or shift > 31:
        raise ValueError("activation input scale outside TFLM's supported range")
    radius = int(np.floor(15.0 * float(1 << 27) / float(1 << shift)))
    return multiplier, shift, radius


def int8_activation(kind: str, x: int, zero_point: int, multiplier: int, shift: int, radius: int) -> int:
    """TFLM's int8 LOGISTIC (output scale 1/256, zero point -128) or TANH (1/128, 0) of one int8 input."""
    value = x - zero_point
    if value <= -radius:
        return -128
    if value >= radius:
        return 127
    q4 = int(fixedpoint.mbqm(value, multiplier, shift))
    if kind == "logistic":
        return int(min(max(_rdbpot(logistic_q4(q4), 23) - 128, -128), 127))
    return int(min(max(_rdbpot(tanh_q4(q4), 24), -128), 127))
