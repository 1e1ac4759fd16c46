"""tree_ensemble: decision trees, summed — DecisionTree, RandomForest, ExtraTrees and GradientBoosting.

Float IR (FloatTrees): scikit-learn's semantics: the float32 input goes left at a node when
x <= threshold (float64), NaN goes where the node's missing_go_to_left says; the outputs are the mean over
trees of the leaf values (class fractions, or regression values).

Typed (`exact`, TreeEnsemble): inputs are order keys (ops/order_keys.py) of the features the trees read
(`feature` indexes the keys); a node sends the key nan_key (NaN) where missing_left says and any
other key left when key <= threshold_key, which takes the same branch as scikit-learn for every float32
input. The NaN key is the one most splits already route right: INT32_MAX is above every threshold key (NaN
goes right with `k <= t`), INT32_MIN below every one (NaN goes left), so only the other splits test it. Leaves are integers: class fractions as round(p * LEAF_SCALE) in
[0, 65520], regression values in int32 fixed point. out[c] = sum over trees of the leaf values, in int32:
  classification: sum <= n_trees * 65520 < 2**31 (n_trees < 32768 is checked), so it cannot overflow;
  values:         frac bits are chosen so that |bias| + sum_t max|leaf_t| <= 2**31 - 1 (regression, and
                  gradient boosting's raw scores: bias = init, leaves = learning_rate * value).
leaf_row_total (classification): when every leaf's class fractions sum to this same integer (65520, as
rounding leaves them unless a fraction ends in exactly .5), the last class is not summed but computed:
out[last] = n_trees * leaf_row_total - sum of the other outputs, which is the same integer as its sum.
in_kind "bits" (no key pass): the inputs are the raw float32 bits u (uint32) and each node tests them
directly with the same outcome as the keys, by bits_test: for a threshold key T >= 0 every negative value
is below the threshold and the bits of x >= +0.0 order as their keys; for T < 0 the negative values'
bits order in reverse and every x >= +0.0 is above; NaN bits lie above +inf's or below -inf's (by sign),
and each node's test puts them on its missing_left side.
in_kind "bits" in the table layout (no key pass either): a split record holds the threshold key T and the
missing_left bit; the walk makes the key of the visited split's x[f] from its bits (k = u, or u ^ 0x7FFFFFFF
when the sign bit is set: the order key without its NaN mapping) and goes right when k > T. A positive NaN's
k lies above every threshold key (above +inf's), a negative NaN's below every one (below -inf's), so the
compare sends NaN right or left by its sign; a NaN on the side its split's missing_left does not say moves
over (_TableBitsRouting).
in_kind "float" (dtype float32): the inputs are the float32 features and a split goes left when
x <= key_floats(threshold key) in float32, NaN where missing_left says; the same branch as the keys take.
The real outputs are out * out_scale (probabilities: 1 / (65520 n_trees); values: 2**-frac_bits / n_trees for
means, 2**-frac_bits for gradient boosting's sums).
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .. import fixedpoint
from ..c_primitives import reader
from ..errors import TinygenError
from .order_keys import NAN_KEY, NAN_KEY_LOW, key_floats, threshold_keys
from ..qparams import frac_bits_for, round_half_away
from .types import INT_TYPES

# Class fractions in uint16, as multiples of 1/65520: 65520 = 2^4 3^2 5 7 13 holds every fraction with a
# small denominator (1/2, 1/3, ..., 1/16) exactly, so exact ties between classes stay exact ties.
LEAF_SCALE = 65520
INT32_MAX = (1 << 31) - 1
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


@dataclass
class Tree:
    """One tree as flat node arrays (index 0 is the root; left[i] == -1 marks a leaf)."""

    feature: np.ndarray
    threshold: np.ndarray  # float64 in the float IR, int32 keys when typed
    left: np.ndarray
    right: np.ndarray
    missing_left: np.ndarray  # bool: NaN goes left
    value: np.ndarray  # [n_nodes, n_outputs]: float64, or int64 holding the integer leaves

    @property
    def is_leaf(self) -> np.ndarray:
        return self.left < 0

    def leaves_reached(self, go_left) -> np.ndarray:
        """Leaf index per row, where go_left(rows, node) says which rows at `node` go left."""
        n_rows = go_left.n_rows
        node = np.zeros(n_rows, dtype=np.int64)
        while True:
            inner = ~self.is_leaf[node]
            if not inner.any():
                return node
            rows = np.nonzero(inner)[0]
            at = node[rows]
            left = go_left(rows, at)
            node[rows] = np.where(left, self.left[at], self.right[at])

    def to_dict(self, integer: bool) -> dict:
        cast = int if integer else float
        return {"feature": [int(v) for v in self.feature], "threshold": [cast(v) for v in self.threshold],
                "left": [int(v) for v in self.left], "right": [int(v) for v in self.right],
                "missing_left": [bool(v) for v in self.missing_left],
                "value": [[cast(v) for v in row] for row in self.value]}

    def nan_reaches(self) -> np.ndarray:
        """Per node: whether a NaN in the node's feature can arrive there (bool). Not below a split on the
        same feature that sent NaN to its other side (missing_left), so the node needs no NaN test."""
        reaches = np.ones(len(self.left), dtype=bool)
        stack = [(0, frozenset())]  # (node, features whose NaN went elsewhere above it)
        while stack:
            node, gone = stack.pop()
            if self.left[node] < 0:
                continue
            feature = int(self.feature[node])
            reaches[node] = feature not in gone
            stack.append((int(self.left[node]), gone if self.missing_left[node] else gone | {feature}))
            stack.append((int(self.right[node]), gone | {feature} if self.missing_left[node] else gone))
        return reaches

    @classmethod
    def from_dict(cls, data: dict, integer: bool) -> "Tree":
        kind = np.int64 if integer else np.float64
        return cls(feature=np.asarray(data["feature"], dtype=np.int64), threshold=np.asarray(data["threshold"], dtype=kind),
                   left=np.asarray(data["left"], dtype=np.int64), right=np.asarray(data["right"], dtype=np.int64),
                   missing_left=np.asarray(data["missing_left"], dtype=bool),
                   value=np.asarray(data["value"], dtype=kind).reshape(len(data["feature"]), -1))


class _FloatRouting:
    """go_left for float32 inputs against float64 thresholds, scikit-learn's way."""

    def __init__(self, tree: Tree, x32: np.ndarray):
        self.tree, self.x, self.n_rows = tree, x32, len(x32)

    def __call__(self, rows, nodes):
        values = self.x[rows, self.tree.feature[nodes]].astype(np.float64)
        return np.where(np.isnan(values), self.tree.missing_left[nodes], values <= self.tree.threshold[nodes])


