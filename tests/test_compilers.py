"""Compiler matrix (issue 8): every kind of generated header, built with gcc and clang as C99, C11, C++11 and
C++17 under STRICT warnings at -O0, -Os and -O3, gives the same bytes at every level and equals the simulator
on every row (edge rows included); avr-gcc (16-bit int) builds the AVR run firmware of every header under the
same warnings; cppcheck finds nothing in any header; the package formats' example programs build the same way.

Cost: one program per (compiler, standard, level) holds the host runner (firmware/host/runner.c) of every
model, so the 24 host builds are 24 compiler runs; every job of the module (host builds, AVR builds,
cppcheck, package examples) starts in one thread pool when the module's fixture is first used.
"""
from __future__ import annotations

import os
import re
import shutil
import subprocess
import warnings
import zipfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest
from sklearn.datasets import load_breast_cancer, load_diabetes, load_iris, load_wine
from sklearn.ensemble import (ExtraTreesRegressor, GradientBoostingClassifier, GradientBoostingRegressor,
                              HistGradientBoostingClassifier, IsolationForest, RandomForestClassifier)
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression, Ridge, SGDClassifier, SGDRegressor
from sklearn.naive_bayes import GaussianNB
from sklearn.neural_network import MLPClassifier, MLPRegressor
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.tree import DecisionTreeClassifier, DecisionTreeRegressor

import tinygen
from tinygen import formats
from tinygen.features import WindowFeatures
from tinygen.targets import avr, host
from tinygen.targets.toolchain import package_root
from tinygen.verify import compare_measured

from c_usage import plain_static_unit, unused
from conftest import edge_rows, need_tool
from test_formats import check_result, parse_results

STRICT = ["-Wall", "-Wextra", "-Wpedantic", "-Wconversion", "-Wshadow", "-Wcast-align", "-Werror"]
COMPILERS = {"gcc": ("gcc", "g++"), "clang": ("clang", "clang++")}  # (C, C++) drivers
# gcc's plain -Wcast-align only speaks on targets that trap on misaligned loads (not x86, not AVR); =strict
# makes the host gcc warn as clang's -Wcast-align does everywhere. avr-gcc 5 has no =strict.
WARNINGS = {"gcc": [*STRICT, "-Wcast-align=strict"], "clang": STRICT}
STANDARDS = ("c99", "c11", "c++11", "c++17")
LEVELS = ("-O0", "-Os", "-O3")
CONFIGS = [f"{compiler}-{standard}" for compiler in COMPILERS for standard in STANDARDS]
# cppcheck: any finding of these classes fails, in every preprocessor configuration cppcheck finds (AVR's
# PROGMEM branch and C++'s extern "C" included). No --inline-suppr: a comment in a header cannot hide a
# finding. The one suppression, C++ mode's cstyleCast, is a C++ idiom: the header is C (which has no
# static_cast) compiled as C++ too, and C mode checks the same casts.
CPPCHECK = ["--enable=warning,style,performance,portability", "--error-exitcode=1", "--quiet",
            "--template={file}:{line}: {severity}: {message} [{id}]"]
CPPCHECK_MODES = {"c": ["--language=c", "--std=c99"], "c++": ["--language=c++", "--std=c++11", "--suppress=cstyleCast"]}
AVR_FLAGS = [flag for flag in avr.CFLAGS if not flag.startswith("-W")] + STRICT  # compile only: no -Wl,
pytestmark = pytest.mark.filterwarnings("ignore:overflow encountered:RuntimeWarning",  # the simulator on edge rows
                                        "ignore:invalid value encountered:RuntimeWarning")
PACKAGE_CASES = ("logreg_q15", "ridge_float32", "rf_exact_table", "mlp_relu_int8")  # class/value, int/float scores


def _fit(estimator, X, y=None):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)  # short MLP fits: the C, not the fit, is under test
        return estimator.fit(X) if y is None else estimator.fit(X, y)


def _scaled(model):
    return make_pipeline(StandardScaler(), model)


