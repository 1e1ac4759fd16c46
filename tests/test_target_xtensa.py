"""xtensa-lx106 (the ESP8266's core under qemu-system-xtensa -M sim): `tinygen verify --target xtensa-lx106` runs the
issue's three models (q15 LogisticRegression, exact RandomForest, q7 MLP) on every row with 0 mismatches and reports
instructions; and the libgcc helpers that firmware/xtensa/rom_helpers.c supplies (Debian's lx106 libgcc leaves them
to the ESP8266 ROM) equal the host's own arithmetic bit for bit. The target's other cases run in the shared
matrices (test_target_qemu.py, test_targets_matrix.py, test_trees_mcu.py, test_window_program.py, ...)."""
from __future__ import annotations

import json
import subprocess

import numpy as np
import pytest
from click.testing import CliRunner

from tinygen.bench import fitted, split
from tinygen.cli import main
from tinygen.modelio import save_model
from tinygen.targets import qemu, toolchain

from conftest import need_tool

TARGET = "xtensa-lx106"
ACCEPTANCE = [("LogisticRegression", "q15"), ("RandomForest", "exact"), ("MLP16x8", "q7")]


def write_csv(path, X, y) -> None:
    header = ",".join([*(f"f{i}" for i in range(X.shape[1])), "target"])
    np.savetxt(path, np.column_stack([X, y]), delimiter=",", header=header, comments="", fmt="%.17g")


@pytest.mark.parametrize("model,dtype", ACCEPTANCE)
def test_verify_cli_runs_every_row_with_instruction_counts(tmp_path, model, dtype):
    for tool in qemu.TARGETS[TARGET].tools:
        need_tool(tool)
    X, y, X_train, y_train, *_ = split("breast_cancer")
    write_csv(tmp_path / "data.csv", X, y)
    estimator = fitted("breast_cancer", model)
    save_model(estimator, tmp_path / "m.skops")
    result = CliRunner().invoke(main, ["verify", str(tmp_path / "m.skops"), "--data", str(tmp_path / "data.csv"),
                                       "--label", "target", "--by-position", "--dtype", dtype, "--target", TARGET,
                                       "--json", str(tmp_path / "report.json")])
    assert result.exit_code == 0, result.output
    measured = json.loads((tmp_path / "report.json").read_text())["targets"][TARGET]
    assert measured["rows"] == len(X) and measured["mismatches"] == 0, measured
    assert measured["cycles_unit"] == "instructions" and measured["cycles_per_inference"] > 0, measured
    assert measured["flash_bytes"] > 0 and measured["stack_bytes"] > 0, measured


DRIVER = r"""
#include <stdint.h>
#include <stdio.h>
#include <string.h>
float tg___addsf3(float, float); float tg___subsf3(float, float); float tg___mulsf3(float, float);
float tg___floatsisf(int32_t); float tg___floatunsisf(uint32_t); int64_t tg___muldi3(int64_t, int64_t);
uint32_t tg___udivsi3(uint32_t, uint32_t); uint32_t tg___umodsi3(uint32_t, uint32_t); int32_t tg___divsi3(int32_t, int32_t);
/* stdin: pairs of uint32 (a, b); stdout per pair: a+b a-b a*b (float bits), (float)(int32)a, (float)a,
 * a64*b64 (low, high words; a64 = (int32)a << 17 ^ b, b64 = (int32)b * 3 + a), a/b, a%b, (int32)a/(int32)b */
int main(void)
{
    uint32_t p[2];
    while (fread(p, 4, 2, stdin) == 2) {
        float a, b, r;
        uint32_t o[10];
        int64_t m;
        memcpy(&a, &p[0], 4); memcpy(&b, &p[1], 4);
        r = tg___addsf3(a, b); memcpy(&o[0], &r, 4);
        r = tg___subsf3(a, b); memcpy(&o[1], &r, 4);
        r = tg___mulsf3(a, b); memcpy(&o[2], &r, 4);
        r = tg___floatsisf((int32_t)p[0]); memcpy(&o[3], &r, 4);
        r = tg___floatunsisf(p[0]); memcpy(&o[4], &r, 4);
        m = tg___muldi3((int64_t)((uint64_t)(int64_t)(int32_t)p[0] << 17) ^ p[1], (int64_t)(int32_t)p[1] * 3 + p[0]);
        o[5] = (uint32_t)m; o[6] = (uint32_t)((uint64_t)m >> 32);
        o[7] = p[1] ? tg___udivsi3(p[0], p[1]) : 0;
        o[8] = p[1] ? tg___umodsi3(p[0], p[1]) : 0;
        o[9] = (p[1] && !(p[0] == 0x80000000u && p[1] == 0xffffffffu)) ? (uint32_t)tg___divsi3((int32_t)p[0], (int32_t)p[1]) : 0;
        fwrite(o, 4, 10, stdout);
    }
    return 0;
}
"""
SPECIAL = np.array([0, 0x80000000, 0x7F800000, 0xFF800000, 0x7FC00000, 0x7F800001, 1, 0x80000001, 0x007FFFFF,
                    0x00800000, 0x7F7FFFFF, 0xFF7FFFFF, 0x3F800000, 0xBF800000, 0x33800000, 0x4B800000, 0xFFFFFFFF,
                    0x7FFFFFFF], dtype=np.uint32)