class _KeyRouting:
    """go_left for order keys against threshold keys: what the C does."""

    def __init__(self, tree: Tree, keys: np.ndarray, nan_key: int):
        self.tree, self.keys, self.nan_key, self.n_rows = tree, keys, nan_key, len(keys)

    def __call__(self, rows, nodes):
        features = self.tree.feature[nodes]
        keys = self.keys[rows, features]
        return np.where(keys == self.nan_key, self.tree.missing_left[nodes], keys <= self.tree.threshold[nodes])


class _FixedRouting:
    """go_left for quantized inputs x_q against integer thresholds floor(t * 2**frac_bits)."""

    def __init__(self, tree: Tree, x_q: np.ndarray):
        self.tree, self.x_q, self.n_rows = tree, x_q, len(x_q)

    def __call__(self, rows, nodes):
        return self.x_q[rows, self.tree.feature[nodes]] <= self.tree.threshold[nodes]


class _BitsRouting:
    """go_left for raw float32 bits, by each node's bits_test: what the C does in in_kind "bits"."""

    def __init__(self, tree: Tree, bits: np.ndarray):
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


class _TableBitsRouting:
    """go_left for raw float32 bits in the table layout, step by step as the C walk does: the key of the bits
    without NaN mapping (k = u, or u ^ 0x7FFFFFFF below +0.0), right when k > T; then a NaN (|u| above
    +inf's bits) whose compare went the way missing_left does not say (right with missing_left, left
    without) takes the other branch."""

    def __init__(self, tree: Tree, bits: np.ndarray):
        self.tree, self.bits, self.n_rows = tree, bits, len(bits)

    def __call__(self, rows, nodes):
        u = self.bits[rows, self.tree.feature[nodes]]
        k = np.where(u >= 1 << 31, (u ^ 0x7FFFFFFF) - U32, u)  # int32 value of u ^ 0x7FFFFFFF
        right = k > self.tree.threshold[nodes]
        missing_left = self.tree.missing_left[nodes]
        nan = (u & 0x7FFFFFFF) > INF_BITS
        return ~np.where(nan & (right == missing_left), ~right, right)


@dataclass
class FloatTrees:
    """Float IR: the leaf values reached by float32 inputs, combined over trees.

    combine "mean" (forests, single trees): mean of the leaves. combine "sum" (gradient boosting):
    bias + sum of the leaves, where each tree's leaves already hold learning_rate * value in its column.
    leaf_kind "fractions": class fractions in [0, 1]; "values": any real values (regression, raw scores).
    """

    trees: list[Tree]
    task: str  # "classification" | "regression"
    n_in: int
    combine: str = "mean"
    leaf_kind: str = "values"
    bias: np.ndarray | None = None  # [n_out], combine "sum" only

    @property
    def n_out(self) -> int:
        return self.trees[0].value.shape[1]

    def forward(self, x: np.ndarray) -> np.ndarray:
        x32 = np.asarray(x, dtype=np.float32)
        total = np.zeros((len(x32), self.n_out))
        for tree in self.trees:
            total += tree.value[tree.leaves_reached(_FloatRouting(tree, x32))]
        if self.combine == "sum":
            return total + (0.0 if self.bias is None else self.bias)
        return total / len(self.trees)


