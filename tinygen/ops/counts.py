"""The cost counts of a program: what each op adds for the cost model (costmodel.py fits one coefficient per
named count). Ops fill them (Op.count_costs); the cost model reads them."""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass
class Features:
    """The counts of one program on some rows: per-row arrays for cycles, plain numbers for the sizes."""
    cycles: dict[str, np.ndarray] = field(default_factory=dict)
    flash: dict[str, float] = field(default_factory=dict)
    stack: dict[str, float] = field(default_factory=dict)
    input_group: str | None = None  # the float -> integer conversion's group (what NAME_predict_q skips)

    def add_cycles(self, name: str, per_row) -> None:
        self.cycles[name] = self.cycles.get(name, 0.0) + np.asarray(per_row, dtype=np.float64)

    def add_flash(self, name: str, value: float) -> None:
        self.flash[name] = self.flash.get(name, 0.0) + float(value)

    def add_stack(self, name: str, value: float) -> None:
        self.stack[name] = self.stack.get(name, 0.0) + float(value)

    def of(self, quantity: str) -> dict:
        """The counts a quantity is fitted on (static RAM on the flash counts)."""
        return {"cycles": self.cycles, "flash": self.flash, "stack": self.stack, "ram": self.flash}[quantity]


def count_macs(op, values: np.ndarray, group: str, counts: Features, float_zeros: bool) -> None:
    """A dense or fully_connected layer's outputs and multiply-accumulates on its input rows `values`
    (float_zeros: soft-float multiplies by zero return early, so they are counted apart)."""
    rows = len(values)
    counts.add_cycles(f"{group}:outputs", np.full(rows, op.n_out))
    if float_zeros:
        zeros = (values == 0).sum(axis=1)
        counts.add_cycles(f"{group}:zero_macs", zeros * op.n_out)
        counts.add_cycles(f"{group}:macs", (op.n_in - zeros) * op.n_out)
    else:
        counts.add_cycles(f"{group}:macs", np.full(rows, op.n_in * op.n_out))
