"""order_keys: float32 features -> int32 keys that order exactly as the floats do (the `exact` dtype).

key(x) = bits(x) for x >= +0.0, and -(bits(x) & 0x7FFFFFFF) - 1 for negative x (so -0.0 -> -1, just below
+0.0 -> 0); NaN (any payload, either sign) -> a NaN key per feature: NAN_KEY = 2**31 - 1, above +inf's key
0x7F800000, or NAN_KEY_LOW = -2**31, below -inf's key -0x7F800001 (chosen by the tree op: the one that
sends NaN the way most splits send it, so only the others test for it). For every
float32 x and every threshold t that is a float32 other than -0.0, x <= t exactly when key(x) <= key(t), so a
tree compares integers and still takes scikit-learn's branch at every node (the "FlInt" idea). Thresholds
are made float32 (largest float32 <= the float64 threshold) and -0.0 becomes +0.0 in tree_ensemble.
mode "bits" (the trees compare the raw float32 bits themselves, see routing.bits_test): the op
outputs the features' bits, uint32 in int64, and the C reads them straight from x (no pass, no buffer).
mode "float" (dtype float32: the trees compare the floats with float32 thresholds): the op outputs the
features as float32 values and the C reads x itself (no pass, no buffer).

Only the features the trees read get a key (`features`: key j is feature features[j]); a model that reads
most of its features keys all of them (a plain loop is cheaper than an index table).
Ranges: input any float32; output int32, NaN only as the feature's NaN key.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ...fixedpoint import bits, order_key
from ..base import Op
from ..counts import Features

NAN_KEY = (1 << 31) - 1
NAN_KEY_LOW = -(1 << 31)
NAN_KEYS = (NAN_KEY, NAN_KEY_LOW)


def key_floats(keys) -> np.ndarray:
    """The float32 values of order keys (the inverse of fixedpoint.order_key on numbers: negative keys are bits ^ 0x7FFFFFFF)."""
    keys = np.asarray(keys, dtype=np.int64)
    bits = np.where(keys >= 0, keys, (keys ^ 0x7FFFFFFF) & 0xFFFFFFFF)
    return bits.astype(np.uint32).view(np.float32)


def float32_floor(t) -> np.ndarray:
    """The largest float32 <= t (float64): x <= t  <=>  x <= float32_floor(t) for every float32 x."""
    t = np.asarray(t, dtype=np.float64)
    with np.errstate(over="ignore", under="ignore"):  # |t| beyond float32 -> inf; below 0 -> a subnormal: both meant
        nearest = t.astype(np.float32)
        below = np.nextafter(nearest, np.float32(-np.inf))
    return np.where(nearest.astype(np.float64) > t, below, nearest).astype(np.float32)


def threshold_keys(thresholds) -> np.ndarray:
    """Keys of float64 tree thresholds: floor to float32, -0.0 -> +0.0, then fixedpoint.order_key."""
    floored = float32_floor(thresholds)
    floored = np.where(floored == 0, np.float32(0.0), floored).astype(np.float32)
    return order_key(floored)


class FeatureSubset(Op):
    """An op whose output j is computed from input feature features[j] (the trees' keys and bins)."""

    @property
    def n_out(self) -> int:
        return len(self.features)

    @property
    def all_features(self) -> bool:
        return self.features == list(range(self.n_in))


@dataclass
class OrderKeys(FeatureSubset):
    """key[j] = order key of x[features[j]], NaN -> nan_key (NAN_KEY or NAN_KEY_LOW)."""

    op = "order_keys"
    n_in: int
    features: list[int] | None = None  # the features keyed, in key order; None: all of them
    nan_key: int = NAN_KEY
    out_type: str = "int32"
    mode: str = "keys"  # "keys" | "bits" | "float"

    def __post_init__(self):
        self.features = list(range(self.n_in)) if self.features is None else [int(f) for f in self.features]
        self.nan_key = int(self.nan_key)
        if self.nan_key not in NAN_KEYS:
            raise ValueError("order_keys: the NaN key is INT32_MAX or INT32_MIN")
        if self.mode not in ("keys", "bits", "float") or (self.mode != "keys" and not self.all_features):
            raise ValueError("order_keys: mode keys, or bits or float over all features")

    @property
    def passthrough(self) -> bool:
        """True when the C has no pass and no buffer: the next op reads the float input itself."""
        return self.mode != "keys"

    def table_bytes(self) -> dict[str, int]:
        return {} if self.all_features else {"features": 2 * self.n_out}

    def cost_group(self) -> str:
        return f"order_keys/{self.mode}"

    def count_costs(self, values: np.ndarray, group: str, counts: Features) -> None:
        if not self.passthrough:  # the key pass; raw bits and floats are read in place
            super().count_costs(values, group, counts)

    def forward(self, x: np.ndarray) -> np.ndarray:
        x = np.asarray(x)
        if self.mode == "bits":
            return bits(x)
        if self.mode == "float":
            return np.asarray(x, dtype=np.float32).astype(np.float64)
        return order_key(x[:, self.features], self.nan_key)

    def to_dict(self) -> dict:
        return {"op": self.op, "n_in": self.n_in, "n_out": self.n_out, "out_type": self.out_type,
                "features": list(self.features), "nan_key": self.nan_key, "mode": self.mode,
                "key": "bits for x >= +0.0, -(bits & 0x7FFFFFFF) - 1 below; NaN -> nan_key"}

    @classmethod
    def from_dict(cls, data: dict) -> "OrderKeys":
        return cls(n_in=int(data["n_in"]), features=data.get("features"), nan_key=data.get("nan_key", NAN_KEY),
                   mode=data.get("mode", "keys"))

    def c_helpers(self) -> tuple[str, ...]:
        """The C primitives and macros templates/c/order_keys.c.j2 calls (tinygen/c_primitives.py): no pass in modes
        bits and float (the trees read x)."""
        if self.mode != "keys":
            return ()
        return ("order_key",) if self.all_features else ("order_key", "ROM", "rd_u16")
