"""`tinygen fleet`: federated learning of tinygen devices with Flower (issue 17).

Each client is a device (the simulator of a trainable export: tinygen.convert(..., trainable=True); with
--emulate, device 0 is an emulated_device.EmulatedDevice: the generated C trained on an emulated MCU) that holds a
private shard of the training rows. Every round it loads the global weights, runs partial_fit over its shard
(--local-epochs passes, rows in a seeded order) and sends back only its trainable weights and its row count;
Flower's FedAvg averages them weighted by the counts, in the device format (fleet_flower.count_weighted_mean),
and the server measures the global weights' accuracy on held-out rows with a device loaded with them. A
centralised reference (the same estimator refitted by scikit-learn on all training rows, in float) says how
close the fleet gets. Flower's simulation engine runs the fleet on one machine; its partitioners (Flower
Datasets) cut the shards.

Flower is optional (the `fleet` extra): require() turns its absence into one line saying what to install.
Nothing here reaches the network: Flower's telemetry, Ray's usage statistics and the Hugging Face hub that Flower
Datasets builds on are switched off before any of them is imported.
"""
from __future__ import annotations

import copy
import importlib.util
import os
import sys
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

import numpy as np
from sklearn.base import clone

from .emulated_device import EmulatedDevice
from .errors import TinygenError

INSTALL_HINT = "tinygen fleet runs federated learning with Flower: pip install 'tinygen[fleet]'"
FLEET_MODULES = {"flwr": "flwr", "ray": "flwr[simulation]", "flwr_datasets": "flwr-datasets"}  # module: package
# set before flwr, ray or datasets is imported: each reads its switch at import or start-up
OFFLINE = {"FLWR_TELEMETRY_ENABLED": "0", "RAY_USAGE_STATS_ENABLED": "0", "HF_HUB_OFFLINE": "1",
           "HF_DATASETS_OFFLINE": "1", "RAY_ACCEL_ENV_VAR_OVERRIDE_ON_ZERO": "0"}
SPLITS = "iid, dirichlet:ALPHA or by:COLUMN"
STARTS = ("exported", "zero")


class Device(Protocol):
    """What a client device offers: a trainable ConvertedModel (convert(..., trainable=True), made by
    converted_devices)."""

    def partial_fit(self, X, y): ...  # one integer SGD step per row, in order; returns self

    def trainable_weights(self) -> bytes: ...  # int32 little-endian: weights row-major, then bias

    def load_weights(self, weights: bytes) -> None: ...

    def predict(self, X) -> np.ndarray: ...

    def reset(self) -> None: ...  # back to the exported start


def require() -> None:
    """Flower, its Ray simulation engine and Flower Datasets, or a TinygenError saying what to install; also
    switches off every phone-home of those packages (OFFLINE)."""
    if sys.version_info < (3, 11):
        raise TinygenError("tinygen fleet needs Python 3.11 or newer (Flower 1.42 does)")
    os.environ.update(OFFLINE)
    missing = [package for module, package in FLEET_MODULES.items() if importlib.util.find_spec(module) is None]
    if missing:
        raise TinygenError(f"{INSTALL_HINT} (missing: {', '.join(missing)})")


@dataclass(frozen=True)
class Split:
    """How the training rows are shared among the devices: "iid" (at random, equal shares), "dirichlet" (each
    class's rows spread by Dirichlet(``alpha``) proportions: small alpha, skewed labels) or "by" (by the values of
    ``column``, one or several values per device; the column is not a feature)."""

    kind: str
    alpha: float | None = None
    column: str | None = None

    def __str__(self) -> str:
        if self.kind == "dirichlet":
            return f"dirichlet:{self.alpha:g}"
        return f"by:{self.column}" if self.kind == "by" else self.kind


