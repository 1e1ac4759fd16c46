"""The Flower side of `tinygen fleet`: the ClientApp every device runs, the strategy that averages, the ServerApp
that evaluates, and Flower's simulation engine that runs them all on one machine. Only tinygen.fleet imports this
module, once fleet.require() has found Flower (it imports flwr at the top: Flower is the `fleet` extra).

What a device sends, each round: one ArrayRecord holding one int32 array, its trainable weights (the device's
trainable_weights() bytes, weights row-major then bias), and one MetricRecord holding one integer, its row count.
The mod only_weights_leave refuses any other reply before it leaves the ClientApp.
"""
from __future__ import annotations

import logging
import os
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np
from flwr.app import Array, ArrayRecord, ConfigRecord, Context, Message, MetricRecord, RecordDict
from flwr.clientapp import ClientApp
from flwr.serverapp import Grid, ServerApp
from flwr.serverapp.strategy import FedAvg
from flwr.simulation import run_simulation

ARRAYS_KEY, METRICS_KEY, CONFIG_KEY = "arrays", "metrics", "config"  # FedAvg's record names
WEIGHTS_KEY = "weights"  # the one array a device sends: its trainable weights, int32
COUNT_KEY = "num-examples"  # the one metric a device sends: its rows (FedAvg's weighting key)
WEIGHTS_DTYPE = np.dtype("<i4")  # NAME_weights' layout: int32, little-endian on every supported target


def weights_array(weights: bytes) -> Array:
    """A device's trainable bytes as the Flower Array it sends (int32, one dimension)."""
    return Array(np.frombuffer(weights, dtype=WEIGHTS_DTYPE).copy())


def weights_bytes(record: ArrayRecord) -> bytes:
    """The trainable bytes held in a record of weights_array (what load_weights takes)."""
    values = record[WEIGHTS_KEY].numpy()
    if values.dtype != np.int32:
        raise TypeError(f"weights arrive as {values.dtype}, not int32")
    return values.astype(WEIGHTS_DTYPE).tobytes()


def outgoing_problem(content: RecordDict, received: Array) -> str | None:
    """Why a reply is not exactly (the weights, shaped as ``received``; the row count), or None if it is."""
    if sorted(content.keys()) != sorted((ARRAYS_KEY, METRICS_KEY)):
        return f"records {sorted(content.keys())} instead of {ARRAYS_KEY!r} and {METRICS_KEY!r}"
    arrays, metrics = content[ARRAYS_KEY], content[METRICS_KEY]
    if not isinstance(arrays, ArrayRecord) or list(arrays.keys()) != [WEIGHTS_KEY]:
        return f"arrays {list(getattr(arrays, 'keys', list)())} instead of the one array {WEIGHTS_KEY!r}"
    sent = arrays[WEIGHTS_KEY]
    if sent.dtype != received.dtype or list(sent.shape) != list(received.shape):
        return f"an array of {sent.dtype} {list(sent.shape)} instead of the weights' {received.dtype} " \
               f"{list(received.shape)}"
    if not isinstance(metrics, MetricRecord) or list(metrics.keys()) != [COUNT_KEY] \
            or type(metrics[COUNT_KEY]) is not int:  # noqa: E721 - a bool or a float is not a count
        return f"metrics {dict(metrics)} instead of the one integer {COUNT_KEY!r}"
    return None


def only_weights_leave(message: Message, context: Context, call_next) -> Message:
    """A ClientApp mod: the reply of a device leaves only if it holds its weights (an int32 array shaped as the
    weights it received) and its row count, nothing else; any other reply raises here, so Flower sends the
    server an error instead of it."""
    reply = call_next(message, context)
    if not reply.has_error():
        problem = outgoing_problem(reply.content, message.content[ARRAYS_KEY][WEIGHTS_KEY])
        if problem is not None:
            raise RuntimeError(f"a device's reply was refused: it holds {problem}")
    return reply


@dataclass(frozen=True)
class LocalTraining:
    """One device's round: load the global weights, run partial_fit over its private shard ``local-epochs``
    times (each pass in a permutation seeded by (seed, partition, round), so runs repeat), send the weights
    and the row count. ``shards[p]`` = (X, y) of partition p; ``make_device(p)`` partition p's device at its
    exported start (the simulator, or an emulated MCU)."""

    make_device: Callable
    shards: tuple
    seed: int

    def __call__(self, message: Message, context: Context) -> Message:
        partition = int(context.node_config["partition-id"])
        config = message.content[CONFIG_KEY]
        X, y = self.shards[partition]
        device = self.make_device(partition)
        device.load_weights(weights_bytes(message.content[ARRAYS_KEY]))
        order = np.random.default_rng([self.seed, partition, int(config["server-round"])])
        for _ in range(int(config["local-epochs"])):
            rows = order.permutation(len(y))
            device.partial_fit(X[rows], y[rows])
        return Message(RecordDict({ARRAYS_KEY: ArrayRecord({WEIGHTS_KEY: weights_array(device.trainable_weights())}),
                                   METRICS_KEY: MetricRecord({COUNT_KEY: int(len(y))})}), reply_to=message)


def client_app(training: LocalTraining) -> ClientApp:
    """The ClientApp of every device: ``training`` on Flower's train messages, behind only_weights_leave."""
    app = ClientApp(mods=[only_weights_leave])
    app.train()(training)
    return app


