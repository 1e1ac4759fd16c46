"""The device arithmetic: the single written spec of what the generated C computes.

Every primitive the C calls is a function here under its C name (NAME_to_fixed is to_fixed), and its C twin is
templates/c/fixedpoint/<name>.h.j2, one function per file, line for line (tinygen/c_primitives.py lists them
and what each calls). tests/test_fixedpoint.py compiles every one of those templates and runs each against its
twin here on the same random and edge values (INT_MIN/MAX, +-0.5 ties, NaN, +-inf, subnormals); it fails for a
template without a twin. The simulator is built from these functions and plain integer adds and multiplies,
so the generated C and the simulator are one integer program written twice. What the host computes once to
make the program's constants (formats, multipliers, tables) is tinygen/qparams.py.

Rounding: every rounding to nearest in the device arithmetic goes half away from zero (to_fixed, rdbpot,
affine_quantize) or, on values that are never negative, half up, which is the same there (div_q15,
to_fixed_short, the rounding constants the quantizer folds into biases); the host rounds parameters with one
function, qparams.round_half_away.

Two exp2 approximations, on purpose (each lives with its op, step for step as its template):
  - ops/probability.py: 2**-x to 16 bits, a 65-entry uint16 table and linear interpolation (one 16 x 16
    multiply per class), for Q15 probabilities (2**-15 resolution);
  - ops/anomaly_score.py: 2**-x to 30 bits, a 16-entry uint32 table times a degree-4 polynomial in Q31 (five
    mul_hi_u32, each four 16 x 16 products), for IsolationForest scores in Q23.
The 16-bit one cannot reach Q23 (its interpolation alone errs by 2**-17); the 30-bit one would make every class
of a softmax five 32-bit products instead of one 16-bit product on an 8-bit MCU.
(float32 programs compute their activations' exp in float32: ops/activation.py, no fixed point.)

All functions work elementwise on numpy arrays; integers are carried in int64 (wide enough for every
product and accumulator tinygen emits: the ops' range analysis (ops/dense.py) keeps 64-bit accumulators below
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


INT32_MIN, INT32_MAX = int_range(32)


def pow2_f32(frac_bits) -> np.ndarray:
    """2**frac_bits as float32: exact, because frac_bits stays in [FRAC_BITS_MIN, FRAC_BITS_MAX]."""
    frac_bits = np.asarray(frac_bits, dtype=np.int64)
    if np.any(frac_bits < FRAC_BITS_MIN) or np.any(frac_bits > FRAC_BITS_MAX):
        raise ValueError(f"frac_bits outside [{FRAC_BITS_MIN}, {FRAC_BITS_MAX}]")
    return np.ldexp(np.float32(1.0), frac_bits.astype(np.int32)).astype(np.float32)


def sat_i32(value, lo, hi) -> np.ndarray:
    """value clamped to [lo, hi], int32 values and bounds. C: NAME_sat_i32."""
    return np.clip(np.asarray(value, dtype=np.int64), lo, hi)


def sat_i64(value, lo, hi) -> np.ndarray:
    """value clamped to [lo, hi], int64 values and bounds. C: NAME_sat_i64."""
    return np.clip(np.asarray(value, dtype=np.int64), lo, hi)


def saturate(value, bits: int) -> np.ndarray:
    """Clamp integers to the range of a `bits`-bit signed integer (sat_i64 with that range)."""
    return sat_i64(value, *int_range(bits))


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
    raw = float_bits(x)
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


def round_right_u24(m, u) -> np.ndarray:
    """((m >> u) + 1) >> 1 for a float's 24-bit mantissa m (bits 24..31 ignored) and u in [0, 23]: to_fixed's
    right-shift case. C: NAME_round_right_u24, AVR only (MUL by 2^(-u mod 8), then whole bytes dropped)."""
    u = np.asarray(u, dtype=np.int64)
    if np.any(u < 0) or np.any(u > 23):
        raise ValueError("round_right_u24: u must be in [0, 23]")
    return (((np.asarray(m, dtype=np.int64) & 0xFFFFFF) >> u) + 1) >> 1


def float_bits(x) -> np.ndarray:
    """The raw bits of float32 values, as int64 in [0, 2**32)."""
    return np.array(x, dtype=np.float32).view(np.uint32).astype(np.int64)  # a copy, so any shape views


def bits(x) -> np.ndarray:
    """The raw bits of the float32 *x (uint32). C: NAME_bits (the trees' raw-bits tests read them)."""
    return float_bits(x)


def order_key(x, nan_key=INT32_MAX) -> np.ndarray:
    """The order key of float32 values (int32 values in int64): bits for x >= +0.0, bits ^ 0x7FFFFFFF =
    -(bits & 0x7FFFFFFF) - 1 for negative x (-0.0 -> -1), so keys order as the floats do; NaN (any payload,
    either sign) -> nan_key. C: NAME_order_key, which tells sign, infinity and NaN from the top byte first."""
    raw = float_bits(x)
    magnitude = raw & 0x7FFFFFFF
    keys = np.where(raw >> 31 != 0, -magnitude - 1, magnitude)
    return np.where(magnitude > 0x7F800000, np.asarray(nan_key, dtype=np.int64), keys)


def to_fixed_short(bits, exponent, frac_bits, limit) -> np.ndarray:
    """to_fixed's magnitude for a normal number (exponent 1..254) and a limit of at most 2**15 (results of at
    most 16 bits), from the float's bits with 8- and 16-bit operations only (AVR shifts a uint32_t one bit a
    loop step). With right = 149 - exponent - frac_bits the magnitude is ((mantissa >> right) + 1) >> 1:
      right < 8:   at least 2**15, so the limit          right >= 24: 0 (below one half)
      right >= 16: from the mantissa's top 8 bits (the implicit 1 and bits 22..16), shifted by right - 16
      otherwise:   from its top 16 bits, shifted by right - 8
    each rounded half up as (v >> 1) + (v & 1), which cannot wrap, then clamped to limit.
    C: NAME_to_fixed_short(bits, exponent, frac_bits, limit), line for line."""
    bits = np.asarray(bits, dtype=np.int64)
    right = 149 - np.asarray(exponent, dtype=np.int64) - np.asarray(frac_bits, dtype=np.int64)
    limit = np.asarray(limit, dtype=np.int64)
    top8 = ((bits >> 16) & 0xFF) | 0x80
    shifted8 = top8 >> np.clip(right - 16, 0, 7)
    top16 = (top8 << 8) | ((bits >> 8) & 0xFF)
    shifted16 = top16 >> np.clip(right - 8, 0, 15)
    magnitude = np.where(right >= 16, (shifted8 >> 1) + (shifted8 & 1), (shifted16 >> 1) + (shifted16 & 1))
    magnitude = np.minimum(magnitude, limit)
    return np.where(right < 8, limit, np.where(right >= 24, 0, magnitude)).astype(np.int64)


def _rare(raw) -> np.ndarray:
    """True for the floats the 8- and 16-bit conversions send straight to 0: zero, subnormals and NaN."""
    exponent = (raw >> 23) & 0xFF
    return (exponent == 0) | ((exponent == 0xFF) & ((raw & 0x7FFFFF) != 0))


def to_fixed_i16(x, frac_bits) -> np.ndarray:
    """to_fixed(x, frac_bits, 16) for frac_bits in [FRAC_BITS_MIN, FRAC_BITS_MAX], through to_fixed_short: zero,
    subnormals (|x| 2**frac_bits < 2**-26 < 1/2) and NaN give 0; +-inf (exponent 255) saturate in to_fixed_short
    (right < 8). C: NAME_to_fixed_i16, line for line (the q15 input conversion)."""
    raw = float_bits(x)
    negative = (raw >> 31) != 0
    magnitude = to_fixed_short(raw, (raw >> 23) & 0xFF, frac_bits, np.where(negative, 32768, 32767))
    return np.where(_rare(raw), 0, np.where(negative, -magnitude, magnitude))


def to_fixed_i8(x, frac_bits) -> np.ndarray:
    """to_fixed(x, frac_bits, 8) for frac_bits in [FRAC_BITS_MIN, FRAC_BITS_MAX] in 8-bit arithmetic (q7 inputs).
    With the top byte (sign, exponent bits 7..1) and the next (exponent bit 0, mantissa bits 22..16),
    t = exponent + frac_bits - 126:
      t < 0: 0 (below one half)      t > 7: the limit (127, or 128 for negatives; +-inf land here)
      else product = (next | 0x80) * 2**t (one 8 x 8 multiply, a table of powers of two): its high byte is the
      magnitude's floor and bit 7 of its low byte the rounding bit, so magnitude = (product >> 8) +
      ((product & 0xFF) >> 7), clamped to the limit
    zero, subnormals and NaN give 0, as in to_fixed_i16. C: NAME_to_fixed_i8, line for line."""
    raw = float_bits(x)
    top, following = raw >> 24, (raw >> 16) & 0xFF
    exponent = ((top << 1) & 0xFF) | (following >> 7)
    negative = (top & 0x80) != 0
    limit = np.where(negative, 128, 127)
    t = exponent + np.asarray(frac_bits, dtype=np.int64) - 126
    product = (following | 0x80) << np.clip(t, 0, 7)
    magnitude = np.minimum((product >> 8) + ((product & 0xFF) >> 7), limit)
    magnitude = np.where(t < 0, 0, np.where(t > 7, limit, magnitude))
    return np.where(_rare(raw), 0, np.where(negative, -magnitude, magnitude))


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
    nan = (float_bits(x) & 0x7FFFFFFF) > 0x7F800000
    wide = to_fixed(x, frac_bits, wide_bits)
    return np.where(nan, 0, saturate(wide - np.asarray(offset_q, dtype=np.int64), bits)).astype(np.int64)


def to_fixed_offset_fast(x, frac_bits, offset_q, bits: int, wide_bits: int = WIDE_BITS) -> np.ndarray:
    """to_fixed_offset with AVR's common case apart: a normal float whose value shifts right (right = 149 -
    exponent - frac_bits in [0, 23]) gets its magnitude from round_right_u24, zero and subnormals give 0 where
    frac_bits <= 125; the rest (NaN, +-inf, values that shift left or round to 0) takes to_fixed_offset. The same
    integers as to_fixed_offset (tested on every edge). C: NAME_to_fixed_offset_fast, line for line on AVR (the
    other cores call NAME_to_fixed_offset)."""
    raw = float_bits(x)
    exponent = (raw >> 23) & 0xFF
    frac_bits = np.asarray(frac_bits, dtype=np.int64)
    right = 149 - exponent - frac_bits
    normal = (exponent != 0) & (exponent != 0xFF) & (right >= 0) & (right <= 23)
    tiny = (exponent == 0) & (frac_bits <= 125)
    magnitude = np.where(normal, round_right_u24(raw | 0x800000, np.clip(right, 0, 23)), 0)
    wide_lo, wide_hi = int_range(wide_bits)
    wide = np.where((raw >> 31) != 0, np.maximum(-magnitude, wide_lo), np.minimum(magnitude, wide_hi))
    fast = saturate(wide - np.asarray(offset_q, dtype=np.int64), bits)
    return np.where(normal | tiny, fast, to_fixed_offset(x, frac_bits, offset_q, bits, wide_bits)).astype(np.int64)


def to_fixed_offset_i8(x, frac_bits, offset_q) -> np.ndarray:
    """to_fixed_offset(x, frac_bits, offset_q, 8, 16) in 16-bit arithmetic for normal numbers (q7 inputs with a
    16-bit wide range): the wide value +-to_fixed_short(...) is compared with offset_q + 127 and offset_q - 128
    (both fit int16: |offset_q| <= 2**14) before the difference, which then fits int8; zero, subnormals,
    infinities and NaN take to_fixed_offset. C: NAME_to_fixed_offset_i8, line for line."""
    raw = float_bits(x)
    high = raw >> 16
    exponent = (high >> 7) & 0xFF
    negative = (high >> 15) != 0
    magnitude = to_fixed_short(raw, np.clip(exponent, 1, 254), frac_bits, np.where(negative, 32768, 32767))
    wide = np.where(negative, -magnitude, magnitude)
    offset_q = np.asarray(offset_q, dtype=np.int64)
    narrow = np.where(wide >= offset_q + 127, 127, np.where(wide <= offset_q - 128, -128, wide - offset_q))
    rare = (exponent == 0) | (exponent == 0xFF)
    return np.where(rare, to_fixed_offset(x, frac_bits, offset_q, 8, 16), narrow).astype(np.int64)


def dequantize(q, scale: float) -> np.ndarray:
    """Integer score -> float32: float32(q) * float32(scale), both steps IEEE float32 as in the C
    (`(float)q * scale`); q is an int32 score, so the int -> float32 rounding is a single rounding."""
    q32 = np.asarray(q, dtype=np.int64).astype(np.float64).astype(np.float32)
    return (q32 * np.float32(scale)).astype(np.float32)


def from_fixed(q, frac_bits: int) -> np.ndarray:
    """Fixed point -> float32: dequantize with the exact power of two 2**-frac_bits."""
    return dequantize(q, float(pow2_f32(-frac_bits)))


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


# ---- the MAC kernels: w in flash, x in RAM, at most 255 terms a call (dense, fully_connected) ----------------
def _mac(acc, w, x, count: int, acc_bits: int) -> np.ndarray:
    """acc + sum_i w[i] * x[i] over the first `count` terms of the last axis, in order; every partial sum must
    stay in an acc_bits accumulator (the caller's range analysis proves it, and this spec refuses otherwise)."""
    if not 1 <= count <= 255:
        raise ValueError("a MAC kernel takes 1 to 255 terms")
    terms = np.asarray(w, dtype=np.int64)[..., :count] * np.asarray(x, dtype=np.int64)[..., :count]
    partial = np.asarray(acc, dtype=np.int64)[..., None] + np.cumsum(terms, axis=-1)
    lo, hi = int_range(acc_bits)
    if np.any(partial < lo) or np.any(partial > hi):
        raise AssertionError(f"a MAC's partial sum leaves int{acc_bits} (the range analysis is wrong)")
    return partial[..., -1]


def mac_i8_i32(acc, w, x, count: int) -> np.ndarray:
    """acc + sum_i w[i] * x[i], int8 w and x, int32 acc. C: NAME_mac_i8_i32 (on AVR a hand-scheduled loop of
    MULS and a sign-extended add, 13.5 cycles a term; elsewhere the same sum in C)."""
    return _mac(acc, w, x, count, 32)


def mac_i8_i16(acc, w, x, count: int) -> np.ndarray:
    """acc + sum_i w[i] * x[i], int8 w and x, int16 acc. C: NAME_mac_i8_i16 (AVR: 12 cycles a term)."""
    return _mac(acc, w, x, count, 16)


def mac_i16_i32(acc, w, x, count: int) -> np.ndarray:
    """acc + sum_i w[i] * x[i], int16 w and x, int32 acc. C: NAME_mac_i16_i32 (AVR: each product from four
    8 x 8 multiplies added into the accumulator, 37 cycles a term)."""
    return _mac(acc, w, x, count, 32)


def mac2_i8(w, x, count: int) -> tuple[np.ndarray, np.ndarray]:
    """(sum_i w[2i] * x[i], sum_i w[2i+1] * x[i]): two rows whose int8 weights are stored interleaved, over the
    same int8 input, each loaded once. |sum| <= 255 * 128 * 128 < 2**23 whatever the values, so AVR keeps the sums
    in 24 bits. C: NAME_mac2_i8(w, x, count, &sum0, &sum1)."""
    w = np.asarray(w, dtype=np.int64)
    return _mac(0, w[..., 0::2], x, count, 24), _mac(0, w[..., 1::2], x, count, 24)


# ---- affine int8 (TFLM / CMSIS-NN): the default double-rounding requantization ------------------------------
REQUANTIZE_ROUNDING = "double (TFLM default): RDBPOT(SRDHM(x * 2^max(s,0), M), max(-s,0))"


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


def rdbpot_bytes(x, exponent, mask) -> np.ndarray:
    """rdbpot(x, exponent) with the caller's mask = 2**exponent - 1 (computed once for a loop of one exponent).
    C: NAME_rdbpot_bytes (on AVR the shift is byte moves plus at most 7 one-bit steps)."""
    exponent = np.asarray(exponent, dtype=np.int64)
    if np.any(np.asarray(mask, dtype=np.int64) != (np.int64(1) << exponent) - 1):
        raise ValueError("rdbpot_bytes: mask must be 2**exponent - 1")
    return rdbpot(x, exponent)


def rdbpot_16(x) -> np.ndarray:
    """rdbpot(x, 16) for x whose result fits int16 (the caller proves it; standardize's fixed shift).
    C: NAME_rdbpot_16, in 16-bit operations: the upper half plus 1 when the lower half is past the tie."""
    result = rdbpot(x, 16)
    if np.any(result < -(1 << 15)) or np.any(result >= (1 << 15)):
        raise ValueError("rdbpot_16: the result must fit int16")
    return result


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


def affine_quantize(x, scale, zero_point, q_min: int = -128, q_max: int = 127) -> np.ndarray:
    """TFLM's AffineQuantize of float32 x: clamp(round(x / scale) + zero_point, q_min, q_max), the division in
    float32 (IEEE, as `val / static_cast<float>(scale)`), round half away from zero (TfLiteRound = std::round).
    tinygen defines what TFLM leaves undefined (a float -> int cast out of range): NaN -> zero_point, and a
    quotient beyond +-2**16 clamps (for int8 and int16 ranges with a zero point inside the range, round and
    + zero_point could not land inside [q_min, q_max] there). The C rounds without libm: t = (int32_t)quotient
    truncates, then +-1 when |quotient - t| >= 0.5 (exact: the fraction of a float32 is a float32). `scale` and `zero_point` broadcast along the last axis (one per feature).
    C: NAME_affine_quantize, line for line."""
    x = np.asarray(x, dtype=np.float32)
    scale = np.asarray(scale, dtype=np.float32)
    zero_point = np.asarray(zero_point, dtype=np.int64)
    with np.errstate(all="ignore"):
        quotient = (x / scale).astype(np.float32)
        nan = np.isnan(quotient)
        high = quotient >= np.float32(65536.0)
        low = quotient <= np.float32(-65536.0)
        safe = np.where(nan | high | low, np.float32(0.0), quotient).astype(np.float32)
        truncated = np.trunc(safe).astype(np.int64)
        frac = (safe - truncated.astype(np.float32)).astype(np.float32)
    rounded = truncated + (frac >= np.float32(0.5)) - (frac <= np.float32(-0.5))
    value = np.clip(rounded + zero_point, q_min, q_max)
    value = np.where(high, q_max, np.where(low, q_min, value))
    return np.where(nan, np.clip(zero_point, q_min, q_max), value).astype(np.int64)


# ---- predict_proba's division (ops/probability.py) ------------------------------------------------------------
PROBA_FRAC_BITS = 15  # probabilities in Q15: p * 32768
SUM_BITS = 31  # the sum of the terms stays below 2**31, so the division's 2 r fits uint32


def div_q15(e, total) -> np.ndarray:
    """round(e 2**15 / total) half up, for 0 <= e <= total < 2**31 (total > 0): e == total gives 2**15; otherwise
    the C runs 16 steps of restoring division (r = e; q = 0; 16 times: r <<= 1, q <<= 1, if r >= total: r -= total,
    q |= 1; r < total keeps 2 r < 2**32), which leaves q = floor(e 2**16 / total) < 2**16, and returns
    (q + 1) >> 1 = floor(e 2**15 / total + 1/2), exactly; here the same floor directly. C: NAME_div_q15."""
    e = np.asarray(e, dtype=np.int64)
    total = np.asarray(total, dtype=np.int64)
    if np.any(e < 0) or np.any(e > total) or np.any(total <= 0) or np.any(total >= 1 << SUM_BITS):
        raise ValueError("div_q15 takes 0 <= e <= total, 0 < total < 2**31")
    q = (e << 16) // total
    return np.where(e == total, 1 << PROBA_FRAC_BITS, (q + 1) >> 1)


# ---- window statistics (ops/features/statistics.py) -------------------------------------------------------
ISQRT_MAX_BYTES = 7  # radicands below 2**56: the root < 2**28, so 4 root and the remainder's 4 rem + 3 fit uint32


def isqrt_u64(v, radicand_bytes) -> np.ndarray:
    """round(sqrt(v)) for integers 0 <= v < 2**(8 radicand_bytes), radicand_bytes in [1, 7]; a tie cannot occur
    (sqrt(v) = r + 1/2 would make v = r**2 + r + 1/4). The C takes v's bytes from the top, two bits a step
    (4 radicand_bytes steps), keeping t = 4 r and rem = (v's bits so far) - r**2 <= 2 r: with the next two bits
    rem' = 4 rem + bits, the root's next bit is 1 when rem' > t (then rem' -= t + 1, t = 2 t + 4; else t = 2 t);
    at the end r = t / 4 = floor(sqrt(v)), rem = v - r**2, and rem > r (v >= r**2 + r + 1) rounds up. Every value
    stays below 2**31. Here the same floor from float64 sqrt, corrected by one either way (exact: v < 2**56).
    C: NAME_isqrt_u64(v, radicand_bytes)."""
    v = np.asarray(v, dtype=np.int64)
    radicand_bytes = np.asarray(radicand_bytes, dtype=np.int64)
    if np.any(radicand_bytes < 1) or np.any(radicand_bytes > ISQRT_MAX_BYTES) or np.any(v < 0) \
            or np.any(v >= np.int64(1) << (8 * radicand_bytes)):
        raise ValueError("isqrt_u64 takes 0 <= v < 2**(8 radicand_bytes), radicand_bytes in [1, 7]")
    root = np.floor(np.sqrt(v.astype(np.float64))).astype(np.int64)
    root = np.where(root * root > v, root - 1, root)
    root = np.where((root + 1) * (root + 1) <= v, root + 1, root)
    return root + (v - root * root > root)


def div_reciprocal_u32(n, multiplier, post_shift, add_back) -> np.ndarray:
    """floor(n / d) for uint32 n by a constant d's reciprocal (the host proves multiplier and post_shift for d:
    ops/features/statistics.py, reciprocal): t = mul_hi_u32(n, multiplier), then t >> post_shift, or, with add_back
    (a 33-bit multiplier 2^32 + multiplier), (t + ((n - t) >> 1)) >> post_shift (t <= n, so nothing leaves uint32).
    The C takes n and the multiplier in 16-bit halves typed as such, so that avr-gcc multiplies 16 x 16 -> 32 (one
    short libgcc routine a product, not __mulsi3). C: NAME_div_reciprocal_u32, line for line."""
    n = np.asarray(n, dtype=np.int64)
    if np.any(n < 0) or np.any(n >= 1 << 32) or np.any(np.asarray(post_shift) < 0) or np.any(np.asarray(post_shift) > 31):
        raise ValueError("div_reciprocal_u32 takes n in [0, 2**32) and post_shift in [0, 31]")
    t = mul_hi_u32(n, multiplier)
    return np.where(np.asarray(add_back, dtype=bool), t + ((n - t) >> 1), t) >> post_shift


# ---- window_fft_bands (ops/features/fft_bands.py): the log2 of a band energy --------------------------------
LOG2_FRAC_BITS = 16  # log2_u32 returns log2(v) in Q16
# round(2**16 log2(1 + j / 32)), j = 0..32 (uint16, no entry a tie); the last, 2**16, is stored as 0 (mod 2**16):
# the interpolation takes table[j + 1] - table[j] mod 2**16, which is exact (every step is below 2**12)
LOG2_TABLE = (0, 2909, 5732, 8473, 11136, 13727, 16248, 18704, 21098, 23433, 25711, 27936, 30109, 32234, 34312,
              36346, 38336, 40286, 42196, 44068, 45904, 47705, 49472, 51207, 52911, 54584, 56229, 57845, 59434, 60997,
              62534, 64047, 0)

def mul_i16_i32(a, b) -> np.ndarray:
    """a * b, exact in int32, for int16 a and b (the FFT's twiddle products, windowing and squares).
    C: NAME_mul_i16_i32 (on AVR four 8 x 8 multiplies inline, about 20 cycles; elsewhere the C product)."""
    a = np.asarray(a, dtype=np.int64)
    b = np.asarray(b, dtype=np.int64)
    if np.any((a < -(1 << 15)) | (a >= 1 << 15) | (b < -(1 << 15)) | (b >= 1 << 15)):
        raise ValueError("mul_i16_i32 takes int16 values")
    return a * b


def mul_i16_u16_i32(a, b) -> np.ndarray:
    """a * b, exact in int32 (|a b| <= 2**15 (2**16 - 1)), for int16 a and uint16 b (standardize's scaling).
    C: NAME_mul_i16_u16_i32 (on AVR four 8 x 8 multiplies inline, about 20 cycles; elsewhere the C product)."""
    a = np.asarray(a, dtype=np.int64)
    b = np.asarray(b, dtype=np.int64)
    if np.any((a < -(1 << 15)) | (a >= 1 << 15) | (b < 0) | (b >= 1 << 16)):
        raise ValueError("mul_i16_u16_i32 takes an int16 and a uint16")
    return a * b


def butterflies_q15(a_re, a_im, b_re, b_im, c, s) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The radix-2 butterfly that halves: ((a + b W) / 2, (a - b W) / 2) for complex int16 a, b and W = (c - i s)
    2^-15 (c, s in [-2^15, 2^15]: 2^15 stands for an exact 1), each component rounded half up once:
      t = b W 2^15 = (b_re c + b_im s, b_im c - b_re s)        int32
      a' = (a 2^15 + 2^15 + t) >> 16,  b' = (a 2^15 + 2^15 - t) >> 16
    The caller proves |a| and |b| (moduli) small enough that every sum stays in int32 (|t| <= |b| |W| 2^15 by
    Cauchy-Schwarz); this spec refuses otherwise. C: NAME_butterflies_q15(a, b, c, s, count, stride), count such
    butterflies with one twiddle on (re, im) pairs in place (a, b, then a + 2 stride, b + 2 stride, ...); elementwise
    here. On AVR an assembly loop (about 150 cycles a butterfly) that computes the same floors (see its comment)."""
    a_re, a_im, b_re, b_im, c, s = (np.asarray(v, dtype=np.int64) for v in (a_re, a_im, b_re, b_im, c, s))
    t_re = b_re * c + b_im * s
    t_im = b_im * c - b_re * s
    base_re, base_im = a_re * (1 << 15) + (1 << 15), a_im * (1 << 15) + (1 << 15)
    sums = [base_re + t_re, base_im + t_im, base_re - t_re, base_im - t_im, t_re, t_im]
    if any(np.any((v < INT32_MIN) | (v > INT32_MAX)) for v in sums):
        raise AssertionError("butterflies_q15: a sum leaves int32 (the range analysis is wrong)")
    return sums[0] >> 16, sums[1] >> 16, sums[2] >> 16, sums[3] >> 16


def log2_u32(v) -> np.ndarray:
    """log2(v) in Q16 for v in [1, 2**32) (0 gives 0, as 1 does), from the leading bit and a table, with shifts of
    whole bytes only (AVR shifts a uint32_t one bit per loop):
      b = the leading bit's position (0..31); t = the top 16 bits of v << (31 - b), in [2**15, 2**16)
      j = (t >> 10) & 31, r = (t >> 2) & 255     v's 13 bits after the leading one (t 2**(b-15) <= v, truncated)
      l = T[j] 2**8 + ((T[j+1] - T[j]) mod 2**16) r    Q24: the linear interpolation of 2**16 log2(1 + f) between
                                                 the table's points (T = LOG2_TABLE; l < 2**24 + 2**20, exact)
      result = b 2**16 + (l + 2**7) >> 8          in [0, 32 2**16], never decreasing in v
    |result 2**-16 - log2 v| <= 3.6e-4 (ops/features/fft_bands.py computes the bound over every t).
    C: NAME_log2_u32, line for line (the leading bit found a byte at a time first, then a bit at a time)."""
    v = np.maximum(np.asarray(v, dtype=np.int64), 1)
    if np.any(v >= 1 << 32):
        raise ValueError("log2_u32 takes values below 2**32")
    lead = np.zeros_like(v)
    for step in (16, 8, 4, 2, 1):  # the leading bit's position by halving (the C shifts instead)
        above = (v >> (lead + step)) != 0
        lead = lead + np.where(above, step, 0)
    t = ((v << (31 - lead)) >> 16) & 0xFFFF
    j, r = (t >> 10) & 31, (t >> 2) & 255
    table = np.asarray(LOG2_TABLE, dtype=np.int64)
    interpolated = (table[j] << 8) + ((table[j + 1] - table[j]) & 0xFFFF) * r
    return (lead << LOG2_FRAC_BITS) + ((interpolated + (1 << 7)) >> 8)
