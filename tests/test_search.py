"""Budget-aware model search (train --search), automatic precision (export --dtype auto) and the cost model.

The acceptance test runs the real thing on the Uno: a --quick search of breast_cancer within 1 ms, then
`tinygen verify` of the saved model with the dtype the search names must measure the same flash and cycles.
"""
from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest
from click.testing import CliRunner

import tinygen
from tinygen import boards, costmodel, costmodel_calibrate, data, model_search, precision, train
from tinygen.cli import main
from tinygen.errors import TinygenError
from tinygen.targets import qemu

from conftest import error_of


def run(*args, code: int = 0):
    result = CliRunner().invoke(main, [str(a) for a in args])
    assert result.exit_code == code, (f"tinygen {' '.join(map(str, args))} exited {result.exit_code}, expected {code}\n"
                                      f"stdout: {result.stdout}\nstderr: {result.stderr}\nexception: {result.exception!r}")
    assert "Traceback" not in result.output
    return result


def one_line_error(result) -> str:
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    return lines[0]


@pytest.fixture(scope="module")
def ws(tmp_path_factory):
    root = tmp_path_factory.mktemp("search")
    for name in ("breast_cancer", "iris"):
        data.write_csv(data.load_bundled(name), root / f"{name}.csv")
    return root


def test_search_fits_the_uno_in_1ms_and_verify_measures_the_same(ws, tool):
    """The acceptance: breast_cancer, --board uno --max-latency-ms 1; then verify with the named dtype."""
    tool("avr-gcc")
    tool("simavr")
    model, report = ws / "best.skops", ws / "search.json"
    out = run("train", ws / "breast_cancer.csv", "--label", "target", "--search", "--board", "uno", "--max-latency-ms", 1,
              "--quick", "--jobs", 2, "--json", report, "-o", model).stdout
    assert "Pareto front" in out and "export it with --dtype" in out
    found = json.loads(report.read_text())
    best = found["best"]
    assert best["source"] == "measured" and not best["misses"]
    assert best["latency_ms"] <= 1.0 and best["cycles_max"] <= 16_000
    assert best["accuracy"] > 0.9
    assert all(c["source"] == "measured" for c in found["front"])
    assert any(c["label"] == best["label"] and c["dtype"] == best["dtype"] for c in found["front"]) or \
        len(found["front"]) >= 1
    flags = best["export_options"].split()
    verified = ws / "verify.json"
    run("verify", model, "--data", ws / "breast_cancer.csv", "--label", "target", *flags, "--target", "avr", "--board",
        "uno", "--json", verified)
    avr = json.loads(verified.read_text())["targets"]["avr"]
    assert avr["mismatches"] == 0
    assert (avr["flash_bytes"], avr["ram_bytes"], avr["stack_bytes"]) == \
        (best["flash_bytes"], best["ram_bytes"], best["stack_bytes"])
    assert avr["cycles_per_inference"] == pytest.approx(best["cycles_per_inference"], abs=1e-9)
    assert avr["cycles_max"] == best["cycles_max"]


@pytest.mark.parametrize("board", ["stm32f4", "esp32c3"])
def test_quick_search_on_a_qemu_board_and_verify_measures_the_same(ws, tool, board):
    """Issue 18's acceptance: `train --search --board stm32f4|esp32c3 --quick` runs end to end (the cost model of
    the board's target chooses, QEMU measures), says its latency is instructions / clock, and `verify` of the saved
    model with the options it names measures the same instructions, flash and stack."""
    target = boards.get(board).target
    for name in qemu.TARGETS[target].tools:
        tool(name)
    model, report = ws / f"{board}.skops", ws / f"{board}.json"
    out = run("train", ws / "iris.csv", "--label", "target", "--search", "--board", board, "--quick", "--jobs", 2,
              "--json", report, "-o", model).stdout
    assert f"measured on {target} over every row" in out and "instructions per inference" in out
    assert f"latency: {target} under QEMU counts instructions, not cycles" in out
    found = json.loads(report.read_text())
    assert (found["target"], found["cycles_unit"]) == (target, "instructions") and "QEMU" in found["latency_note"]
    best = found["best"]
    assert best["source"] == "measured" and best["accuracy"] > 0.9
    assert all(c["source"] == "measured" for c in found["front"])
    assert found["cost_model_error"]["calibration"]["flash"]["programs"] > 0
    verified = ws / f"verify-{board}.json"
    run("verify", model, "--data", ws / "iris.csv", "--label", "target", *best["export_options"].split(),
        "--board", board, "--json", verified)
    measured = json.loads(verified.read_text())["targets"][target]
    assert measured["mismatches"] == 0 and measured["cycles_unit"] == "instructions"
    assert (measured["flash_bytes"], measured["stack_bytes"]) == (best["flash_bytes"], best["stack_bytes"])
    assert measured["cycles_per_inference"] == pytest.approx(best["cycles_per_inference"], abs=1e-9)
    assert measured["instructions_max"] == best["cycles_max"]


