"""The inline layout as Python decides it; templates/c/tree_ensemble_inline.c.j2 only spells it in C.

Per tree, its code is a list of Lines in order: an `if` opening a split's test (the test's kind and constants
chosen here), `else`, `end` closing it, and at a leaf either `return` (each tree returns its class fraction) or
one `add` per nonzero leaf value. The test kinds, per input kind (TreeEnsemble.in_kind):
  fixed  le                x_q[f] <= t
  float  float_le          x[f] <= t (float32), `|| x != x` where NaN goes left (nan_left)
         float_inf         threshold +inf: every number (x == x), or with nan_left every input (1)
         float_neg_inf     threshold -inf: x < -FLT_MAX, `|| x != x` where NaN goes left
  bits   always, outside, le_not_nan, ge_or_nan, inside: routing.bits_test's tests of the raw bits (c1, c2)
  keys   le                k[f] <= t;  le_or_nan: || k == the NaN key;  le_not_low: && k != NaN_LOW, as one
                           unsigned compare of k + 2^31 - 1 with t + 2^31 - 1 (`value`)
  bins   le; le_or_nan (|| k == nan_bin, `value`); le_not_zero (&& k != 0, the NaN bin 0)
A split whose NaN a split above already sent elsewhere tests no NaN (Tree.nan_reaches).
"""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Line:
    depth: int  # nesting inside the tree function (1: its body)
    kind: str  # "if" | "else" | "end" | "return" | "add"
    test: str = ""  # an if's test kind (module doc)
    feature: int = 0  # the input a test reads
    value: int | float = 0  # a test's threshold (or its derived constant), a leaf's value
    c1: int = 0  # raw-bits tests' constants
    c2: int = 0
    nan_left: bool = False  # float tests: NaN goes left
    output: int = 0  # add: the output the value is added to


def _test(op, tree, node: int, nan_reaches) -> dict:
    """The if's test of split `node` (module doc)."""
    feature, threshold = int(tree.feature[node]), tree.threshold[node]
    if op.in_kind == "fixed":
        return dict(test="le", feature=feature, value=int(threshold))
    if op.in_kind == "float":
        t, nan_left = op.float_threshold(tree, node), bool(tree.missing_left[node])
        kind = "float_inf" if t == float("inf") else ("float_neg_inf" if t == float("-inf") else "float_le")
        return dict(test=kind, feature=feature, value=t, nan_left=nan_left)
    if op.in_kind == "bits":
        kind, c1, c2 = op.bits_test(tree, node)
        return dict(test=kind, feature=feature, c1=int(c1), c2=int(c2))
    nan = op.nan_test(tree, node) if nan_reaches[node] else ""
    binned = op.in_kind == "bins"
    if nan == "or_eq":
        return dict(test="le_or_nan", feature=feature, value=int(threshold), c1=int(op.nan_key) if binned else 0)
    if nan == "and_ne":
        if binned:
            return dict(test="le_not_zero", feature=feature, value=int(threshold))
        return dict(test="le_not_low", feature=feature, value=int(threshold), c1=int(threshold) + 2147483647)
    return dict(test="le", feature=feature, value=int(threshold))


def tree_lines(op, tree) -> list[Line]:
    """The code of one tree, root first (depth-first: a split's left subtree, else, right subtree, end)."""
    returns = op.n_summed == 1 and op.leaf_type == "uint16"
    nan_reaches = tree.nan_reaches()
    lines: list[Line] = []
    stack = [("node", 0, 1)]
    while stack:
        what, node, depth = stack.pop()
        if what != "node":
            lines.append(Line(depth, what))
        elif tree.left[node] < 0:
            if returns:
                lines.append(Line(depth, "return", value=int(tree.value[node][0])))
            else:
                lines += [Line(depth, "add", value=int(v), output=c)
                          for c, v in enumerate(tree.value[node][:op.n_summed]) if v != 0]
        else:
            lines.append(Line(depth, "if", **_test(op, tree, node, nan_reaches)))
            stack += [("end", node, depth), ("node", int(tree.right[node]), depth + 1), ("else", node, depth),
                      ("node", int(tree.left[node]), depth + 1)]
    return lines
