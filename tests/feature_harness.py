"""Runs one window-feature op's C (emit.render_feature_op) on int16 windows, on host gcc, on the ATmega328P under
simavr or on a QEMU target (cortex-m4: the SIMD32 kernels; cortex-m0, rv32): the feature ops' unit tests hold it to
the op's forward (the simulator) with this. The whole window program runs on every target through verify (issue
16's end-to-end tests)."""
from __future__ import annotations

import subprocess

import numpy as np

import tinygen.emit
from tinygen.targets import avr, host, qemu, toolchain

from conftest import AVR_FIRMWARE, need_tool

HOST_MAIN = r"""
#include <stdio.h>
#include <stdint.h>
#include "op.h"
/* argv[1]: rows of N int16 samples -> argv[2]: N_OUT int32 per row, for channel argv[3] */
int main(int argc, char **argv)
{
    int16_t x[N];
    int32_t out[N_OUT];
    FILE *in = argc == 4 ? fopen(argv[1], "rb") : NULL;
    FILE *dst = argc == 4 ? fopen(argv[2], "wb") : NULL;
    uint8_t channel = (uint8_t)(argc == 4 ? argv[3][0] - '0' : 0);
    if (in == NULL || dst == NULL) return 2;
    while (fread(x, sizeof x[0], N, in) == N) {
        FN(x, channel, out);
        fwrite(out, sizeof out[0], N_OUT, dst);
    }
    return fclose(dst) != 0;
}
"""

AVR_MAIN = r"""
#include <stdint.h>
#include <avr/io.h>
#include "uart.h"
#include "op.h"
/* UART0 in: channel (byte), row count (uint16), then N int16 per row; out: N_OUT int32 per row as hex. */
static int16_t x[N];
static int32_t out[N_OUT];

int main(void)
{
    uint16_t rows;
    uint16_t row;
    uint16_t i;
    uint8_t channel;
    cli();
    uart_init();
    channel = get_byte();
    rows = get_u16();
    for (row = 0; row < rows; row++) {
        uint8_t *dst = (uint8_t *)x;
        for (i = 0; i < sizeof x; i++) {
            dst[i] = get_byte();
        }
        GPIOR0 = 1; /* a measured region: the call's cycles and stack */
        FN(x, channel, out);
        GPIOR0 = 0;
        put_hex(out, sizeof out);
        put_byte('\n');
    }
    uart_stop();
    return 0;
}
"""


QEMU_MAIN = r"""
#include <stdint.h>
#include "run.h"
/* rows.bin (semihosting): ROW_LEN int16 per row -> one line per row over SYS_WRITE0: run_row's N_OUT int32 as 8
 * hex digits each (two's complement), then "END". run.h: the code under test and run_row(in, out). Startup:
 * firmware/cortex-m or firmware/rv32 (qemu.py's targets). */
long semihost_call(long op, const void *arg);
void firmware_exit(int status) __attribute__((noreturn));
void firmware_fault(uint32_t cause, uint32_t pc, uint32_t sp) __attribute__((noreturn));

static int16_t row[ROW_LEN];
static int32_t out[N_OUT];
static char line[8 * N_OUT + 2];

void firmware_exit(int status)
{
    semihost_call(0x18, (const void *)(uintptr_t)(status == 0 ? 0x20026 : 0x20023));
    for (;;) {
    }
}

void firmware_fault(uint32_t cause, uint32_t pc, uint32_t sp)
{
    (void)cause;
    (void)pc;
    (void)sp;
    semihost_call(0x04, "FAULT\n");
    firmware_exit(1);
}

int main(void)
{
    static const char name[] = "rows.bin";
    static const char hex[] = "0123456789abcdef";
    const long open_args[3] = {(long)(uintptr_t)name, 1, (long)(sizeof name - 1)};
    long read_args[3];
    long handle = semihost_call(0x01, open_args);
    if (handle < 0) {
        return 1;
    }
    for (;;) {
        uint32_t k;
        char *p = line;
        read_args[0] = handle;
        read_args[1] = (long)(uintptr_t)row;
        read_args[2] = (long)sizeof row;
        if (semihost_call(0x06, read_args) != 0) {
            break;
        }
        run_row(row, out);
        for (k = 0; k < N_OUT; k++) {
            int shift;
            for (shift = 28; shift >= 0; shift -= 4) {
                *p++ = hex[((uint32_t)out[k] >> shift) & 0xFu];
            }
        }
        *p++ = '\n';
        *p = '\0';
        semihost_call(0x04, line);
    }
    semihost_call(0x04, "END\n");
    return 0;
}
"""


# -DTG_EXPECT_SIMD32: the build fails unless the header took its SIMD32 kernels (m_SIMD32), so a test of them cannot
# pass on the portable C by mistake
SIMD32_CHECK = '#if defined(TG_EXPECT_SIMD32) && !defined(m_SIMD32)\n#error "the SIMD32 kernels are not in use"\n#endif\n'
# the two builds of the C on an ARMv7E-M core: its SIMD32 kernels, and the portable C (m_PORTABLE_C)
M4_BUILDS = {"simd32": ("-DTG_EXPECT_SIMD32",), "portable": ("-Dm_PORTABLE_C",)}


