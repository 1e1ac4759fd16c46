"""The table layout's arrays (TreeTables) built from a tree op (build_tables)."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .routing import INF_BITS

@dataclass
class TreeTables:
    """The table layout: every tree's splits and leaves in flat arrays (flash on AVR), walked by one loop.

    Tree t owns splits inner_base[t] .. inner_base[t+1]-1 and leaves leaf_base[t] ..; inside a tree a node is
    a ref: ref < n_inner(t) is split inner_base[t] + ref, else leaf leaf_base[t] + ref - n_inner(t). The root
    is ref 0 (a split, or the leaf of a one-leaf tree). Splits are numbered depth first, so refs fit uint8
    while every tree has at most 256 nodes. nan_flip[i]: keys and bins: the split's NaN key falls on the wrong
    side of `k <= t`, so a NaN key takes the other branch (TreeEnsemble.nan_test); raw bits (in_kind "bits"):
    the split's missing_left, as NaN falls on either side by its sign (TableBitsRouting).
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


def build_tables(op) -> TreeTables:
    """The arrays of the table layout of tree op `op` (see TreeTables)."""
    feature, threshold, left, right, nan_flip, inner_base, leaf_base, leaves = [], [], [], [], [], [0], [], []
    for tree in op.trees:
        inner = np.nonzero(tree.left >= 0)[0]
        leaf = np.nonzero(tree.left < 0)[0]
        ref = np.zeros(len(tree.left), dtype=np.int64)
        ref[inner] = np.arange(len(inner))
        ref[leaf] = len(inner) + np.arange(len(leaf))
        feature += [int(tree.feature[i]) for i in inner]
        threshold += [int(tree.threshold[i]) for i in inner]
        left += [int(ref[tree.left[i]]) for i in inner]
        right += [int(ref[tree.right[i]]) for i in inner]
        if op.in_kind == "bits":  # the split's missing_left (TreeTables)
            nan_flip += [bool(tree.missing_left[i]) for i in inner]
        else:
            nan_flip += [op.in_kind in ("keys", "bins") and op.nan_test(tree, int(i)) != "" for i in inner]
        leaf_base.append(len(leaves))
        leaves += [tree.value[i, :op.n_summed] for i in leaf]
        inner_base.append(len(feature))
    values = np.array(leaves, dtype=np.int64).reshape(len(leaves), op.n_summed)
    tables = TreeTables(feature=feature, threshold=threshold, left=left, right=right, nan_flip=nan_flip,
                        inner_base=inner_base, leaf_base=leaf_base, leaf=values,
                        key_bytes={"int8": 1, "uint8": 1, "int16": 2, "uint16": 2}.get(op.in_type, 4))
    if op.n_summed > 1:  # one output per tree: keep that column only
        columns = [np.unique(np.nonzero(values[start:start + n])[1]) for start, n in
                   zip(leaf_base, [int((tree.left < 0).sum()) for tree in op.trees])]
        if all(len(c) <= 1 for c in columns):
            tables.column = [int(c[0]) if len(c) else 0 for c in columns]
            tables.leaf = values[np.arange(len(values)), np.repeat(tables.column, np.diff([*leaf_base, len(values)]))][:, None]
    rows, index = np.unique(tables.leaf, axis=0, return_inverse=True)
    value_bytes = 2 if op.leaf_type == "uint16" else 4
    index_bytes = 1 if len(rows) <= 256 else 2
    if len(rows) * rows.shape[1] * value_bytes + len(index) * index_bytes < tables.leaf.size * value_bytes:
        tables.leaf, tables.leaf_index = rows, [int(i) for i in np.ravel(index)]
    return tables

