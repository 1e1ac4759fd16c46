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
INPUT_ROUNDING = "half_away_from_zero"  # of x * 2**frac_bits, exact (computed from the float's bits)
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


def shift_right(value, shift) -> np.ndarray:
    """Arithmetic shift right (floor division by 2**shift), shift >= 0 (a scalar, or an array that broadcasts
    against value: dense's per-output row shifts).

    Rounding to nearest is done by adding 2**(shift-1) beforehand (dense folds it into the bias), so the
    shift itself is the plain `>>` every C compiler for our targets implements as arithmetic for signed
    values.
    """
    if np.any(np.asarray(shift) < 0):
        raise ValueError("shift must be >= 0")
    return np.asarray(value, dtype=np.int64) >> shift


def to_fixed(x, frac_bits, bits: int) -> np.ndarray:
    """float32 -> signed fixed point with `frac_bits` fractional bits, stored in `bits` bits.

    The value is round(x * 2**frac_bits), ties away from zero, saturated to the `bits` range; NaN -> 0,
    +-inf saturate. It is computed from the float's bits with integers only (an MCU without an FPU pays
    a few dozen cycles instead of a soft-float multiply, compares and conversions):
      x = (-1)**sign * mantissa * 2**(exponent - 150)   (mantissa with its implicit 1; subnormals: exponent 1)
      shift = exponent - 150 + frac_bits                 magnitude = mantissa * 2**shift, rounded half up
      shift >= 0: saturate when mantissa > limit >> shift (always when shift >= 32), else mantissa << shift
      shift < 0:  0 when -shift > 24 (the value is below 0.5), else ((mantissa >> (-shift-1)) + 1) >> 1,
                  which equals (mantissa + 2**(-shift-1)) >> -shift; the C shifts whole bytes first (cheap on AVR)
      then magnitude is clamped to limit (2**(bits-1) for negatives, 2**(bits-1)-1 otherwise) and signed.
    C: NAME_to_fixed(x, frac_bits, q_min, q_max), line for line. `frac_bits` may be a scalar or one value
    per feature (broadcast along the last axis).
    """
    lo, hi = int_range(bits)
    raw = np.array(x, dtype=np.float32).view(np.uint32).astype(np.int64)  # a copy, so any shape views
    high = raw >> 16
    negative = (high >> 15) != 0
    exponent = (high >> 7) & 0xFF
    mantissa = raw & 0x7FFFFF
    nan = (exponent == 0xFF) & (mantissa != 0)
    inf = (exponent == 0xFF) & (mantissa == 0)
    mantissa = np.where(exponent != 0, mantissa | 0x800000, mantissa)
    exponent = np.where(exponent != 0, exponent, 1)
    shift = exponent - 150 + np.asarray(frac_bits, dtype=np.int64)
    limit = np.where(negative, -lo, hi)
    left = np.clip(shift, 0, 31)
    right = np.clip(-shift, 1, 24)
    shifted_left = np.where((shift >= 32) | (mantissa > (limit >> left)), limit, mantissa << left)
    shifted_right = np.where(-shift > 24, 0, ((mantissa >> (right - 1)) + 1) >> 1)  # half rounds up
    magnitude = np.minimum(np.where(shift >= 0, shifted_left, shifted_right), limit)
    value = np.where(negative, -magnitude, magnitude)
    value = np.where(inf, np.where(negative, lo, hi), value)
    return np.where(nan | (mantissa == 0), 0, value).astype(np.int64)


# Inputs with an offset convert into a wide range first, at most this many bits ([-2**30, 2**30)); the offset,
# at most 2**(wide_bits-2) in magnitude, then cannot overflow the int32 difference.
WIDE_BITS = 31


def to_fixed_offset(x, frac_bits, offset_q, bits: int, wide_bits: int = WIDE_BITS) -> np.ndarray:
    """float32 -> fixed point with an offset subtracted in the integer domain:
      x_q = saturate(to_fixed(x, frac_bits, wide_bits) - offset_q, bits), and NaN -> 0 (the offset itself).
    The offset is an integer in the same format (real offset = offset_q * 2**-frac_bits), so the subtraction is
    exact: the only rounding is to_fixed's, |x_q - (x - offset) * 2**frac_bits| <= 0.5 wherever nothing
    saturates, as for to_fixed alone. With offset_q == 0 and wide_bits >= bits it equals to_fixed(x, frac_bits,
    bits) (clamping to the wide range, then to the narrow one, is clamping to the narrow one), which the C uses
    for such features. wide_bits <= 31 and |offset_q| <= 2**(wide_bits-2): the difference stays in int32.
    C: NAME_to_fixed_offset (wide_bits as its range [wide_min, wide_max]), line for line.
    """
    if wide_bits > WIDE_BITS:
        raise ValueError(f"wide_bits must be at most {WIDE_BITS}")
    raw = np.array(x, dtype=np.float32).view(np.uint32).astype(np.int64)
    nan = (raw & 0x7FFFFFFF) > 0x7F800000
    wide = to_fixed(x, frac_bits, wide_bits)
    return np.where(nan, 0, saturate(wide - np.asarray(offset_q, dtype=np.int64), bits)).astype(np.int64)


