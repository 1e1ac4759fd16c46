"""int8_activation: TFLM's int8 LOGISTIC and TANH (dtype int8 MLP hidden layers).

TFLM computes, per element: d = x - in_zero_point; d <= -radius -> -128, d >= radius -> 127, else
gemmlowp's fixed-point logistic/tanh of mbqm(d, multiplier, shift) (a Q4.27 value), rounded to the fixed
output format (logistic: scale 1/256, zero point -128; tanh: scale 1/128, zero point 0). The arithmetic is
written once in qparams.int8_activation; an int8 input has 256 values, so the quantizer evaluates it on all
of them and the op holds the 256 results: the simulator and the C (templates/c/int8_activation.c.j2) look
the table up, and tests/test_tflite.py checks every entry against the TFLM interpreter.
Ranges: in int8, out int8; no accumulator.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .. import qparams
from ..errors import TinygenError
from .base import Op, QFormat
from .types import as_ints

OUTPUT = {"logistic": (1.0 / 256.0, -128), "tanh": (1.0 / 128.0, 0)}  # TFLM's fixed output quantization


@dataclass
class Int8Activation(Op):
    op = "int8_activation"
    kind: str  # "logistic" | "tanh"
    n: int
    in_scale: float
    in_zero_point: int
    multiplier: int
    shift: int
    radius: int
    table: np.ndarray  # [256] int8 values: table[x + 128] = f(x)
    in_type: str = "int8"
    out_type: str = "int8"

    @property
    def n_in(self) -> int:
        return self.n

    @property
    def n_out(self) -> int:
        return self.n

    @property
    def out_scale(self) -> float:
        return OUTPUT[self.kind][0]

    @property
    def out_zero_point(self) -> int:
        return OUTPUT[self.kind][1]

    def table_bytes(self) -> dict[str, int]:
        return {"table": 256}

    def out_format(self) -> QFormat:
        return QFormat("int8", scale_value=self.out_scale, zero_point=self.out_zero_point, rounding="table")

    @property
    def label(self) -> str:
        return self.kind

    def cost_group(self) -> str:
        return f"int8_activation/{self.kind}"

    def forward(self, x: np.ndarray) -> np.ndarray:
        return self.table[as_ints(x) + 128]

    def to_dict(self) -> dict:
        return {"op": self.op, "kind": self.kind, "n_in": self.n, "n_out": self.n, "in_type": self.in_type,
                "out_type": self.out_type, "in_scale": float(self.in_scale), "in_zero_point": self.in_zero_point,
                "multiplier": self.multiplier, "shift": self.shift, "radius": self.radius,
                "out_scale": self.out_scale, "out_zero_point": self.out_zero_point,
                "arithmetic": "TFLM int8 kernel (gemmlowp fixed point), tabulated over all 256 inputs",
                "table": [int(v) for v in self.table]}

    @classmethod
    def from_dict(cls, data: dict) -> "Int8Activation":
        op = cls(kind=str(data["kind"]), n=int(data["n_in"]), in_scale=float(data["in_scale"]),
                 in_zero_point=int(data["in_zero_point"]), multiplier=int(data["multiplier"]), shift=int(data["shift"]),
                 radius=int(data["radius"]), table=as_ints(data["table"]))
        if op.kind not in OUTPUT or op.table.shape != (256,) or op.table.min() < -128 or op.table.max() > 127:
            raise ValueError("bad int8_activation")
        return op

    def c_helpers(self) -> tuple[str, ...]:
        """The C primitives and macros templates/c/int8_activation.c.j2 calls (tinygen/c_primitives.py)."""
        return ("ROM", "rd_i8")


def quantize(kind: str, n: int, in_scale: float, in_zero_point: int) -> Int8Activation:
    if kind not in OUTPUT:
        raise TinygenError(f"int8 activations are logistic and tanh, not {kind!r}")
    in_scale = float(np.float32(in_scale))
    try:
        multiplier, shift, radius = qparams.activation_input_params(in_scale)
    except ValueError:
        raise TinygenError("an int8 tanh/logistic input scale is outside TFLM's range; use --dtype q15") from None
    table = np.array([qparams.int8_activation(kind, x, in_zero_point, multiplier, shift, radius)
                      for x in range(-128, 128)], dtype=np.int64)
    return Int8Activation(kind=kind, n=n, in_scale=in_scale, in_zero_point=int(in_zero_point), multiplier=multiplier,
                          shift=shift, radius=radius, table=table)
