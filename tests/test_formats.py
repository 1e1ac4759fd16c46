"""Package formats (--format arduino | esp-idf | platformio): layouts checked against their specifications,
and real builds: the Arduino example sketch with the real Arduino AVR core (arduino-mk) for the Uno, run in
simavr and compared with the simulator; the ESP-IDF example main.c compiled for Xtensa (lx106) and run on
rv32imc under QEMU and on the host, compared with the simulator.
"""
from __future__ import annotations

import functools
import json
import os
import re
import subprocess
import zipfile
from pathlib import Path

import numpy as np
import pytest
import yaml
from click.testing import CliRunner
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from tinygen import convert, formats
from tinygen.bench import fitted, split
from tinygen.cli import main
from tinygen.sensor_data import BASICMOTIONS

from conftest import error_of, need_tool, sketch_of_both_packages, unavailable

ARDUINO_MK = Path("/usr/share/arduino/Arduino.mk")
# Text that must be escaped wherever it reaches C, JSON or library.properties.
LABELS = np.array(['barolo "classico"', "grignolino \u00e4", "barbera ??=/* */ \\"])
FEATURES = [f"f{i} */ x??= \\ \u00b0C" for i in range(13)]
NASTY_LABELS = np.array(["a\nparagraph=evil", "b\r\x00c", "d\u2028e"])
PROPERTIES_REQUIRED = ("name", "version", "author", "maintainer", "sentence", "paragraph", "category", "url",
                       "architectures")
CATEGORIES = ("Display", "Communication", "Signal Input/Output", "Sensors", "Device Control", "Timing",
              "Data Storage", "Data Processing", "Other", "Uncategorized")


def need_arduino_mk() -> Path:
    need_tool("make")
    need_tool("avr-gcc")
    if not ARDUINO_MK.is_file():
        unavailable(f"{ARDUINO_MK} is missing (apt-get install arduino-mk arduino-core-avr)")
    return ARDUINO_MK


# ---- models ---------------------------------------------------------------------------------------------
@functools.lru_cache(maxsize=None)
def wine_classifier(dtype: str = "q15", labels: tuple = tuple(LABELS)):
    """LogisticRegression on wine with string class labels and awkward feature names."""
    _, _, X_train, _, y_train, _ = split("wine")
    estimator = make_pipeline(StandardScaler(), LogisticRegression(max_iter=5000))
    estimator.fit(X_train, np.array(labels)[y_train])
    return convert(estimator, dtype=dtype, calibration=X_train, feature_names=FEATURES)


@functools.lru_cache(maxsize=None)
def diabetes_regressor(dtype: str):
    X_train = split("diabetes")[2]
    return convert(fitted("diabetes", "Ridge"), dtype=dtype, calibration=X_train)


def first_row(dataset: str) -> np.ndarray:
    return split(dataset)[2][0]


# ---- output lines of the example programs ------------------------------------------------------------------
LINE = re.compile(r"(?:class=(?P<cls>-?\d+)|value=(?P<value>\S+)) scores=(?P<scores>\S+)(?: label=(?P<label>.*))?")


def parse_results(text: str) -> list:
    """The documented line format: result lines as dicts, error lines as "error", '#' comments skipped."""
    results = []
    for line in text.replace("\r\n", "\n").split("\n"):
        if not line or line.startswith("#"):
            continue
        if line.startswith("error="):
            results.append("error")
            continue
        match = LINE.fullmatch(line)
        assert match, f"line not in the documented format: {line!r}"
        results.append(match.groupdict())
    return results


def check_result(model, row, result: dict, exact_value: bool) -> None:
    """One printed result against the simulator on the same float32 row."""
    program = model.program
    row = np.asarray(row, dtype=np.float32).reshape(1, -1)
    sim_scores = program.scores(row)[0]
    if program.is_fixed:
        assert [int(s) for s in result["scores"].split(",")] == [int(s) for s in sim_scores]
    else:
        assert np.array_equal(np.array(result["scores"].split(","), dtype=np.float32), sim_scores.astype(np.float32))
    if program.task == "classification":
        index = int(program.decide(sim_scores.reshape(1, -1))[0])
        assert int(result["cls"]) == index
        assert result["label"] == str(program.labels[index]) == str(model.predict(row)[0])
    else:
        value = float(model.predict(row)[0])
        if exact_value:
            assert np.float32(result["value"]) == np.float32(value)
        else:  # Arduino's Serial.print(float, 6)
            assert abs(float(result["value"]) - value) <= 1e-4 * max(1.0, abs(value))


