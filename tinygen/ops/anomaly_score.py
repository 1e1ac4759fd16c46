"""anomaly_score: IsolationForest's score_samples and decision_function from the tree sum, integers only.

The tree op (tree_ensemble) outputs s = d_q + bias in int32, where d_q = round-per-leaf(d * 2**f) is the
summed path length d in 2**f fixed point (f = the trees' leaf_frac_bits; every leaf >= 0) and bias is
-round(d* * 2**f), so that predict is `s >= 0` (scikit-learn's decision_function >= 0, unchanged here).
This op maps s to
    score_q    = -round(2**(-d_q 2**-f / D) * 2**k)            score_samples    = score_q * 2**-k
    decision_q = score_q - offset_q, offset_q = round(offset_ 2**k)   decision_function = decision_q * 2**-k
with D = n_trees * c(max_samples), k = out_frac_bits (23), in uint32/int32 arithmetic only: no 64-bit
integer, no float, no libm (the C multiplies with fixedpoint.mul_hi_u32, four 16 x 16 products). Steps,
each a line of `forward` and of templates/c/anomaly_score.c.j2 (values are uint32 unless said):
  1. d = s - bias (mod 2**32)               = d_q in [0, d_max], d_max = sum of the largest leaves <= 2**31 - 1
                                              (tree_ensemble keeps |bias| + sum max|leaf| <= INT32_MAX)
  2. e = mul_hi_u32(d, mul) >> e_shift      e = d/D in Q(F), F = e_frac_bits: mul = round(2**(32 + e_shift + F
                                              - f) / D) in [2**31, 2**32); e < 2**(31 - e_shift) (d < 2**31)
  3. n = e >> F, r = e & (2**F - 1)         2**-e = 2**-n * 2**(-j/16) * exp(-u) with
     j = r >> (F - 4)                       the top 4 bits of the fraction (table index, 0..15) and
     t = (r mod 2**(F-4)) << (36 - F)       the rest t/2**36 in [0, 1/16) (t < 2**32)
  4. u = mul_hi_u32(t, ln2_q32)             u = t/2**36 * ln 2 in Q36, < ln2/16 * 2**36 < 2**32
  5. h = c3 - (mul_hi_u32(u, c4) >> 4)      Horner in Q31 (u Q36 * h Q31 / 2**32 = Q35, >> 4 = Q31):
     h = c2 - (mul_hi_u32(u, h) >> 4)       exp(-u) ~ 1 - u(1 - u(1/2 - u(1/6 - u/24)));
     h = one - (mul_hi_u32(u, h) >> 4)      every bracket is in [0, 1], so h in [0, 2**31] and the
     h = one - (mul_hi_u32(u, h) >> 4)      subtrahends (< 2**27) never exceed what they are taken from
  6. y = mul_hi_u32(table[j], h)            2**(-j/16) * exp(-u) in Q30, table[j] = round(2**(31 - j/16)) <= 2**31,
                                              so y <= 2**30
  7. n > k + 1: mag = 0                     y 2**-(30 - k + n) <= 2**30 / 2**32 = 1/4 rounds to 0; else, to Q(k)
     shift = 30 - k + n                     divided by 2**n and rounded half up (shift <= 31,
     mag = (y + 2**(shift-1)) >> shift      y + 2**(shift-1) <= 2**31)
  8. score_q = -mag in [-2**k, 0];  decision_q = score_q - offset_q in [-2**k, 2**k]  (int32)
|score_q|, |decision_q| <= 2**23 < 2**24, so the C's float results (float)q * 2**-23 are exact.

Error (proved term by term; error_bound() adds them up for a model and the tests hold it):
  - path lengths: each leaf is rounded to 2**-(f+1), so |d_q 2**-f - d| <= n_trees 2**-(f+1) and, as
    d/dd 2**(-d/D) <= ln2 / D, score_samples moves by <= ln2 / D * n_trees 2**-(f+1)
  - step 2: mul has relative error <= 2**-32 (>= 2**31, rounded), the floor loses < 2**-F:
    |e 2**-F - d/D| <= e_max 2**-32 + 2**-F, which moves 2**-e by <= ln 2 times that (2**-e <= 1)
  - steps 4-6: u is off by <= u 2**-32.5 + 2**-36 < 2**-35.9; the Taylor tail after u**4/24 is <= u**5/120
    <= (ln2/16)**5/120 < 2.74 * 2**-31; the four Horner floors (2**-31 each, earlier ones multiplied by
    u < 1/16) and c3, c4 (<= 2**-32 each) add < 1.07 * 2**-31: |h - exp(-u)| < 3.9 * 2**-31. Then
    table[j] (<= 2**-32) and the floor of y (< 2**-30): |y 2**-30 - 2**(-j/16) exp(-u)| < 3.25 * 2**-30;
    the factor 2**-n <= 1 only shrinks it
  - step 7 rounds to 2**-(k+1); decision_function adds the rounding of offset_q (<= 2**-(k+1))
With k = 23 and F = 28, e < 4 (the forests tried): score_samples within ~2**-23.7 of scikit-learn's,
decision_function within ~2**-22.9.
Ranges: input s is the tree op's int32 output (within its proven acc_bound); outputs int32 in [-2**23, 2**23].
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import ClassVar
from fractions import Fraction

import numpy as np

from ..errors import TinygenError
from ..fixedpoint import mul_hi_u32
from ..qparams import round_half_away
from .base import Op, QFormat

OUT_FRAC_BITS = 23  # |q| <= 2**23 < 2**24: q * 2**-23 is an exact float32
E_FRAC_BITS = 28  # e = d/D in Q28 unless the model needs fewer (large e)
TABLE_BITS = 4  # 2**(-j/16), j = the top 4 bits of e's fraction
U32 = 1 << 32
ONE_Q31 = 1 << 31
LN2_Q32 = int(round_half_away(math.log(2) * U32))
C2_Q31 = 1 << 30  # 1/2
C3_Q31 = round_half_away(Fraction(ONE_Q31, 6))
C4_Q31 = round_half_away(Fraction(ONE_Q31, 24))


@dataclass
class AnomalyScore(Op):
    """score_samples and decision_function of an IsolationForest from its tree sum (see the module doc)."""

    op = "anomaly_score"
    one_q31: ClassVar[int] = ONE_Q31  # the constants, for the template
    ln2_q32: ClassVar[int] = LN2_Q32
    c2_q31: ClassVar[int] = C2_Q31
    c3_q31: ClassVar[int] = C3_Q31
    c4_q31: ClassVar[int] = C4_Q31
    bias: int  # the tree op's bias (-round(d* 2**f)): d_q = s - bias
    d_max: int  # largest d_q (sum of the largest leaves), <= 2**31 - 1
    leaf_frac_bits: int  # f
    mul: int  # uint32 in [2**31, 2**32)
    e_shift: int  # 0..31
    e_frac_bits: int  # F, 8..28
    offset_q: int  # round(offset_ * 2**k), in [-2**k, 0]
    denominator: float  # D (for error_bound)
    n_trees: int
    out_frac_bits: int = OUT_FRAC_BITS
    table: list[int] | None = None  # round(2**(31 - j/16)), j = 0..15
    n_in: int = 1
    n_out: int = 2  # score_q, decision_q
    out_type: str = "int32"

    def out_format(self) -> QFormat:
        return QFormat("int32", int(self.out_frac_bits), rounding="half_away")

    def __post_init__(self):
        if self.table is None:
            self.table = [int(round_half_away(2.0 ** (31 - j / 2 ** TABLE_BITS))) for j in range(2 ** TABLE_BITS)]
        self.table = [int(v) for v in self.table]

    # ---- the simulator ---------------------------------------------------------------------------------
    def forward(self, s) -> np.ndarray:
        """[rows, 2] int64: (score_q, decision_q) from the tree sums s (int32 values)."""
        s = np.asarray(s, dtype=np.int64).reshape(-1)
        F = self.e_frac_bits
        d = (s - self.bias) % U32  # 1. the path-length sum d_q (in [0, d_max] for the tree op's s)
        e = mul_hi_u32(d, self.mul) >> self.e_shift  # 2. d / D in Q(F)
        n = e >> F  # 3. integer part
        r = e & ((1 << F) - 1)
        j = r >> (F - TABLE_BITS)
        t = (r & ((1 << (F - TABLE_BITS)) - 1)) << (36 - F)
        u = mul_hi_u32(t, LN2_Q32)  # 4. u = (t / 2**36) ln 2 in Q36
        h = C3_Q31 - (mul_hi_u32(u, C4_Q31) >> 4)  # 5. exp(-u) in Q31, Horner
        h = C2_Q31 - (mul_hi_u32(u, h) >> 4)
        h = ONE_Q31 - (mul_hi_u32(u, h) >> 4)
        h = ONE_Q31 - (mul_hi_u32(u, h) >> 4)
        y = mul_hi_u32(np.asarray(self.table, dtype=np.int64)[j], h)  # 6. 2**(-j/16) exp(-u) in Q30
        shift = 30 - self.out_frac_bits + np.minimum(n, self.out_frac_bits + 1)  # 7. to Q(k), times 2**-n,
        mag = np.where(n > self.out_frac_bits + 1, 0, (y + (np.int64(1) << (shift - 1))) >> shift)  # half up
        score = -mag  # 8.
        return np.stack([score, score - self.offset_q], axis=1)

    @property
    def scale(self) -> float:
        return 2.0 ** -self.out_frac_bits

    def error_bound(self) -> dict[str, float]:
        """Proven max |error| against scikit-learn's score_samples and decision_function (module doc)."""
        e_max = self.d_max * 2.0 ** -self.leaf_frac_bits / self.denominator
        path = math.log(2) / self.denominator * self.n_trees * 2.0 ** -(self.leaf_frac_bits + 1)
        e_step = math.log(2) * (e_max * 2.0 ** -32 + 2.0 ** -self.e_frac_bits)
        exp2 = 3.25 * 2.0 ** -30
        rounding = 2.0 ** -(self.out_frac_bits + 1)
        score = path + e_step + exp2 + rounding
        return {"score_samples": score, "decision_function": score + rounding}

    # ---- manifest ----------------------------------------------------------------------------------------
    def to_dict(self) -> dict:
        return {"op": self.op, "bias": int(self.bias), "d_max": int(self.d_max),
                "leaf_frac_bits": int(self.leaf_frac_bits), "mul": int(self.mul), "e_shift": int(self.e_shift),
                "e_frac_bits": int(self.e_frac_bits), "offset_q": int(self.offset_q),
                "denominator": float(self.denominator), "n_trees": int(self.n_trees),
                "out_frac_bits": int(self.out_frac_bits), "table": list(self.table),
                "ln2_q32": LN2_Q32, "c2_q31": C2_Q31, "c3_q31": C3_Q31, "c4_q31": C4_Q31,
                "error_bound": self.error_bound(),
                "compute": "score_q = -round(2^(-d/D) 2^k), d = s - bias: mul_hi_u32 steps, "
                           "tinygen/ops/anomaly_score.py; decision_q = score_q - offset_q"}

    @classmethod
    def from_dict(cls, data: dict) -> "AnomalyScore":
        fixed = {"ln2_q32": LN2_Q32, "c2_q31": C2_Q31, "c3_q31": C3_Q31, "c4_q31": C4_Q31}
        for key, value in fixed.items():
            if key in data and int(data[key]) != value:
                raise TinygenError(f"the manifest's anomaly score has {key} {data[key]}, this tinygen uses {value}; "
                                   "re-export the model")
        op = cls(bias=int(data["bias"]), d_max=int(data["d_max"]), leaf_frac_bits=int(data["leaf_frac_bits"]),
                 mul=int(data["mul"]), e_shift=int(data["e_shift"]), e_frac_bits=int(data["e_frac_bits"]),
                 offset_q=int(data["offset_q"]), denominator=float(data["denominator"]),
                 n_trees=int(data["n_trees"]), out_frac_bits=int(data["out_frac_bits"]), table=data["table"])
        op.check()
        return op

    def check(self) -> None:
        """The ranges the module doc's proof assumes; a damaged manifest fails here, not in the C."""
        ok = (0 <= self.d_max < 1 << 31 and 1 << 31 <= self.mul < U32 and 0 <= self.e_shift <= 31
              and 8 <= self.e_frac_bits <= E_FRAC_BITS and -(1 << self.out_frac_bits) <= self.offset_q <= 0
              and 0 < self.out_frac_bits <= 23 and len(self.table) == 2 ** TABLE_BITS
              and all(0 < v <= ONE_Q31 for v in self.table) and -(1 << 31) <= self.bias < 1 << 31)
        if not ok:
            raise TinygenError("the manifest's anomaly score parameters are out of range; re-export the model")

    def c_helpers(self) -> tuple[str, ...]:
        """The C primitives and macros templates/c/anomaly_score.c.j2 calls (tinygen/c_primitives.py)."""
        return ("ROM", "rd_u32", "mul_hi_u32")


