"""`tinygen verify OUTDIR/NAME.json`: the files that ship, as they are, instead of a fresh conversion.

A MODEL argument is a manifest when its JSON says `"format": "tinygen-model"` (whatever its suffix). The header
is the file beside it with the manifest's stem and `.h` (OUTDIR/NAME.h); its C names use the manifest's "name".
verify then checks (verify.verify with shipped=...):
- "header matches manifest": the two SHA-256 digests of digests.py (each file carries the other's), so an edit
  of either file, or a header of another export, fails; version-1 manifests carry no digest: the check is left
  out and the report says so in "notes" (re-export to get it);
- "C == simulator on T": the C compiled from that header file against the simulator of that manifest;
- with --model MODEL: "manifest comes from --model" (features, task, classes and model kind; for the exact dtype,
  which needs no calibration, the very integer program), then the accuracy drop and agreement against the float
  model as for a model file.
"""
from __future__ import annotations

import contextlib
import json
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from . import digests
from .api import ConvertedModel, convert
from .emit import check_name
from .errors import TinygenError
from .frontend import to_float_program
from .ir import FORMAT, Program, check_version

CHECK_NAME = "header matches manifest"
V1_NOTE = ("{manifest} is a version-1 manifest: it carries no digest of its header, so the header was not checked "
           "against it (the C built from {header} was still compared with its simulator on every row); re-export the "
           "model with this tinygen to get the check")


@dataclass
class Shipped:
    """An exported pair: NAME.json (its program) and the NAME.h beside it (the bytes that ship)."""

    manifest_path: Path
    header_path: Path
    name: str  # the C prefix of the header's symbols (the manifest's "name")
    version: int
    model: ConvertedModel
    problems: list[str] | None  # why the header and manifest do not match ([]: they do; None: not checkable)
    header_bytes: bytes = b""  # NAME.h as read once: the bytes checked are the bytes compiled
    notes: list[str] = field(default_factory=list)

    @property
    def program(self) -> Program:
        return self.model.program

    def checks(self, estimator=None) -> list[dict]:
        """The header-vs-manifest check (absent for a version-1 manifest) and, given the float model, whether
        the manifest was exported from it. A model of another width is bad input (TinygenError)."""
        checks = []
        if self.problems is not None:
            detail = (f"{self.header_path} and {self.manifest_path} carry each other's SHA-256" if not self.problems
                      else "; ".join(self.problems) + "; re-export both files (tinygen export) and ship them together")
            checks.append({"name": CHECK_NAME, "passed": not self.problems, "detail": detail})
        if estimator is not None:
            checks.append(self._model_check(estimator))
        return checks

    def _model_check(self, estimator) -> dict:
        float_program = to_float_program(estimator)
        program = self.program
        if float_program.n_features != program.n_features:
            raise TinygenError(f"--model takes {float_program.n_features} features where {self.manifest_path} takes "
                               f"{program.n_features}: give the model the manifest was exported from")
        differences = [f"{what}: {want!r} in the model, {got!r} in the manifest" for what, got, want in (
            ("task", program.task, float_program.task), ("classes", program.labels, float_program.labels),
            ("model", program.source, float_program.source)) if got != want]
        if not differences and program.dtype == "exact" and not _same_exact_program(program, estimator):
            differences.append("the manifest's exact integer program is not the one this model converts to (another "
                               "fit of the same kind?)")
        return {"name": "manifest comes from --model", "passed": not differences,
                "detail": "; ".join(differences) if differences else
                f"{program.source}, {program.n_features} features" +
                (f", classes {', '.join(map(str, program.labels))}" if program.labels else "") +
                ("; the same exact integer program" if program.dtype == "exact" else "")}

    @contextlib.contextmanager
    def header_file(self):
        """A temporary NAME.h holding the header's bytes as read and checked, so the C compiled is exactly what the
        digests were computed on (and no user path has to be quoted into a compiler's -D option)."""
        with tempfile.TemporaryDirectory(prefix="tinygen-shipped-") as tmp:
            path = Path(tmp) / self.header_path.name
            path.write_bytes(self.header_bytes)
            yield path

    def describe(self) -> dict:
        """What the report says of the files: paths, schema version and the header check's outcome."""
        outcome = "skipped (version-1 manifest: no digests)" if self.problems is None else \
            ("passed" if not self.problems else "failed")
        return {"manifest": str(self.manifest_path), "header": str(self.header_path), "manifest_version": self.version,
                "header_check": outcome, "notes": list(self.notes)}


