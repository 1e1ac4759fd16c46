"""Issue 13, "verify the shipped artifact": `tinygen verify OUTDIR/NAME.json` checks the NAME.h beside the
manifest against it (two SHA-256 digests, each file carrying the other's: tinygen/digests.py) and compiles THAT
header; `--model` adds the float model. Also the manifest's schema version 2 (version 1 still verifies, with a
note), and "one target's failure is that target's failure" (a model too big for the AVR fails the avr check
while the host still runs and reports)."""
from __future__ import annotations

import io
import json
import zipfile

import numpy as np
import pytest
from click.testing import CliRunner
from sklearn.ensemble import RandomForestClassifier

from tinygen import data, digests, modelio, train
from tinygen.cli import main
from tinygen.errors import ToolMissing
from tinygen.targets import toolchain

from conftest import check_junit, fit_named, iris_workspace, need_tool

FIGURES = ("rows", "mismatches", "flash_bytes", "ram_bytes", "stack_bytes", "cycles_per_inference")


@pytest.fixture(scope="module")
def ws(tmp_path_factory):
    """iris (150 rows x 4), a q15 logistic regression exported as out/iris_lr.{h,json}, and a GaussianNB."""
    root = tmp_path_factory.mktemp("shipped")
    bundle = iris_workspace(root)
    modelio.save_model(fit_named(bundle, "gnb"), root / "other.skops")
    run(root, "export", root / "m.skops", "--dtype", "q15", "--calibration", root / "iris.csv", "--label", "target",
        "--name", "iris_lr", "-o", root / "out", code=0)
    return root


def run(ws, *args, code: int):
    result = CliRunner().invoke(main, [str(a) for a in args])
    assert result.exit_code == code, f"exit {result.exit_code}\nstdout: {result.stdout}\nstderr: {result.stderr}"
    assert "Traceback" not in result.output
    if code == 2:
        assert result.stderr.startswith("error: ") and result.stderr.count("\n") == 1, result.stderr
    return result


def verify(ws, manifest, *args, code: int):
    return run(ws, "verify", manifest, "--data", ws / "iris.csv", "--label", "target", *args, code=code)


def copy_export(ws, tmp_path, name="iris_lr"):
    out = tmp_path / "copy"
    out.mkdir()
    for suffix in (".h", ".json"):
        (out / f"{name}{suffix}").write_bytes((ws / "out" / f"{name}{suffix}").read_bytes())
    return out


def test_fresh_export_passes_on_host_and_avr_then_fails_after_one_weight_edit(ws, tmp_path):
    """The acceptance case: `verify out/NAME.json` passes for a fresh export on host and avr, and exits 1 after
    one weight in the header is edited, naming the file; the C compiled is that edited header (C != simulator)."""
    need_tool("avr-gcc")
    need_tool("simavr")
    out = copy_export(ws, tmp_path)
    verify(ws, out / "iris_lr.json", "--target", "host", "--target", "avr", "--json", tmp_path / "ok.json", code=0)
    report = json.loads((tmp_path / "ok.json").read_text())
    assert [c["name"] for c in report["checks"]] == ["header matches manifest", "predict_proba within 2.93e-05 of the softmax of the scores",
                                                     "C == simulator on host", "C == simulator on avr"]
    # DESIGN.md's verify fields are all there; without --model the float figures are null
    assert report["float_metric"] is None and report["agreement"] is None and report["accuracy_drop"] is None
    assert report["metric_name"] == "accuracy" and report["fixed_metric"] > 0.9 and report["rows"] == 150
    for target in ("host", "avr"):
        assert set(FIGURES) <= set(report["targets"][target]) and report["targets"][target]["mismatches"] == 0
    assert report["shipped"]["header_check"] == "passed" and report["shipped"]["manifest_version"] == 2

    header = out / "iris_lr.h"
    text = header.read_text()
    table = text.index("static const int16_t iris_lr_dense_1_weights")  # the first weight of the dense layer
    start = text.index("\n", table) + 1
    first = text[start:text.index(",", start)].strip()
    header.write_text(text[:start] + text[start:].replace(first, str(int(first) + 1), 1))
    result = verify(ws, out / "iris_lr.json", "--target", "host", "--target", "avr", "--junit", tmp_path / "bad.xml",
                    "--json", tmp_path / "bad.json", code=1)
    assert "FAIL  header matches manifest" in result.stdout and str(header) in result.stdout
    assert "verify failed: header matches manifest" in result.stderr
    failed = {c["name"] for c in json.loads((tmp_path / "bad.json").read_text())["checks"] if not c["passed"]}
    assert failed == {"header matches manifest", "C == simulator on host", "C == simulator on avr"}
    cases = {case["name"]: case for case in check_junit(tmp_path / "bad.xml")}
    assert cases["header matches manifest"]["outcome"] == "failure" and "iris_lr.h" in cases["header matches manifest"]["message"]


