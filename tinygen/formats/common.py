"""What every package format shares: the template context, text sanitizers, deterministic zips and the
all-or-nothing writer.

A format renders everything in memory first (a `Package`: its files as bytes), so a template error or a
bad name fails before anything reaches the disk; `write_outputs` then writes NAME.h, NAME.json and the
package so that an error leaves none of this call's files behind.
"""
from __future__ import annotations

import contextlib
import hashlib
import io
import json
import os
import re
import shutil
import tempfile
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..version import __version__
from ..emit import environment as c_environment
from ..emit import suggest_name
from ..errors import TinygenError
from ..files import atomic_path
from ..trainable import describe

DEFAULT_VERSION = "1.0.0"
AUTHOR = "tinygen"
PROJECT_URL = "https://pypi.org/project/tinygen/"
KEYWORDS = ["tinygen", "machine-learning", "tinyml", "scikit-learn", "fixed-point"]
VERSION_PATTERN = re.compile(r"(0|[1-9][0-9]{0,8})\.(0|[1-9][0-9]{0,8})\.(0|[1-9][0-9]{0,8})")

# Timestamp, permissions and compression of every zip entry: same inputs, same bytes.
ZIP_DATE = (1980, 1, 1, 0, 0, 0)
ZIP_FILE_MODE = 0o100644
ZIP_DIR_MODE = 0o040755

# NAME.h ends up on an include path (-I OUTDIR, a package's include/, a sketch folder): a name that is also a
# standard C header, an Arduino core header or a bundled library would shadow it (or be shadowed), e.g.
# `stdint` makes the model's own #include <stdint.h> include the model itself. So every format refuses
# them. Windows device names cannot be file names at all. Compared case-insensitively, as the file systems
# of Windows and macOS do.
SHADOWED_HEADERS = frozenset(name.lower() for name in """
assert complex ctype errno fenv float inttypes iso646 limits locale math setjmp signal stdalign stdarg
stdatomic stdbool stddef stdint stdio stdlib stdnoreturn string strings tgmath threads time uchar wchar wctype
alloca malloc memory unistd fcntl new
Arduino binary Client HardwareSerial HardwareSerial_private IPAddress PluggableUSB Print Printable Server
Stream Udp USBAPI USBCore USBDesc WCharacter WString wiring_private pins_arduino
EEPROM HID SPI SoftwareSerial Wire Servo SD Stepper LiquidCrystal Ethernet WiFi Keyboard Mouse Firmata
sdkconfig esp_err esp_log esp_system
""".split())
DEVICE_NAMES = frozenset(["con", "prn", "aux", "nul"] + [f"com{i}" for i in range(1, 10)] + [f"lpt{i}" for i in range(1, 10)])


def check_file_name(name: str) -> str:
    """Refuse names that cannot be a header's file name, in any format (the C identifier check came first)."""
    lowered = name.lower()
    if lowered in DEVICE_NAMES:
        raise TinygenError(f"name {name!r} is a reserved device name on Windows and cannot name the model's files; "
                           f"try --name {name}_model")
    if lowered in SHADOWED_HEADERS:
        raise TinygenError(f"name {name!r} would make the model's header {name}.h clash with the system or Arduino "
                           f"header <{name}.h> on the include path; try --name {name}_model")
    return name


def check_version(version: str) -> str:
    if not isinstance(version, str) or not VERSION_PATTERN.fullmatch(version):
        raise TinygenError(f"library version {version!r} is not MAJOR.MINOR.PATCH (e.g. 1.0.0)")
    return version


# ---- text that leaves C -----------------------------------------------------------------------------
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")


def one_line(text, limit: int = 400) -> str:
    """Text for a one-line `key=value` file (library.properties): no control characters or line breaks,
    whitespace runs collapsed, at most `limit` characters."""
    text = " ".join(_CONTROL.sub(" ", str(text)).split())
    return text if len(text) <= limit else text[: limit - 3].rstrip() + "..."


def json_value(value) -> str:
    """A JSON (and YAML) scalar: json.dumps with every non-ASCII character escaped."""
    return json.dumps(value, ensure_ascii=True)


def environment():
    """tinygen's Jinja2 environment (C filters included) plus the filters of the package files."""
    env = c_environment()
    env.filters.update(one_line=one_line, json=json_value)
    return env


def render(template: str, **context) -> bytes:
    return environment().get_template(template).render(**context).encode("utf-8")


# ---- what the package templates get -----------------------------------------------------------------
def example_row(model, example) -> tuple[list[float], str]:
    """The example row as float32 values and a note saying where it came from (a window program's row is a
    whole window, time-major)."""
    n = model.program.n_features
    what = "window" if model.program.window_op is not None else "row"
    if example is None:
        return [0.0] * n, "all zeros: no calibration data was given"
    row = np.asarray(example, dtype=np.float64).reshape(-1)
    if row.shape[0] != n:
        raise TinygenError(f"the example {what} has {row.shape[0]} values but the model takes {n} features")
    return [float(v) for v in row.astype(np.float32)], f"the first {what} of the calibration data"