LAYOUTS = ("inline", "table")


@dataclass
class TreeTables:
    """The table layout: every tree's splits and leaves in flat arrays (flash on AVR), walked by one loop.

    Tree t owns splits inner_base[t] .. inner_base[t+1]-1 and leaves leaf_base[t] ..; inside a tree a node is
    a ref: ref < n_inner(t) is split inner_base[t] + ref, else leaf leaf_base[t] + ref - n_inner(t). The root
    is ref 0 (a split, or the leaf of a one-leaf tree). Splits are numbered depth first, so refs fit uint8
    while every tree has at most 256 nodes. nan_flip[i]: keys and bins: the split's NaN key falls on the wrong
    side of `k <= t`, so a NaN key takes the other branch (TreeEnsemble.nan_test); raw bits (in_kind "bits"):
    the split's missing_left, as NaN falls on either side by its sign (_TableBitsRouting).
    What the C reads (tuned for avr-gcc -Os, where every byte read and 16-bit add counts):
    - one record per split (a struct: threshold, feature code, child[2] = left, right ref), so a split is one
      address and child[go right] picks the branch.
    - feature_code: when every key's byte offset (key index * key_bytes) fits 7 bits (feature_offsets), the
      split's key byte offset plus 128 when nan_flip is set: the key loads without a multiply and the flip
      costs one bit test (no nan_flip table). Otherwise, when every key index fits 7 bits (flag_in_code),
      the key index plus 128 when nan_flip is set; beyond that the key index, with nan_flip bits in their
      own table.
    The thresholds stay whole (one load on 32-bit cores); on AVR the C reads a 32-bit threshold's high half
    first and its low half only when the high halves are equal: `k <= t` is k_hi < t_hi, or k_hi == t_hi and
    k_lo <= t_lo (unsigned). The NaN keys (INT32_MAX, INT32_MIN) never tie: their high halves 0x7FFF and
    0x8000 lie beyond those of every threshold key (+inf's 0x7F80, -inf's 0x807F), so a NaN key is told
    by its high half alone, on the branch it falls on.
    Leaves are stored as small as they go: column[t] (when every tree adds to one output only, as
    multiclass gradient boosting does) makes a leaf one value, added to out[column[t]]; leaf_index (when
    many leaves are equal) maps leaf numbers to rows of distinct leaves, when that takes fewer bytes."""

    feature: list[int]
    threshold: list[int]
    left: list[int]
    right: list[int]
    nan_flip: list[bool]
    inner_base: list[int]  # n_trees + 1 entries
    leaf_base: list[int]  # n_trees entries
    leaf: np.ndarray  # [rows, values per leaf]
    column: list[int] | None = None  # per tree: the one output its leaves add to
    leaf_index: list[int] | None = None  # per leaf: its row of `leaf`
    key_bytes: int = 4  # bytes of one input value (the op's in_type)

    @property
    def n_leaves(self) -> int:
        """Every tree's leaves (`leaf` holds fewer rows when leaf_index maps equal leaves to one)."""
        return len(self.leaf) if self.leaf_index is None else len(self.leaf_index)

    @property
    def feature_offsets(self) -> bool:
        return max(self.feature, default=0) * self.key_bytes < 128

    @property
    def flag_in_code(self) -> bool:
        """True when bit 7 of the feature code holds nan_flip (byte offsets, or key indices below 128)."""
        return self.feature_offsets or max(self.feature, default=0) < 128

    @property
    def feature_code(self) -> list[int]:
        if not self.flag_in_code:
            return list(self.feature)
        scale = self.key_bytes if self.feature_offsets else 1
        return [f * scale + (128 if flip else 0) for f, flip in zip(self.feature, self.nan_flip)]

    @property
    def infinite_thresholds(self) -> bool:
        """True when a threshold key is +-inf's: only then can a NaN's key tie a threshold's high half (raw
        bits in the table walk on AVR)."""
        return any(t >= INF_BITS or t <= -INF_BITS - 1 for t in self.threshold)

    @property
    def nan_flip_table(self) -> bool:
        """True when the flips need their own bit table (the feature codes cannot hold them)."""
        return any(self.nan_flip) and not self.flag_in_code

    @property
    def ref_type(self) -> str:
        return "uint8" if max(self.left + self.right, default=0) < 256 else "uint16"

    @property
    def feature_type(self) -> str:
        return "uint8" if max(self.feature_code, default=0) < 256 else "uint16"

    @property
    def index_type(self) -> str:
        return "uint8" if len(self.leaf) <= 256 else "uint16"


