"""tree_ensemble: decision trees, summed — DecisionTree, RandomForest, ExtraTrees and GradientBoosting.

Typed (`exact`, TreeEnsemble): inputs are order keys (order_keys.py) of the features the trees read
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
over (routing.TableBitsRouting).
in_kind "float" (dtype float32): the inputs are the float32 features and a split goes left when
x <= key_floats(threshold key) in float32, NaN where missing_left says; the same branch as the keys take.
The real outputs are out * out_scale (probabilities: 1 / (65520 n_trees); values: 2**-frac_bits / n_trees for
means, 2**-frac_bits for gradient boosting's sums).
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..base import Op, QFormat
from ..counts import Features
from .costs import count_tree_costs
from .inline import Line, tree_lines
from .order_keys import NAN_KEY, key_floats
from .routing import BitsRouting, FixedRouting, FloatRouting, KeyRouting, TableBitsRouting, bits_test
from .table_code import TableCode, table_code
from .tables import TreeTables, build_tables
from .tree import Tree

# Class fractions in uint16, as multiples of 1/65520: 65520 = 2^4 3^2 5 7 13 holds every fraction with a
# small denominator (1/2, 1/3, ..., 1/16) exactly, so exact ties between classes stay exact ties.
LEAF_SCALE = 65520
INT32_MAX = (1 << 31) - 1


@dataclass
class TreeEnsemble(Op):
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
    # tables(), once built: no part of the op's value (not compared, printed, copied by dataclasses.replace or
    # written to the manifest)
    _tables: TreeTables | None = field(default=None, init=False, repr=False, compare=False)

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
        """The arrays of the table layout (see TreeTables), built on the first call: the op is not changed after
        it is made (passes return new ops, whose tables are built afresh)."""
        if self._tables is None:
            self._tables = build_tables(self)
        return self._tables

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

    def layout_name(self) -> str:
        return self.layout

    def decision_input(self) -> str:
        return "x_q" if self.in_kind == "fixed" else self.in_kind

    def shrink_advice(self) -> list[str]:
        """Fewer or shallower trees; the table layout and threshold bins where unused (bins: exact's raw bits or
        keys only)."""
        tips = [f"fewer trees (it has {len(self.trees)})",
                f"shallower trees (max_depth below {max(tree.depth() for tree in self.trees)})"]
        if self.layout != "table":
            tips.append("--layout table")
        if self.in_kind in ("bits", "keys"):
            tips.append("--bins")
        return tips

    def out_format(self) -> QFormat:
        return QFormat(self.out_type, scale_value=float(self.out_scale), rounding="none")

    def accumulator_bound(self) -> float:
        return self.acc_bound * float(self.out_scale)

    def out_bounds(self) -> tuple[int, int]:
        """The proven |sum| <= acc_bound; class fractions without a bias are never negative."""
        nonnegative = self.leaf_type == "uint16" and self.bias is None
        return (0 if nonnegative else -self.acc_bound, self.acc_bound)

    def soft_float_routines(self) -> set[str]:
        return {"compare"} if self.in_kind == "float" else set()

    def cost_group(self) -> str:  # one group per layout: its variants are counted apart (costs.py)
        return f"trees/{self.layout}"

    def count_costs(self, values: np.ndarray, group: str, counts: Features) -> None:
        count_tree_costs(self, values, group, counts)

    def c_helpers(self) -> tuple[str, ...]:
        """The C primitives and macros the layout's template calls (tinygen/c_primitives.py)."""
        splits = any(tree.left[0] >= 0 for tree in self.trees)  # not every tree a single leaf
        bits = ("bits",) if self.in_kind == "bits" and splits else ()
        if self.layout != "table":
            return bits  # inline: thresholds and leaves are in the code
        return bits + self.table_code().helpers(bias=self.bias is not None)

    # ---- the layouts' C (templates/c/tree_ensemble_inline.c.j2 and _table.c.j2 spell what inline.py and
    # table_code.py decide) -----------------------------------------------------------------------------------
    @property
    def returns_fraction(self) -> bool:
        """True when each inline tree returns its leaf's one class fraction (no accumulator)."""
        return self.n_summed == 1 and self.leaf_type == "uint16"

    @property
    def input_arg(self) -> tuple[str, str]:
        """(name, element type) of what the trees' C reads, inline or in tables: the float features themselves
        (raw bits, float compares), the quantized features, or the keys / bins."""
        if self.in_kind in ("bits", "float"):
            return "x", "float32"
        return ("x_q" if self.in_kind == "fixed" else "k"), self.in_type

    def inline_lines(self) -> list[list[Line]]:
        """Each tree's code (inline.tree_lines)."""
        return [tree_lines(self, tree) for tree in self.trees]

    def table_code(self) -> TableCode:
        """The table layout's C (table_code.py; templates/c/tree_ensemble_table.c.j2 spells it)."""
        return table_code(self, self.tables())

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
                routing = FixedRouting(tree, keys)
            elif self.in_kind == "bits":
                routing = TableBitsRouting(tree, keys) if self.layout == "table" else BitsRouting(tree, keys)
            else:
                routing = KeyRouting(tree, keys, self.nan_key)
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
            reached.append(floats.leaves_reached(FloatRouting(floats, x32)))
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
