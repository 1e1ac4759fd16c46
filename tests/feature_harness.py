"""Runs one window-feature op's C (emit.render_feature_op) on int16 windows, on host gcc or on the ATmega328P
under simavr: the feature ops' unit tests hold it to the op's forward (the simulator) with this. The whole
window program runs on every target through verify (issue 16's end-to-end tests)."""
from __future__ import annotations

import subprocess

import numpy as np

import tinygen.emit
from tinygen.targets import avr, host

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


def c_outputs(op, samples: np.ndarray, channel: int, target: str, workdir) -> np.ndarray:
    """[rows, op.n_out] int64: the op's C function on every row of int16 samples ([rows, op.window]) for one
    channel (0..9), on target "host" or "avr"."""
    return c_run(op, samples, channel, target, workdir)[0]


def c_run(op, samples: np.ndarray, channel: int, target: str, workdir) -> tuple[np.ndarray, list]:
    """(c_outputs, the AVR's measured regions: one avr.Region per row with its exact cycles and peak stack; [] on
    host). Cycles are for `tinygen bench` and notes, never asserted in tests."""
    workdir.mkdir(parents=True, exist_ok=True)
    defines = f"#define N {op.window}\n#define N_OUT {op.n_out}\n#define FN m_{op.op}\n"
    (workdir / "op.h").write_text(defines + "#include <stdint.h>\n" + tinygen.emit.render_feature_op("m", op) + "\n")
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
