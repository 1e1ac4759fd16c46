"""probability: predict_proba in integers, the softmax of a classifier's integer logits in Q15.

Input: the raw integer scores s (int32, what NAME_scores writes); their real logits are (s - zero_point) * scale.
Output: one uint16 per class, p_q = round(p * 2**15), p the softmax. A binary logistic model has one score;
its probabilities are the softmax over the logits [0, z], so the op prepends the raw score that means 0
(zero_point) and computes the same softmax over two (two columns, like scikit-learn's predict_proba).

Integer program (uint32 unless said; no 64-bit integer, no float, no libm; forward and
templates/c/probability.c.j2 are the same steps):
  0. t = the K logits as raw scores (logistic: [zero_point, s0]); best = max t
  1. d_k = best - t_k                            in [0, 2**32): the logit gap, exact in uint32
  2. d_k > d_keep: e_k = 0                       the term is below one unit of e (step 6); the rest:
  3. x_k = floor(d_k scale log2(e) 2**16 (1 + eta))   the exponent in Q16, one of two products (plan() takes
                                                 the first when every kept gap fits 16 bits):
       "u32_u16": mul_u32_u16_shr(mul, d_k, shift) = floor(d mul / 2**(16 + shift))       two 16x16 products
       "u32_u32": mul_hi_u32(d_k << pre_shift, mul) >> shift = floor(d mul 2**(pre_shift - 32 - shift))  four
     mul in [2**31, 2**32) rounded, so |eta| <= 2**-31 (with the float64 of scale log2(e)); d_keep << pre_shift
     < 2**32. A scale of 2**14 or more per logit unit cuts every d >= 1: then "u32_u32" with mul = 2**31,
     pre_shift = 31 keeps only d = 0 (x = 0).
  4. n = x >> 16, j = (x >> 10) & 63, r = x & 1023        2**-x = 2**-n 2**-(j/64 + r/2**16)
  5. y = table[j] 2**16 - (table[j] - table[j+1]) (r 2**6)   64 times the linear interpolation of 2**-f
                                                 between j/64 and (j+1)/64, table[j] = round(65535 2**(-j/64))
                                                 (uint16, table[0] = 65535 exactly; the common factor 65535
                                                 cancels in the ratio): y <= 65535 2**16 < 2**32, exact (the
                                                 2**6 keeps AVR's shifts to whole bytes and 16-bit words)
  6. e_k = y >> (n + sum_shift + 6)              n + sum_shift <= 25 (d_keep is the largest d with
                                                 x < (26 - sum_shift) 2**16; beyond it the shift leaves 0
                                                 anyway, so step 2 only keeps the shift and x in range)
  7. S = sum_k e_k                               < K 2**(26 - sum_shift) <= 2**31 (sum_shift = max(0,
                                                 ceil(log2 K) - 5)); the best logit gives e = U = 65535
                                                 2**(10 - sum_shift) exactly, so S >= U
  8. p_q[k] = round(e_k 2**15 / S)               half up, exact: fixedpoint.div_q15, in [0, 2**15]

Error bound (error_bound(); the tests check it on every row): against p = softmax((s - zero_point) scale) in
exact arithmetic, |p_q[k] 2**-15 - p[k]| <= rho / 4 + (K - 1) A / U + 2**-16, where
  - every term is e_k in (w_k - A, w_k], w_k = U 2**-x_k F_k with x_k = d_k scale log2(e) and a factor
    F_k in [F_lo, F_hi]; A = 1 (the floor of step 6; a dropped term has x >= (26 - sum_shift) / (1 + eta),
    so w_k = U 2**-x_k < 1 with F_k = 1), and the best term is exact (d = 0: x = 0, y = 65535 2**16, e = U)
    F_hi = 2**(2**-16 + 2**-26) (1 + rho_lin) (1 + 1/65535), F_lo = 2**-(2**-26) (1 - 1/65535):
      step 3: u = x_q 2**-16 lies in (x(1 + eta) - 2**-16, x(1 + eta)], and x |eta| < 27 2**-31 < 2**-26;
      steps 5 and 6: e = y 2**-6 2**-(n + sum_shift), floored, is U 2**-u times the interpolation's error;
        linear interpolation of the convex 2**-f over steps h = 1/64 overestimates it by at most
        rho_lin = h**2 ln(2)**2 2**h / 8 (relative); the table's rounding (<= 1/2 of 65535 2**-f >= 65535/2)
        moves y by a relative 1/65535 at most
  - relative factors in [F_lo, F_hi] move a softmax by at most rho / 4 with rho = F_hi / F_lo - 1:
    dividing every factor by F_lo leaves factors in [1, 1 + rho], and p_k' = p_k f_k / sum_j p_j f_j is
    largest with f_k = 1 + rho and the others 1: p_k' - p_k = p_k (1 - p_k) rho / (1 + p_k rho) <= rho / 4
    (and symmetrically below)
  - the floors: e_k / S' - w_k / W = (p^w_k Phi - phi_k) / S' with phi_k = w_k - e_k in [0, A), Phi their
    sum (the best term's is 0, so Phi < (K - 1) A) and S' >= U: at most (K - 1) A / U
  - step 8 rounds to 2**-16
That is 2.92e-5 + 1.5e-8 (K - 1) for K <= 32 (sum_shift 0, U = 65535 2**10): under one Q15 step (3.05e-5).

Ranges: scores are int32; K <= 2**15; every intermediate is proven in range above.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from ..errors import TinygenError
from ..fixedpoint import PROBA_FRAC_BITS, SUM_BITS, div_q15, mul_hi_u32, mul_u32_u16_shr
from ..qparams import round_half_away
from .base import Op, QFormat

U32 = 1 << 32
X_FRAC_BITS = 16  # the exponent x = d scale log2(e) in Q16
TABLE_BITS = 6  # 2**-f tabulated at f = j / 64, j = 0..64
INTERP_BITS = X_FRAC_BITS - TABLE_BITS  # the 10 bits below the table index interpolate
TABLE_ONE = 65535  # table[0]: 1.0 scaled to the largest uint16
Y_BITS = 26  # the interpolated 2**-f <= 65535 2**10 < 2**26 (y holds it times 2**Y_SHIFT)
Y_SHIFT = 6  # y = that * 2**6 < 2**32: whole bytes and 16-bit words for AVR's shifts
PRODUCTS = ("u32_u16", "u32_u32")  # step 3: mul_u32_u16_shr (gaps of 16 bits) or mul_hi_u32
MAX_CLASSES = 1 << 15
KINDS = ("softmax", "logistic")


def exp2_table() -> list[int]:
    """round(65535 2**(-j/64)) for j = 0..64 (never a tie)."""
    return [int(round_half_away(TABLE_ONE * 2.0 ** (-j / 2 ** TABLE_BITS))) for j in range(2 ** TABLE_BITS + 1)]


@dataclass
class Probability(Op):
    """The softmax (or logistic) of the integer scores in Q15 (see the module doc)."""

    op = "probability"
    x_frac_bits: ClassVar[int] = X_FRAC_BITS  # for the template
    table_bits: ClassVar[int] = TABLE_BITS
    interp_bits: ClassVar[int] = INTERP_BITS
    y_bits: ClassVar[int] = Y_BITS
    y_shift: ClassVar[int] = Y_SHIFT
    kind: str  # "softmax" (n_in == n_out scores) or "logistic" (one score, two classes)
    n_in: int
    n_out: int
    zero_point: int  # the raw score of logit 0 (the logistic case prepends it)
    scale: float  # real logit = (score - zero_point) * scale
    product: str  # step 3: "u32_u16" (mul_u32_u16_shr, d_keep < 2**16) or "u32_u32" (mul_hi_u32)
    mul: int  # uint32 in [2**31, 2**32)
    pre_shift: int  # d << pre_shift, 0..31 ("u32_u32"; 0 for "u32_u16")
    shift: int  # 0..31
    d_keep: int  # largest kept logit gap, uint32
    sum_shift: int  # 0..10
    table: list[int] | None = None
    out_type: str = "uint16"

    def out_format(self) -> QFormat:
        return QFormat("uint16", PROBA_FRAC_BITS, rounding="half_away")

    @property
    def best_term(self) -> int:
        """U = 65535 2**(10 - sum_shift): the term of the largest logit (d = 0), exact (step 7)."""
        return (TABLE_ONE << 16) >> (Y_SHIFT + self.sum_shift)  # step 5 with j = r = 0, step 6 with n = 0

    def __post_init__(self):
        if self.table is None:
            self.table = exp2_table()
        self.table = [int(v) for v in self.table]

    # ---- the simulator ---------------------------------------------------------------------------------
    def logits(self, scores) -> np.ndarray:
        """[rows, n_out] int64: the raw scores, with the zero point prepended for a logistic model."""
        scores = np.asarray(scores, dtype=np.int64).reshape(-1, self.n_in)
        if self.kind == "logistic":
            return np.concatenate([np.full((len(scores), 1), self.zero_point, dtype=np.int64), scores], axis=1)
        return scores

    def forward(self, scores) -> np.ndarray:
        """[rows, n_out] int64 in [0, 2**15]: round(p 2**15) from the raw integer scores, as the C computes it."""
        t = self.logits(scores)
        d = np.max(t, axis=1, keepdims=True) - t  # 1. in [0, 2**32)
        kept = d <= self.d_keep  # 2.
        d = np.where(kept, d, 0)
        if self.product == "u32_u16":  # 3.
            x = mul_u32_u16_shr(self.mul, d, self.shift)
        else:
            x = mul_hi_u32(d << self.pre_shift, self.mul) >> self.shift
        n = x >> X_FRAC_BITS  # 4.
        j = (x >> INTERP_BITS) & ((1 << TABLE_BITS) - 1)
        r = x & ((1 << INTERP_BITS) - 1)
        table = np.asarray(self.table, dtype=np.int64)
        y = (table[j] << 16) - (table[j] - table[j + 1]) * (r << Y_SHIFT)  # 5.
        e = np.where(kept, y >> (n + self.sum_shift + Y_SHIFT), 0)  # 6.
        total = e.sum(axis=1, keepdims=True)  # 7.
        return div_q15(e, np.broadcast_to(total, e.shape))  # 8.

    def error_bound(self) -> float:
        """Proven max |p_q 2**-15 - p| against the exact softmax of the dequantized scores (module doc)."""
        h = 2.0 ** -TABLE_BITS
        rho_lin = h * h * math.log(2) ** 2 * 2.0 ** h / 8
        f_hi = 2.0 ** (2.0 ** -X_FRAC_BITS + 2.0 ** -26) * (1 + rho_lin) * (1 + 1 / TABLE_ONE)
        f_lo = 2.0 ** -(2.0 ** -26) * (1 - 1 / TABLE_ONE)
        unit = TABLE_ONE * 2.0 ** (INTERP_BITS - self.sum_shift)
        return (f_hi / f_lo - 1) / 4 + (self.n_out - 1) / unit + 2.0 ** -(PROBA_FRAC_BITS + 1)

    # ---- manifest ----------------------------------------------------------------------------------------
    def to_dict(self) -> dict:
        return {"op": self.op, "kind": self.kind, "n_in": int(self.n_in), "n_out": int(self.n_out),
                "zero_point": int(self.zero_point), "scale": float(self.scale), "product": self.product,
                "mul": int(self.mul), "pre_shift": int(self.pre_shift), "shift": int(self.shift), "d_keep": int(self.d_keep),
                "sum_shift": int(self.sum_shift), "table": list(self.table), "out_frac_bits": PROBA_FRAC_BITS,
                "error_bound": self.error_bound(),
                "compute": "proba_q = round(softmax((s - zero_point) scale) 2^15): 2^-x by table + interpolation, "
                           "x = (max s - s) scale log2(e) by mul_u32_u16_shr or mul_hi_u32 (product); "
                           "tinygen/ops/probability.py"}

    @classmethod
    def from_dict(cls, data: dict) -> "Probability":
        op = cls(kind=str(data["kind"]), n_in=int(data["n_in"]), n_out=int(data["n_out"]),
                 zero_point=int(data["zero_point"]), scale=float(data["scale"]), product=str(data["product"]),
                 mul=int(data["mul"]), pre_shift=int(data["pre_shift"]), shift=int(data["shift"]), d_keep=int(data["d_keep"]),
                 sum_shift=int(data["sum_shift"]), table=data["table"])
        op.check()
        return op

    def check(self) -> None:
        """The ranges the module doc's proof assumes; a damaged manifest fails here, not in the C."""
        shape = (1, 2) if self.kind == "logistic" else (self.n_out, self.n_out)
        ok = (self.kind in KINDS and (self.n_in, self.n_out) == shape
              and 2 <= self.n_out <= MAX_CLASSES and self.sum_shift == sum_shift_for(self.n_out)
              and 1 << 31 <= self.mul < U32 and 0 <= self.pre_shift <= 31 and 0 <= self.shift <= 31
              and 0 <= self.d_keep < U32 and self.d_keep << self.pre_shift < U32 and self.product in PRODUCTS
              and (self.product == "u32_u32" or (self.pre_shift == 0 and self.d_keep < 1 << 16))
              and -(1 << 31) <= self.zero_point < 1 << 31 and self.table == exp2_table()
              and (self.d_keep == U32 - 1 or _x_q(self.d_keep + 1, self) >= _x_cut(self.sum_shift))
              and _x_q(self.d_keep, self) < _x_cut(self.sum_shift))
        if not ok:
            raise TinygenError("the manifest's probability parameters are out of range; re-export the model")

    def c_helpers(self) -> tuple[str, ...]:
        """The C primitives and macros templates/c/probability.c.j2 calls (tinygen/c_primitives.py)."""
        return ("ROM", "rd_u16", "mul_u32_u16_shr" if self.product == "u32_u16" else "mul_hi_u32", "div_q15")


