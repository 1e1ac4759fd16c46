"""The whole linear family on every MCU instruction set: every model x dtype, every row of its data set
(breast_cancer and wine in full; diabetes in full), C == simulator with 0 mismatches. The default run takes each
model on one target (each target three of them, one per data set); the rest is marked slow."""
from __future__ import annotations

import pytest

import tinygen
from tinygen.bench import LINEAR_CASES, fitted, split
from tinygen.quantize import LINEAR_DTYPES as DTYPES
from tinygen.targets import TARGETS
from tinygen.verify import compare_on_target

from conftest import need_tool, spread_over_targets

MCU_TARGETS = ("avr", "cortex-m4", "cortex-m0", "rv32", "xtensa-lx106")


def _need(target: str) -> None:
    module = TARGETS[target]
    for tool in getattr(module, "tools", None) or (("avr-gcc", "simavr") if target == "avr" else ()):
        need_tool(tool)


# each case on one target by default, every other pair under the slow marker
@pytest.mark.parametrize("dataset,model,target", spread_over_targets(LINEAR_CASES, MCU_TARGETS))
def test_linear_family_on_mcu(target, dataset, model):
    _need(target)
    X, y, X_train, *_ = split(dataset)
    for dtype in DTYPES:
        converted = tinygen.convert(fitted(dataset, model), dtype=dtype, calibration=X_train)
        result = compare_on_target(converted, target, X, "m")
        assert result["rows"] == len(X)
        assert result["mismatches"] == 0, (dtype, result)
