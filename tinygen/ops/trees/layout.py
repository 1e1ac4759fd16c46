"""The two layouts of a tree op's C: inline (if/else code) and table (arrays walked by one loop); their limits
and flash estimates, for the automatic choice."""
from __future__ import annotations

import dataclasses

from ...errors import TinygenError

LAYOUTS = ("inline", "table")


# The table layout indexes splits, leaves and leaf values with uint16.
TABLE_MAX_ENTRIES = 65535


def table_limit_problem(op) -> str | None:
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


def check_table_limits(op) -> None:
    problem = table_limit_problem(op)
    if problem:
        raise TinygenError(f"{problem}; use fewer or shallower trees, or --layout inline")


def choose_layout(op, layout: str) -> str:
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


def estimate_bytes(op) -> dict[str, int]:
    """Estimated flash of `op` in each layout (see the constants above)."""
    splits = sum(int((tree.left >= 0).sum()) for tree in op.trees)
    if op.n_summed == 1 and op.leaf_type == "uint16":  # each tree returns its leaf's fraction
        leaves = INLINE_RETURN_LEAF_BYTES * sum(int((tree.left < 0).sum()) for tree in op.trees)
    else:
        leaves = INLINE_LEAF_VALUE_BYTES * sum(int((tree.value[tree.left < 0, :op.n_summed] != 0).sum()) for tree in op.trees)
    table_layout = dataclasses.replace(op, layout="table")
    per_split = INLINE_BIN_SPLIT_BYTES if op.in_kind == "bins" else INLINE_SPLIT_BYTES
    return {"inline": INLINE_BASE_BYTES + per_split * splits + leaves,
            "table": TABLE_CODE_BYTES + sum(table_layout.table_bytes().values())}
