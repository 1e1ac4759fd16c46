"""The tinygen command line: parse, call the library, print. Exit codes: 0 success; 1 a verify check
failed; 2 bad input or usage (a one-line message on stderr); 3 an internal error (a bug: please report)."""
from __future__ import annotations

import functools
import json
import os
import sys
import warnings
from dataclasses import dataclass
from pathlib import Path

import click
import numpy as np
from sklearn.base import is_classifier

from . import board_port, board_sim, boards, charts, data, doctor as doctor_module, flash, formats, junit, modelio
from . import shipped
from . import train as train_module
from .api import convert, declare_raw_samples, load
from .emit import check_name, suggest_name
from .emulated_device import check_target
from .errors import TinygenError
from .features import DEFAULT_FEATURES, WindowFeatures
from .featurespec import GRAMMAR
from .files import atomic_write_text
from .quantize import BINS_CHOICES, DTYPES, LAYOUT_CHOICES
from .sensor_data import RAW_DATASETS
from .targets import PLANNED, TARGETS
from .trainable import describe
from .verify import calibration_diagnosis, verify as run_verify
from .version import __version__
from .windows import Windows, window_shape

EXIT_CHECK_FAILED, EXIT_BAD_INPUT, EXIT_INTERNAL = 1, 2, 3
EXIT_BROKEN_PIPE = 141
FORMATS = formats.FORMATS


def friendly(command):
    """Turn TinygenError into `error: ...` + exit 2, and any other exception into one line + exit 3
    (set TINYGEN_DEBUG=1 for the traceback)."""

    @functools.wraps(command)
    def wrapper(*args, **kwargs):
        try:
            return command(*args, **kwargs)
        except TinygenError as exc:
            click.echo(f"error: {exc}", err=True)
            sys.exit(EXIT_BAD_INPUT)
        except (click.exceptions.Exit, click.exceptions.Abort, click.ClickException, SystemExit):
            raise
        except BrokenPipeError:  # the reader went away (`tinygen simulate ... | head`): stop quietly as Unix
            _drop_stdout()       # tools do, with the status of a process ended by SIGPIPE (128 + 13)
            sys.exit(EXIT_BROKEN_PIPE)
        except Exception as exc:  # noqa: BLE001 - the last line of defence against a traceback
            if os.environ.get("TINYGEN_DEBUG"):
                raise
            message = " ".join(str(exc).split())[:300]
            click.echo(f"internal error: {type(exc).__name__}: {message} (a tinygen bug: please report it; "
                       "TINYGEN_DEBUG=1 shows the traceback)", err=True)
            sys.exit(EXIT_INTERNAL)

    return wrapper


def _drop_stdout() -> None:
    """Point stdout at /dev/null, so that Python's final flush of what the closed pipe did not take raises
    nothing more."""
    try:
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    except (OSError, ValueError):  # no real file descriptor (e.g. click's test runner): nothing to flush to
        pass


class _UsageLine(click.ClickException):
    """A usage error (bad option value, missing option) shown as one `error: ...` line, exit 2."""

    exit_code = EXIT_BAD_INPUT

    def show(self, file=None):
        click.echo(f"error: {self.format_message()}", err=True)


def _usage_line(exc: click.UsageError) -> _UsageLine:
    message = " ".join(exc.format_message().split())
    hint = f" (see '{exc.ctx.command_path} --help')" if exc.ctx is not None else ""
    return _UsageLine(message + hint)


_NO_ARGS_HELP = getattr(click.exceptions, "NoArgsIsHelpError", ())  # click >= 8.2: `tinygen` alone shows help


class _Group(click.Group):
    """click's usage errors are several lines ("Usage: ... Error: ..."); tinygen promises one line."""

    def make_context(self, info_name, args, parent=None, **extra):
        try:
            return super().make_context(info_name, args, parent=parent, **extra)
        except _NO_ARGS_HELP:
            raise
        except click.UsageError as exc:
            raise _usage_line(exc) from None

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except _NO_ARGS_HELP:
            raise
        except click.UsageError as exc:
            raise _usage_line(exc) from None


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="tinygen")
def main():
    """tinygen: scikit-learn models -> small, verified fixed-point C for microcontrollers.

    Raw sensor data (one CSV row per sample): `train --group COLUMN --window N` fits a window model (windowing and
    features run inside the integer program); export, simulate, verify and report then read such CSVs with --group
    COLUMN, and their rows are the model's windows."""
    # Models trained by tinygen carry their feature names; the commands match CSV columns to them by name
    # (data.load_for_model) and then give scikit-learn arrays in the model's order, which it would warn about.
    warnings.filterwarnings("ignore", message="X does not have valid feature names", category=UserWarning)


def _load_estimator(path, allow_pickle):
    return modelio.load_model(path, allow_pickle=allow_pickle)


def _csv_options(command):
    """--delimiter, --decimal and --by-position for a command that reads a CSV: they reach it as one
    data.CsvFormat, ``csv_format`` (put @friendly above this decorator: a bad value is a one-line error)."""

    @functools.wraps(command)
    def wrapper(*args, delimiter=",", decimal=".", by_position=False, **kwargs):
        delimiter = "\t" if delimiter in ("\\t", "tab", "TAB") else delimiter
        return command(*args, csv_format=data.CsvFormat(delimiter, decimal, by_position), **kwargs)

    for option in (
        click.option("--by-position", is_flag=True, help="Take the CSV's feature columns in the model's order, only "
                     "their count checked, instead of matching them to the model's feature names (train: the model "
                     "then records no names)."),
        click.option("--decimal", default=".", show_default=True, help="Decimal mark of the CSV's numbers: . or , "
                     "(European CSV: --delimiter ';' --decimal ',')."),
        click.option("--delimiter", default=",", show_default=True, help="Field separator of the CSV: , ; | or \\t."),
    ):
        wrapper = option(wrapper)
    return wrapper


@dataclass(frozen=True)
class _Windowing:
    """--group, --window, --hop and --time of a command that reads a window model's raw sensor CSV (None: not given)."""

    group: str | None = None
    window: int | None = None
    hop: int | None = None
    time: str | None = None

    @property
    def given(self) -> list[str]:
        return [option for option, value in (("--group", self.group), ("--window", self.window), ("--hop", self.hop),
                                             ("--time", self.time)) if value is not None]


def _window_options(command):
    """--group, --window, --hop and --time for a command that reads data for a model: they reach it as one
    _Windowing, ``windowing`` (what _feature_data takes)."""

    @functools.wraps(command)
    def wrapper(*args, group=None, window=None, hop=None, time_column=None, **kwargs):
        return command(*args, windowing=_Windowing(group, window, hop, time_column), **kwargs)

    for option in (
        click.option("--time", "time_column", metavar="COLUMN", help="Raw sensor CSV: a time column; samples are sorted "
                     "by it within each recording."),
        click.option("--hop", type=int, metavar="N", help="Raw sensor CSV: samples from one window's start to the next "
                     "[default: the model's hop]."),
        click.option("--window", type=int, metavar="N", help="Raw sensor CSV: samples per window; only the model's own "
                     "(a window model's window is fixed when it is trained)."),
        click.option("--group", metavar="COLUMN", help="The CSV holds raw sensor samples, one row per sample, for a "
                     "window model (train --group --window): the recording column. Each recording is cut into the "
                     "model's windows, its channel columns matched by name; the rows are then windows."),
    ):
        wrapper = option(wrapper)
    return wrapper


def _feature_data(path, label, model, csv_format, *, require_label=False, windowing=_Windowing()):
    """Rows of a CSV as the inputs of ``model`` (an estimator, or the Program of a manifest), its columns matched
    to the model's feature names (data.load_for_model). Missing values pass where the model handles them:
    the NaN-routing tree families of an estimator, and every manifest (the simulator runs what the C does).
    A window model's CSV holds raw samples: its rows are the windows of _window_data (a windows.Windows)."""
    from .frontend import check_supported, feature_names_of, handles_missing
    from .ir import Program

    manifest = isinstance(model, Program)
    if not manifest:
        check_supported(model)  # an unsupported model is the first thing to say, before any column
    shape = window_shape(model)
    allow_missing = manifest or handles_missing(model)
    if shape is not None or windowing.given:
        return _window_data(path, label, shape, csv_format, windowing, allow_missing)
    if manifest:
        names, n_features, nan = data.given_names(model.feature_names), model.n_features, {"allow_nan": True}
    else:
        names, n_features = data.given_names(feature_names_of(model)), _n_features_of(model)
        nan = {"allow_missing": allow_missing}
    return data.load_for_model(path, label, names, n_features, fmt=csv_format, require_label=require_label,
                               note=functools.partial(click.echo, err=True), **nan)


def _listed_options(options: list[str]) -> str:
    """["--group", "--hop", "--time"] -> "--group, --hop and --time"."""
    return " and ".join([", ".join(options[:-1]), options[-1]] if len(options) > 1 else options)


def _refuse_options(given: list[str], rest: str) -> None:
    """A one-line error for options given where they mean nothing: "--window is for raw sensor windows: ..."."""
    if given:
        raise TinygenError(f"{_listed_options(given)} {'is' if len(given) == 1 else 'are'} {rest}")


def _window_data(path, label, shape, csv_format, windowing, allow_missing):
    """The windows of a raw sensor CSV as the inputs of a window model that reads ``shape`` (windows.WindowShape;
    None: the model reads feature rows, and the window options are an error): cut with the model's window and
    channels (by name), and its hop unless --hop is given. The summary goes to stderr."""
    from .windows import load_windows

    given = windowing.given
    if shape is None:
        one = len(given) == 1
        raise TinygenError(f"{_listed_options(given)} {'is' if one else 'are'} for window models (a Pipeline whose "
                           "first step is WindowFeatures, as `train --group --window` fits); this model reads rows of "
                           f"features: leave {'it' if one else 'them'} out")
    if windowing.group is None:
        raise TinygenError(f"the model reads {shape.describe()}: pass --group COLUMN, and a CSV of raw samples (one row "
                           f"per sample: a recording column, the channel columns {', '.join(shape.channels)}, and "
                           "optionally the label and a time column, --time)")
    if windowing.window is not None and windowing.window != shape.window:
        raise TinygenError(f"--window {windowing.window}: the model's windows hold {shape.window} samples, fixed when "
                           "it was trained; leave --window out")
    if csv_format.by_position:
        raise TinygenError("--by-position is for feature tables; a raw sensor CSV's channels are matched to the "
                           "model's by name")
    windows = load_windows(path, label=label, group=windowing.group, window=shape.window,
                           hop=shape.hop if windowing.hop is None else windowing.hop, channels=list(shape.channels),
                           time=windowing.time, fmt=csv_format, allow_missing=allow_missing)
    click.echo(f"{path}: {windows.summary()}", err=True)
    for line in windows.notes():
        click.echo(f"note: {line}", err=True)
    return windows


