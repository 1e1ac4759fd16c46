"""`tinygen bench --dataset basicmotions`: benchmarks of window programs (raw sensor samples -> integer features ->
model) on a real sensor recording that ships with tinygen (tinygen/sensor_data). They print numbers and are never
asserted in tests:
- accuracy on held-out recordings of the float pipeline and of its q15 and q7 integer programs (the simulator,
  which the C equals on every window), pooled over 5 folds of StratifiedGroupKFold: every recording is held out
  once, whole, and the folds keep the activities balanced;
- costs per target of the pipeline fitted on every window: C vs simulator mismatches, agreement with the float
  pipeline, flash, RAM, stack and cycles (AVR: NAME_predict_latest on the int16 stream, one window per hop, as
  firmware pushes samples) or instructions (QEMU targets: NAME_predict_q on a window's int16 samples, what
  NAME_predict_latest runs on a full ring).

The default case is issue 16's cost case: BasicMotions' accelerometer, 64-sample windows with a hop of 32, mean,
std, min, max, rms, crossings and 8 linear FFT bands per channel, then a 10-tree forest of depth 6, in q15."""
from __future__ import annotations

import functools
from dataclasses import dataclass

from sklearn.model_selection import StratifiedGroupKFold

from .api import convert
from .bench import format_cost_line, shown
from .errors import TinygenError
from .progress import progress
from .sensor_data import RAW_DATASETS
from .train import window_pipeline
from .windows import check_window, load_windows

# bench model name -> train's model kind: the presets `tinygen train --model KIND` fits on windows
WINDOW_MODELS = {"RandomForest": "forest", "LogisticRegression": "logreg", "MLP16x8": "mlp"}
DEFAULT_MODEL = "RandomForest"
DEFAULT_FEATURES = "mean,std,min,max,rms,crossings,fft8"
DEFAULT_WINDOW, DEFAULT_HOP = 64, 32
DEFAULT_CHANNELS = ("acc_x", "acc_y", "acc_z")
ACCURACY_DTYPES = ("q15", "q7")
FOLDS = 5
COLUMNS = (("target", -11), ("dtype", -6), ("windows", 8), ("mismatch", 9), ("agree", 10), ("flash B", 9),
           ("RAM B", 7), ("stack B", 8), ("mean", 10), ("min", 9), ("max", 9))


@dataclass(frozen=True)
class WindowCase:
    """A bundled raw data set and how it is cut and featurized: what every bench window table runs on."""

    dataset: str = "basicmotions"
    window: int = DEFAULT_WINDOW
    hop: int = DEFAULT_HOP
    channels: tuple[str, ...] = DEFAULT_CHANNELS
    features: str = DEFAULT_FEATURES

    def describe(self) -> str:
        return (f"{self.dataset}: {', '.join(self.channels)}; window {self.window}, hop {self.hop}; features "
                f"{self.features}")


def window_case(dataset: str, window=None, hop=None, channels=None, features=None) -> WindowCase:
    """The case for the CLI's options (None: the default), checked: a bad window, channel or feature list is a
    TinygenError before anything is fitted."""
    data = RAW_DATASETS[dataset]
    window, hop = check_window(DEFAULT_WINDOW if window is None else window,
                               hop if hop is not None else DEFAULT_HOP if window is None else None)
    chosen = tuple(channels) if channels else DEFAULT_CHANNELS
    unknown = [c for c in chosen if c not in data.channels]
    if unknown:
        raise TinygenError(f"{dataset} has no channel {', '.join(unknown)}; its channels are {', '.join(data.channels)}")
    case = WindowCase(dataset, window, hop, chosen, features or DEFAULT_FEATURES)
    window_pipeline("forest", "classification", window, list(chosen), features=case.features, hop=hop,
                    sample_rate=data.sample_rate_hz)  # says what is wrong with the feature list, if anything
    return case


def check_window_model(model: str) -> str:
    if model not in WINDOW_MODELS:
        raise TinygenError(f"bench model {model!r} does not run on raw sensor windows; choose one of "
                           f"{', '.join(WINDOW_MODELS)}")
    return WINDOW_MODELS[model]


@functools.lru_cache(maxsize=None)
def case_windows(case: WindowCase):
    data = RAW_DATASETS[case.dataset]
    return load_windows(data.path, label=data.label, group=data.group, time=data.time, window=case.window,
                        hop=case.hop, channels=list(case.channels))