def test_with_model_compares_the_float_model_and_refuses_another(ws, tmp_path):
    result = verify(ws, ws / "out" / "iris_lr.json", "--model", ws / "m.skops", "--json", tmp_path / "r.json", code=0)
    report = json.loads((tmp_path / "r.json").read_text())
    names = [c["name"] for c in report["checks"]]
    assert names == ["header matches manifest", "manifest comes from --model", "accuracy drop <= 0.005",
                     "predict_proba within 2.93e-05 of the softmax of the scores", "C == simulator on host"]
    assert report["float_metric"] > 0.9 and report["agreement"] > 0.95 and "agreement with the float model" in result.stdout
    # a model the manifest was not exported from: same features and classes, another kind
    result = verify(ws, ws / "out" / "iris_lr.json", "--model", ws / "other.skops", code=1)
    assert "FAIL  manifest comes from --model: model: 'Pipeline(StandardScaler, GaussianNB)' in the model" in result.stdout
    # a model of another width cannot be compared at all: bad input
    modelio.save_model(train.fit(data.load_bundled("wine"), "logreg", seed=0), tmp_path / "wine.skops")
    message = verify(ws, ws / "out" / "iris_lr.json", "--model", tmp_path / "wine.skops", code=2).stderr
    assert "--model takes 13 features where" in message and "iris_lr.json takes 4" in message


def test_with_model_an_exact_forest_must_be_the_same_integer_program(ws, tmp_path):
    """exact needs no calibration: the export's conversion is repeated, so another fit of the same kind fails."""
    bundle = data.load_bundled("iris")
    for seed in (0, 1):
        modelio.save_model(fit_named(bundle, "forest", seed=seed, params={"n_estimators": 3}), tmp_path / f"f{seed}.skops")
    run(ws, "export", tmp_path / "f0.skops", "--layout", "table", "-o", tmp_path / "out", code=0)
    result = verify(ws, tmp_path / "out" / "f0.json", "--model", tmp_path / "f0.skops", code=0)
    assert "PASS  manifest comes from --model: RandomForestClassifier, 4 features, classes 0, 1, 2; the same exact" in result.stdout
    result = verify(ws, tmp_path / "out" / "f0.json", "--model", tmp_path / "f1.skops", code=1)
    assert "FAIL  manifest comes from --model: the manifest's exact integer program is not" in result.stdout


