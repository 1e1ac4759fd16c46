"""The QEMU targets (cortex-m4, cortex-m4-nofpu, cortex-m0, rv32, xtensa-lx106): the generated C, cross-compiled into
firmware/ and run under QEMU, equals the simulator on every row of the full data sets, and the measured
costs (flash, RAM, stack, instructions) are real: positive, deterministic, and caught when they overflow."""
from __future__ import annotations

import contextlib
import functools
from pathlib import Path

import numpy as np
import pytest

import tinygen
from tinygen import targets as target_registry
from tinygen.bench import fitted, split
from tinygen.errors import TinygenError
from tinygen.targets import qemu
from tinygen.verify import compare_on_target

from conftest import error_of, need_tool

LOGREG, RIDGE = "LogisticRegression", "Ridge"
XTENSA_DEFAULT = {("breast_cancer", "q15"), ("wine", "q7")}
CASES = (
    [(target, dataset, LOGREG, dtype) for target in ("cortex-m4", "cortex-m0", "rv32")
     for dataset in ("breast_cancer", "wine") for dtype in ("q15", "q7", "q31", "float32")]
    + [("cortex-m4-nofpu", dataset, LOGREG, dtype) for dataset in ("breast_cancer", "wine") for dtype in ("q15", "float32")]
    + [(target, "diabetes", RIDGE, dtype) for target in qemu.TARGETS for dtype in ("q15", "float32")]
    # xtensa-lx106: two cases by default, the rest under the slow marker
    + [pytest.param("xtensa-lx106", dataset, LOGREG, dtype, marks=() if (dataset, dtype) in XTENSA_DEFAULT else pytest.mark.slow)
       for dataset in ("breast_cancer", "wine") for dtype in ("q15", "q7", "q31", "float32")]
)


def need_target(target: str) -> qemu.QemuTarget:
    for tool in qemu.TARGETS[target].tools:
        need_tool(tool)
    return qemu.TARGETS[target]


@contextlib.contextmanager
def registered(target: str):
    """compare_on_target looks targets up in tinygen.targets.TARGETS: add ours while a test runs, if absent."""
    added = target not in target_registry.TARGETS
    if added:
        target_registry.TARGETS[target] = qemu.TARGETS[target]
    try:
        yield
    finally:
        if added:
            del target_registry.TARGETS[target]


@functools.lru_cache(maxsize=None)
def converted(dataset: str, model: str, dtype: str):
    X_train = split(dataset)[2]
    return tinygen.convert(fitted(dataset, model), dtype=dtype, calibration=X_train)


@pytest.mark.parametrize("target,dataset,model,dtype", CASES)
def test_c_equals_simulator_on_every_row(target, dataset, model, dtype):
    need_target(target)
    X = split(dataset)[0]  # the full data set
    with registered(target):
        result = compare_on_target(converted(dataset, model, dtype), target, X, dataset)
    assert result["rows"] == len(X)
    assert result["mismatches"] == 0, result
    # costs are measured, not guessed: all present and positive; the tables are const, so no model RAM.
    # Fixed point keeps the quantized features on the stack; a float32 dot product can live in registers.
    assert result["flash_bytes"] > 0 and result["ram_bytes"] == 0, result
    assert result["stack_bytes"] > 0 if dtype != "float32" else result["stack_bytes"] >= 0, result
    assert result["cycles_unit"] == "instructions"
    assert 0 < result["instructions_min"] <= result["cycles_per_inference"] <= result["instructions_max"], result


@pytest.mark.parametrize("target", list(qemu.TARGETS))
def test_instruction_counts_are_deterministic(target, tmp_path):
    """Two runs of one cost firmware count the same instructions for every row; the empty region is the
    markers' return and call: 2 instructions on every instruction set."""
    qemu_target = need_target(target)
    converted("breast_cancer", LOGREG, "q15").save(tmp_path, "model")  # build() compiles workdir/model.h
    elf = qemu_target.build(tmp_path, "model", True, "cost", ("-DTG_PREDICT_ONLY",))
    rows = split("breast_cancer")[0][:100]
    special = np.stack([np.zeros(rows.shape[1]), np.full(rows.shape[1], np.nan)])  # early returns in to_fixed
    X = np.ascontiguousarray(np.vstack([rows, special]), dtype=np.float32)
    X.tofile(tmp_path / qemu.ROWS_FILE)
    plugin = qemu.plugin_library()
    first_lines, first = qemu_target.run(elf, tmp_path, len(X), plugin)
    second_lines, second = qemu_target.run(elf, tmp_path, len(X), plugin)
    assert first == second and first_lines == second_lines
    assert first[0] == 2
    assert len(set(first[1:])) > 1  # the float->fixed conversion branches (zero, NaN): counts differ


