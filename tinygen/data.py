"""Tabular data in and out: CSV loading with validation, the bundled scikit-learn datasets, CSV writing.

Every problem with a user's file is a one-line :class:`~tinygen.errors.TinygenError` that names the file,
the column and the line, and says what to do. Line numbers are the file's own (the header is line 1), as
an editor shows them; the data row number (first data row = 1) is given as well.
"""

from __future__ import annotations

import csv
import difflib
import gzip
import io
import math
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from tinygen.errors import TinygenError
from tinygen.files import atomic_write_text

BUNDLED = ("iris", "wine", "breast_cancer", "diabetes", "digits")
DELIMITERS = {",": "commas", ";": "semicolons", "\t": "tabs", "|": "bars"}
DECIMALS = (".", ",")

_GZIP_MAGIC = b"\x1f\x8b"

# How many names an error message lists before it says "and N more".
_MAX_LISTED = 10


@dataclass(frozen=True)
class CsvFormat:
    """How to read a CSV: the field ``delimiter``, the ``decimal`` mark of its numbers, and whether its columns
    are matched to a model's features ``by_position`` (in order, only the count checked) instead of by name."""

    delimiter: str = ","
    decimal: str = "."
    by_position: bool = False

    def __post_init__(self):
        if self.delimiter not in DELIMITERS:
            shown = ", ".join(repr(d) for d in DELIMITERS)
            raise TinygenError(f"unsupported delimiter {self.delimiter!r}; choose one of {shown} ('\\t' for tabs)")
        if self.decimal not in DECIMALS:
            raise TinygenError(f"unsupported decimal mark {self.decimal!r}; choose '.' or ','")
        if self.decimal == self.delimiter:
            raise TinygenError(f"the decimal mark and the delimiter are both {self.decimal!r}; a European CSV "
                               "uses --delimiter ';' --decimal ','")

    def number(self, text: str) -> float:
        """``float`` of a cell's text with this decimal mark (raises ValueError like ``float``)."""
        if self.decimal != ".":
            if "." in text:  # with a decimal comma a point is a thousands separator or a mistake: refuse it
                raise ValueError(text)
            text = text.replace(self.decimal, ".")
        return float(text)


DEFAULT_FORMAT = CsvFormat()


@dataclass
class Dataset:
    """A feature matrix with optional labels.

    ``X`` is float64, shape (n_rows, n_features); ``y`` is int64 (integral numeric labels), float64 (other
    numeric labels), an object array of Python ``str`` (text labels), or None (no label column).
    """

    X: np.ndarray
    y: np.ndarray | None
    feature_names: list[str]
    label_name: str | None

    @property
    def n_rows(self) -> int:
        return int(self.X.shape[0])

    @property
    def n_features(self) -> int:
        return int(self.X.shape[1])


def names_list(names: list[str] | tuple[str, ...], limit: int = _MAX_LISTED) -> str:
    """``'a', 'b', 'c' (and 7 more)`` — a one-line, truncated list of quoted names."""
    shown = ", ".join(repr(str(n)) for n in names[:limit])
    if len(names) > limit:
        shown += f" (and {len(names) - limit} more)"
    return shown


def _value_repr(value: str, limit: int = 40) -> str:
    """A quoted cell value for an error message, shortened if long; repr keeps it on one line."""
    if len(value) > limit:
        value = value[:limit] + "..."
    return repr(value)


# ---------------------------------------------------------------------------------------------------- reading


def _read_text(path: Path) -> str:
    shown = repr(str(path))
    if not path.exists():
        raise TinygenError(f"data file {shown} does not exist; check the path")
    if path.is_dir():
        raise TinygenError(f"data file {shown} is a directory; give the path of a CSV file")
    try:
        raw = path.read_bytes()
    except OSError as exc:
        reason = " ".join(str(exc.strerror or exc).split())
        raise TinygenError(f"cannot read data file {shown}: {reason}") from exc
    if raw[:2] == _GZIP_MAGIC:  # a gzip-compressed CSV (NAME.csv.gz) is read as its text
        try:
            raw = gzip.decompress(raw)
        except (OSError, EOFError) as exc:
            raise TinygenError(f"data file {shown} looks gzip-compressed but cannot be decompressed: "
                               f"{' '.join(str(exc).split())}") from exc
    try:
        return raw.decode("utf-8-sig")  # accepts (and drops) a UTF-8 byte-order mark
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise TinygenError(
            f"data file {shown} is not UTF-8 text (byte 0x{raw[exc.start]:02x} on line {line}); "
            "re-save it as UTF-8 (CSV UTF-8) and try again"
        ) from exc