def test_any_edit_of_either_file_shows():
    """digests.py: untouched files match; a space in either file, a changed digest, or the header of another
    export each give a problem that names the file."""
    bundle = data.load_bundled("iris")
    from tinygen import convert

    model = convert(train.fit(bundle, "logreg", seed=0), dtype="q15", calibration=bundle.X)
    header, manifest = (text.encode() for text in model.files("m"))
    assert digests.mismatches(header, manifest, "m.h", "m.json") == []
    other_header = convert(train.fit(bundle, "logreg", seed=1, params={"C": 0.5}), dtype="q15",
                           calibration=bundle.X).header("m").encode()
    header_digest = digests.MANIFEST_FIELD.search(manifest).group(1)
    manifest_digest = digests.HEADER_LINE.search(header).group(1)
    edits = {
        "m.h": [(header.replace(b"#include <stdint.h>", b"#include  <stdint.h>"), manifest),
                (other_header, manifest)],
        "m.json": [(header, manifest.replace(b'"n_features": 4', b'"n_features":  4')),
                   (header.replace(manifest_digest, manifest_digest[::-1]), manifest)],
    }
    edits["m.h"].append((header, manifest.replace(header_digest, header_digest[::-1])))
    for name, cases in edits.items():
        for edited_header, edited_manifest in cases:
            problems = digests.mismatches(edited_header, edited_manifest, "m.h", "m.json")
            assert problems and any(p.startswith(name) for p in problems), problems
    assert "no (or more than one)" in digests.mismatches(header.replace(b"tinygen-manifest-sha256", b"x"), manifest)[0]


def test_missing_header_is_bad_input_with_a_junit_error(ws, tmp_path):
    out = copy_export(ws, tmp_path)
    (out / "iris_lr.h").unlink()
    result = verify(ws, out / "iris_lr.json", "--junit", tmp_path / "e.xml", code=2)
    assert "iris_lr.h not found" in result.stderr
    [case] = check_junit(tmp_path / "e.xml")
    assert case["outcome"] == "error" and "not found" in case["message"]


def test_manifest_is_recognised_by_its_format_not_its_suffix(ws, tmp_path):
    out = copy_export(ws, tmp_path)
    (out / "iris_lr.json").rename(out / "iris_lr.manifest")
    result = verify(ws, out / "iris_lr.manifest", code=0)
    assert "PASS  header matches manifest" in result.stdout
    (tmp_path / "x.json").write_text('{"format": "something-else"}')
    assert "not a tinygen manifest" in verify(ws, tmp_path / "x.json", code=2).stderr
    assert "not found" in verify(ws, tmp_path / "missing.json", code=2).stderr


@pytest.mark.parametrize("args, words", [
    (["--dtype", "q7"], ["--dtype q7", "q15 program", "re-export"]),
    (["--calibration", "iris.csv"], ["--calibration is for converting a model"]),
    (["--layout", "table", "--no-bins"], ["--layout, --bins/--no-bins are for converting"]),
    (["--max-accuracy-drop", "0.1"], ["add --model MODEL"]),
])
def test_conversion_options_with_a_manifest_are_usage_errors(ws, args, words):
    args = [ws / a if a.endswith(".csv") else a for a in args]
    message = verify(ws, ws / "out" / "iris_lr.json", *args, code=2).stderr
    for word in words:
        assert word in message


def test_dtype_equal_to_the_manifests_is_accepted_and_model_needs_a_manifest(ws):
    verify(ws, ws / "out" / "iris_lr.json", "--dtype", "q15", code=0)
    assert "leave --model out" in verify(ws, ws / "m.skops", "--model", ws / "m.skops", code=2).stderr


def test_version_1_manifest_verifies_with_a_note_and_a_newer_one_is_refused(ws, tmp_path):
    out = copy_export(ws, tmp_path)
    manifest = json.loads((out / "iris_lr.json").read_text())
    del manifest["header_sha256"]
    (out / "iris_lr.json").write_text(json.dumps({**manifest, "version": 1}, indent=1))
    result = verify(ws, out / "iris_lr.json", "--json", tmp_path / "r.json", code=0)
    assert "note: " in result.stderr and "version-1 manifest" in result.stderr and "re-export" in result.stderr
    report = json.loads((tmp_path / "r.json").read_text())
    assert [c["name"] for c in report["checks"]] == ["predict_proba within 2.93e-05 of the softmax of the scores", "C == simulator on host"]
    assert report["shipped"]["header_check"].startswith("skipped")
    run(ws, "simulate", out / "iris_lr.json", ws / "iris.csv", "--label", "target", "-o", tmp_path / "s.csv", code=0)
    (out / "iris_lr.json").write_text(json.dumps({**manifest, "version": 3}, indent=1))
    message = verify(ws, out / "iris_lr.json", code=2).stderr
    assert "manifest version 3 is newer" in message and "upgrade tinygen" in message and "re-export" in message


