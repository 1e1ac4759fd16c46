"""tinygen fleet: federated learning of devices with Flower. The devices are trainable ConvertedModels (the
bit-exact simulator of the integer partial_fit the C runs); the federated parts (shards, the ClientApp and its
guard, the integer FedAvg, Flower's simulation engine, the CLI and its JSON) are the real ones. One test runs Flower's Ray simulation end to end (about 25 s on 2 cores).
An EmulatedDevice (the C trained on host, avr or cortex-m4 from loaded weights) equals the simulator device byte for
byte, and a Flower run with one on avr ends on the all-simulator run's global weights (about 20 s; comparing with a
second Flower run of simulators is marked slow)."""
from __future__ import annotations

import importlib.util
import json
import time
from dataclasses import dataclass
from fractions import Fraction

import numpy as np
import pytest
from click.testing import CliRunner
from hypothesis import given, settings, strategies as st

from tinygen import charts, data, fleet, modelio, train
from tinygen.cli import main
from tinygen.emulated_device import EmulatedDevice
from tinygen.errors import TinygenError

from conftest import need_tool

fleet.require()  # Flower is a test dependency (the fleet extra): missing, this module fails rather than skips
from flwr.app import ArrayRecord, ConfigRecord, Context, Message, Metadata, MetricRecord, RecordDict  # noqa: E402
from flwr.common.serde import message_to_proto  # noqa: E402

from tinygen import fleet_flower  # noqa: E402


def devices_of(estimator, calibration):
    """The devices `tinygen fleet` makes of MODEL: trainable q15 programs calibrated on the training rows."""
    return fleet.converted_devices(estimator, calibration)


def rounded_mean(values, counts) -> int:
    """The exact count-weighted mean, rounded half away from zero (the reference of count_weighted_mean)."""
    mean = Fraction(sum(int(v) * c for v, c in zip(values, counts)), sum(counts))
    magnitude = abs(mean)
    rounded = int(magnitude) + (magnitude - int(magnitude) >= Fraction(1, 2))
    return rounded if mean >= 0 else -rounded


@settings(max_examples=200, deadline=None)
@given(st.integers(1, 6).flatmap(lambda k: st.tuples(
    st.lists(st.lists(st.integers(-2**31, 2**31 - 1), min_size=3, max_size=3), min_size=k, max_size=k),
    st.lists(st.integers(0, 5000), min_size=k, max_size=k).filter(lambda counts: sum(counts) > 0))))
def test_the_average_is_the_exact_count_weighted_mean_within_the_range_sent(case):
    weights, counts = np.array(case[0], dtype=np.int64), case[1]
    mean = fleet_flower.count_weighted_mean(weights, counts)
    assert mean.dtype == np.int32
    assert mean.tolist() == [rounded_mean(weights[:, j], counts) for j in range(weights.shape[1])]
    sent = weights[np.array(counts) > 0]
    assert np.all(mean >= sent.min(axis=0)) and np.all(mean <= sent.max(axis=0))  # a convex combination
    order = np.random.default_rng(0).permutation(len(counts))  # the order replies arrive in does not matter
    assert np.array_equal(fleet_flower.count_weighted_mean(weights[order], np.array(counts)[order]), mean)


def test_the_average_rounds_ties_away_from_zero():
    assert fleet_flower.count_weighted_mean(np.array([[1, -1, 2**31 - 1], [2, -2, 2**31 - 2]]), [1, 1]).tolist() \
        == [2, -2, 2**31 - 1]
    assert fleet_flower.count_weighted_mean(np.array([[0], [3]]), [5, 1]).tolist() == [1]  # 0.5 -> 1
    with pytest.raises(ValueError):
        fleet_flower.count_weighted_mean(np.array([[1]]), [0])


def test_split_specs():
    assert fleet.parse_split("iid") == fleet.Split("iid")
    assert fleet.parse_split("dirichlet:0.3") == fleet.Split("dirichlet", alpha=0.3)
    assert fleet.parse_split("by:site") == fleet.Split("by", column="site")
    assert str(fleet.parse_split("dirichlet:0.30")) == "dirichlet:0.3"
    for bad in ("dirichlet", "dirichlet:0", "dirichlet:-1", "dirichlet:x", "by:", "iid:2", "random"):
        with pytest.raises(TinygenError, match="--split"):
            fleet.parse_split(bad)