def grid_safe_rows(program, rows) -> np.ndarray:
    """Rows whose quantized inputs cannot change if the board's strtod is a few ulp off: each value is
    moved to a quarter step between two points of its feature's fixed-point grid."""
    scale = 2.0 ** np.asarray(program.ops[0].frac_bits, dtype=np.float64)
    return ((np.round(np.asarray(rows) * scale) + 0.25) / scale).astype(np.float32)


def example_row_of(source: str) -> list:
    """The float32 values of exampleRow in an example program."""
    block = source[source.index("exampleRow["):]
    block = block[block.index("{") + 1:block.index("};")]
    return [np.float32(v) for v in re.findall(r"^\s+(\S+)f[, ] /\*", block, re.M)]


def csv_line(row) -> str:
    return ", ".join(f"{float(v):.9g}" for v in np.asarray(row, dtype=np.float32))


# ---- Arduino zip against the library specification ----------------------------------------------------------
def read_properties(data: bytes) -> dict:
    """library.properties as the IDE reads it: UTF-8, one key=value per line."""
    text = data.decode("utf-8")
    props = {}
    for line in text.split("\n"):
        assert "\r" not in line
        if not line.strip() or line.startswith("#"):
            continue
        key, sep, value = line.partition("=")
        assert sep, f"not a key=value line: {line!r}"
        assert key not in props, f"duplicate key {key}"
        props[key] = value
    return props


def check_arduino_zip(path: Path, name: str, manifest: bytes, header: bytes) -> dict:
    with zipfile.ZipFile(path) as archive:
        infos = archive.infolist()
        names = [info.filename for info in infos]
        files = {info.filename: archive.read(info) for info in infos if not info.is_dir()}
    assert names == sorted(names)
    for info in infos:
        assert info.date_time == (1980, 1, 1, 0, 0, 0)
        assert (info.external_attr >> 16) == (0o040755 if info.is_dir() else 0o100644)
        assert not info.filename.startswith("/") and ".." not in info.filename.split("/")
    # One top folder named after the library: the IDE installs it as libraries/NAME.
    assert {n.split("/")[0] for n in names} == {name}
    rel = {n[len(name) + 1:]: data for n, data in files.items()}
    assert set(rel) == {"library.properties", f"src/{name}.h", f"examples/{name}/{name}.ino", f"extras/{name}.json"}
    props = read_properties(rel["library.properties"])
    for key in PROPERTIES_REQUIRED:
        assert props.get(key), f"library.properties lacks {key}"
    # name: letters, digits, spaces, underscores, dots, dashes; starts with a letter or digit; has a letter.
    assert re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9 _.\-]{0,62}", props["name"]) and re.search("[A-Za-z]", props["name"])
    assert props["name"] == name
    assert re.fullmatch(r"\d+\.\d+\.\d+", props["version"])
    assert props["category"] in CATEGORIES and props["category"] == "Data Processing"
    assert props["architectures"] == "*"
    assert props["url"].startswith("https://")
    # 1.5 layout: the code lives in src/ (no sources in the root); includes= names headers of src/.
    for header_name in props["includes"].split(","):
        assert f"src/{header_name.strip()}" in rel
    assert not any(n.endswith((".h", ".c", ".cpp")) for n in rel if "/" not in n)
    # Each example is a folder holding the sketch of the same name.
    for entry in rel:
        if entry.startswith("examples/"):
            folder, sketch = entry.split("/")[1:]
            assert sketch == f"{folder}.ino"
    assert rel[f"src/{name}.h"] == header
    assert rel[f"extras/{name}.json"] == manifest
    return rel


def test_arduino_zip_follows_the_library_specification(tmp_path):
    model = wine_classifier("q15", tuple(NASTY_LABELS))
    paths = formats.export(model, tmp_path, "activity", "arduino", example=first_row("wine"))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["activity.h", "activity.json", "activity.zip"]
    rel = check_arduino_zip(paths["package"], "activity", paths["manifest"].read_bytes(), paths["header"].read_bytes())
    props = read_properties(rel["library.properties"])
    assert set(props) >= set(PROPERTIES_REQUIRED) | {"includes"}
    assert "a paragraph=evil" in props["paragraph"]  # the label's newline did not start a new key
    for value in props.values():
        assert not re.search("[\x00-\x1f\x7f\u2028\u2029]", value)
    sketch = rel["examples/activity/activity.ino"].decode("ascii")  # user text reaches C only escaped
    assert "#include <activity.h>" in sketch and "Serial.begin(9600)" in sketch
    assert not re.search(r"\bString\b", sketch) and "*/ x" not in sketch and "??=" not in sketch


