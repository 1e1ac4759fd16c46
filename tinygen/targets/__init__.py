"""Where generated C runs: toolchains and emulators.

Each target module offers `measure(program, header: Path, name: str, X) -> Measurement`: build the header
into that target's firmware, run every row of X (float32 features), and return the raw scores and
predictions with the costs the target can measure (None where it cannot).
"""
from __future__ import annotations

from ..errors import TinygenError
from . import avr, host, qemu

TARGETS = {"host": host, "avr": avr, **qemu.TARGETS}
PLANNED: tuple[str, ...] = ()  # contract names that are not runnable yet


def get(name: str):
    if name in TARGETS:
        return TARGETS[name]
    if name in PLANNED:
        raise TinygenError(f"target {name} is not available in this tinygen yet; available: {', '.join(TARGETS)}")
    raise TinygenError(f"unknown target {name!r}; choose from {', '.join((*TARGETS, *PLANNED))}")