def helper_inputs(n: int) -> tuple[np.ndarray, np.ndarray]:
    """Random bit patterns (every class of float), near-equal magnitudes of either sign (cancellation), operands
    whose results are subnormal, small integers, and every pair of special values."""
    rng = np.random.default_rng(0)
    a = rng.integers(0, 2**32, n, dtype=np.uint64).astype(np.uint32)
    b = rng.integers(0, 2**32, n, dtype=np.uint64).astype(np.uint32)
    q = n // 4
    b[:q] = a[:q] ^ rng.integers(0, 256, q).astype(np.uint32) ^ (rng.integers(0, 2, q).astype(np.uint32) << 31)
    a[q:2 * q] = (a[q:2 * q] & 0x8FFFFFFF)
    b[q:2 * q] = (b[q:2 * q] & 0x0FFFFFFF) | 0x20000000
    a[2 * q:2 * q + q // 4] >>= 8
    b[2 * q:2 * q + q // 4] >>= 8
    sa, sb = np.meshgrid(SPECIAL, SPECIAL)
    return np.concatenate([a, sa.ravel()]), np.concatenate([b, sb.ravel()])


def test_rom_helpers_equal_the_host_arithmetic(tmp_path):
    """IEEE binary32 add/sub/mul (round to nearest even, subnormals) and int->float as numpy computes them on the
    host (a NaN result only needs to be a NaN: its sign differs between x86 and ARM); 64-bit multiply and 32-bit
    division as Python integers do."""
    need_tool("gcc")
    (tmp_path / "drv.c").write_text(DRIVER)
    source = toolchain.package_root("firmware") / "xtensa" / "rom_helpers.c"
    subprocess.run(["gcc", "-std=c99", "-O2", "-Wall", "-Wextra", "-Wconversion", "-Werror", "-DTG_HELPER(n)=tg_##n",
                    str(tmp_path / "drv.c"), str(source), "-o", str(tmp_path / "drv")], check=True)
    a, b = helper_inputs(400_000)
    done = subprocess.run([str(tmp_path / "drv")], input=np.stack([a, b], 1).astype("<u4").tobytes(),
                          capture_output=True, check=True)
    out = np.frombuffer(done.stdout, "<u4").reshape(-1, 10)
    fa, fb = a.view(np.float32), b.view(np.float32)
    with np.errstate(all="ignore"):
        expected = [fa + fb, fa - fb, fa * fb, a.view(np.int32).astype(np.float32), a.astype(np.float32)]
    for column, want in enumerate(expected):
        got = out[:, column]
        bad = np.where(np.isnan(want), ~np.isnan(got.view(np.float32)), got != want.view(np.uint32))
        assert not bad.any(), (column, [(hex(x), hex(y)) for x, y in zip(a[bad][:5], b[bad][:5])])
    x = (a.view(np.int32).astype(np.int64) << 17) ^ b.astype(np.int64)
    y = b.view(np.int32).astype(np.int64) * 3 + a.astype(np.int64)
    product = (x * y).view(np.uint64)  # numpy wraps modulo 2^64, as __muldi3 does
    assert np.array_equal(out[:, 5], (product & 0xFFFFFFFF).astype(np.uint32))
    assert np.array_equal(out[:, 6], (product >> 32).astype(np.uint32))
    nonzero = b != 0
    assert np.array_equal(out[nonzero, 7], a[nonzero] // b[nonzero])
    assert np.array_equal(out[nonzero, 8], a[nonzero] % b[nonzero])
    ok = nonzero & ~((a == 0x80000000) & (b == 0xFFFFFFFF))
    n, d = a[ok].view(np.int32).astype(np.int64), b[ok].view(np.int32).astype(np.int64)
    assert np.array_equal(out[ok, 9].view(np.int32), (np.abs(n) // np.abs(d) * np.sign(n) * np.sign(d)).astype(np.int32))


def test_a_helper_nobody_supplies_is_refused_in_one_line(tmp_path):
    """Double precision (__adddf3, ...) is neither in Debian's lx106 libgcc nor in rom_helpers.c: the build says
    which helpers are missing, in one line."""
    from test_target_qemu import measure_probe
    from conftest import error_of
    message = error_of(measure_probe, TARGET, tmp_path, "    return (float)((double)x[0] * (double)x[1] + 0.5);")
    assert "xtensa-lx106 cannot link this model: it needs __adddf3" in message and "__muldf3" in message, message
    assert "\n" not in message
