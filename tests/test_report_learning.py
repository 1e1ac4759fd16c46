"""`tinygen report --trainable --updates U.csv`: the learning section. Its curve is verify --trainable's
(the simulator after 0..n updates), scikit-learn's SGD's curve is drawn at the same marks and ends where verify's
sklearn_accuracy_after is; the page stays offline; bad option combinations are one-line errors. The fleet's text
sparkline."""
from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner
from sklearn.linear_model import SGDClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from tinygen import charts, data, modelio, sgd_reference
from tinygen.cli import main
from tinygen.verify_trainable import verify_trainable

from test_report import assert_not_blank, images_of, one_line_error, pixels

pytest.importorskip("matplotlib")


@pytest.fixture(scope="module")
def stream(tmp_path_factory):
    """breast_cancer: an SGD (hinge) fitted on 200 rows, 150 update rows with their sensors moved (a shifted world),
    the rest as the data (moved the same way); CSVs, the model file and the arrays."""
    tmp = tmp_path_factory.mktemp("learning")
    bundle = data.load_bundled("breast_cancer")
    order = np.random.default_rng(0).permutation(len(bundle.X))
    X, y = bundle.X[order], bundle.y[order]
    estimator = make_pipeline(StandardScaler(), SGDClassifier(loss="hinge", alpha=0.01, random_state=0))
    estimator.fit(pd.DataFrame(X[:200], columns=bundle.feature_names), y[:200])
    moved = X * np.where(np.arange(X.shape[1]) % 3 == 0, 1.6, 1.0)
    for part, rows in (("updates", slice(200, 350)), ("data", slice(350, None))):
        data.write_csv(data.Dataset(moved[rows], y[rows], bundle.feature_names, bundle.label_name), tmp / f"{part}.csv")
    modelio.save_model(estimator, tmp / "m.skops")
    return {"dir": tmp, "estimator": estimator, "label": bundle.label_name, "X_updates": moved[200:350],
            "y_updates": y[200:350], "X": moved[350:], "y": y[350:]}


def test_report_draws_the_learning_curves(stream):
    tmp = stream["dir"]
    out = tmp / "r.html"
    result = CliRunner().invoke(main, ["report", str(tmp / "m.skops"), "--data", str(tmp / "data.csv"), "--label",
                                       stream["label"], "--dtype", "q15", "--trainable", "--updates",
                                       str(tmp / "updates.csv"), "--learning-rate", "2^-5", "-o", str(out)])
    assert result.exit_code == 0, result.output
    html = out.read_text(encoding="utf-8")
    section = html[html.index('<section id="learning">'):]
    section = section[:section.index("</section>")]
    assert "hinge SGD in integers, learning rate 2^-5" in section
    (_, png), = images_of(section)
    assert_not_blank(pixels(png), "learning curves")
    rows = [tuple(float(v) for v in row) for row in
            re.findall(r"<tr><td>(\d+)</td><td>([\d.]+)</td><td>([\d.]+)</td></tr>", section)]
    assert [int(r[0]) for r in rows] == sorted({round(150 * i / 20) for i in range(21)})
    # the same numbers as verify --trainable's (the simulator's curve, its before/after, scikit-learn's end point)
    report = verify_trainable(stream["estimator"], stream["X_updates"], stream["y_updates"], stream["X"], stream["y"],
                              targets=(), learning_rate="2^-5")
    assert [r[1] for r in rows] == [round(p["accuracy"], 4) for p in report["learning_curve"]]
    assert rows[-1][2] == round(report["sklearn_accuracy_after"], 4)
    assert rows[0][2] == round(report["float_metric"], 4)  # the start is the exported float model
    assert rows[-1][1] > rows[0][1] + 0.02  # it learned the shifted world
    assert (f"before {report['accuracy_before']:.4f}, after {report['accuracy_after']:.4f} (scikit-learn's SGD: "
            f"{rows[0][2]:.4f} to {report['sklearn_accuracy_after']:.4f})") in " ".join(section.split())
    assert "<script" not in html and not re.search(r"(src|href)=\"(https?:)?//", html)


def test_the_sgd_curve_in_pieces_is_the_one_pass(stream):
    """partial_fit in pieces carries its step counter: the curve's last point is reference_sgd's one pass, for a
    decaying schedule with L2 too (up to float rounding: scikit-learn folds its weight scale in at each call's end)."""
    estimator = stream["estimator"]
    schedule = sgd_reference.Schedule("invscaling", 0.05, 0.5, 2.0 ** -10)
    transform, one_pass = sgd_reference.reference_sgd(estimator, schedule, stream["X_updates"], stream["y_updates"])
    coefficients = []
    sgd_reference.reference_curve(estimator, schedule, stream["X_updates"], stream["y_updates"],
                                  lambda sgd, _: coefficients.append(sgd.coef_.copy()), [0, 7, 60, 150])
    assert np.allclose(coefficients[-1], one_pass.coef_, rtol=1e-12, atol=1e-12)
    assert not np.array_equal(coefficients[0], coefficients[-1])


def test_learning_options_are_checked(stream, tmp_path):
    tmp = stream["dir"]
    base = ["report", tmp / "m.skops", "--data", tmp / "data.csv", "--label", stream["label"], "-o", tmp_path / "r.html"]
    assert "need --trainable and --updates" in one_line_error(base + ["--trainable"])
    assert "need --trainable and --updates" in one_line_error(base + ["--learning-rate", "2^-5"])
    assert "--updates is for report --trainable" in one_line_error(base + ["--updates", tmp / "updates.csv"])
    assert not (tmp_path / "r.html").exists()


def test_sparkline():
    assert charts.sparkline([0.5, 0.75, 1.0]) == "▁▅█"
    assert charts.sparkline([0.9, 0.9]) == "▄▄"
    assert len(charts.sparkline(list(np.linspace(0, 1, 21)))) == 21