def window_context(program) -> dict | None:
    """A window program's stream (the header's NAME_WINDOW, NAME_HOP, NAME_N_CHANNELS and the channel names, in
    the order a frame holds them); None for a row program."""
    streaming = program.window_op
    if streaming is None:
        return None
    conversion = next(op for op in program.ops if op.op == "window_input")
    return {"window": int(streaming.window), "hop": int(streaming.hop or streaming.window),
            "n_channels": int(streaming.n_channels), "channels": [str(c) for c in conversion.channels]}


def model_id(program) -> int:
    """32 bits that name the integer program (the first of the SHA-256 of its manifest without name and digests):
    a trainable sketch stores them beside its weights in EEPROM, so an image a different export wrote is ignored."""
    text = json.dumps(program.to_dict(), sort_keys=True, ensure_ascii=True)
    return int(hashlib.sha256(text.encode("ascii")).hexdigest()[:8], 16)


def trainable_context(program) -> dict | None:
    """A trainable program's loss, the rate the device runs, its weight bytes and its id; None otherwise."""
    layer = program.trainable_op
    if layer is None:
        return None
    return {"loss": layer.loss, "rate": describe(layer.schedule), "regression": bool(layer.regression),
            "weights_bytes": 4 * (layer.n_out * layer.n_in + layer.n_out), "model_id": model_id(program),
            "l2": None if layer.l2_shift is None else f"2^-{layer.l2_shift}"}


def context(model, name: str, example=None, version: str = DEFAULT_VERSION) -> dict:
    """Everything the package templates may use; user text still goes through c_string / c_comment /
    one_line / json there."""
    program = model.program
    classifier = program.task == "classification"
    row, note = example_row(model, example)
    labels = [str(v) for v in (program.labels or [])] if classifier else []
    kind = "classifier" if classifier else "regressor"
    sentence = f"{program.source or 'model'} {kind} ({program.dtype}) as one dependency-free C header, made by tinygen."
    classes = f" Classes: {', '.join(labels)}." if classifier else ""
    paragraph = (f"{name}_predict(x) takes {program.n_features} float features and returns "
                 + ("the class index (name: " + name + "_label(i))" if classifier else "the predicted value")
                 + f"; {name}_scores(x, out) gives the raw outputs, bit-exact with the tinygen simulator. "
                 + ("float32 arithmetic." if program.dtype == "float32" else "Integer arithmetic only.")
                 + classes)
    return {
        "name": name,
        "version": check_version(version),
        "tinygen_version": __version__,
        "author": AUTHOR,
        "url": PROJECT_URL,
        "keywords": KEYWORDS,
        "sentence": sentence,
        "paragraph": paragraph,
        "description": sentence,
        "source": program.source or "model",
        "task": program.task,
        "dtype": program.dtype,
        "classifier": classifier,
        "fixed": program.is_fixed,
        "integer_scores": program.ops[-1].out_type != "float32",  # fixed point, and every tree dtype
        "n_features": program.n_features,
        "n_outputs": program.n_outputs,
        "feature_names": [str(f) for f in program.feature_names] or [f"x{i}" for i in range(program.n_features)],
        "labels": labels,
        "example": row,
        "example_note": note,
        "window": window_context(program),
        "trainable": trainable_context(program),
    }


# ---- packages ------------------------------------------------------------------------------------------
@dataclass
class Package:
    """A rendered package: `path` (relative to OUTDIR) is a zip file (kind "zip", files zipped under one
    top folder `root`), one file (kind "file", its one entry written as is) or a directory (kind "dir") holding `files` (relative POSIX path -> bytes)."""

    kind: str
    path: str
    files: dict[str, bytes] = field(default_factory=dict)
    root: str = ""

    def zip_bytes(self) -> bytes:
        return deterministic_zip(self.files, self.root)


def deterministic_zip(files: dict[str, bytes], root: str) -> bytes:
    """A zip of `files` under the folder `root`/: sorted entries (folders too), fixed dates and modes."""
    entries: dict[str, bytes | None] = {}
    for rel, data in files.items():
        parts = [root, *rel.split("/")]
        for depth in range(1, len(parts)):
            entries["/".join(parts[:depth]) + "/"] = None
        entries["/".join(parts)] = data
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for entry in sorted(entries):
            info = zipfile.ZipInfo(entry, date_time=ZIP_DATE)
            info.create_system = 3  # Unix, so the modes below are read
            data = entries[entry]
            if data is None:
                info.external_attr = (ZIP_DIR_MODE << 16) | 0x10  # + the MS-DOS directory flag
                archive.writestr(info, b"")
            else:
                info.external_attr = ZIP_FILE_MODE << 16
                info.compress_type = zipfile.ZIP_DEFLATED
                archive.writestr(info, data, compress_type=zipfile.ZIP_DEFLATED, compresslevel=9)
    return buffer.getvalue()


