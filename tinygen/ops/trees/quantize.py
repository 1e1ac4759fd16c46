"""Float trees -> the integer tree op: integer leaves (class fractions in 1/LEAF_SCALE, values in int32 fixed
point), thresholds as order keys (exact) or as quantized-input integers (q15, q7), splits that cannot matter
pruned, and the features to key."""
from __future__ import annotations

import dataclasses

import numpy as np

from ... import fixedpoint
from ...errors import TinygenError
from ...qparams import frac_bits_for, round_half_away
from ..types import INT_TYPES
from .ensemble import INT32_MAX, LEAF_SCALE, TreeEnsemble
from .order_keys import NAN_KEY, NAN_KEY_LOW, threshold_keys
from .tree import FloatTrees, Tree, prune


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
    typed = [dataclasses.replace(tree, feature=np.array([index[int(f)] if left >= 0 else -1
                                                         for f, left in zip(tree.feature, tree.left)], dtype=np.int64))
             for tree in typed]
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