def dequantize(q, scale: float) -> np.ndarray:
    """Integer score -> float32: float32(q) * float32(scale), both steps IEEE float32 as in the C
    (`(float)q * scale`); q is an int32 score, so the int -> float32 rounding is a single rounding."""
    q32 = np.asarray(q, dtype=np.int64).astype(np.float64).astype(np.float32)
    return (q32 * np.float32(scale)).astype(np.float32)


def from_fixed(q, frac_bits: int) -> np.ndarray:
    """Fixed point -> float32: dequantize with the exact power of two 2**-frac_bits."""
    return dequantize(q, float(pow2_f32(-frac_bits)))


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


def mul_hi_u32(a, b) -> np.ndarray:
    """floor(a * b / 2**32) for a, b in [0, 2**32): the high half of an unsigned 32 x 32 -> 64 product,
    computed from four 16 x 16 -> 32 products (no 64-bit integer needed: an AVR multiplies 16-bit halves
    in hardware, a 64-bit product calls a slow libgcc helper).
      a = a_hi 2**16 + a_lo, b = b_hi 2**16 + b_lo
      a b = hi_hi 2**32 + (lo_hi + hi_lo) 2**16 + lo_lo
      mid = (lo_lo >> 16) + (lo_hi & 0xFFFF) + (hi_lo & 0xFFFF)        < 3 * 2**16
      result = hi_hi + (lo_hi >> 16) + (hi_lo >> 16) + (mid >> 16)      exact; < 2**32, as are its partial sums
    C: NAME_mul_hi_u32, line for line (every product cast to uint32_t first: uint16 * uint16 would be an
    int multiply, which overflows a 16-bit AVR int and can overflow a 32-bit one).
    """
    a = np.asarray(a, dtype=np.int64)
    b = np.asarray(b, dtype=np.int64)
    if np.any(a < 0) or np.any(a >= 1 << 32) or np.any(b < 0) or np.any(b >= 1 << 32):
        raise ValueError("mul_hi_u32 takes values in [0, 2**32)")
    a_lo, a_hi = a & 0xFFFF, a >> 16
    b_lo, b_hi = b & 0xFFFF, b >> 16
    lo_lo = a_lo * b_lo
    lo_hi = a_lo * b_hi
    hi_lo = a_hi * b_lo
    hi_hi = a_hi * b_hi
    mid = (lo_lo >> 16) + (lo_hi & 0xFFFF) + (hi_lo & 0xFFFF)
    return hi_hi + (lo_hi >> 16) + (hi_lo >> 16) + (mid >> 16)


def mul_u32_u16_shr(t, m, shift) -> np.ndarray:
    """floor(t * m / 2**(16 + shift)) for t in [0, 2**32), m in [0, 2**16), shift in [0, 31]: a 32 x 16-bit
    product scaled down, from two 16 x 16 -> 32 products (no 64-bit integer, which AVR would call libgcc for).
      t = t_high 2**16 + t_low
      floor(t m / 2**16) = t_high m + floor(t_low m / 2**16)      exact; < 2**32 (t m < 2**48), as is each part
      result = that >> shift                                       floor(floor(y / 2**16) / 2**s) = floor(y / 2**(16+s))
    The C skips the product of a half that is 0 (a q15 square below 2**16, a q7 square shifted up by 16), and on AVR
    shifts whole bytes first (it shifts a uint32_t one bit per loop). C: NAME_mul_u32_u16_shr, line for line.
    """
    t = np.asarray(t, dtype=np.int64)
    m = np.asarray(m, dtype=np.int64)
    shift = np.asarray(shift, dtype=np.int64)
    if np.any(t < 0) or np.any(t >= 1 << 32) or np.any(m < 0) or np.any(m >= 1 << 16) \
            or np.any(shift < 0) or np.any(shift > 31):
        raise ValueError("mul_u32_u16_shr takes t in [0, 2**32), m in [0, 2**16), shift in [0, 31]")
    t_low, t_high = t & 0xFFFF, t >> 16
    product = (t_low * m) >> 16
    product = product + t_high * m
    return product >> shift


# ---- affine int8 (TFLM / CMSIS-NN): multipliers and the default double-rounding requantization ----------
INT32_MIN, INT32_MAX = int_range(32)
REQUANTIZE_ROUNDING = "double (TFLM default): RDBPOT(SRDHM(x * 2^max(s,0), M), max(-s,0))"


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
    M = int(np.floor(scaled + 0.5))  # scaled > 0: half away from zero (Python's round() is half-to-even)
    shift = int(shift)
    if M == 1 << 31:
        M //= 2
        shift += 1
    if shift < -31:
        M, shift = 0, 0
    return M, shift