def unfitted(case: WindowCase, model: str):
    """Pipeline(WindowFeatures, scaler unless a forest, model) as `tinygen train --group --window` builds it."""
    windows = case_windows(case)
    return window_pipeline(check_window_model(model), "classification", case.window, windows.channel_names,
                           features=case.features, hop=case.hop, sample_rate=RAW_DATASETS[case.dataset].sample_rate_hz)


def held_out_accuracy(case: WindowCase, model: str, seed: int = 0) -> dict[str, float]:
    """Per dtype ("float", q15, q7), the share of windows predicted right by a pipeline fitted (and converted with
    its training windows as calibration) on the other folds' recordings."""
    windows = case_windows(case)
    hits = dict.fromkeys(("float", *ACCURACY_DTYPES), 0)
    for fit_rows, test_rows in StratifiedGroupKFold(FOLDS, shuffle=True, random_state=seed).split(
            windows.X, windows.y, windows.groups):
        pipeline = unfitted(case, model).fit(windows.X[fit_rows], windows.y[fit_rows])
        truth = windows.y[test_rows]
        hits["float"] += int((pipeline.predict(windows.X[test_rows]) == truth).sum())
        for dtype in ACCURACY_DTYPES:
            program = convert(pipeline, dtype=dtype, calibration=windows.X[fit_rows])
            hits[dtype] += int((program.predict(windows.X[test_rows]) == truth).sum())
    return {dtype: count / windows.n_windows for dtype, count in hits.items()}


def print_window_accuracy(case: WindowCase, models=(), echo=print) -> None:
    windows = case_windows(case)
    echo(f"{case.describe()}: {windows.n_windows} windows of {windows.n_recordings} recordings")
    echo(f"accuracy on held-out recordings (StratifiedGroupKFold {FOLDS}, shuffled, seed 0); the dtype columns are the "
         "integer programs (simulator = C)")
    echo(f"{'model':<20}{'float':>8}" + "".join(f"{d:>8}" for d in ACCURACY_DTYPES))
    models = list(models or WINDOW_MODELS)
    for model in progress(models, "training", len(models)):
        scores = held_out_accuracy(case, model)
        echo(f"{model:<20}{scores['float']:>8.4f}" + "".join(f"{scores[d]:>8.4f}" for d in ACCURACY_DTYPES))


def window_cost_rows(case: WindowCase, model: str, targets, dtypes=(), rows: int | None = None):
    """One dict per target x dtype: compare_on_target's result on the windows (all, or the first `rows`) of the
    pipeline fitted on every window, with `agree`, the windows where the program's class is the float pipeline's."""
    from .verify import compare_on_target

    windows = case_windows(case)
    pipeline = unfitted(case, model).fit(windows.X, windows.y)
    X_run = windows.X if rows is None else windows.X[:rows]
    reference = pipeline.predict(X_run)
    variants = []
    for dtype in dtypes or ("q15",):
        converted = convert(pipeline, dtype=dtype, calibration=windows.X)
        agreed = int((converted.predict(X_run) == reference).sum())
        variants.append((converted, {"dtype": converted.dtype, "windows": len(X_run), "agree": f"{agreed}/{len(X_run)}"}))
    return ({"target": target, **variant, **compare_on_target(converted, target, X_run, "bench")}
            for target in targets for converted, variant in variants)


def print_window_cost(case: WindowCase, model: str, targets, dtypes=(), rows: int | None = None, echo=print) -> None:
    check_window_model(model)
    echo(f"{model} on {case.describe()}; fitted on every window; flash/RAM: what the program adds to the firmware "
         "(RAM includes the stream's ring buffer)")
    echo("AVR: NAME_predict_latest on the int16 stream (exact cycles); QEMU targets: NAME_predict_q on the window's "
         "int16 samples (instructions)")
    echo("mismatch: C vs simulator; agree: the program's class vs the float pipeline's")
    measured = window_cost_rows(case, model, targets, dtypes, rows)
    n_runs = len(targets) * len(dtypes or ("q15",))
    measured = list(progress(measured, "measuring", n_runs, describe=lambda r: f"{r['dtype']} on {r['target']}"))
    echo(format_cost_line(COLUMNS, {name: name for name, _ in COLUMNS}, "unit"))
    for r in measured:
        cells = {**r, "mismatch": r["mismatches"], "flash B": shown(r["flash_bytes"]), "RAM B": shown(r["ram_bytes"]),
                 "stack B": shown(r["stack_bytes"]), "mean": shown(r["cycles_per_inference"], "{:.1f}"),
                 "min": shown(r.get("cycles_min", r.get("instructions_min"))),
                 "max": shown(r.get("cycles_max", r.get("instructions_max")))}
        echo(format_cost_line(COLUMNS, cells, r.get("cycles_unit") or "-"))
