"""tinygen report: the page's structure (every section, every chart a decodable PNG, no external URL, user text
escaped), the precision profile's numbers against the manifest, the page rendered in headless Chromium (every
chart laid out with a size and visible in the screenshot), and the progress bar (drawn on a terminal only).

The rendered page and its screenshot are kept in tests/output/ (gitignored): report.html and
report-screenshot.png."""
from __future__ import annotations

import base64
import io
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from sklearn.datasets import load_breast_cancer, load_diabetes, load_iris
from sklearn.linear_model import LogisticRegression
from sklearn.neural_network import MLPClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.tree import DecisionTreeRegressor

import tinygen
from tinygen import data, modelio
from tinygen.cli import main
from tinygen.frontend import to_float_program
from tinygen.progress import ProgressBar, progress
from tinygen.profiling import profile
from tinygen.report import write_report

from conftest import need_tool

OUTPUT = Path(__file__).parent / "output"
SECTIONS = ("accuracy", "precision", "score-error", "confusion", "targets", "notes")
# user text with HTML and matplotlib specials ('$' alone would start mathtext)
FEATURES = ["<i>sepal</i> length", "sepal & width", "petal 'length'", "petal width $"]
CLASSES = np.array(["<b>setosa</b>", "versi&color", "cost 10$"], dtype=object)
LABEL = "kind<x>"
TITLE = "<script>alert(1)</script> iris & co"
IMG = re.compile(r"<img\b[^>]*>")


def images_of(html: str) -> list[tuple[str, bytes]]:
    """(alt, PNG bytes) of every <img>, checked to be embedded base64 PNG."""
    found = []
    for tag in IMG.findall(html):
        src = re.search(r'\bsrc="([^"]*)"', tag).group(1)
        assert src.startswith("data:image/png;base64,"), f"an image that is not embedded: {src[:60]}"
        found.append((re.search(r'\balt="([^"]*)"', tag).group(1), base64.b64decode(src.split(",", 1)[1], validate=True)))
    return found


def pixels(png: bytes) -> np.ndarray:
    from PIL import Image
    return np.asarray(Image.open(io.BytesIO(png)).convert("L"), dtype=np.float64)


def assert_not_blank(gray: np.ndarray, what: str, min_ink: float = 0.01) -> None:
    ink = float(np.mean(gray < 200))  # pixels clearly darker than the page's white
    assert gray.size and gray.std() > 5 and ink > min_ink, f"{what} looks blank (std {gray.std():.1f}, ink {ink:.3f})"


@pytest.fixture(scope="module")
def iris(tmp_path_factory):
    """An MLP on iris with class and feature names full of HTML and '$', as a CSV, a .skops model and the
    estimator."""
    tmp = tmp_path_factory.mktemp("report")
    X, y = load_iris(return_X_y=True)
    csv = tmp / "iris.csv"
    data.write_csv(data.Dataset(X, CLASSES[y], FEATURES, LABEL), csv)
    result = CliRunner().invoke(main, ["train", str(csv), "--label", LABEL, "--model", "mlp", "--param",
                                       "hidden_layer_sizes=8", "--param", "max_iter=2000", "-o", str(tmp / "iris.skops")])
    assert result.exit_code == 0, result.output
    return {"csv": csv, "model": tmp / "iris.skops", "X": X, "y": CLASSES[y],
            "estimator": modelio.load_model(tmp / "iris.skops")}


@pytest.fixture(scope="module")
def page(iris):
    """The page for every dtype the MLP exports with, measured on the host, written to tests/output/report.html."""
    need_tool("gcc")
    OUTPUT.mkdir(exist_ok=True)
    path = OUTPUT / "report.html"
    result = CliRunner().invoke(main, ["report", str(iris["model"]), "--data", str(iris["csv"]), "--label", LABEL,
                                       "--target", "host", "--title", TITLE, "-o", str(path)])
    assert result.exit_code == 0, result.output
    assert result.output.startswith(f"wrote {path}: Pipeline(StandardScaler, MLPClassifier) on 150 rows, dtypes "
                                    "float32, q15, q7, int8, targets host")
    assert "[#" not in result.output  # no progress bar off a terminal
    return path, path.read_text(encoding="utf-8")


