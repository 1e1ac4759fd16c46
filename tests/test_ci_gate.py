"""`verify` as a CI step: --junit (one testcase per check, validated against tests/junit.xsd), the flash / RAM /
cycle budgets per target, the documented exit codes, and examples/ci/check_model.sh failing on a q7 accuracy
drop beyond its threshold (naming the check) and passing otherwise."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from tinygen.cli import main

from conftest import check_junit, iris_workspace, need_tool

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def iris(tmp_path_factory):
    """iris as CSV and a logistic regression on it (150 rows x 4 features: quick on the AVR too)."""
    ws = tmp_path_factory.mktemp("ci")
    iris_workspace(ws)
    return ws


def verify(ws, *args, code: int):
    result = CliRunner().invoke(main, ["verify", str(ws / "m.skops"), "--data", str(ws / "iris.csv"), "--label", "target",
                                       *map(str, args)])
    assert result.exit_code == code, f"exit {result.exit_code}\nstdout: {result.stdout}\nstderr: {result.stderr}"
    assert "Traceback" not in result.output
    return result


def test_junit_has_one_passing_testcase_per_check(iris):
    verify(iris, "--dtype", "q15", "--junit", iris / "pass.xml", "--json", iris / "pass.json", code=0)
    cases = check_junit(iris / "pass.xml")
    checks = json.loads((iris / "pass.json").read_text())["checks"]
    assert [case["name"] for case in cases] == [check["name"] for check in checks] == \
        ["accuracy drop <= 0.005", "predict_proba within 2.93e-05 of the softmax of the scores", "C == simulator on host"]  # LogisticRegression: predict_proba too
    assert {case["outcome"] for case in cases} == {"passed"} and {case["classname"] for case in cases} == {"tinygen.verify.m"}
    assert all(check["seconds"] >= 0 for check in checks)


def test_failed_check_exits_1_and_its_junit_failure_names_it(iris):
    result = verify(iris, "--dtype", "q15", "--max-accuracy-drop", "-1", "--junit", iris / "fail.xml", code=1)
    assert "verify failed: accuracy drop <= -1.0" in result.stderr
    cases = {case["name"]: case for case in check_junit(iris / "fail.xml")}
    failed = cases["accuracy drop <= -1.0"]
    assert failed["outcome"] == "failure" and failed["message"].startswith("accuracy drop <= -1.0: float ")
    assert cases["C == simulator on host"]["outcome"] == "passed"


def test_budgets_per_target_on_host_and_avr(iris):
    """One run: a flash budget the AVR build exceeds fails by name; RAM for every target and AVR cycles pass."""
    need_tool("avr-gcc")
    need_tool("simavr")
    result = verify(iris, "--dtype", "q7", "--target", "host", "--target", "avr", "--max-flash", "avr=1",
                    "--max-ram", "4096", "--max-cycles", "avr=100_000", "--junit", iris / "budgets.xml",
                    "--json", iris / "budgets.json", code=1)
    assert "verify failed: flash <= 1 B on avr" in result.stderr
    report = json.loads((iris / "budgets.json").read_text())
    assert report["budgets"] == {"host": {"ram": 4096}, "avr": {"flash": 1, "ram": 4096, "cycles": 100000}}
    cases = {case["name"]: case for case in check_junit(iris / "budgets.xml")}
    avr = report["targets"]["avr"]
    assert cases["flash <= 1 B on avr"]["message"] == f"flash <= 1 B on avr: {avr['flash_bytes']} B"
    assert [name for name, case in cases.items() if case["outcome"] != "passed"] == ["flash <= 1 B on avr"]
    assert "RAM <= 4096 B on host" in cases  # the host has no stack measure: its static RAM
    ram_line = next(line for line in result.stdout.splitlines() if "RAM <= 4096 B on avr" in line)
    assert f"{avr['ram_bytes']} B static + {avr['stack_bytes']} B stack" in ram_line
    cycles_line = next(line for line in result.stdout.splitlines() if "cycles <= 100000 on avr" in line)
    assert f"worst row {avr['cycles_max']} cycles" in cycles_line


@pytest.mark.parametrize("args, message", [
    (("--max-cycles", "5000"), "--max-cycles 5000: none of the verified targets (host) measures cycles"),
    (("--max-cycles", "host=5000"), "--max-cycles host=5000: the host measures no cycles"),
    (("--max-flash", "avr=4000"), "--max-flash avr=4000: avr is not verified; add --target avr"),
    (("--max-flash", "avr=lots"), "'avr=lots' is not [TARGET=]NUMBER"),
    (("--max-ram", "moon=10"), "unknown target 'moon'"),
    (("--max-ram", "-5"), "--max-ram -5 is negative"),
])
def test_bad_budgets_exit_2_with_one_line(iris, args, message):
    result = verify(iris, "--dtype", "q15", *args, code=2)
    assert message in result.stderr and len(result.stderr.strip().splitlines()) == 1


def test_verify_that_cannot_run_writes_a_junit_error(iris):
    result = CliRunner().invoke(main, ["verify", str(iris / "m.skops"), "--data", str(iris / "missing.csv"),
                                       "--label", "target", "--junit", str(iris / "error.xml")])
    assert result.exit_code == 2
    [case] = check_junit(iris / "error.xml")
    assert case["outcome"] == "error" and "missing.csv" in case["message"]


def test_help_documents_exit_codes():
    text = CliRunner().invoke(main, ["verify", "--help"]).stdout
    for line in ("0  every check passed", "1  a check failed", "2  bad input or usage", "3  an internal error"):
        assert line in text
    assert "--junit FILE" in text and "--max-flash [TARGET=]BYTES" in text


# ---- examples/ci ---------------------------------------------------------------------------------------
def run_gate(tmp_path, **settings):
    """examples/ci/check_model.sh with this checkout's tinygen first on PATH."""
    need_tool("avr-gcc")
    need_tool("simavr")
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "tinygen").write_text(f"#!/bin/sh\nexec {sys.executable} -c 'from tinygen.cli import main; main()' \"$@\"\n")
    (bin_dir / "tinygen").chmod(0o755)
    env = {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}",
           "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])), **settings}
    return subprocess.run(["bash", str(ROOT / "examples" / "ci" / "check_model.sh"), str(tmp_path / "out")],
                          capture_output=True, text=True, env=env, timeout=300)


