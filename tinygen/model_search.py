"""Budget-aware model search: the most accurate model, size and dtype that fits a board.

    tinygen train DATA.csv --label y --search --board uno --max-latency-ms 5 -o best.skops
    result = tinygen.search(X, y, board="uno", max_latency_ms=5); result.front, result.best

1. Candidates: every model configuration of the grid (`grid()`: linear models, GaussianNB, trees, forests and
   boosting of several depths and sizes, MLPs of a few shapes) times the ways it exports (`variants()`: the
   dtypes, and for trees the inline and table layouts).
2. Accuracy: k-fold cross-validation of the exported program, not of the float model: each fold's model is
   fitted on the other folds, converted with them as its calibration data, and the simulator's predictions
   (bit-exact with the C) are scored on the fold left out.
3. Costs: each configuration is fitted on every row and converted with every row as calibration, which is
   what `tinygen verify MODEL --data DATA.csv` does, and the cost model (tinygen/costmodel.py) estimates its
   flash, stack and cycles on every row.
4. Emulator: the most accurate candidates whose estimates do not miss a budget by more than the cost model's
   error are built and run on the board's instruction set, in order, until one fits; then every member of
   the Pareto front (accuracy vs latency vs flash) is run too. Reported numbers are those runs: the ones
   `tinygen verify MODEL --data DATA.csv --target T --board B` measures (compare_on_target, every row).

Latency is the slowest row of the data (cycles_max / clock); the table also gives the mean cycles, which is
what verify prints. On the QEMU targets (every board but the AVR ones) the counts are instructions, not cycles
(QEMU has no cycle model): latency is then instructions / clock, an approximation, and says so
(boards.latency_note); the esp32's are the ESP8266's lx106 instructions, a stand-in for its LX6.
RAM is static RAM plus the measured stack, as `verify --board` checks it.
Deterministic for a seed: the folds, every estimator's random_state, and the order of ties.
"""
from __future__ import annotations

import warnings
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field

import numpy as np

from . import boards, costmodel, train as train_module
from .targets import qemu, toolchain
from .api import convert
from .data import Dataset
from .errors import TinygenError
from .progress import ProgressBar
from .verify import compare_on_target, metric

CLASSIFICATION_ONLY = ("logreg", "gnb")
# what running a candidate on the target takes: simavr for AVR, a cross gcc, its size and QEMU for the others
_TARGET_TOOLS = {"avr": ("avr-gcc", "avr-size", "simavr"),
                 **{name: target.tools for name, target in qemu.TARGETS.items()}}
REGRESSION_ONLY = ("linear", "lasso")


@dataclass(frozen=True)
class Spec:
    """One model configuration: a `tinygen train --model` kind and its --param values."""
    kind: str
    params: tuple = ()  # (key, value) pairs

    @property
    def label(self) -> str:
        short = {"n_estimators": "n", "max_iter": "n", "max_depth": "depth", "hidden_layer_sizes": "hidden"}
        shown = []
        for key, value in self.params:
            if isinstance(value, tuple):
                value = "x".join(str(v) for v in value)
            shown.append(f"{short.get(key, key)}={value}")
        return " ".join([self.kind, *shown])


@dataclass(frozen=True)
class Variant:
    """How a fitted model is exported: its dtype and, for trees, layout and threshold bins."""
    dtype: str
    layout: str = "auto"
    bins: bool | None = None

    @property
    def label(self) -> str:
        return self.dtype if self.layout == "auto" else f"{self.dtype} {self.layout}"

    def flags(self) -> str:
        """The export/verify options that build this variant."""
        out = [f"--dtype {self.dtype}"]
        if self.layout != "auto":
            out.append(f"--layout {self.layout}")
        if self.bins is not None:
            out.append("--bins" if self.bins else "--no-bins")
        return " ".join(out)


def _spec(kind: str, **params) -> Spec:
    return Spec(kind, tuple(params.items()))