def parse_split(text: str) -> Split:
    """--split's value -> Split; a TinygenError names what is wrong."""
    kind, _, argument = text.partition(":")
    if kind == "iid" and not argument:
        return Split("iid")
    if kind == "dirichlet":
        try:
            alpha = float(argument)
        except ValueError:
            alpha = float("nan")
        if not np.isfinite(alpha) or alpha <= 0:
            raise TinygenError(f"--split {text}: dirichlet takes a concentration > 0, e.g. dirichlet:0.5 (smaller: "
                               "labels more skewed per device)")
        return Split("dirichlet", alpha=alpha)
    if kind == "by" and argument:
        return Split("by", column=argument)
    raise TinygenError(f"--split {text}: expected {SPLITS}")


@dataclass(frozen=True)
class FleetData:
    """The rows of a fleet: training rows (shared among the devices) and held-out rows (the server's test), with
    the training rows' --split by: column values (None without one)."""

    X_train: np.ndarray
    y_train: np.ndarray
    X_test: np.ndarray
    y_test: np.ndarray
    groups_train: np.ndarray | None = None


def held_out(X, y, groups=None, test_size: float = 0.25, seed: int = 0) -> FleetData:
    """Hold ``test_size`` of the rows out for the server's accuracy, stratified by label where every label has two
    rows or more; the rest (in the split's shuffled order) are the devices' training rows."""
    from sklearn.model_selection import train_test_split

    X, y = np.asarray(X, dtype=np.float64), np.asarray(y)
    _, label_counts = np.unique(y, return_counts=True)
    stratify = y if label_counts.min() >= 2 else None
    try:
        train, test = train_test_split(np.arange(len(y)), test_size=test_size, random_state=seed, stratify=stratify)
    except ValueError as exc:
        raise TinygenError(f"cannot hold out --test-size {test_size} of {len(y)} rows: {exc}") from None
    groups_train = None if groups is None else np.asarray(groups)[train]
    return FleetData(X[train], y[train], X[test], y[test], groups_train)