def test_the_data_holds_only_the_models_classes():
    estimator = train.fit(data.load_bundled("iris"), "logreg", seed=0)
    fleet.check_labels(estimator, np.array([0, 2, 2]))
    with pytest.raises(TinygenError, match=r"labels \[7\] are not classes of the model \(\[0, 1, 2\]\)"):
        fleet.check_labels(estimator, np.array([0, 7]))


def label_skew(y, shards) -> float:
    """The mean share of each shard's most common label."""
    return float(np.mean([np.bincount(y[s]).max() / len(s) for s in shards]))


def test_shards_from_flowers_partitioners():
    y = np.random.default_rng(1).integers(0, 3, 600)
    iid = fleet.partition(fleet.Split("iid"), 10, y)
    skewed = fleet.partition(fleet.Split("dirichlet", alpha=0.3), 10, y, seed=2)
    for shards in (iid, skewed):
        assert sorted(np.concatenate(shards).tolist()) == list(range(600))  # every row on exactly one device
    assert {len(s) for s in iid} == {60}
    assert min(len(s) for s in skewed) >= 10
    assert label_skew(y, skewed) > label_skew(y, iid) + 0.15
    assert all(np.array_equal(a, b) for a, b in zip(skewed, fleet.partition(fleet.Split("dirichlet", alpha=0.3), 10,
                                                                           y, seed=2)))  # seeded


def test_shards_by_a_column():
    groups = np.repeat(["s1", "s2", "s3", "s4", "s5", "s6"], 20)
    y = np.tile([0, 1], 60)
    one_each = fleet.partition(fleet.Split("by", column="site"), 6, y, groups)
    assert sorted({tuple(set(groups[s])) for s in one_each}) == [(f"s{i}",) for i in range(1, 7)]
    two_each = fleet.partition(fleet.Split("by", column="site"), 3, y, groups)
    assert sorted(len(set(groups[s])) for s in two_each) == [2, 2, 2]
    assert sorted(np.concatenate(two_each).tolist()) == list(range(120))
    with pytest.raises(TinygenError, match="6 values of 'site', which do not divide among 4 devices; --clients can "
                                           "be 1, 2, 3, 6"):
        fleet.partition(fleet.Split("by", column="site"), 4, y, groups)


@pytest.fixture(scope="module")
def breast_cancer():
    bundle = data.load_bundled("breast_cancer")
    estimator = train.fit(bundle, "logreg", seed=0)
    train.name_features(estimator, bundle.feature_names)
    return bundle, estimator


def train_message(weights: bytes, server_round: int, local_epochs: int) -> Message:
    """A train message as the server's FedAvg sends it (metadata as the SuperLink sets it)."""
    content = RecordDict({"arrays": ArrayRecord({"weights": fleet_flower.weights_array(weights)}),
                          "config": ConfigRecord({"server-round": server_round, "local-epochs": local_epochs})})
    metadata = Metadata(run_id=1, message_id="1", src_node_id=0, dst_node_id=7, reply_to_message_id="",
                        group_id=str(server_round), created_at=time.time(), ttl=60.0, message_type="train")
    return Message(content, metadata=metadata)


def node_context(partition: int, partitions: int) -> Context:
    return Context(run_id=1, node_id=7, node_config={"partition-id": partition, "num-partitions": partitions},
                   state=RecordDict(), run_config={})


def test_a_device_sends_only_its_weights_and_its_row_count(breast_cancer):
    bundle, estimator = breast_cancer
    devices = devices_of(estimator, bundle.X)
    shards = ((bundle.X[:40], bundle.y[:40]), (bundle.X[40:100], bundle.y[40:100]))
    start = devices().trainable_weights()
    app = fleet_flower.client_app(fleet_flower.LocalTraining(devices, shards, seed=3))
    reply = app(train_message(start, server_round=4, local_epochs=2), node_context(1, 2))

    expected = devices()  # the same device, the same shard, the same seeded orders
    expected.load_weights(start)
    order = np.random.default_rng([3, 1, 4])
    for _ in range(2):
        rows = order.permutation(60)
        expected.partial_fit(shards[1][0][rows], shards[1][1][rows])
    assert expected.trainable_weights() != start  # it learned something
    assert sorted(reply.content.keys()) == ["arrays", "metrics"]
    assert list(reply.content["arrays"].keys()) == ["weights"] and list(reply.content["metrics"].keys()) == ["num-examples"]
    assert reply.content["arrays"]["weights"].numpy().tobytes() == expected.trainable_weights()
    assert reply.content["metrics"]["num-examples"] == 60
    sent = message_to_proto(reply).SerializeToString()  # the whole message, as it goes on the wire
    assert len(sent) < len(start) + 400  # the weights and a little framing: no room for the 60 rows (14,400 B)
    for row in shards[1][0]:
        assert row.tobytes() not in sent and row.astype(np.float32).tobytes() not in sent