# ------------------------------------------------------------------------------------- hand-written probe headers

PROBE = """#include <stdint.h>
#define probe_N_FEATURES 10
#define probe_N_OUTPUTS 1
typedef float probe_score_t;
typedef float probe_prediction_t;
static inline void probe_scores(const float *x, float *out) { out[0] = x[0]; }
static inline float probe_predict(const float *x)
{
%s
}
"""


def measure_probe(target: str, tmp_path: Path, body: str, rows: int = 3):
    """Measure a header whose probe_predict is `body`, with the program of a 10-feature float32 regressor."""
    qemu_target = need_target(target)
    header = tmp_path / "probe.h"
    header.write_text(PROBE % body)
    program = converted("diabetes", RIDGE, "float32").program
    return qemu_target.measure(program, header, "probe", split("diabetes")[0][:rows])


@pytest.mark.parametrize("target", list(qemu.TARGETS))
def test_stack_painting_sees_a_known_buffer(target, tmp_path):
    """A 1000-byte volatile buffer on the stack: the measured stack is the buffer plus a small frame."""
    body = ("    volatile uint8_t buffer[1000];\n    uint32_t i;\n"
            "    for (i = 0; i < sizeof buffer; i++) { buffer[i] = (uint8_t)i; }\n"
            "    return x[0] + (float)buffer[999];")
    measured = measure_probe(target, tmp_path, body)
    assert 1000 <= measured.stack_bytes <= 1000 + 64, measured.costs()
    leaf = measure_probe(target, tmp_path, "    return x[0];")
    assert leaf.stack_bytes == 0 and 0 < leaf.cycles_per_inference < 10, leaf.costs()
    assert list(leaf.predictions) == list(np.float32(split("diabetes")[0][:3, 0]))


@pytest.mark.parametrize("target", list(qemu.TARGETS))
def test_fault_is_reported_with_its_function(target, tmp_path):
    message = error_of(measure_probe, target, tmp_path, "    __builtin_trap();\n    return x[0];")
    assert "faulted" in message and "in run_predict" in message, message


@pytest.mark.parametrize("target", list(qemu.TARGETS))
def test_stack_overflow_is_an_error(target, tmp_path):
    body = ("    volatile uint8_t buffer[20000];\n    uint32_t i;\n"
            "    for (i = 0; i < sizeof buffer; i++) { buffer[i] = (uint8_t)i; }\n"
            "    return x[0] + (float)buffer[7];")
    message = error_of(measure_probe, target, tmp_path, body)
    assert "stack overflow" in message, message


def test_microbit_flash_is_the_real_256_kb(tmp_path):
    """A 300 KB table does not fit the nRF51's flash: the link fails and says so."""
    body = "    static const uint8_t table[300000] = {1};\n    return x[0] + (float)table[(uint32_t)x[1] & 0xFFFFu];"
    message = error_of(measure_probe, "cortex-m0", tmp_path, body)
    assert "FLASH" in message and "overflowed" in message, message


def test_plugin_is_built_once_into_the_cache(tmp_path, monkeypatch):
    need_tool("gcc")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    library = qemu.plugin_library.__wrapped__()
    assert library.parent == tmp_path / "tinygen" and library.suffix == ".so"
    built = library.stat().st_mtime_ns
    assert qemu.plugin_library.__wrapped__() == library
    assert library.stat().st_mtime_ns == built


def test_missing_cross_compiler_names_the_package(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))
    program = converted("diabetes", RIDGE, "float32").program
    message = error_of(qemu.RV32.measure, program, tmp_path / "x.h", "x", split("diabetes")[0][:1])
    assert "riscv64-unknown-elf-gcc" in message and "gcc-riscv64-unknown-elf" in message


def test_wrong_feature_count_is_an_error(tmp_path):
    program = converted("diabetes", RIDGE, "float32").program
    with pytest.raises(TinygenError, match="10 features"):
        qemu.CORTEX_M4.measure(program, tmp_path / "x.h", "x", np.zeros((2, 3)))
