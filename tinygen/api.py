"""The Python API: convert a fitted estimator, then predict/score with the simulator, save, or verify."""
from __future__ import annotations

import numpy as np

from . import digests
from .data import given_names, name_differences, names_list
from .emit import check_name, render_header
from .errors import TinygenError
from .frontend import feature_names_of, to_float_program
from .ir import Program
from .ops.trees import FloatTrees
from .ops.types import type_range
from .quantize import check_dtype, quantize
from .trainable import convert_trainable


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
        return self.program.scores(self._rows(X))

    def predict(self, X) -> np.ndarray:
        return self.program.predict(self._rows(X))

    def predict_proba(self, X) -> np.ndarray:
        """Classifiers with logit scores (ir.PROBA_MODELS): fixed point, NAME_predict_proba's Q15 values / 32768;
        float32, the softmax / logistic of the raw scores on the host."""
        return self.program.predict_proba(self._rows(X))

    def score_samples(self, X) -> np.ndarray:
        """IsolationForest models: scikit-learn's score_samples, from the simulator's integer path lengths."""
        return self.program.score_samples(self._rows(X))

    def decision_function(self, X) -> np.ndarray:
        """IsolationForest models: scikit-learn's decision_function (>= 0: inlier)."""
        return self.program.decision_function(self._rows(X))

    # ---- trainable models (convert(..., trainable=True)): the device's integer SGD, bit for bit ----------------
    def _trainable(self):
        op = self.program.trainable_op
        if op is None:
            raise TinygenError("this model was not exported trainable; convert it with trainable=True "
                               "(tinygen export --trainable)")
        return op

    def partial_fit(self, X, y) -> "ConvertedModel":
        """One integer SGD step per row, in order, as NAME_partial_fit (classifiers: y holds the estimator's labels;
        regressors: float targets, as NAME_partial_fit_reg). predict, scores and predict_proba then use the new
        weights."""
        op = self._trainable()
        X = self.program.check_features(self._rows(X))
        y = np.asarray(y).reshape(-1)
        if len(y) != len(X):
            raise TinygenError(f"partial_fit got {len(X)} rows and {len(y)} labels")
        targets = y.astype(np.float32) if op.regression else self.label_indices(y)
        values = X.astype(np.float64)
        with np.errstate(over="ignore", under="ignore"):
            values = values.astype(np.float32)
        for frozen in self.program.ops[:-1]:
            values = frozen.forward(values)
        op.update(values, targets)
        return self

    def label_indices(self, y) -> np.ndarray:
        """The class index of each label (the estimator's classes_); a TinygenError names a label it has not."""
        labels = list(self.program.labels)
        index = {label: i for i, label in enumerate(labels)}
        try:
            return np.array([index[v.item() if hasattr(v, "item") else v] for v in np.asarray(y, dtype=object)],
                            dtype=np.int64)
        except KeyError as exc:
            raise TinygenError(f"label {exc.args[0]!r} is not one of the model's classes {labels}") from None

    def training_state(self) -> dict:
        """The device state: weights (int64 [n_out, n_in], int32 values), bias, steps, saturations."""
        state = self._trainable().state
        return {"weights": state.weights.copy(), "bias": state.bias.copy(), "steps": state.steps,
                "saturations": state.saturations}

    def trainable_weights(self) -> bytes:
        """NAME_weights()'s NAME_WEIGHTS_BYTES bytes: the int32 weights row-major, then the bias, little-endian."""
        return self._trainable().weights_bytes()

    def load_weights(self, data: bytes) -> None:
        """NAME_load_weights: weights and bias from trainable_weights()' layout (clamped to their limits, counted)."""
        self._trainable().load_bytes(data)

    def reset(self) -> None:
        """Back to the exported weights, steps and saturations 0 (NAME_init)."""
        self._trainable().reset()

    def _rows(self, X):
        """X as an array; a DataFrame's columns must be the model's feature names, in order (as scikit-learn
        checks them)."""
        return checked_rows(X, given_names(self.program.feature_names), "X")

    def files(self, name: str = "model") -> tuple[str, str]:
        """(NAME.h, NAME.json) as exported: each carries the other's SHA-256 (digests.py), so that
        `tinygen verify NAME.json` can tell whether the header that ships is the one of this manifest."""
        check_name(name)
        return digests.seal(render_header(self.program, name, digests.ZERO),
                            self.program.to_json(name, header_sha256=digests.ZERO))

    def header(self, name: str = "model") -> str:
        return self.files(name)[0]

    def manifest(self, name: str = "model") -> str:
        return self.files(name)[1]

    def save(self, directory, name: str = "model") -> dict:
        """Write DIRECTORY/NAME.h and DIRECTORY/NAME.json; both are rendered and written to temporary files
        before either takes its name."""
        from .formats.common import write_outputs  # formats builds on this module

        return write_outputs(directory, name, *self.files(name), None)

    def __repr__(self) -> str:
        return f"<ConvertedModel {self.program.source} {self.dtype}, {self.program.n_features} features>"