def _n_features_of(estimator):
    n = getattr(estimator, "n_features_in_", None)
    return int(n) if n is not None else None


def _csv_flags(csv_format) -> str:
    """The options that read a CSV as ``csv_format`` does, for a command line printed to the user."""
    delimiter = "'\\t'" if csv_format.delimiter == "\t" else repr(csv_format.delimiter)
    return ((f" --delimiter {delimiter}" if csv_format.delimiter != "," else "")
            + (f" --decimal {csv_format.decimal!r}" if csv_format.decimal != "." else "")
            + (" --by-position" if csv_format.by_position else ""))


def _names_option(values) -> list[str]:
    """Repeated / comma-separated column names (--columns A,B --columns C) -> ["A", "B", "C"]."""
    return [name.strip() for value in values for name in value.split(",") if name.strip()]


# ---- demo ------------------------------------------------------------------------------------------
@main.command()
@click.option("-o", "--output", "outdir", default="tinygen-demo", show_default=True, type=click.Path(file_okay=False),
              help="Where the model, header, manifest and data go.")
@click.option("--dataset", default="breast_cancer", show_default=True, type=click.Choice(data.BUNDLED))
@click.option("--model", "kind", default="logreg", show_default=True, help="Model kind (see `tinygen train`).")
@click.option("--dtype", default="q15", show_default=True, type=click.Choice(DTYPES))
@friendly
def demo(outdir, dataset, kind, dtype):
    """Train, quantize, emit C, compile it on this machine and check it row by row against the simulator."""
    from sklearn.model_selection import train_test_split

    bundle = data.load_bundled(dataset)
    task = train_module.detect_task(bundle.y)
    stratify = bundle.y if task == "classification" else None
    X_train, X_test, y_train, y_test = train_test_split(bundle.X, bundle.y, test_size=0.25, random_state=0, stratify=stratify)
    train_set = data.Dataset(X_train, y_train, bundle.feature_names, bundle.label_name)
    click.echo(f"training {kind} on {dataset}: {len(X_train)} rows for training, {len(X_test)} held out")
    estimator = train_module.fit(train_set, kind, seed=0)
    train_module.name_features(estimator, bundle.feature_names)  # so that verify/simulate match the CSV by name
    name = suggest_name(dataset)
    model = convert(estimator, dtype=dtype, calibration=X_train, feature_names=bundle.feature_names)
    out = Path(outdir)
    paths = model.save(out, name)
    modelio.save_model(estimator, out / f"{name}.skops")
    data.write_csv(data.Dataset(X_test, y_test, bundle.feature_names, bundle.label_name), out / f"{name}_test.csv")
    # the files just written, as they ship: the header checked against its manifest, compiled and run
    report = run_verify(estimator, X_test, y_test, shipped=shipped.load(paths["manifest"]))
    on_host, metric_name = report["targets"]["host"], report["metric_name"]
    rows = [
        ("model", f"{model.program.source}"),
        (f"float {metric_name}", f"{report['float_metric']:.4f}"),
        (f"{model.dtype} {metric_name} (simulator)", f"{report['fixed_metric']:.4f}"),
        ("agreement with float model", f"{report['agreement']:.4f}"),
        ("C vs simulator mismatches", f"{on_host['mismatches']} of {on_host['rows']} rows (host gcc)"),
        ("header size", f"{paths['header'].stat().st_size} bytes"),
        ("host object size", f"{on_host['flash_bytes']} bytes (gcc -Os, text+data)"),
        ("files", f"{paths['header']}, {paths['manifest']}, {out / (name + '.skops')}, {out / (name + '_test.csv')}"),
    ]
    width = max(len(k) for k, _ in rows)
    click.echo("")
    for key, value in rows:
        click.echo(f"  {key:<{width}}  {value}")
    broken = [c["name"] for c in report["checks"] if not c["passed"] and c["name"] in (shipped.CHECK_NAME, "C == simulator on host")]
    if broken:  # files just written, C and simulator from one program: either failing is a tinygen bug
        raise TinygenError(f"{' and '.join(broken)} failed; please report this bug")


# ---- dataset -----------------------------------------------------------------------------------------
@main.command()
@click.argument("name", type=click.Choice(data.BUNDLED))
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False), help="CSV file to write.")
@friendly
def dataset(name, output):
    """Write a dataset that ships with scikit-learn as CSV (label column: target)."""
    bundle = data.load_bundled(name)
    data.write_csv(bundle, output)
    click.echo(f"wrote {output}: {bundle.n_rows} rows, {bundle.n_features} features + label column 'target'")


# ---- train -------------------------------------------------------------------------------------------
@main.command()
@click.argument("data_csv", metavar="DATA.csv", type=click.Path(dir_okay=False))
@click.option("--label", help="Name of the label column (required, except for isolation-forest: it trains on the "
              "features alone, and a column named here is left out of them and not used).")
@click.option("--model", "kind", help=f"Model kind: {', '.join(train_module.KINDS)}. isolation-forest "
              "(unsupervised anomaly detection) defaults to 25 trees of 64-row subsamples, sized for an Arduino Uno. "
              "Required unless --search.")
@click.option("--param", "params", multiple=True, metavar="KEY=VALUE", help="Estimator parameter (repeatable).")
@click.option("--seed", default=0, show_default=True, type=int)
@click.option("--task", default="auto", show_default=True, type=click.Choice(("auto", "classification", "regression")))
@click.option("--scaler", default="auto", show_default=True, type=click.Choice(train_module.SCALERS),
              help="Scaler in front of the model, folded into the integer program at export (auto: standard; none for trees).")
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False), help="MODEL.skops to write.")
@click.option("--allow-pickle", is_flag=True, help="Allow writing .joblib/.pkl.")
@click.option("--search", is_flag=True, help="Search models, sizes and dtypes for the most accurate one that fits --board "
              "and the budgets (cross-validated, measured on the board's instruction set); prints the Pareto front.")
@click.option("--board", type=click.Choice(list(boards.BOARDS)), help="--search: the board to fit.")
@click.option("--max-latency-ms", type=float, help="--search: latency budget (the slowest row of the data, on the board's clock).")
@click.option("--max-flash", type=int, help="--search: flash budget in bytes (default: the board's).")
@click.option("--max-ram", type=int, help="--search: RAM budget in bytes, static + stack (default: the board's).")
@click.option("--jobs", default=1, show_default=True, type=int, help="--search: fits and emulator runs in parallel.")
@click.option("--quick", is_flag=True, help="--search: a small grid (one configuration per family) and 3 folds.")
@click.option("--json", "json_path", type=click.Path(dir_okay=False), help="--search: write the front, the choice and "
              "the cost model's error as JSON.")
@click.option("--columns", multiple=True, metavar="A,B,...", help="Only these feature columns, in this order.")
@click.option("--drop", "drop", multiple=True, metavar="A,B,...", help="All feature columns but these.")
@click.option("--test-size", type=click.FloatRange(0, 1, max_open=True), help="Share of the rows held out (stratified "
              "for classifiers) to print the accuracy (R^2) and confusion matrix on; 0 skips it; the saved model is "
              "fitted on all rows [default: 0.2]; with --group, the share of the recordings.")
@click.option("--group", metavar="COLUMN", help="Raw sensor CSV (one row per sample): the recording column. With --window, train cuts "
              "each recording into windows (never across recordings) and fits on their features.")
@click.option("--window", type=int, metavar="N", help="Raw sensor CSV: samples per window (with --group).")
@click.option("--hop", type=int, metavar="N", help="Raw sensor CSV: samples from one window's start to the next [default: --window].")
@click.option("--channels", multiple=True, metavar="A,B,...", help="Raw sensor CSV: the channel columns, in this order "
              "[default: every numeric column but the label, group and time columns].")
@click.option("--time", "time_column", metavar="COLUMN", help="Raw sensor CSV: a time column; samples are sorted by it within each "
              "recording (two samples of a recording at one time are an error).")
@click.option("--sample-rate", type=float, metavar="HZ", help="Raw sensor CSV: samples per second (the filter features give Hz).")
@click.option("--features", metavar="SPEC", help=f"Raw sensor CSV: the window features of each channel [default: {DEFAULT_FEATURES}]; "
              f"items: {GRAMMAR}.")
@friendly
@_csv_options
def train(data_csv, label, kind, params, seed, task, scaler, output, allow_pickle, search, board, max_latency_ms,
          max_flash, max_ram, jobs, quick, json_path, columns, drop, test_size, csv_format, **raw):
    """Fit a model on a CSV file and save it (.skops); with --search, find the model that fits a board. The model
    keeps the CSV's column names: later commands match columns by name. With --group and --window the CSV holds raw
    sensor samples, one row per sample: the model is Pipeline(WindowFeatures, scaler, model) on their windows."""
    columns, drop = _names_option(columns), _names_option(drop)
    windowed = [_option_name(key) for key, value in raw.items() if value not in (None, ())]
    if search:
        if windowed:
            raise TinygenError(f"--search does not take raw sensor windows yet: leave out {', '.join(windowed)}")
        if test_size is not None:
            raise TinygenError("--test-size is not for --search: the search cross-validates every candidate")
        return _train_search(data_csv, label, kind, params, seed, task, scaler, output, allow_pickle, board,
                             max_latency_ms, max_flash, max_ram, jobs, quick, json_path, columns, drop, csv_format)
    given = [opt for opt, value in (("--board", board), ("--max-latency-ms", max_latency_ms), ("--max-flash", max_flash),
                                    ("--max-ram", max_ram), ("--quick", quick), ("--json", json_path),
                                    ("--jobs", jobs != 1)) if value]
    if given:
        raise TinygenError(f"{', '.join(given)} {'is' if len(given) == 1 else 'are'} for --search; add --search, "
                           "or leave them out")
    if kind is None:
        raise TinygenError(f"train needs --model KIND (one of {', '.join(train_module.KINDS)}), or --search with --board")
    train_module.check_kind(kind)
    if windowed:
        return _train_windows(data_csv, label, kind, params, seed, task, scaler, output, allow_pickle,
                              columns + drop, test_size, csv_format, raw)
    unsupervised = kind in train_module.UNSUPERVISED_KINDS
    if label is None and not unsupervised:
        raise TinygenError(f"model {kind!r} needs --label COLUMN (only {', '.join(train_module.UNSUPERVISED_KINDS)} "
                           "trains without labels)")
    if unsupervised and test_size is not None:
        raise TinygenError(f"--test-size is for models trained on labels; {kind} reports the share of training rows "
                           "it flags as outliers")
    parsed = train_module.parse_params(list(params))
    modelio.check_save_path(output, allow_pickle=allow_pickle)  # before the fits, which may take a while
    dataset = data.load_csv(data_csv, label, require_label=not unsupervised, fmt=csv_format,
                            allow_missing=train_module.handles_missing(kind),
                            choose=data.column_choice(columns, drop, label))
    estimator = train_module.fit(dataset, kind, params=parsed, seed=seed, task=task, scaler=scaler)
    if unsupervised:
        outliers = float(np.mean(estimator.predict(dataset.X) == -1))
        what = f"training rows flagged as outliers {outliers:.4f}"
        if label is not None:
            what += f" (label column {label!r} left out of the features and not used)"
        held_out = None
    else:
        score = estimator.score(dataset.X, dataset.y)
        what = f"{'training accuracy' if is_classifier(estimator) else 'training R^2'} {score:.4f}"
        test_size = 0.2 if test_size is None else test_size
        held_out = train_module.holdout(dataset, kind, test_size=test_size, params=parsed, seed=seed, task=task,
                                        scaler=scaler) if test_size else None
    if not csv_format.by_position:
        train_module.name_features(estimator, dataset.feature_names)
    modelio.save_model(estimator, output, allow_pickle=allow_pickle)
    click.echo(f"wrote {output}: {type(estimator).__name__} on {dataset.n_rows} rows x {dataset.n_features} features, {what}")
    if held_out is not None:
        _print_holdout(held_out, test_size, seed, dataset.n_rows)