def sum_shift_for(n_classes: int) -> int:
    """The shift of step 6 that keeps the sum of n_classes terms below 2**31."""
    return max(0, math.ceil(math.log2(n_classes)) - (SUM_BITS - Y_BITS))


def _x_cut(sum_shift: int) -> int:
    return (Y_BITS - sum_shift) << X_FRAC_BITS


def _x_q(d: int, op) -> int:
    """Step 3 for one gap, with Python integers (monotone in d)."""
    return ((d << op.pre_shift) * op.mul) >> (_denominator_bits(op.product) + op.shift)


def _denominator_bits(product: str) -> int:
    return 16 if product == "u32_u16" else 32


def plan(kind: str, n_scores: int, n_classes: int, scale: float, zero_point: int) -> Probability:
    """The integer softmax for scores whose real logits are (score - zero_point) * scale."""
    if kind not in KINDS:
        raise TinygenError(f"predict_proba in fixed point supports {', '.join(KINDS)}, not {kind!r}")
    if not (2 <= n_classes <= MAX_CLASSES) or n_scores != (1 if kind == "logistic" else n_classes):
        raise TinygenError(f"predict_proba: {n_scores} scores do not make a {kind} over {n_classes} classes")
    if not (scale > 0 and math.isfinite(scale)):
        raise TinygenError(f"predict_proba needs a positive output scale, got {scale}")
    mantissa, exponent = math.frexp(scale * math.log2(math.e) * 2.0 ** X_FRAC_BITS)  # [0.5, 1) * 2**exponent
    mul = int(round_half_away(mantissa * U32))
    if mul == U32:
        mul, exponent = mul >> 1, exponent + 1
    base = dict(kind=kind, n_in=n_scores, n_out=n_classes, zero_point=int(zero_point), scale=float(scale), d_keep=0,
                sum_shift=sum_shift_for(n_classes))
    # x = d mul 2**(exponent - 32): "u32_u16" divides by 2**(16 + shift), "u32_u32" shifts d up or x down
    fast = Probability(product="u32_u16", mul=mul, pre_shift=0, shift=16 - exponent, **base)
    if 0 <= fast.shift <= 31 and _largest_kept(fast) < 1 << 16:
        fast.d_keep = _largest_kept(fast)
        fast.check()
        return fast
    pre_shift, shift = max(exponent, 0), max(-exponent, 0)
    if pre_shift > 31:  # a gap of one score unit is already cut (x >= 2**15): only d = 0 is kept, exactly
        mul, pre_shift = 1 << 31, 31
    if shift > 31:
        raise TinygenError(f"the scores' scale {scale:g} is too fine for the integer predict_proba (below 2**-47 "
                           "per logit unit)")
    op = Probability(product="u32_u32", mul=mul, pre_shift=pre_shift, shift=shift, **base)
    op.d_keep = _largest_kept(op)
    if op.d_keep << pre_shift >= U32:
        raise TinygenError(f"the scores' scale {scale:g} is too large for the integer predict_proba")
    op.check()
    return op


def _largest_kept(op) -> int:
    """The largest d (at most 2**32 - 1) with x_q(d) < the cut: d (mul << pre_shift) < cut 2**(bits + shift)."""
    limit = _x_cut(op.sum_shift) << (_denominator_bits(op.product) + op.shift)
    return min(U32 - 1, -(-limit // (op.mul << op.pre_shift)) - 1)
