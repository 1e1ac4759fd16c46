"""threshold_bins: float32 features -> small integer bins, lossless for the trees that read them (`exact`).

Per feature the trees read, its split thresholds (order keys, ops/order_keys.py) sorted and distinct:
edges e_0 < e_1 < ... < e_{m-1}. bin(x) = 1 + #{i : e_i < key(x)}, in 1 .. m+1; NaN -> nan_bin (0, below
every bin, or bin_max, above). A split `key <= e_i` becomes `bin <= i + 1`, which is the same test for every
input: #{e < key} <= i  <=>  e_i >= key (the edges are sorted and distinct). So the trees compare bytes (or
16-bit bins when a feature has more than MAX_UINT8_EDGES thresholds) instead of 32-bit keys, and each
threshold is stored once per feature instead of once per split (lossless binning, the idea of tl2cgen's
quantize=1). The C counts the edges below the key by a scan that stops at the first edge >= key (features
have few edges: RF 10x6 breast_cancer 1..15, ~6 on average), from the raw float32 bits (the key made in
place, NaN told by its exponent and mantissa); on AVR it compares the edges' high halves first and their low
halves only on a tie. Lists longer than scan_edges are first narrowed by a binary search. Measured against
the binary search, RF 10x6 breast_cancer inline+bins: Uno 5,920 -> 4,463 cycles, Cortex-M4 1,956 -> 1,476
instructions; a scan over edges split into high and low half arrays measured slower on the Uno (5,342).

Ranges: input any float32; output uint8 (or uint16), 1 .. m+1 <= bin_max - 1 for numbers, nan_bin for NaN.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..c_primitives import reader
from ..fixedpoint import order_key
from .order_keys import NAN_KEY
from .types import BITS

MAX_UINT8_EDGES = 253  # bins 1 .. 254, and 255 for NaN
BINS_CODE_BYTES = 200  # the binary search's code, beyond the key pass it replaces (avr-gcc -Os), for estimates
BIN_MAX = {"uint8": 255, "uint16": 65535}


@dataclass
class ThresholdBins:
    """bins[j] = 1 + #{edges[j] < key(x[features[j]])}, NaN -> nan_bin."""

    op = "threshold_bins"
    n_in: int
    features: list[int]  # the features binned, in bin order
    edges: list[list[int]]  # per binned feature: its sorted distinct threshold keys
    nan_bin: int  # 0 or BIN_MAX[out_type]
    out_type: str = "uint8"

    def __post_init__(self):
        self.features = [int(f) for f in self.features]
        self.edges = [[int(e) for e in edges] for edges in self.edges]
        if self.out_type not in BIN_MAX or self.nan_bin not in (0, BIN_MAX[self.out_type]):
            raise ValueError("threshold_bins: uint8 or uint16 bins, NaN in bin 0 or the largest bin")
        if max((len(e) for e in self.edges), default=0) + 1 >= BIN_MAX[self.out_type]:
            raise ValueError("threshold_bins: more thresholds than the bin type holds")

    @property
    def n_out(self) -> int:
        return len(self.features)

    @property
    def all_features(self) -> bool:
        return self.features == list(range(self.n_in))

    @property
    def edge_base(self) -> list[int]:
        """Feature j's edges are flat_edges[edge_base[j] .. edge_base[j + 1] - 1]."""
        return [0, *np.cumsum([len(e) for e in self.edges]).tolist()]

    @property
    def edge_index_type(self) -> str:
        """The type of edge_base and of the C's edge indices: uint16 while every offset (at most the total
        number of edges) fits it, else uint32 (a model of more than 65,535 distinct thresholds)."""
        return "uint16" if sum(len(e) for e in self.edges) <= 0xFFFF else "uint32"

    @property
    def flat_edges(self) -> list[int]:
        return [e for edges in self.edges for e in edges]

    @property
    def max_edges(self) -> int:
        return max((len(e) for e in self.edges), default=0)

    scan_edges = 16  # the C scans at most this many edges in a row; a binary search narrows longer lists first

    @property
    def edge_halves(self) -> tuple[list[int], list[int]]:
        """flat_edges as (high halves, int16; low halves, uint16): edge = hi * 65536 + lo. The AVR's tables."""
        return [e >> 16 for e in self.flat_edges], [e & 0xFFFF for e in self.flat_edges]

    def table_bytes(self) -> dict[str, int]:
        sizes = {"edges": 4 * len(self.flat_edges), "edge_base": BITS[self.edge_index_type] // 8 * (self.n_out + 1)}
        if not self.all_features:
            sizes["features"] = 2 * self.n_out
        return sizes

    def forward(self, x: np.ndarray) -> np.ndarray:
        keys = order_key(np.asarray(x)[:, self.features], NAN_KEY)
        bins = np.empty(keys.shape, dtype=np.int64)
        for j, edges in enumerate(self.edges):
            bins[:, j] = 1 + np.searchsorted(np.asarray(edges, dtype=np.int64), keys[:, j], side="left")
        x32 = np.asarray(x, dtype=np.float32)[:, self.features]
        return np.where(np.isnan(x32), self.nan_bin, bins)

    def to_dict(self) -> dict:
        return {"op": self.op, "n_in": self.n_in, "n_out": self.n_out, "out_type": self.out_type,
                "features": list(self.features), "edges": [list(e) for e in self.edges], "nan_bin": self.nan_bin,
                "bin": "1 + #{edges[j] < order key of x[features[j]]}; NaN -> nan_bin"}

    @classmethod
    def from_dict(cls, data: dict) -> "ThresholdBins":
        return cls(n_in=int(data["n_in"]), features=data["features"], edges=data["edges"], nan_bin=int(data["nan_bin"]),
                   out_type=data.get("out_type", "uint8"))

    def c_helpers(self) -> tuple[str, ...]:
        """The C primitives and macros templates/c/threshold_bins.c.j2 calls (tinygen/c_primitives.py)."""
        features = () if self.all_features else ("ROM", "rd_u16")
        if not self.flat_edges:  # no thresholds: the key tells NaN from numbers
            return ("order_key", *features)
        return ("ROM", "rd_i32", reader(self.edge_index_type), "bits", *features)


def bin_trees(op, features: list[int], n_features: int):
    """(ThresholdBins, the tree op reading bins) for a keys-reading TreeEnsemble `op` whose key j is input
    feature features[j]: each split's threshold key becomes its rank among its feature's edges, plus 1."""
    edges: list[set] = [set() for _ in features]
    for tree in op.trees:
        for f, t, left in zip(tree.feature, tree.threshold, tree.left):
            if left >= 0:
                edges[int(f)].add(int(t))
    sorted_edges = [sorted(e) for e in edges]
    used = [j for j, e in enumerate(sorted_edges) if e] or [0]  # a model of single leaves bins one feature
    out_type = "uint8" if max(len(sorted_edges[j]) for j in used) <= MAX_UINT8_EDGES else "uint16"
    nan_bin = 0 if op.nan_key < 0 else BIN_MAX[out_type]
    position = {j: new for new, j in enumerate(used)}
    rank = [{edge: i + 1 for i, edge in enumerate(e)} for e in sorted_edges]
    for tree in op.trees:
        inner = tree.left >= 0
        ranks = [rank[int(f)][int(t)] if is_inner else 0 for f, t, is_inner in zip(tree.feature, tree.threshold, inner)]
        tree.threshold = np.asarray(ranks, dtype=np.int64)
        tree.feature = np.array([position[int(f)] if is_inner else -1 for f, is_inner in zip(tree.feature, inner)],
                                dtype=np.int64)
    op.in_kind, op.in_type, op.nan_key, op.n_in = "bins", out_type, nan_bin, len(used)
    bins = ThresholdBins(n_in=n_features, features=[features[j] for j in used], edges=[sorted_edges[j] for j in used],
                         nan_bin=nan_bin, out_type=out_type)
    return bins, op