def _umask_mode(mode: int) -> int:
    umask = os.umask(0)
    os.umask(umask)
    return mode & ~umask


def _stage_tree(outdir: Path, package: Package) -> Path:
    """Write a directory package into a hidden temporary folder next to its final place."""
    staged = Path(tempfile.mkdtemp(prefix=f".{package.path}.", suffix=".tmp", dir=outdir))
    try:
        os.chmod(staged, _umask_mode(0o777))
        for rel in sorted(package.files):
            target = staged.joinpath(*rel.split("/"))
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(package.files[rel])
    except OSError as exc:
        shutil.rmtree(staged, ignore_errors=True)
        raise TinygenError(f"cannot write {outdir / package.path}: {exc.strerror or exc}") from None
    except BaseException:
        shutil.rmtree(staged, ignore_errors=True)
        raise
    return staged


def _swap_in(staged: Path, target: Path) -> None:
    """Put the staged folder at `target`, replacing an older package there (kept until the swap is done)."""
    backup = None
    try:
        if target.exists():
            backup = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".old", dir=target.parent))
            os.rmdir(backup)
            os.rename(target, backup)
        os.rename(staged, target)
    except OSError as exc:
        if backup is not None and backup.exists() and not target.exists():
            os.rename(backup, target)
        raise TinygenError(f"cannot write {target}: {exc.strerror or exc}") from None
    if backup is not None:
        shutil.rmtree(backup, ignore_errors=True)


def _check_targets(outdir: Path, paths: dict[str, Path], package: Package | None) -> None:
    for key, path in paths.items():
        want_dir = package is not None and key == "package" and package.kind == "dir"
        if path.exists() and path.is_dir() != want_dir:
            what = "a directory" if path.is_dir() else "a file"
            raise TinygenError(f"cannot write {path}: {what} of that name is in the way; remove it or choose another -o")


# The output is a directory; one whose name ends like a file tinygen writes or reads (-o out/model.h) was
# meant as a file, so it is refused rather than made into a directory. Other dotted names (build.v2) pass.
FILE_SUFFIXES = (".h", ".hpp", ".c", ".cc", ".cpp", ".ino", ".json", ".zip", ".tflite", ".csv", ".skops", ".joblib",
                 ".pkl", ".xml", ".html", ".txt")


def check_outdir(outdir, name: str | None = None) -> Path:
    """Refuse an output directory that is an existing file or is named like a file (e.g. out/model.h)."""
    outdir = Path(outdir)
    if outdir.exists() and not outdir.is_dir():
        raise TinygenError(f"output directory {str(outdir)!r} is a file; -o takes the directory NAME.h and NAME.json "
                           "go in: remove the file or choose another -o")
    if outdir.suffix.lower() in FILE_SUFFIXES and not outdir.is_dir():
        stem = name or suggest_name(outdir.stem)
        raise TinygenError(f"output directory {str(outdir)!r} looks like a file name; -o takes the directory NAME.h "
                           f"and NAME.json go in: use -o {outdir.parent} --name {stem}")
    return outdir


def write_outputs(outdir, name: str, header: str, manifest: str, package: Package | None) -> dict[str, Path]:
    """Write OUTDIR/NAME.h, OUTDIR/NAME.json and the package; on any error, none of them (from this call)
    remains. Returns {"header", "manifest"[, "package"]} -> path."""
    outdir = check_outdir(outdir, name)
    paths = {"header": outdir / f"{name}.h", "manifest": outdir / f"{name}.json"}
    if package is not None:
        paths["package"] = outdir / package.path
    try:
        outdir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        blocker = next((p for p in (outdir, *outdir.parents) if p.exists() and not p.is_dir()), None)
        reason = f"{str(blocker)!r} is a file" if blocker is not None else exc.strerror
        raise TinygenError(f"cannot create output directory {outdir}: {reason}; choose another output directory") from None
    _check_targets(outdir, paths, package)
    zipped = package.zip_bytes() if package is not None and package.kind == "zip" else None
    if package is not None and package.kind == "file":  # one file, written as is (e.g. NAME.tflite)
        (zipped,) = package.files.values()
    contents = {"header": header.encode("utf-8"), "manifest": manifest.encode("utf-8")}
    if zipped is not None:
        contents["package"] = zipped
    staged = _stage_tree(outdir, package) if package is not None and package.kind == "dir" else None
    try:
        # every file goes to a temporary next to its place first; the renames come only once all are written
        # (a failure before them leaves the older files, if any, as they were)
        with contextlib.ExitStack() as renames:
            for key, data in contents.items():
                renames.enter_context(atomic_path(paths[key])).write_bytes(data)
            if staged is not None:
                _swap_in(staged, paths["package"])
                staged = None
    finally:
        if staged is not None:
            shutil.rmtree(staged, ignore_errors=True)
    return paths