@pytest.mark.parametrize("fmt", ["arduino", "platformio"])
def test_packages_carry_the_sealed_header_and_manifest(ws, tmp_path, fmt):
    run(ws, "export", ws / "m.skops", "--dtype", "q15", "--calibration", ws / "iris.csv", "--label", "target",
        "--name", "iris_lr", "--format", fmt, "-o", tmp_path, code=0)
    if fmt == "arduino":
        with zipfile.ZipFile(io.BytesIO((tmp_path / "iris_lr.zip").read_bytes())) as archive:
            files = {name: archive.read(f"iris_lr/{name}") for name in ("src/iris_lr.h", "extras/iris_lr.json")}
    else:
        files = {name: (tmp_path / "iris_lr_platformio" / name).read_bytes() for name in ("src/iris_lr.h", "extras/iris_lr.json")}
    assert files["src/iris_lr.h"] == (ws / "out" / "iris_lr.h").read_bytes()
    assert digests.mismatches(files["src/iris_lr.h"], files["extras/iris_lr.json"]) == []


def test_a_model_too_big_for_the_avr_fails_only_the_avr(ws, tmp_path):
    """One target's failure is that target's failure: a 60-tree forest (about 48 KB of code on the host) cannot be
    built for the ATmega328P; --target host --target avr: host passes and reports, avr gets "error" and null
    figures, JUnit says why, exit 1."""
    need_tool("avr-gcc")
    rng = np.random.default_rng(0)
    X, y = rng.random((400, 6)), rng.integers(0, 2, 400)
    modelio.save_model(RandomForestClassifier(n_estimators=60, random_state=0).fit(X, y), tmp_path / "big.skops")
    data.write_csv(data.Dataset(X[:30], y[:30], [f"x{i}" for i in range(6)], "target"), tmp_path / "rows.csv")
    result = run(ws, "verify", tmp_path / "big.skops", "--data", tmp_path / "rows.csv", "--label", "target",
                 "--target", "host", "--target", "avr", "--json", tmp_path / "r.json", "--junit", tmp_path / "r.xml", code=1)
    report = json.loads((tmp_path / "r.json").read_text())
    host, avr = report["targets"]["host"], report["targets"]["avr"]
    assert "error" not in host and host["mismatches"] == 0 and host["rows"] == 30 and host["flash_bytes"] > 32_768
    assert "ATmega328P" in avr["error"] and "\n" not in avr["error"]
    assert all(avr[key] is None for key in FIGURES)
    assert "avr: not measured (" in result.stdout and "verify failed: C == simulator on avr" in result.stderr
    cases = {case["name"]: case for case in check_junit(tmp_path / "r.xml")}
    assert cases["C == simulator on host"]["outcome"] == "passed"
    assert cases["C == simulator on avr"]["outcome"] == "failure" and "ATmega328P" in cases["C == simulator on avr"]["message"]


def test_a_missing_compiler_is_still_bad_input(ws, monkeypatch):
    """A missing tool is not one target's failed check: exit 2, one line (targets/toolchain.py's ToolMissing)."""
    real_find = toolchain.find

    def find(tool):
        if tool == "avr-gcc":
            raise ToolMissing("avr-gcc not found; install it with: apt-get install gcc-avr avr-libc")
        return real_find(tool)

    monkeypatch.setattr(toolchain, "find", find)
    message = verify(ws, ws / "out" / "iris_lr.json", "--target", "host", "--target", "avr", code=2).stderr
    assert "avr-gcc not found" in message