def test_every_section_and_chart_is_there(page):
    _, html = page
    for section in SECTIONS:
        assert f'<section id="{section}">' in html
    for dtype in ("float32", "q15", "q7", "int8"):
        assert f"<h3>{dtype}</h3>" in html
    assert "float32 keeps the inputs as float32" in html  # float32 has no fixed-point tensors to profile
    alts = [alt for alt, _ in images_of(html)]
    assert alts == ["accuracy per dtype", "ranges against formats, q15", "ranges against formats, q7",
                    "ranges against formats, int8", "score error histograms", "confusion matrices",
                    "flash, RAM, stack and cycles per target"]
    for alt, png in images_of(html):
        gray = pixels(png)
        assert gray.shape[0] > 100 and gray.shape[1] > 500, alt
        assert_not_blank(gray, alt)
    # the host run: four rows, 0 mismatches, the model's object size
    rows = re.findall(r'<tr><td class="name">host</td><td class="name">(\w+)</td>\s*<td>150</td><td>(\d+)</td><td>([\d,]+)</td>', html)
    assert [(dtype, mismatches) for dtype, mismatches, _ in rows] == [(d, "0") for d in ("float32", "q15", "q7", "int8")]


def test_the_page_is_offline_and_escapes_user_text(page):
    _, html = page
    html = re.sub(r"data:image/png;base64,[A-Za-z0-9+/=]+", "data:image/png;base64,", html)
    assert not re.search(r"https?:|//[a-z]|<script|<link|@import|url\(|<iframe|<object", html, re.I), "an external reference"
    assert not re.search(r'\b(?:src|href)="(?!data:image/png;base64,)', html)
    assert "<title>&lt;script&gt;alert(1)&lt;/script&gt; iris &amp; co</title>" in html
    assert "&lt;i&gt;sepal&lt;/i&gt; length" in html and "sepal &amp; width" in html and "petal &#39;length&#39;" in html
    assert "<code>kind&lt;x&gt;</code>" in html
    for raw in ("<i>sepal", "<x>", "alert(1)</script>"):
        assert raw not in html


def test_the_page_renders_in_chromium_with_every_chart_visible(page, tmp_path):
    """Chromium lays the page out (a copy with a measuring script: each image's decoded size and box), then
    screenshots the whole page; the screenshot and each chart's region in it must have ink."""
    chromium = need_tool("chromium")
    path, html = page
    probe = tmp_path / "probe.html"
    probe.write_text(html.replace("</body>", MEASURE_SCRIPT + "</body>"), encoding="utf-8")
    common = [chromium, "--headless", "--disable-gpu", "--no-sandbox", "--hide-scrollbars", "--no-first-run",
              f"--user-data-dir={tmp_path / 'profile'}"]
    dom = subprocess.run([*common, "--virtual-time-budget=10000", "--window-size=1200,3000", "--dump-dom",
                          probe.as_uri()], capture_output=True, text=True, timeout=120)
    measured = re.search(r'<pre id="tinygen-measured">(.*?)</pre>', dom.stdout, re.S)
    assert measured, f"Chromium gave no measurements: {dom.stderr[-500:]}"
    layout = json.loads(measured.group(1))
    assert len(layout["images"]) == len(images_of(html)) == 7
    for image in layout["images"]:
        assert image["complete"] and min(image["natural"]) > 0, f"{image['alt']} did not decode"
        assert image["box"][2] > 400 and image["box"][3] > 100, f"{image['alt']} is laid out without a size"
    shot = OUTPUT / "report-screenshot.png"
    shot.unlink(missing_ok=True)
    subprocess.run([*common, f"--screenshot={shot}", f"--window-size=1200,{layout['height']}", path.as_uri()],
                   capture_output=True, timeout=120)
    assert shot.exists(), "Chromium wrote no screenshot"
    gray = pixels(shot.read_bytes())
    assert gray.shape == (layout["height"], 1200)
    assert_not_blank(gray, "the screenshot", min_ink=0.05)
    for image in layout["images"]:
        left, top, width, height = (int(round(v)) for v in image["box"])
        assert_not_blank(gray[top:top + height, left:left + width], f"{image['alt']} in the screenshot")
    print(f"report screenshot: {shot}")


