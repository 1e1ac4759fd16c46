"""Trees as flat node arrays (Tree), the float IR of summed trees (FloatTrees), and pruning.

Float IR (FloatTrees): scikit-learn's semantics: the float32 input goes left at a node when
x <= threshold (float64), NaN goes where the node's missing_go_to_left says; the outputs are the mean over
trees of the leaf values (class fractions, or regression values).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..base import FloatOp
from .routing import FloatRouting


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

    def depth(self) -> int:
        """Splits on the longest path from the root to a leaf (scikit-learn's get_depth)."""
        deepest, stack = 0, [(0, 0)]
        while stack:
            node, depth = stack.pop()
            if self.left[node] < 0:
                deepest = max(deepest, depth)
            else:
                stack += [(int(self.left[node]), depth + 1), (int(self.right[node]), depth + 1)]
        return deepest

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


@dataclass
class FloatTrees(FloatOp):
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
            total += tree.value[tree.leaves_reached(FloatRouting(tree, x32))]
        if self.combine == "sum":
            return total + (0.0 if self.bias is None else self.bias)
        return total / len(self.trees)


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
