/* The libgcc helpers that Debian's xtensa-lx106 libgcc leaves out because the ESP8266's ROM provides them
 * (its SDK links them from the ROM): 64-bit multiply, 32-bit division, and the single-precision add,
 * subtract, multiply and int-to-float conversions. Bare-metal firmware under QEMU has no ROM, so the test
 * firmware links these instead.
 *
 * IEEE 754 binary32 with round to nearest, ties to even, subnormals kept (as x86 SSE and numpy compute, so
 * that a float32 model equals the simulator bit for bit); a NaN operand comes back quieted (the first one
 * when both are NaN), an invalid operation (inf - inf, 0 * inf) gives the default NaN 0x7fc00000.
 * Nothing here uses a 64-bit multiply, a division or float arithmetic itself: the compiler would call the
 * helper being defined. tests/test_target_xtensa.py runs every function on the host against the host's
 * own arithmetic (TG_HELPER renames them there).
 */
#include <stdint.h>
#include <string.h>

#ifndef TG_HELPER
#define TG_HELPER(name) name
#endif

/* One stack frame per helper (they run inside the model's measured call, whose stack is reported). */
#define INLINE __attribute__((always_inline)) inline

#define SIGN_BIT 0x80000000u
#define EXP_MASK 0x7f800000u
#define FRAC_MASK 0x007fffffu
#define DEFAULT_NAN 0x7fc00000u
#define QUIET_BIT 0x00400000u

float TG_HELPER(__addsf3)(float a, float b);
float TG_HELPER(__subsf3)(float a, float b);
float TG_HELPER(__mulsf3)(float a, float b);
float TG_HELPER(__floatsisf)(int32_t a);
float TG_HELPER(__floatunsisf)(uint32_t a);
int64_t TG_HELPER(__muldi3)(int64_t a, int64_t b);
uint32_t TG_HELPER(__udivsi3)(uint32_t n, uint32_t d);
uint32_t TG_HELPER(__umodsi3)(uint32_t n, uint32_t d);
int32_t TG_HELPER(__divsi3)(int32_t n, int32_t d);

static INLINE uint32_t bits_of(float value)
{
    uint32_t bits;
    memcpy(&bits, &value, sizeof bits);
    return bits;
}

static INLINE float float_of(uint32_t bits)
{
    float value;
    memcpy(&value, &bits, sizeof value);
    return value;
}

static INLINE int leading_zeros(uint32_t value) /* value != 0 */
{
    int n = 0;
    while (!(value & SIGN_BIT)) {
        value <<= 1;
        n++;
    }
    return n;
}

/* value >> shift, with a 1 in bit 0 if any bit shifted out was 1 (the sticky bit of rounding). */
static INLINE uint32_t shift_right_jam(uint32_t value, int shift)
{
    if (shift <= 0) {
        return value;
    }
    if (shift >= 32) {
        return value != 0;
    }
    return (value >> shift) | ((value << (32 - shift)) != 0);
}

/* sign * (sig / 2^30) * 2^(exp - 127), sig in [2^30, 2^31), rounded to binary32: 7 bits below the 23
 * fraction bits decide the rounding. A subnormal result is shifted to exponent 1 first; adding the
 * rounded significand (with its leading bit) to (exp - 1) << 23 carries into the exponent on its own, up to
 * infinity. */
static INLINE float round_pack(uint32_t sign, int exp, uint32_t sig)
{
    uint32_t round_bits;
    if (exp >= 255) {
        return float_of(sign | EXP_MASK);
    }
    if (exp <= 0) {
        sig = shift_right_jam(sig, 1 - exp);
        exp = 1;
    }
    round_bits = sig & 0x7fu;
    sig = (sig + 0x40u) >> 7;
    if (round_bits == 0x40u) {
        sig &= ~1u; /* a tie: to even */
    }
    return float_of(sign | (((uint32_t)(exp - 1) << 23) + sig));
}

/* The NaN result of an operation with a NaN operand (0 when neither is one). */
static INLINE uint32_t nan_result(uint32_t a, uint32_t b)
{
    if ((a & ~SIGN_BIT) > EXP_MASK) {
        return a | QUIET_BIT;
    }
    if ((b & ~SIGN_BIT) > EXP_MASK) {
        return b | QUIET_BIT;
    }
    return 0;
}

/* The significand of a finite binary32 with its leading bit, and its exponent (a subnormal's: 1). */
static INLINE uint32_t unpack(uint32_t bits, int *exp)
{
    int field = (int)((bits & EXP_MASK) >> 23);
    *exp = field ? field : 1;
    return (bits & FRAC_MASK) | (field ? 0x00800000u : 0u);
}

static INLINE float add_bits(uint32_t a, uint32_t b)
{
    uint32_t nan = nan_result(a, b);
    uint32_t sig_a, sig_b, swap;
    int exp_a, exp_b, shift;
    if (nan) {
        return float_of(nan);
    }
    if ((a & ~SIGN_BIT) < (b & ~SIGN_BIT)) { /* a: the larger magnitude, whose sign the result takes */
        swap = a;
        a = b;
        b = swap;
    }
    if ((a & ~SIGN_BIT) == EXP_MASK) { /* infinity: inf - inf is invalid */
        return float_of(((b & ~SIGN_BIT) == EXP_MASK && (a ^ b) & SIGN_BIT) ? DEFAULT_NAN : a);
    }
    if (!(a & ~SIGN_BIT)) { /* both zero: -0 only for -0 + -0 */
        return float_of(a & b);
    }
    sig_a = unpack(a, &exp_a) << 6; /* leading bit at 29: room for the carry of an addition */
    sig_b = unpack(b, &exp_b) << 6;
    sig_b = shift_right_jam(sig_b, exp_a - exp_b);
    sig_a = ((a ^ b) & SIGN_BIT) ? sig_a - sig_b : sig_a + sig_b;
    if (!sig_a) {
        return float_of(0); /* exact cancellation: +0 */
    }
    shift = leading_zeros(sig_a) - 1;
    return round_pack(a & SIGN_BIT, exp_a + 1 - shift, sig_a << shift);
}