class Leaky(fleet_flower.LocalTraining):
    """A device that tries to send more than its weights and count."""

    def __call__(self, message, context):
        reply = super().__call__(message, context)
        X, y = self.shards[int(context.node_config["partition-id"])]
        if self.seed == 0:
            reply.content["arrays"]["rows"] = fleet_flower.Array(X)
        elif self.seed == 1:
            reply.content["metrics"]["first_value"] = float(X[0, 0])
        elif self.seed == 2:
            reply.content["config"] = ConfigRecord({"labels": [int(v) for v in y]})
        else:
            reply.content["arrays"]["weights"] = fleet_flower.Array(X[0, :31].copy())
        return reply


@pytest.mark.parametrize("leak", [0, 1, 2, 3], ids=["rows-array", "extra-metric", "extra-record", "float-weights"])
def test_the_guard_refuses_any_reply_with_more_than_weights_and_count(breast_cancer, leak):
    bundle, estimator = breast_cancer
    devices = devices_of(estimator, bundle.X)
    app = fleet_flower.client_app(Leaky(devices, ((bundle.X[:30], bundle.y[:30]),), seed=leak))
    with pytest.raises(RuntimeError, match="a device's reply was refused"):
        app(train_message(devices().trainable_weights(), 1, 1), node_context(0, 1))


def write_fleet_files(tmp_path, bundle, estimator):
    model = tmp_path / "model.skops"
    modelio.save_model(estimator, model)
    csv = tmp_path / "data.csv"
    data.write_csv(bundle, csv)
    return model, csv


def run_fleet(tmp_path, monkeypatch, bundle, estimator, *options):
    """`tinygen fleet` on the bundle through the CLI: (its result, its JSON report, the Flower strategies it ran, which
    keep every message the server received)."""
    model, csv = write_fleet_files(tmp_path, bundle, estimator)
    strategies = []
    simulate = fleet_flower.simulate
    monkeypatch.setattr(fleet_flower, "simulate", lambda *args: strategies.append(simulate(*args)) or strategies[-1])
    report_path = tmp_path / "fleet.json"
    result = CliRunner().invoke(main, ["fleet", str(model), "--data", str(csv), "--label", "target", *options,
                                       "--json", str(report_path)])
    assert result.exit_code == 0, result.output
    return result, json.loads(report_path.read_text()), strategies


def test_fleet_learns_with_flower(tmp_path, monkeypatch, breast_cancer):
    """The acceptance case: 10 devices with Dirichlet(0.5)-skewed labels, starting from
    zero weights, reach the centralised model's held-out accuracy within 0.02 in 20 rounds of Flower's simulation;
    every message that reached the server held the weights and the row count, nothing else."""
    bundle, estimator = breast_cancer
    result, report, strategies = run_fleet(tmp_path, monkeypatch, bundle, estimator, "--clients", "10", "--rounds",
                                           "20", "--split", "dirichlet:0.5", "--start", "zero")
    assert report["engine"] == "flwr" and report["simulation"]["backend"] == "ray"
    assert [r["round"] for r in report["rounds"]] == list(range(1, 21))
    assert isinstance(report["centralized_accuracy"], float) and "refitted" in report["centralized_model"]
    assert report["initial_accuracy"] < 0.7  # zero weights: one class
    assert report["centralized_accuracy"] - report["final_accuracy"] <= 0.02, report["rounds"]
    assert f"round  20  accuracy {report['final_accuracy']:.4f}" in result.output
    curve = [report["initial_accuracy"], *(r["accuracy"] for r in report["rounds"])]
    assert (f"  curve {charts.sparkline(curve)}  {curve[0]:.4f} -> {curve[-1]:.4f} over rounds 0..20\n"
            in result.output)
    assert sum(report["shard_rows"]) == report["train_rows"] and len(report["shard_rows"]) == 10
    assert label_skew_of(report["shard_labels"]) > 0.6  # non-IID: most devices hold mostly one label

    assert len(report["final_weights"]) == bundle.n_features + 1
    received = strategies[0].received
    assert len(received) == 200 == report["sent"]["messages"]
    weights_bytes = 4 * (bundle.n_features + 1)
    for reply in received:
        assert (reply["records"], reply["arrays"], reply["metrics"]) == (["arrays", "metrics"], ["weights"],
                                                                         ["num-examples"])
        assert (reply["dtype"], reply["bytes"]) == ("int32", weights_bytes)
    fleet_data = fleet.held_out(bundle.X, bundle.y)
    final = replay(devices_of(estimator, fleet_data.X_train), fleet_data, received)
    assert final == np.array(report["final_weights"], dtype="<i4").tobytes()


