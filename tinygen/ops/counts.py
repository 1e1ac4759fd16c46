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
