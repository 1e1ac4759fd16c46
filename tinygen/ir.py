"""The program container: an ordered list of ops plus what the outputs mean, and its manifest JSON.

A float program (dtype "float") comes from a frontend and holds FloatDense ops in float64. quantize.py turns
it into a typed program (dtype float32, q31, q15, q7) whose ops are the integer program that both the
simulator (Program.scores) and the C templates implement. Nothing outside this file, ops/ and the
frontends gives meaning to a manifest.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field

import numpy as np

from . import fixedpoint
from .errors import TinygenError
from .ops import OP_TYPES
from .ops.anomaly_score import AnomalyScore
from .ops.probability import PROBA_FRAC_BITS, Probability
from .version import __version__

# The models whose scores are logits, so predict_proba is their softmax / logistic (frontend: FrontendResult.probability)
PROBA_MODELS = "MLPClassifier, GaussianNB, LogisticRegression, SGDClassifier(loss='log_loss') with two classes"
NO_PROBA = "no integer predict_proba"  # the note quantize leaves when the scores' scale admits no Q15 softmax

FORMAT = "tinygen-model"
# The manifest schema. 2: "header_sha256" (the digest of the NAME.h exported with it; digests.py). Version-1
# manifests still load (they carry no digest); a newer one than this tinygen knows is refused.
VERSION = 2
READABLE_VERSIONS = (1, 2)


@dataclass
class Program:
    dtype: str  # "float" (float IR) | "float32" | "q31" | "q15" | "q7"
    task: str  # "classification" | "regression"
    decision: str  # argmax of the scores | class 1 when the one score > 0 (>= 0) | the score is the value
    n_features: int
    feature_names: list[str]
    labels: list | None  # the estimator's classes_, as JSON values (str, int or float)
    ops: list
    source: str = ""  # what the program was made from, e.g. "Pipeline(StandardScaler, LogisticRegression)"
    notes: list[str] = field(default_factory=list)
    # IsolationForest: {"threshold": d*, "denominator": D, "offset": offset_}; the score is d - d*, where d is
    # the summed path length, score_samples = -2**(-d / D) and decision_function = score_samples - offset.
    anomaly: dict | None = None
    # Classifiers whose scores are logits (PROBA_MODELS; GaussianNB's are joint log-likelihoods): "softmax" (argmax)
    # or "logistic" (positive) gives predict_proba from the dequantized scores; None where the scores are not logits.
    probability: str | None = None
    # Fixed-point programs with a probability: the integer op that computes predict_proba in Q15 from the raw
    # scores (ops/probability.py; the C's NAME_predict_proba mirrors it). None for float programs.
    proba: Probability | None = None
    # Typed IsolationForest programs: the integer op that computes score_samples and decision_function from the
    # tree sum (ops/anomaly_score.py; the C's NAME_score_samples_int mirrors it; the manifest's anomaly["score"]).
    anomaly_score_op: AnomalyScore | None = None
    # Features the integer program reads but ignores (passes.fold_features_below_resolution): {"index", "name",
    # "reason", "centre", "spread", "step", "note"}; their weight * centre is in the first layer's bias.
    ignored_features: list[dict] = field(default_factory=list)

    @property
    def n_outputs(self) -> int:
        return self.ops[-1].n_out

    @property
    def is_fixed(self) -> bool:
        return self.dtype.startswith("q") or self.dtype == "int8"

    @property
    def window_op(self):
        """A window program's feature op (its frames, channels and hop: the header's stream API), else None."""
        return next((op for op in self.ops if op.streams), None)

    @property
    def trainable_op(self):
        """A trainable program's learning op (its weights in RAM: the header's training API), else None."""
        return next((op for op in self.ops if op.trains), None)

    @property
    def heads(self) -> list:
        """The ops that read the raw scores for another output of the C API (predict_proba, score_samples)."""
        return [op for op in (self.proba, self.anomaly_score_op) if op is not None]

    @property
    def output_format(self):
        """The QFormat of the raw scores (ops/base.py); None where they are floats (the float IR among them)."""
        return None if self.dtype == "float" else self.ops[-1].out_format()

    @property
    def output_frac_bits(self) -> int | None:
        """Frac bits of the raw scores (None for float programs and trees)."""
        fmt = self.output_format
        return None if fmt is None else fmt.frac_bits

    @property
    def output_scale(self) -> float | None:
        """Real output = raw score * output_scale (None where the scores are floats)."""
        fmt = self.output_format
        return None if fmt is None else fmt.scale

    @property
    def output_zero_point(self) -> int:
        """The raw score that means real 0 (int8: the output tensor's zero point; 0 elsewhere)."""
        fmt = self.output_format
        return 0 if fmt is None else fmt.zero_point

    # ---- the simulator -------------------------------------------------------------------------------
    def check_features(self, X) -> np.ndarray:
        X = np.asarray(X)
        if X.ndim == 1:
            X = X.reshape(1, -1)
        if X.ndim != 2 or X.shape[1] != self.n_features:
            got = X.shape[1] if X.ndim == 2 else X.shape
            raise TinygenError(
                f"the model takes {self.n_features} features per row but the data has {got}; "
                "pass the same columns the model was trained on (label column excluded)"
            )
        return X

    def scores(self, X) -> np.ndarray:
        """Raw outputs for float rows: int64 holding the exact integers the C writes (float32 for float32
        programs, float64 for the float IR)."""
        values = self.check_features(X).astype(np.float64)
        if self.dtype != "float":
            with np.errstate(over="ignore", under="ignore"):  # as the C caller's cast: huge -> inf, tiny -> 0
                values = values.astype(np.float32)  # the C API takes float
        for op in self.ops:
            values = op.forward(values)
        return values

    def decide(self, scores) -> np.ndarray:
        """Class indices (classification) or float values (regression) from raw scores, as the C does."""
        scores = np.asarray(scores)
        if self.decision == "argmax":  # the C loop: best moves only on a strictly greater score, so the
            best = np.zeros(len(scores), dtype=np.int64)  # first index wins ties and NaN never wins
            for k in range(1, scores.shape[1]):
                best = np.where(scores[:, k] > scores[np.arange(len(scores)), best], k, best)
            return best
        if self.decision == "positive":
            return (scores[:, 0] > self.output_zero_point).astype(np.int64)
        if self.decision == "nonnegative":
            return (scores[:, 0] >= self.output_zero_point).astype(np.int64)
        if self.output_scale is not None:
            return fixedpoint.dequantize(np.asarray(scores[:, 0], dtype=np.int64) - self.output_zero_point, self.output_scale)
        return scores[:, 0]

    def anomaly_scores(self, X) -> np.ndarray:
        """[rows, 2] int64: (score_samples, decision_function) in Q(out_frac_bits), exactly what
        NAME_score_samples_int / NAME_decision_function_int return in C."""
        op = self.anomaly_score_op
        if op is None:
            raise TinygenError(f"score_samples is for exported IsolationForest models, not {self.source} ({self.dtype})")
        return op.forward(self.scores(X)[:, 0])

    def score_samples(self, X) -> np.ndarray:
        """IsolationForest's score_samples (float64 = the integer result * 2**-out_frac_bits, as the C's float)."""
        if self.anomaly is None:
            raise TinygenError(f"score_samples is for IsolationForest models, not {self.source}")
        if self.dtype == "float":  # the float IR: scikit-learn's formula on the float path lengths
            depth = self.scores(X)[:, 0] + self.anomaly["threshold"]
            return -np.exp2(-depth / self.anomaly["denominator"])
        return self.anomaly_scores(X)[:, 0] * self.anomaly_score_op.scale

    def decision_function(self, X) -> np.ndarray:
        """IsolationForest's decision_function: score_samples - offset_ (>= 0 for inliers), from the integers."""
        if self.anomaly is None:
            raise TinygenError(f"decision_function is for IsolationForest models, not {self.source}")
        if self.dtype == "float":
            return self.score_samples(X) - self.anomaly["offset"]
        return self.anomaly_scores(X)[:, 1] * self.anomaly_score_op.scale

    def proba_q(self, X) -> np.ndarray:
        """[rows, classes] int64 in [0, 2**15]: predict_proba in Q15 (p * 32768, rounded), exactly what
        NAME_predict_proba writes in C (fixed-point programs; ops/probability.py)."""
        if self.proba is None:
            self._say_why_no_proba()
            if self.probability is not None and self.is_fixed:
                raise TinygenError("this manifest predates the integer predict_proba; re-export the model")
            raise TinygenError(f"the integer predict_proba is for fixed-point classifiers with logit scores "
                               f"({PROBA_MODELS}), not {self.source} ({self.dtype})")
        return self.proba.forward(self.scores(X))

    def predict_proba(self, X) -> np.ndarray:
        """[rows, classes] probabilities in float64. Fixed-point programs: proba_q / 32768, what the C computes
        (within proba.error_bound() of the exact softmax of the dequantized scores). float32 and the float IR:
        the output activation of the raw scores on the host (the header has no float predict_proba)."""
        if self.probability is None:
            self._say_why_no_proba()
            raise TinygenError(f"predict_proba is for classifiers with logit scores ({PROBA_MODELS}), not {self.source}")
        if self.is_fixed:
            return self.proba_q(X) * 2.0 ** -PROBA_FRAC_BITS
        return self.softmax_of_scores(self.scores(X))

    def _say_why_no_proba(self) -> None:
        """A classifier with logits whose scale admits no Q15 softmax: quantize's note says why."""
        reason = next((note for note in self.notes if note.startswith(NO_PROBA)), None)
        if reason is not None:
            raise TinygenError(reason)

    def softmax_of_scores(self, scores) -> np.ndarray:
        """The exact (float64) output activation of raw scores dequantized (real logit = (score - zero point) *
        output_scale): the reference the integer predict_proba is proven against."""
        if self.probability is None:
            raise TinygenError(f"predict_proba is for classifiers with logit scores ({PROBA_MODELS}), not {self.source}")
        scores = np.asarray(scores, dtype=np.float64)
        with np.errstate(all="ignore"):  # exp underflows to 0 by design; a row of infinite logits gives NaN
            logits = (scores - self.output_zero_point) * (self.output_scale if self.output_scale is not None else 1.0)
            if self.probability == "logistic":
                p1 = 0.5 * (1.0 + np.tanh(0.5 * logits[:, 0]))
                return np.stack([1.0 - p1, p1], axis=1)
            shifted = logits - np.max(logits, axis=1, keepdims=True)
            e = np.exp(shifted)
            return e / e.sum(axis=1, keepdims=True)

    def predict(self, X) -> np.ndarray:
        """Labels (classification, the estimator's own labels) or values (regression)."""
        decided = self.decide(self.scores(X))
        if self.task == "classification":
            return np.asarray(self.labels, dtype=object)[decided] if _mixed(self.labels) else np.asarray(self.labels)[decided]
        return decided

    # ---- manifest ----------------------------------------------------------------------------------------
    def to_dict(self, name: str | None = None, header_sha256: str | None = None) -> dict:
        out = {
            "format": FORMAT,
            "version": VERSION,
            **({"header_sha256": header_sha256} if header_sha256 is not None else {}),
            "name": name,
            "dtype": self.dtype,
            "task": self.task,
            "decision": self.decision,
            "source": self.source,
            "n_features": self.n_features,
            "n_outputs": self.n_outputs,
            "feature_names": list(self.feature_names),
            "labels": self.labels,
            "output_frac_bits": self.output_frac_bits,
            **({"output_scale": self.output_scale, "output_zero_point": self.output_zero_point} if self.dtype == "int8" else {}),
            "arithmetic": {
                "input_rounding": fixedpoint.INPUT_ROUNDING,
                "input_nan": 0,
                "input_saturation": True,
                "signed_right_shift": "arithmetic (floor)",
            },
            "notes": list(self.notes),
            **({"ignored_features": list(self.ignored_features)} if self.ignored_features else {}),
            "anomaly": self.anomaly if self.anomaly_score_op is None else {**self.anomaly, "score": self.anomaly_score_op.to_dict()},
            **({"probability": self.probability} if self.probability else {}),
            **({"proba": self.proba.to_dict()} if self.proba is not None else {}),
            "ops": [op.to_dict() for op in self.ops],
        }
        if name is None:
            del out["name"]
        return out

    def to_json(self, name: str | None = None, header_sha256: str | None = None) -> str:
        return json.dumps(self.to_dict(name, header_sha256), indent=1, sort_keys=False) + "\n"

    @classmethod
    def from_dict(cls, data: dict) -> "Program":
        if not isinstance(data, dict) or data.get("format") != FORMAT:
            raise TinygenError("not a tinygen manifest (expected \"format\": \"tinygen-model\"); pass the NAME.json that `tinygen export` wrote")
        check_version(data.get("version"))
        try:
            ops = []
            for op in data["ops"]:
                if op.get("op") not in OP_TYPES:
                    raise TinygenError(f"manifest has an unknown op {op.get('op')!r}; re-export the model with this tinygen")
                ops.append(OP_TYPES[op["op"]].from_dict(op))
            if not ops:
                raise TinygenError("the manifest is damaged: it has no ops; re-export the model")
            widths = [int(data["n_features"])] + [op.n_out for op in ops]
            for index, op in enumerate(ops):
                if op.n_in != widths[index]:
                    raise TinygenError(f"the manifest is damaged: op {index} ({op.op}) takes {op.n_in} values but gets {widths[index]}; re-export the model")
            program = cls(
                dtype=data["dtype"], task=data["task"], decision=data["decision"],
                n_features=int(data["n_features"]), feature_names=list(data["feature_names"]),
                labels=data.get("labels"), ops=ops, source=data.get("source", ""),
                notes=list(data.get("notes", [])), anomaly=_anomaly_constants(data.get("anomaly")),
                probability=data.get("probability"),
                proba=Probability.from_dict(data["proba"]) if data.get("proba") is not None else None,
                anomaly_score_op=_anomaly_score_op(data),
                ignored_features=[dict(f) for f in data.get("ignored_features", [])],
            )
            if program.proba is not None and (program.proba.n_in != program.n_outputs or program.probability != program.proba.kind):
                raise TinygenError("the manifest is damaged: its probability op does not fit the scores; re-export the model")
            return program
        except (AttributeError, KeyError, TypeError, ValueError) as exc:
            raise TinygenError(f"the manifest is incomplete or damaged ({type(exc).__name__}: {exc}); re-export the model") from None

    @classmethod
    def load(cls, path) -> "Program":
        try:
            with open(path, encoding="utf-8") as fh:
                data = json.load(fh)
        except FileNotFoundError:
            raise TinygenError(f"manifest {path} not found; pass the NAME.json that `tinygen export` wrote") from None
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise TinygenError(f"cannot read manifest {path}: {exc}") from None
        return cls.from_dict(data)


def _anomaly_constants(anomaly: dict | None) -> dict | None:
    """The manifest's anomaly dict without its "score" op (Program.anomaly_score_op holds that)."""
    return None if anomaly is None else {key: value for key, value in anomaly.items() if key != "score"}


def _anomaly_score_op(data: dict) -> AnomalyScore | None:
    """A typed IsolationForest manifest's integer score op (anomaly["score"]); None for other programs."""
    anomaly = data.get("anomaly")
    if anomaly is None or data["dtype"] == "float":
        return None
    if "score" not in anomaly:
        raise TinygenError("this IsolationForest manifest predates the integer score_samples; re-export the model")
    return AnomalyScore.from_dict(anomaly["score"])


def check_version(version) -> int:
    """The manifest's schema version if this tinygen reads it; otherwise a TinygenError saying what to do."""
    if version in READABLE_VERSIONS and type(version) is int:
        return version
    readable = f"versions {READABLE_VERSIONS[0]} to {READABLE_VERSIONS[-1]}"
    if type(version) is int and version > VERSION:
        raise TinygenError(f"manifest version {version} is newer than this tinygen {__version__} reads ({readable}); "
                           "upgrade tinygen (pip install -U tinygen), or re-export the model with this one "
                           "(tinygen export MODEL -o OUTDIR)")
    raise TinygenError(f"manifest version {version!r} is not one this tinygen reads ({readable}); re-export the model "
                       "(tinygen export MODEL -o OUTDIR)")


def _mixed(labels) -> bool:
    """Labels of mixed Python types must stay objects (numpy would turn 1 and 'a' into strings)."""
    return len({type(v) for v in labels}) > 1


def json_value(value):
    """A label as a plain JSON value: numpy scalars become Python int/float/str."""
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, (np.floating,)):
        return float(value)
    if isinstance(value, (np.bool_, bool)):
        return bool(value)
    return value if isinstance(value, (int, float, str)) else str(value)