float TG_HELPER(__addsf3)(float a, float b)
{
    return add_bits(bits_of(a), bits_of(b));
}

float TG_HELPER(__subsf3)(float a, float b)
{
    uint32_t b_bits = bits_of(b);
    if ((b_bits & ~SIGN_BIT) > EXP_MASK) { /* a NaN keeps its sign */
        return add_bits(bits_of(a), b_bits);
    }
    return add_bits(bits_of(a), b_bits ^ SIGN_BIT);
}

/* 32 x 32 -> 64 bits from four 16 x 16 products (no 64-bit multiply). */
static INLINE uint64_t wide_product(uint32_t a, uint32_t b)
{
    uint32_t low = (a & 0xffffu) * (b & 0xffffu);
    uint32_t mid_a = (a >> 16) * (b & 0xffffu);
    uint32_t mid_b = (a & 0xffffu) * (b >> 16);
    uint64_t high = (uint64_t)((a >> 16) * (b >> 16)) << 32;
    return high + ((uint64_t)mid_a << 16) + ((uint64_t)mid_b << 16) + low;
}

float TG_HELPER(__mulsf3)(float a, float b)
{
    uint32_t a_bits = bits_of(a), b_bits = bits_of(b);
    uint32_t sign = (a_bits ^ b_bits) & SIGN_BIT;
    uint32_t nan = nan_result(a_bits, b_bits);
    uint32_t sig_a, sig_b, sig;
    uint64_t product;
    int exp_a, exp_b, shift;
    if (nan) {
        return float_of(nan);
    }
    if ((a_bits & ~SIGN_BIT) == EXP_MASK || (b_bits & ~SIGN_BIT) == EXP_MASK) { /* 0 * inf is invalid */
        return float_of(!(a_bits & ~SIGN_BIT) || !(b_bits & ~SIGN_BIT) ? DEFAULT_NAN : sign | EXP_MASK);
    }
    if (!(a_bits & ~SIGN_BIT) || !(b_bits & ~SIGN_BIT)) {
        return float_of(sign);
    }
    sig_a = unpack(a_bits, &exp_a);
    sig_b = unpack(b_bits, &exp_b);
    shift = leading_zeros(sig_a) - 8; /* subnormals: leading bit to 23 */
    sig_a <<= shift;
    exp_a -= shift;
    shift = leading_zeros(sig_b) - 8;
    sig_b <<= shift;
    exp_b -= shift;
    product = wide_product(sig_a, sig_b); /* in [2^46, 2^48) */
    shift = product >= ((uint64_t)1 << 47);
    sig = (uint32_t)(product >> (16 + shift)) | ((product & ((((uint64_t)1) << (16 + shift)) - 1)) != 0);
    return round_pack(sign, exp_a + exp_b - 127 + shift, sig);
}

static INLINE float from_magnitude(uint32_t sign, uint32_t magnitude)
{
    int zeros;
    if (!magnitude) {
        return float_of(0);
    }
    zeros = leading_zeros(magnitude);
    return round_pack(sign, 127 + 31 - zeros,
                      zeros ? magnitude << (zeros - 1) : shift_right_jam(magnitude, 1));
}

float TG_HELPER(__floatsisf)(int32_t a)
{
    return from_magnitude(a < 0 ? SIGN_BIT : 0u, a < 0 ? 0u - (uint32_t)a : (uint32_t)a);
}

float TG_HELPER(__floatunsisf)(uint32_t a)
{
    return from_magnitude(0u, a);
}

/* The low 64 bits of the product (the same for signed and unsigned operands). */
int64_t TG_HELPER(__muldi3)(int64_t a, int64_t b)
{
    uint64_t ua = (uint64_t)a, ub = (uint64_t)b;
    uint32_t cross = (uint32_t)ua * (uint32_t)(ub >> 32) + (uint32_t)(ua >> 32) * (uint32_t)ub;
    return (int64_t)(wide_product((uint32_t)ua, (uint32_t)ub) + ((uint64_t)cross << 32));
}

/* Restoring division, one quotient bit per step (d != 0; division by 0 gives all ones, as the ROM's). */
static INLINE uint32_t divide(uint32_t n, uint32_t d, uint32_t *remainder)
{
    uint32_t quotient = 0, rest = 0;
    int bit;
    for (bit = 31; bit >= 0; bit--) {
        rest = (rest << 1) | ((n >> bit) & 1u);
        if (rest >= d) {
            rest -= d;
            quotient |= 1u << bit;
        }
    }
    *remainder = rest;
    return d ? quotient : 0xffffffffu;
}

uint32_t TG_HELPER(__udivsi3)(uint32_t n, uint32_t d)
{
    uint32_t rest;
    return divide(n, d, &rest);
}

uint32_t TG_HELPER(__umodsi3)(uint32_t n, uint32_t d)
{
    uint32_t rest;
    (void)divide(n, d, &rest);
    return rest;
}

int32_t TG_HELPER(__divsi3)(int32_t n, int32_t d)
{
    uint32_t rest;
    uint32_t magnitude = divide(n < 0 ? 0u - (uint32_t)n : (uint32_t)n, d < 0 ? 0u - (uint32_t)d : (uint32_t)d, &rest);
    return (int32_t)(((n < 0) != (d < 0)) ? 0u - magnitude : magnitude);
}
