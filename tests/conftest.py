"""Shared fixtures. Tests that need a compiler or emulator ask for it through `tool`: missing tools skip
locally but fail when TINYGEN_REQUIRE_TOOLCHAINS=1 (set by .ci/run), so CI can never pass by skipping."""
from __future__ import annotations

import os
import shutil
import sys

import numpy as np
import pytest

from tinygen.errors import TinygenError
from tinygen.targets.toolchain import PACKAGES, package_root

# firmware/avr: its uart.h serves the tests' own small AVR firmwares
AVR_FIRMWARE = package_root("firmware") / "avr"

REQUIRE = os.environ.get("TINYGEN_REQUIRE_TOOLCHAINS") == "1"


def unavailable(message: str) -> None:
    """Something a test needs is not on this machine: skip locally, fail in CI (TINYGEN_REQUIRE_TOOLCHAINS=1)."""
    if REQUIRE:
        pytest.fail(message + " and TINYGEN_REQUIRE_TOOLCHAINS=1")
    pytest.skip(message)


def need_tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        unavailable(f"{name} is not installed (apt-get install {PACKAGES.get(name, name)})")
    return path


@pytest.fixture
def tool():
    return need_tool


def fit_named(bundle, kind, **options):
    """tinygen.train.fit with the data set's column names recorded, as `tinygen train` records them (every
    command then matches CSV columns to them by name)."""
    from tinygen import train

    model = train.fit(bundle, kind, seed=options.pop("seed", 0), **options)
    train.name_features(model, bundle.feature_names)
    return model


def iris_workspace(directory):
    """DIRECTORY/iris.csv (bundled iris, label column `target`) and DIRECTORY/m.skops, a logistic regression fitted
    on it as `tinygen train` fits one (names kept); returns the bundle."""
    from tinygen import data, modelio

    bundle = data.load_bundled("iris")
    data.write_csv(bundle, directory / "iris.csv")
    modelio.save_model(fit_named(bundle, "logreg"), directory / "m.skops")
    return bundle


def error_of(func, *args, **kwargs) -> str:
    """The message of the TinygenError that func raises, checked to be one line."""
    with pytest.raises(TinygenError) as info:
        func(*args, **kwargs)
    message = str(info.value)
    assert message and "\n" not in message and "\r" not in message, f"not a one-line message: {message!r}"
    return message


def tinygen_command() -> list[str]:
    """The installed console script, or the same entry point through this interpreter."""
    script = shutil.which("tinygen")
    return [script] if script else [sys.executable, "-c", "from tinygen.cli import main; main()"]


def edge_rows(n_features: int) -> np.ndarray:
    """NaN, +-inf, huge, tiny and zero features, alone and mixed with ordinary values."""
    values = [np.nan, np.inf, -np.inf, 3e38, -3e38, 1e6, -1e6, 1e-45, 0.0, -0.0]
    rng = np.random.default_rng(0)
    rows = [np.full(n_features, v) for v in values]
    for _ in range(6):
        row = rng.normal(size=n_features) * 5.0
        row[rng.integers(0, n_features, 3)] = rng.choice(values, 3)
        rows.append(row)
    return np.array(rows)


JUNIT_XSD = os.path.join(os.path.dirname(os.path.abspath(__file__)), "junit.xsd")


def check_junit(path) -> list[dict]:
    """Validate a JUnit XML file against tests/junit.xsd and its counts against its testcases; return the
    testcases as {name, classname, outcome ("passed", "failure" or "error"), message}."""
    import xml.etree.ElementTree as ET

    import xmlschema

    xmlschema.XMLSchema(JUNIT_XSD).validate(str(path))
    root = ET.parse(path).getroot()
    cases = []
    for suite in root.iter("testsuite"):
        suite_cases = suite.findall("testcase")
        outcomes = [next((child.tag for child in case if child.tag in ("failure", "error")), "passed")
                    for case in suite_cases]
        assert int(suite.get("tests")) == len(suite_cases)
        assert int(suite.get("failures")) == outcomes.count("failure")
        assert int(suite.get("errors")) == outcomes.count("error")
        for case, outcome in zip(suite_cases, outcomes):
            problem = case.find(outcome) if outcome != "passed" else None
            cases.append({"name": case.get("name"), "classname": case.get("classname"), "outcome": outcome,
                          "message": None if problem is None else problem.get("message")})
    assert int(root.get("tests")) == len(cases)
    return cases


def spread_over_targets(cases, targets) -> list:
    """pytest params of every (case..., target) pair of a sweep: in the default run each case runs on one target,
    rotating so that every target gets its share of the cases (and, for a sweep listed in rows of len(targets)
    cases, one case of each row); the other pairs are marked slow (`bash tests/run.sh -m slow` runs them)."""
    count = len(targets)
    default = {i: targets[(i + i // count) % count] for i in range(len(cases))}
    return [pytest.param(*case, target, id="-".join(map(str, (*case, target))),
                         marks=() if target == default[i] else pytest.mark.slow)
            for target in targets for i, case in enumerate(cases)]


def sketch_of_both_packages(model, tmp_path, name: str, example) -> str:
    """The example sketch of `model`'s arduino and platformio packages, checked to be the same file in both (ASCII)."""
    import zipfile

    from tinygen import formats

    arduino = formats.export(model, tmp_path / "a", name, "arduino", example=example)
    platformio = formats.export(model, tmp_path / "p", name, "platformio", example=example)
    with zipfile.ZipFile(arduino["package"]) as archive:
        sketch = archive.read(f"{name}/examples/{name}/{name}.ino")
    assert sketch == (platformio["package"] / "examples" / name / f"{name}.ino").read_bytes()
    return sketch.decode("ascii")
