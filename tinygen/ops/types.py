"""Element types an op can hold or produce, by the names used in manifests."""
from __future__ import annotations

import numpy as np

from ..errors import TinygenError

BITS = {"int8": 8, "int16": 16, "int32": 32, "int64": 64, "float32": 32, "uint8": 8, "uint16": 16, "uint32": 32}
INT_TYPES = {8: "int8", 16: "int16", 32: "int32", 64: "int64"}


def type_range(type_name: str) -> tuple[int, int]:
    """(lowest, highest) value of an integer element type (two's complement, or unsigned for uint*)."""
    bits = BITS[type_name]
    if type_name.startswith("uint"):
        return 0, (1 << bits) - 1
    return -(1 << (bits - 1)), (1 << (bits - 1)) - 1


def is_float(type_name: str) -> bool:
    return type_name == "float32"


def check_type(type_name: str) -> str:
    if type_name not in BITS:
        raise ValueError(f"unknown element type {type_name!r}")
    return type_name


def frac_bits_from_json(value):
    """A manifest's frac bits: one int for the tensor, or (per-unit formats) a list, one per unit, as a tuple."""
    return tuple(int(v) for v in value) if isinstance(value, list) else int(value)


def frac_bits_to_json(value):
    """The manifest's spelling of frac bits: an int, or a list for per-unit formats (a tuple in the op)."""
    return [int(v) for v in value] if isinstance(value, tuple) else int(value)


def int_tuple_or_none(data: dict, key: str) -> tuple[int, ...] | None:
    """A manifest's optional list of ints as a tuple (absent or null: None)."""
    return tuple(int(v) for v in data[key]) if data.get(key) is not None else None


def as_ints(values) -> np.ndarray:
    return np.asarray(values, dtype=np.int64)


def float32_or_refuse(values, what: str) -> np.ndarray:
    """values as float32 for a float32 program; a clear refusal when one is NaN, infinite, or beyond float32's
    range (it would print as `inff` / `nanf` in the C, which no compiler takes)."""
    with np.errstate(over="ignore", invalid="ignore"):
        cast = np.asarray(values, dtype=np.float64).astype(np.float32)
    if not np.all(np.isfinite(cast)):
        largest = float(np.max(np.abs(np.asarray(values, dtype=np.float64))))
        raise TinygenError(f"the model's {what} are non-finite or beyond float32's range (largest |value| {largest:.3g}); "
                           "export with a fixed-point dtype (q15) or refit it on rescaled features")
    return cast