def _where(line: int, data_row: int) -> str:
    return f"line {line} (data row {data_row})"


def _parse_features(
    shown: str,
    names: list[str],
    columns: list[list[str]],
    lines: list[int],
    allow_nan: bool,
    fmt: CsvFormat = DEFAULT_FORMAT,
    allow_missing: bool = False,
    must: str = "features must be numbers: encode text columns as numbers or drop them",
) -> np.ndarray:
    n_rows = len(lines)
    X = np.empty((n_rows, len(names)), dtype=np.float64)
    for j, (name, cells) in enumerate(zip(names, columns)):
        values = X[:, j]
        bad_rows: list[int] = []  # row indices of missing / non-finite values (when they are not allowed)
        for i, cell in enumerate(cells):
            text = cell.strip()
            if text == "":
                values[i] = math.nan
                if not (allow_nan or allow_missing):
                    bad_rows.append(i)
                continue
            try:
                number = fmt.number(text)
            except ValueError:
                raise TinygenError(
                    f"column {name!r} in {shown} has a non-numeric value {_value_repr(cell)} at "
                    f"{_where(lines[i], i + 1)}; {must}{_decimal_hint(text, fmt)}"
                ) from None
            values[i] = number
            if not allow_nan and not math.isfinite(number) and not (allow_missing and math.isnan(number)):
                bad_rows.append(i)
        if bad_rows:
            first = bad_rows[0]
            cell = cells[first].strip()
            what = "a missing (empty) value" if cell == "" else f"a non-finite value {_value_repr(cell)}"
            n_more = len(bad_rows) - 1
            more = f" and {n_more} more row{'s' if n_more > 1 else ''}" if n_more else ""
            raise TinygenError(
                f"column {name!r} in {shown} has {what} at {_where(lines[first], first + 1)}{more}; "
                f"remove or impute those rows{_missing_hint(cell, allow_missing)}"
            )
    return X


def _decimal_hint(text: str, fmt: CsvFormat) -> str:
    if fmt.decimal == "." and "," in text:
        return " (numbers with a decimal comma: give --decimal ',')"
    if fmt.decimal == "," and "." in text:
        return " (with --decimal ',' a point is not allowed in numbers)"
    return ""


def _missing_hint(cell: str, allow_missing: bool) -> str:
    """Only models that route missing values themselves (the tree families) take them."""
    if allow_missing or not (cell == "" or cell.lower() == "nan"):
        return ""
    return (" (only models that handle missing values take them: the tree kinds hist-gbt, tree, forest, extra-trees "
            "and isolation-forest)")


def _parse_labels(shown: str, name: str, cells: list[str], lines: list[int],
                  fmt: CsvFormat = DEFAULT_FORMAT) -> np.ndarray:
    texts = [c.strip() for c in cells]
    for i, text in enumerate(texts):
        if text == "":
            raise TinygenError(
                f"label column {name!r} in {shown} is empty at {_where(lines[i], i + 1)}; every row needs "
                "a label: remove those rows or fill them in"
            )
    numbers: list[float] = []
    for text in texts:
        try:
            numbers.append(fmt.number(text))
        except ValueError:
            # At least one label is not a number: the labels are class names.
            return np.array(texts, dtype=object)
    for i, number in enumerate(numbers):
        if not math.isfinite(number):
            raise TinygenError(
                f"label column {name!r} in {shown} has a non-finite value {_value_repr(texts[i])} at "
                f"{_where(lines[i], i + 1)}; remove those rows"
            )
    y = np.array(numbers, dtype=np.float64)
    if np.all(y == np.round(y)) and np.all(np.abs(y) < 2.0**63):
        return y.astype(np.int64)
    return y


def _label_missing_message(shown: str, label: str, header: list[str], fmt: CsvFormat = DEFAULT_FORMAT,
                           what: str = "label column") -> str:
    message = f"{what} {label!r} not found in {shown}"
    lowered = {h.lower(): h for h in header}
    if label.strip().lower() in lowered:
        message += f"; did you mean {lowered[label.strip().lower()]!r}?"
    else:
        close = difflib.get_close_matches(label, header, n=1)
        if close:
            message += f"; did you mean {close[0]!r}?"
    message += f"; available columns: {names_list(header)}"
    message += _delimiter_hint(header, fmt)
    return message


def _delimiter_hint(header: list[str], fmt: CsvFormat) -> str:
    """A header read as one column probably has another delimiter: say which option reads it."""
    if len(header) == 1:
        for sep, sep_name in DELIMITERS.items():
            if sep != fmt.delimiter and sep in header[0]:
                option = "'\\t'" if sep == "\t" else repr(sep)
                return (f"; the file seems to be separated by {sep_name}, but tinygen read it as separated by "
                        f"{DELIMITERS[fmt.delimiter]}: give --delimiter {option}")
    return ""