def _print_holdout(held_out, test_size, seed, n_rows):
    if held_out.skipped:
        click.echo(f"held-out check skipped: {held_out.skipped}")
        return
    split = "stratified" if held_out.stratified else "random"
    click.echo(f"held-out {held_out.metric_name} {held_out.value:.4f} on {held_out.test_rows} rows ({split} split, "
               f"--test-size {test_size}, fitted on the other {held_out.train_rows}; the saved model is fitted on all "
               f"{n_rows} rows)")
    _print_confusion(held_out)


def _print_confusion(held_out, unit: str = "rows") -> None:
    if held_out.confusion is not None:
        click.echo(f"confusion matrix of the held-out {unit} (rows: true label, columns: predicted):")
        for line in held_out.confusion_lines():
            click.echo(line)


def _option_name(key: str) -> str:
    return "--" + {"time_column": "time"}.get(key, key).replace("_", "-")


def _train_windows(data_csv, label, kind, params, seed, task, scaler, output, allow_pickle, columns, test_size,
                   csv_format, raw):
    """train on a raw sensor CSV: windows of each recording -> Pipeline(WindowFeatures, scaler, model)."""
    from .windows import check_window, load_windows

    missing = [option for option, key in (("--group COLUMN", "group"), ("--window N", "window")) if raw[key] is None]
    if missing:
        raise TinygenError(f"a raw sensor CSV (one row per sample) needs {' and '.join(missing)} besides "
                           f"{', '.join(_option_name(k) for k, v in raw.items() if v not in (None, ()))}")
    if label is None:
        raise TinygenError("training on windows needs --label COLUMN: each window's label is its samples' label")
    if columns or csv_format.by_position:
        raise TinygenError("--columns, --drop and --by-position are for feature tables; a raw sensor CSV names its "
                           "channel columns with --channels")
    parsed = train_module.parse_params(list(params))
    window, _ = check_window(raw["window"], raw["hop"])
    WindowFeatures(window, features=raw["features"] or DEFAULT_FEATURES, sample_rate=raw["sample_rate"]).specs()
    modelio.check_save_path(output, allow_pickle=allow_pickle)  # all before the CSV is read
    windows = load_windows(data_csv, label=label, group=raw["group"], window=raw["window"], hop=raw["hop"],
                           channels=_names_option(raw["channels"]) or None, time=raw["time_column"], fmt=csv_format,
                           allow_missing=train_module.handles_missing(kind))
    click.echo(windows.summary())
    for line in windows.notes():
        click.echo(f"note: {line}", err=True)
    options = dict(features=raw["features"], sample_rate=raw["sample_rate"], params=parsed, task=task, scaler=scaler)
    estimator = train_module.fit_windows(windows, kind, seed=seed, **options)
    test_size = 0.2 if test_size is None else test_size
    held_out = train_module.holdout_windows(windows, kind, test_size=test_size, seed=seed, **options) \
        if test_size else None
    modelio.save_model(estimator, output, allow_pickle=allow_pickle)
    score = estimator.score(windows.X, windows.y)
    what = f"{'training accuracy' if is_classifier(estimator) else 'training R^2'} {score:.4f}"
    steps = ", ".join(type(step).__name__ for _, step in estimator.steps)
    click.echo(f"wrote {output}: Pipeline({steps}) on {windows.n_windows} windows, "
               f"{len(estimator[0].feature_names_out_)} features ({len(windows.channel_names)} channels x "
               f"{len(estimator[0].specs())} items: {estimator[0].features}), {what}")
    if held_out is not None:
        _print_window_holdout(held_out, test_size, windows)


def _print_window_holdout(held_out, test_size, windows) -> None:
    if held_out.skipped:
        click.echo(f"held-out check skipped: {held_out.skipped}")
        return
    click.echo(f"held-out {held_out.metric_name} {held_out.value:.4f} on {held_out.test_rows} windows of "
               f"{held_out.recordings} recordings (split by recording: --test-size {test_size} of the "
               f"{len(set(windows.groups))} recordings with windows held out whole; fitted on the other "
               f"{held_out.train_rows} windows; the saved model is fitted on all {windows.n_windows})")
    _print_confusion(held_out, "windows")


def _print_front(result) -> None:
    """The search's Pareto front, what its latency stands on (QEMU: instructions), the cost model's error on its runs."""
    click.echo(f"Pareto front ({result.metric_name} vs latency vs flash; measured on {result.board.target} over every row, "
               "as verify measures them; * = chosen):")
    click.echo(result.table())
    if boards.latency_note(result.board):
        click.echo(f"latency: {boards.latency_note(result.board)}")
    errors = result.measured_errors()
    if errors:
        shown = ", ".join(f"{what} {100 * errors[key]['max_relative']:.1f}% / {100 * errors[key]['mean_relative']:.1f}%"
                          for what, key in ((result.cycles_unit, "cycles_mean"),
                                            (f"slowest-row {result.cycles_unit}", "cycles_max"), ("flash", "flash")))
        click.echo(f"cost model (which chose what to run) vs these {errors['flash']['programs']} runs, largest / mean "
                   f"error: {shown}")


def _train_search(data_csv, label, kind, params, seed, task, scaler, output, allow_pickle, board, max_latency_ms,
                  max_flash, max_ram, jobs, quick, json_path, columns, drop, csv_format):
    from . import model_search as search_module

    given = [opt for opt, value in (("--model", kind), ("--param", params), ("--scaler", scaler != "auto")) if value]
    if given:
        raise TinygenError(f"--search chooses the model itself: leave out {', '.join(given)}")
    if board is None:
        raise TinygenError("--search needs --board BOARD: the board the model must fit "
                           f"({', '.join(b for b, spec in boards.BOARDS.items() if spec.target)})")
    if label is None:
        raise TinygenError("--search needs --label COLUMN: candidates are compared on their accuracy against the labels")
    search_module.check_budgets(max_latency_ms, max_flash, max_ram)
    modelio.check_save_path(output, allow_pickle=allow_pickle)
    dataset = data.load_csv(data_csv, label, require_label=True, fmt=csv_format,
                            choose=data.column_choice(columns, drop, label))
    name = suggest_name(Path(output).stem)
    result = search_module.search(dataset.X, dataset.y, board=board, max_latency_ms=max_latency_ms, max_flash=max_flash,
                                  max_ram=max_ram, seed=seed, jobs=jobs, quick=quick, task=task,
                                  feature_names=dataset.feature_names, label_name=label, name=name)
    click.echo(f"searched {len(result.candidates)} candidates ({len({c.spec for c in result.candidates})} models x their dtypes "
               f"and layouts) on {dataset.n_rows} rows of {data_csv} ({result.folds}-fold cross-validated {result.metric_name} of the "
               f"exported program; costs on {result.board.description}, {result.budgets.describe()})")
    _print_front(result)
    if json_path:
        atomic_write_text(json_path, json.dumps(result.to_dict(), indent=2) + "\n")
    if result.best is None:
        raise TinygenError(result.no_fit_message())
    best = result.best
    if not csv_format.by_position:
        train_module.name_features(result.estimator, dataset.feature_names)
    modelio.save_model(result.estimator, output, allow_pickle=allow_pickle)
    flags = best.variant.flags()
    m = best.measured
    click.echo(f"wrote {output}: {best.spec.label}, {result.metric_name} {best.metric:.4f} (cross-validated, "
               f"{best.variant.label}); on the {result.board.name}"
               f"{f' (measured on {result.board.target}, a stand-in core)' if result.board.target_stand_in else ''}: "
               f"{m['flash_bytes']} B flash, "
               f"{m['ram_bytes']} B RAM + {m['stack_bytes']} B stack, {m['cycles_per_inference']:.0f} {result.cycles_unit} per inference "
               f"(mean; max {best.value('cycles_max'):.0f}: {best.latency_ms(result.board):.3f} ms)")
    click.echo(f"export it with {flags}:")
    flags += _csv_flags(csv_format)
    click.echo(f"  tinygen export {output} {flags} --calibration {data_csv} --label {label} --board {board} -o OUTDIR")
    click.echo(f"  tinygen verify {output} --data {data_csv} --label {label} {flags} --target {result.board.target} "
               f"--board {board}")


# ---- export ------------------------------------------------------------------------------------------
@main.command()
@click.argument("model_path", metavar="MODEL", type=click.Path(dir_okay=False))
@click.option("--dtype", type=click.Choice((*DTYPES, "auto")), help="Number format [default: exact for trees, q15 "
              "otherwise]; auto: the one with the least flash (on --board, else the Uno) whose accuracy on the "
              "calibration data holds --max-accuracy-drop.")
@click.option("--calibration", type=click.Path(dir_okay=False), help="CSV of typical inputs (needed for q-dtypes).")
@click.option("--label", help="Label column of the calibration CSV, left out of the features (--dtype auto measures "
              "the accuracy against it; without it, against the float model's predictions).")
@click.option("--max-accuracy-drop", type=float, help="--dtype auto: allowed drop of accuracy (R^2 for regressors) "
              "from the float model's [default: verify's per dtype].")
