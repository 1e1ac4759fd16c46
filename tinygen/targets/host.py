"""The host target: the machine's gcc builds firmware/host/runner.c around the header and runs every row.

float32 models are built with -ffp-contract=off: without it a compiler may fuse a*b+c into one FMA with a
single rounding, and the float C would no longer equal the float32 simulator bit for bit.
"""
from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np

from ..errors import TinygenError
from . import toolchain
from .measurement import Measurement

CFLAGS = ["-std=c99", "-O2", "-ffp-contract=off", "-Wall", "-Wextra", "-Wpedantic", "-Wconversion", "-Werror"]
NUMPY_TYPES = {"int32": np.int32, "float32": np.float32}


def runner_defines(program, train: bool = False, start: bool = False) -> list[str]:
    """The -D flags that make firmware/host/runner.c call (and write) what this program's header offers; with
    `train`, the update rows first (a trainable program: TG_TRAIN, and TG_REGRESSION for a regressor); with `start`,
    NAME_load_weights of start.bin before them (TG_TRAIN_START)."""
    training = train_defines(program, start) if train else []
    return [*(["TG_FIXED"] if program.is_fixed else []), *(["TG_ANOMALY"] if program.anomaly_score_op is not None else []),
            *(["TG_PROBA"] if program.proba is not None else []), *training]


def train_defines(program, start: bool = False) -> list[str]:
    """The training defines every harness shares: TG_TRAIN, TG_REGRESSION for a regressor, TG_TRAIN_START when the
    updates start from loaded weights."""
    return ["TG_TRAIN", *(["TG_REGRESSION"] if program.task == "regression" else []),
            *(["TG_TRAIN_START"] if start else [])]


def build(program, header: Path, name: str, workdir: Path, train: bool = False, start: bool = False) -> Path:
    exe = workdir / f"{name}_runner"
    cmd = [toolchain.find("gcc"), *CFLAGS, f"-DTG_NAME={name}", f'-DTG_HEADER="{header.resolve()}"',
           *(f"-D{define}" for define in runner_defines(program, train, start)),
           str(toolchain.package_root("firmware") / "host" / "runner.c"),
           "-o", str(exe)]
    toolchain.run(cmd, f"building {header.name} with the host gcc")
    return exe


def multi_runner_source(programs: dict, directory: Path) -> Path:
    """One C program holding runner.c once per model (directory/NAME.h for each NAME in `programs`, its
    main renamed NAME_runner): `PROGRAM NAME rows.f32 out.bin` runs model NAME. Many models, one compile."""
    runner = toolchain.package_root("firmware") / "host" / "runner.c"
    lines = ["/* every model's host runner in one program; argv[1] names the model */", "#include <string.h>", ""]
    for name, program in programs.items():
        defines = [f"TG_NAME {name}", f'TG_HEADER "{(Path(directory) / name).resolve()}.h"', f"TG_MAIN {name}_runner",
                   *runner_defines(program)]
        lines += [f"#define {d}" for d in defines] + [f'#include "{runner}"']
        lines += [f"#undef {d.split()[0]}" for d in defines] + [""]
    lines += ["int main(int argc, char **argv)", "{"]
    for name in programs:
        lines.append(f'    if (argc == 4 && strcmp(argv[1], "{name}") == 0) {{\n        return {name}_runner(3, argv + 1);\n    }}')
    lines += ["    return 2;", "}"]
    path = Path(directory) / "runners.c"
    path.write_text("\n".join(lines) + "\n")
    return path


def measure(program, header: Path, name: str, X: np.ndarray, updates=None, start_weights: bytes | None = None
            ) -> Measurement:
    """Raw scores and predictions of the compiled C for every row of X, and the model's object size. updates (a
    trainable program): (X_updates, y_updates), each row one NAME_partial_fit step before the rows are predicted
    (y: class indices, or a regressor's float targets); the Measurement then has the weights, steps, saturations.
    start_weights (with updates): NAME_WEIGHTS_BYTES bytes NAME_load_weights takes before the updates (a fleet
    round's global weights); None: the exported weights."""
    start = start_bytes(program, updates, start_weights)
    if updates is None:
        return measurement(program, run_records(program, header, name, X), **size(header, name))
    trained, records = run_training(program, header, name, X, updates, start)
    measured = measurement(program, records, **size(header, name))
    measured.weights, measured.steps, measured.saturations = trained
    measured.extra["state_bytes"] = program.trainable_op.state_bytes
    return measured