def plan(tree_op, anomaly: dict) -> AnomalyScore:
    """The integer parameters for an IsolationForest tree op (leaves >= 0 in 2**leaf_frac_bits fixed point,
    bias = -round(d* 2**f)) and the frontend's anomaly dict {threshold, denominator, offset}."""
    f = tree_op.leaf_frac_bits
    bias = 0 if tree_op.bias is None else int(tree_op.bias[0])
    if f is None or any(int(np.min(t.value, initial=0)) < 0 for t in tree_op.trees):
        raise TinygenError("score_samples needs path lengths in fixed point (an IsolationForest's tree sum)")
    d_max = sum(int(np.max(t.value, initial=0)) for t in tree_op.trees)
    if d_max >= 1 << 31 or not -(1 << 31) <= bias < 1 << 31:
        raise TinygenError("the IsolationForest's path-length sum does not fit int32 (too many trees)")
    denominator = Fraction(float(anomaly["denominator"]))
    offset = float(anomaly["offset"])
    if denominator <= 0 or not -1.0 <= offset < 0:
        raise TinygenError(f"IsolationForest with offset_ {offset}: score_samples cannot be mapped; refit it")
    for F in range(E_FRAC_BITS, 7, -1):
        c = Fraction(2) ** (F - f) / denominator  # e_q = d_q * c
        shift = -1 - math.floor(math.log2(c.numerator) - math.log2(c.denominator))
        while c * Fraction(2) ** (32 + shift) >= U32:  # math.log2 near a power of two: settle it exactly
            shift -= 1
        while c * Fraction(2) ** (32 + shift) < 1 << 31:
            shift += 1
        mul = round_half_away(c * Fraction(2) ** (32 + shift))
        if mul == U32:
            mul, shift = 1 << 31, shift - 1
        if 0 <= shift <= 31:
            op = AnomalyScore(bias=bias, d_max=d_max, leaf_frac_bits=f, mul=mul, e_shift=shift, e_frac_bits=F,
                              offset_q=int(round_half_away(offset * 2.0 ** OUT_FRAC_BITS)), denominator=float(denominator),
                              n_trees=len(tree_op.trees))
            op.check()
            return op
    raise TinygenError("this IsolationForest's path lengths cannot be scaled for the integer score_samples; "
                       "use fewer or shallower trees")