MEASURE_SCRIPT = """<script>
window.addEventListener("load", function () {
  var images = Array.prototype.map.call(document.images, function (img) {
    var r = img.getBoundingClientRect();
    return {alt: img.alt, complete: img.complete, natural: [img.naturalWidth, img.naturalHeight],
            box: [r.left + window.scrollX, r.top + window.scrollY, r.width, r.height]};
  });
  var out = document.createElement("pre");
  out.id = "tinygen-measured";
  out.textContent = JSON.stringify({height: document.documentElement.scrollHeight, images: images});
  document.body.appendChild(out);
});
</script>"""


# ---- the numbers behind the charts -----------------------------------------------------------------------
def test_profile_formats_are_the_manifests_and_saturation_is_seen():
    X, y = load_breast_cancer(return_X_y=True)
    estimator = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000)).fit(X, y)
    program = tinygen.convert(estimator, dtype="q15", calibration=X).program
    wild = np.vstack([X, X[:1]])
    wild[-1, 0] *= 100  # feature 0 at 100x its value: beyond its format
    stages = profile(to_float_program(estimator), program, wild)
    assert len(stages) == X.shape[1] + 1  # every feature, then the dense's scores
    for stage, frac_bits in zip(stages, program.ops[0].frac_bits):
        assert stage.fmt.type_name == "int16" and stage.fmt.scale == 2.0 ** -frac_bits
        assert stage.fmt.high == (2 ** 15 - 1) * stage.fmt.scale
        assert stage.max_error <= stage.fmt.scale / 2 * (1 + 1e-6) + 2.0 ** -24 * np.abs(stage.values).max()
    assert stages[0].clipped == pytest.approx(1 / len(wild)) and stages[0].chart_row()["clipped"]
    assert all(stage.clipped == 0 for stage in stages[1:])
    dense = program.ops[1]
    assert stages[-1].bound == dense.acc_bound * 2.0 ** -dense.weight_frac_bits
    assert stages[-1].fmt.scale == 2.0 ** -dense.out_frac_bits


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_profile_follows_hidden_layers_in_q7_and_int8():
    X, y = load_iris(return_X_y=True)
    estimator = make_pipeline(StandardScaler(), MLPClassifier((6,), max_iter=800, random_state=0)).fit(X, y)
    float_program = to_float_program(estimator)
    q7 = profile(float_program, tinygen.convert(estimator, dtype="q7", calibration=X).program, X)
    # q7 gives each hidden unit its own format here (row shifts): a stage per unit, as for the inputs
    assert [s.name for s in q7[4:]] == ([f"#1 dense [6] unit {j}" for j in range(6)]
                                        + [f"#2 relu [6] unit {j}" for j in range(6)] + ["#3 dense [3]"])
    assert q7[4].relu_next and not q7[10].relu_next  # the dense before the relu may only saturate at its top
    assert len({s.fmt.scale for s in q7[4:10]}) > 1  # the units' formats differ
    int8 = profile(float_program, tinygen.convert(estimator, dtype="int8", calibration=X).program, X)
    assert [s.name for s in int8[4:]] == ["#1 fully_connected [6]", "#2 fully_connected [3]"]
    assert int8[4].values.min() >= 0  # the fused relu: compared with the float model after its relu
    for stage in int8:  # formats from the same rows: nothing saturates, the error stays within a few steps
        assert stage.clipped == 0 and stage.max_error <= 4 * stage.fmt.scale


def test_tree_regressor_page_without_confusion_matrices(tmp_path):
    X, y = load_diabetes(return_X_y=True)
    estimator = DecisionTreeRegressor(max_depth=4, random_state=0).fit(X, y)
    analysis = write_report(estimator, X, y, tmp_path / "tree.html", name="tree")
    assert list(analysis["results"]) == ["float32", "q15", "q7", "exact"]
    assert analysis["metric_name"] == "r2"
    assert analysis["results"]["exact"].stages == []  # float inputs, integer compares: nothing to profile
    assert analysis["results"]["exact"].fixed_metric == pytest.approx(analysis["float_metric"])
    assert analysis["results"]["q15"].stages[-1].name == "#1 tree_ensemble [1]"
    html = (tmp_path / "tree.html").read_text(encoding="utf-8")
    assert "Not a classifier: no confusion matrices." in html and "No target was run." in html
    assert "<h2>R2 per dtype</h2>" in html
    assert [alt for alt, _ in images_of(html)] == ["r2 per dtype", "ranges against formats, q15",
                                                   "ranges against formats, q7", "score error histograms"]