@click.option("--name", help="C name prefix and file name (default: the model file's name).")
@click.option("--format", "fmt", default="header", show_default=True, type=click.Choice(FORMATS))
@click.option("-o", "--output", "outdir", required=True, type=click.Path(), help="Output directory (not a file name).")
@click.option("--board", type=click.Choice(list(boards.BOARDS)), help="Refuse (writing nothing) if the model does not fit it.")
@click.option("--layout", default="auto", show_default=True, type=click.Choice(LAYOUT_CHOICES),
              help="Trees: inline if/else code (fastest), tables walked by a loop (smallest), or auto (the smaller).")
@click.option("--bins/--no-bins", default=None,
              help="Trees (exact): compare each feature's rank among its thresholds (bins) or 32-bit keys [default: the smaller].")
@click.option("--raw-scale", "raw_scales", multiple=True, callback=lambda ctx, param, values: _parse_channel_values(
              values, "--raw-scale", float), metavar="CH=S[,CH=S...]",
              help="Window models: per channel, the real value of one step of the raw int16 samples the device feeds to "
              "NAME_predict_window_q and NAME_push (e.g. acc_x=0.000061 for a +-2 g accelerometer); if one channel has "
              "one, every channel needs one [default: formats chosen from the calibration windows].")
@click.option("--raw-offset", "raw_offsets", multiple=True, callback=lambda ctx, param, values: _parse_channel_values(
              values, "--raw-offset", int), metavar="CH=O[,CH=O...]",
              help="Window models: per channel, the raw int16 value that means 0 (e.g. 512 for a 10-bit ADC centred at "
              "mid-scale) [default: 0].")
@click.option("--trainable", is_flag=True, help="Linear models and an MLP's last layer (q15): the weights live in RAM "
              "and learn on the device (NAME_init, NAME_partial_fit, NAME_weights; a StandardScaler in front, and an "
              "MLP's hidden layers, stay frozen ops).")
@click.option("--learning-rate", "learning_rate_spec", metavar="SPEC", help="--trainable: constant:ETA, "
              "invscaling:ETA0[:POWER_T] or optimal (needs --l2); ETA as 0.01 or 2^-7, rounded to a power of two "
              "[default: constant:2^-7].")
@click.option("--l2", "l2_alpha", metavar="ALPHA", help="--trainable: the L2 penalty's alpha, rounded to a power of two, "
              "applied as a shift decay each step [default: none].")
@click.option("--allow-pickle", is_flag=True, help="Allow loading .joblib/.pkl (pickle runs code).")
@friendly
@_csv_options
@_window_options
def export(model_path, dtype, calibration, label, max_accuracy_drop, name, fmt, outdir, board, layout, bins,
           raw_scales, raw_offsets, trainable, learning_rate_spec, l2_alpha, allow_pickle, csv_format, windowing):
    """Write OUTDIR/NAME.h (the C) and OUTDIR/NAME.json (the integer program), plus the --format's package. A window
    model (train --group --window) calibrates on a raw sensor CSV: --calibration RAW.csv --group COLUMN."""
    formats.check_outdir(outdir, name)  # -o out/model.h is a file name, not the output directory (--name model)
    name = check_name(name) if name is not None else suggest_name(Path(model_path).stem)
    formats.check_name(name, fmt)  # a package may refuse more names (e.g. one whose header shadows <stdint.h>)
    if max_accuracy_drop is not None and dtype != "auto":
        raise TinygenError("--max-accuracy-drop is for --dtype auto (verify takes it too, to check a chosen dtype)")
    if dtype == "auto" and calibration is None:
        raise TinygenError("--dtype auto needs --calibration DATA.csv (and --label COLUMN): each dtype's accuracy is "
                           "measured on it")
    if windowing.given and calibration is None:
        raise TinygenError(f"{_listed_options(windowing.given)} {'is' if len(windowing.given) == 1 else 'are'} for "
                           "reading the --calibration CSV as raw sensor samples: add --calibration RAW.csv")
    estimator = _load_estimator(model_path, allow_pickle)
    raw_samples = {channel: (raw_scales.get(channel), raw_offsets.get(channel))
                   for channel in dict.fromkeys([*raw_scales, *raw_offsets])} or None
    if raw_samples is not None:  # its errors before the calibration CSV is read
        from .frontend import to_float_program

        declare_raw_samples(to_float_program(estimator), raw_samples)
    X, y, names = None, None, None
    if calibration is not None:
        calib = _feature_data(calibration, label, estimator, csv_format, require_label=label is not None,
                              windowing=windowing)
        X, y, names = calib.X, calib.y if label is not None else None, calib.feature_names
    options = dict(feature_names=names, layout=layout, bins=bins, raw_samples=raw_samples)
    if trainable or learning_rate_spec is not None or l2_alpha is not None:
        model = _trainable_export(estimator, dtype, X, names, trainable, learning_rate_spec, l2_alpha)
    elif dtype == "auto":
        from .precision import choose_dtype

        choice = choose_dtype(estimator, X, y, board=board or "uno", max_accuracy_drop=max_accuracy_drop, name=name,
                              **options)
        click.echo(choice.reason)
        model = choice.model
    else:
        model = convert(estimator, dtype=dtype, calibration=X, **options)
    if not trainable:
        _export_notes(estimator, model.program, X, y)
    _window_export_notes(model.program, X, windowing)
    if board:
        sizes = boards.check_model(model, boards.get(board), name)
        click.echo(f"fits the {board}: {boards.fit_line(boards.get(board), sizes, name)}")
    paths = formats.export(model, outdir, name, fmt, example=None if X is None else X[0])
    written = [str(paths[key]) for key in ("header", "manifest", "package") if key in paths]
    click.echo(f"wrote {', '.join(written[:-1])} and {written[-1]} ({model.program.source}, {model.dtype})")


def _trainable_export(estimator, dtype, X, names, trainable: bool, spec, l2_alpha):
    """export --trainable: the trainable model, and the learning rate and alpha as the device runs them."""
    if not trainable:
        raise TinygenError("--learning-rate and --l2 are for --trainable exports")
    if dtype == "auto":
        raise TinygenError("--trainable exports in q15; leave out --dtype auto")
    if X is None:
        raise TinygenError("--trainable needs --calibration DATA.csv: the input and weight formats are chosen from it")
    model = convert(estimator, dtype=dtype, calibration=X, feature_names=names, trainable=True, learning_rate=spec,
                    l2=l2_alpha)
    layer = model.program.trainable_op
    click.echo(f"learning rate on the device: {describe(layer.schedule)}" + (f"; L2 alpha 2^-{layer.l2_shift}"
               if layer.l2_shift is not None else ""))
    return model


def _window_export_notes(program, X, windowing) -> None:
    """A window program's notes: an --hop that is not the stream's, and calibration samples beyond what the declared
    raw int16 formats (--raw-scale, --raw-offset) hold."""
    shape = window_shape(program)
    if shape is None:
        return
    if windowing.hop is not None and windowing.hop != shape.hop:
        click.echo(f"note: --hop {windowing.hop} cut the calibration CSV; the stream API still steps by the model's hop, "
                   f"NAME_HOP = {shape.hop} (set when it was trained: train --hop)", err=True)
    conversion = program.ops[0]  # a window program's window_input
    if X is None or conversion.scales is None:
        return
    samples = np.asarray(X, dtype=np.float64).reshape(len(X), shape.window, len(shape.channels))
    for c, (channel, (low, high)) in enumerate(zip(shape.channels, conversion.real_ranges())):
        scale, offset = conversion.scales[c], int(conversion.channel_offsets()[c])
        outside = int(np.sum((samples[:, :, c] < low) | (samples[:, :, c] > high)))
        if outside:
            many = outside != 1
            click.echo(f"warning: {outside} calibration sample{'s' * many} of {channel} {'are' if many else 'is'} outside "
                       f"[{low:.6g}, {high:.6g}], what raw int16 samples of scale {scale:g} and offset {offset} hold: "
                       f"{'they saturate' if many else 'it saturates'}", err=True)


def _parse_channel_values(values, option: str, kind) -> dict:
    """Repeated / comma-separated `CH=V` values (--raw-scale acc_x=0.01,acc_y=0.01) -> {channel: kind(V)}; a
    click.BadParameter (one line) for an item that is not CH=V, a V that is not a `kind`, or a channel named twice."""
    parsed = {}
    for item in _names_option(values):
        channel, equals, text = (part.strip() for part in item.partition("="))
        what = "a whole number" if kind is int else "a number"
        if not equals or not channel:
            raise click.BadParameter(f"{item!r} is not CHANNEL=VALUE (e.g. acc_x={'512' if kind is int else '0.01'})")
        try:
            value = kind(text)
        except ValueError:
            raise click.BadParameter(f"{item!r}: {text!r} is not {what}") from None
        if channel in parsed:
            raise click.BadParameter(f"channel {channel!r} is given twice ({option} {channel}={parsed[channel]} and "
                                     f"{item})")
        parsed[channel] = value
    return parsed


def _export_notes(estimator, program, X, y) -> None:
    """One note per input the program ignores; with calibration rows, why the accuracy drops if it does."""
    for feature in program.ignored_features:
        click.echo(f"note: {feature['note']}", err=True)
    if X is None:
        return
    try:
        dropped, causes = calibration_diagnosis(estimator, program, X, y)
    except TinygenError:  # labels that are none of the model's classes: export does not need them, so measure
        dropped, causes = calibration_diagnosis(estimator, program, X)  # against the float model's predictions
    if causes:
        click.echo(f"warning: {dropped}", err=True)
    for cause in causes:
        click.echo(f"warning: {cause['cause']}; what to do: {cause['fix']}", err=True)


# ---- simulate ----------------------------------------------------------------------------------------
@main.command()
@click.argument("manifest", metavar="NAME.json", type=click.Path(dir_okay=False))
@click.argument("input_csv", metavar="INPUT.csv", type=click.Path(dir_okay=False))
@click.option("--label", help="Label column of INPUT.csv, left out of the features (with --group: windows whose samples "
              "carry two labels are left out, as train and verify leave them out).")
