"""Passes over the float IR, run in order after a frontend (hls4ml's idea: each rewrite is a pass)."""
from __future__ import annotations

import numpy as np

from .errors import TinygenError
from .ops.dense import FloatDense
from .ops.gaussian_jll import FloatGaussianJLL


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


def fold_scaler_into_gaussian(program):
    """A per-feature scaler (a diagonal FloatDense) in front of GaussianNB moves into its means and variances;
    anything that mixes features (PCA) cannot, and is refused."""
    folded = []
    for op in program.ops:
        if folded and isinstance(folded[-1], FloatDense) and isinstance(op, FloatGaussianJLL):
            dense = folded.pop()
            off_diagonal = dense.weights - np.diag(np.diag(dense.weights)) if dense.n_in == dense.n_out else dense.weights
            if np.any(off_diagonal != 0):
                raise TinygenError("GaussianNB after PCA (or another step that mixes features) is not supported; "
                                   "put only per-feature scalers in front of it, or none")
            op = op.after_affine(np.diag(dense.weights).copy(), dense.bias)
        folded.append(op)
    program.ops = folded
    return program


PASSES = (fold_dense_chains, fold_scaler_into_gaussian)


def run_passes(program):
    for step in PASSES:
        program = step(program)
    return program