def convert(estimator, dtype: str | None = None, calibration=None, feature_names=None,
            layout: str = "auto", bins: bool | None = None, raw_samples: dict | None = None, trainable: bool = False,
            learning_rate: str | None = None, l2=None) -> ConvertedModel:
    """Turn a fitted scikit-learn estimator or Pipeline into a tinygen model.

    dtype: float32, q31, q15 or q7 for linear models (default q15); exact for trees (their default).
    calibration: rows of features (array-like, n x d) that fixed-point formats are chosen from; required
    for q-dtypes. feature_names: optional, for the header. layout (trees): "inline" (if/else code, fastest),
    "table" (arrays walked by a loop, smallest) or "auto" (the smaller of the two for this model); bins (trees,
    exact): True to map each feature once to its rank among the split thresholds and compare small integers,
    False to compare 32-bit order keys, None for whichever is smaller.
    raw_samples (window programs: a Pipeline whose first step is WindowFeatures): the raw int16 samples the device
    feeds to NAME_predict_window_q and NAME_push, {channel: (scale, offset)}: scale, the real value of one step
    (None: the format chosen from the calibration windows); offset, the raw value that means 0 (None: 0). If one
    channel has a scale, every channel needs one; channels not named keep the calibrated format and offset 0.
    trainable (linear models, q15): the weights live in RAM and learn on the device (NAME_partial_fit) and in the
    simulator (ConvertedModel.partial_fit), bit for bit; learning_rate "constant:ETA" (default 2^-7),
    "invscaling:ETA0[:POWER_T]" or "optimal", rounded to powers of two; l2 the L2 alpha (a power of two), or None.
    """
    if trainable:
        if feature_names is None and feature_names_of(estimator) is None and _columns_of(calibration) is not None:
            feature_names = _columns_of(calibration)
        calibration = checked_rows(calibration, feature_names or feature_names_of(estimator), "calibration")
        return ConvertedModel(convert_trainable(estimator, dtype, calibration, learning_rate, l2, feature_names),
                              estimator)
    if learning_rate is not None or l2 is not None:
        raise TinygenError("learning_rate and l2 are for trainable exports (trainable=True)")
    if feature_names is None and feature_names_of(estimator) is None and _columns_of(calibration) is not None:
        feature_names = _columns_of(calibration)  # a model fitted on arrays: the header documents the frame's names
    calibration = checked_rows(calibration, feature_names or feature_names_of(estimator), "calibration")
    program = to_float_program(estimator, feature_names=feature_names)
    if raw_samples is not None:
        declare_raw_samples(program, raw_samples)
    dtype = check_dtype(dtype or default_dtype(program))
    return ConvertedModel(quantize(program, dtype, calibration, layout, bins), estimator)


INT16_RANGE = type_range("int16")


