"""The host target: the machine's gcc builds firmware/host/runner.c around the header and runs every row.

float32 models are built with -ffp-contract=off: without it a compiler may fuse a*b+c into one FMA with a
single rounding, and the float C would no longer equal the float32 simulator bit for bit.
"""
from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np

from . import toolchain
from .measurement import Measurement

CFLAGS = ["-std=c99", "-O2", "-ffp-contract=off", "-Wall", "-Wextra", "-Wpedantic", "-Wconversion", "-Werror"]
NUMPY_TYPES = {"int32": np.int32, "float32": np.float32}


def build(header: Path, name: str, fixed: bool, workdir: Path, anomaly: bool = False, proba: bool = False) -> Path:
    exe = workdir / f"{name}_runner"
    cmd = [toolchain.find("gcc"), *CFLAGS, f"-DTG_NAME={name}", f'-DTG_HEADER="{header.resolve()}"',
           *(["-DTG_FIXED"] if fixed else []), *(["-DTG_ANOMALY"] if anomaly else []), *(["-DTG_PROBA"] if proba else []),
           str(toolchain.package_root("firmware") / "host" / "runner.c"),
           "-o", str(exe)]
    toolchain.run(cmd, f"building {header.name} with the host gcc")
    return exe


def measure(program, header: Path, name: str, X: np.ndarray) -> Measurement:
    """Raw scores and predictions of the compiled C for every row of X, and the model's object size."""
    scores, predictions, extra = run(program, header, name, X)
    measured = Measurement(scores, predictions, **size(header, name))
    if program.anomaly_score_op is not None:
        measured.anomaly_int, measured.anomaly_float = extra["anomaly_int"], extra["anomaly_float"]
    if program.proba is not None:
        measured.proba = extra["proba"]
    return measured


def run(program, header: Path, name: str, X: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """Raw scores and predictions of the compiled C for every row of X (float32 features), and the records
    with the extra outputs (else None): IsolationForest headers' NAME_score_samples_int, ..._decision_function,
    and NAME_predict_proba of classifiers that have it."""
    score_type = NUMPY_TYPES[program.ops[-1].out_type]
    prediction_type = np.int32 if program.task == "classification" else np.float32
    anomaly = program.anomaly_score_op is not None
    proba = program.proba is not None
    with tempfile.TemporaryDirectory(prefix="tinygen-host-") as tmp:
        workdir = Path(tmp)
        exe = build(Path(header), name, program.is_fixed, workdir, anomaly, proba)
        rows = workdir / "rows.f32"
        out = workdir / "out.bin"
        np.ascontiguousarray(X, dtype=np.float32).tofile(rows)
        toolchain.run([str(exe), str(rows), str(out)], f"running {name} on the host")
        fields = [("scores", score_type, (program.n_outputs,)), ("prediction", prediction_type)]
        if anomaly:
            fields += [("anomaly_int", np.int32, (2,)), ("anomaly_float", np.float32, (2,))]
        if proba:
            fields += [("proba", np.uint16, (program.proba.n_out,))]
        data = np.fromfile(out, dtype=np.dtype(fields))
    return data["scores"], data["prediction"], (data if anomaly or proba else None)


def size(header: Path, name: str) -> dict:
    """Bytes of code and data the model adds to a host object file (gcc -Os)."""
    return toolchain.model_footprint("gcc", ["-Os"], header, name)
