"""Passes over the float IR, run in order after a frontend (hls4ml's idea: each rewrite is a pass)."""
from __future__ import annotations

from .ops.dense import FloatDense


def fold_dense_chains(program):
    """Merge consecutive FloatDense ops (scaler -> PCA -> linear model) into one: A2 (A1 x + b1) + b2."""
    folded = []
    for op in program.ops:
        if folded and isinstance(folded[-1], FloatDense) and isinstance(op, FloatDense):
            folded[-1] = folded[-1].then(op)
        else:
            folded.append(op)
    program.ops = folded
    return program


PASSES = (fold_dense_chains,)


def run_passes(program):
    for step in PASSES:
        program = step(program)
    return program