@dataclass
class TreeEnsemble:
    op = "tree_ensemble"
    n_in: int
    trees: list[Tree]
    task: str
    leaf_type: str  # "uint16" (class fractions) | "int32" (values in fixed point)
    out_scale: float  # real output = out * out_scale
    leaf_frac_bits: int | None = None  # regression leaves' fixed-point format
    acc_bound: int = 0  # proven max |out|
    in_type: str = "int32"
    out_type: str = "int32"
    acc_type: str = "int32"
    layout: str = "inline"
    bias: np.ndarray | None = None  # [n_out] initial sums (gradient boosting's init), same units as the leaves
    pruned_nodes: int = field(default=0, compare=False)
    nan_key: int = NAN_KEY  # the input value that means NaN: NAN_KEY or NAN_KEY_LOW (keys), 0 or bin_max (bins)
    leaf_row_total: int | None = None  # every leaf's outputs sum to this: the last output is computed
    in_kind: str = "keys"  # "keys": order keys | "bits": raw float32 bits (bits_test per node) | "fixed": x_q
    #                        "bins": threshold bins | "float": float32 compares (dtype float32)

    def __post_init__(self):
        self.nan_key = int(self.nan_key)

    @property
    def n_summed(self) -> int:
        """How many outputs the trees add up (the last one is computed when leaf_row_total is set)."""
        return self.n_out - (1 if self.leaf_row_total is not None else 0)

    def bits_test(self, tree: Tree, node: int) -> tuple[str, int, int]:
        return bits_test(tree.threshold[node], bool(tree.missing_left[node]))

    def nan_test(self, tree: Tree, node: int) -> str:
        """What a node adds to `k <= t` for NaN: "or_eq" (|| k == nan), "and_ne" (&& k != nan) or ""."""
        low = self.nan_key <= 0  # NAN_KEY_LOW, or bin 0: below every threshold
        if bool(tree.missing_left[node]) != low:
            return "or_eq" if tree.missing_left[node] else "and_ne"
        return ""

    @property
    def n_out(self) -> int:
        return self.trees[0].value.shape[1]

    @property
    def n_nodes(self) -> int:
        return sum(len(t.feature) for t in self.trees)

    def tables(self) -> TreeTables:
        """The arrays of the table layout (see TreeTables)."""
        feature, threshold, left, right, nan_flip, inner_base, leaf_base, leaves = [], [], [], [], [], [0], [], []
        for tree in self.trees:
            inner = np.nonzero(tree.left >= 0)[0]
            leaf = np.nonzero(tree.left < 0)[0]
            ref = np.zeros(len(tree.left), dtype=np.int64)
            ref[inner] = np.arange(len(inner))
            ref[leaf] = len(inner) + np.arange(len(leaf))
            feature += [int(tree.feature[i]) for i in inner]
            threshold += [int(tree.threshold[i]) for i in inner]
            left += [int(ref[tree.left[i]]) for i in inner]
            right += [int(ref[tree.right[i]]) for i in inner]
            if self.in_kind == "bits":  # the split's missing_left (TreeTables)
                nan_flip += [bool(tree.missing_left[i]) for i in inner]
            else:
                nan_flip += [self.in_kind in ("keys", "bins") and self.nan_test(tree, int(i)) != "" for i in inner]
            leaf_base.append(len(leaves))
            leaves += [tree.value[i, :self.n_summed] for i in leaf]
            inner_base.append(len(feature))
        values = np.array(leaves, dtype=np.int64).reshape(len(leaves), self.n_summed)
        tables = TreeTables(feature=feature, threshold=threshold, left=left, right=right, nan_flip=nan_flip,
                            inner_base=inner_base, leaf_base=leaf_base, leaf=values,
                            key_bytes={"int8": 1, "uint8": 1, "int16": 2, "uint16": 2}.get(self.in_type, 4))
        if self.n_summed > 1:  # one output per tree: keep that column only
            columns = [np.unique(np.nonzero(values[start:start + n])[1]) for start, n in
                       zip(leaf_base, [int((tree.left < 0).sum()) for tree in self.trees])]
            if all(len(c) <= 1 for c in columns):
                tables.column = [int(c[0]) if len(c) else 0 for c in columns]
                tables.leaf = values[np.arange(len(values)), np.repeat(tables.column, np.diff([*leaf_base, len(values)]))][:, None]
        rows, index = np.unique(tables.leaf, axis=0, return_inverse=True)
        value_bytes = 2 if self.leaf_type == "uint16" else 4
        index_bytes = 1 if len(rows) <= 256 else 2
        if len(rows) * rows.shape[1] * value_bytes + len(index) * index_bytes < tables.leaf.size * value_bytes:
            tables.leaf, tables.leaf_index = rows, [int(i) for i in np.ravel(index)]
        return tables

    def table_bytes(self) -> dict[str, int]:
        """Bytes of each flash table (the inline layout keeps thresholds and leaves in the code)."""
        if self.layout != "table":
            return {}
        tables = self.tables()
        width = {"uint8": 1, "uint16": 2, "int8": 1, "int16": 2, "int32": 4}
        n_inner, n_trees = len(tables.feature), len(self.trees)
        record = width[self.in_type] + width[tables.feature_type] + 2 * width[tables.ref_type]  # no padding on AVR
        sizes = {"splits": record * n_inner,
                 "inner_base": 2 * (n_trees + 1), "leaf_base": 2 * n_trees,
                 "leaf": (2 if self.leaf_type == "uint16" else 4) * tables.leaf.size}
        if tables.column is not None:
            sizes["column"] = n_trees
        if tables.leaf_index is not None:
            sizes["leaf_index"] = width[tables.index_type] * len(tables.leaf_index)
        if tables.nan_flip_table:
            sizes["nan_flip"] = (n_inner + 7) // 8
        return sizes

    def float_threshold(self, tree: Tree, node: int) -> float:
        """in_kind "float": the float32 threshold of a split (its key's value)."""
        return float(key_floats(tree.threshold[node]))

    def forward(self, keys: np.ndarray) -> np.ndarray:
        total = np.zeros((len(keys), self.n_out), dtype=np.int64) + (0 if self.bias is None else self.bias)
        for tree, leaves in zip(self.trees, self.leaves_reached(keys)):
            total[:, :self.n_summed] += tree.value[leaves, :self.n_summed]
        return self._finish(total)

    def leaves_reached(self, keys: np.ndarray) -> list[np.ndarray]:
        """Per tree, the leaf (node index) each row reaches, routed as the C routes it (the cost model counts
        the splits visited on the way)."""
        if self.in_kind == "float":
            return self._leaves_float(np.asarray(keys, dtype=np.float32))
        keys = np.asarray(keys, dtype=np.int64)
        reached = []
        for tree in self.trees:
            if self.in_kind == "fixed":
                routing = _FixedRouting(tree, keys)
            elif self.in_kind == "bits":
                routing = _TableBitsRouting(tree, keys) if self.layout == "table" else _BitsRouting(tree, keys)
            else:
                routing = _KeyRouting(tree, keys, self.nan_key)
            reached.append(tree.leaves_reached(routing))
        return reached

    def _finish(self, total: np.ndarray) -> np.ndarray:
        """The computed last output, and the range check."""
        if self.leaf_row_total is not None:
            total[:, -1] = len(self.trees) * self.leaf_row_total - total[:, :-1].sum(axis=1)
        if total.size and int(np.abs(total).max()) > self.acc_bound:
            raise AssertionError("tree sum beyond its proven bound: the range analysis is wrong")
        return total

    def _leaves_float(self, x32: np.ndarray) -> list[np.ndarray]:
        """in_kind "float": float32 compares against the float32 thresholds, scikit-learn's routing."""
        reached = []
        for tree in self.trees:
            floats = Tree(feature=tree.feature, threshold=key_floats(tree.threshold).astype(np.float64), left=tree.left,
                          right=tree.right, missing_left=tree.missing_left, value=tree.value)
            reached.append(floats.leaves_reached(_FloatRouting(floats, x32)))
        return reached

    def to_dict(self) -> dict:
        return {"op": self.op, "n_in": self.n_in, "n_out": self.n_out, "task": self.task, "layout": self.layout,
                "in_type": self.in_type, "out_type": self.out_type, "acc_type": self.acc_type,
                "leaf_type": self.leaf_type, "leaf_frac_bits": self.leaf_frac_bits, "out_scale": self.out_scale,
                "acc_bound": self.acc_bound, "acc_limit": INT32_MAX, "n_trees": len(self.trees),
                "bias": None if self.bias is None else [int(v) for v in self.bias],
                "n_nodes": self.n_nodes, "pruned_nodes": self.pruned_nodes, "nan_key": self.nan_key,
                "leaf_row_total": self.leaf_row_total, "in_kind": self.in_kind,
                "compare": "key[feature] == nan_key ? missing_left : key[feature] <= threshold",
                "trees": [t.to_dict(integer=True) for t in self.trees]}

    @classmethod
    def from_dict(cls, data: dict) -> "TreeEnsemble":
        return cls(n_in=int(data["n_in"]), trees=[Tree.from_dict(t, integer=True) for t in data["trees"]],
                   task=data["task"], leaf_type=data["leaf_type"], out_scale=float(data["out_scale"]),
                   leaf_frac_bits=data.get("leaf_frac_bits"), acc_bound=int(data["acc_bound"]),
                   layout=data.get("layout", "inline"), pruned_nodes=int(data.get("pruned_nodes", 0)),
                   nan_key=data.get("nan_key", NAN_KEY), leaf_row_total=data.get("leaf_row_total"),
                   in_kind=data.get("in_kind", "keys"), in_type=data.get("in_type", "int32"),
                   bias=None if data.get("bias") is None else np.asarray(data["bias"], dtype=np.int64))

    def c_helpers(self) -> tuple[str, ...]:
        """The C primitives and macros the layout's template calls (tinygen/c_primitives.py)."""
        splits = any(tree.left[0] >= 0 for tree in self.trees)  # not every tree a single leaf
        bits = ("bits",) if self.in_kind == "bits" and splits else ()
        if self.layout != "table":
            return bits  # inline: thresholds and leaves are in the code
        tables = self.tables()
        helpers = ["ROM", "rd_u16", reader(self.leaf_type), *bits]  # leaf_base, leaves
        if self.bias is not None:
            helpers.append("rd_i32")
        if tables.leaf_index is not None:
            helpers.append(reader(tables.index_type))
        if tables.column is not None or tables.nan_flip_table:
            helpers.append("rd_u8")
        if tables.feature:  # the splits: child refs, feature codes, thresholds
            helpers += [reader(tables.ref_type), reader(tables.feature_type),
                        "rd_i32" if self.in_kind == "bits" else reader(self.in_type)]
        return tuple(helpers)


