"""The golden check of issue 15's restructuring: every model of the test matrix, converted, run by the simulator
and by the C on a target; a digest of each one's outputs (raw scores, decisions, Q15 probabilities, anomaly
scores) is stored in tests/data/golden.json. Restructuring must leave every digest as it was (any change is a
changed integer program, to be listed and explained).

    python tests/golden.py record [--target host|avr ...]   # write the digests of what the code computes now
    python tests/golden.py check [--target host|avr ...]    # compare; exit 1 listing every case that changed

tests/test_golden.py checks the simulator's digests on every run; the C's are checked by this script (the C ==
simulator tests hold the C to the simulator on every run).
"""
from __future__ import annotations

import argparse
import functools
import gzip
import hashlib
import json
import sys
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
GOLDEN = HERE / "data" / "golden.json"

import tinygen  # noqa: E402
from tinygen import bench  # noqa: E402
from tinygen.errors import TinygenError  # noqa: E402
from tinygen.quantize import GAUSSIAN_DTYPES, LINEAR_DTYPES, TREE_DTYPES  # noqa: E402


def _edge_rows(n_features: int) -> np.ndarray:
    from conftest import edge_rows
    return edge_rows(n_features)


def _rows(X) -> np.ndarray:
    return np.vstack([np.asarray(X, dtype=np.float64), _edge_rows(X.shape[1])])


def _bench_cases():
    for dataset, model in bench.LINEAR_CASES:
        for dtype in (*LINEAR_DTYPES, "int8"):
            yield f"{dataset}/{model}/{dtype}", (dataset, model), dict(dtype=dtype)
    for dataset, model in bench.NETWORK_CASES:
        for dtype in bench.MLP_DTYPES:
            yield f"{dataset}/{model}/{dtype}", (dataset, model), dict(dtype=dtype)
    for dataset, model in bench.BAYES_CASES:
        for dtype in GAUSSIAN_DTYPES:
            yield f"{dataset}/{model}/{dtype}", (dataset, model), dict(dtype=dtype)
    for model in bench.TREES:
        dataset = "diabetes" if bench.is_regressor(model) else "breast_cancer"
        for dtype in TREE_DTYPES:
            for layout in ("inline", "table"):
                for bins in ((True, False) if dtype == "exact" else (None,)):
                    options = dict(dtype=dtype, layout=layout, **({} if bins is None else {"bins": bins}))
                    yield f"{dataset}/{model}/{dtype}/{layout}/bins={bins}", (dataset, model), options


def _other_models():
    """Models outside bench's matrix: IsolationForest, unscaled (raw) features, the real sensor features, as
    {name: (unfitted estimator, data set: "breast_cancer" or a sensor set, dtypes or option dicts)}."""
    from sklearn.ensemble import IsolationForest
    from sklearn.linear_model import LogisticRegression, SGDClassifier
    from sklearn.naive_bayes import GaussianNB
    from sklearn.neural_network import MLPClassifier
    models = {
        "breast_cancer/IsolationForest": (IsolationForest(n_estimators=10, random_state=0), "breast_cancer",
                                          [dict(dtype=d, layout=lay) for d in ("exact", "q15") for lay in ("inline", "table")]),
        "breast_cancer/raw-LogisticRegression": (LogisticRegression(max_iter=5000), "breast_cancer", ("q15", "q7")),
        "breast_cancer/raw-SGD": (SGDClassifier(random_state=0), "breast_cancer", ("q15", "q7")),
        "breast_cancer/raw-MLP16x8": (MLPClassifier(hidden_layer_sizes=(16, 8), max_iter=500, random_state=0),
                                      "breast_cancer", ("q15", "q7", "int8")),
    }
    for name in ("basicmotions", "japanesevowels"):
        models[f"{name}/GaussianNB"] = (GaussianNB(), name, GAUSSIAN_DTYPES)
        models[f"{name}/raw-LogisticRegression"] = (LogisticRegression(max_iter=5000), name, ("q15", "q7"))
    return models


@functools.lru_cache(maxsize=None)
def _other_data(dataset: str):
    """(rows to fit on, their labels, all rows, calibration rows): breast_cancer's training split (IsolationForest:
    every row), or a sensor set's rows."""
    if dataset == "breast_cancer":
        X, _, X_train, _, y_train, _ = bench.split(dataset)
        return X_train, y_train, X, X_train
    Xs, ys = _sensor(dataset)
    return Xs, ys, Xs, Xs


@functools.lru_cache(maxsize=None)
def _fitted_other(name: str):
    estimator, dataset, _ = _other_models()[name]
    X_fit, y_fit, X, _ = _other_data(dataset)
    return estimator.fit(X) if name.endswith("IsolationForest") else estimator.fit(X_fit, y_fit)