def test_ci_example_fails_on_a_q7_drop_beyond_the_threshold(tmp_path):
    """SGDClassifier on breast_cancer loses 0.35 % accuracy in q7 (2 of 569 rows): over a 0.2 % threshold the gate
    fails and says why. (GaussianNB on iris, which lost 1.3 % before issue 14's class means and offsets, now loses
    nothing; no bundled data set and model loses more than 0.35 % in q7.)"""
    done = run_gate(tmp_path, DATASET="breast_cancer", MODEL="sgd", DTYPE="q7", MAX_DROP="0.002")
    assert done.returncode == 1, done.stdout + done.stderr
    assert "verify failed: accuracy drop <= 0.002" in done.stderr and "model gate: FAILED" in done.stderr
    cases = {case["name"]: case for case in check_junit(tmp_path / "out" / "junit.xml")}
    assert cases["accuracy drop <= 0.002"]["outcome"] == "failure"
    assert cases["accuracy drop <= 0.002"]["message"].startswith("accuracy drop <= 0.002: float 0.9789, q7 0.9754")
    # the C itself is right on both targets: only the accuracy check failed
    assert cases["C == simulator on host"]["outcome"] == cases["C == simulator on avr"]["outcome"] == "passed"


def test_ci_example_passes_and_keeps_the_header(tmp_path):
    done = run_gate(tmp_path, DATASET="iris", MODEL="logreg", DTYPE="q7", MAX_DROP="0.01",
                    VERIFY_ARGS="--max-flash avr=4000 --max-cycles avr=20000")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "model gate: passed" in done.stdout and (tmp_path / "out" / "c" / "model.h").is_file()
    cases = check_junit(tmp_path / "out" / "junit.xml")
    assert [case["name"] for case in cases] == ["header matches manifest", "manifest comes from --model",
                                                "accuracy drop <= 0.01",
                                                "predict_proba within 2.93e-05 of the softmax of the scores",
                                                "C == simulator on host", "C == simulator on avr",
                                                "flash <= 4000 B on avr", "cycles <= 20000 on avr"]
    assert {case["outcome"] for case in cases} == {"passed"}


def test_ci_workflow_runs_the_script_and_keeps_the_junit_file():
    """The workflow's own steps (read as text: the test needs no YAML library)."""
    text = (ROOT / "examples" / "ci" / "model-gate.yml").read_text()
    assert "run: bash examples/ci/check_model.sh ci-out" in text
    assert "gcc-avr" in text and "simavr libsimavr-dev" in text and "python -m pip install ." in text
    assert "path: ci-out/" in text and 'ET.parse("ci-out/junit.xml")' in text