def prune(tree: Tree, decided=None) -> tuple[Tree, int]:
    """Remove splits whose outcome is known (decided[node]: True always left, False never left, None a real
    test) and splits whose two subtrees always give the same leaf values (bottom up), then renumber the
    reachable nodes depth first. Returns the new tree and how many nodes went away."""
    left, right, value = tree.left.copy(), tree.right.copy(), tree.value.copy()

    def follow(node: int) -> int:  # past every decided split, to the subtree the input always reaches
        while decided is not None and left[node] >= 0 and decided[node] is not None:
            node = int(left[node] if decided[node] else right[node])
        return node

    inner = np.nonzero(left >= 0)[0]
    left[inner] = [follow(int(v)) for v in left[inner]]
    right[inner] = [follow(int(v)) for v in right[inner]]
    root = follow(0)

    def settle(node: int) -> bool:  # True when the subtree at node is (now) a single leaf
        if left[node] < 0:
            return True
        l_leaf, r_leaf = settle(int(left[node])), settle(int(right[node]))
        if l_leaf and r_leaf and np.array_equal(value[left[node]], value[right[node]]):
            value[node] = value[left[node]]
            left[node] = right[node] = -1
            return True
        return False

    settle(root)
    order, stack = [], [root]
    while stack:
        node = stack.pop()
        order.append(node)
        if left[node] >= 0:
            stack.extend((int(right[node]), int(left[node])))
    index = {old: new for new, old in enumerate(order)}
    remap = np.array([index.get(int(v), -1) if v >= 0 else -1 for v in left[order]], dtype=np.int64)
    remap_right = np.array([index.get(int(v), -1) if v >= 0 else -1 for v in right[order]], dtype=np.int64)
    pruned = Tree(feature=np.where(remap >= 0, tree.feature[order], -1), threshold=tree.threshold[order], left=remap,
                  right=remap_right, missing_left=tree.missing_left[order], value=value[order])
    return pruned, len(tree.feature) - len(order)