def replay(devices, fleet_data, received) -> bytes:
    """Every reply that reached the server is exactly what a device that trained its own shard from the round's
    global weights sends (the shard found by its row count), and the global weights are their integer mean:
    the last global weights, replayed without Flower."""
    shards = fleet.partition(fleet.Split("dirichlet", alpha=0.5), 10, fleet_data.y_train)
    weights = bytes(len(devices().trainable_weights()))  # --start zero
    for server_round in range(1, 21):
        replies = [r for r in received if r["round"] == server_round]
        assert sorted(r["count"] for r in replies) == sorted(len(s) for s in shards)
        expected = set()
        for partition, shard in enumerate(shards):
            device = devices()
            device.load_weights(weights)
            rows = np.random.default_rng([0, partition, server_round]).permutation(len(shard))
            expected.add(device.partial_fit(fleet_data.X_train[shard][rows], fleet_data.y_train[shard][rows])
                         .trainable_weights())
        assert {r["weights"] for r in replies} == expected
        weights = fleet_flower.count_weighted_mean(np.stack([np.frombuffer(r["weights"], "<i4") for r in replies]),
                                                   [r["count"] for r in replies]).astype("<i4").tobytes()
    return weights


def label_skew_of(shard_labels: list[dict]) -> float:
    return float(np.mean([max(counts.values()) / sum(counts.values()) for counts in shard_labels]))


def test_fleet_by_a_column_leaves_it_out_of_the_features(tmp_path, monkeypatch, breast_cancer):
    bundle, estimator = breast_cancer
    model, csv = write_fleet_files(tmp_path, bundle, estimator)
    text = csv.read_text().splitlines()
    csv.write_text("\n".join([text[0] + ",site"] + [f"{line},site{i % 5}" for i, line in enumerate(text[1:])]) + "\n")
    seen = {}
    monkeypatch.setattr(fleet, "run", lambda devices, estimator, fleet_data, plan, **kw: seen.update(
        data=fleet_data, plan=plan) or {"centralized_accuracy": 1.0, "centralized_model": "m", "final_accuracy": 1.0,
                                        "gap": 0.0, "seconds": 0.0, "initial_accuracy": 0.5,
                                        "rounds": [{"round": 1, "accuracy": 1.0}]})
    args = ["fleet", str(model), "--data", str(csv), "--label", "target", "--clients", "5", "--rounds", "1"]
    result = CliRunner().invoke(main, args + ["--split", "by:site"])
    assert result.exit_code == 0, result.output
    assert seen["plan"].split == fleet.Split("by", column="site")
    assert seen["data"].X_train.shape[1] == bundle.n_features
    assert set(seen["data"].groups_train) == {f"site{i}" for i in range(5)}
    for split, message in (("by:mean radius", "'mean radius' is a feature of the model"),
                           ("by:target", "names the label column"), ("by:sight", "site"),
                           ("dirichlet:-1", "dirichlet takes a concentration > 0")):
        result = CliRunner().invoke(main, args + ["--split", split])
        assert result.exit_code == 2 and message in result.output, result.output


def test_without_flower_fleet_says_what_to_install(tmp_path, monkeypatch, breast_cancer):
    bundle, estimator = breast_cancer
    model, csv = write_fleet_files(tmp_path, bundle, estimator)
    find_spec = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "flwr" else find_spec(name, *a))
    result = CliRunner().invoke(main, ["fleet", str(model), "--data", str(csv), "--label", "target", "--clients", "3",
                                       "--rounds", "1"])
    assert result.exit_code == 2
    assert result.output.strip().splitlines() == ["error: tinygen fleet runs federated learning with Flower: "
                                                  "pip install 'tinygen[fleet]' (missing: flwr)"]


# ---- a device that is an emulated MCU ------------------------------------------------------------------------
EMULATED_TARGETS = {"host": ("gcc",), "avr": ("avr-gcc", "simavr"), "cortex-m4": ("arm-none-eabi-gcc",
                                                                                  "qemu-system-arm")}