def test_packages_are_deterministic_and_replace_old_ones(tmp_path):
    model = wine_classifier()
    for fmt in ("arduino", "esp-idf", "platformio"):
        first = formats.export(model, tmp_path / "a", "wine", fmt, example=first_row("wine"))
        second = formats.export(model, tmp_path / "b", "wine", fmt, example=first_row("wine"))
        again = formats.export(model, tmp_path / "a", "wine", fmt, example=first_row("wine"))  # over the old one
        assert first == again
        for key in first:
            assert tree_bytes(first[key]) == tree_bytes(second[key]), (fmt, key)
    assert sorted(p.name for p in (tmp_path / "a").iterdir()) == ["wine.h", "wine.json", "wine.zip", "wine_esp_idf",
                                                                   "wine_platformio"]


def tree_bytes(path: Path) -> dict:
    if path.is_file():
        return {"": path.read_bytes()}
    return {p.relative_to(path).as_posix(): p.read_bytes() for p in sorted(path.rglob("*")) if p.is_file()}


def test_bad_names_and_failures_leave_nothing(tmp_path, monkeypatch):
    model = wine_classifier()
    for fmt in ("header", "arduino", "esp-idf", "platformio"):
        for name in ("stdint", "Arduino", "wire", "CON", "9lives", "a__b"):
            message = error_of(formats.export, model, tmp_path / "out", name, fmt)
            assert repr(name) in message
    assert not (tmp_path / "out").exists()
    # Something in the way: refused before anything is written.
    (tmp_path / "blocked").mkdir()
    (tmp_path / "blocked" / "wine_esp_idf").write_text("a file")
    assert "in the way" in error_of(formats.export, model, tmp_path / "blocked", "wine", "esp-idf")
    assert sorted(p.name for p in (tmp_path / "blocked").iterdir()) == ["wine_esp_idf"]
    # The last step fails: the header and manifest written before it are removed, no temporary is left.
    def refuse(*args):
        raise OSError(28, "No space left on device")
    monkeypatch.setattr(os, "rename", refuse)
    assert "No space left" in error_of(formats.export, model, tmp_path / "full", "wine", "platformio")
    assert list((tmp_path / "full").iterdir()) == []
    assert "MAJOR.MINOR.PATCH" in error_of(formats.export, model, tmp_path / "v", "wine", "arduino", version="1.0")


# ---- the Arduino example sketch on the real Arduino AVR core, in simavr -----------------------------------------
# The example never ends (loop() waits for Serial lines). For the run, this sketch includes it unchanged,
# with setup/loop renamed, and ends once no input arrived for 300 ms: flush Serial, sleep with interrupts off.
HARNESS = """#include <avr/interrupt.h>
#include <avr/sleep.h>
#define setup exampleSetup
#define loop exampleLoop
#include "{ino}"
#undef setup
#undef loop

static unsigned long lastInput;

void setup()
{{
    exampleSetup();
    lastInput = millis();
}}

void loop()
{{
    if (Serial.available() > 0) {{
        lastInput = millis();
    }}
    exampleLoop();
    if (millis() - lastInput > 300UL) {{
        Serial.flush();
        cli();
        sleep_enable();
        sleep_cpu();
    }}
}}
"""