def _integer_leaves(fop: FloatTrees):
    """(leaves per tree, leaf_type, leaf frac bits, out_scale, bias): class fractions in 1/LEAF_SCALE, or
    values (and the boosting's init) in int32 fixed point with |bias| + sum of max |leaf| <= INT32_MAX."""
    n_trees = len(fop.trees)
    divisor = n_trees if fop.combine == "mean" else 1
    bias = None
    if fop.leaf_kind == "fractions":
        if n_trees >= 32768:
            raise TinygenError(f"{n_trees} trees: the exact layout sums class fractions in int32 and takes at most 32767 trees")
        leaves = [round_half_away(t.value * LEAF_SCALE) for t in fop.trees]
        leaf_type, frac, scale = "uint16", None, 1.0 / (LEAF_SCALE * divisor)
    else:
        bias_max = 0.0 if fop.bias is None else float(np.abs(fop.bias).max(initial=0.0))
        worst = bias_max + sum(float(np.abs(t.value).max(initial=0.0)) for t in fop.trees)
        if not np.isfinite(worst):
            raise TinygenError("the trees have non-finite leaf values; refit them on finite targets")
        frac = frac_bits_for(worst, 32)
        while True:  # leaves and bias in 2**frac fixed point; |bias| + sum of max |leaf| must stay in int32
            leaves = [round_half_away(t.value * np.exp2(frac)) for t in fop.trees]
            bias = None if fop.bias is None else round_half_away(fop.bias * np.exp2(frac))
            total = sum(int(np.abs(v).max(initial=0)) for v in leaves) + (0 if bias is None else int(np.abs(bias).max()))
            if total <= INT32_MAX:
                break
            frac -= 1
        leaf_type, scale = "int32", 2.0 ** -frac / divisor
    return leaves, leaf_type, frac, scale, bias