def random_shard_and_start(bundle, device, seed: int):
    """A random private shard (rows and labels) and random global weights within the device's limits."""
    rng = np.random.default_rng(seed)
    rows = rng.choice(len(bundle.y), int(rng.integers(20, 60)), replace=False)
    op = device.program.trainable_op
    values = np.frombuffer(device.trainable_weights(), "<i4").astype(np.int64)
    limits = np.r_[np.full(op.n_out * op.n_in, op.w_limit), np.full(op.n_out, op.limits[1])]
    start = np.clip(values + rng.integers(-op.w_limit // 2, op.w_limit // 2, len(values)), -limits, limits)
    return bundle.X[rows], bundle.y[rows], start.astype("<i4").tobytes()


@pytest.mark.parametrize("target", list(EMULATED_TARGETS))
def test_an_emulated_device_trains_as_the_simulator_device(breast_cancer, target):
    """EmulatedDevice: the C on the target loads the global weights, runs partial_fit over the shard (two local
    epochs: the second replays the first's rows on the firmware) and its NAME_weights() equal the simulator
    device's byte for byte, for random shards and start weights; it survives pickle and deepcopy (Ray)."""
    import copy
    import pickle

    for tool in EMULATED_TARGETS[target]:
        need_tool(tool)
    bundle, estimator = breast_cancer
    devices = devices_of(estimator, bundle.X)
    for seed in range(2):
        simulator, emulated = devices(), EmulatedDevice(devices(), target)
        X, y, start = random_shard_and_start(bundle, simulator, seed + 10 * len(target))
        for device in (simulator, emulated):
            device.load_weights(start)
            device.partial_fit(X, y)
            device.partial_fit(X[::-1], y[::-1])
        assert emulated.trainable_weights() == simulator.trainable_weights() != start, f"seed {seed} on {target}"
        assert emulated.training_state()["steps"] == simulator.training_state()["steps"] == 2 * len(y)
        assert np.array_equal(emulated.predict(bundle.X[:50]), simulator.predict(bundle.X[:50]))
    for twin in (pickle.loads(pickle.dumps(emulated)), copy.deepcopy(emulated)):
        assert twin.trainable_weights() == emulated.trainable_weights() and twin.target == target
    emulated.reset()
    assert emulated.trainable_weights() == devices().trainable_weights()


class LoggedEmulatedDevice(EmulatedDevice):
    """An EmulatedDevice that appends the weights its MCU reported to a file: the test's proof, from Flower's Ray
    worker process, that this device's round ran on the emulator."""

    log = ""

    def partial_fit(self, X, y):
        super().partial_fit(X, y)
        with open(self.log, "a") as out:
            out.write(f"{self.target} {len(y)} {self.trainable_weights().hex()}\n")
        return self


@dataclass(frozen=True)
class LoggedDevices(fleet.ConvertedDevices):
    log: str = ""

    def __call__(self, partition=None):
        device = super().__call__(partition)
        if isinstance(device, EmulatedDevice):
            device.__class__, device.log = LoggedEmulatedDevice, self.log
        return device


def simulators_without_flower(devices, fleet_data, plan) -> list[int]:
    """The final global weights of fleet.run's rounds for simulator devices, computed directly: each device loads
    the global weights and trains its shard in the seeded order, and the weights are count_weighted_mean's (what
    test_fleet_learns_with_flower proves Flower's run does)."""
    shards = fleet.partition(plan.split, plan.clients, fleet_data.y_train, seed=plan.seed)
    weights = bytes(len(devices().trainable_weights()))  # start="zero"
    for server_round in range(1, plan.rounds + 1):
        sent = []
        for partition, shard in enumerate(shards):
            device = devices()
            device.load_weights(weights)
            rows = np.random.default_rng([plan.seed, partition, server_round]).permutation(len(shard))
            sent.append(np.frombuffer(device.partial_fit(fleet_data.X_train[shard][rows], fleet_data.y_train[shard][rows])
                                      .trainable_weights(), "<i4"))
        weights = fleet_flower.count_weighted_mean(np.stack(sent), [len(s) for s in shards]).astype("<i4").tobytes()
    return np.frombuffer(weights, "<i4").tolist()


@pytest.mark.parametrize("reference", ["direct", pytest.param("flower", marks=pytest.mark.slow)])
def test_a_fleet_with_an_emulated_mcu_ends_where_the_simulators_do(tmp_path, breast_cancer, reference):
    """3 devices x 2 rounds of the fleet's own run with Flower: device 0 an EmulatedDevice on avr (the C on the
    ATmega328P under simavr), the others simulators; the final global weights equal those of the same run with
    three simulators (computed directly, or -- slow -- by a second Flower run), so the emulated MCU is
    interchangeable with the simulator in a fleet."""
    for tool in EMULATED_TARGETS["avr"]:
        need_tool(tool)
    bundle, estimator = breast_cancer
    fleet_data = fleet.held_out(bundle.X, bundle.y)
    plan = fleet.FleetPlan(clients=3, rounds=2, split=fleet.Split("dirichlet", alpha=1.0), start="zero", workers=2)
    simulators = devices_of(estimator, fleet_data.X_train)
    log = tmp_path / "emulated.log"
    report = fleet.run(LoggedDevices(simulators.model, emulate="avr", log=str(log)), estimator, fleet_data, plan)
    assert report["emulated"] == {"target": "avr", "partitions": [0]}
    runs = log.read_text().splitlines()  # written in Flower's worker: device 0 trained on simavr in both rounds
    shard = len(fleet.partition(plan.split, 3, fleet_data.y_train)[0])
    assert [line.split()[:2] for line in runs] == [["avr", str(shard)]] * 2
    if reference == "direct":
        expected = simulators_without_flower(simulators, fleet_data, plan)
    else:
        all_simulators = fleet.run(simulators, estimator, fleet_data, plan)
        assert all_simulators["emulated"] is None and all_simulators["rounds"] == report["rounds"]
        expected = all_simulators["final_weights"]
    assert report["final_weights"] == expected != [0] * (bundle.n_features + 1)


def test_fleet_emulate_makes_device_0_an_mcu_and_says_when_its_toolchain_is_missing(tmp_path, monkeypatch,
                                                                                    breast_cancer):
    import shutil

    bundle, estimator = breast_cancer
    model, csv = write_fleet_files(tmp_path, bundle, estimator)
    seen = {}
    monkeypatch.setattr(fleet, "run", lambda devices, *a, **kw: seen.update(devices=devices) or {
        "centralized_accuracy": 1.0, "centralized_model": "m", "final_accuracy": 1.0, "gap": 0.0, "seconds": 0.0,
        "initial_accuracy": 0.5, "rounds": [{"round": 1, "accuracy": 1.0}]})
    args = ["fleet", str(model), "--data", str(csv), "--label", "target", "--clients", "3", "--rounds", "1",
            "--emulate", "host"]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    assert "device 0 on the emulated host" in result.output
    assert isinstance(seen["devices"](0), EmulatedDevice) and not isinstance(seen["devices"](1), EmulatedDevice)
    assert not isinstance(seen["devices"](), EmulatedDevice)  # the server's test device
    which = shutil.which
    monkeypatch.setattr(shutil, "which", lambda tool, *a, **kw: None if tool == "simavr" else which(tool, *a, **kw))
    result = CliRunner().invoke(main, args[:-1] + ["avr"])
    assert result.exit_code == 2
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: simavr not found; install it with: apt-get install simavr")


@pytest.mark.slow
def test_a_fleet_of_mlp_heads_learns_and_sends_only_the_heads_weights(tmp_path, monkeypatch, breast_cancer):
    """An MLP exported trainable (frozen body, trainable head) runs in a Flower fleet as the linear models do: the
    devices send the head's weights and their row count, nothing else, and the fleet does not fall below its start."""
    import warnings
    from sklearn.neural_network import MLPClassifier
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    bundle, _ = breast_cancer
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        estimator = make_pipeline(StandardScaler(), MLPClassifier((8,), max_iter=200, random_state=0)).fit(
            bundle.X, bundle.y)
    train.name_features(estimator, bundle.feature_names)
    _, report, strategies = run_fleet(tmp_path, monkeypatch, bundle, estimator, "--clients", "4", "--rounds", "3",
                                      "--split", "dirichlet:0.5")
    assert report["engine"] == "flwr" and [r["round"] for r in report["rounds"]] == [1, 2, 3]
    assert report["final_accuracy"] >= report["initial_accuracy"] - 0.02
    assert len(report["final_weights"]) == 8 + 1  # the head: 8 hidden units and its bias
    for reply in strategies[0].received:
        assert (reply["arrays"], reply["metrics"], reply["dtype"], reply["bytes"]) == (["weights"], ["num-examples"],
                                                                                       "int32", 4 * (8 + 1))