# The grid, sized for microcontrollers: the small end fits an Uno with room to spare, the large end tests what
# more flash or latency buys. Boosting on many classes multiplies its trees; the cost model drops what cannot fit.
_GRID = (
    _spec("logreg"), _spec("logreg", C=0.1), _spec("linear"), _spec("ridge"), _spec("lasso", alpha=0.01),
    _spec("linear-svm"), _spec("gnb"),
    _spec("tree", max_depth=3), _spec("tree", max_depth=5), _spec("tree", max_depth=8),
    _spec("forest", n_estimators=5, max_depth=4), _spec("forest", n_estimators=10, max_depth=6),
    _spec("forest", n_estimators=20, max_depth=8),
    _spec("extra-trees", n_estimators=10, max_depth=6), _spec("extra-trees", n_estimators=20, max_depth=8),
    _spec("gbt", n_estimators=20, max_depth=2), _spec("gbt", n_estimators=50, max_depth=3),
    _spec("hist-gbt", max_iter=20, max_depth=3),
    _spec("mlp", hidden_layer_sizes=(8,)), _spec("mlp", hidden_layer_sizes=(16,)),
    _spec("mlp", hidden_layer_sizes=(16, 8)),
)
# --quick: one configuration per family that answers fast (tests, first looks)
_QUICK_GRID = (_spec("logreg"), _spec("ridge"), _spec("gnb"), _spec("tree", max_depth=4),
               _spec("forest", n_estimators=5, max_depth=4))

_LINEAR_VARIANTS = (Variant("q15"), Variant("q7"), Variant("int8"), Variant("float32"))
_GNB_VARIANTS = (Variant("q15"), Variant("q7"), Variant("float32"))
# exact trees on raw float32 bits: inline code (fastest) or tables (smallest); bins sit between the two
_TREE_VARIANTS = (Variant("exact", "inline", False), Variant("exact", "table", False))


def grid(task: str, quick: bool = False) -> list[Spec]:
    """The model configurations searched for a task ("classification" or "regression")."""
    other_only = REGRESSION_ONLY if task == "classification" else CLASSIFICATION_ONLY
    return [spec for spec in (_QUICK_GRID if quick else _GRID) if spec.kind not in other_only]


def variants(kind: str) -> tuple[Variant, ...]:
    if kind in train_module.TREE_KINDS:
        return _TREE_VARIANTS
    return _GNB_VARIANTS if kind == "gnb" else _LINEAR_VARIANTS


# ---- budgets ---------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Budgets:
    """What a model may take on a board: latency (of the slowest row), flash, RAM (static + stack). The
    board's own memories always bound flash and RAM."""
    board: boards.Board
    max_latency_ms: float | None = None
    max_flash: int | None = None
    max_ram: int | None = None

    @property
    def limits(self) -> dict[str, float]:
        limits = {"flash": min(self.max_flash or self.board.flash_bytes, self.board.flash_bytes),
                  "ram": min(self.max_ram or self.board.ram_bytes, self.board.ram_bytes)}
        if self.max_latency_ms is not None:
            limits["latency"] = self.max_latency_ms
        return limits

    def describe(self) -> str:
        limits = self.limits
        out = [f"latency <= {_ms(limits['latency'])}"] if "latency" in limits else []
        out += [f"flash <= {limits['flash']:,.0f} B", f"RAM <= {limits['ram']:,.0f} B"]
        return ", ".join(out)


def check_budgets(max_latency_ms, max_flash, max_ram) -> None:
    for name, value in (("--max-latency-ms", max_latency_ms), ("--max-flash", max_flash), ("--max-ram", max_ram)):
        if value is not None and not (np.isfinite(value) and value > 0):
            raise TinygenError(f"{name} must be a positive number, got {value}")


def _ms(value: float) -> str:
    return f"{value:.3g} ms"


# ---- candidates -----------------------------------------------------------------------------------------

@dataclass
class Candidate:
    """One configuration exported one way: its cross-validated metric and its costs on the board."""
    spec: Spec
    variant: Variant
    metric: float  # mean over the folds of the exported program's metric (simulator)
    float_metric: float  # the same for the float model
    estimate: costmodel.Estimate
    measured: dict | None = None  # compare_on_target on the board's target, every row
    problem: str | None = None  # why the emulator run failed (the candidate is then out)
    index: int = 0  # position in the grid: the last tie-break, for determinism

    @property
    def name(self) -> str:
        return f"{self.spec.label} ({self.variant.label})"

    def value(self, quantity: str) -> float:
        """flash, ram (static + stack) or cycles (mean) / cycles_max: measured when run, else estimated."""
        if self.measured is not None:
            m = self.measured
            return {"flash": m["flash_bytes"], "ram": m["ram_bytes"] + m["stack_bytes"],
                    "cycles": m["cycles_per_inference"], "cycles_max": costmodel.slowest_row(m)}[quantity]
        e = self.estimate
        return {"flash": e.flash_bytes, "ram": e.ram_bytes + e.stack_bytes, "cycles": e.cycles_mean,
                "cycles_max": e.cycles_max}[quantity]

    def latency_ms(self, board: boards.Board) -> float:
        return 1000.0 * self.value("cycles_max") / board.clock_hz