def srdhm(a, b) -> np.ndarray:
    """SaturatingRoundingDoublingHighMul of int32 a, b: floor((a*b + 2**30) / 2**31), and INT32_MAX when
    a == b == INT32_MIN (the one overflow). The int64 product is exact (|a*b| <= 2**62).
    C: NAME_srdhm, line for line."""
    a = np.asarray(a, dtype=np.int64)
    b = np.asarray(b, dtype=np.int64)
    overflow = (a == b) & (a == INT32_MIN)
    ab = a * b
    return np.where(overflow, INT32_MAX, (ab + (1 << 30)) >> 31).astype(np.int64)


def rdbpot(x, exponent) -> np.ndarray:
    """RoundingDivideByPOT: x / 2**exponent rounded half away from zero, 0 <= exponent <= 31, x int32
    (gemmlowp: mask, remainder = x & mask, threshold = mask/2 + (x < 0), (x >> e) + (remainder > threshold)).
    C: NAME_rdbpot, line for line."""
    x = np.asarray(x, dtype=np.int64)
    exponent = np.asarray(exponent, dtype=np.int64)
    if np.any(exponent < 0) or np.any(exponent > 31):
        raise ValueError("rdbpot exponent must be in [0, 31]")
    mask = (np.int64(1) << exponent) - 1
    remainder = x & mask
    threshold = (mask >> 1) + (x < 0)
    return (x >> exponent) + (remainder > threshold)


def mbqm(x, multiplier, shift) -> np.ndarray:
    """MultiplyByQuantizedMultiplier with TFLM's default double rounding:
    RDBPOT(SRDHM(x * 2**max(s, 0), M), max(-s, 0)). x int32; x * 2**max(s, 0) must stay in int32 (TFLM
    multiplies in int32; the quantizer proves it for every accumulator, and this spec refuses otherwise).
    C: NAME_mbqm, line for line."""
    x = np.asarray(x, dtype=np.int64)
    shift = np.asarray(shift, dtype=np.int64)
    left = np.maximum(shift, 0)
    right = np.maximum(-shift, 0)
    shifted = x << left
    if np.any(shifted < INT32_MIN) or np.any(shifted > INT32_MAX):
        raise AssertionError("mbqm: x * 2^left_shift leaves int32 (the range analysis is wrong)")
    return rdbpot(srdhm(shifted, multiplier), right)


def affine_quantize_f32(x, scale, zero_point, q_min: int = -128, q_max: int = 127) -> np.ndarray:
    """TFLM's AffineQuantize of float32 x: clamp(round(x / scale) + zero_point, q_min, q_max), the division in
    float32 (IEEE, as `val / static_cast<float>(scale)`), round half away from zero (TfLiteRound = std::round).
    tinygen defines what TFLM leaves undefined (a float -> int cast out of range): NaN -> zero_point, and a
    quotient beyond +-256 clamps (round and + zero_point could not land inside [q_min, q_max] there).
    The C rounds without libm: t = (int32_t)quotient truncates, then +-1 when |quotient - t| >= 0.5 (exact,
    |quotient| < 256). `scale` and `zero_point` broadcast along the last axis (one per feature).
    C: NAME_affine_quantize, line for line."""
    x = np.asarray(x, dtype=np.float32)
    scale = np.asarray(scale, dtype=np.float32)
    zero_point = np.asarray(zero_point, dtype=np.int64)
    with np.errstate(all="ignore"):
        quotient = (x / scale).astype(np.float32)
        nan = np.isnan(quotient)
        high = quotient >= np.float32(256.0)
        low = quotient <= np.float32(-256.0)
        safe = np.where(nan | high | low, np.float32(0.0), quotient).astype(np.float32)
        truncated = np.trunc(safe).astype(np.int64)
        frac = (safe - truncated.astype(np.float32)).astype(np.float32)
    rounded = truncated + (frac >= np.float32(0.5)) - (frac <= np.float32(-0.5))
    value = np.clip(rounded + zero_point, q_min, q_max)
    value = np.where(high, q_max, np.where(low, q_min, value))
    return np.where(nan, np.clip(zero_point, q_min, q_max), value).astype(np.int64)


# ---- gemmlowp fixed-point logistic / tanh, as TFLM's int8 LOGISTIC and TANH kernels compute them ---------
# Scalar Python ints (an int8 activation has 256 inputs: the quantizer tabulates them, the C looks the table up).
# Every intermediate is checked to stay in int32, so the arithmetic is gemmlowp's own without wrap-around.

def _i32(value: int) -> int:
    if value < INT32_MIN or value > INT32_MAX:
        raise AssertionError("gemmlowp arithmetic left int32")
    return value


def _srdhm(a: int, b: int) -> int:
    return int(srdhm(a, b))


def _rdbpot(x: int, exponent: int) -> int:
    return int(rdbpot(x, exponent))


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
    multiplier = int(np.floor(float(q) * float(1 << 31) + 0.5))
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
    q4 = int(mbqm(value, multiplier, shift))
    if kind == "logistic":
        return int(min(max(_rdbpot(logistic_q4(q4), 23) - 128, -128), 127))
    return int(min(max(_rdbpot(tanh_q4(q4), 24), -128), 127))
