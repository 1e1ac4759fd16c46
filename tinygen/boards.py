"""Boards users flash to: their memories, the instruction set they run, and whether a model fits.

The fit check compares what the model itself needs (its code and tables, its static RAM and, when a
target measured it, its peak stack) with what the board offers to an application. Numbers come from the
board's own cross compiler (footprint) or from a target's measured run (verify), never from a guess.
"""
from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path

from .errors import TinygenError
from .targets import toolchain


@dataclass(frozen=True)
class Board:
    name: str
    description: str
    target: str | None  # the verify target that runs its instruction set (None: compile check only)
    flash_bytes: int  # available to the application (bootloader / default app partition excluded)
    ram_bytes: int
    compiler: str  # cross compiler for the footprint
    flags: tuple[str, ...]  # its flags for this board's core
    clock_hz: int  # the core clock: latency = cycles / clock_hz
    stand_in: str = ""  # when the compiler is not the board's own: which one it is, said with every figure
    target_stand_in: str = ""  # when the target runs another core than the board's: which, said with every figure


# --noinhibit-exec: link even when the program overflows the part, so the overshoot can be measured and said
AVR_FLAGS = ("-Os", "-ffunction-sections", "-fdata-sections", "-Wl,--gc-sections", "-Wl,--noinhibit-exec")
ARM_FLAGS = ("-Os", "-mthumb", "-ffunction-sections", "-fdata-sections", "-ffp-contract=off")
BOARDS = {board.name: board for board in (
    Board("uno", "Arduino Uno (ATmega328P, 16 MHz)", "avr", 32_256, 2_048, "avr-gcc", ("-mmcu=atmega328p", *AVR_FLAGS), clock_hz=16_000_000),
    Board("nano", "Arduino Nano (ATmega328P, 16 MHz, old bootloader)", "avr", 30_720, 2_048, "avr-gcc",
          ("-mmcu=atmega328p", *AVR_FLAGS), clock_hz=16_000_000),
    Board("mega2560", "Arduino Mega 2560 (ATmega2560, 16 MHz)", "avr", 253_952, 8_192, "avr-gcc",
          ("-mmcu=atmega2560", *AVR_FLAGS), clock_hz=16_000_000),
    # Nothing here runs the ESP32's LX6 (Debian has no LX6/LX7 compiler, QEMU 7.2 no ESP32 machine). Its target is
    # the ESP8266's core, a different Xtensa configuration (call0 ABI where the ESP32 uses register windows, no 32x32
    # high multiply, divide or FPU): its instructions stand in for the ESP32's cycles, so that the search can rank
    # candidates, and every figure measured there says it is indicative only (target_stand_in).
    Board("esp32", "ESP32 (Xtensa LX6; default 1.25 MB app partition, 320 KB DRAM; sized with the ESP8266's "
          "xtensa-lx106 compiler; executed only as lx106 instructions: --target xtensa-lx106)", "xtensa-lx106",
          1_310_720, 327_680, "xtensa-lx106-elf-gcc", ("--specs=/usr/lib/xtensa-lx106-elf/picolibc.specs", "-Os", "-mlongcalls", "-mtext-section-literals", "-ffunction-sections", "-fdata-sections"), clock_hz=240_000_000,
          stand_in="the ESP8266's Xtensa LX106 compiler stands in for the ESP32's LX6 one (not packaged in Debian): "
                   "an estimate",
          target_stand_in="xtensa-lx106 (the ESP8266's core) stands in for the ESP32's LX6: its instructions and "
                          "stack are indicative only (the LX6 has register windows, a hardware divider and an FPU)"),
    Board("esp32c3", "ESP32-C3 (RISC-V rv32imc; default 1.25 MB app partition, 400 KB SRAM)", "rv32", 1_310_720, 409_600,
          "riscv64-unknown-elf-gcc", ("--specs=picolibc.specs", "-Os", "-march=rv32imc", "-mabi=ilp32", "-ffunction-sections", "-fdata-sections"), clock_hz=160_000_000),
    Board("stm32f4", "STM32F407 (Cortex-M4F, 1 MB flash, 192 KB RAM)", "cortex-m4", 1_048_576, 196_608,
          "arm-none-eabi-gcc", ("-mcpu=cortex-m4", "-mfloat-abi=hard", "-mfpu=fpv4-sp-d16", *ARM_FLAGS), clock_hz=168_000_000),
    Board("nrf52840", "nRF52840 (Cortex-M4F, 1 MB flash, 256 KB RAM)", "cortex-m4", 1_048_576, 262_144,
          "arm-none-eabi-gcc", ("-mcpu=cortex-m4", "-mfloat-abi=hard", "-mfpu=fpv4-sp-d16", *ARM_FLAGS), clock_hz=64_000_000),
    Board("rp2040", "Raspberry Pi Pico (RP2040, Cortex-M0+, 2 MB flash, 264 KB RAM)", "cortex-m0", 2_097_152, 270_336,
          "arm-none-eabi-gcc", ("-mcpu=cortex-m0plus", "-mfloat-abi=soft", *ARM_FLAGS), clock_hz=133_000_000),
)}


def get(name: str) -> Board:
    if name not in BOARDS:
        raise TinygenError(f"unknown board {name!r}; choose one of {', '.join(BOARDS)}")
    return BOARDS[name]