def _models() -> dict:
    """name -> (converted model, rows its C runs): every header kind, each small enough for cppcheck."""
    wine, cancer, diabetes, iris = (f(return_X_y=True) for f in (load_wine, load_breast_cancer, load_diabetes, load_iris))
    X_nan = cancer[0].copy()
    X_nan[np.random.default_rng(0).random(X_nan.shape) < 0.1] = np.nan  # HistGradientBoosting learns NaN sides
    models = {}

    def add(name, estimator, data, X_fit=None, **options):
        X = data[0] if X_fit is None else X_fit
        calibration = data[0] if options.get("dtype") not in (None, "exact", "float32") else None
        model = tinygen.convert(estimator, calibration=calibration, **options)
        rows = np.vstack([X[:: max(1, len(X) // 40)], edge_rows(X.shape[1])])
        models[name] = (model, rows)

    logreg = _fit(_scaled(LogisticRegression(max_iter=5000)), *wine)
    binary = _fit(_scaled(LogisticRegression(max_iter=5000)), *cancer)
    ridge = _fit(_scaled(Ridge()), *diabetes)
    for dtype in ("float32", "q31", "q15", "q7", "int8"):
        add(f"logreg_{dtype}", logreg, wine, dtype=dtype)  # multiclass: argmax
        add(f"ridge_{dtype}", ridge, diabetes, dtype=dtype)  # regressor: value
    for dtype in ("q15", "int8"):
        add(f"binary_{dtype}", binary, cancer, dtype=dtype)  # one score: class 1 when positive
    forest = _fit(RandomForestClassifier(n_estimators=10, max_depth=6, random_state=0), *wine)
    for layout in ("inline", "table"):
        add(f"rf_exact_{layout}", forest, wine, dtype="exact", layout=layout, bins=False)  # raw float32 bits
        add(f"rf_bins_{layout}", forest, wine, dtype="exact", layout=layout, bins=True)  # uint8 bins
    add("rf_float32", forest, wine, dtype="float32")
    add("rf_q15_table", forest, wine, dtype="q15", layout="table")
    add("rf_q7_inline", forest, wine, dtype="q7", layout="inline")
    keys = _fit(ExtraTreesRegressor(n_estimators=6, max_depth=8, random_state=0), *diabetes)
    add("et_keys_inline", keys, diabetes, dtype="exact", layout="inline", bins=False)  # > 512 splits: order keys
    add("binary_rf_inline", _fit(DecisionTreeClassifier(max_depth=5, random_state=0), *cancer), cancer,
        dtype="exact", layout="inline", bins=False)  # each tree returns its uint16 leaf
    gbc = _fit(GradientBoostingClassifier(n_estimators=10, max_depth=3, random_state=0), *wine)
    add("gbc_q7_inline", gbc, wine, dtype="q7", layout="inline")  # thresholds that floor together
    gbr = _fit(GradientBoostingRegressor(n_estimators=20, max_depth=3, random_state=0), *diabetes)
    add("gbr_exact_table", gbr, diabetes, dtype="exact", layout="table")
    add("gbr_q15_inline", gbr, diabetes, dtype="q15", layout="inline")
    hgb = _fit(HistGradientBoostingClassifier(max_iter=10, random_state=0), X_nan, cancer[1])
    for layout in ("inline", "table"):
        add(f"hgb_nan_bins_{layout}", hgb, cancer, X_nan, dtype="exact", layout=layout, bins=True)
    add("hgb_nan_inline", hgb, cancer, X_nan, dtype="exact", layout="inline", bins=False)
    add("hgb_nan_float32", hgb, cancer, X_nan, dtype="float32")
    x_one = np.random.default_rng(0).normal(size=(1000, 1))
    one_feature = (x_one, np.sin(3 * x_one[:, 0]))
    wide = _fit(DecisionTreeRegressor(max_leaf_nodes=300, random_state=0), *one_feature)
    add("uint16_bins_table", wide, one_feature, dtype="exact", layout="table", bins=True)  # > 253 thresholds
    add("constant_tree", _fit(DecisionTreeRegressor(), diabetes[0], np.ones(len(diabetes[0]))), diabetes)
    gnb = _fit(GaussianNB(), *iris)
    for dtype in ("float32", "q15", "q7"):
        add(f"gnb_{dtype}", gnb, iris, dtype=dtype)
    # a feature constant within every class: near-zero variances, the lifted (negative-shift) terms and the cap
    iris_flag = (np.column_stack([iris[0], (iris[1] == 0).astype(float)]), iris[1])
    add("gnb_lifted_q7", _fit(GaussianNB(), *iris_flag), iris_flag, dtype="q7")
    for activation in ("relu", "tanh", "logistic"):
        mlp = _fit(_scaled(MLPClassifier((9, 5), activation=activation, max_iter=300, random_state=0)), *wine)
        for dtype in ("float32", "q15", "q7", "int8"):
            add(f"mlp_{activation}_{dtype}", mlp, wine, dtype=dtype)
    mlp_regressor = _fit(_scaled(MLPRegressor(hidden_layer_sizes=(8,), max_iter=300, random_state=0)), *diabetes)
    for dtype in ("float32", "q15", "int8"):
        add(f"mlp_regressor_{dtype}", mlp_regressor, diabetes, dtype=dtype)
    iso = _fit(IsolationForest(n_estimators=10, max_samples=64, random_state=0), cancer[0])
    for dtype in ("exact", "float32", "q15"):
        add(f"iso_{dtype}", iso, cancer, dtype=dtype)
    _add_windows(add)
    _add_trainable(add, cancer, wine, diabetes)
    return models


def _add_trainable(add, cancer, wine, diabetes) -> None:
    """Trainable exports (issue 17): binary log_loss (the sigmoid shared with predict_proba), multiclass hinge with a
    decaying rate and L2, a regressor, and MLP heads."""
    binary = _fit(_scaled(LogisticRegression(max_iter=5000)), *cancer)
    add("trainable_log_q15", binary, cancer, dtype="q15", trainable=True)
    hinge = _fit(_scaled(SGDClassifier(alpha=0.01, random_state=0)), *wine)
    add("trainable_wine_invscaling_l2", hinge, wine, dtype="q15", trainable=True, learning_rate="invscaling:0.1", l2=2.0 ** -8)
    add("trainable_reg", _fit(_scaled(SGDRegressor(alpha=0.01, random_state=0)), *diabetes), diabetes, dtype="q15",
        trainable=True, learning_rate="constant:2^-10")
    # MLP heads: a softmax head behind two frozen relu layers (two stack buffers), a regressor behind identity ones
    softmax = _fit(_scaled(MLPClassifier((9, 5), max_iter=300, random_state=0)), *wine)
    add("trainable_mlp_softmax", softmax, wine, dtype="q15", trainable=True, learning_rate="invscaling:0.5", l2=2.0 ** -8)
    identity = _fit(_scaled(MLPRegressor(hidden_layer_sizes=(6,), activation="identity", max_iter=300, random_state=0)),
                    *diabetes)
    add("trainable_mlp_reg", identity, diabetes, dtype="q15", trainable=True, learning_rate="constant:2^-10")


def _add_windows(add) -> None:
    """Window programs (issue 16): every feature op, a stream, with calibrated and with declared raw formats."""
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 3, 120)
    t = np.arange(32)[None, :, None]
    windows = (np.sin(t * (labels[:, None, None] + 1) * 0.4) + 0.3 * rng.normal(size=(120, 32, 2))).reshape(120, -1)
    features = WindowFeatures(32, ["ax", "ay"], "mean,var,std,rms,min,max,ptp,crossings,mad,fft4,fft4log,bp:0.5-3",
                              sample_rate=10.0, hop=8)
    add("window_logreg_q15", _fit(make_pipeline(features, StandardScaler(), LogisticRegression(max_iter=3000)),
                                   windows, labels), (windows, labels), dtype="q15")
    add("window_rf_q7", _fit(make_pipeline(features, RandomForestClassifier(5, max_depth=4, random_state=0)),
                             windows, labels), (windows, labels), dtype="q7")


# ---- the jobs --------------------------------------------------------------------------------------------
def run(cmd, cwd=None, timeout=600):
    return subprocess.run([str(c) for c in cmd], cwd=cwd, capture_output=True, text=True, timeout=timeout)


def host_build(directory: Path, source: Path, config: str, level: str) -> dict:
    compiler, standard = config.split("-")
    driver = COMPILERS[compiler][standard.startswith("c++")]
    language = ["-x", "c++"] if standard.startswith("c++") else []
    exe = directory / f"matrix_{config}{level}"
    done = run([driver, *language, f"-std={standard}", level, "-ffp-contract=off", *WARNINGS[compiler], "-I", directory,
                source, "-o", exe])
    return {"exe": exe, "returncode": done.returncode, "messages": done.stdout + done.stderr}


def avr_build(directory: Path, name: str, program) -> dict:
    """The AVR run firmware's two units (firmware/avr main.c and model.c: every API call) compiled under
    STRICT; not linked, since a model may not fit the Uno's flash (a size question, not a warning)."""
    firmware = package_root("firmware") / "avr"
    defines = ["-DTG_RUN", *(["-DTG_FIXED"] if program.is_fixed else []), *(["-DTG_PROBA"] if program.proba else [])]
    messages, returncode = "", 0
    for unit in ("main", "model"):
        done = run([shutil.which("avr-gcc"), *AVR_FLAGS, f"-DTG_NAME={name}", f'-DTG_HEADER="{directory / name}.h"',
                    *defines, "-c", firmware / f"{unit}.c", "-o", directory / f"{name}_{unit}.avr.o"])
        messages, returncode = messages + done.stdout + done.stderr, returncode or done.returncode
    return {"returncode": returncode, "messages": messages}


def cppcheck(header: Path, mode: str) -> dict:
    done = run([shutil.which("cppcheck"), *CPPCHECK, *CPPCHECK_MODES[mode], header])
    return {"returncode": done.returncode, "messages": done.stdout + done.stderr}


# What of Arduino.h the example sketch uses, for a host C++ compiler: the sketch then builds under STRICT.
ARDUINO_STUB = """#include <stdint.h>
#include <stdlib.h>
class __FlashStringHelper;
#define F(text) (reinterpret_cast<const __FlashStringHelper *>(text))
struct HostSerial {
    void begin(unsigned long) {}
    int available() { return 0; }
    int read() { return -1; }
    void print(const __FlashStringHelper *) {}
    void print(const char *) {}
    void print(char) {}
    void print(long) {}
    void print(unsigned long) {}
    void print(double, int) {}
    void println(const __FlashStringHelper *) {}
    void println(const char *) {}
    void println(double, int) {}
    void println() {}
};
static HostSerial Serial;
"""
# ESP-IDF calls app_main from its startup; on the host a main does.
ESP_IDF_ENTRY = "void app_main(void);\nint main(void)\n{\n    app_main();\n    return 0;\n}\n"


def package_examples(directory: Path, name: str, model, rows) -> dict:
    """The arduino zip (its sketch == the platformio library's) and the esp-idf component of one model,
    unpacked, with the host stand-ins their examples need."""
    example = rows[0]
    arduino = formats.export(model, directory / "arduino", name, "arduino", example=example)
    with zipfile.ZipFile(arduino["package"]) as archive:
        archive.extractall(directory / "arduino")
    library = directory / "arduino" / name
    platformio = formats.export(model, directory / "platformio", name, "platformio", example=example)["package"]
    sketch = library / "examples" / name / f"{name}.ino"
    assert sketch.read_bytes() == (platformio / "examples" / name / f"{name}.ino").read_bytes()
    stub = directory / "arduino_stub"
    stub.mkdir(parents=True, exist_ok=True)
    (stub / "Arduino.h").write_text(ARDUINO_STUB)
    (stub / f"{name}_sketch.cpp").write_text(f'#include <Arduino.h>\n#include "{sketch}"\n')
    component = formats.export(model, directory / "esp-idf", name, "esp-idf", example=example)["package"]
    entry = directory / "esp_idf_entry.c"
    entry.write_text(ESP_IDF_ENTRY)
    return {"name": name, "model": model, "example": example, "dir": directory, "sketch_unit": stub / f"{name}_sketch.cpp",
            "arduino_include": [stub, library / "src"], "main_c": component / "examples" / f"{name}_example" / "main" / "main.c",
            "esp_idf_include": component / "include", "entry": entry}


def esp_idf_build(example: dict, compiler: str, standard: str, level: str) -> dict:
    """The ESP-IDF example app built for the host under STRICT and run: its one printed line."""
    exe = example["dir"] / f"{example['name']}_{compiler}_{standard}{level}"
    done = run([COMPILERS[compiler][0], f"-std={standard}", level, "-ffp-contract=off", *WARNINGS[compiler],
                "-I", example["esp_idf_include"],
                example["main_c"], example["entry"], "-o", exe])
    result = {"returncode": done.returncode, "messages": done.stdout + done.stderr, "output": None}
    if done.returncode == 0:
        ran = run([exe])
        result["output"] = ran.stdout if ran.returncode == 0 else f"exit {ran.returncode}: {ran.stderr}"
    return result


def sketch_build(example: dict, compiler: str, standard: str, level: str) -> dict:
    """The Arduino (and PlatformIO) example sketch compiled as C++ under STRICT against ARDUINO_STUB."""
    obj = example["dir"] / f"{example['name']}_sketch_{compiler}_{standard}{level}.o"
    includes = [arg for path in example["arduino_include"] for arg in ("-I", path)]
    done = run([COMPILERS[compiler][1], f"-std={standard}", level, *WARNINGS[compiler], *includes, "-c",
                example["sketch_unit"], "-o", obj])
    return {"returncode": done.returncode, "messages": done.stdout + done.stderr}


@pytest.fixture(scope="module")
def matrix(tmp_path_factory):
    """Headers, rows and the simulator's answers of every model; every compile job already submitted."""
    directory = tmp_path_factory.mktemp("matrix")
    models = _models()
    for name, (model, rows) in models.items():
        model.save(directory, name)
        np.ascontiguousarray(rows, dtype=np.float32).tofile(directory / f"{name}.f32")
    source = host.multi_runner_source({name: model.program for name, (model, _) in models.items()}, directory)
    pool = ThreadPoolExecutor(max_workers=os.cpu_count() or 2)
    jobs = {}
    compilable = [config for config in CONFIGS if all(shutil.which(d) for d in COMPILERS[config.split("-")[0]])]
    for config in compilable:
        for level in LEVELS:
            jobs["host", config, level] = pool.submit(host_build, directory, source, config, level)
    if shutil.which("avr-gcc"):
        for name, (model, _) in models.items():
            jobs["avr", name] = pool.submit(avr_build, directory, name, model.program)
    packages = {name: package_examples(directory / "packages", name, *models[name]) for name in PACKAGE_CASES}
    for name, example in packages.items():
        for config in compilable:
            compiler, standard = config.split("-")
            for level in LEVELS:
                build = sketch_build if standard.startswith("c++") else esp_idf_build
                jobs["package", name, config, level] = pool.submit(build, example, compiler, standard, level)
    if shutil.which("cppcheck"):
        for name in models:
            for mode in CPPCHECK_MODES:
                jobs["cppcheck", name, mode] = pool.submit(cppcheck, directory / f"{name}.h", mode)
    yield {"dir": directory, "models": models, "jobs": jobs, "packages": packages, "verified": {}}
    pool.shutdown(wait=True, cancel_futures=True)


def need_compilers(config: str) -> None:
    for driver in COMPILERS[config.split("-")[0]]:
        need_tool(driver)


def finished(matrix: dict, kind: str, *key) -> list[tuple[tuple, dict]]:
    """(key, result) of every job of this kind whose key starts with `key`, waiting for each."""
    return [(k, future.result()) for k, future in matrix["jobs"].items() if k[0] == kind and k[1:1 + len(key)] == key]


def complaints(results: list[tuple[tuple, dict]]) -> str:
    """The first lines of what every failed or talkative job said (a clean build or check says nothing)."""
    bad = [f"{' '.join(key)}:\n" + "\n".join(result["messages"].splitlines()[:30])
           for key, result in results if result["returncode"] != 0 or result["messages"].strip()]
    return "\n".join(bad[:8])


# ---- tests ---------------------------------------------------------------------------------------------
def test_every_kind_is_covered(matrix):
    """The matrix holds each op, every tree input kind and layout, and each decision rule."""
    programs = [model.program for model, _ in matrix["models"].values()]
    ops = {op.op for program in programs for op in program.ops}
    assert ops >= {"dense", "quantize_input", "quantize_affine", "fully_connected", "activation", "int8_activation",
                   "gaussian_jll", "order_keys", "threshold_bins", "tree_ensemble"}, ops
    trees = [p.ops[-1] for p in programs if p.ops[-1].op == "tree_ensemble"]
    kinds = {(kind, layout) for kind in ("bits", "bins", "fixed") for layout in ("inline", "table")}
    assert {(t.in_kind, t.layout) for t in trees} >= kinds | {("keys", "inline"), ("float", "inline")}
    assert {t.in_type for t in trees if t.in_kind == "bins"} == {"uint8", "uint16"}
    assert {p.dtype for p in programs} == {"float32", "q31", "q15", "q7", "int8", "exact"}
    assert {p.decision for p in programs} >= {"argmax", "positive", "nonnegative", "value"}
    assert any(p.proba is not None for p in programs) and any(p.anomaly_score_op is not None for p in programs)


@pytest.mark.parametrize("config", CONFIGS)
def test_host_builds_strict_and_equal_at_every_level(matrix, config):
    need_compilers(config)
    directory, models = matrix["dir"], matrix["models"]
    builds = finished(matrix, "host", config)
    assert len(builds) == len(LEVELS) and not complaints(builds), complaints(builds)
    for name, (model, rows) in models.items():
        outputs = {}
        for (_, _, level), result in builds:
            out = directory / f"{name}_{config}{level}.bin"
            done = run([result["exe"], name, directory / f"{name}.f32", out])
            assert done.returncode == 0, f"{name} {config} {level}: exit {done.returncode} {done.stderr[-500:]}"
            outputs[level] = out.read_bytes()
        assert outputs["-Os"] == outputs["-O0"] and outputs["-O3"] == outputs["-O0"], f"{name}: {config} differs by level"
        if matrix["verified"].get(name) != outputs["-O0"]:  # bytes another build already proved need no second look
            records = np.frombuffer(outputs["-O0"], dtype=host.record_dtype(model.program))
            assert len(records) == len(rows)
            report = compare_measured(model.program, host.measurement(model.program, records), rows)
            assert report["mismatches"] == 0, (name, config, report)
            matrix["verified"][name] = outputs["-O0"]


def test_avr_gcc_strict_with_16_bit_int(matrix):
    need_tool("avr-gcc")
    builds = finished(matrix, "avr")
    assert len(builds) == len(matrix["models"]) and not complaints(builds), complaints(builds)


def test_cppcheck_reports_nothing(matrix):
    need_tool("cppcheck")
    checks = finished(matrix, "cppcheck")
    assert len(checks) == len(CPPCHECK_MODES) * len(matrix["models"]) and not complaints(checks), complaints(checks)


@pytest.mark.parametrize("name", PACKAGE_CASES)
def test_package_examples_build_strict_and_print_the_simulators_answer(matrix, name):
    """The ESP-IDF app: C99/C11, both compilers, every level, the same line from every build, and it is the
    simulator's answer. The Arduino sketch (the PlatformIO example is the same file): C++11/C++17."""
    for config in CONFIGS:
        need_compilers(config)
    builds = finished(matrix, "package", name)
    assert len(builds) == len(CONFIGS) * len(LEVELS) and not complaints(builds), complaints(builds)
    lines = {result["output"] for _, result in builds if "output" in result}
    assert len(lines) == 1, lines
    [result] = parse_results(lines.pop())
    example = matrix["packages"][name]
    check_result(example["model"], example["example"], result, exact_value=True)


def test_window_sketches_build_strict(tmp_path):
    """The window programs' sketch (frames from Serial into the stream, a line per window; a classifier's class
    and a regressor's value, the latter with declared raw samples: affine quantize_frame) under STRICT: C++11/C++17,
    both compilers, every level."""
    from test_formats import window_classifier, window_regressor

    configs = [config for config in CONFIGS if config.endswith(("c++11", "c++17"))]
    for config in configs:
        need_compilers(config)
    with ThreadPoolExecutor(max_workers=os.cpu_count() or 2) as pool:
        jobs = {}
        for name, (model, calibration) in {"motion": window_classifier(), "level": window_regressor()}.items():
            example = package_examples(tmp_path / name, name, model, calibration[:1])
            for config in configs:
                for level in LEVELS:
                    jobs[name, config, level] = pool.submit(sketch_build, example, *config.split("-"), level)
        builds = [(key, job.result()) for key, job in jobs.items()]
    assert len(builds) == 2 * len(configs) * len(LEVELS) and not complaints(builds), complaints(builds)


def test_headers_include_only_stdint_and_pgmspace(matrix):
    """The contract: every header includes <stdint.h> and, on AVR, <avr/pgmspace.h>, nothing else; the window
    programs' SIMD32 kernels (ARMv7E-M) call the compilers' __builtin_arm_* instead of including <arm_acle.h>."""
    allowed = {"<stdint.h>", "<avr/pgmspace.h>"}
    texts = {name: (matrix["dir"] / f"{name}.h").read_text() for name in matrix["models"]}
    extra = {name: set(re.findall(r"^[ \t]*#[ \t]*include[ \t]*(<[^>]*>|\"[^\"]*\"|\S+)", text, re.M)) - allowed
             for name, text in texts.items()}
    assert not any(extra.values()), {name: sorted(found) for name, found in extra.items() if found}
    assert any(f"#define {name}_SIMD32 1" in text for name, text in texts.items())  # the block this is about


# ---- nothing unused ---------------------------------------------------------------------------------------
UNUSED_WARNINGS = ["-Wunused-function", "-Wunused-const-variable", "-Wunused-macros", "-Werror"]


def test_every_definition_is_reached_from_the_api(matrix):
    """Each header holds only what its API reaches: every static function, table and macro is named, through
    the code, by a function or macro of the API summary (`static inline` hides the others from gcc)."""
    found = {name: unused((matrix["dir"] / f"{name}.h").read_text(), name) for name in matrix["models"]}
    assert not any(found.values()), {name: symbols for name, symbols in found.items() if symbols}


def test_gcc_finds_nothing_unused_with_plain_static(matrix):
    """The same headers with `static inline` made `static`, each its own unit that uses the API: gcc's unused
    warnings (functions, constant tables, macros) find nothing."""
    need_tool("gcc")
    units = []
    for name in matrix["models"]:
        unit = matrix["dir"] / f"{name}_plain_static.c"
        unit.write_text(plain_static_unit((matrix["dir"] / f"{name}.h").read_text(), name))
        units.append(unit.name)
    done = run([shutil.which("gcc"), "-std=c99", "-c", *UNUSED_WARNINGS, *units], cwd=matrix["dir"])
    assert done.returncode == 0, done.stderr[-3000:]
