"""Raw sensor CSVs (one row per sample) cut into windows: the rows WindowFeatures and `train --window` take.

A raw CSV has a recording column (``group``: which recording a sample belongs to; any text), channel columns
(numbers), a label column and optionally a time column. Samples are taken in file order within each recording;
with a time column they are sorted by time within each recording first (stable), and the number of recordings
whose rows were not in time order is reported (not an error: files glued from parts are common); two samples of
one recording at the same time are an error (their order would be a guess). The rows of one recording need not be
next to each other in the file; recordings are taken in the order of their first row.

Each recording of L samples gives the windows that start at 0, hop, 2 hop, ... and end inside it: (L - window) //
hop + 1 of them, none if L < window (such recordings are counted). Windows never cross recordings. A window
whose samples carry more than one label is dropped and counted; the others take their samples' label. A window
row is its samples flattened time-major: [s0 ch0, s0 ch1, ..., s0 chC-1, s1 ch0, ...] (float64). All of it is
vectorised: memory is about windows x window x channels x 8 bytes (hop 1 on a long file costs window times the
file's size).
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field

import numpy as np

from . import data
from .errors import TinygenError


@dataclass
class Windows:
    """The windows of a raw CSV: X [windows, window * channels] float64 time-major, y the label of each window,
    groups the recording of each window (str objects), and the counts that say what was left out."""

    X: np.ndarray
    y: np.ndarray
    groups: np.ndarray
    channel_names: list[str]
    window: int
    hop: int
    n_samples: int
    n_recordings: int
    short_recordings: int = 0  # recordings shorter than the window: they give no window
    mixed_windows: int = 0  # windows dropped because their samples carry more than one label
    reordered_recordings: int = 0  # recordings whose rows were not in time order (sorted by the time column)
    skipped_columns: list[str] = field(default_factory=list)  # text columns left out of the default channels
    label_name: str = "label"
    clock_channels: list[str] = field(default_factory=list)  # channels that increase through every recording
    starts: np.ndarray | None = None  # per window: the index of its first sample in its recording (time order)
    lines: np.ndarray | None = None  # per window: the CSV line of its first sample (the header is line 1)
    feature_names = None  # a window's values are the model's own inputs, channel[t] (data.Dataset has names)

    @property
    def n_windows(self) -> int:
        return int(self.X.shape[0])

    def summary(self) -> str:
        """One line: samples, recordings, windows and what was dropped."""
        line = (f"{self.n_samples} samples in {self.n_recordings} recordings -> {self.n_windows} windows of "
                f"{self.window} samples x {len(self.channel_names)} channels (hop {self.hop}); dropped "
                f"{self.mixed_windows} window{_s(self.mixed_windows)} that span two labels")
        if self.short_recordings:
            line += (f"; {self.short_recordings} recording{_s(self.short_recordings)} shorter than the window "
                     "gave none")
        return line

    def notes(self) -> list[str]:
        """Lines worth a `note:` (what the user may not expect), possibly none."""
        lines = []
        if self.reordered_recordings:
            lines.append(f"{self.reordered_recordings} recording{_s(self.reordered_recordings)} had rows out of time "
                         "order; they were sorted by the time column")
        if self.clock_channels:
            lines.append(f"channel{_s(len(self.clock_channels))} {data.names_list(self.clock_channels)} increase"
                         f"{'s' if len(self.clock_channels) == 1 else ''} through every recording: if that is a "
                         "clock, name it with --time (it is not a channel then)")
        if self.skipped_columns:
            lines.append(f"text column{_s(len(self.skipped_columns))} {data.names_list(self.skipped_columns)} "
                         "left out of the channels (the channels are the numeric columns; name them with --channels)")
        return lines

    def describe(self) -> dict:
        """What verify's JSON says of the windows ("windows")."""
        return {"window": self.window, "hop": self.hop, "channels": list(self.channel_names),
                "samples": self.n_samples, "recordings": self.n_recordings, "windows": self.n_windows,
                "mixed_label_windows_dropped": self.mixed_windows, "short_recordings": self.short_recordings}


@dataclass(frozen=True)
class WindowShape:
    """What a window model reads: windows of ``window`` samples of the channels named ``channels``, a new window
    every ``hop`` samples."""

    window: int
    hop: int
    channels: tuple[str, ...]

    def describe(self) -> str:
        return (f"windows of {self.window} samples x {len(self.channels)} channels ({', '.join(self.channels)}), "
                f"hop {self.hop}")