def _typed_trees(fop: FloatTrees, leaves, thresholds, decided=None) -> tuple[list[Tree], int]:
    """Trees with integer thresholds (thresholds(tree) -> per node) and leaves, equal-subtree splits and
    splits decided(tree, thresholds) says are constant (per node: True, False or None) removed."""
    typed, removed = [], 0
    for tree, leaf in zip(fop.trees, leaves):
        integer = Tree(feature=tree.feature, threshold=np.where(tree.left >= 0, thresholds(tree), 0),
                       left=tree.left, right=tree.right, missing_left=tree.missing_left, value=leaf)
        pruned, gone = prune(integer, None if decided is None else decided(integer))
        typed.append(pruned)
        removed += gone
    return typed, removed


def _sum_bound(typed: list[Tree], bias) -> int:
    return sum(int(np.abs(t.value).max(initial=0)) for t in typed) + (0 if bias is None else int(np.abs(bias).max()))


def quantize_fixed(fop: FloatTrees, frac_bits, bits: int) -> TreeEnsemble:
    """q15/q7 trees on pre-quantized input x_q (feature i has frac_bits[i]): a split goes left when
    x_q <= floor(t * 2**frac_bits[i]), exactly x_q * 2**-frac_bits[i] <= t for that x_q. A split whose
    threshold is at or above the input's max always goes left, below its min never (so does one that the
    splits above it on the same feature decide): it is replaced by the subtree every input reaches, so the
    thresholds left fit the input type. NaN inputs were turned into 0
    by the input conversion, so missing_go_to_left plays no part."""
    leaves, leaf_type, frac, scale, bias = _integer_leaves(fop)
    lo, hi = fixedpoint.int_range(bits)
    frac_bits = np.asarray(frac_bits, dtype=np.float64)

    def thresholds(tree: Tree) -> np.ndarray:
        scaled = np.floor(tree.threshold * np.exp2(frac_bits[np.maximum(tree.feature, 0)]))
        return np.clip(np.nan_to_num(scaled, nan=hi, posinf=hi, neginf=lo - 1), lo - 1, hi).astype(np.int64)

    def decided(tree: Tree) -> list:
        """Per node: True (every x_q that reaches it goes left), False (none does) or None. The range of x_q
        is the input type's, narrowed by the splits above on the same feature: two thresholds can floor to
        the same integer, and then the lower split on the path is already decided."""
        outcome = [None] * len(tree.left)
        stack = [(0, {})]  # (node, feature -> (lowest, highest) x_q that reaches it)
        while stack:
            node, ranges = stack.pop()
            if tree.left[node] < 0:
                continue
            feature, t = int(tree.feature[node]), int(tree.threshold[node])
            low, high = ranges.get(feature, (lo, hi))
            if high <= t or t < low:
                outcome[node] = bool(high <= t)
                stack.append((int(tree.left[node] if high <= t else tree.right[node]), ranges))
            else:
                stack.append((int(tree.left[node]), {**ranges, feature: (low, t)}))
                stack.append((int(tree.right[node]), {**ranges, feature: (t + 1, high)}))
        return outcome

    typed, removed = _typed_trees(fop, leaves, thresholds, decided)
    return TreeEnsemble(n_in=fop.n_in, trees=typed, task=fop.task, leaf_type=leaf_type, out_scale=scale,
                        leaf_frac_bits=frac, acc_bound=_sum_bound(typed, bias), bias=bias, pruned_nodes=removed,
                        in_kind="fixed", in_type=INT_TYPES[bits])


def quantize_exact(fop: FloatTrees) -> tuple[TreeEnsemble, list[int]]:
    """The `exact` typed op: thresholds as order keys, integer leaves, redundant splits removed; the trees
    read the keys of the returned features (key j = feature features[j]) with the NaN key op.nan_key."""
    leaves, leaf_type, frac, scale, bias = _integer_leaves(fop)
    typed, removed = _typed_trees(fop, leaves, lambda tree: threshold_keys(tree.threshold))
    bound = _sum_bound(typed, bias)
    features, nan_key = _key_plan(typed, fop.n_in)
    index = {f: j for j, f in enumerate(features)}
    for tree in typed:
        tree.feature = np.array([index[int(f)] if left >= 0 else -1 for f, left in zip(tree.feature, tree.left)], dtype=np.int64)
    row_total = None
    if fop.leaf_kind == "fractions" and bias is None and typed[0].value.shape[1] >= 2:
        sums = np.unique(np.concatenate([t.value[t.left < 0].sum(axis=1) for t in typed]))
        row_total = int(sums[0]) if len(sums) == 1 else None
    op = TreeEnsemble(n_in=len(features), trees=typed, task=fop.task, leaf_type=leaf_type, out_scale=scale,
                      leaf_frac_bits=frac, acc_bound=bound, bias=bias, pruned_nodes=removed, nan_key=nan_key,
                      leaf_row_total=row_total)
    return op, features


