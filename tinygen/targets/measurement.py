"""What running a model on a target gives back: the raw outputs of every row and the costs."""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass
class Measurement:
    scores: np.ndarray  # [rows, n_outputs] in the header's score type (int32 or float32)
    predictions: np.ndarray  # [rows]: int32 class indices or float32 values
    flash_bytes: int | None = None  # what the model adds over the same firmware without it
    ram_bytes: int | None = None  # static RAM the model adds (.data + .bss)
    stack_bytes: int | None = None  # peak stack of one inference, measured
    cycles_per_inference: float | None = None  # mean over the rows
    cycles_unit: str | None = None  # "cycles" (exact, AVR) or "instructions" (QEMU targets)
    extra: dict = field(default_factory=dict)  # target-specific numbers worth reporting (min/max cycles, ...)
    # IsolationForest (where the target runs them): [rows, 2] NAME_score_samples_int, NAME_decision_function_int
    # (int32) and NAME_score_samples, NAME_decision_function (float32); None where not measured
    anomaly_int: np.ndarray | None = None
    anomaly_float: np.ndarray | None = None
    # classifiers with an integer predict_proba: [rows, classes] uint16, NAME_predict_proba (Q15); None where
    # the model has none
    proba: np.ndarray | None = None
    # trainable models run with update rows (measure(..., updates=(X, y))): NAME_weights() after the updates, and
    # NAME_steps() and NAME_saturations(); None where no updates ran. The cost of one partial_fit step (where the
    # target measures it) is in extra: cycles_partial_fit (mean, _min, _max), stack_bytes_partial_fit, state_bytes.
    weights: bytes | None = None
    steps: int | None = None
    saturations: int | None = None

    def costs(self) -> dict:
        return {"flash_bytes": self.flash_bytes, "ram_bytes": self.ram_bytes, "stack_bytes": self.stack_bytes,
                "cycles_per_inference": self.cycles_per_inference, "cycles_unit": self.cycles_unit, **self.extra}
