"""Float trees -> the integer tree op: integer leaves (class fractions in 1/LEAF_SCALE, values in int32 fixed
point), thresholds as order keys (exact) or as quantized-input integers (q15, q7), splits that cannot matter
pruned, and the features to key."""
from __future__ import annotations

import dataclasses

import numpy as np

from ... import fixedpoint
from ...errors import TinygenError
from ...fixedpoint import FRAC_BITS_MAX, FRAC_BITS_MIN
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


def _feature_thresholds(fop: FloatTrees) -> dict[int, np.ndarray]:
    """Per feature that some split reads, its splits' finite thresholds (a zero-scale fold leaves +-inf: constant
    splits, which quantize_fixed decides whatever the format)."""
    found: dict[int, list] = {}
    for tree in fop.trees:
        inner = tree.left >= 0
        for feature, threshold in zip(tree.feature[inner], tree.threshold[inner]):
            found.setdefault(int(feature), []).append(float(threshold))
    return {f: np.array([t for t in ts if np.isfinite(t)]) for f, ts in found.items()}


def floor_scaled(thresholds, frac_bits) -> np.ndarray:
    """floor(t * 2**frac_bits) per threshold, exactly, as float64 (+-inf and NaN stay; a product beyond float64
    becomes +-inf): scaling by a power of two is exact unless it underflows, and then floors to 0, or to -1 for a
    negative t (whose product may underflow to -0.0)."""
    t = np.asarray(thresholds, dtype=np.float64)
    scaled = np.ldexp(t, np.asarray(frac_bits, dtype=np.int32))
    return np.floor(scaled) - ((scaled == 0) & (t < 0))


def _fits(thresholds: np.ndarray, frac_bits: int, bits: int) -> bool:
    """Whether every T = floor(t * 2**frac_bits) lies in [lo, hi - 1] of the `bits`-bit range."""
    lo, hi = fixedpoint.int_range(bits)
    scaled = floor_scaled(thresholds, frac_bits)
    return bool(scaled.min() >= lo and scaled.max() <= hi - 1)


def threshold_frac_bits(fop: FloatTrees, bits: int, fallback, max_frac_bits: int = FRAC_BITS_MAX) -> list[int]:
    """The input format of q15/q7 trees per feature (quantize_fixed): the largest f <= max_frac_bits such that
    every finite threshold t of the feature's splits has lo <= T = floor(t * 2**f) <= hi - 1 ([lo, hi] the
    `bits`-bit range). Features no split reads, or whose thresholds are all 0 (every f gives T = 0), take
    min(fallback[i], max_frac_bits) (quantize.py: the calibration format).

    Why saturating the input then changes no decision: x_q = sat(r) with r = round_half_away(x * 2**f) (x a
    float, or a window feature's integer), and a split goes left when x_q <= T. r > hi: x_q = hi > T and r > T,
    both right; r < lo: x_q = lo <= T and r <= T, both left; else x_q = r. So every input takes the branch of its
    unsaturated rounding r, the float split's branch for r * 2**-f (r <= floor(t 2**f) iff r 2**-f <= t, r an
    integer), however far beyond the calibration range it lies; and where it saturates, the float branch of x
    itself (|x 2**f - r| <= 1/2: r > hi gives x 2**f > hi >= T + 1 > t 2**f, r < lo gives x 2**f < lo <= t 2**f).
    The f that fit form a down-set (floor(t 2**f) moves away from 0 as f grows), so the largest is found by
    stepping down from f = bits - e, max|t| in [2**(e-1), 2**e) (f + 1 cannot fit: max|t| 2**(f+1) >= 2**bits),
    at most two steps for bits >= 3 (|t| 2**(f-2) < 2**(bits-2) fits). Nothing overflows: T is in the input type,
    and the C compares x_q <= T in it. The calibration range caps nothing: a tree's thresholds lie within its
    training values' range (scikit-learn's are midpoints of adjacent values), so when the calibration rows are the
    training rows max|t| <= max|x| < 2**(bits-2-f_cal) (the calibration format f_cal keeps a bit of headroom),
    f_cal fits and this f is at least f_cal; where they are not, f_cal would clip thresholds and collapse the
    splits beyond it. Only for |t| >= 2**(bits - 1 - FRAC_BITS_MIN) (2**107 in q7) f stops at FRAC_BITS_MIN, and
    quantize_fixed clips those thresholds into decided splits as before."""
    found = _feature_thresholds(fop)
    formats = []
    for feature in range(fop.n_in):
        thresholds = found.get(feature, np.zeros(0))
        if not np.any(thresholds):
            formats.append(int(min(fallback[feature], max_frac_bits)))
            continue
        _, exponent = np.frexp(float(np.abs(thresholds).max()))
        f = max(min(max_frac_bits, bits - int(exponent)), FRAC_BITS_MIN)
        while f > FRAC_BITS_MIN and not _fits(thresholds, f, bits):
            f -= 1
        formats.append(int(f))
    return formats


def quantize_fixed(fop: FloatTrees, frac_bits, bits: int) -> TreeEnsemble:
    """q15/q7 trees on pre-quantized input x_q in [lo, hi] (feature i has frac_bits[i]): a split goes left when
    x_q <= floor(t * 2**frac_bits[i]), exactly x_q * 2**-frac_bits[i] <= t for that x_q. A split whose
    threshold is at or above the input's max always goes left, below its min never (so does one that the
    splits above it on the same feature decide: two thresholds can floor to the same integer): it is replaced by
    the subtree every input reaches, so the thresholds left fit the input type. With threshold_frac_bits' formats
    every finite threshold is in [lo, hi - 1], so only the constant (+-inf) splits and those decided above are
    removed, and a saturated input decides as its unsaturated value would. NaN inputs were turned into 0
    by the input conversion, so missing_go_to_left plays no part."""
    leaves, leaf_type, frac, scale, bias = _integer_leaves(fop)
    lo, hi = fixedpoint.int_range(bits)
    frac_bits = np.asarray(frac_bits, dtype=np.int64)

    def thresholds(tree: Tree) -> np.ndarray:
        scaled = floor_scaled(tree.threshold, frac_bits[np.maximum(tree.feature, 0)])
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
