"""`tinygen bench --peers`: the same trained models exported by tinygen and by peer tools (emlearn, m2cgen),
built into the same firmware harnesses and run on every row under the same emulators, in one table: cycles
(AVR) or instructions (QEMU targets), flash, static RAM, stack, and agreement with scikit-learn.

A peer's C goes behind a thin adapter header (templates/peers/: one per peer, extending adapter.h.j2) that
gives it the harness API tinygen's headers have: NAME_predict(const float *x) -> class index, and
NAME_scores writing that index as the one score. The peer's own file is found on an -isystem path: its
warnings are its own, while the adapter is held to tinygen's -Werror flags. Costs are measured exactly as
for tinygen's headers (targets/avr.py, targets/qemu.py): what the model adds over the same firmware without
it, and the cycles / instructions of one NAME_predict call as the application makes it (the adapter's
conversion of x to the peer's input type included: that is the peer's API).

Peers export no scikit-learn Pipeline, so a StandardScaler in front of a linear model or an MLP is folded
into the final estimator's first weights (what tinygen does inside its own program) and the peer exports
that estimator; agreement is always against the fitted pipeline's predict. When a peer cannot export a
model, or its C does not build or run on a target, its row says why instead of numbers. Nothing is
downloaded: the peers' Python packages are an optional extra (pip install 'tinygen[peers]').
"""
from __future__ import annotations

import copy
import importlib
import os
import re
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

from . import bench, targets as target_registry
from .emit import environment
from .errors import TinygenError

MODELS = ("RandomForest", "LogisticRegression", "MLP16x8")  # the three, on breast_cancer
TARGETS = ("avr", "cortex-m4")  # the default ones
RUNS_ON = tuple(t for t in target_registry.TARGETS if t != "host")  # the harnesses that take extra build flags
NAME = "bench"  # the adapter's C prefix, as bench's own headers
PEER_FILE = "peer_model.h"  # the peer's code, on the -isystem path
INSTALL_HINT = "pip install 'tinygen[peers]'"


@dataclass(frozen=True)
class _ScoreType:
    out_type: str = "int32"


@dataclass(frozen=True)
class AdapterProgram:
    """What the target harnesses read of a tinygen Program, for an adapter header: a float-input classifier
    whose one int32 score is the predicted class index."""
    n_features: int
    n_outputs: int = 1
    task: str = "classification"
    is_fixed: bool = False
    proba: None = None
    anomaly_score_op: None = None
    window_op: None = None  # rows, not windows of frames
    ops: tuple = (_ScoreType(),)

    def check_features(self, X) -> np.ndarray:
        X = np.asarray(X, dtype=np.float64)
        if X.ndim != 2 or X.shape[1] != self.n_features:
            raise TinygenError(f"the peer model takes {self.n_features} features per row, got shape {X.shape}")
        return X


@dataclass
class PeerCode:
    """A peer's exported C and how the adapter calls it."""
    code: str
    template: str  # templates/peers/...
    context: dict = field(default_factory=dict)
    include_dirs: tuple[str, ...] = ()
    libraries: tuple[str, ...] = ()


def fold_scaler(estimator):
    """The final estimator of a StandardScaler pipeline with the scaler folded into its first weights (w / s
    and b - w . m / s), for peers that export no Pipeline; any other estimator as it is."""
    if not isinstance(estimator, Pipeline):
        return estimator
    if len(estimator) != 2 or not isinstance(estimator[0], StandardScaler):
        raise TinygenError(f"peers take a bare estimator or StandardScaler + one; got {estimator}")
    scaler, folded = estimator[0], copy.deepcopy(estimator[-1])
    scale = scaler.scale_ if scaler.scale_ is not None else np.ones(scaler.n_features_in_)
    mean = scaler.mean_ if scaler.mean_ is not None else np.zeros(scaler.n_features_in_)
    if hasattr(folded, "coefs_"):  # MLP: weights are [inputs, units]
        weights = folded.coefs_[0]
        folded.intercepts_[0] = folded.intercepts_[0] - (mean / scale) @ weights
        folded.coefs_[0] = weights / scale[:, None]
    else:  # linear: coef_ is [outputs, inputs]
        folded.intercept_ = folded.intercept_ - folded.coef_ @ (mean / scale)
        folded.coef_ = folded.coef_ / scale
    return folded


def _module(name: str):
    try:
        return importlib.import_module(name)
    except ImportError:
        raise TinygenError(f"{name} is not installed ({INSTALL_HINT})") from None