def window_shape(model) -> WindowShape | None:
    """The windows ``model`` reads, or None for a model of feature rows. ``model`` is an estimator (a Pipeline whose
    first step is WindowFeatures: its window, hop and fitted channel names) or a Program (a window program: its
    window_op's window and hop, and the channel names of its window_input op)."""
    from .frontend import window_step
    from .ir import Program

    if isinstance(model, Program):
        op = model.window_op
        if op is None:
            return None
        channels = next(o.channels for o in model.ops if o.op == "window_input")
        return WindowShape(int(op.window), int(op.hop or op.window), tuple(str(c) for c in channels))
    step = window_step(model)
    if step is None:
        return None
    return WindowShape(int(step.window), int(step.hop or step.window), tuple(step.channel_names_))


def _s(count: int) -> str:
    return "" if count == 1 else "s"


def check_window(window, hop=None) -> tuple[int, int]:
    """(window, hop) as ints, hop None -> window; a TinygenError for a window under 2 or a hop under 1."""
    if isinstance(window, bool) or not isinstance(window, (int, np.integer)) or window < 2:
        raise TinygenError(f"--window must be a whole number of samples, at least 2, not {window!r}")
    hop = window if hop is None else hop
    if isinstance(hop, bool) or not isinstance(hop, (int, np.integer)) or hop < 1:
        raise TinygenError(f"--hop must be a whole number of samples, at least 1, not {hop!r}")
    return int(window), int(hop)


def load_windows(path: str | os.PathLike, *, label: str | None, group: str, window: int, hop: int | None = None,
                 channels: list[str] | None = None, time: str | None = None, fmt: data.CsvFormat = data.DEFAULT_FORMAT,
                 allow_missing: bool = False) -> Windows:
    """The windows of the raw CSV at ``path`` (module doc). ``channels`` None: every column but the label, group and
    time columns whose first non-empty cell is a number (text columns are left out and listed in the result);
    ``allow_missing``: empty and NaN channel cells are read as NaN (for the models that take missing values);
    ``label`` None: no label column (y is None and no window is dropped: what simulate reads)."""
    window, hop = check_window(window, hop)
    table = data.read_table(path, fmt)
    roles = {"label column": label, "group column": group, "time column": time}
    for what, name in roles.items():
        if name is not None:
            table.check_column(name, what)
    named = [name for name in roles.values() if name is not None]
    if len(set(named)) != len(named):
        raise TinygenError(f"--label, --group and --time must name different columns, not {named!r}")
    chosen, skipped = _channel_columns(table, named, channels)
    samples = table.numbers(chosen, allow_missing=allow_missing,
                            must="channels must be numbers: name the channel columns with --channels")
    times = None
    if time is not None:
        times = table.numbers([time], must="the time column must hold numbers (seconds, milliseconds or sample "
                              "counts)")[:, 0]
    recordings = _recordings(table, group)
    labels = table.labels(label) if label is not None else None
    windows = cut_windows(samples, labels, recordings, window, hop, times=times,
                          lines=np.asarray(table.lines), channel_names=chosen)
    windows.skipped_columns, windows.label_name = skipped, label or "label"
    return windows


def _channel_columns(table: data.Table, roles: list[str], channels: list[str] | None) -> tuple[list[str], list[str]]:
    """(the channel columns, the text columns left out of the default); checked against the other roles."""
    if channels:
        for name in channels:
            table.check_column(name, "channel column")
        taken = [name for name in channels if name in roles]
        if taken:
            raise TinygenError(f"--channels names {data.names_list(taken)}, the label, group or time column; a "
                               "channel is a column of samples")
        if len(set(channels)) != len(channels):
            raise TinygenError(f"--channels names a column twice: {data.names_list(channels)}")
        return list(channels), []
    numeric, text = [], []
    for name in table.header:
        if name not in roles:
            first = next((cell for cell in table.cells[name] if cell.strip()), "")
            (numeric if table.is_number(first) else text).append(name)
    if not numeric:
        raise TinygenError(f"{table.shown} has no numeric column besides the label, group and time columns; the "
                           "channels are the columns of samples (name them with --channels)")
    return numeric, text


def _recordings(table: data.Table, group: str) -> np.ndarray:
    cells = np.asarray([cell.strip() for cell in table.cells[group]], dtype=object)
    empty = np.flatnonzero(cells == "")
    if len(empty):
        raise TinygenError(f"group column {group!r} in {table.shown} is empty at line {table.lines[empty[0]]} "
                           f"(data row {empty[0] + 1}); every sample needs its recording")
    return cells