@click.option("-o", "--output", type=click.Path(dir_okay=False), help="CSV to write (default: standard output).")
@friendly
@_csv_options
@_window_options
def simulate(manifest, input_csv, label, output, csv_format, windowing):
    """Run rows through the bit-exact fixed-point simulator: prediction and raw integer scores (IsolationForest
    models add score_samples and decision_function: what NAME_score_samples / NAME_decision_function return;
    fixed-point MLP and naive Bayes classifiers add proba_0.. : NAME_predict_proba's values / 32768). A window
    program reads a raw sensor CSV (--group COLUMN): one output row per window, led by `recording` (its --group
    value), `start` (the index of its first sample in the recording, in time order) and `line` (the CSV line of
    that sample; the header is line 1)."""
    model = load(manifest)
    program = model.program
    rows = _feature_data(input_csv, label, program, csv_format, windowing=windowing)
    scores = program.scores(rows.X)
    predictions = program.predict(rows.X)
    fmt_score = (lambda v: repr(float(v))) if program.ops[-1].out_type == "float32" else (lambda v: str(int(v)))
    fmt_pred = (lambda v: repr(float(v))) if program.task == "regression" else str
    columns = ["prediction"] + [f"score_{k}" for k in range(program.n_outputs)]
    extra = np.zeros((len(scores), 0))
    if program.anomaly_score_op is not None:  # exact multiples of 2**-23: repr() round-trips them
        columns += ["score_samples", "decision_function"]
        extra = program.anomaly_scores(rows.X) * program.anomaly_score_op.scale
    if program.proba is not None:  # NAME_predict_proba / 32768: exact, so repr() round-trips them too
        columns += [f"proba_{k}" for k in range(program.proba.n_out)]
        extra = program.predict_proba(rows.X)
    windowed = isinstance(rows, Windows)
    lead = [[_csv_cell(str(g)), str(int(s)), str(int(n))] for g, s, n in zip(rows.groups, rows.starts, rows.lines)] \
        if windowed else [[]] * len(scores)
    lines = [",".join((["recording", "start", "line"] if windowed else []) + columns)]
    for first, pred, row, more in zip(lead, predictions, scores, extra):
        lines.append(",".join(first + [_csv_cell(fmt_pred(pred))] + [fmt_score(v) for v in row] +
                              [repr(float(v)) for v in more]))
    text = "\n".join(lines) + "\n"
    if output:
        atomic_write_text(output, text)
        click.echo(f"wrote {output}: {len(scores)} {'windows' if windowed else 'rows'}", err=True)
    else:
        click.echo(text, nl=False)


def _csv_cell(text: str) -> str:
    return '"' + text.replace('"', '""') + '"' if any(c in text for c in ',"\n\r') else text


# ---- verify --port, flash, board-sim ---------------------------------------------------------------------
def _port_option(command):
    """--port PORT for verify: it reaches the command as ``port_request`` (board_port.PortRequest, or None), and
    --board then names the board on the port (no emulator target of its own, no fit check)."""

    @functools.wraps(command)
    def wrapper(*args, port=None, **kwargs):
        request = None
        if port is not None:
            if kwargs["board"] is None:
                raise TinygenError(f"--port needs --board BOARD, the board on the port ({', '.join(flash.UPLOADERS)})")
            flash.uploader_for(kwargs["board"])  # a board tinygen cannot flash is said before any work
            request = board_port.PortRequest(port, kwargs["board"], _flash_first_command(port, **kwargs))
            kwargs["board"] = None
        return command(*args, port_request=request, **kwargs)

    return click.option("--port", metavar="PORT", help="Verify on the board at this serial port (a device, symlink or "
                        "pseudo-terminal) running the firmware `tinygen flash` uploads; --board names the board; the "
                        "emulator targets run only if --target asks for them. Needs pyserial (tinygen[port]).")(wrapper)


def _flash_first_command(port, model_path, board, dtype=None, calibration=None, data_csv=None, label=None, **_) -> str:
    """The flash command that puts the model verify checks on the board (a model file converts as verify does:
    calibrated on --calibration, else on the data)."""
    words = ["tinygen", "flash", model_path, "--board", board, "--port", port]
    if not shipped.is_manifest(model_path):
        words += [*(["--dtype", dtype] if dtype else []), "--calibration", calibration or data_csv,
                  *(["--label", label] if label else [])]
    return flash.shell_line(words)


def _flash_model(model_path, dtype, calibration, label, allow_pickle, csv_format):
    """(model, name, header bytes) to flash: an exported NAME.json as it is (its header must match it), or a model
    file converted as verify converts it (calibrated on --calibration)."""
    if shipped.is_manifest(model_path):
        given = [option for option, value in (("--calibration", calibration), ("--label", label)) if value]
        if given:
            raise TinygenError(f"{' and '.join(given)} are for converting a model file; {model_path} is flashed as exported")
        files = shipped.load(model_path)
        shipped.check_options(files, dtype=dtype, has_model=True)
        if files.problems:
            raise TinygenError("; ".join(files.problems) + "; re-export both files (tinygen export), then flash")
        return files.model, files.name, files.header_bytes
    estimator = _load_estimator(model_path, allow_pickle)
    if window_shape(estimator) is not None:
        raise TinygenError("a window model is flashed from its export: tinygen export MODEL --calibration RAW.csv "
                           "--group COLUMN -o OUTDIR, then tinygen flash OUTDIR/NAME.json")
    rows = None if calibration is None else _feature_data(calibration, label, estimator, csv_format)
    model = convert(estimator, dtype=dtype, calibration=None if rows is None else rows.X,
                    feature_names=None if rows is None else rows.feature_names)
    name = suggest_name(Path(model_path).stem)
    return model, name, model.files(name)[0].encode()


@main.command("flash")
@click.argument("model_path", metavar="MODEL-or-NAME.json", type=click.Path(dir_okay=False))
@click.option("--board", required=True, type=click.Choice(list(boards.BOARDS)), help="The board on the port.")
@click.option("--port", metavar="PORT", help="Its serial port (/dev/ttyACM0, /dev/ttyUSB0, a pty of board-sim); "
              "required unless --dry-run.")
@click.option("--sketch", is_flag=True, help="Upload the Arduino example sketch (export --format arduino's, built with "
              "arduino-mk) instead of the verify firmware.")
@click.option("--dry-run", is_flag=True, help="Print the build and upload commands; run none.")
@click.option("--bootloader", type=click.Choice(flash.BOOTLOADERS), help="The board's bootloader, when not its own "
              "(a Nano with optiboot uploads at 115200 instead of 57600).")
@click.option("--dtype", type=click.Choice(DTYPES), help="A model file: the number format [default: exact for trees, "
              "q15 otherwise].")
@click.option("--calibration", type=click.Path(dir_okay=False), help="A model file: the calibration CSV (give verify "
              "--port the same, or the same --data: the board must run the model verify converts).")
@click.option("--label", help="The label column of --calibration, left out of the features.")
@click.option("--allow-pickle", is_flag=True, help="Allow loading .joblib/.pkl (pickle runs code).")
@friendly
@_csv_options
def flash_command(model_path, board, port, sketch, dry_run, bootloader, dtype, calibration, label, allow_pickle,
                  csv_format):
    """Build the verify firmware (or with --sketch the Arduino example) for an AVR board and upload it with the
    board's own uploader (avrdude through its bootloader); then `tinygen verify ... --port PORT --board B` checks
    every row on the board."""
    uploader = flash.uploader_for(board, bootloader)
    if port is None and not dry_run:
        raise TinygenError("flash needs --port PORT, the board's serial port (or --dry-run to see the commands)")
    model, name, header_bytes = _flash_model(model_path, dtype, calibration, label, allow_pickle, csv_format)
    plan = (flash.plan_sketch if sketch else flash.plan_firmware)(model, name, header_bytes, uploader, port or "PORT")
    if dry_run:
        for cmd in [*plan.commands, plan.upload]:
            click.echo(flash.shell_line(cmd))
        return
    if sketch:
        if not flash.ARDUINO_MK.is_file():
            raise TinygenError(f"--sketch builds with arduino-mk ({flash.ARDUINO_MK} is missing): "
                               f"{flash.INSTALL['make']}; or open the sketch {plan.commands[0][-1]} in the Arduino IDE")
        flash.run_build(plan.commands, f"building the sketch for the {board}")
        seconds, note = flash.upload(plan), None
    else:
        plan, seconds, note = flash.flash_firmware(model, name, header_bytes, uploader, port, bootloader)
    if note:
        click.echo(f"note: {note}", err=True)
    click.echo(f"flashed {name}'s {'sketch' if sketch else 'verify firmware'} to the {board} on {port} in {seconds:.1f} s")
    if not sketch:
        click.echo(f"check it: tinygen verify {model_path} --data DATA.csv --label COLUMN --board {board} --port {port}")


@main.command("board-sim")
@click.option("--board", default="uno", show_default=True, type=click.Choice(list(board_sim.BOARDS)))
@friendly
def board_sim_command(board):
    """A virtual board on a pseudo-terminal (an ATmega328P in simavr that starts in optiboot and resets when the port
    opens): prints its port, for `tinygen flash` and `verify --port` without hardware; Ctrl-C stops it."""
    board_sim.run_until_interrupted(board, click.echo)


# ---- verify ------------------------------------------------------------------------------------------
def _parse_budget(ctx, param, values) -> dict:
    """A click callback: repeated `[TARGET=]NUMBER` values -> {target or None (every target): number}."""
    limits = {}
    for value in values:
        target, _, number = value.rpartition("=")
        try:
            limit = int(number.replace("_", ""))
        except ValueError:
            raise click.BadParameter(f"{value!r} is not [TARGET=]NUMBER (e.g. 4000 or avr=4000)") from None
        if target and target not in TARGETS:
            raise click.BadParameter(f"{value!r}: unknown target {target!r}; choose from {', '.join(TARGETS)}")
        limits[target or None] = limit
    return limits


def _verify_inputs(model_path, float_model, allow_pickle, **options):
    """(shipped files or None, estimator or None, unsupervised) of verify's MODEL: an exported
    NAME.json (with the NAME.h beside it, and --model's float model if given) or a model file."""
    if shipped.is_manifest(model_path):
        files = shipped.load(model_path)
        shipped.check_options(files, has_model=float_model is not None, **options)
        estimator = None if float_model is None else _load_estimator(float_model, allow_pickle)
        return files, estimator, files.program.anomaly is not None
    if float_model is not None:
        raise TinygenError("--model is for verifying an exported NAME.json (MODEL is then the manifest); "
                           f"{model_path} is already a model: leave --model out")
    estimator = _load_estimator(model_path, allow_pickle)
    return None, estimator, train_module.is_unsupervised(estimator)