def update_rows(program, updates) -> np.ndarray:
    """The update rows as the harnesses read them: N_FEATURES float32 then the label as float32 (a class index, or
    the target), per row."""
    if program.trainable_op is None:
        raise TinygenError("update rows are for trainable programs (export --trainable)")
    X_u, y_u = updates
    X_u = np.asarray(program.check_features(X_u), dtype=np.float32)
    y_u = np.asarray(y_u, dtype=np.float32).reshape(-1, 1)
    if len(y_u) != len(X_u):
        raise TinygenError(f"{len(X_u)} update rows but {len(y_u)} labels")
    return np.ascontiguousarray(np.hstack([X_u, y_u]), dtype="<f4")


def start_bytes(program, updates, start_weights) -> bytes | None:
    """start_weights checked: NAME_WEIGHTS_BYTES bytes of a trainable program run with updates (or None)."""
    if start_weights is None:
        return None
    if updates is None:
        raise TinygenError("start weights are loaded before update rows: pass updates=(X, y) too")
    if program.trainable_op is None:
        raise TinygenError("start weights are for trainable programs (export --trainable)")
    expected = len(program.trainable_op.weights_bytes())
    if len(start_weights) != expected:
        raise TinygenError(f"the start weights are {len(start_weights)} bytes; NAME_WEIGHTS_BYTES is {expected}")
    return bytes(start_weights)


def run_training(program, header: Path, name: str, X: np.ndarray, updates,
                 start: bytes | None = None) -> tuple[tuple, np.ndarray]:
    """((weights bytes, steps, saturations), records of X) of runner.c built with TG_TRAIN (and TG_TRAIN_START,
    loading ``start`` first, when given)."""
    n_bytes = len(program.trainable_op.weights_bytes())
    with tempfile.TemporaryDirectory(prefix="tinygen-host-") as tmp:
        workdir = Path(tmp)
        exe = build(program, Path(header), name, workdir, train=True, start=start is not None)
        update_rows(program, updates).tofile(workdir / "updates.f32")
        np.ascontiguousarray(X, dtype=np.float32).tofile(workdir / "rows.f32")
        out = workdir / "out.bin"
        files = [workdir / "updates.f32", workdir / "rows.f32", out]
        if start is not None:
            (workdir / "start.bin").write_bytes(start)
            files.insert(0, workdir / "start.bin")
        toolchain.run([str(exe), *map(str, files)], f"training {name} on the host")
        raw = out.read_bytes()
    steps, saturations = np.frombuffer(raw[n_bytes:n_bytes + 8], dtype="<u4")
    records = np.frombuffer(raw[n_bytes + 8:], dtype=record_dtype(program))
    return (raw[:n_bytes], int(steps), int(saturations)), records


def record_dtype(program) -> np.dtype:
    """One row of runner.c's output file: the scores and the prediction, then what runner_defines adds."""
    fields = [("scores", NUMPY_TYPES[program.ops[-1].out_type], (program.n_outputs,)),
              ("prediction", np.int32 if program.task == "classification" else np.float32)]
    if program.anomaly_score_op is not None:
        fields += [("anomaly_int", np.int32, (2,)), ("anomaly_float", np.float32, (2,))]
    if program.proba is not None:
        fields += [("proba", np.uint16, (program.proba.n_out,))]
    return np.dtype(fields)


def measurement(program, records: np.ndarray, **costs) -> Measurement:
    """A Measurement from the records of runner.c's output file."""
    measured = Measurement(records["scores"], records["prediction"], **costs)
    if program.anomaly_score_op is not None:
        measured.anomaly_int, measured.anomaly_float = records["anomaly_int"], records["anomaly_float"]
    if program.proba is not None:
        measured.proba = records["proba"]
    return measured


def run_records(program, header: Path, name: str, X: np.ndarray) -> np.ndarray:
    """Build runner.c around the header, run every row of X; its output file as records (record_dtype)."""
    with tempfile.TemporaryDirectory(prefix="tinygen-host-") as tmp:
        workdir = Path(tmp)
        exe = build(program, Path(header), name, workdir)
        rows = workdir / "rows.f32"
        out = workdir / "out.bin"
        np.ascontiguousarray(X, dtype=np.float32).tofile(rows)
        toolchain.run([str(exe), str(rows), str(out)], f"running {name} on the host")
        return np.fromfile(out, dtype=record_dtype(program))


def size(header: Path, name: str) -> dict:
    """Bytes of code and data the model adds to a host object file (gcc -Os)."""
    return toolchain.model_footprint("gcc", ["-Os"], header, name)