def arduino_build(sketch_dir: Path, target: str, libraries: Path, library: str, objdir: Path) -> Path:
    (sketch_dir / "Makefile").write_text(
        f"BOARD_TAG = uno\nTARGET = {target}\nUSER_LIB_PATH = {libraries}\nARDUINO_LIBS = {library}\n"
        f"OBJDIR = {objdir}\nCXXFLAGS += -DDECIMAL_DIG=__DECIMAL_DIG__\ninclude {ARDUINO_MK}\n")
    done = subprocess.run(["make", "-C", str(sketch_dir)], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    warnings = [line for line in done.stderr.splitlines() if f"{library}." in line and "warning" in line]
    assert not warnings, warnings  # the sketch and the model header build cleanly (-Wall)
    return objdir / f"{target}.elf"


def avr_size(elf: Path) -> dict:
    line = subprocess.run([need_tool("avr-size"), str(elf)], capture_output=True, text=True, check=True).stdout
    text, data, bss = (int(v) for v in line.strip().splitlines()[-1].split()[:3])
    return {"flash": text + data, "ram": data + bss}


def build_sketch(model, name: str, tmp_path: Path, example, build_example: bool = False) -> tuple[Path, dict | None]:
    """Export the arduino zip, install it as a library, build (the example and) the harness: (the harness's
    elf, the example's flash and RAM bytes or None)."""
    need_arduino_mk()
    need_tool("simavr")
    paths = formats.export(model, tmp_path / "out", name, "arduino", example=example)
    libraries = tmp_path / "libraries"
    with zipfile.ZipFile(paths["package"]) as archive:
        archive.extractall(libraries)
    ino = libraries / name / "examples" / name / f"{name}.ino"
    sizes = None
    if build_example:  # the example folder exactly as the IDE opens it
        elf = arduino_build(ino.parent, name, libraries, name, tmp_path / "obj-example")
        sizes = avr_size(elf)
        assert sizes["flash"] <= 32_256 and sizes["ram"] <= 2_048 - 256
    harness = tmp_path / "harness"
    harness.mkdir()
    (harness / "harness.ino").write_text(HARNESS.format(ino=ino))
    return arduino_build(harness, "harness", libraries, name, tmp_path / "obj-harness"), sizes


def run_sketch(model, name: str, tmp_path: Path, rows, build_example: bool = False):
    """The example sketch built (build_sketch) and run in simavr with `rows` sent over Serial (plus two bad
    lines); the results printed."""
    from tinygen.targets.avr import run_elf

    example = first_row("wine" if model.program.task == "classification" else "diabetes")
    elf, sizes = build_sketch(model, name, tmp_path, example, build_example)
    lines = [csv_line(row) for row in rows]
    # Serial has no flow control and the Uno's receive buffer holds 64 bytes: like a user, wait for each
    # answer (here: 300 ms of empty lines, which the sketch ignores, and some of which may be dropped).
    pause = "\n" * 300
    text = pause + "".join(line + "\r\n" + pause for line in [lines[0], "1,2,three", "1,2", *lines[1:]])
    uart, _ = run_elf(elf, cycle_limit=400_000_000, uart_input=text.encode("ascii"))
    return parse_results(uart.decode("utf-8")), example, sizes


def test_arduino_sketch_classifier_q15_on_uno_matches_simulator(tmp_path):
    model = wine_classifier("q15")
    X_test = split("wine")[3]
    rows = grid_safe_rows(model.program, X_test[[0, 5, 20, 33]])
    results, example, sizes = run_sketch(model, "wine", tmp_path, rows, build_example=True)
    assert len(results) == 1 + 2 + len(rows)
    check_result(model, example, results[0], exact_value=False)  # the built-in row, at setup
    assert results[2:4] == ["error", "error"]
    for row, result in zip(rows, [results[1], *results[4:]]):
        check_result(model, row, result, exact_value=False)
    labels = {r["label"] for r in results if r != "error"}
    assert labels <= set(LABELS) and len(labels) >= 2  # UTF-8 and escapes arrive as the original text
    print(f"\nUno example sketch (wine q15, 13 features): flash {sizes['flash']} B, RAM {sizes['ram']} B")


def test_arduino_sketch_regressor_q7_on_uno_matches_simulator(tmp_path):
    model = diabetes_regressor("q7")
    rows = grid_safe_rows(model.program, split("diabetes")[3][:3])
    results, example, _ = run_sketch(model, "diabetes", tmp_path, rows)
    assert len(results) == 1 + 2 + len(rows)
    check_result(model, example, results[0], exact_value=False)
    assert results[2:4] == ["error", "error"]
    for row, result in zip(rows, [results[1], *results[4:]]):
        check_result(model, row, result, exact_value=False)


def test_arduino_sketch_forest_exact_on_uno_matches_simulator(tmp_path):
    """A tree model (dtype exact, the automatic layout: tables in flash) in the library's example sketch."""
    from sklearn.ensemble import RandomForestClassifier

    _, _, X_train, _, y_train, _ = split("wine")
    forest = RandomForestClassifier(n_estimators=10, max_depth=6, random_state=0).fit(X_train, LABELS[y_train])
    model = convert(forest, feature_names=FEATURES)
    assert model.program.ops[1].layout == "table"
    rows = (np.round(X_train[[0, 60, 100]] * 8) / 8).astype(np.float32)  # short decimals: every strtod is exact
    results, example, sizes = run_sketch(model, "forest", tmp_path, rows, build_example=True)
    assert len(results) == 1 + 2 + len(rows)
    check_result(model, example, results[0], exact_value=False)
    assert results[2:4] == ["error", "error"]
    for row, result in zip(rows, [results[1], *results[4:]]):
        check_result(model, row, result, exact_value=False)
    print(f"\nUno example sketch (wine forest exact, table layout): flash {sizes['flash']} B, RAM {sizes['ram']} B")


# ---- the window sketch: frames over Serial into the stream, a class per window --------------------------------
RAW = BASICMOTIONS.path
# Channel names and labels that must reach the sketch's strings and comments escaped.
CHANNELS = ['acc_x "g"', "acc_y */ ??=", "acc_z \\ \u00b0"]
WINDOW_LABELS = {"Badminton": 'badminton "x"', "Running": "running ??= */", "Standing": "standing \u00e4",
                 "Walking": "walking\\"}
WINDOW_LINE = re.compile(r"window=(?P<window>\d+) class=(?P<cls>\d+) label=(?P<label>.*)")


@functools.lru_cache(maxsize=None)
def window_classifier():
    """WindowFeatures(32 x 3, hop 16: mean, std, rms) + StandardScaler + LogisticRegression, q15, trained on the
    BasicMotions accelerometer windows; (model, the calibration windows)."""
    from sklearn.pipeline import Pipeline

    from tinygen.features import WindowFeatures
    from tinygen.windows import load_windows

    windows = load_windows(RAW, label="activity", group="recording", window=32, hop=16,
                           channels=["acc_x", "acc_y", "acc_z"])
    pipeline = Pipeline([("features", WindowFeatures(32, CHANNELS, "mean,std,rms", hop=16)),
                         ("scale", StandardScaler()), ("model", LogisticRegression(max_iter=2000))])
    pipeline.fit(windows.X, np.array([WINDOW_LABELS[v] for v in windows.y]))
    return convert(pipeline, dtype="q15", calibration=windows.X), windows.X


@functools.lru_cache(maxsize=None)
def window_regressor():
    """WindowFeatures(16 x 2, hop 4: std, max) + StandardScaler + Ridge, q15, on random windows, its raw samples
    declared (a 10-bit ADC centred at 512, a signed register): (model, windows)."""
    from sklearn.linear_model import Ridge
    from sklearn.pipeline import Pipeline

    from tinygen.features import WindowFeatures

    windows = np.random.default_rng(0).normal(size=(60, 16 * 2))
    target = windows.reshape(60, 16, 2).std(axis=1).sum(axis=1)
    pipeline = Pipeline([("features", WindowFeatures(16, 2, "std,max", hop=4)), ("scale", StandardScaler()),
                         ("model", Ridge())]).fit(windows, target)
    raw_samples = {"ch0": (1 / 128, 512), "ch1": (1 / 1000, 0)}
    return convert(pipeline, dtype="q15", calibration=windows, raw_samples=raw_samples), windows


def raw_frames(recordings: list[str]) -> np.ndarray:
    """The accelerometer frames of these BasicMotions recordings, one after the other, in file order."""
    import csv
    import gzip

    with gzip.open(RAW, "rt", newline="") as handle:
        rows = list(csv.DictReader(handle))
    return np.array([[float(row[c]) for c in ("acc_x", "acc_y", "acc_z")]
                     for name in recordings for row in rows if row["recording"] == name])


def window_results(text: str) -> tuple[list, list]:
    """The window sketch's lines: (its '#' comments, its results: (window, class, label) or "error")."""
    comments, results = [], []
    for line in text.replace("\r\n", "\n").split("\n"):
        if line.startswith("#"):
            comments.append(line)
        elif line.startswith("error="):
            results.append("error")
        elif line:
            match = WINDOW_LINE.fullmatch(line)
            assert match, f"line not in the documented format: {line!r}"
            results.append((int(match["window"]), int(match["cls"]), match["label"]))
    return comments, results


def test_window_program_gets_the_window_sketch(tmp_path):
    """The arduino and platformio packages of a window program hold the window sketch (the same file): ASCII only
    (channel names and labels reach it escaped), the example window in flash frame by frame, the stream API,
    and no float window in RAM."""
    model, calibration = window_classifier()
    text = sketch_of_both_packages(model, tmp_path, "motion", calibration[0])
    for call in ("static motion_stream_t stream;", "motion_stream_init(&stream)", "motion_quantize_frame(x, raw)",
                 "motion_push(&stream, raw)", "motion_predict_latest(&stream)", "PROGMEM"):
        assert call in text
    assert not re.search(r"\bString\b", text) and "*/ ??" not in text and "??=" not in text
    assert re.findall(r"float (\w+)\[motion_N_FEATURES\]", text) == ["exampleWindow"]  # in flash, not RAM
    frames = re.findall(r"^    (.*?),? /\* frame (\d+) \*/$", text, re.M)
    assert [int(t) for _, t in frames] == list(range(32))
    values = [np.float32(v.strip().rstrip("f")) for line, _ in frames for v in line.split(", ")]
    assert values == list(calibration[0].astype(np.float32))
    assert "the first window of the calibration data" in text


def test_arduino_window_sketch_on_uno_matches_simulator(tmp_path):
    """A window program's example sketch on the real Arduino AVR core in simavr: it classifies its built-in
    window, then takes the frames of three recordings as CSV lines (two malformed lines among them) and prints
    the class of every window; each equals the simulator's on the windows cut from the frames it got (hop 16)."""
    from tinygen.targets.avr import run_elf
    from tinygen.windows import cut_windows

    model, calibration = window_classifier()
    program = model.program
    elf, sizes = build_sketch(model, "motion", tmp_path, calibration[0], build_example=True)
    frames = grid_safe_rows(program, raw_frames(["train11", "train21", "train31"]))  # per channel's grid
    lines = [csv_line(frame) for frame in frames]
    lines[150:150] = ["1,2,three", "1,2"]  # left out; the stream goes on
    # Frames need no pause (a window's prediction is far shorter than 64 bytes at 9600 baud); setup's lines do.
    text = "\n" * 400 + "".join(line + "\r\n" for line in lines)
    uart, _ = run_elf(elf, cycle_limit=int((len(text) / 900 + 2) * 16e6), uart_input=text.encode("ascii"))
    comments, results = window_results(uart.decode("utf-8"))
    assert comments[0] == "# motion: the example window (the first window of the calibration data)"
    assert comments[-1] == ("# send 3 comma-separated numbers per line, one frame per line, channels in this "
                            "order: " + ", ".join(CHANNELS))  # the names arrive as the original text
    windows = cut_windows(frames, None, np.zeros(len(frames)), 32, 16).X.astype(np.float32)
    expected = [calibration[:1].astype(np.float32), windows]
    classes = [int(k) for k in program.decide(program.scores(np.concatenate(expected)))]
    assert len(windows) == (300 - 32) // 16 + 1
    before = (150 - 32) // 16 + 1  # the windows complete before the bad lines (window=0 is the built-in one)
    assert results[1 + before:3 + before] == ["error", "error"]
    del results[1 + before:3 + before]
    assert results == [(k, cls, str(program.labels[cls])) for k, cls in enumerate(classes)]
    assert len(set(classes)) >= 3
    print(f"\nUno window sketch (32 x 3, mean/std/rms, logreg q15): flash {sizes['flash']} B, RAM {sizes['ram']} B")


# ---- ESP-IDF component -------------------------------------------------------------------------------------------
def esp_idf_component(model, name: str, tmp_path: Path, example) -> Path:
    paths = formats.export(model, tmp_path, name, "esp-idf", example=example)
    component = paths["package"]
    assert component == tmp_path / f"{name}_esp_idf"
    app = component / "examples" / f"{name}_example"
    assert sorted(tree_bytes(component)) == sorted(["CMakeLists.txt", "idf_component.yml", f"include/{name}.h",
                                                    f"examples/{name}_example/CMakeLists.txt",
                                                    f"examples/{name}_example/main/CMakeLists.txt",
                                                    f"examples/{name}_example/main/main.c"])
    assert (component / "include" / f"{name}.h").read_bytes() == paths["header"].read_bytes()
    cmake = (component / "CMakeLists.txt").read_text()
    assert re.search(r'^idf_component_register\(INCLUDE_DIRS "include"\)$', cmake, re.M)
    meta = yaml.safe_load((component / "idf_component.yml").read_text())
    assert re.fullmatch(r"\d+\.\d+\.\d+", meta["version"]) and meta["description"]
    project = (app / "CMakeLists.txt").read_text()
    assert 'set(EXTRA_COMPONENT_DIRS "${CMAKE_CURRENT_LIST_DIR}/../..")' in project
    assert "include($ENV{IDF_PATH}/tools/cmake/project.cmake)" in project and f"project({name}_example)" in project
    assert project.index("EXTRA_COMPONENT_DIRS") < project.index("project.cmake")
    assert f"REQUIRES {name}_esp_idf" in (app / "main" / "CMakeLists.txt").read_text()
    main_c = (app / "main" / "main.c").read_text()
    assert "void app_main(void)" in main_c
    assert set(re.findall(r"#include\s*([<\"][^>\"]+[>\"])", main_c)) == {"<stdio.h>", f'"{name}.h"'}
    return app / "main" / "main.c"


@functools.lru_cache(maxsize=None)
def diabetes_forest(dtype: str):
    from sklearn.ensemble import RandomForestRegressor

    _, _, X_train, _, y_train, _ = split("diabetes")
    return convert(RandomForestRegressor(n_estimators=10, max_depth=6, random_state=0).fit(X_train, y_train), dtype=dtype)


@pytest.mark.parametrize("case", ["classifier-q15", "regressor-float32", "forest-exact", "forest-float32"])
def test_esp_idf_example_compiles_for_xtensa_and_runs_on_rv32_and_host(tmp_path, case):
    model, name, dataset = {"classifier-q15": (wine_classifier("q15"), "wine", "wine"),
                            "regressor-float32": (diabetes_regressor("float32"), "diabetes", "diabetes"),
                            "forest-exact": (diabetes_forest("exact"), "forest", "diabetes"),
                            "forest-float32": (diabetes_forest("float32"), "forest", "diabetes")}[case]
    example = first_row(dataset)
    main_c = esp_idf_component(model, name, tmp_path, example)
    include = f"-I{tmp_path / f'{name}_esp_idf' / 'include'}"
    strict = ["-Wall", "-Wextra", "-Werror"]
    subprocess.run([need_tool("xtensa-lx106-elf-gcc"), "-Os", "-mlongcalls", "-mtext-section-literals", *strict,
                    include, "-c", str(main_c), "-o", str(tmp_path / "main.xtensa.o")], check=True)
    rv32 = [need_tool("riscv64-unknown-elf-gcc"), "-march=rv32imc", "-mabi=ilp32", "--specs=picolibc.specs", "-Os",
            *strict, include]
    subprocess.run([*rv32, "-c", str(main_c), "-o", str(tmp_path / "main.rv32.o")], check=True)
    # The same main.c run, with a main() that calls app_main() as ESP-IDF's startup does: on rv32imc (the
    # ESP32-C3's instruction set) under QEMU, printf through picolibc's semihosting, and on this machine.
    entry = tmp_path / "entry.c"
    entry.write_text("void app_main(void);\nint main(void)\n{\n    app_main();\n    return 0;\n}\n")
    memory = {"__flash": 0x80000000, "__flash_size": 0x100000, "__ram": 0x80100000, "__ram_size": 0x100000}
    elf = tmp_path / "app.rv32.elf"
    subprocess.run([*rv32, "--oslib=semihost", "--crt0=semihost", *(f"-Wl,--defsym={k}={v:#x}" for k, v in memory.items()),
                    str(main_c), str(entry), "-o", str(elf)], check=True)
    done = subprocess.run([need_tool("qemu-system-riscv32"), "-M", "virt", "-cpu", "rv32,a=false,f=false,d=false",
                           "-bios", "none", "-nographic", "-monitor", "none", "-serial", "none",
                           "-semihosting-config", "enable=on,target=native", "-kernel", str(elf)],
                          capture_output=True, timeout=60, check=True)
    [result] = parse_results((done.stdout + done.stderr).decode("utf-8"))
    check_result(model, example, result, exact_value=True)
    exe = tmp_path / "app"
    subprocess.run([need_tool("gcc"), "-std=c99", "-O2", "-ffp-contract=off", "-Wpedantic", *strict, include,
                    str(main_c), str(entry), "-o", str(exe)], check=True)
    out = subprocess.run([str(exe)], capture_output=True, check=True).stdout.decode("utf-8")
    [result] = parse_results(out)
    check_result(model, example, result, exact_value=True)


# ---- PlatformIO library --------------------------------------------------------------------------------------------
def test_platformio_library_layout(tmp_path):
    model = wine_classifier()
    paths = formats.export(model, tmp_path, "wine", "platformio", example=first_row("wine"))
    library = paths["package"]
    assert library == tmp_path / "wine_platformio"
    meta = json.loads((library / "library.json").read_text(encoding="ascii"))
    for key in ("name", "version", "description", "keywords", "frameworks", "platforms", "headers"):
        assert meta[key], key
    assert meta["name"] == "wine" and re.fullmatch(r"\d+\.\d+\.\d+", meta["version"])
    assert meta["frameworks"] == "*" and meta["platforms"] == "*"
    headers = [meta["headers"]] if isinstance(meta["headers"], str) else meta["headers"]
    assert headers == ["wine.h"]
    for header in headers:
        assert (library / "src" / header).read_bytes() == paths["header"].read_bytes()
    assert (library / "extras" / "wine.json").read_bytes() == paths["manifest"].read_bytes()
    arduino = formats.export(model, tmp_path / "ard", "wine", "arduino", example=first_row("wine"))
    with zipfile.ZipFile(arduino["package"]) as archive:
        assert (library / "examples" / "wine" / "wine.ino").read_bytes() == archive.read("wine/examples/wine/wine.ino")
    assert sorted(tree_bytes(library)) == ["examples/wine/wine.ino", "extras/wine.json", "library.json", "src/wine.h"]


# ---- CLI -------------------------------------------------------------------------------------------------------------
def cli(*args, code: int = 0):
    result = CliRunner().invoke(main, [str(a) for a in args])
    assert result.exit_code == code, f"{args}: exit {result.exit_code}\n{result.output}\n{result.exception!r}"
    assert "Traceback" not in result.output
    return result


def test_cli_export_formats(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    cli("dataset", "breast_cancer", "-o", "data.csv")
    cli("train", "data.csv", "--label", "target", "--model", "logreg", "-o", "m.skops")
    args = ["export", "m.skops", "--format", "arduino", "--dtype", "q15", "--calibration", "data.csv", "--label",
            "target", "--name", "activity"]
    result = cli(*args, "-o", "out/")
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["activity.h", "activity.json", "activity.zip"]
    assert "activity.zip" in result.stdout
    cli(*args, "-o", "out2/")
    for name in ("activity.h", "activity.json", "activity.zip"):
        assert (tmp_path / "out" / name).read_bytes() == (tmp_path / "out2" / name).read_bytes()
    check_arduino_zip(tmp_path / "out" / "activity.zip", "activity", (tmp_path / "out" / "activity.json").read_bytes(),
                      (tmp_path / "out" / "activity.h").read_bytes())
    with zipfile.ZipFile(tmp_path / "out" / "activity.zip") as archive:  # the first calibration row, in flash
        sketch = archive.read("activity/examples/activity/activity.ino").decode()
    header_row, first = ((tmp_path / "data.csv").read_text().splitlines()[i].split(",") for i in (0, 1))
    expected = [np.float32(v) for column, v in zip(header_row, first) if column != "target"]
    assert example_row_of(sketch) == expected and "the first row of the calibration data" in sketch
    for fmt, package in (("esp-idf", "activity_esp_idf"), ("platformio", "activity_platformio")):
        cli("export", "m.skops", "--format", fmt, "--calibration", "data.csv", "--label", "target", "--name",
            "activity", "-o", "out3/")
        assert (tmp_path / "out3" / package).is_dir()
    # A name the package cannot use is refused before anything is written.
    for fmt, bad in (("arduino", "stdint"), ("arduino", "9lives"), ("header", "stdint"), ("header", "string")):
        result = cli("export", "m.skops", "--format", fmt, "--calibration", "data.csv", "--label", "target",
                     "--name", bad, "-o", "bad/", code=2)
        assert result.stderr.startswith("error: ") and bad in result.stderr and result.stderr.count("\n") == 1
    assert not (tmp_path / "bad").exists()


@pytest.mark.parametrize("fmt", formats.FORMATS)
def test_BUG_standard_header_names_are_refused_for_every_format(tmp_path, fmt):
    """Outside case (issue 13): "`--name stdint` (or any C standard header name) shadows the system header for
    the plain header format (refuse it as `--format arduino` does)": with -I OUTDIR, the model's own
    #include <stdint.h> found OUTDIR/stdint.h. Every format refuses it in one line, writing nothing."""
    model = wine_classifier()
    for name in ("stdint", "stddef", "stdio", "string", "math", "limits", "Stdlib", "time"):
        message = error_of(formats.export, model, tmp_path / "out", name, fmt)
        assert message == (f"name {name!r} would make the model's header {name}.h clash with the system or Arduino "
                           f"header <{name}.h> on the include path; try --name {name}_model")
    # assert is a keyword of Python (whose identifiers tinygen names avoid too): refused, with a name that works
    assert error_of(formats.export, model, tmp_path / "out", "assert", fmt).endswith("try --name assert_model")
    assert not (tmp_path / "out").exists()



def readme_recipe(name: str) -> list[str]:
    """The shell lines of README's block marked `<!-- recipe: NAME -->` (continuation lines joined)."""
    text = (Path(__file__).resolve().parent.parent / "README.md").read_text()
    block = text.split(f"<!-- recipe: {name} -->\n```sh\n", 1)[1].split("```", 1)[0]
    return block.replace("\\\n", "").strip().splitlines()


@pytest.mark.slow
def test_readmes_arduino_mk_recipe_builds_the_exported_sketch(tmp_path):
    """README's arduino-mk lines, run as written (HOME in tmp_path; `make upload` needs a board), build the example
    of `export --format arduino` into a hex for the Uno."""
    need_arduino_mk()
    need_tool("unzip")
    formats.export(wine_classifier(), tmp_path / "out", "activity", "arduino")
    lines = [line for line in readme_recipe("arduino-mk") if "upload" not in line]
    assert lines[-1].startswith("make") and len(lines) == 4
    script = "set -e\n" + "\n".join(lines) + "\n"
    done = subprocess.run(["bash", "-c", script], cwd=tmp_path, capture_output=True, text=True, timeout=600,
                          env={**os.environ, "HOME": str(tmp_path)})
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    built = tmp_path / "sketchbook" / "libraries" / "activity" / "examples" / "activity" / "build-uno"
    assert (built / "activity_.hex").is_file(), list(built.iterdir())  # the name the README's comment gives
