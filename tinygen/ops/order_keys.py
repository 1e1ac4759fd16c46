"""order_keys: float32 features -> int32 keys that order exactly as the floats do (the `exact` dtype).

key(x) = bits(x) for x >= +0.0, and -(bits(x) & 0x7FFFFFFF) - 1 for negative x (so -0.0 -> -1, just below
+0.0 -> 0); NaN (any payload, either sign) -> NAN_KEY = 2**31 - 1, above +inf's key 0x7F800000. For every
float32 x and every threshold t that is a float32 other than -0.0, x <= t exactly when key(x) <= key(t), so a
tree compares integers and still takes scikit-learn's branch at every node (the "FlInt" idea). Thresholds
are made float32 (largest float32 <= the float64 threshold) and -0.0 becomes +0.0 in tree_ensemble.
Ranges: input any float32; output int32, NaN only as NAN_KEY.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

NAN_KEY = (1 << 31) - 1


def order_keys(x) -> np.ndarray:
    """The keys of float32 values (int64 holding int32 values). C: NAME_order_key."""
    raw = np.array(x, dtype=np.float32).view(np.uint32).astype(np.int64)
    magnitude = raw & 0x7FFFFFFF
    keys = np.where(raw >> 31 != 0, -magnitude - 1, magnitude)
    return np.where(magnitude > 0x7F800000, NAN_KEY, keys)


def float32_floor(t) -> np.ndarray:
    """The largest float32 <= t (float64): x <= t  <=>  x <= float32_floor(t) for every float32 x."""
    t = np.asarray(t, dtype=np.float64)
    nearest = t.astype(np.float32)
    below = np.nextafter(nearest, np.float32(-np.inf))
    return np.where(nearest.astype(np.float64) > t, below, nearest).astype(np.float32)


def threshold_keys(thresholds) -> np.ndarray:
    """Keys of float64 tree thresholds: floor to float32, -0.0 -> +0.0, then order_keys."""
    floored = float32_floor(thresholds)
    floored = np.where(floored == 0, np.float32(0.0), floored).astype(np.float32)
    return order_keys(floored)


@dataclass
class OrderKeys:
    op = "order_keys"
    n_in: int
    out_type: str = "int32"

    @property
    def n_out(self) -> int:
        return self.n_in

    def table_bytes(self) -> dict[str, int]:
        return {}

    def forward(self, x: np.ndarray) -> np.ndarray:
        return order_keys(x)

    def to_dict(self) -> dict:
        return {"op": self.op, "n_in": self.n_in, "n_out": self.n_out, "out_type": self.out_type,
                "nan_key": NAN_KEY, "key": "bits for x >= +0.0, -(bits & 0x7FFFFFFF) - 1 below; NaN -> nan_key"}

    @classmethod
    def from_dict(cls, data: dict) -> "OrderKeys":
        return cls(n_in=int(data["n_in"]))