def _values(candidate: Candidate, board: boards.Board) -> dict[str, float]:
    return {"flash": candidate.value("flash"), "ram": candidate.value("ram"), "latency": candidate.latency_ms(board)}


def misses(candidate: Candidate, budgets: Budgets) -> dict[str, tuple[float, float]]:
    """Budget -> (value, limit) for every budget the candidate's current numbers exceed."""
    values = _values(candidate, budgets.board)
    return {q: (values[q], limit) for q, limit in budgets.limits.items() if values[q] > limit}


def could_fit(candidate: Candidate, budgets: Budgets, model: costmodel.CostModel) -> bool:
    """False only when the candidate misses a budget for sure: measured, or estimated beyond the cost model's
    largest error on programs left out of its fit (an estimate with an uncalibrated count is never sure).
    Cycles and flash allow that error relative to the estimate; RAM its largest stack error in bytes (stacks
    are small, so relative errors say little there)."""
    if candidate.problem is not None:
        return False
    if candidate.measured is None and not candidate.estimate.calibrated:
        return True
    values = _values(candidate, budgets.board)
    if candidate.measured is None:
        values = {"latency": values["latency"] / (1.0 + model.relative_error("cycles_max")),
                  "flash": values["flash"] / (1.0 + model.relative_error("flash")),
                  "ram": values["ram"] - model.absolute_error("stack")}
    return all(values[quantity] <= limit for quantity, limit in budgets.limits.items())


def pareto_front(candidates: list[Candidate], board: boards.Board) -> list[Candidate]:
    """Candidates no other beats on one of accuracy, latency and flash without losing on another; sorted
    by accuracy (best first), then latency."""
    points = [(c.metric, c.latency_ms(board), c.value("flash")) for c in candidates]
    front = []
    for i, (acc, lat, flash) in enumerate(points):
        dominated = any(a >= acc and l <= lat and f <= flash and (a > acc or l < lat or f < flash)
                        for j, (a, l, f) in enumerate(points) if j != i)
        if not dominated:
            front.append(candidates[i])
    return sorted(front, key=lambda c: (-c.metric, c.latency_ms(board), c.value("flash"), c.index))


# ---- the search --------------------------------------------------------------------------------------------

