"""How a tree's node sends rows left, one routing per kind of input the C compares (the simulator's side of
templates/c/tree_ensemble_*.c.j2): float32 against float64 thresholds (scikit-learn's way, the float IR), order
keys, quantized inputs, raw float32 bits inline (bits_test) and raw bits in the table walk. Each is called as
go_left(rows, nodes) by Tree.leaves_reached (tree.py), for the tree it was made with."""
from __future__ import annotations

import numpy as np

U32 = 1 << 32
INF_BITS = 0x7F800000  # +inf: also its key, the largest threshold key
NEG_INF_BITS = 0xFF800000  # -inf
POS_NAN_FIRST, NAN_SPAN = 0x7F800001, 0x7FFFFE  # positive NaN bits: POS_NAN_FIRST .. + NAN_SPAN
BITS_TESTS = ("always", "outside", "le_not_nan", "ge_or_nan", "inside")


def bits_test(threshold_key: int, missing_left: bool) -> tuple[str, int, int]:
    """A node's test on the raw bits u (uint32) of x: (kind, c1, c2); go left when
      always      always (threshold +inf, NaN left)
      outside     (u - c1) mod 2^32 > c2     right only for T < x <= +inf: c1 = T + 1, c2 = INF_BITS - T - 1
      le_not_nan  (int32)u <= c1 and u <= c2  x <= t (negative NaN bits exceed c2 = NEG_INF_BITS)
      ge_or_nan   u >= c1 or (u - POS_NAN_FIRST) mod 2^32 <= NAN_SPAN   (negative t: c1 = t's bits)
      inside      (u - c1) mod 2^32 <= c2    left only for -inf <= x <= t: c1 = t's bits, c2 = NEG_INF_BITS - c1
    """
    key = int(threshold_key)
    if key >= 0:
        if missing_left:
            return ("always", 0, 0) if key == INF_BITS else ("outside", key + 1, INF_BITS - key - 1)
        return ("le_not_nan", key, NEG_INF_BITS)
    bits = (key ^ 0x7FFFFFFF) & 0xFFFFFFFF  # the negative threshold's own bits
    if missing_left:
        return ("ge_or_nan", bits, 0)
    return ("inside", bits, NEG_INF_BITS - bits)


class FloatRouting:
    """go_left for float32 inputs against float64 thresholds, scikit-learn's way."""

    def __init__(self, tree, x32: np.ndarray):
        self.tree, self.x, self.n_rows = tree, x32, len(x32)

    def __call__(self, rows, nodes):
        values = self.x[rows, self.tree.feature[nodes]].astype(np.float64)
        return np.where(np.isnan(values), self.tree.missing_left[nodes], values <= self.tree.threshold[nodes])


class KeyRouting:
    """go_left for order keys against threshold keys: what the C does."""

    def __init__(self, tree, keys: np.ndarray, nan_key: int):
        self.tree, self.keys, self.nan_key, self.n_rows = tree, keys, nan_key, len(keys)

    def __call__(self, rows, nodes):
        features = self.tree.feature[nodes]
        keys = self.keys[rows, features]
        return np.where(keys == self.nan_key, self.tree.missing_left[nodes], keys <= self.tree.threshold[nodes])


class FixedRouting:
    """go_left for quantized inputs x_q against integer thresholds floor(t * 2**frac_bits)."""

    def __init__(self, tree, x_q: np.ndarray):
        self.tree, self.x_q, self.n_rows = tree, x_q, len(x_q)

    def __call__(self, rows, nodes):
        return self.x_q[rows, self.tree.feature[nodes]] <= self.tree.threshold[nodes]


class BitsRouting:
    """go_left for raw float32 bits, by each node's bits_test: what the C does in in_kind "bits"."""

    def __init__(self, tree, bits: np.ndarray):
        self.tree, self.bits, self.n_rows = tree, bits, len(bits)
        tests = [bits_test(t, m) if left >= 0 else ("always", 0, 0)
                 for t, m, left in zip(tree.threshold, tree.missing_left, tree.left)]
        self.kind = np.array([BITS_TESTS.index(k) for k, _, _ in tests], dtype=np.int64)
        self.c1 = np.array([c for _, c, _ in tests], dtype=np.int64)
        self.c2 = np.array([c for _, _, c in tests], dtype=np.int64)

    def __call__(self, rows, nodes):
        u = self.bits[rows, self.tree.feature[nodes]]
        c1, c2, kind = self.c1[nodes], self.c2[nodes], self.kind[nodes]
        signed = np.where(u >= 1 << 31, u - U32, u)
        outcomes = [np.ones(len(u), dtype=bool),
                    (u - c1) % U32 > c2,
                    (signed <= c1) & (u <= c2),
                    (u >= c1) | ((u - POS_NAN_FIRST) % U32 <= NAN_SPAN),
                    (u - c1) % U32 <= c2]
        return np.choose(kind, outcomes)


class TableBitsRouting:
    """go_left for raw float32 bits in the table layout, step by step as the C walk does: the key of the bits
    without NaN mapping (k = u, or u ^ 0x7FFFFFFF below +0.0), right when k > T; then a NaN (|u| above
    +inf's bits) whose compare went the way missing_left does not say (right with missing_left, left
    without) takes the other branch."""

    def __init__(self, tree, bits: np.ndarray):
        self.tree, self.bits, self.n_rows = tree, bits, len(bits)

    def __call__(self, rows, nodes):
        u = self.bits[rows, self.tree.feature[nodes]]
        k = np.where(u >= 1 << 31, (u ^ 0x7FFFFFFF) - U32, u)  # int32 value of u ^ 0x7FFFFFFF
        right = k > self.tree.threshold[nodes]
        missing_left = self.tree.missing_left[nodes]
        nan = (u & 0x7FFFFFFF) > INF_BITS
        return ~np.where(nan & (right == missing_left), ~right, right)