def _sensor(name: str):
    with gzip.open(HERE / "data" / f"{name}_features.csv.gz", "rt") as fh:
        header = fh.readline().strip().split(",")
        table = np.genfromtxt(fh, delimiter=",", dtype=str)
    label = header.index("label") if "label" in header else len(header) - 1
    features = [i for i in range(len(header)) if i != label and header[i] not in ("split", "recording")]
    return table[:, features].astype(np.float64), table[:, label]


def cases():
    """(case name, converted-model factory, rows) for every case of the matrix, in a fixed order."""
    for name, key, options in _bench_cases():
        dataset, model = key
        X, _, X_train, *_ = bench.split(dataset)
        yield name, (lambda key=key, options=options, X_train=X_train:
                     tinygen.convert(bench.fitted(*key), calibration=X_train, **options)), _rows(X)
    for base, (_, dataset, choices) in _other_models().items():
        _, _, X, X_calib = _other_data(dataset)
        if base.endswith("IsolationForest"):  # fitted and calibrated on every row (no labels to split by)
            X_calib = X
        for options in (c if isinstance(c, dict) else dict(dtype=c) for c in choices):
            suffix = "/".join(str(v) for v in options.values())
            yield f"{base}/{suffix}", (lambda b=base, o=options, c=X_calib: tinygen.convert(_fitted_other(b), calibration=c, **o)), \
                _rows(X)


def _digest(*arrays) -> str:
    h = hashlib.sha256()
    for array in arrays:
        if array is None:
            h.update(b"none")
            continue
        array = np.ascontiguousarray(array)
        if array.dtype.kind == "f":  # bits, with every NaN the same (its payload is the platform's choice)
            array = np.where(np.isnan(array), np.nan, array).astype(array.dtype)
            array = array.view(np.uint32 if array.dtype == np.float32 else np.uint64)
        else:
            array = array.astype(np.int64)
        h.update(str(array.shape).encode() + array.tobytes())
    return h.hexdigest()[:16]


def simulator_digest(model, X) -> str:
    program = model.program
    scores = program.scores(X)
    proba = program.proba.forward(scores) if program.proba is not None else None
    anomaly = program.anomaly_scores(X) if program.anomaly_score_op is not None else None
    return _digest(scores, program.decide(scores), proba, anomaly)


def target_digest(model, X, target: str) -> str:
    import tempfile
    from tinygen import targets
    with tempfile.TemporaryDirectory(prefix="tinygen-golden-") as tmp:
        paths = model.save(tmp, "golden")
        measured = targets.get(target).measure(model.program, paths["header"], "golden", X)
    return _digest(measured.scores, measured.predictions, measured.proba, measured.anomaly_int, measured.anomaly_float)


FIT_LOCK = threading.Lock()  # scikit-learn's liblinear seeds a global RNG: fits in parallel threads race


def compute(kinds, only=None, jobs: int = 2) -> dict:
    todo = [c for c in cases() if only is None or only in c[0]]

    def one(case):
        name, make, X = case
        try:
            with FIT_LOCK:
                model = make()
        except TinygenError as exc:  # a combination the model refuses (e.g. table limits): recorded as such
            return name, {kind: "refused: " + str(exc)[:60] for kind in kinds}
        out = {}
        for kind in kinds:
            try:
                out[kind] = simulator_digest(model, X) if kind == "sim" else target_digest(model, X, kind)
            except TinygenError as exc:  # e.g. a model too big for the Uno: recorded as such
                out[kind] = "refused: " + str(exc)[:60]
        return name, out

    with ThreadPoolExecutor(jobs) as pool:
        return dict(pool.map(one, todo))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("action", choices=("record", "check"))
    parser.add_argument("--target", action="append", default=[], help="host, avr, ... (the simulator always)")
    parser.add_argument("--only", help="cases whose name contains this text")
    parser.add_argument("--jobs", type=int, default=2)
    args = parser.parse_args(argv)
    kinds = ["sim", *args.target]
    got = compute(kinds, args.only, args.jobs)
    stored = json.loads(GOLDEN.read_text()) if GOLDEN.exists() else {}
    if args.action == "record":
        for name, values in got.items():
            stored.setdefault(name, {}).update(values)
        GOLDEN.write_text(json.dumps(stored, indent=1, sort_keys=True) + "\n")
        print(f"recorded {len(got)} cases x {kinds} in {GOLDEN}")
        return 0
    changed = [(name, kind, stored.get(name, {}).get(kind), value) for name, values in got.items()
               for kind, value in values.items() if stored.get(name, {}).get(kind) != value]
    for name, kind, before, after in changed:
        print(f"changed: {name} [{kind}] {before} -> {after}")
    print(f"{len(got)} cases x {kinds}: {len(changed)} changed")
    return 1 if changed else 0


if __name__ == "__main__":
    sys.exit(main())