def _verify_lines(report: dict, data_csv, files) -> list[str]:
    """verify's text report: the checks, each target's costs, the agreement (or the simulator's own metric)."""
    unit = "windows" if "windows" in report else "rows"
    lines = [f"{report['model']} {report['dtype']} on {report['rows']} {unit} of {data_csv}" +
             (f" (the exported {files.manifest_path} and {files.header_path})" if files is not None else "")]
    for check in report["checks"]:
        lines.append(f"  {'PASS' if check['passed'] else 'FAIL'}  {check['name']}: {check['detail']}")
    for target, result in report["targets"].items():
        if "error" in result:
            lines.append(f"  {target}: not measured ({result['error']})")
            continue
        costs = [f"flash {result['flash_bytes']} B", f"RAM {result['ram_bytes']} B"]
        if result.get("stack_bytes") is not None:
            costs.append(f"stack {result['stack_bytes']} B")
        if result.get("cycles_per_inference") is not None:
            costs.append(f"{result['cycles_per_inference']:.0f} {result['cycles_unit']} per inference (mean)")
        lines.append(f"  {target}: {', '.join(costs)}")
    if report["targets"]:  # not the board's figure (export --board's): say what these count
        lines.append("  (per target, flash/RAM: what the model adds to that target's test firmware, helpers the firmware "
                     "already links not counted; host: gcc -Os object code)")
    if report["agreement"] is not None:
        lines.append(f"  agreement with the float model: {report['agreement']:.4f}")
    else:
        lines.append(f"  {report['metric_name']} of the simulator: {report['fixed_metric']:.4f} (no --model: the float "
                     "model is not compared)")
    lines.extend(f"  note: {note}" for note in report.get("notes", ()))
    lines.extend(f"  diagnosis: {cause['cause']}; what to do: {cause['fix']}" for cause in report.get("diagnosis", ()))
    return lines


_BUDGET_HELP = ("(repeatable; TARGET=N for one target, N alone for every verified target that measures it)")


@main.command(epilog="""\b
Exit codes (CI: a non-zero exit fails the step; --junit says which check):
  0  every check passed
  1  a check failed (accuracy drop, --min-accuracy, C != simulator, predict_proba bound, a budget, --board fit,
     a header that does not match its manifest); C that does not build or fit on one target fails that
     target's check (the other targets still run)
  2  bad input or usage: bad options, unreadable data or model, labels that share nothing with the model's
     classes, a missing compiler or emulator, a manifest without its header (with --junit, the file then
     holds one testcase with the error)
  3  an internal error (a tinygen bug; TINYGEN_DEBUG=1 shows the traceback)""")
@click.argument("model_path", metavar="MODEL", type=click.Path(dir_okay=False))
@click.option("--data", "data_csv", required=True, type=click.Path(dir_okay=False), help="CSV of rows to check.")
@click.option("--label", help="Label column of the data (required, except for an isolation forest: its accuracy is "
              "against -1/1 labels if the column holds them, else against the float model's predict).")
@click.option("--model", "float_model", type=click.Path(dir_okay=False), help="When MODEL is an exported NAME.json: "
              "the float model it came from; the simulator is then compared with it too (accuracy drop, agreement).")
@click.option("--dtype", type=click.Choice(DTYPES), help="Number format [default: exact for trees, q15 otherwise; "
              "a manifest: its own].")
@click.option("--target", "targets", multiple=True, type=click.Choice((*TARGETS, *PLANNED)),
              help="Where to run the C (repeatable; default host).")
@click.option("--max-accuracy-drop", type=float, help="Allowed drop of accuracy (R^2 for regressors); default per dtype.")
@click.option("--min-accuracy", type=float, help="Lowest accuracy (R^2 for regressors) of the fixed-point model to accept.")
@click.option("--max-flash", callback=_parse_budget, multiple=True, metavar="[TARGET=]BYTES",
              help="Flash budget: bytes the model adds " + _BUDGET_HELP + ".")
@click.option("--max-ram", callback=_parse_budget, multiple=True, metavar="[TARGET=]BYTES",
              help="RAM budget: the model's static RAM plus its measured peak stack " + _BUDGET_HELP + ".")
@click.option("--max-cycles", callback=_parse_budget, multiple=True, metavar="[TARGET=]N",
              help="Budget for the worst row's cycles (avr) or instructions (QEMU targets) " + _BUDGET_HELP + ".")
@click.option("--calibration", type=click.Path(dir_okay=False), help="Calibration CSV (default: the data itself).")
@click.option("--json", "json_path", type=click.Path(dir_okay=False), help="Write the report as JSON.")
@click.option("--junit", "junit_path", type=click.Path(dir_okay=False),
              help="Write JUnit XML, one testcase per check (for CI systems).")
@click.option("--board", type=click.Choice(list(boards.BOARDS)), help="Also run on its instruction set and check the model "
              "fits it; with --port, the board on the port.")
@click.option("--layout", default="auto", show_default=True, type=click.Choice(LAYOUT_CHOICES),
              help="Trees: inline if/else code (fastest), tables walked by a loop (smallest), or auto (the smaller).")
@click.option("--bins/--no-bins", default=None,
              help="Trees (exact): compare each feature's rank among its thresholds (bins) or 32-bit keys [default: the smaller].")
@click.option("--allow-pickle", is_flag=True, help="Allow loading .joblib/.pkl (pickle runs code).")
@friendly
@click.option("--trainable", is_flag=True, help="On-device learning: every row of --updates is one NAME_partial_fit on "
              "each target and in the simulator, then --data is predicted; the weights must be identical byte for byte "
              "and the accuracy within --max-accuracy-drop (default 0.02) of the float SGD on the same stream (scikit-learn's; "
              "an MLP's head: numpy's on the last layer).")
@click.option("--updates", "updates_csv", type=click.Path(dir_okay=False), metavar="UPDATES.csv",
              help="--trainable: the update stream, the model's feature columns and the --label column, in order.")
@click.option("--learning-rate", "learning_rate_spec", metavar="SPEC", help="--trainable with a model file: as export "
              "--trainable takes it (default constant:2^-7).")
@click.option("--l2", "l2_alpha", metavar="ALPHA", help="--trainable with a model file: as export --trainable takes it.")
@_csv_options
@_window_options
@_port_option
def verify(model_path, data_csv, label, float_model, dtype, targets, max_accuracy_drop, min_accuracy, max_flash, max_ram,
           max_cycles, calibration, json_path, junit_path, board, layout, bins, allow_pickle, trainable, updates_csv,
           learning_rate_spec, l2_alpha, csv_format, windowing, port_request):
    """Check simulator vs float model and C vs simulator on every row, and the budgets; exit 0 only if all
    checks pass. MODEL is a model file (converted here), or an exported NAME.json: then the NAME.h beside it is
    checked against it and compiled as it is (add --model MODEL to compare with the float model too). A window
    model reads a raw sensor CSV (--group COLUMN): every check then runs per window, the C on the MCU targets
    receiving each window frame by frame; "rows" in the report counts windows, and "windows" says how they were
    cut."""
    if trainable or updates_csv or learning_rate_spec or l2_alpha:
        _verify_trainable(model_path, data_csv, label, float_model, updates_csv,
                          {"trainable": trainable, "targets": targets, "max_accuracy_drop": max_accuracy_drop,
                           "learning_rate": learning_rate_spec, "l2": l2_alpha, "calibration": calibration,
                           "json_path": json_path, "allow_pickle": allow_pickle, "csv_format": csv_format},
                          {"--dtype": dtype, "--min-accuracy": min_accuracy, "--max-flash": max_flash,
                           "--max-ram": max_ram, "--max-cycles": max_cycles, "--junit": junit_path, "--board": board,
                           "--layout": layout if layout != "auto" else None, "--bins": bins,
                           "--group": windowing.group if windowing else None, "--port": port_request})
        return
    name = suggest_name(Path(model_path).stem)
    suite, classname = f"tinygen verify {Path(model_path).name}", f"tinygen.verify.{name}"
    budgets = {kind: limits for kind, limits in (("flash", max_flash), ("ram", max_ram), ("cycles", max_cycles)) if limits}
    try:
        files, estimator, unsupervised = _verify_inputs(model_path, float_model, allow_pickle, dtype=dtype,
                                                        calibration=calibration, layout=layout, bins=bins,
                                                        max_accuracy_drop=max_accuracy_drop)
        if label is None and not unsupervised:
            raise TinygenError("verify needs --label COLUMN: the accuracy is measured against the labels")
        columns_of = estimator if files is None else files.program  # a manifest's own feature names
        rows = _feature_data(data_csv, label, columns_of, csv_format, require_label=not unsupervised,
                             windowing=windowing)
        calib = None if calibration is None else \
            _feature_data(calibration, label, estimator, csv_format, windowing=windowing).X
        report = run_verify(estimator, rows.X, rows.y, dtype=dtype, targets=targets or (() if port_request else ("host",)),
                            max_accuracy_drop=max_accuracy_drop, calibration=calib, feature_names=rows.feature_names,
                            name=name, board=board, layout=layout, bins=bins, budgets=budgets, min_accuracy=min_accuracy,
                            shipped=files, port=port_request)
        if isinstance(rows, Windows):
            report["windows"] = {"group": windowing.group, **rows.describe()}
    except TinygenError as exc:
        if junit_path:  # the CI still shows why verify could not run
            atomic_write_text(junit_path, junit.error_xml(suite, classname, str(exc)))
        raise
    lines = _verify_lines(report, data_csv, files)
    for warning in report.get("warnings", ()):
        click.echo(f"warning: {warning}", err=True)
    for note in report.get("shipped", {}).get("notes", []):
        click.echo(f"note: {note}", err=True)
    failed = ", ".join(c["name"] for c in report["checks"] if not c["passed"])
    if json_path:
        atomic_write_text(json_path, json.dumps(report, indent=2) + "\n")
    if junit_path:
        output = "\n".join(lines) + ("" if report["passed"] else f"\nverify failed: {failed}") + "\n"
        atomic_write_text(junit_path, junit.report_xml(report, suite, classname, output))
    click.echo("\n".join(lines))
    if not report["passed"]:
        click.echo(f"verify failed: {failed}", err=True)
        sys.exit(EXIT_CHECK_FAILED)