def _same_exact_program(program: Program, estimator) -> bool:
    """Whether the estimator converts to the manifest's ops: the exact dtype needs no calibration, so the export's
    conversion can be repeated (with the manifest's tree layout and its use of threshold bins)."""
    layout = next((op.layout_name() for op in program.ops if op.layout_name() is not None), "auto")
    bins = any(op.op == "threshold_bins" for op in program.ops)
    fresh = convert(estimator, dtype="exact", layout=layout, bins=bins).program
    return json.dumps([op.to_dict() for op in fresh.ops]) == json.dumps([op.to_dict() for op in program.ops])


def _read_json(path: Path):
    try:
        return json.loads(path.read_bytes())
    except (OSError, UnicodeDecodeError, ValueError):
        return None


def is_manifest(path) -> bool:
    """True when the file is a tinygen manifest by its JSON "format"; a .json file that is not one is bad input
    (so is a missing .json); anything else is left to the model loader."""
    path = Path(path)
    if path.suffix.lower() == ".json":
        if not path.is_file():
            raise TinygenError(f"manifest {path} not found; pass the NAME.json that `tinygen export` wrote")
        data = _read_json(path)
        if not isinstance(data, dict) or data.get("format") != FORMAT:
            raise TinygenError(f"{path} is not a tinygen manifest (no \"format\": \"{FORMAT}\" in it); pass the "
                               "NAME.json that `tinygen export` wrote, or a model file (.skops)")
        return True
    try:
        with open(path, "rb") as fh:
            if fh.read(64).lstrip()[:1] != b"{":  # .skops is a zip, pickles are binary: no need to read them whole
                return False
    except OSError:
        return False
    data = _read_json(path)
    return isinstance(data, dict) and data.get("format") == FORMAT


def load(manifest_path) -> Shipped:
    """The manifest, its program and the header beside it, with the digests compared. A missing header, or a
    manifest this tinygen cannot read, is bad input (TinygenError)."""
    manifest_path = Path(manifest_path)
    try:
        manifest_bytes = manifest_path.read_bytes()
        data = json.loads(manifest_bytes)
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise TinygenError(f"cannot read manifest {manifest_path}: {exc}") from None
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise TinygenError(f"{manifest_path} is not a tinygen manifest; pass the NAME.json that `tinygen export` wrote")
    version = check_version(data.get("version"))
    program = Program.from_dict(data)
    name = data.get("name") or manifest_path.stem
    if not isinstance(name, str):
        raise TinygenError(f"the manifest {manifest_path} is damaged: its \"name\" is not text; re-export the model")
    check_name(name)
    header_path = manifest_path.with_suffix(".h")
    if not header_path.is_file():
        raise TinygenError(f"header {header_path} not found beside {manifest_path}: verify checks the files that "
                           "ship together; put the header back, or re-export both (tinygen export)")
    try:
        header_bytes = header_path.read_bytes()
    except OSError as exc:
        raise TinygenError(f"cannot read header {header_path}: {exc.strerror or exc}") from None
    shipped = Shipped(manifest_path, header_path, name, version, ConvertedModel(program), None, header_bytes)
    if version >= 2:
        shipped.problems = digests.mismatches(header_bytes, manifest_bytes, str(header_path), str(manifest_path))
    else:
        shipped.notes.append(V1_NOTE.format(manifest=manifest_path, header=header_path))
    return shipped


def check_options(shipped: Shipped, dtype=None, calibration=None, layout="auto", bins=None, max_accuracy_drop=None,
                  has_model: bool = False) -> None:
    """Options that convert a model have nothing to do with a manifest, which is verified as exported; --dtype is
    accepted when it names the manifest's own dtype."""
    given = [option for option, value in (("--calibration", calibration), ("--layout", layout != "auto"),
                                          ("--bins/--no-bins", bins is not None)) if value]
    if given:
        raise TinygenError(f"{', '.join(given)} {'is' if len(given) == 1 else 'are'} for converting a model; "
                           f"{shipped.manifest_path} is verified as exported: leave {'it' if len(given) == 1 else 'them'} "
                           "out (re-export to change them)")
    if dtype is not None and dtype != shipped.program.dtype:
        raise TinygenError(f"--dtype {dtype}: {shipped.manifest_path} holds a {shipped.program.dtype} program, verified as "
                           f"exported; leave --dtype out, or re-export with --dtype {dtype}")
    if max_accuracy_drop is not None and not has_model:
        raise TinygenError("--max-accuracy-drop compares the simulator with the float model: add --model MODEL")
