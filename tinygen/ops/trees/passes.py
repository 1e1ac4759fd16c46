"""Passes over a typed tree op, each returning new ops (the op it is given stays as it was): threshold bins in
front of the trees, the trees reading the raw input (bits or floats) instead of keys, and the choice of the
exact program's variant (keys or bins, inline or table, raw bits) by estimated flash."""
from __future__ import annotations

import dataclasses

import numpy as np

from .layout import LAYOUTS, check_table_limits, estimate_bytes, table_limit_problem
from .order_keys import NAN_KEY, OrderKeys
from .threshold_bins import BIN_MAX, BINS_CODE_BYTES, MAX_UINT8_EDGES, ThresholdBins

# Inline trees read the raw float32 bits (no key pass: RF 10x6 on breast_cancer, Uno: 2,174 -> 1,245 cycles,
# stack 154 -> 42 B) at ~4 B of flash per split more than order keys (5,942 -> 6,684 B there); above this many
# splits the flash matters more (a 900-split HistGradientBoosting would no longer fit the Uno) and they read keys.
# Tables always read the raw bits: the same 7-B record per split (threshold key, feature code with the
# missing_left bit, children), the visited split's key made from x's bits in the walk; smaller, faster and
# with no key buffer on the stack. Measured (Uno cycles / Cortex-M4 instructions, keys -> bits): RF 10x6
# breast_cancer 4,677 -> 3,764 / 1,357 -> 1,121, GBT 30x3 8,794 -> 8,015 / 2,473 -> 2,311, HistGBT 30
# 16,172 -> 15,734 / 4,702 -> 4,698; flash 48 B less, stack 140 -> 18 B on the Uno.
BITS_MAX_NODES = 512


def on_raw_input(op, features: list[int], n_features: int, in_kind: str):
    """The same trees reading the input itself ("bits": its raw float32 bits; "float": the floats): feature
    indices back to the input's (the NaN key means nothing there: each node routes NaN itself)."""
    trees = [dataclasses.replace(tree, feature=np.array([features[int(f)] if left >= 0 else -1
                                                          for f, left in zip(tree.feature, tree.left)], dtype=np.int64))
             for tree in op.trees]
    return dataclasses.replace(op, trees=trees, in_kind=in_kind, n_in=n_features, nan_key=NAN_KEY)


def _edges(op, n_keys: int) -> list[list[int]]:
    """Per key: the sorted distinct threshold keys of the splits on it."""
    edges: list[set] = [set() for _ in range(n_keys)]
    for tree in op.trees:
        for f, t, left in zip(tree.feature, tree.threshold, tree.left):
            if left >= 0:
                edges[int(f)].add(int(t))
    return [sorted(e) for e in edges]


def binned(op, features: list[int], n_features: int):
    """(ThresholdBins, the tree op reading bins) for a keys-reading tree op `op` whose key j is input feature
    features[j]: each split's threshold key becomes its rank among its feature's edges, plus 1."""
    sorted_edges = _edges(op, len(features))
    used = [j for j, e in enumerate(sorted_edges) if e] or [0]  # a model of single leaves bins one feature
    out_type = "uint8" if max(len(sorted_edges[j]) for j in used) <= MAX_UINT8_EDGES else "uint16"
    nan_bin = 0 if op.nan_key < 0 else BIN_MAX[out_type]
    position = {j: new for new, j in enumerate(used)}
    rank = [{edge: i + 1 for i, edge in enumerate(e)} for e in sorted_edges]
    trees = []
    for tree in op.trees:
        inner = tree.left >= 0
        ranks = [rank[int(f)][int(t)] if is_inner else 0 for f, t, is_inner in zip(tree.feature, tree.threshold, inner)]
        trees.append(dataclasses.replace(
            tree, threshold=np.asarray(ranks, dtype=np.int64),
            feature=np.array([position[int(f)] if is_inner else -1 for f, is_inner in zip(tree.feature, inner)],
                             dtype=np.int64)))
    bins = ThresholdBins(n_in=n_features, features=[features[j] for j in used], edges=[sorted_edges[j] for j in used],
                         nan_bin=nan_bin, out_type=out_type)
    return bins, dataclasses.replace(op, trees=trees, in_kind="bins", in_type=out_type, nan_key=nan_bin, n_in=len(used))


def exact_variant(op, features: list[int], n_features: int, layout: str, bins: bool | None):
    """(input op, tree op) of the exact program: order keys or threshold bins, inline or table layout, as
    asked, and where left to "auto"/None the variant with the smallest estimated flash (estimated on order
    keys; tables, and inline code of at most BITS_MAX_NODES splits, then read the raw float32 bits instead,
    which takes less flash than keys in tables and ~4 B per split more inline)."""
    candidates = []
    for use_bins in ((False, True) if bins is None else (bins,)):
        first, variant = binned(op, features, n_features) if use_bins else \
            (OrderKeys(n_in=n_features, features=features, nan_key=op.nan_key), op)
        estimates = estimate_bytes(variant)  # both layouts: the tables are built once
        input_bytes = sum(first.table_bytes().values()) + (BINS_CODE_BYTES if use_bins else 0)
        for name in (LAYOUTS if layout == "auto" else (layout,)):
            if layout == "auto" and name == "table" and table_limit_problem(variant):
                continue
            candidates.append((estimates[name] + input_bytes, len(candidates), first,
                               dataclasses.replace(variant, layout=name)))
    _, _, first, chosen = min(candidates, key=lambda c: c[:2])
    if chosen.layout == "table":
        check_table_limits(chosen)
    inner = sum(int((tree.left >= 0).sum()) for tree in chosen.trees)
    if chosen.in_kind == "keys" and (chosen.layout == "table" or inner <= BITS_MAX_NODES):
        # the raw float32 bits: no key pass, no key buffer (inline code of few splits; tables always)
        chosen = on_raw_input(chosen, features, n_features, "bits")
        first = OrderKeys(n_in=n_features, nan_key=chosen.nan_key, mode="bits")
    return first, chosen