def count_weighted_mean(weights: np.ndarray, counts) -> np.ndarray:
    """FedAvg in the device format: sum_i counts[i] weights[i] / sum_i counts[i], computed exactly (int64: |w| <
    2^31 and fewer than 2^32 rows in all) and rounded half away from zero once, as int32. The mean of integers
    lies between their smallest and largest, so every weight stays within the range the devices keep."""
    counts = np.asarray(counts, dtype=np.int64)
    total = int(counts.sum())
    if total <= 0 or total >= 2**32 or np.any(counts < 0):
        raise ValueError(f"row counts {counts.tolist()}: need non-negative counts summing to 1 .. 2^32 - 1")
    sums = counts @ np.asarray(weights, dtype=np.int64)
    return (np.sign(sums) * ((2 * np.abs(sums) + total) // (2 * total))).astype(np.int32)


class IntegerFedAvg(FedAvg):
    """Flower's FedAvg (every device trains every round; no federated evaluation: the server evaluates the
    global weights on held-out rows) whose average is count_weighted_mean: exact and in the device format, where
    Flower's own float average depends, in its last bits, on the order the replies arrive in. ``received`` keeps
    what each reply held (round, record and field names, dtype, bytes, count) for the report and the tests."""

    def __init__(self, clients: int):
        super().__init__(fraction_train=1.0, fraction_evaluate=0.0, min_train_nodes=clients,
                         min_available_nodes=clients, weighted_by_key=COUNT_KEY)
        self.received: list[dict] = []

    def aggregate_train(self, server_round: int, replies) -> tuple[ArrayRecord | None, MetricRecord | None]:
        valid, failed = self._check_and_log_replies(list(replies), is_train=True)
        if failed:  # a device that fails is a bug (or a refused reply): no round averages without it
            raise RuntimeError(f"{len(failed)} device(s) failed in round {server_round}: {failed[0].error.reason}")
        contents = [message.content for message in valid]
        self.received += [received_summary(server_round, content) for content in contents]
        weights = np.stack([content[ARRAYS_KEY][WEIGHTS_KEY].numpy() for content in contents])
        counts = [content[METRICS_KEY][COUNT_KEY] for content in contents]
        mean = count_weighted_mean(weights, counts)
        return ArrayRecord({WEIGHTS_KEY: Array(mean)}), self.train_metrics_aggr_fn(contents, self.weighted_by_key)


def received_summary(server_round: int, content: RecordDict) -> dict:
    """What one reply held: {"round", "records", "arrays", "metrics" (the names in it), "dtype", "bytes", "weights"
    (the array's bytes), "count"}."""
    array = content[ARRAYS_KEY][WEIGHTS_KEY].numpy()
    return {"round": server_round, "records": sorted(content.keys()), "arrays": list(content[ARRAYS_KEY].keys()),
            "metrics": list(content[METRICS_KEY].keys()), "dtype": str(array.dtype), "bytes": array.nbytes,
            "weights": array.tobytes(), "count": content[METRICS_KEY][COUNT_KEY]}


def server_app(strategy: IntegerFedAvg, start: bytes, rounds: int, local_epochs: int,
               evaluate: Callable[[int, bytes], float]) -> ServerApp:
    """The ServerApp: ``rounds`` of ``strategy`` from the weights ``start``; before the first round and after
    each, evaluate(round, global weights) -> accuracy on the held-out rows."""
    app = ServerApp()

    @app.main()
    def main(grid: Grid, context: Context) -> None:
        strategy.start(grid, ArrayRecord({WEIGHTS_KEY: weights_array(start)}), num_rounds=rounds,
                       train_config=ConfigRecord({"local-epochs": local_epochs}),
                       evaluate_fn=lambda server_round, arrays: MetricRecord(
                           {"accuracy": evaluate(server_round, weights_bytes(arrays))}))

    return app


def backend_config(workers: int) -> dict:
    """Flower's Ray backend on this machine only: a fresh local Ray instance (never one found running), ``workers``
    actors of one CPU each, no dashboard, Ray's own logs kept out of the output."""
    return {"client_resources": {"num_cpus": 1, "num_gpus": 0.0},
            "init_args": {"address": "local", "num_cpus": workers, "num_gpus": 0, "include_dashboard": False,
                          "logging_level": "ERROR", "log_to_driver": False}}


@contextmanager
def flower_run(verbose: bool):
    """Around one simulation: Flower logs every round at INFO (and run_simulation's deprecation in favour of
    `flwr run`, a command for Flower App projects), and fleet prints its own lines, so Flower's show only with
    ``verbose`` or as errors; Flower's Ray backend sets PYTHONPATH to this process's whole sys.path for its
    actors, which is put back after (a later subprocess, e.g. a fresh virtual environment's python, must not
    inherit it)."""
    logger = logging.getLogger("flwr")
    level, pythonpath = logger.level, os.environ.get("PYTHONPATH")
    logger.setLevel(logging.INFO if verbose else logging.ERROR)
    try:
        yield
    finally:
        logger.setLevel(level)
        if pythonpath is None:
            os.environ.pop("PYTHONPATH", None)
        else:
            os.environ["PYTHONPATH"] = pythonpath


def simulate(training: LocalTraining, start: bytes, rounds: int, local_epochs: int,
             evaluate: Callable[[int, bytes], float], workers: int, verbose: bool = False) -> IntegerFedAvg:
    """Run the fleet with Flower's simulation engine (run_simulation, Ray backend): one virtual SuperNode per
    shard of ``training``. Returns the strategy (what it received)."""
    clients = len(training.shards)
    with flower_run(verbose):
        strategy = IntegerFedAvg(clients)
        run_simulation(server_app(strategy, start, rounds, local_epochs, evaluate), client_app(training),
                       num_supernodes=clients, backend_name="ray", backend_config=backend_config(workers),
                       verbose_logging=verbose)
    return strategy