def _read_rows(shown: str, text: str, fmt: CsvFormat) -> tuple[list[str], list[list[str]], list[int]]:
    """(header, data rows, their line numbers) of a CSV's non-blank text; the header names every column once."""
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=fmt.delimiter, strict=True)
    header: list[str] | None = None
    rows: list[list[str]] = []
    lines: list[int] = []
    try:
        for row in reader:
            if not row or all(cell.strip() == "" for cell in row) and len(row) <= 1:
                continue  # blank line
            if header is None:
                header = [cell.strip() for cell in row]
                continue
            if len(row) != len(header):
                raise TinygenError(
                    f"{shown} line {reader.line_num} (data row {len(rows) + 1}) has {len(row)} fields but "
                    f"the header has {len(header)} columns; fix that row (quote values that contain "
                    f"{DELIMITERS[fmt.delimiter]}){_delimiter_hint(header, fmt)}"
                )
            rows.append(row)
            lines.append(reader.line_num)
    except csv.Error as exc:
        reason = " ".join(str(exc).split())
        raise TinygenError(
            f"{shown} is not a valid CSV file (line {reader.line_num}: {reason}); check quoting"
        ) from exc

    assert header is not None  # the file has non-blank text
    for index, name in enumerate(header):
        if name == "":
            raise TinygenError(
                f"column {index + 1} of {shown} has an empty name in the header; give every column a name"
            )
    seen: set[str] = set()
    for name in header:
        if name in seen:
            raise TinygenError(
                f"column name {name!r} appears more than once in the header of {shown}; rename the duplicates"
            )
        seen.add(name)
    return header, rows, lines


@dataclass(frozen=True)
class Table:
    """A CSV's cells by column, as read (the header checked, blank lines skipped), before any cell is parsed:
    ``shown`` names the file in messages, ``lines`` are the file's line numbers of the data rows."""

    shown: str
    header: list[str]
    cells: dict[str, list[str]]
    lines: list[int]
    fmt: CsvFormat = DEFAULT_FORMAT

    @property
    def n_rows(self) -> int:
        return len(self.lines)

    def check_column(self, name: str, what: str = "label column") -> None:
        """A TinygenError (with the closest name and the columns there are) unless ``name`` is a column."""
        if name not in self.cells:
            raise TinygenError(_label_missing_message(self.shown, name, self.header, self.fmt, what))

    def numbers(self, names: list[str], *, allow_nan: bool = False, allow_missing: bool = False,
                must: str = "features must be numbers: encode text columns as numbers or drop them") -> np.ndarray:
        """float64 [rows, len(names)] of those columns, with load_csv's checks and messages (``must``: what the
        message says the values must be)."""
        return _parse_features(self.shown, names, [self.cells[n] for n in names], self.lines, allow_nan, self.fmt,
                               allow_missing, must)

    def labels(self, name: str) -> np.ndarray:
        """The label column ``name`` as load_csv returns it (int64, float64 or str objects; none empty)."""
        return _parse_labels(self.shown, name, self.cells[name], self.lines, self.fmt)

    def is_number(self, text: str) -> bool:
        """True when a cell's text is a number in this file's decimal mark."""
        try:
            self.fmt.number(text.strip())
        except ValueError:
            return False
        return True


def read_table(path: str | os.PathLike, fmt: CsvFormat = DEFAULT_FORMAT) -> Table:
    """The cells of a delimited file (UTF-8 text, or gzip-compressed UTF-8) whose first row is a header and that
    has at least one data row; nothing is parsed as a number yet."""
    path = Path(path)
    shown = repr(str(path))
    text = _read_text(path)
    if text.strip() == "":
        raise TinygenError(f"data file {shown} is empty; it needs a header row and at least one data row")
    header, rows, lines = _read_rows(shown, text, fmt)
    if not rows:
        raise TinygenError(f"{shown} has a header but no data rows; add at least one row of data")
    cells = {name: [row[j] for row in rows] for j, name in enumerate(header)}
    return Table(shown, header, cells, lines, fmt)