def c_outputs(op, samples: np.ndarray, channel: int, target: str, workdir, defines: tuple[str, ...] = ()) -> np.ndarray:
    """[rows, op.n_out] int64: the op's C function on every row of int16 samples ([rows, op.window]) for one
    channel (0..9), on target "host", "avr" or a QEMU target (qemu.TARGETS: cortex-m4, cortex-m0, rv32; defines:
    more -D flags there, e.g. M4_BUILDS' on cortex-m4)."""
    if target in qemu.TARGETS:
        return qemu_run(op, samples, channel, qemu.TARGETS[target], workdir, defines)
    return c_run(op, samples, channel, target, workdir)[0]


def write_op_header(op, workdir) -> None:
    workdir.mkdir(parents=True, exist_ok=True)
    defines = f"#define N {op.window}\n#define N_OUT {op.n_out}\n#define FN m_{op.op}\n"
    (workdir / "op.h").write_text(defines + "#include <stdint.h>\n" + tinygen.emit.render_feature_op("m", op) + "\n")


def c_run(op, samples: np.ndarray, channel: int, target: str, workdir) -> tuple[np.ndarray, list]:
    """(c_outputs, the AVR's measured regions: one avr.Region per row with its exact cycles and peak stack; [] on
    host). Cycles are for `tinygen bench` and notes, never asserted in tests."""
    write_op_header(op, workdir)
    rows = np.ascontiguousarray(samples, dtype="<i2")
    if target == "host":
        need_tool("gcc")
        (workdir / "main.c").write_text(HOST_MAIN)
        subprocess.run(["gcc", *host.CFLAGS, f"-I{workdir}", str(workdir / "main.c"), "-o", str(workdir / "run")],
                       check=True, capture_output=True, text=True)
        rows.tofile(workdir / "in.bin")
        subprocess.run([str(workdir / "run"), str(workdir / "in.bin"), str(workdir / "out.bin"), str(channel)], check=True)
        return np.fromfile(workdir / "out.bin", dtype="<i4").reshape(len(rows), -1).astype(np.int64), []
    if target != "avr":
        raise ValueError(f"feature_harness runs host or avr, not {target}")
    for tool in ("avr-gcc", "simavr"):
        need_tool(tool)
    (workdir / "main.c").write_text(AVR_MAIN)
    elf = workdir / "m.elf"
    subprocess.run(["avr-gcc", *avr.CFLAGS, f"-I{workdir}", f"-I{AVR_FIRMWARE}", str(workdir / "main.c"), "-o", str(elf)],
                   check=True, capture_output=True, text=True)
    header = bytes([channel]) + np.uint16(len(rows)).astype("<u2").tobytes()
    uart, regions = avr.run_elf(elf, cycle_limit=50_000_000 + 2_000_000 * len(rows), uart_input=header + rows.tobytes())
    text = uart.decode("ascii").replace("\n", "")
    return np.frombuffer(bytes.fromhex(text), dtype="<i4").reshape(len(rows), -1).astype(np.int64), regions


def qemu_run(op, samples: np.ndarray, channel: int, target, workdir, defines: tuple[str, ...] = ()) -> np.ndarray:
    """c_outputs on a QEMU target: the op in QEMU_MAIN."""
    write_op_header(op, workdir)
    run = (f'#include "op.h"\n{SIMD32_CHECK}#define ROW_LEN N\nstatic void run_row(const int16_t *in, int32_t *out)\n'
           f"{{\n    FN(in, {channel}u, out);\n}}\n")
    return qemu_rows(run, np.ascontiguousarray(samples, dtype="<i2"), op.n_out, target, workdir, defines)


def qemu_rows(run_h: str, rows: np.ndarray, n_out: int, target, workdir, defines: tuple[str, ...] = ()) -> np.ndarray:
    """[rows, n_out] int64: run_row (run_h: C defining ROW_LEN and run_row(const int16_t *in, int32_t *out)) on every
    row of int16 `rows` ([rows, ROW_LEN]), in QEMU_MAIN built for a qemu.QemuTarget with its flags, startup and linker
    script (defines: more -D flags)."""
    for name in target.tools:
        need_tool(name)
    workdir.mkdir(parents=True, exist_ok=True)
    (workdir / "run.h").write_text(f"#define N_OUT {n_out}\n" + run_h)
    (workdir / "main.c").write_text(QEMU_MAIN)
    np.ascontiguousarray(rows, dtype="<i2").tofile(workdir / "rows.bin")
    firmware = toolchain.package_root("firmware") / target.firmware_dir
    elf = workdir / "m.elf"
    subprocess.run([target.compiler, *target.arch_flags, *target.libc_flags, *qemu.CFLAGS, *defines, f"-I{workdir}",
                    f"-L{firmware}", "-T", target.linker_script, str(firmware / "startup.c"), str(workdir / "main.c"),
                    "-o", str(elf)], check=True, capture_output=True, text=True)
    out = workdir / "out.txt"
    subprocess.run([target.qemu, *target.machine, "-nographic", "-monitor", "none", "-serial", "none", "-chardev",
                    f"file,id=sh0,path={out.name}", "-semihosting-config", "enable=on,target=native,chardev=sh0",
                    "-kernel", elf.name], cwd=workdir, check=True, capture_output=True, timeout=600)
    lines = out.read_text().split()
    assert lines[-1:] == ["END"] and len(lines) == len(rows) + 1, f"{target.name} firmware: {lines[-3:]}"
    words = np.frombuffer(bytes.fromhex("".join(lines[:-1])), dtype=">u4").astype(np.uint32)
    return words.view(np.int32).reshape(len(rows), -1).astype(np.int64)
