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


def runner_defines(program) -> list[str]:
    """The -D flags that make firmware/host/runner.c call (and write) what this program's header offers."""
    return [*(["TG_FIXED"] if program.is_fixed else []), *(["TG_ANOMALY"] if program.anomaly_score_op is not None else []),
            *(["TG_PROBA"] if program.proba is not None else [])]


def build(program, header: Path, name: str, workdir: Path) -> Path:
    exe = workdir / f"{name}_runner"
    cmd = [toolchain.find("gcc"), *CFLAGS, f"-DTG_NAME={name}", f'-DTG_HEADER="{header.resolve()}"',
           *(f"-D{define}" for define in runner_defines(program)),
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


def measure(program, header: Path, name: str, X: np.ndarray) -> Measurement:
    """Raw scores and predictions of the compiled C for every row of X, and the model's object size."""
    return measurement(program, run_records(program, header, name, X), **size(header, name))


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