@dataclass
class SearchResult:
    """What search() found. front: the Pareto front (accuracy vs latency vs flash) of every candidate that fits
    the board's memories, measured on its instruction set; best: the most accurate candidate within every
    budget (None when none is), and estimator: its model fitted on every row, to export with best.variant."""
    board: boards.Board
    budgets: Budgets
    task: str
    metric_name: str
    folds: int
    candidates: list[Candidate]
    front: list[Candidate]
    best: Candidate | None
    closest: Candidate | None  # when nothing fits: the candidate nearest the budgets
    estimators: dict  # Spec -> the estimator fitted on every row
    cost_model: costmodel.CostModel
    skipped: dict = field(default_factory=dict)  # "spec (variant)" -> why it is not a candidate

    def __iter__(self):  # the result reads as its front: `for candidate in tinygen.search(...)`
        return iter(self.front)

    def __len__(self) -> int:
        return len(self.front)

    def __getitem__(self, index):
        return self.front[index]

    @property
    def estimator(self):
        return None if self.best is None else self.estimators[self.best.spec]

    @property
    def dtype(self) -> str | None:
        return None if self.best is None else self.best.variant.dtype

    def no_fit_message(self) -> str:
        """One line: nothing meets the budgets, the closest candidate and what it misses by."""
        head = f"no candidate meets the budgets on the {self.board.name} ({self.budgets.describe()})"
        c = self.closest
        if c is None:
            return head + "; none could be built for it"
        over = []
        for quantity, (value, limit) in misses(c, self.budgets).items():
            if quantity == "latency":
                over.append(f"latency {_ms(value)} (over by {_ms(value - limit)})")
            else:
                over.append(f"{quantity} {value:,.0f} B (over by {value - limit:,.0f} B)")
        source = "measured" if c.measured is not None else "estimated"
        return (f"{head}: the closest is {c.name}, {self.metric_name} {c.metric:.4f}, which needs "
                f"{' and '.join(over)} ({source}); raise that budget, or try a bigger board")

    def measured_errors(self) -> dict:
        """The cost model's error on the candidates this search ran on the emulator."""
        rows = [(c.estimate, c.measured) for c in self.candidates if c.measured is not None and c.estimate.calibrated]
        return costmodel.errors(self.cost_model, rows) if rows else {}

    def candidate_dict(self, c: Candidate) -> dict:
        """One candidate as JSON: the configuration, how to export it, its metric and costs."""
        costs = {"source": "measured" if c.measured else "estimate", "flash_bytes": c.value("flash"),
                 "ram_bytes": c.measured["ram_bytes"] if c.measured else c.estimate.ram_bytes,
                 "stack_bytes": c.measured["stack_bytes"] if c.measured else c.estimate.stack_bytes,
                 "cycles_per_inference": c.value("cycles"), "cycles_max": c.value("cycles_max"),
                 "latency_ms": c.latency_ms(self.board)}
        return {"model": c.spec.kind, "params": {k: list(v) if isinstance(v, tuple) else v for k, v in c.spec.params},
                "label": c.spec.label, "dtype": c.variant.dtype, "layout": c.variant.layout, "bins": c.variant.bins,
                "export_options": c.variant.flags(), self.metric_name: c.metric, f"float_{self.metric_name}": c.float_metric,
                **costs, "estimate": {"flash_bytes": c.estimate.flash_bytes, "stack_bytes": c.estimate.stack_bytes,
                                      "cycles_per_inference": c.estimate.cycles_mean, "cycles_max": c.estimate.cycles_max},
                "misses": sorted(misses(c, self.budgets))}

    @property
    def cycles_unit(self) -> str:
        """What the target counts: AVR cycles (simavr), or instructions (QEMU has no cycle model)."""
        return "cycles" if self.board.target == "avr" else "instructions"

    def to_dict(self) -> dict:
        return {"board": self.board.name, "target": self.board.target, "clock_hz": self.board.clock_hz,
                "cycles_unit": self.cycles_unit, "latency_note": boards.latency_note(self.board),
                "budgets": self.budgets.limits, "task": self.task, "metric_name": self.metric_name, "folds": self.folds,
                "candidates": len(self.candidates), "runs": sum(c.measured is not None for c in self.candidates),
                "best": None if self.best is None else self.candidate_dict(self.best),
                "closest": None if self.closest is None else self.candidate_dict(self.closest),
                "front": [self.candidate_dict(c) for c in self.front],
                "cost_model_error": {"these_runs": self.measured_errors(), "calibration": self.cost_model.error}}

    def table(self) -> str:
        """The Pareto front as a text table (the chosen candidate marked *)."""
        unit = "cycles" if self.cycles_unit == "cycles" else "instr."
        lines = [f"{'':2}{'model':<32}{'dtype':<14}{self.metric_name:>9}{unit:>10}{'max ms':>9}{'flash B':>9}"
                 f"{'RAM B':>7}{'stack B':>8}  {'costs':<9}budgets"]
        for c in self.front:
            mark = "*" if c is self.best else ""
            stack = c.measured["stack_bytes"] if c.measured else c.estimate.stack_bytes
            ram = c.measured["ram_bytes"] if c.measured else c.estimate.ram_bytes
            missed = misses(c, self.budgets)
            verdict = "fits" if not missed else "over: " + ", ".join(missed)
            lines.append(f"{mark:<2}{c.spec.label:<32}{c.variant.label:<14}{c.metric:>9.4f}{c.value('cycles'):>10,.0f}"
                         f"{c.latency_ms(self.board):>9.3f}{c.value('flash'):>9,.0f}{ram:>7,.0f}{stack:>8,.0f}  "
                         f"{'measured' if c.measured else 'estimate':<9}{verdict}")
        return "\n".join(lines)