def footprint(board: Board, header: Path, name: str) -> dict:
    """Flash and static RAM the model adds on `board`, built with the board's compiler. For AVR the program
    is linked, so the soft-float and multiply helpers the model pulls from libgcc count too; for 32-bit parts
    it is the object alone (their helpers are a few hundred bytes against megabytes of flash)."""
    return toolchain.model_footprint(board.compiler, list(board.flags), header, name, link=board.compiler == "avr-gcc")


def figure_note(board: Board, name: str) -> str:
    """What the flash/RAM figures of `board` measure, said beside them by export --board and verify --board."""
    how = "linked with the libgcc helpers it calls" if board.compiler == "avr-gcc" else "object code"
    note = f"what the model adds to a program that only calls {name}_predict: {board.compiler} -Os, {how}"
    return f"{note}; {board.stand_in}" if board.stand_in else note


def latency_note(board: Board) -> str:
    """What a latency on `board` (cycles / clock_hz) stands on, said wherever one is reported: simavr counts AVR
    cycles; QEMU counts instructions, not cycles, so for its targets latency is instructions / clock."""
    if board.target in (None, "avr"):
        return ""
    note = (f"{board.target} under QEMU counts instructions, not cycles: latency = instructions / "
            f"{board.clock_hz / 1e6:g} MHz, an approximation")
    return f"{note}; {board.target_stand_in}" if board.target_stand_in else note


def advice(program) -> str:
    """What would make `program` smaller, with its current numbers: a smaller dtype only when it is not
    already the smallest; for trees fewer or shallower trees, the table layout and bins when unused; for
    MLPs fewer hidden units; else fewer features."""
    tips = [] if program is None or program.dtype in ("q7", "int8") else ["a smaller dtype (--dtype q7)"]
    ops = [] if program is None else program.ops
    op_tips = [tip for op in ops for tip in op.shrink_advice()]  # trees: fewer, shallower, table, bins
    hidden = [op.n_out for op, after in zip(ops, ops[1:])  # layers with an activation (int8: relu fused)
              if after.op in ("activation", "int8_activation") or op.float_ops_fused > 1]
    if op_tips:
        tips += op_tips
    elif hidden:
        tips.append(f"fewer hidden units (hidden_layer_sizes {tuple(hidden)} now)")
    elif program is not None:
        tips.append(f"fewer features (it reads {program.n_features})")
    return "try " + ", ".join(tips) + (", " if tips else "") + "or a bigger board"


def check_fits(board: Board, flash_bytes: int | None, ram_bytes: int | None, stack_bytes: int | None = None,
               program=None) -> None:
    """TinygenError saying by how much, when the model's flash or RAM (static + stack) exceeds the board, and
    what would make `program` smaller."""
    problems = []
    if flash_bytes is not None and flash_bytes > board.flash_bytes:
        problems.append(f"{flash_bytes} B of flash where it has {board.flash_bytes} B (over by {flash_bytes - board.flash_bytes} B)")
    ram_needed = (ram_bytes or 0) + (stack_bytes or 0)
    if ram_needed > board.ram_bytes:
        what = "RAM (static + stack)" if stack_bytes else "RAM"
        problems.append(f"{ram_needed} B of {what} where it has {board.ram_bytes} B (over by {ram_needed - board.ram_bytes} B)")
    if problems:
        raise TinygenError(f"the model does not fit the {board.name}: it needs {' and '.join(problems)}; {advice(program)}")


AVR_MAX_OBJECT_BYTES = 32_767  # avr-gcc: size_t is 16 bits, no single array may be larger


def check_model(model, board: Board, name: str, stack_bytes: int | None = None) -> dict:
    """The model's footprint on `board` (cross-compiled; figure_note says what it counts), raising
    TinygenError when it does not fit; stack_bytes (measured by a target) counts against the RAM too."""
    if board.compiler == "avr-gcc":
        for index, op in enumerate(model.program.ops):
            for table, size in op.table_bytes().items():
                if size > AVR_MAX_OBJECT_BYTES:
                    raise TinygenError(f"the model does not fit the {board.name}: its {op.op} {table} table is {size} B and "
                                       f"AVR cannot hold one array over {AVR_MAX_OBJECT_BYTES} B (over by "
                                       f"{size - AVR_MAX_OBJECT_BYTES} B); {advice(model.program)}")
    with tempfile.TemporaryDirectory(prefix="tinygen-fit-") as tmp:
        paths = model.save(tmp, name)
        sizes = footprint(board, paths["header"], name)
    check_fits(board, sizes["flash_bytes"], sizes["ram_bytes"], stack_bytes, model.program)
    return sizes


def fit_line(board: Board, sizes: dict, name: str, stack_bytes: int | None = None) -> str:
    """'1024 B flash, 0 B RAM (+ 86 B stack measured on avr) (what these figures are)': export's and verify's."""
    stand_in = " (a stand-in core)" if board.target_stand_in else ""
    stack = "" if stack_bytes is None else f" + {stack_bytes} B stack measured on {board.target}{stand_in}"
    return f"{sizes['flash_bytes']} B flash, {sizes['ram_bytes']} B RAM{stack} ({figure_note(board, name)})"