def test_search_no_fit_names_the_closest_and_what_it_misses_by(ws, tool):
    tool("avr-gcc")
    tool("simavr")
    result = run("train", ws / "iris.csv", "--label", "target", "--search", "--board", "uno", "--max-latency-ms", 0.005,
                 "--quick", "-o", ws / "none.skops", code=2)
    line = one_line_error(result)
    assert "no candidate meets the budgets on the uno (latency <= 0.005 ms" in line
    assert "the closest is" in line and "over by" in line and "(measured)" in line
    assert not (ws / "none.skops").exists()
    assert "Pareto front" in result.stdout  # the front is still shown


def test_search_is_deterministic_for_a_seed():
    """The same seed gives the same candidates, metrics, estimates, front and choice, with or without --jobs."""
    bundle = data.load_bundled("wine")

    def once(jobs):
        result = tinygen.search(bundle.X, bundle.y, board="uno", max_latency_ms=0.5, seed=3, jobs=jobs, quick=True,
                                measure=False, progress=False)
        assert list(result) == result.front and result[0] is result.front[0]  # the result reads as its front
        return ([(c.name, c.metric, c.estimate.cycles_max, c.estimate.flash_bytes) for c in result.candidates],
                [c.name for c in result.front], result.best.name, result.table())

    first, second = once(1), once(2)
    assert first == second
    other = tinygen.search(bundle.X, bundle.y, board="uno", seed=4, quick=True, measure=False, progress=False)
    assert [c.metric for c in other.candidates] != [m for _, m, _, _ in first[0]]  # the seed moves the folds


def test_pareto_front_keeps_exactly_the_undominated():
    board = boards.get("uno")
    estimate = costmodel.Estimate
    points = {"a": (0.95, 1600, 900), "b": (0.90, 800, 900), "c": (0.90, 1600, 900), "d": (0.97, 16000, 5000),
              "e": (0.95, 1600, 800)}
    candidates = [model_search.Candidate(model_search.Spec(name), model_search.Variant("q15"), acc, acc,
                                         estimate(flash, 0, 0, cycles, cycles, True), index=i)
                  for i, (name, (acc, cycles, flash)) in enumerate(points.items())]
    front = model_search.pareto_front(candidates, board)
    assert [c.spec.kind for c in front] == ["d", "e", "b"]


SEARCH_TARGETS = sorted({board.target for board in boards.BOARDS.values()})


def test_every_board_offered_has_a_calibrated_cost_model():
    """`train --search --board B` offers every board: each one's target has a shipped cost model that loads, with
    coefficients for every quantity and its error on the candidates left out of the fit."""
    assert SEARCH_TARGETS and None not in SEARCH_TARGETS
    for target in SEARCH_TARGETS:
        model = costmodel.load(target)
        assert model.target == target and set(model.coefficients) == set(costmodel.QUANTITIES)
        assert model.notes["command"] == f"tinygen costmodel calibrate --target {target}"
        for quantity in ("cycles_mean", "cycles_max", "flash"):
            assert model.error[quantity]["programs"] > 0 and 0 < model.relative_error(quantity) < 1, (target, quantity)
        # stacks of a few bytes make relative errors meaningless: the search allows the largest one in bytes
        assert 0 < model.absolute_error("stack") < 256, target


@pytest.fixture(scope="module")
def grid_programs():
    """(label, program) of every configuration of the grid on iris in each of its variants (one MLP shape is
    enough for the counts; the others only repeat them)."""
    bundle = data.load_bundled("iris")
    dataset = data.Dataset(bundle.X, bundle.y, bundle.feature_names, "target")
    out = []
    for spec in model_search.grid("classification"):
        if spec.kind == "mlp" and spec.params != (("hidden_layer_sizes", (8,)),):
            continue
        estimator = train.fit(dataset, spec.kind, params=dict(spec.params))
        for variant in model_search.variants(spec.kind):
            out.append((f"{spec.label} ({variant.label})",
                        tinygen.convert(estimator, dtype=variant.dtype, calibration=bundle.X, layout=variant.layout,
                                        bins=variant.bins).program))
    return bundle.X, out


@pytest.mark.parametrize("target", SEARCH_TARGETS)
def test_every_search_candidate_has_calibrated_costs(grid_programs, target):
    """The shipped coefficients cover every count the grid's programs have (a stale cost model fails here)."""
    model = costmodel.load(target)
    X, programs = grid_programs
    for label, program in programs:
        estimate = model.estimate(program, X)
        assert estimate.calibrated, (label, estimate.missing)
        assert estimate.cycles_max >= estimate.cycles_mean - 1e-6 and estimate.cycles_mean > 0 and estimate.flash_bytes > 0
    assert 0 < model.relative_error("cycles_mean") < 1