def cut_windows(samples: np.ndarray, labels: np.ndarray | None, recordings: np.ndarray, window: int, hop: int | None = None,
                *, times: np.ndarray | None = None, lines: np.ndarray | None = None,
                channel_names: list[str] | None = None) -> Windows:
    """The windows of samples [n, channels] (module doc) with their labels [n] and recordings [n] (any sortable
    values), sorted by ``times`` [n] within each recording if given; ``lines`` [n] are the file's line numbers, for
    the messages (default: data row + 1, the header being line 1). ``labels`` None: every window is kept, y is None."""
    window, hop = check_window(window, hop)
    samples = np.asarray(samples, dtype=np.float64)
    n_samples, n_channels = samples.shape
    lines = np.arange(n_samples) + 2 if lines is None else lines
    recording_names, code = _recording_codes(np.asarray(recordings))
    order = np.argsort(code, kind="stable") if times is None else np.lexsort((times, code))
    sorted_code = code[order]
    same = sorted_code[1:] == sorted_code[:-1]
    reordered = 0
    if times is not None:
        _check_distinct_times(times, order, same, recording_names[sorted_code], lines)
        reordered = len(np.unique(sorted_code[1:][same & (np.diff(order) < 0)]))
    starts = np.flatnonzero(np.r_[True, ~same])
    lengths = np.diff(np.r_[starts, n_samples])
    first_samples, window_recording = _window_starts(starts, lengths, window, hop)
    rows = order[first_samples[:, None] + np.arange(window)]  # [windows, window]: the rows of each window
    labelled = labels is not None
    labels = np.asarray(labels) if labelled else np.zeros(n_samples, np.int64)
    _, label_code = np.unique(labels, return_inverse=True)
    mixed = (label_code[rows] != label_code[rows[:, :1]]).any(axis=1)
    if mixed.all():
        raise TinygenError(f"all {len(mixed)} windows of {window} samples span two labels; give a smaller --window")
    rows, window_recording, first_samples = rows[~mixed], window_recording[~mixed], first_samples[~mixed]
    names = list(channel_names or [f"ch{c}" for c in range(n_channels)])
    rising = (np.diff(samples[order], axis=0)[same] > 0).all(axis=0) if same.sum() > 1 else np.zeros(n_channels, bool)
    return Windows(X=samples[rows].reshape(len(rows), window * n_channels), y=labels[rows[:, 0]] if labelled else None,
                   groups=recording_names[window_recording], window=window, hop=hop, n_samples=n_samples,
                   channel_names=names, n_recordings=len(starts), short_recordings=int((lengths < window).sum()),
                   mixed_windows=int(mixed.sum()), reordered_recordings=reordered,
                   clock_channels=[name for name, up in zip(names, rising) if up],
                   starts=first_samples - starts[window_recording], lines=np.asarray(lines)[rows[:, 0]])


def _recording_codes(recordings: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(the recordings' names in the order of their first row, the code of each sample's recording in it)."""
    names, first, inverse = np.unique(recordings, return_index=True, return_inverse=True)
    by_first_row = np.argsort(first)
    rank = np.empty(len(names), dtype=np.int64)
    rank[by_first_row] = np.arange(len(names))
    return np.asarray(names[by_first_row], dtype=object), rank[inverse.reshape(-1)]


def _check_distinct_times(times: np.ndarray, order: np.ndarray, same: np.ndarray, recording_of: np.ndarray,
                          lines: np.ndarray) -> None:
    """A TinygenError if two samples of one recording have the same time (order: rows sorted by recording, time)."""
    sorted_times = times[order]
    tied = np.flatnonzero(same & (sorted_times[1:] == sorted_times[:-1]))
    if len(tied):
        i = tied[0]
        first, second = sorted(int(v) for v in lines[order[[i, i + 1]]])
        raise TinygenError(f"recording {recording_of[i]!r} has two samples at time {sorted_times[i]:g} (lines {first} "
                           f"and {second}, {len(tied)} such pair{_s(len(tied))} in all); each sample needs its own "
                           "time")


def _window_starts(starts: np.ndarray, lengths: np.ndarray, window: int, hop: int) -> tuple[np.ndarray, np.ndarray]:
    """(the sorted index of each window's first sample, each window's recording); an error if there is no window."""
    per_recording = np.where(lengths >= window, (lengths - window) // hop + 1, 0)
    total = int(per_recording.sum())
    if total == 0:
        raise TinygenError(f"no recording has {window} samples (the longest has {int(lengths.max())}, of "
                           f"{len(lengths)} recording{_s(len(lengths))}); give a smaller --window, or check --group")
    window_recording = np.repeat(np.arange(len(lengths)), per_recording)
    index_in_recording = np.arange(total) - np.repeat(np.cumsum(per_recording) - per_recording, per_recording)
    return starts[window_recording] + index_in_recording * hop, window_recording
