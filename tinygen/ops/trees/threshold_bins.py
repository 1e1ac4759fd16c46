"""threshold_bins: float32 features -> small integer bins, lossless for the trees that read them (`exact`).

Per feature the trees read, its split thresholds (order keys, order_keys.py) sorted and distinct:
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

from ...c_primitives import reader
from ...fixedpoint import order_key
from ..counts import Features
from ..types import BITS
from .order_keys import NAN_KEY, FeatureSubset

MAX_UINT8_EDGES = 253  # bins 1 .. 254, and 255 for NaN
BINS_CODE_BYTES = 200  # the binary search's code, beyond the key pass it replaces (avr-gcc -Os), for estimates
BIN_MAX = {"uint8": 255, "uint16": 65535}


@dataclass
class ThresholdBins(FeatureSubset):
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

    def table_bytes(self) -> dict[str, int]:
        sizes = {"edges": 4 * len(self.flat_edges), "edge_base": BITS[self.edge_index_type] // 8 * (self.n_out + 1)}
        if not self.all_features:
            sizes["features"] = 2 * self.n_out
        return sizes

    def cost_group(self) -> str:
        return f"threshold_bins/{self.out_type}"

    def count_costs(self, values: np.ndarray, group: str, counts: Features) -> None:
        counts.add_cycles(f"{group}:values", np.full(len(values), self.n_out))
        counts.add_cycles(f"{group}:edges_scanned", np.minimum(self.forward(values), self.scan_edges + 1).sum(axis=1))

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