def partition(split: Split, clients: int, y, groups=None, seed: int = 0) -> list[np.ndarray]:
    """The row indices (into ``y``) of each device's shard, cut by Flower Datasets' partitioners: IidPartitioner
    (rows already shuffled), DirichletPartitioner over the labels (at least min(10, rows / 4 clients) rows each,
    as its retries allow) or NaturalIdPartitioner / GroupedNaturalIdPartitioner over ``groups`` (one device per
    value, or as many values per device when the values divide evenly among the devices)."""
    import datasets
    from flwr_datasets.partitioner import (DirichletPartitioner, GroupedNaturalIdPartitioner, IidPartitioner,
                                           NaturalIdPartitioner)

    y = np.asarray(y)
    if clients > len(y):
        raise TinygenError(f"--clients {clients}: there are only {len(y)} training rows to share")
    columns = {"row": np.arange(len(y)), "label": np.unique(y, return_inverse=True)[1]}
    if split.kind == "iid":
        partitioner = IidPartitioner(num_partitions=clients)
    elif split.kind == "dirichlet":
        partitioner = DirichletPartitioner(num_partitions=clients, partition_by="label", alpha=split.alpha,
                                           min_partition_size=max(1, min(10, len(y) // (4 * clients))), seed=seed)
    else:
        values, columns["group"] = np.unique(np.asarray(groups).astype(str), return_inverse=True)
        group_size = by_column_group_size(split.column, len(values), clients)
        partitioner = NaturalIdPartitioner(partition_by="group") if group_size == 1 else \
            GroupedNaturalIdPartitioner(partition_by="group", group_size=group_size, mode="strict", sort_unique_ids=True)
    partitioner.dataset = datasets.Dataset.from_dict(columns)
    try:
        with warnings.catch_warnings():  # DirichletPartitioner warns at each redraw of too small a shard
            warnings.simplefilter("ignore", UserWarning)
            return [np.asarray(partitioner.load_partition(p)["row"], dtype=np.int64) for p in range(clients)]
    except ValueError as exc:  # DirichletPartitioner: no draw gave every device enough rows
        raise TinygenError(f"--split {split} could not give each of {clients} devices its rows ({exc}); try a larger "
                           "alpha or fewer --clients") from None


def by_column_group_size(column: str, values: int, clients: int) -> int:
    """Values of the --split by: column per device: each device holds the rows of as many values."""
    if values % clients:
        fits = [k for k in range(1, values + 1) if values % k == 0]
        raise TinygenError(f"--split by:{column}: the training rows hold {values} values of {column!r}, which do not "
                           f"divide among {clients} devices; --clients can be {', '.join(map(str, fits))}")
    return values // clients


@dataclass(frozen=True)
class ConvertedDevices:
    """A device factory (what the fleet calls, in every Flower actor, with the device's partition): a copy of one
    trainable ConvertedModel, converted once, at its exported start; with ``emulate`` (a target), the devices of
    the partitions in ``emulated`` are EmulatedDevices: that copy's C trained on the emulated MCU."""

    model: object
    emulate: str | None = None
    emulated: tuple[int, ...] = (0,)

    def __call__(self, partition: int | None = None) -> Device:
        model = copy.deepcopy(self.model)
        if self.emulate is not None and partition in self.emulated:
            return EmulatedDevice(model, self.emulate)
        return model


def converted_devices(estimator, calibration, dtype: str = "q15", learning_rate: str | None = None,
                      l2: float | None = None, emulate: str | None = None) -> ConvertedDevices:
    """The devices of MODEL: tinygen.convert(estimator, dtype, calibration, trainable=True, learning_rate, l2);
    with ``emulate``, the first device (partition 0) runs the C on that target's emulator."""
    from .api import convert

    options = {key: value for key, value in (("learning_rate", learning_rate), ("l2", l2)) if value is not None}
    return ConvertedDevices(convert(estimator, dtype=dtype, calibration=calibration, trainable=True, **options),
                            emulate)


@dataclass(frozen=True)
class FleetPlan:
    """The run: devices, rounds, how the rows are shared, local passes per round, the seed of the shards and the
    row orders, the weights every device starts from ("exported": MODEL's; "zero": all zero, the frozen input
    conversion still MODEL's), and Flower's worker processes (None: one per core)."""

    clients: int
    rounds: int
    split: Split = Split("iid")
    local_epochs: int = 1
    seed: int = 0
    start: str = "exported"
    workers: int | None = None


class Evaluator:
    """The server's test: a device loaded with the global weights predicts the held-out rows; keeps the curve
    and the last weights, and reports each round to ``on_round(round, accuracy)``."""

    def __init__(self, device: Device, X_test, y_test, on_round: Callable[[int, float], None] | None = None):
        self.device, self.X_test, self.y_test, self.on_round = device, X_test, y_test, on_round
        self.curve: list[tuple[int, float]] = []
        self.weights: bytes | None = None

    def __call__(self, server_round: int, weights: bytes) -> float:
        self.device.load_weights(weights)
        accuracy = float(np.mean(self.device.predict(self.X_test) == self.y_test))
        self.curve.append((server_round, accuracy))
        self.weights = weights
        if self.on_round is not None:
            self.on_round(server_round, accuracy)
        return accuracy


def centralized_reference(estimator, data: FleetData) -> tuple[float, str]:
    """(held-out accuracy, what it is) of the centralised model: MODEL's estimator, cloned and refitted by
    scikit-learn on all the training rows at once, in float64 (scaler included): what pooling the devices' rows
    would give, the bar federated learning is measured against."""
    reference = clone(estimator).fit(data.X_train, data.y_train)
    accuracy = float(np.mean(reference.predict(data.X_test) == data.y_test))
    steps = [type(step).__name__ for _, step in getattr(estimator, "steps", [])] or [type(estimator).__name__]
    shown = f"Pipeline({', '.join(steps)})" if len(steps) > 1 else steps[0]
    return accuracy, f"{shown} refitted by scikit-learn on all {len(data.y_train)} training rows (float64)"


def run(make_device: Callable[..., Device], estimator, data: FleetData, plan: FleetPlan,
        on_round: Callable[[int, float], None] | None = None, verbose: bool = False) -> dict:
    """Federated learning of plan.clients devices made by ``make_device`` (each call: a device at its exported
    start; make_device(p): partition p's, which may be an emulated MCU) over ``data``, with Flower; the report
    (fleet's JSON: engine, rounds, centralized_accuracy, ...). The server's test device is make_device()."""
    require()
    check_labels(estimator, np.concatenate([data.y_train, data.y_test]))
    from . import fleet_flower  # imports flwr

    shards = partition(plan.split, plan.clients, data.y_train, data.groups_train, plan.seed)
    exported = make_device().trainable_weights()
    start = exported if plan.start == "exported" else bytes(len(exported))
    evaluate = Evaluator(make_device(), data.X_test, data.y_test, on_round)
    training = fleet_flower.LocalTraining(make_device, tuple((data.X_train[s], data.y_train[s]) for s in shards),
                                          plan.seed)
    workers = max(1, min(plan.clients, plan.workers or os.cpu_count() or 1))
    began = time.perf_counter()
    strategy = fleet_flower.simulate(training, start, plan.rounds, plan.local_epochs, evaluate, workers, verbose)
    seconds = time.perf_counter() - began
    if len(evaluate.curve) != plan.rounds + 1:
        raise TinygenError(f"Flower ran {len(evaluate.curve) - 1} of {plan.rounds} rounds")
    centralized_accuracy, centralized_model = centralized_reference(estimator, data)
    emulate = getattr(make_device, "emulate", None)
    return fleet_report(plan, data, shards, evaluate, strategy.received, len(exported), workers, seconds) | {
        "centralized_accuracy": centralized_accuracy, "centralized_model": centralized_model,
        "gap": centralized_accuracy - evaluate.curve[-1][1],
        # which devices trained the C on an emulated MCU (the rest: the bit-exact simulator)
        "emulated": {"target": emulate, "partitions": list(make_device.emulated)} if emulate else None}


def check_labels(estimator, y) -> None:
    """A TinygenError unless every label of the rows is a class of the model: a device learns only the classes it
    was exported with (its outputs)."""
    classes = np.asarray(estimator.classes_).tolist()
    unknown = sorted(set(np.unique(y).tolist()) - set(classes), key=str)
    if unknown:
        raise TinygenError(f"the data's labels {unknown[:5]} are not classes of the model ({classes[:10]}): a device "
                           "learns only the classes it was exported with")


def fleet_report(plan: FleetPlan, data: FleetData, shards, evaluate: Evaluator, received: list[dict],
                 weights_bytes: int, workers: int, seconds: float) -> dict:
    """The fleet's JSON fields but the centralised reference's."""
    from importlib.metadata import version

    labels = [dict(zip(*(v.tolist() for v in np.unique(data.y_train[s].astype(str), return_counts=True))))
              for s in shards]
    report = {
        "engine": "flwr", "flwr_version": version("flwr"),
        "simulation": {"api": "flwr.simulation.run_simulation", "backend": "ray", "ray_version": version("ray"),
                       "workers": workers},
        "strategy": "FedAvg (weighted by row counts; exact integer mean rounded half away from zero)",
        "clients": plan.clients, "split": str(plan.split), "local_epochs": plan.local_epochs, "seed": plan.seed,
        "start": plan.start, "train_rows": len(data.y_train), "test_rows": len(data.y_test),
        "shard_rows": [len(s) for s in shards], "shard_labels": labels,
        "initial_accuracy": evaluate.curve[0][1],
        "rounds": [{"round": r, "accuracy": accuracy} for r, accuracy in evaluate.curve[1:]],
        "final_accuracy": evaluate.curve[-1][1],
        # the global weights after the last round, in NAME_weights' layout: what NAME_load_weights takes
        "final_weights": np.frombuffer(evaluate.weights, dtype="<i4").tolist(),
        "sent": {"messages": len(received), "per_message": "the device's trainable weights (int32) and its row count",
                 "weights_bytes": weights_bytes, "fields": sorted({f for r in received for f in r["arrays"] + r["metrics"]})},
        "seconds": round(seconds, 2),
    }
    if plan.split.kind == "by":
        report["shard_groups"] = [sorted(set(data.groups_train[s].astype(str).tolist())) for s in shards]
    return report