def test_calibration_cache_measures_a_changed_program_again(monkeypatch):
    """The calibration's --cache keys each measurement by the candidate and its program: after a quantizer or
    template change the same candidate is measured again (keyed by name alone, a re-fit used the old programs'
    cycles: breast_cancer ridge q15 estimated 10,022 cycles where it takes 5,879)."""
    bundle = data.load_bundled("iris")
    programs = [tinygen.convert(train.fit(data.Dataset(bundle.X, bundle.y, bundle.feature_names, "target"), "logreg"),
                                dtype=dtype, calibration=bundle.X).program for dtype in ("q15", "q7")]
    runs = []
    monkeypatch.setattr(costmodel_calibrate, "compare_on_target", lambda model, *a, **k: runs.append(model) or {"cycles": 1})
    cache = {}
    for program in programs:  # the same label, another program
        monkeypatch.setattr(costmodel_calibrate, "candidate_programs",
                            lambda name, p=program: [("iris: logreg", p, bundle.X[:3])])
        costmodel_calibrate.measure_candidates("avr", ("iris",), cache, 1, lambda *_: None)
        costmodel_calibrate.measure_candidates("avr", ("iris",), cache, 1, lambda *_: None)  # cached: not measured again
    assert len(runs) == 2 and len(cache) == 2


def test_export_dtype_auto_takes_the_least_flash_within_the_tolerance(ws, tool):
    tool("avr-gcc")
    csv = ws / "breast_cancer.csv"
    run("train", csv, "--label", "target", "--model", "logreg", "-o", ws / "lr.skops")
    out = run("export", ws / "lr.skops", "--dtype", "auto", "--calibration", csv, "--label", "target", "-o",
              ws / "auto").stdout
    assert out.startswith("dtype auto: ") and "the least flash on the uno" in out
    chosen = json.loads((ws / "auto" / "lr.json").read_text())["dtype"]
    assert f"dtype auto: {chosen}," in out

    bundle = data.load_bundled("breast_cancer")
    estimator = train.fit(data.Dataset(bundle.X, bundle.y, bundle.feature_names, "target"), "logreg")
    choice = precision.choose_dtype(estimator, bundle.X, bundle.y, max_accuracy_drop=0.01)
    holding = [t for t in choice.tried if t.holds]
    assert {t.dtype for t in choice.tried if t.problem is None} >= {"float32", "q15", "q7"}
    assert all(t.drop <= 0.01 for t in holding)
    assert choice.dtype == min(holding, key=lambda t: (t.flash_bytes, t.cycles)).dtype
    assert all(t.flash_bytes is None for t in choice.tried if not t.holds)

    strict = precision.choose_dtype(estimator, bundle.X, bundle.y, max_accuracy_drop=0.0)
    (drop,) = [t.drop for t in strict.tried if t.dtype == strict.dtype]
    assert drop <= 0.0 and f"drop {drop:.4f}" in strict.reason


def test_export_dtype_auto_bad_input(ws):
    csv = ws / "breast_cancer.csv"
    run("train", csv, "--label", "target", "--model", "logreg", "-o", ws / "lr2.skops")
    for args, words in (
            (("--dtype", "auto"), "--dtype auto needs --calibration"),
            (("--dtype", "q15", "--max-accuracy-drop", "0.1", "--calibration", csv, "--label", "target"),
             "--max-accuracy-drop is for --dtype auto"),
            (("--dtype", "auto", "--max-accuracy-drop", "-0.1", "--calibration", csv, "--label", "target"),
             "must be a number >= 0")):
        result = run("export", ws / "lr2.skops", *args, "-o", ws / "bad", code=2)
        assert words in one_line_error(result)
    assert not (ws / "bad").exists()


@pytest.mark.parametrize("args, words", [
    (("--search", "--board", "nope"), "'nope' is not one of"),
    (("--search", "--board", "uno", "--max-latency-ms", "-1"), "--max-latency-ms must be a positive number"),
    (("--search", "--board", "uno", "--max-flash", "0"), "--max-flash must be a positive number"),
    (("--search", "--board", "uno", "--max-ram", "-64"), "--max-ram must be a positive number"),
    (("--search", "--board", "uno", "--jobs", "0"), "jobs must be a whole number >= 1"),
    (("--search",), "--search needs --board"),
    (("--search", "--board", "uno", "--model", "logreg"), "leave out --model"),
    (("--model", "logreg", "--board", "uno"), "--board is for --search"),
    (("--model", "logreg", "--max-latency-ms", "3"), "--max-latency-ms is for --search"),
    ((), "train needs --model KIND"),
])
def test_search_bad_input_is_one_line(ws, args, words):
    result = run("train", ws / "iris.csv", "--label", "target", *args, "-o", ws / "x.skops", code=2)
    assert words in one_line_error(result)
    assert not (ws / "x.skops").exists()


def test_search_api_bad_input(monkeypatch):
    X, y = np.zeros((10, 2)), np.arange(10) % 2
    assert "unknown board 'nope'" in error_of(tinygen.search, X, y, board="nope")
    compile_only = dataclasses.replace(boards.get("uno"), name="compile-only", target=None)
    monkeypatch.setitem(boards.BOARDS, "compile-only", compile_only)  # a board whose code nothing here runs
    assert "tinygen cannot run compile-only code" in error_of(tinygen.search, X, y, board="compile-only")
    assert "--max-flash must be a positive number, got -5" in error_of(tinygen.search, X, y, max_flash=-5)
    assert "needs at least 10 rows" in error_of(tinygen.search, X[:6], y[:6])
    with pytest.raises(TinygenError):
        tinygen.search(X, y, max_latency_ms=float("nan"))
