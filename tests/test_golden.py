"""The simulator still computes what it computed before issue 15's restructuring: every case of tests/golden.py
(222 models x dtypes x layouts on their whole data sets and edge rows) against its stored digest. A changed
integer program fails here with the cases it changed; the C is held to the simulator by the C == simulator
tests, and `python3 tests/golden.py check --target host --target avr` checks the C's own digests."""
from __future__ import annotations

import json

import pytest

import golden

STORED = json.loads(golden.GOLDEN.read_text())
GROUPS = sorted({"/".join(name.split("/")[:2]) for name in STORED})  # data set/model: xdist spreads them


@pytest.mark.parametrize("group", GROUPS)
def test_simulator_outputs_are_the_golden_ones(group):
    got = golden.compute(["sim"], only=group + "/", jobs=1)
    assert got, f"no golden case of {group}"
    changed = [name for name, values in got.items() if values["sim"] != STORED[name]["sim"]]
    assert not changed, f"{len(changed)} cases compute other outputs than before: {changed[:5]}"


def test_a_changed_program_is_caught():
    """The digest sees one changed integer in one row."""
    import numpy as np
    scores = np.zeros((3, 2), dtype=np.int64)
    moved = scores.copy()
    moved[1, 1] = 1
    assert golden._digest(scores) != golden._digest(moved)
