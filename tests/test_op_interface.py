"""The op interface (tinygen/ops/base.py): every typed op implements it, what it states about its tensors holds
on real rows, and the modules that read programs (cost model, report, program container) ask the ops instead of
testing which op they hold."""
from __future__ import annotations

import ast
import inspect
from pathlib import Path

import numpy as np
import pytest
from sklearn.datasets import load_breast_cancer, load_iris
from sklearn.ensemble import IsolationForest, RandomForestClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.naive_bayes import GaussianNB
from sklearn.neural_network import MLPClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

import tinygen
from tinygen import costmodel
from tinygen.ops import OP_TYPES
from tinygen.ops.base import Op, QFormat

from conftest import edge_rows

ROOT = Path(tinygen.__file__).resolve().parent


def test_every_op_implements_the_interface():
    from tinygen.ops.anomaly_score import AnomalyScore
    from tinygen.ops.probability import Probability
    for name, cls in {**OP_TYPES, "probability": Probability, "anomaly_score": AnomalyScore}.items():
        assert issubclass(cls, Op), name
        assert cls.op == name
        for method in ("forward", "to_dict"):
            assert getattr(cls, method) is not getattr(Op, method, None), f"{name} does not define {method}"
        assert inspect.ismethod(cls.from_dict), f"{name}.from_dict is not a classmethod"


def _models():
    X, y = load_breast_cancer(return_X_y=True)
    Xi, yi = load_iris(return_X_y=True)
    scaled_mlp = make_pipeline(StandardScaler(), MLPClassifier(hidden_layer_sizes=(8,), max_iter=300, random_state=0)).fit(X, y)
    raw_mlp = MLPClassifier(hidden_layer_sizes=(6, 4), max_iter=300, random_state=0).fit(X, y)
    forest = RandomForestClassifier(n_estimators=4, max_depth=4, random_state=0).fit(X, y)
    yield "logreg q7 (offsets)", tinygen.convert(LogisticRegression(max_iter=3000).fit(X, y), dtype="q7", calibration=X), X
    yield "mlp q7 per-unit", tinygen.convert(raw_mlp, dtype="q7", calibration=X), X
    yield "mlp int8", tinygen.convert(scaled_mlp, dtype="int8", calibration=X), X
    yield "mlp float32", tinygen.convert(scaled_mlp, dtype="float32", calibration=X), X
    yield "gnb q7", tinygen.convert(GaussianNB().fit(Xi, yi), dtype="q7", calibration=Xi), Xi
    for layout in ("inline", "table"):
        yield f"forest exact {layout}", tinygen.convert(forest, layout=layout), X
        yield f"forest q15 {layout}", tinygen.convert(forest, dtype="q15", calibration=X, layout=layout), X
    yield "forest exact bins", tinygen.convert(forest, bins=True), X
    yield "iforest", tinygen.convert(IsolationForest(n_estimators=5, random_state=0).fit(X)), X


@pytest.mark.parametrize("name,model,X", list(_models()), ids=lambda v: v if isinstance(v, str) else "")
def test_what_an_op_states_holds_on_rows(name, model, X):
    """Each op's output lies in its stated format's range on real and edge rows; input conversions state one
    format per feature; tables are whole bytes; every op adds its own cost counts."""
    program = model.program
    rows = np.vstack([X, edge_rows(X.shape[1])])
    values = rows.astype(np.float32)
    for op in program.ops:
        counts = costmodel.Features()
        op.count_costs(values, op.cost_group(), counts)
        assert all(key.startswith(op.cost_group() + ":") for key in counts.cycles), op.op
        formats = op.in_formats()
        if op.converts_input:
            assert formats is not None and len(formats) == op.n_in
        values = op.forward(values)
        bounds = op.out_bounds()  # what the header's @param comments state
        if bounds is not None:
            assert bounds[0] <= values.min() and values.max() <= bounds[1], (op.op, bounds)
        fmt = op.out_format()
        assert fmt is None or isinstance(fmt, QFormat)
        if fmt is not None:
            lo, hi = fmt.range
            assert values.min() >= lo and values.max() <= hi, (op.op, fmt, values.min(), values.max())
        assert all(isinstance(v, int) and v >= 0 for v in op.table_bytes().values())
    for head in program.heads:  # predict_proba, score_samples: ordinary ops reading the scores
        fmt = head.out_format()
        out = head.forward(values)
        assert out.min() >= fmt.range[0] and out.max() <= fmt.range[1], head.op


def test_a_format_tells_a_wrong_range():
    """The range check above can fail: a format narrower than the values it describes is caught."""
    fmt = QFormat("int8", 4, q_min=-10, q_max=10)
    assert fmt.range == (-10, 10) and fmt.high == 10 / 16
    assert QFormat("uint16", 15).range == (0, 65535)
    with pytest.raises(ValueError):
        QFormat("int8", 4, scale_value=0.5)
    assert [f.frac_bits for f in QFormat("int16", (3, 5)).channels(2)] == [3, 5]


READERS = ("costmodel.py", "report.py", "profiling.py", "ir.py", "diagnose.py", "emit.py", "bench.py", "boards.py",
           "shipped.py")
OP_CLASSES = {cls.__name__ for cls in OP_TYPES.values()} | {"Probability", "AnomalyScore"}


@pytest.mark.parametrize("module", READERS)
def test_readers_ask_the_ops(module):
    """No isinstance test against a typed op class and no getattr on an op in the modules that read programs."""
    tree = ast.parse((ROOT / module).read_text())
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in ("isinstance", "getattr"):
            names = {n.id for n in ast.walk(node.args[1]) if isinstance(n, ast.Name)} if node.func.id == "isinstance" else set()
            assert not names & OP_CLASSES, f"{module}:{node.lineno} tests an op's class"
            if node.func.id == "getattr":
                target = node.args[0]
                assert not (isinstance(target, ast.Name) and target.id in ("op", "last", "nxt")), \
                    f"{module}:{node.lineno} reads an op's attribute by getattr"