def test_report_measures_on_the_avr_mcu(iris, tmp_path):
    for tool in ("avr-gcc", "simavr", "gcc"):
        need_tool(tool)
    analysis = write_report(iris["estimator"], iris["X"], iris["y"], tmp_path / "avr.html", dtypes=("q7",),
                            targets=("avr",), name="iris")
    measured = analysis["results"]["q7"].targets["avr"]
    assert measured["mismatches"] == 0 and measured["cycles_unit"] == "cycles" and measured["cycles_per_inference"] > 0
    html = (tmp_path / "avr.html").read_text(encoding="utf-8")
    assert re.search(r"<td>([\d,]+)</td><td class=\"name\">cycles</td>", html)
    assert "flash, RAM, stack and cycles per target" in [alt for alt, _ in images_of(html)]


# ---- bad input -------------------------------------------------------------------------------------------
def one_line_error(args) -> str:
    result = CliRunner().invoke(main, [str(a) for a in args])
    assert result.exit_code == 2, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.output
    return lines[0]


def test_bad_input_is_one_line(iris, tmp_path):
    out = tmp_path / "r.html"
    assert "dtype exact is for tree models" in one_line_error(["report", iris["model"], "--data", iris["csv"], "--label",
                                                               LABEL, "--dtype", "exact", "-o", out])
    assert "report needs --label" in one_line_error(["report", iris["model"], "--data", iris["csv"], "-o", out])
    assert not out.exists()


def test_without_matplotlib_the_report_says_how_to_install_it(iris, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # `import matplotlib` now raises ImportError
    line = one_line_error(["report", iris["model"], "--data", iris["csv"], "--label", LABEL, "-o", tmp_path / "r.html"])
    assert "pip install 'tinygen[report]'" in line


# ---- progress bars ---------------------------------------------------------------------------------------
def test_progress_is_silent_off_a_terminal(capfd):
    assert list(progress(iter(range(5)), "work", length=5)) == [0, 1, 2, 3, 4]
    assert capfd.readouterr() == ("", "")


def test_progress_draws_a_bar_on_a_terminal():
    """A real pseudo-terminal for stdout and stderr: the bar shows the label, the count and the item."""
    code = ("from tinygen.progress import progress\n"
            "for _ in progress(['q15', 'q7'], 'report', describe=str): pass\n"
            "print('done')\n")
    master, slave = os.openpty()
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parent.parent)}
    proc = subprocess.Popen([sys.executable, "-c", code], stdin=slave, stdout=slave, stderr=slave, env=env)
    os.close(slave)
    chunks = []
    while True:
        try:
            chunk = os.read(master, 4096)
        except OSError:  # EIO: the child closed the terminal
            break
        if not chunk:
            break
        chunks.append(chunk)
    os.close(master)
    assert proc.wait(timeout=60) == 0
    screen = b"".join(chunks).decode("utf-8", "replace")
    assert "report" in screen and "2/2" in screen and "q7" in screen and "done" in screen, screen


def test_a_bar_stepped_by_hand_counts_where_the_total_is_unknown(capsys):
    """The search's phases: a bar of known total, then a count; nothing at all when disabled."""
    bar = ProgressBar(enabled=True)
    bar.start("fitting", 2)
    bar.step()
    bar.working_on("logreg")
    bar.step()
    bar.start("running on avr")
    bar.step()
    bar.finish()
    lines = capsys.readouterr().err.split("\n")
    assert "fitting" in lines[0] and lines[0].rstrip().endswith("2/2  logreg") and "[" + "#" * 30 + "]" in lines[0]
    assert lines[1].split("\r")[-1].split() == ["running", "on", "avr", "1"] and lines[2] == ""
    quiet = ProgressBar(enabled=False)
    quiet.start("fitting", 2)
    quiet.step()
    quiet.finish()
    assert capsys.readouterr() == ("", "")
