"""A stand-in for a trainable ConvertedModel (tinygen.convert(..., trainable=True), issue 17), with the interface
tinygen.fleet codes against: partial_fit, trainable_weights, load_weights, predict, reset. Tests only: the fleet's
code and tests run on it until the real trainable export lands, then on the real one.

What it does (a small integer SGD after docs/trainable-spec.md, not bit-compatible with it): the Pipeline's
StandardScaler stays a frozen float step; z = round(standardized x * 2^Z_FRAC) saturated to int16; one-vs-rest
(one output for two classes) logistic regression with int32 weights and bias in Q(WEIGHT_FRAC), started from the
estimator's coefficients; score = (W z >> Z_FRAC) + B in int64; the log-loss gradient sigmoid(score) - y rounded
to Q14 (the one float step: the spec's integer sigmoid is the real device's); W -= rdbpot(g z, shift),
B -= g << (WEIGHT_FRAC - 14 - LR_SHIFT), learning rate 2^-LR_SHIFT, weights saturated to int32.
"""
from __future__ import annotations

import numpy as np

from tinygen.fixedpoint import rdbpot

Z_FRAC, GRAD_FRAC, WEIGHT_FRAC = 11, 14, 24
INT32 = np.iinfo(np.int32)


class IntegerSGDDevice:
    def __init__(self, estimator, lr_shift: int = 7):
        steps = getattr(estimator, "steps", [("model", estimator)])
        model = steps[-1][1]
        scaler = steps[0][1] if len(steps) > 1 else None
        self.classes = model.classes_
        n_features = model.coef_.shape[1]
        self.mean = np.zeros(n_features) if scaler is None else scaler.mean_
        self.scale = np.ones(n_features) if scaler is None else scaler.scale_
        coef = model.coef_ if len(self.classes) > 2 else model.coef_[:1]
        intercept = model.intercept_ if len(self.classes) > 2 else model.intercept_[:1]
        self.exported = (self._fixed(coef), self._fixed(intercept))
        self.lr_shift = lr_shift
        self.reset()

    @staticmethod
    def _fixed(values) -> np.ndarray:
        return np.clip(np.round(np.asarray(values) * 2.0**WEIGHT_FRAC), INT32.min, INT32.max).astype(np.int64)

    def reset(self):
        self.weights, self.bias = (v.copy() for v in self.exported)
        return self

    def _z(self, X) -> np.ndarray:
        z = np.round((np.asarray(X, dtype=np.float64) - self.mean) / self.scale * 2.0**Z_FRAC)
        return np.clip(z, -32768, 32767).astype(np.int64)

    def _scores(self, z) -> np.ndarray:
        return ((z @ self.weights.T) >> Z_FRAC) + self.bias  # Q(WEIGHT_FRAC), int64

    def predict(self, X) -> np.ndarray:
        scores = self._scores(self._z(X))
        if scores.shape[1] == 1:
            return self.classes[(scores[:, 0] > 0).astype(int)]
        return self.classes[np.argmax(scores, axis=1)]

    def partial_fit(self, X, y):
        z_rows, y = self._z(X), np.asarray(y)
        for z, label in zip(z_rows, y):
            targets = (self.classes[1:] == label) if self.weights.shape[0] == 1 else (self.classes == label)
            score = self._scores(z[None, :])[0] / 2.0**WEIGHT_FRAC
            gradient = np.round((1 / (1 + np.exp(-score)) - targets) * 2**GRAD_FRAC).astype(np.int64)
            shift = GRAD_FRAC + Z_FRAC + self.lr_shift - WEIGHT_FRAC
            self.weights = np.clip(self.weights - rdbpot(np.outer(gradient, z), shift), INT32.min, INT32.max)
            self.bias = np.clip(self.bias - (gradient << (WEIGHT_FRAC - GRAD_FRAC - self.lr_shift)), INT32.min,
                                INT32.max)
        return self

    def trainable_weights(self) -> bytes:
        return np.concatenate([self.weights.ravel(), self.bias]).astype("<i4").tobytes()

    def load_weights(self, weights: bytes) -> None:
        values = np.frombuffer(weights, dtype="<i4").astype(np.int64)
        kept = self.weights.size + self.bias.size
        if values.size != kept:
            raise ValueError(f"{len(weights)} bytes of weights; the device keeps {4 * kept}")
        self.weights = values[:self.weights.size].reshape(self.weights.shape).copy()
        self.bias = values[self.weights.size:].copy()


class StandInDevices:
    """A device factory as tinygen.fleet.ConvertedDevices is one: each call, a device at the exported start."""

    def __init__(self, estimator, lr_shift: int = 7):
        self.estimator, self.lr_shift = estimator, lr_shift

    def __call__(self) -> IntegerSGDDevice:
        return IntegerSGDDevice(self.estimator, self.lr_shift)


if __name__ == "__main__":  # `python tests/fleet_devices.py fleet MODEL ...`: tinygen's CLI with the stand-in devices
    import tinygen.fleet
    from tinygen.cli import main

    tinygen.fleet.converted_devices = lambda estimator, *options: StandInDevices(estimator)
    main()