def _emlearn(input_type: str, **options):
    """emlearn.convert with `options` (method, dtype); input_type: what its NAME_predict takes (its int16
    models take int16_t features, its float trees and networks float)."""
    def export(estimator, n_features: int, n_classes: int) -> PeerCode:
        emlearn = _module("emlearn")
        # emlearn.convert builds a test module in ./tmp: run it in a scratch directory, not the user's
        with tempfile.TemporaryDirectory(prefix="tinygen-emlearn-") as scratch:
            here = os.getcwd()
            os.chdir(scratch)
            try:
                code = emlearn.convert(estimator, **options).save(name="peer")
            finally:
                os.chdir(here)
        return PeerCode(code, "peers/emlearn.h.j2", {"symbol": "peer", "input_type": input_type},
                        include_dirs=(emlearn.includedir,), libraries=("-lm",))
    return export


def _m2cgen(estimator, n_features: int, n_classes: int) -> PeerCode:
    m2cgen = _module("m2cgen")
    code = m2cgen.export_to_c(estimator, function_name="peer_score")
    # one double returned (a binary decision function) or one score per class written to an output array
    n_scores = 1 if "double peer_score(double * input)" in code else n_classes
    return PeerCode(code, "peers/m2cgen.h.j2", {"symbol": "peer_score", "n_scores": n_scores}, libraries=("-lm",))


# (tool, variant shown, exporter, remark for its rows); every model is offered to every variant of its family
INT16_REMARK = "x truncated to int16_t by the adapter: emlearn's int16 trees expect integer-scaled features"
DOUBLE_REMARK = "x copied to double, m2cgen's input type (32 bits on AVR, 64 on Arm)"
VARIANTS = {
    "trees": (("emlearn", "inline float", _emlearn("float", method="inline", dtype="float"), ""),
              ("emlearn", "inline int16", _emlearn("int16", method="inline", dtype="int16_t"), INT16_REMARK),
              ("emlearn", "loadable int16", _emlearn("int16", method="loadable", dtype="int16_t"), INT16_REMARK),
              ("m2cgen", "double", _m2cgen, DOUBLE_REMARK)),
    "other": (("emlearn", "float", _emlearn("float"), ""),
              ("m2cgen", "double", _m2cgen, DOUBLE_REMARK)),
}


def variants_for(model: str):
    return VARIANTS["trees" if model in bench.TREES else "other"]


def render_adapter(peer: str, exported: PeerCode, n_features: int, n_classes: int) -> str:
    return environment().get_template(exported.template).render(
        name=NAME, peer=peer, peer_file=PEER_FILE, n_features=n_features, n_classes=n_classes, **exported.context)


def measure_peer(exported: PeerCode, peer: str, target: str, X: np.ndarray, n_classes: int):
    """The peer's C behind its adapter, built and run on `target` for every row: the Measurement."""
    module = target_registry.get(target)
    n_features = X.shape[1]
    with tempfile.TemporaryDirectory(prefix="tinygen-peer-") as tmp:
        peer_dir = Path(tmp) / "peer"
        peer_dir.mkdir()
        (peer_dir / PEER_FILE).write_text(exported.code)
        header = Path(tmp) / f"{NAME}.h"
        header.write_text(render_adapter(peer, exported, n_features, n_classes))
        flags = [flag for directory in (str(peer_dir), *exported.include_dirs) for flag in ("-isystem", directory)]
        return module.measure(AdapterProgram(n_features), header, NAME, X, extra_flags=(*flags, *exported.libraries))


def reason(text: str, limit: int = 300) -> str:
    """A build or run failure in one short line: what failed and the compiler's first error (toolchain.run
    joins the output's first lines with " | "), without the temporary directories."""
    head, *rest = " ".join(str(text).split()).split(" | ")
    error = next((part for part in (head, *rest) if re.search(r"error:|undefined reference|overflow", part)), None)
    if error is not None and error is not head:
        failed = re.match(r"(.*? failed \(exit \d+\)): ", head)
        head = f"{failed.group(1) if failed else head}: {error}"
    head = re.sub(r"(?:/[^/\s:]+)+/([^/\s:]+)", r"\1", head)  # /tmp/tinygen-peer-x/peer/f.h -> f.h
    return head if len(head) <= limit else head[: limit - 3] + "..."


def check_peer_model(dataset: str, model: str) -> None:
    bench.check_bench_model(dataset, model)
    if bench.is_regressor(model):
        raise TinygenError(f"bench --peers compares classifiers; {model} is a regressor")