def _folds(X, y, task: str, n_folds: int, seed: int):
    from sklearn.model_selection import KFold, StratifiedKFold

    if len(X) < 2 * n_folds:
        raise TinygenError(f"the search cross-validates on {n_folds} folds and needs at least {2 * n_folds} rows; "
                           f"the data has {len(X)}")
    if task == "classification":
        _, counts = np.unique(y, return_counts=True)
        if counts.min() >= n_folds:
            return list(StratifiedKFold(n_folds, shuffle=True, random_state=seed).split(X, y))
    return list(KFold(n_folds, shuffle=True, random_state=seed).split(X))


@dataclass
class _Evaluated:
    """One configuration after cross-validation and its fit on every row (what a worker returns)."""
    spec: Spec
    estimator: object
    float_metric: float
    metrics: dict  # Variant -> mean metric over the folds
    estimates: dict  # Variant -> costmodel.Estimate
    problems: dict  # Variant -> why it is not available


def _evaluate(spec: Spec, dataset: Dataset, task: str, folds, seed: int, target: str) -> _Evaluated:
    """Cross-validate every variant of one configuration, then fit it on every row and estimate its costs."""
    from sklearn.exceptions import ConvergenceWarning

    with warnings.catch_warnings():  # an MLP that stops at max_iter is still a candidate: its accuracy says how good
        warnings.simplefilter("ignore", ConvergenceWarning)
        return _evaluate_quietly(spec, dataset, task, folds, seed, target)


def _evaluate_quietly(spec: Spec, dataset: Dataset, task: str, folds, seed: int, target: str) -> _Evaluated:
    model = costmodel.load(target)
    params = dict(spec.params)
    X, y = dataset.X, dataset.y
    fold_metrics: dict = {v: [] for v in variants(spec.kind)}
    problems: dict = {}
    float_metrics = []
    for train_rows, test_rows in folds:
        part = Dataset(X[train_rows], y[train_rows], dataset.feature_names, dataset.label_name)
        try:
            estimator = train_module.fit(part, spec.kind, params=params, seed=seed, task=task)
        except TinygenError as exc:  # this configuration cannot learn these rows: not a candidate
            return _Evaluated(spec, None, float("nan"), {}, {}, {v: str(exc) for v in fold_metrics})
        float_metrics.append(metric(task, y[test_rows], estimator.predict(X[test_rows]))[1])
        predictions = {}  # exact trees predict the same in every layout: simulate once per dtype
        for variant in fold_metrics:
            if variant in problems:
                continue
            try:
                if variant.dtype not in predictions:
                    converted = convert(estimator, dtype=variant.dtype, calibration=X[train_rows], layout=variant.layout,
                                        bins=variant.bins)
                    predictions[variant.dtype] = converted.predict(X[test_rows])
            except TinygenError as exc:
                problems[variant] = str(exc)
                continue
            fold_metrics[variant].append(metric(task, y[test_rows], predictions[variant.dtype])[1])
    try:
        estimator = train_module.fit(dataset, spec.kind, params=params, seed=seed, task=task)
    except TinygenError as exc:
        return _Evaluated(spec, None, float("nan"), {}, {}, {v: str(exc) for v in fold_metrics})
    estimates = {}
    for variant in fold_metrics:
        if variant in problems:
            continue
        try:
            program = convert(estimator, dtype=variant.dtype, calibration=X, feature_names=dataset.feature_names,
                              layout=variant.layout, bins=variant.bins).program
        except TinygenError as exc:
            problems[variant] = str(exc)
            continue
        estimates[variant] = model.estimate(program, X)
    metrics = {v: float(np.mean(m)) for v, m in fold_metrics.items() if v not in problems}
    return _Evaluated(spec, estimator, float(np.mean(float_metrics)), metrics, estimates, problems)


def _evaluate_all(specs, dataset, task, folds, seed, target, jobs, progress):
    progress.start("fitting and cross-validating", len(specs))
    results = [None] * len(specs)
    if jobs == 1:
        for i, spec in enumerate(specs):
            results[i] = _evaluate(spec, dataset, task, folds, seed, target)
            progress.step()
        return results
    with ProcessPoolExecutor(max_workers=jobs) as pool:
        futures = {pool.submit(_evaluate, spec, dataset, task, folds, seed, target): i for i, spec in enumerate(specs)}
        for future in as_completed(futures):
            results[futures[future]] = future.result()
            progress.step()
    return results


