"""The Python API: convert a fitted estimator, then predict/score with the simulator, save, or verify."""
from __future__ import annotations

import numpy as np

from .emit import check_name, render_header
from .frontend import to_float_program
from .ir import Program
from .ops.tree_ensemble import FloatTrees
from .quantize import check_dtype, quantize


class ConvertedModel:
    """A typed integer program (plus the estimator it came from, when known).

    predict(X) / scores(X) run the bit-exact simulator: scores are exactly what NAME_scores writes in C.
    """

    def __init__(self, program: Program, estimator=None):
        self.program = program
        self.estimator = estimator

    @property
    def dtype(self) -> str:
        return self.program.dtype

    def scores(self, X) -> np.ndarray:
        return self.program.scores(X)

    def predict(self, X) -> np.ndarray:
        return self.program.predict(X)

    def predict_proba(self, X) -> np.ndarray:
        """Classifiers with logit scores (ir.PROBA_MODELS): fixed point, NAME_predict_proba's Q15 values / 32768;
        float32, the softmax / logistic of the raw scores on the host."""
        return self.program.predict_proba(X)

    def score_samples(self, X) -> np.ndarray:
        """IsolationForest models: scikit-learn's score_samples, from the simulator's integer path lengths."""
        return self.program.score_samples(X)

    def decision_function(self, X) -> np.ndarray:
        """IsolationForest models: scikit-learn's decision_function (>= 0: inlier)."""
        return self.program.decision_function(X)

    def header(self, name: str = "model") -> str:
        return render_header(self.program, name)

    def manifest(self, name: str = "model") -> str:
        check_name(name)
        return self.program.to_json(name)

    def save(self, directory, name: str = "model") -> dict:
        """Write DIRECTORY/NAME.h and DIRECTORY/NAME.json; both are rendered and written to temporary files
        before either takes its name."""
        from .formats.common import write_outputs  # formats builds on this module

        return write_outputs(directory, name, self.header(name), self.manifest(name), None)

    def __repr__(self) -> str:
        return f"<ConvertedModel {self.program.source} {self.dtype}, {self.program.n_features} features>"


def convert(estimator, dtype: str | None = None, calibration=None, feature_names=None,
            layout: str = "auto", bins: bool | None = None) -> ConvertedModel:
    """Turn a fitted scikit-learn estimator or Pipeline into a tinygen model.

    dtype: float32, q31, q15 or q7 for linear models (default q15); exact for trees (their default).
    calibration: rows of features (array-like, n x d) that fixed-point formats are chosen from; required
    for q-dtypes. feature_names: optional, for the header. layout (trees): "inline" (if/else code, fastest),
    "table" (arrays walked by a loop, smallest) or "auto" (the smaller of the two for this model); bins (trees,
    exact): True to map each feature once to its rank among the split thresholds and compare small integers,
    False to compare 32-bit order keys, None for whichever is smaller.
    """
    program = to_float_program(estimator, feature_names=feature_names)
    dtype = check_dtype(dtype or default_dtype(program))
    return ConvertedModel(quantize(program, dtype, calibration, layout, bins), estimator)


def default_dtype(program: Program) -> str:
    """exact for trees, q15 for everything else."""
    return "exact" if any(isinstance(op, FloatTrees) for op in program.ops) else "q15"


def load(manifest_path) -> ConvertedModel:
    """A model back from the NAME.json manifest that save() or `tinygen export` wrote."""
    return ConvertedModel(Program.load(manifest_path))