# Keying every feature costs a plain loop; keying a subset costs an index table read per key: key only the
# features the trees read when they are at most this share of all features.
SUBSET_SHARE = 0.75


def _key_plan(trees: list[Tree], n_in: int) -> tuple[list[int], int]:
    """The features to key (all, or only those the splits read) and the NaN key: NAN_KEY_LOW when more
    splits send NaN left than right (those then need no NaN test), else NAN_KEY."""
    left, right = np.zeros(n_in, dtype=np.int64), np.zeros(n_in, dtype=np.int64)
    for tree in trees:
        inner = tree.left >= 0
        np.add.at(left, tree.feature[inner & tree.missing_left], 1)
        np.add.at(right, tree.feature[inner & ~tree.missing_left], 1)
    used = [f for f in range(n_in) if left[f] + right[f] > 0]
    features = used if len(used) <= SUBSET_SHARE * n_in else list(range(n_in))
    if not features:
        features = [0]  # a model of single leaves still takes its first feature through one key
    # One NaN key for the whole model: per-feature keys would test fewer splits but cost a bit lookup in the
    # key loop, which measured slower on AVR and Cortex-M4 (RF 10x6, breast_cancer).
    nan_key = NAN_KEY_LOW if left.sum() > right.sum() else NAN_KEY
    return features, nan_key


# The table layout indexes splits, leaves and leaf values with uint16.
TABLE_MAX_ENTRIES = 65535


def table_limit_problem(op: TreeEnsemble) -> str | None:
    """Why the table layout cannot index `op`, or None."""
    splits = sum(int((tree.left >= 0).sum()) for tree in op.trees)
    leaves = sum(int((tree.left < 0).sum()) for tree in op.trees)
    for what, count in (("splits", splits), ("leaves", leaves)):
        if count > TABLE_MAX_ENTRIES:
            return f"the table layout indexes at most {TABLE_MAX_ENTRIES} {what} and this model has {count}"
    if leaves * op.n_summed > TABLE_MAX_ENTRIES:  # equal leaves are stored once: count what is stored
        values = op.tables().leaf.size
        if values > TABLE_MAX_ENTRIES:
            return f"the table layout indexes at most {TABLE_MAX_ENTRIES} leaf values and this model has {values}"
    return None


def check_table_limits(op: TreeEnsemble) -> None:
    problem = table_limit_problem(op)
    if problem:
        raise TinygenError(f"{problem}; use fewer or shallower trees, or --layout inline")


def choose_layout(op: TreeEnsemble, layout: str) -> str:
    """The layout for `op`: inline or table as asked, or for "auto" the smaller by estimate_bytes (of those
    that can index it)."""
    if layout == "auto":
        if table_limit_problem(op):
            return "inline"
        estimates = estimate_bytes(op)
        layout = min(LAYOUTS, key=lambda name: (estimates[name], LAYOUTS.index(name)))
    if layout == "table":
        check_table_limits(op)
    return layout


# Flash estimates for the automatic layout choice, fitted to avr-gcc -Os builds (the tightest flash): inline
# code costs about 30 B per split, 6 B per leaf when each tree returns one uint16, else 18 B per nonzero
# leaf value added; the table layout costs its tables plus about 600 B of loop and key code. Measured
# (inline / table, B): DecisionTree wine 548 / 712, RF 10x6 breast_cancer 6,684 / 2,212, GBT 30x3 diabetes
# 11,580 / 3,498, HistGBT breast_cancer 30,194 / 7,992, ExtraTrees 10x6 digits 58,076 / 16,584.
INLINE_BASE_BYTES, INLINE_SPLIT_BYTES, INLINE_RETURN_LEAF_BYTES, INLINE_LEAF_VALUE_BYTES = 150, 30, 6, 18
INLINE_BIN_SPLIT_BYTES = 12  # a split on a uint8 bin: load, compare with a constant, branch
TABLE_CODE_BYTES = 600


def estimate_bytes(op: TreeEnsemble) -> dict[str, int]:
    """Estimated flash of `op` in each layout (see the constants above)."""
    splits = sum(int((tree.left >= 0).sum()) for tree in op.trees)
    if op.n_summed == 1 and op.leaf_type == "uint16":  # each tree returns its leaf's fraction
        leaves = INLINE_RETURN_LEAF_BYTES * sum(int((tree.left < 0).sum()) for tree in op.trees)
    else:
        leaves = INLINE_LEAF_VALUE_BYTES * sum(int((tree.value[tree.left < 0, :op.n_summed] != 0).sum()) for tree in op.trees)
    table_layout = TreeEnsemble(**{**op.__dict__, "layout": "table"})
    per_split = INLINE_BIN_SPLIT_BYTES if op.in_kind == "bins" else INLINE_SPLIT_BYTES
    return {"inline": INLINE_BASE_BYTES + per_split * splits + leaves,
            "table": TABLE_CODE_BYTES + sum(table_layout.table_bytes().values())}