def peer_rows(dataset: str, model: str, targets, rows: int | None = None):
    """One dict per target x peer variant: the Measurement's costs and `agree` (the C's predictions against
    scikit-learn's), or `note` saying why there are no numbers."""
    check_peer_model(dataset, model)
    estimator = bench.fitted(dataset, model)
    X = bench.split(dataset)[0]
    X_run = X if rows is None else X[:rows]
    classes = list(estimator.classes_)
    reference = np.array([classes.index(label) for label in estimator.predict(X_run)])
    bare = fold_scaler(estimator)
    for tool, variant, exporter, remark in variants_for(model):
        try:
            with np.errstate():  # importing emlearn sets numpy to raise on every float error, process-wide
                exported = exporter(bare, X.shape[1], len(classes))
        except TinygenError as exc:
            exported, why = None, str(exc)
        except Exception as exc:  # noqa: BLE001 - a peer's own refusal (NotImplementedError, ValueError, ...)
            exported, why = None, f"cannot export: {type(exc).__name__}: {exc}"
        for target in targets:
            row = {"target": target, "tool": tool, "variant": variant, "rows": len(X_run)}
            if exported is None:
                yield {**row, "note": reason(why)}
                continue
            try:
                measured = measure_peer(exported, tool, target, X_run, len(classes))
            except TinygenError as exc:
                yield {**row, "note": reason(f"does not build or run: {exc}")}
                continue
            agreed = int(np.sum(measured.predictions == reference))
            yield {**row, **measured.costs(), "agree": f"{agreed}/{len(X_run)}", "note": remark}


def tinygen_rows(dataset: str, model: str, targets, dtypes=(), rows: int | None = None):
    """bench's own cost rows for the same model (C == simulator checked on every row); trees in both layouts,
    as the peers offer both kinds (inline code, tables)."""
    layouts = ("inline", "table") if model in bench.TREES else ("auto",)
    for row in bench.cost_rows(dataset, model, targets, dtypes, layouts, rows=rows):
        note = "" if row["mismatches"] == 0 else f"C != simulator on {row['mismatches']} rows"
        variant = row["dtype"] + (f" {row['layout']}" if row["layout"] != "-" else "")
        yield {**row, "tool": "tinygen", "variant": variant, "note": note}


# (header, width) of the table's columns, negative widths aligned left; two spaces between columns
COLUMNS = (("model", -18), ("target", -9), ("tool", -7), ("variant", -18), ("agree", 7), ("mean", 9), ("max", 7),
           ("flash B", 7), ("RAM B", 5), ("stack B", 7), ("unit", -12), ("note", 0))


def print_peer_table(dataset: str, models, targets, dtypes=(), rows: int | None = None, echo=print) -> None:
    for model in models:  # before any output
        check_peer_model(dataset, model)
    echo(f"tinygen and peer tools on {dataset}, the same fitted models, every row through the C on each target")
    echo("agree: rows where the C's prediction equals scikit-learn's (tinygen: its simulator's, equal to its C's on "
         "every row unless the note says otherwise); mean/max: one NAME_predict call in the unit's column; flash/RAM: "
         "what the model adds to the firmware; RAM: static (.data + .bss); stack: peak of one call")
    echo("peers export the final estimator with the StandardScaler folded into its first weights (they take no "
         "Pipeline); tinygen exports the Pipeline")

    def show(value, fmt="{:.0f}"):
        return "-" if value is None else fmt.format(value)

    def line(cells):
        return "  ".join(f"{cells[name]:<{-width}}" if width <= 0 else f"{cells[name]:>{width}}"
                         for name, width in COLUMNS).rstrip()

    echo(line({name: name for name, _ in COLUMNS}))
    for model in models:
        by_target = {target: [] for target in targets}
        for row in [*tinygen_rows(dataset, model, targets, dtypes, rows), *peer_rows(dataset, model, targets, rows)]:
            by_target[row["target"]].append(row)
        for target_rows in by_target.values():
            for row in target_rows:
                echo(line({"model": model, "target": row["target"], "tool": row["tool"], "variant": row["variant"],
                           "agree": row.get("agree", "-"), "mean": show(row.get("cycles_per_inference"), "{:.1f}"),
                           "max": show(row.get("cycles_max", row.get("instructions_max"))),
                           "flash B": show(row.get("flash_bytes")), "RAM B": show(row.get("ram_bytes")),
                           "stack B": show(row.get("stack_bytes")), "unit": row.get("cycles_unit") or "-",
                           "note": row["note"]}))
