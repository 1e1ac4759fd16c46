"""The cost counts of a tree_ensemble (TreeEnsemble.count_costs): what its C (templates/c/tree_ensemble_*.c.j2)
does per row and holds in flash, as costmodel.py fits them."""
from __future__ import annotations

import numpy as np

from ..counts import Features
from ..types import BITS

# AVR loads with a displacement reach 63 bytes from a pointer: inline splits on an input further along need
# their address computed first
AVR_DISPLACEMENT = 63


def _split_classes(op, tree) -> tuple[np.ndarray, np.ndarray]:
    """Per node of an inline tree: (its input lies beyond the load displacement, its test takes two compares)."""
    width = BITS.get(op.in_type, 32) // 8
    far = (np.maximum(tree.feature, 0) + 1) * width - 1 > AVR_DISPLACEMENT
    if op.in_kind == "bits":
        double = np.array([left >= 0 and op.bits_test(tree, i)[0] in ("le_not_nan", "ge_or_nan")
                           for i, left in enumerate(tree.left)], dtype=bool)
    elif op.in_kind in ("keys", "bins"):
        double = np.array([left >= 0 and op.nan_test(tree, i) != "" for i, left in enumerate(tree.left)], dtype=bool)
    else:
        double = np.zeros(len(tree.left), dtype=bool)
    inner = tree.left >= 0
    return far & inner, double & inner


def _path_counts(tree, leaves: np.ndarray, marked: np.ndarray) -> np.ndarray:
    """Per row, how many marked splits lie on the path to the leaf it reached."""
    on_path = np.zeros(len(tree.left), dtype=np.int64)  # marked splits from the root down to each node
    for node in range(len(tree.left)):  # a parent is numbered before its children
        if tree.left[node] >= 0:
            on_path[tree.left[node]] = on_path[tree.right[node]] = on_path[node] + int(marked[node])
    return on_path[leaves]


def _distinct_on_paths(op, reached: list, key) -> np.ndarray:
    """Per row, how many distinct key(tree, node) values the splits on its paths through every tree have (the
    compiler computes a test, or loads an input, once for all the inline trees that repeat it)."""
    ids: dict = {}
    paths = []
    for tree, leaves in zip(op.trees, reached):
        above = [[] for _ in tree.left]  # the splits from the root down to each node
        for node in range(len(tree.left)):  # a parent is numbered before its children
            if tree.left[node] >= 0:
                above[tree.left[node]] = above[tree.right[node]] = above[node] + [ids.setdefault(key(tree, node), len(ids))]
        paths.append((above, leaves))
    seen = np.zeros((len(reached[0]) if reached else 0, max(len(ids), 1)), dtype=bool)
    for above, leaves in paths:
        for leaf in np.unique(leaves):
            if above[leaf]:
                rows = np.nonzero(leaves == leaf)[0]
                seen[np.ix_(rows, above[leaf])] = True
    return seen.sum(axis=1)


def _nonzero_bytes(value: int) -> int:
    """Bytes of a 32-bit constant that are not zero: AVR compares a zero byte with its zero register, with no
    instruction to load it."""
    return sum(((int(value) & 0xFFFFFFFF) >> shift) & 0xFF != 0 for shift in (0, 8, 16, 24))


def _test_key(op, tree, node: int) -> tuple:
    """What an inline split computes, as the compiler sees it: splits with the same key are one computation."""
    if op.in_kind == "bits":
        return (int(tree.feature[node]), *op.bits_test(tree, node))
    return (int(tree.feature[node]), int(tree.threshold[node]), op.nan_test(tree, node))


def count_tree_costs(op, values: np.ndarray, group: str, features: Features) -> None:
    """Inline code: per split visited, a test (with an address computed first beyond the load displacement,
    and a second compare for some NaN rules); per leaf reached, an add of each nonzero value (or a return of
    the one class fraction). Tables: per split visited, one record read (the input found by its byte offset,
    or by an index times its size); per tree, its leaf's row of values added (one value for trees of one column)."""
    rows, n_trees = len(values), len(op.trees)
    (_inline_counts if op.layout == "inline" else _table_counts)(op, values, group, features)
    features.add_cycles(f"{group}:trees", np.full(rows, n_trees))
    features.add_cycles(f"{group}:outputs", np.full(rows, op.n_out))
    features.add_flash(f"{group}:trees", n_trees)
    if op.in_kind not in ("bits", "keys"):  # float compares (libgcc calls on AVR), x_q or bins: counted apart, so
        # an estimate for them says it is not calibrated until programs of theirs are measured
        features.add_cycles(f"{group}:visited_splits_{op.in_kind}", features.cycles[f"{group}:visited_splits"])
        features.add_flash(f"{group}:{op.in_kind}_input", 1)