class _Runner:
    """Runs candidates on the board's target (each at most once), as verify does."""

    def __init__(self, result_estimators, dataset: Dataset, board: boards.Board, name: str, jobs: int, progress):
        self.estimators, self.dataset, self.board, self.name, self.jobs = result_estimators, dataset, board, name, jobs
        self.progress = progress

    def _run(self, candidate: Candidate) -> None:
        try:
            model = convert(self.estimators[candidate.spec], dtype=candidate.variant.dtype, calibration=self.dataset.X,
                            feature_names=self.dataset.feature_names, layout=candidate.variant.layout,
                            bins=candidate.variant.bins)
            measured = compare_on_target(model, self.board.target, self.dataset.X, self.name)
        except TinygenError as exc:
            candidate.problem = str(exc)
            return
        if measured["mismatches"]:
            candidate.problem = (f"the C differs from the simulator on {measured['mismatches']} rows on "
                                 f"{self.board.target} (a tinygen bug: please report it)")
            return
        candidate.measured = measured

    def run(self, candidates: list[Candidate]) -> None:
        todo = [c for c in candidates if c.measured is None and c.problem is None]
        if not todo:
            return
        if len(todo) == 1 or self.jobs == 1:
            for candidate in todo:
                self._run(candidate)
                self.progress.step()
            return
        with ThreadPoolExecutor(max_workers=self.jobs) as pool:
            for _ in as_completed([pool.submit(self._run, c) for c in todo]):
                self.progress.step()


def _overshoot(candidate: Candidate, budgets: Budgets) -> float:
    """How far past the budgets a candidate is: its largest value / limit."""
    values = _values(candidate, budgets.board)
    return max(values[q] / limit for q, limit in budgets.limits.items())


def search(X, y, board: str = "uno", max_latency_ms: float | None = None, max_flash: int | None = None,
           max_ram: int | None = None, seed: int = 0, jobs: int = 1, quick: bool = False, task: str = "auto",
           feature_names=None, label_name: str | None = None, n_folds: int | None = None,
           progress: bool | None = None, name: str = "model", measure: bool = True) -> SearchResult:
    """Search the model grid for the most accurate model that fits `board` and the budgets.

    X, y: the training rows and labels (classification or regression, detected as `tinygen train` does).
    max_latency_ms: of the slowest row of X on the board's clock; max_flash / max_ram in bytes (RAM: static +
    stack); the board's own memories always apply. jobs: configurations fitted in parallel (processes) and
    candidates run on the emulator in parallel. quick: a small grid (one configuration per family) and 3 folds.
    progress: a progress bar on stderr (None: when stdout and stderr are terminals). name: the C name prefix of
    the builds (as verify's, from the model file name). measure=False: no emulator, every cost is the cost
    model's estimate (its error: cost_model.error).
    Returns a SearchResult: .front (the Pareto front), .best and .estimator (None when nothing fits:
    .no_fit_message() says the closest candidate and what it misses by)."""
    board_spec = boards.get(board)
    check_budgets(max_latency_ms, max_flash, max_ram)
    model = _search_cost_model(board_spec, jobs, measure)
    budgets = Budgets(board_spec, max_latency_ms, max_flash, max_ram)
    dataset, task = _search_data(X, y, feature_names, label_name, task)
    n_folds = n_folds or (3 if quick else 5)
    if isinstance(n_folds, bool) or not isinstance(n_folds, (int, np.integer)) or n_folds < 2:
        raise TinygenError(f"n_folds must be a whole number >= 2, got {n_folds!r}")
    folds = _folds(dataset.X, dataset.y, task, n_folds, seed)
    bar = ProgressBar(progress)
    evaluated = _evaluate_all(grid(task, quick), dataset, task, folds, seed, budgets.board.target, jobs, bar)
    candidates, skipped, estimators = _candidates(evaluated)
    runner = _Runner(estimators, dataset, budgets.board, name, jobs, bar) if measure else None
    if runner:
        bar.start(f"running on {budgets.board.target} (emulator)")
    best = _most_accurate_fit(candidates, budgets, model, runner)
    front = _measured_front(candidates, budgets.board, model, runner)
    closest = None if best is not None else _closest(candidates, budgets, runner)
    bar.finish()
    metric_name = "accuracy" if task == "classification" else "r2"
    return SearchResult(budgets.board, budgets, task, metric_name, n_folds, candidates, front, best, closest,
                        estimators, model, skipped)