def declare_raw_samples(program: Program, raw_samples: dict) -> None:
    """Set convert's ``raw_samples`` on the window prefix of a float program (its raw_scales and raw_offsets, in
    channel order); a TinygenError names a channel that is not the model's, a scale that is not a positive number,
    an offset that is not an int16, and the channels without a scale when another has one."""
    prefix = program.ops[0]
    channels = list(prefix.channels) if prefix.is_prefix else []
    if not channels:
        raise TinygenError("raw sample scales and offsets (export --raw-scale/--raw-offset) are for window models, a "
                           "Pipeline whose first step is WindowFeatures; this model reads features")
    unknown = [str(channel) for channel in raw_samples if channel not in channels]
    if unknown:
        raise TinygenError(f"raw sample formats for {names_list(unknown)}: not a channel of the model (its channels: "
                           f"{names_list(channels)})")
    scales, offsets = {}, {}
    for channel, (scale, offset) in raw_samples.items():
        if scale is not None:
            scales[channel] = _raw_scale(channel, scale)
        if offset is not None:
            offsets[channel] = _raw_offset(channel, offset)
    missing = [channel for channel in channels if channel not in scales]
    if scales and missing:
        raise TinygenError(f"raw sample scales are given for {names_list(list(scales))} but not for "
                           f"{names_list(missing)}: a window model's raw samples take a scale on every channel or on "
                           "none (then the formats come from the calibration windows)")
    prefix.raw_scales = [scales[channel] for channel in channels] if scales else None
    prefix.raw_offsets = [offsets.get(channel, 0) for channel in channels] if offsets else None


def _raw_scale(channel: str, scale) -> float:
    """A declared raw scale as a float: finite and > 0 (also as the float32 the device divides by)."""
    try:
        value = float(scale)
    except (TypeError, ValueError):
        value = float("nan")
    if not (np.isfinite(value) and value > 0 and np.isfinite(np.float32(value)) and np.float32(value) > 0):
        raise TinygenError(f"the raw scale of channel {channel!r} must be a positive number that float32 holds (the "
                           f"real value of one step of the raw int16 samples), not {scale!r}")
    return value


def _raw_offset(channel: str, offset) -> int:
    """A declared raw offset as an int: a whole number within int16."""
    whole = isinstance(offset, (int, np.integer)) and not isinstance(offset, bool)
    if not whole or not INT16_RANGE[0] <= int(offset) <= INT16_RANGE[1]:
        raise TinygenError(f"the raw offset of channel {channel!r} must be a whole number from {INT16_RANGE[0]} to "
                           f"{INT16_RANGE[1]} (the raw int16 value that means 0), not {offset!r}")
    return int(offset)


def _columns_of(X) -> list[str] | None:
    """The column names of a DataFrame (anything with ``columns``, as scikit-learn sees it), else None."""
    columns = getattr(X, "columns", None)
    return None if columns is None else [str(c) for c in columns]


def checked_rows(X, feature_names: list[str] | None, what: str):
    """``X`` itself, or a DataFrame as a float64 array after checking that its columns are ``feature_names`` in
    order (None: the model was fitted without names, any columns do) -- scikit-learn raises on a mismatch too."""
    columns = _columns_of(X)
    if columns is None:
        return X
    if feature_names is not None and columns != list(feature_names):
        differences = name_differences(columns, list(feature_names))
        raise TinygenError(f"the columns of {what} are not the model's feature names{differences}; select them in "
                           "the model's order, e.g. X[feature_names]")
    return np.asarray(X, dtype=np.float64)


def default_dtype(program: Program) -> str:
    """exact for trees, q15 for everything else."""
    return "exact" if any(isinstance(op, FloatTrees) for op in program.ops) else "q15"


def load(manifest_path) -> ConvertedModel:
    """A model back from the NAME.json manifest that save() or `tinygen export` wrote."""
    return ConvertedModel(Program.load(manifest_path))