def load_csv(
    path: str | os.PathLike,
    label: str | None = None,
    *,
    require_label: bool = False,
    allow_nan: bool = False,
    allow_missing: bool = False,
    fmt: CsvFormat = DEFAULT_FORMAT,
    choose=None,
) -> Dataset:
    """Read a delimited file (``fmt``: delimiter and decimal mark; commas and points by default) whose first
    row is a header (see :func:`read_table`).

    ``label`` names the label column (``y``); all other columns are features and must be numbers. With
    ``label=None`` every column is a feature and ``y`` is None (an error if ``require_label``). With
    ``allow_nan`` empty cells and ``nan`` become NaN and ``inf``/``-inf`` are accepted in features; with
    ``allow_missing`` only the missing values (empty cells, ``nan``) are; otherwise they are errors. Labels
    must never be empty: numeric labels become int64 (all integral) or float64; any non-numeric label makes
    all labels strings. ``choose`` (the header's feature names -> the ones to read, in order) picks the feature
    columns before any cell is read, so a column left out (a timestamp, an id) may hold anything.
    """
    table = read_table(path, fmt)
    shown, header = table.shown, table.header
    if label is None and require_label:
        raise TinygenError(
            f"a label column is required for {shown}; name it with --label COLUMN "
            f"(columns: {names_list(header)})"
        )
    if label is not None:
        table.check_column(label)

    feature_names = [name for name in header if name != label]
    if not feature_names:
        raise TinygenError(
            f"{shown} has no feature columns: its only column is the label {label!r}; add feature columns"
        )
    if choose is not None:
        feature_names = choose(feature_names)
    X = table.numbers(feature_names, allow_nan=allow_nan, allow_missing=allow_missing)
    y = table.labels(label) if label is not None else None
    return Dataset(X=X, y=y, feature_names=feature_names, label_name=label)


# ---------------------------------------------------------------------------------------------------- columns


def generated_names(n_features: int) -> list[str]:
    """The names of the features of a model fitted on arrays (no names given): x0, x1, ..."""
    return [f"x{i}" for i in range(n_features)]


def given_names(names) -> list[str] | None:
    """``names`` as a list, or None when they are the generated x0, x1, ... of a model fitted without names."""
    if names is None:
        return None
    names = [str(n) for n in names]
    return None if names == generated_names(len(names)) else names


def load_for_model(
    path: str | os.PathLike,
    label: str | None,
    feature_names: list[str] | None,
    n_features: int | None = None,
    *,
    fmt: CsvFormat = DEFAULT_FORMAT,
    require_label: bool = False,
    allow_nan: bool = False,
    allow_missing: bool = False,
    note=None,
    leave_out: tuple[str, ...] = (),
) -> Dataset:
    """Rows of a CSV as the inputs of a model whose features are ``feature_names``, in the model's order.

    Columns are matched by name: all present in another order -> reordered (``note`` is called once with a
    line saying so); missing or unexpected columns -> a TinygenError listing them. ``feature_names=None`` is a
    model fitted without names (it has ``n_features``, called x0, x1, ...; None: any count): its CSV must
    name the columns so, or ``fmt.by_position`` takes them in order. With ``fmt.by_position`` only the count
    is checked, and the features keep the model's names (or the CSV's, for a model without names).
    Columns named in ``leave_out`` (besides the label: e.g. fleet's client column) are never features.
    """
    if feature_names is not None:
        feature_names = [str(n) for n in feature_names]
        n_features = len(feature_names)
    shown = repr(str(path))
    positional = fmt.by_position or n_features is None
    expected = None if positional else (feature_names or generated_names(n_features))

    def choose(header: list[str]) -> list[str]:
        header = [name for name in header if name not in leave_out]
        if positional:
            _check_count(shown, len(header), n_features, label)
            return header
        if header != expected and len(header) == len(expected) and set(header) == set(expected) \
                and len(set(expected)) == len(expected):
            if note is not None:
                note(f"note: the columns of {shown} are in another order than the model's features; they were "
                     "matched by name")
            return expected
        if header != expected:
            raise TinygenError(_mismatch_message(shown, header, expected, label, named=feature_names is not None))
        return header

    dataset = load_csv(path, label, require_label=require_label, allow_nan=allow_nan, allow_missing=allow_missing,
                       fmt=fmt, choose=choose)
    if positional and feature_names is not None:
        dataset.feature_names = feature_names
    return dataset


def _check_count(shown: str, n_columns: int, n_features: int | None, label: str | None) -> None:
    if n_features is None or n_columns == n_features:
        return
    hint = ""
    if label is None and n_columns == n_features + 1:
        hint = " (is the label column in there? name it with --label)"
    raise TinygenError(f"{shown} has {n_columns} feature columns but the model takes {n_features}{hint}")


