"""Where generated C runs: toolchains and emulators. Each target module offers run(program, header_path,
name, X) -> (scores, predictions) and size(header_path, name) -> dict of bytes."""
from __future__ import annotations

from ..errors import TinygenError
from . import host

TARGETS = {"host": host}
PLANNED = ("avr", "cortex-m4", "cortex-m0", "rv32")  # contract names; they arrive with the MCU-targets issue


def get(name: str):
    if name in TARGETS:
        return TARGETS[name]
    if name in PLANNED:
        raise TinygenError(f"target {name} is not available in this tinygen yet; available: {', '.join(TARGETS)}")
    raise TinygenError(f"unknown target {name!r}; choose from {', '.join((*TARGETS, *PLANNED))}")