def _verify_trainable(model_path, data_csv, label, float_model, updates_csv, options: dict, not_for: dict) -> None:
    """verify --trainable (tinygen/verify_trainable.py): the update stream on every target and in the simulator."""
    from .verify_trainable import verify_trainable

    if not options["trainable"]:
        raise TinygenError("--updates, --learning-rate and --l2 are for verify --trainable")
    _refuse_options([option for option, value in not_for.items() if value], "not for verify --trainable")
    if updates_csv is None or label is None:
        raise TinygenError("verify --trainable needs --updates UPDATES.csv and --label COLUMN (the updates' labels "
                           "and the data's)")
    files, estimator, _ = _verify_inputs(model_path, float_model, options["allow_pickle"])
    if files is not None and (options["learning_rate"] or options["l2"]):
        raise TinygenError(f"{model_path} holds its learning rate: --learning-rate and --l2 are for a model file")
    columns_of = estimator if files is None else files.program
    fmt = options["csv_format"]
    rows, updates = (_feature_data(path, label, columns_of, fmt) for path in (data_csv, updates_csv))
    calib = None if options["calibration"] is None else _feature_data(options["calibration"], label, estimator, fmt).X
    name = suggest_name(Path(model_path).stem)
    report = verify_trainable(estimator, updates.X, updates.y, rows.X, rows.y, targets=options["targets"] or ("host",),
                              learning_rate=options["learning_rate"], l2=options["l2"], calibration=calib,
                              feature_names=rows.feature_names, name=name, shipped=files,
                              max_accuracy_drop=options["max_accuracy_drop"])
    if options["json_path"]:
        atomic_write_text(options["json_path"], json.dumps(report, indent=2) + "\n")
    click.echo("\n".join(_trainable_lines(report, data_csv, updates_csv)))
    if not report["passed"]:
        click.echo(f"verify failed: {', '.join(c['name'] for c in report['checks'] if not c['passed'])}", err=True)
        sys.exit(EXIT_CHECK_FAILED)


def _trainable_lines(report: dict, data_csv, updates_csv) -> list[str]:
    lines = [f"{report['model']} {report['dtype']}, trainable: {report['updates']} updates from {updates_csv}, then "
             f"{report['rows']} rows of {data_csv}"]
    lines += [f"  {'PASS' if c['passed'] else 'FAIL'}  {c['name']}: {c['detail']}" for c in report["checks"]]
    for target, result in report["targets"].items():
        step = result.get("cycles_partial_fit", result.get("instructions_partial_fit"))
        unit = "cycles" if "cycles_partial_fit" in result else "instructions"
        lines.append(f"  {target}: {result['steps']} steps, {result['saturations']} saturations"
                     + (f", {step:.0f} {unit} per partial_fit (mean)" if step is not None else ""))
    reference = report["sklearn_accuracy_after"]
    lines.append(f"  {report['metric_name']}: before {report['accuracy_before']:.4f}, after {report['accuracy_after']:.4f}"
                 + ("" if reference is None else f", {report['reference']} after the same stream {reference:.4f}"))
    return lines


# ---- report ------------------------------------------------------------------------------------------
@main.command()
@click.argument("model_path", metavar="MODEL", type=click.Path(dir_okay=False))
@click.option("--data", "data_csv", required=True, type=click.Path(dir_okay=False), help="CSV of rows to evaluate.")
@click.option("--label", help="Label column of the data (required, except for an isolation forest, as in verify).")
@click.option("--dtype", "dtypes", multiple=True, type=click.Choice(DTYPES),
              help="Dtypes to show (repeatable; default: every dtype the model exports with).")
@click.option("--target", "targets", multiple=True, type=click.Choice((*TARGETS, *PLANNED)),
              help="Also build and run the C there for flash/RAM/stack/cycle bars (repeatable; default: none).")
@click.option("--calibration", type=click.Path(dir_okay=False), help="Calibration CSV (default: the data itself).")
@click.option("--title", help="Page title (default: tinygen report: NAME).")
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False), help="HTML file to write.")
@click.option("--allow-pickle", is_flag=True, help="Allow loading .joblib/.pkl (pickle runs code).")
@click.option("--trainable", is_flag=True, help="Add learning curves: the model exported trainable (q15) learns from "
              "--updates row by row; its accuracy on --data after 0..n updates beside scikit-learn's SGD's.")
@click.option("--updates", "updates_csv", type=click.Path(dir_okay=False),
              help="--trainable: the update stream, the model's feature columns and the --label column, in order.")
@click.option("--learning-rate", "learning_rate_spec", metavar="SPEC", help="--trainable: as export --trainable takes "
              "it (default constant:2^-7).")
@click.option("--l2", "l2_alpha", metavar="ALPHA", help="--trainable: as export --trainable takes it.")
@friendly
@_csv_options
@_window_options
def report(model_path, data_csv, label, dtypes, targets, calibration, title, output, allow_pickle, trainable, updates_csv,
           learning_rate_spec, l2_alpha, csv_format, windowing):
    """Write one offline HTML page: accuracy per dtype, every tensor's range against its format, score error,
    confusion matrices and (with --target) flash/RAM/stack/cycles per target; with --trainable --updates U.csv,
    learning curves. Needs matplotlib (the report extra). A window model reads a raw sensor CSV (--group COLUMN):
    the rows are then its windows."""
    from . import charts, report as report_module

    charts.require()
    if (trainable or learning_rate_spec or l2_alpha) and (not trainable or updates_csv is None):
        raise TinygenError("learning curves need --trainable and --updates UPDATES.csv (--learning-rate and --l2 "
                           "are for them)")
    if updates_csv is not None and not trainable:
        raise TinygenError("--updates is for report --trainable")
    estimator = _load_estimator(model_path, allow_pickle)
    unsupervised = train_module.is_unsupervised(estimator)
    if label is None and not unsupervised:
        raise TinygenError("report needs --label COLUMN: the accuracy is measured against the labels")
    rows = _feature_data(data_csv, label, estimator, csv_format, require_label=not unsupervised, windowing=windowing)
    calib = None if calibration is None else \
        _feature_data(calibration, label, estimator, csv_format, windowing=windowing).X
    stream = None if updates_csv is None else _feature_data(updates_csv, label, estimator, csv_format)
    name = suggest_name(Path(model_path).stem)
    analysis = report_module.write_report(estimator, rows.X, rows.y, output, dtypes=dtypes, targets=targets,
                                          calibration=calib, feature_names=rows.feature_names, name=name, title=title,
                                          data_name=Path(data_csv).name, label=label,
                                          updates=None if stream is None else (stream.X, stream.y),
                                          learning_rate=learning_rate_spec, l2=l2_alpha)
    for dtype, result in analysis["results"].items():
        for target, measured in result.targets.items():
            if "error" in measured:
                click.echo(f"note: {dtype} on {target}: {measured['error']}", err=True)
            elif measured["mismatches"]:
                click.echo(f"note: {dtype} on {target}: the C differs from the simulator on {measured['mismatches']} "
                           "rows (a tinygen bug: please report it)", err=True)
    unit = "windows" if isinstance(rows, Windows) else "rows"
    click.echo(f"wrote {output}: {analysis['source']} on {analysis['rows']} {unit}, dtypes "
               f"{', '.join(analysis['results'])}" + (f", targets {', '.join(analysis['targets'])}" if targets else ""))


# ---- bench -------------------------------------------------------------------------------------------
@main.command()
@click.option("--target", "targets", multiple=True, type=click.Choice((*TARGETS, *PLANNED)),
              help="Measure costs on these targets (repeatable); without it, print the accuracy table (--peers: avr "
              "and cortex-m4).")
@click.option("--dtype", "dtypes", multiple=True, type=click.Choice(DTYPES),
              help="Dtypes to measure (repeatable; default q15, q7, float32 for linear models and GaussianNB, the same "
              "and int8 for MLPs, exact for trees).")
@click.option("--dataset", default="breast_cancer", show_default=True, type=click.Choice((*data.BUNDLED, *RAW_DATASETS)),
              help="Regressors go with diabetes, classifiers with the others; basicmotions: real raw sensor "
              "recordings (a smart watch's accelerometer and gyroscope at 10 Hz) cut into windows, integer features "
              "and the model as one program (RandomForest, LogisticRegression or MLP16x8; default RandomForest, q15).")
@click.option("--model", help="A bench model of tinygen/bench.py [default: LogisticRegression; --peers: RandomForest, "
              "LogisticRegression and MLP16x8]: linear (LogisticRegression, Ridge, ...), a tree (RandomForest, "
              "DecisionTree, ExtraTrees, GradientBoosting, HistGradientBoosting; regressors: DecisionTreeRegressor, ...), "
              "an MLP (MLP16x8: hidden (16, 8), MLP32: hidden (32,), MLPRegressor16x8) or GaussianNB.")
@click.option("--layout", "layouts", multiple=True, type=click.Choice(LAYOUT_CHOICES),
              help="Trees: layouts to measure (repeatable; default auto, the smaller).")
@click.option("--bins", "bins", multiple=True, type=click.Choice(list(BINS_CHOICES)),
              help="Trees, dtype exact: threshold bins on, off (order keys or raw bits) or auto (repeatable; default auto).")
@click.option("--rows", type=click.IntRange(min=1), help="Only the first N rows (default: all).")
@click.option("--peers", is_flag=True, help="Compare with peer tools (emlearn, m2cgen; pip install 'tinygen[peers]'): "
              "the same models through each tool's C, on the same harness and rows.")
@click.option("--window", type=int, metavar="N", help="--dataset basicmotions: samples per window [default: 64].")
@click.option("--hop", type=int, metavar="N", help="--dataset basicmotions: samples from one window's start to the next "
              "[default: 32 with the default window, else the window].")
@click.option("--channels", metavar="A,B,...", help="--dataset basicmotions: the channels [default: acc_x,acc_y,acc_z].")
@click.option("--features", metavar="SPEC", help="--dataset basicmotions: the feature list, as train's "
              "[default: mean,std,min,max,rms,crossings,fft8].")
@click.option("--trainable", is_flag=True, help="On-device learning: without --target, the adaptation of linear models "
              "to a shifted real sensor (BasicMotions) by one pass of partial_fit, beside scikit-learn's SGD; with "
              "--target, the cost of one partial_fit step of a 30-feature binary q15 model.")