def _search_cost_model(board_spec: boards.Board, jobs, measure: bool) -> costmodel.CostModel:
    """The cost model of the board's target, once jobs is checked to be a count, the board to have an emulated
    target and, when measuring, its emulator to be installed."""
    if isinstance(jobs, bool) or not isinstance(jobs, (int, np.integer)) or jobs < 1:
        raise TinygenError(f"jobs must be a whole number >= 1, got {jobs!r}")
    if board_spec.target is None:
        raise TinygenError(f"the search measures latency on the board's instruction set, and tinygen cannot run "
                           f"{board_spec.name} code; choose a board with an emulated target: "
                           f"{', '.join(b.name for b in boards.BOARDS.values() if b.target)}")
    model = costmodel.load(board_spec.target)
    if measure:  # before minutes of fitting: a missing emulator would fail every run
        for tool in _TARGET_TOOLS.get(board_spec.target, ()):
            toolchain.find(tool)
    return model


def _search_data(X, y, feature_names, label_name: str | None, task: str) -> tuple[Dataset, str]:
    """(the rows as a Dataset, the task), both checked as `tinygen train` checks them."""
    X = np.asarray(X, dtype=np.float64)
    y = np.asarray(y)
    names = list(feature_names) if feature_names is not None else [f"x{i}" for i in range(X.shape[1] if X.ndim == 2 else 0)]
    dataset = Dataset(X, y, names, label_name)
    train_module.check_table(X, dataset, y)
    task = train_module.detect_task(y) if task == "auto" else task
    if task not in train_module.TASKS:
        raise TinygenError(f"unknown task {task!r}; choose one of: auto, {', '.join(train_module.TASKS)}")
    return dataset, task


def _candidates(evaluated: list[_Evaluated]) -> tuple[list[Candidate], dict, dict]:
    """(a Candidate per configuration and variant, "spec (variant)" -> why it is not one, Spec -> its estimator)."""
    candidates, skipped, estimators = [], {}, {}
    for result in evaluated:
        estimators[result.spec] = result.estimator
        for variant, problem in result.problems.items():
            skipped[f"{result.spec.label} ({variant.label})"] = problem
        for variant, estimate in result.estimates.items():
            candidates.append(Candidate(result.spec, variant, result.metrics[variant], result.float_metric, estimate,
                                        index=len(candidates)))
    return candidates, skipped, estimators


def _most_accurate_fit(candidates: list[Candidate], budgets: Budgets, model: costmodel.CostModel,
                       runner: _Runner | None) -> Candidate | None:
    """The most accurate candidate within every budget: with a runner, measured, trying only those that could
    fit by the cost model; without one, by the estimates alone."""
    for candidate in sorted(candidates, key=lambda c: (-c.metric, c.estimate.cycles_max, c.estimate.flash_bytes, c.index)):
        if runner is None:
            if not misses(candidate, budgets):
                return candidate
            continue
        if not could_fit(candidate, budgets, model):
            continue
        runner.run([candidate])
        if candidate.problem is None and not misses(candidate, budgets):
            return candidate
    return None


def _measured_front(candidates: list[Candidate], board: boards.Board, model: costmodel.CostModel,
                    runner: _Runner | None) -> list[Candidate]:
    """The Pareto front of everything that fits the board's memories; with a runner, every member measured
    (measuring may drop a member, which lets others in: run until the front holds still)."""
    board_only = Budgets(board)
    while True:
        pool = [c for c in candidates if (could_fit(c, board_only, model) if runner else not misses(c, board_only))]
        front = pareto_front(pool, board)
        if runner is None or all(c.measured is not None for c in front):
            return front
        runner.run(front)


def _closest(candidates: list[Candidate], budgets: Budgets, runner: _Runner | None) -> Candidate | None:
    """When nothing fits: the candidate nearest the budgets, measured (which may move it: up to 5 tries)."""
    closest = None
    for _ in range(5):
        ranked = sorted((c for c in candidates if c.problem is None),
                        key=lambda c: (_overshoot(c, budgets), -c.metric, c.index))
        closest = ranked[0] if ranked else None
        if runner is None or closest is None or closest.measured is not None:
            break
        runner.run([closest])
    return closest