def _mismatch_message(shown: str, header: list[str], expected: list[str], label: str | None, named: bool) -> str:
    """One line: which columns are missing and which are unexpected, and the option that helps."""
    if len(header) != len(expected):
        message = f"{shown} has {len(header)} feature columns but the model takes {len(expected)}"
    else:
        message = f"the columns of {shown} do not match the model's {len(expected)} features by name"
    if not named:
        message += (f": the model was fitted without feature names (x0..x{len(expected) - 1}); name the columns "
                    "so, or give --by-position to take them in order")
        return message + (" (is the label column in there? name it with --label)"
                          if label is None and len(header) == len(expected) + 1 else "")
    message += name_differences(header, expected)
    if label is None and set(header) - set(expected):
        message += " (if one of them is the label column, name it with --label; it is never a feature)"
    if not set(header) & set(expected):
        message += "; if the columns are in the model's order, give --by-position"
    return message


def name_differences(got: list[str], expected: list[str]) -> str:
    """``; missing: 'a'; unexpected: 'b'`` (or that the same names come in another order)."""
    missing = [name for name in expected if name not in set(got)]
    unexpected = [name for name in got if name not in set(expected)]
    text = f"; missing: {names_list(missing)}" if missing else ""
    text += f"; unexpected: {names_list(unexpected)}" if unexpected else ""
    return text or f"; the same names in another order (the model's: {names_list(expected)})"


def column_choice(keep=None, drop=None, label: str | None = None):
    """For load_csv's ``choose``: only the feature columns ``keep`` (in that order), or all but those in
    ``drop`` (None: every column); the columns left out are never read."""
    keep, drop = list(keep or ()), list(drop or ())
    if keep and drop:
        raise TinygenError("--columns and --drop together: give one of them (--columns keeps, --drop leaves out)")
    if not keep and not drop:
        return None
    names = list(dict.fromkeys(keep or drop))
    option = "--columns" if keep else "--drop"
    if label in names:
        raise TinygenError(f"{option} names the label column {label!r}; it is never a feature: leave it out")

    def choose(feature_names: list[str]) -> list[str]:
        unknown = [name for name in names if name not in feature_names]
        if unknown:
            raise TinygenError(f"{option}: unknown column{'s' if len(unknown) > 1 else ''} {names_list(unknown)}; "
                               f"the feature columns are {names_list(feature_names, 30)}")
        chosen = names if keep else [name for name in feature_names if name not in names]
        if not chosen:
            raise TinygenError("--drop leaves no feature column; keep at least one")
        return chosen

    return choose


# ---------------------------------------------------------------------------------------------------- bundled


def load_bundled(name: str) -> Dataset:
    """One of the datasets that ship with scikit-learn (no network): see :data:`BUNDLED`.

    Feature names are scikit-learn's, as plain ``str``; the label column is called ``"target"`` and holds
    int64 class indices (classification sets) or float64 values (``diabetes``).
    """
    if name not in BUNDLED:
        raise TinygenError(f"unknown bundled dataset {name!r}; choose one of: {', '.join(BUNDLED)}")
    from sklearn import datasets

    bunch = getattr(datasets, f"load_{name}")()
    X = np.ascontiguousarray(bunch.data, dtype=np.float64)
    target = np.asarray(bunch.target)
    y = target.astype(np.int64) if np.issubdtype(target.dtype, np.integer) else target.astype(np.float64)
    feature_names = [str(n) for n in bunch.feature_names]
    return Dataset(X=X, y=y, feature_names=feature_names, label_name="target")


# ---------------------------------------------------------------------------------------------------- writing


def _label_cell(value: object) -> str:
    if isinstance(value, (float, np.floating)):
        return repr(float(value))
    if isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_)):
        return str(int(value))
    return str(value)


def write_csv(dataset: Dataset, path: str | os.PathLike) -> None:
    """Write ``dataset`` as CSV, atomically: header = feature names (+ label name), floats as ``repr``.

    ``load_csv(path, dataset.label_name)`` gives back the same float64 features bit for bit.
    """
    X = np.asarray(dataset.X, dtype=np.float64)
    if X.ndim != 2 or X.shape[1] != len(dataset.feature_names):
        raise TinygenError(
            f"cannot write {str(path)!r}: the data has shape {X.shape} but {len(dataset.feature_names)} "
            "feature names"
        )
    has_label = dataset.y is not None
    if has_label and dataset.label_name is None:
        raise TinygenError(f"cannot write {str(path)!r}: the dataset has labels but no label name")
    header = list(dataset.feature_names) + ([str(dataset.label_name)] if has_label else [])
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(header)
    labels = list(dataset.y) if has_label else None
    for i, row in enumerate(X):
        cells = [repr(float(v)) for v in row]
        if labels is not None:
            cells.append(_label_cell(labels[i]))
        writer.writerow(cells)
    atomic_write_text(path, out.getvalue())