@friendly
def bench(targets, dtypes, dataset, model, layouts, bins, rows, peers, window, hop, channels, features, trainable):
    """Print numbers: held-out accuracy per dtype, or per target x dtype x layout x bins (--target): C vs
    simulator mismatches, agreement with scikit-learn, flash/RAM/stack and cycles or instructions; for MLPs also
    cycles (instructions) per MAC and the speed-up over float32. --peers: tinygen beside emlearn and m2cgen."""
    from . import bench as bench_module

    window_options = {"--window": window, "--hop": hop, "--channels": channels, "--features": features}
    if trainable:
        _bench_trainable(targets, model, {"--dtype": dtypes, "--layout": layouts, "--bins": bins, "--rows": rows,
                                          "--peers": peers, **window_options})
        return
    if dataset in RAW_DATASETS:
        if peers or layouts or bins:
            raise TinygenError("--peers, --layout and --bins are not for window programs (--dataset basicmotions)")
        _bench_windows(dataset, window_options, model, targets, dtypes, rows)
        return
    _refuse_options([option for option, value in window_options.items() if value is not None],
                    "for raw sensor windows: add --dataset basicmotions")
    if peers:
        from . import peers as peers_module

        if layouts or bins:
            raise TinygenError("--layout and --bins are not for --peers (tinygen's trees use the automatic choice)")
        unsupported = [t for t in targets if t not in peers_module.RUNS_ON]
        if unsupported:
            raise TinygenError(f"bench --peers runs on {', '.join(peers_module.RUNS_ON)}, not {', '.join(unsupported)}")
        peers_module.print_peer_table(dataset, (model,) if model else peers_module.MODELS, targets or peers_module.TARGETS,
                                      dtypes, rows, click.echo)
        return
    model = model or "LogisticRegression"
    if not targets:
        if dtypes or layouts or bins or rows or model in bench_module.TREES:
            raise TinygenError("--dtype, --layout, --bins, --rows and tree models are for the cost table: add --target T")
        bench_module.print_accuracy_table(click.echo)
        return
    bench_module.print_cost_table(dataset, model, targets, dtypes, layouts or ("auto",), bins or ("auto",), rows,
                                  click.echo)


def _bench_trainable(targets, model, not_for: dict) -> None:
    """bench --trainable: the adaptation table, or with --target the cost of one partial_fit step."""
    from . import bench_trainable

    _refuse_options([option for option, value in not_for.items() if value], "not for bench --trainable")
    if model is not None and model not in bench_trainable.MODELS:
        raise TinygenError(f"bench --trainable models are {', '.join(bench_trainable.MODELS)}, not {model!r}")
    if targets:
        bench_trainable.print_trainable_cost(targets, (model,) if model else (), click.echo)
    else:
        bench_trainable.print_adaptation((model,) if model else (), click.echo)


def _bench_windows(dataset: str, window_options: dict, model, targets, dtypes, rows) -> None:
    """bench --dataset basicmotions: the window programs' accuracy table, or with --target their cost table."""
    from . import bench_windows

    channels = window_options["--channels"]
    case = bench_windows.window_case(dataset, window_options["--window"], window_options["--hop"],
                                     [c.strip() for c in channels.split(",") if c.strip()] if channels else None,
                                     window_options["--features"])
    if targets:
        model = model or bench_windows.DEFAULT_MODEL
    if model:  # before anything is fitted or printed
        bench_windows.check_window_model(model)
    if not targets:
        if dtypes or rows:
            raise TinygenError("--dtype and --rows are for the cost table: add --target T")
        bench_windows.print_window_accuracy(case, (model,) if model else (), click.echo)
        return
    bench_windows.print_window_cost(case, model, targets, dtypes, rows, click.echo)


# ---- costmodel -----------------------------------------------------------------------------------------
@main.group(cls=_Group)
def costmodel():
    """The search's cost model: fit its coefficients on emulator runs, or measure its error again."""


def _calibration_options(command):
    """--target, --jobs and --cache, shared by `costmodel calibrate` and `costmodel check`."""
    for option in (
        click.option("--cache", "cache_path", type=click.Path(dir_okay=False, path_type=Path),
                     help="JSON file keeping the measurements between runs (a re-fit without re-measuring)."),
        click.option("--jobs", default=2, show_default=True, type=click.IntRange(min=1), help="Emulator runs in parallel."),
        click.option("--target", default="avr", show_default=True, type=click.Choice(TARGETS),
                     help="The target whose emulator measures the candidates."),
    ):
        command = option(command)
    return command


@costmodel.command()
@_calibration_options
@friendly
def calibrate(target, jobs, cache_path):
    """Measure the search's candidates on ten data sets, fit the coefficients, check them on two more, and write
    tinygen/costmodel_TARGET.json."""
    from . import costmodel_calibrate

    costmodel_calibrate.calibrate(target, jobs, cache_path, click.echo)


@costmodel.command()
@_calibration_options
@friendly
def check(target, jobs, cache_path):
    """Measure the shipped coefficients' error again on the candidates left out of their fit."""
    from . import costmodel_calibrate

    costmodel_calibrate.check(target, jobs, cache_path, click.echo)


# ---- fleet -------------------------------------------------------------------------------------------
@main.command()
@click.argument("model_path", metavar="MODEL", type=click.Path(dir_okay=False))
@click.option("--data", "data_csv", required=True, type=click.Path(dir_okay=False),
              help="CSV of rows: the devices' private shards, and the held-out rows the server tests on.")
@click.option("--label", required=True, help="Label column of the data.")
@click.option("--clients", required=True, type=click.IntRange(min=1), help="Devices in the fleet.")
@click.option("--rounds", required=True, type=click.IntRange(min=1), help="Federated rounds.")
@click.option("--split", "split_text", default="iid", show_default=True, metavar="SPEC",
              help="How the training rows are shared: iid (at random), dirichlet:ALPHA (each label's rows spread "
              "by Dirichlet proportions: smaller ALPHA, more skewed labels per device) or by:COLUMN (by that "
              "column's values, e.g. a site or subject; it is not a feature).")
@click.option("--local-epochs", default=1, show_default=True, type=click.IntRange(min=1),
              help="Passes of partial_fit over its shard per round on each device.")
@click.option("--dtype", default="q15", show_default=True, type=click.Choice(DTYPES))
@click.option("--learning-rate", help="The devices' learning-rate schedule, as export --trainable takes it "
              "[default: export's].")
@click.option("--l2", type=float, help="The devices' L2 penalty, as export --trainable takes it.")
@click.option("--start", default="exported", show_default=True, type=click.Choice(("exported", "zero")),
              help="The weights every device starts from: MODEL's, or all zero (MODEL's input conversion and scaler "
              "kept).")
@click.option("--test-size", default=0.25, show_default=True, type=click.FloatRange(0, 1, min_open=True, max_open=True),
              help="Share of the rows held out (stratified) for the server's accuracy per round.")
@click.option("--seed", default=0, show_default=True, type=int, help="Seeds the held-out rows, the shards and the "
              "devices' row orders.")
@click.option("--json", "json_path", type=click.Path(dir_okay=False), help="Write the report (curve, reference, "
              "shards) as JSON.")
@click.option("--emulate", metavar="TARGET", type=click.Choice(tuple(TARGETS)), help="Device 0 runs the generated C "
              "on this target's emulator (avr: the ATmega328P under simavr) instead of the simulator.")
@click.option("--allow-pickle", is_flag=True, help="Allow loading .joblib/.pkl (pickle runs code).")
@friendly
@_csv_options
def fleet(model_path, data_csv, label, clients, rounds, split_text, local_epochs, dtype, learning_rate, l2, start,
          test_size, seed, json_path, emulate, allow_pickle, csv_format):
    """Federated learning of CLIENTS devices with Flower (pip install 'tinygen[fleet]'): each device holds a
    private shard of the data, runs partial_fit on it and sends back only its weights and its row count; FedAvg
    averages them in the device format. Prints the held-out accuracy per round beside a centralised model's."""
    from . import fleet as fleet_module

    split = fleet_module.parse_split(split_text)
    fleet_module.require()  # before anything is read
    if emulate:
        check_target(emulate)  # a missing toolchain is one line, before any round
    estimator = _load_estimator(model_path, allow_pickle)
    if not is_classifier(estimator):
        raise TinygenError(f"fleet learns classifiers (accuracy per round); {type(estimator).__name__} is not one")
    rows, groups = _fleet_rows(data_csv, label, estimator, csv_format, split.column)
    data = fleet_module.held_out(rows.X, rows.y, groups, test_size, seed)
    devices = fleet_module.converted_devices(estimator, data.X_train, dtype, learning_rate, l2, emulate)
    plan = fleet_module.FleetPlan(clients, rounds, split, local_epochs, seed, start)
    click.echo(f"fleet: {clients} devices, --split {split}, {len(data.y_train)} training rows shared, "
               f"{len(data.y_test)} held out; Flower simulation, {rounds} rounds"
               + (f"; device 0 on the emulated {emulate}" if emulate else ""))
    report = fleet_module.run(devices, estimator, data, plan, on_round=lambda server_round, accuracy: click.echo(
        f"  round {server_round:>3}  accuracy {accuracy:.4f}" + ("  (the start)" if server_round == 0 else "")))
    curve = [report["initial_accuracy"], *(point["accuracy"] for point in report["rounds"])]
    click.echo(f"  curve {charts.sparkline(curve)}  {curve[0]:.4f} -> {curve[-1]:.4f} over rounds 0..{len(curve) - 1}")
    report.update(dtype=dtype, learning_rate=learning_rate, l2=l2, data=str(data_csv), label=label)
    if json_path:
        atomic_write_text(json_path, json.dumps(report, indent=2) + "\n")
    side = "below" if report["gap"] > 0 else "above"
    click.echo(f"centralised: {report['centralized_accuracy']:.4f} ({report['centralized_model']}); the fleet's last "
               f"round {report['final_accuracy']:.4f}, {abs(report['gap']):.4f} {side} it; {report['seconds']:.1f} s")


def _fleet_rows(data_csv, label, estimator, csv_format, by_column):
    """fleet's rows (data.Dataset, the model's features matched by name) and the --split by: column's values
    (None without one); that column is never a feature."""
    from .frontend import check_supported, feature_names_of

    check_supported(estimator)
    if window_shape(estimator) is not None:
        raise TinygenError("fleet learns on rows of features; window models (train --group --window) are not "
                           "trainable on the device yet")
    names = data.given_names(feature_names_of(estimator))
    if by_column is not None and names is not None and by_column in names:
        raise TinygenError(f"--split by:{by_column}: {by_column!r} is a feature of the model; by: shares rows by a "
                           f"column the model does not read (train it with --drop {by_column})")
    if by_column == label:
        raise TinygenError(f"--split by:{label} names the label column; for label skew use --split dirichlet:ALPHA")
    rows = data.load_for_model(data_csv, label, names, _n_features_of(estimator), fmt=csv_format, require_label=True,
                               note=functools.partial(click.echo, err=True), leave_out=(by_column,) if by_column else ())
    if by_column is None:
        return rows, None
    table = data.read_table(data_csv, csv_format)
    table.check_column(by_column, "--split by: column")
    return rows, table.labels(by_column)


# ---- doctor ------------------------------------------------------------------------------------------
@main.command()
@friendly
def doctor():
    """Which compilers and emulators are here, and the one command that installs the rest."""
    missing = doctor_module.report(click.echo)
    if "gcc" in missing:  # the one tool every verify needs
        sys.exit(EXIT_CHECK_FAILED)


if __name__ == "__main__":  # pragma: no cover
    main()