def _inline_counts(op, values: np.ndarray, group: str, features: Features) -> None:
    rows, n_trees = len(values), len(op.trees)
    returns = op.n_summed == 1 and op.leaf_type == "uint16"  # each tree returns its class fraction
    visited, visited_far, visited_double, leaf_adds = (np.zeros(rows) for _ in range(4))
    splits = splits_far = splits_double = leaf_values = leaves = 0
    all_reached = op.leaves_reached(values)
    features.add_cycles(f"{group}:distinct_tests", _distinct_on_paths(
        op, all_reached, lambda tree, node: _test_key(op, tree, node)))
    features.add_cycles(f"{group}:distinct_inputs", _distinct_on_paths(op, all_reached, lambda tree, node: int(tree.feature[node])))
    for tree, reached in zip(op.trees, all_reached):
        inner = tree.left >= 0
        far, double = _split_classes(op, tree)
        nonzero = (tree.value[:, :op.n_summed] != 0).sum(axis=1)
        visited += _path_counts(tree, reached, inner)
        visited_far += _path_counts(tree, reached, far)
        visited_double += _path_counts(tree, reached, double)
        leaf_adds += 0 if returns else nonzero[reached]
        splits, splits_far, splits_double = splits + int(inner.sum()), splits_far + int(far.sum()), \
            splits_double + int(double.sum())
        leaf_values += 0 if returns else int(nonzero[~inner].sum())
        leaves += int((~inner).sum()) if returns else 0
    tests = {_test_key(op, tree, i) for tree in op.trees for i in np.nonzero(tree.left >= 0)[0]}
    features.add_flash(f"{group}:distinct_tests", len(tests))
    features.add_flash(f"{group}:constant_bytes", sum(_nonzero_bytes(c) for test in tests for c in test[-2:]
                                                      if isinstance(c, (int, np.integer))))
    keys = op.in_kind in ("keys", "bins")  # compares of int32 keys in a buffer, not of the raw bits
    # beyond the load displacement, an address is computed; with several outputs in memory the pointer
    # registers are busier and it costs more
    far = "visited_far" if op.n_summed == 1 else "visited_far_outputs_in_memory"
    for name, per_row in (("visited_splits", visited), (far, visited_far), ("visited_double", visited_double),
                          ("visited_keys", visited if keys else 0 * visited),
                          # one output stays in registers; several are added to the output array in memory
                          ("leaf_adds" if op.n_summed == 1 else "leaf_adds_to_memory", leaf_adds),
                          ("leaf_returns", np.full(rows, n_trees if returns else 0))):
        features.add_cycles(f"{group}:{name}", per_row)
    for name, count in (("splits", splits), ("splits_far", splits_far), ("splits_double", splits_double),
                        ("leaf_values", leaf_values), ("leaf_returns", leaves), ("keys", int(keys))):
        features.add_flash(f"{group}:{name}", count)


def _table_counts(op, values: np.ndarray, group: str, features: Features) -> None:
    rows, n_trees = len(values), len(op.trees)
    tables = op.tables()
    visited = sum(_path_counts(tree, reached, tree.left >= 0) for tree, reached in zip(op.trees, op.leaves_reached(values)))
    features.add_cycles(f"{group}:visited_splits", visited)
    features.add_cycles(f"{group}:visited_by_index", visited if not tables.feature_offsets else 0 * visited)
    per_leaf = 1 if tables.column is not None else op.n_summed
    features.add_cycles(f"{group}:leaf_values", np.full(rows, n_trees * per_leaf))
    features.add_cycles(f"{group}:leaf_indexed", np.full(rows, n_trees if tables.leaf_index is not None else 0))
    features.add_cycles(f"{group}:column_trees", np.full(rows, n_trees if tables.column is not None else 0))
    for name, flag in (("by_index", not tables.feature_offsets), ("column", tables.column is not None),
                       ("indexed", tables.leaf_index is not None), ("int32_leaves", op.leaf_type == "int32")):
        features.add_flash(f"{group}:{name}", int(flag))
