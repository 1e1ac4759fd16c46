"""Microcontroller instruction sets under QEMU: Cortex-M4 (FPU and soft-float), Cortex-M0 and rv32imc.

One class, one object per target name. `measure` builds the header into firmware/cortex-m/ or
firmware/rv32/ (own startup and linker script; the driver firmware/cortex-m/runner.c is shared), streams
the rows to it through semihosting file reads (rows.bin in QEMU's working directory) and reads one hex line
per row back from a semihosting chardev file. Three builds of the driver (see runner.c):

- check firmware: the scores and predictions of every row, bit patterns of the header's own types (and,
  for fixed point, the pre-quantized API checked against the float-input one; with an integer predict_proba,
  NAME_predict_proba of every row).
- cost firmware, calling NAME_predict alone like an application (a window program's: NAME_predict_latest on
  a stream the window was pushed into, the int16 streaming path the AVR harness times too; a fourth firmware
  times NAME_predict on the float window, reported in extra as instructions_predict_float and
  stack_bytes_predict_float): run under the instruction-counting TCG plugin
  (firmware/qemu-plugin/insn_regions.c) for
  - cycles_per_inference: guest instructions of one NAME_predict(x) call between the bench_begin/bench_end
    markers, minus the markers' own cost (an empty region), mean over the rows; unit "instructions" (QEMU
    has no cycle model). Deterministic: no interrupt is enabled and nothing else runs.
  - stack_bytes: stack painting around every call, max over the rows;
  and its predictions must equal the check firmware's.
- flash_bytes / ram_bytes: `size` of the cost firmware minus the same firmware with the model stubbed out:
  text+data and data+bss. Soft-float helpers that only the model pulls in count as the model's.

float32 builds use -ffp-contract=off: GCC in GNU mode otherwise fuses a*b+c into one FMA (vfma on the
Cortex-M4F) with a single rounding, and the C would no longer equal the float32 simulator bit for bit
(GCC then uses vmla, the M4F's multiply-accumulate that rounds twice, like a multiply and an add).
"""
from __future__ import annotations

import functools
import hashlib
import os
import re
import shutil
import struct
import tempfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import TinygenError, ToolMissing
from . import host, toolchain
from .measurement import Measurement

# Same warnings as the host build: generated headers must be clean on every target.
CFLAGS = ("-std=c99", "-Os", "-ffunction-sections", "-fdata-sections", "-ffp-contract=off",
          "-Wall", "-Wextra", "-Wpedantic", "-Wconversion", "-Werror", "-nostartfiles", "-Wl,--gc-sections")
NUMPY_TYPES = {"int32": np.int32, "float32": np.float32}
PLUGIN_SOURCE = ("qemu-plugin", "insn_regions.c")
RUNNER_SOURCE = ("cortex-m", "runner.c")  # shared by the Cortex-M and RV32 firmware
ROWS_FILE = "rows.bin"  # the name runner.c opens through semihosting, relative to QEMU's working directory
UPDATES_FILE = "updates.bin"  # TG_TRAIN: the update rows runner.c applies first
START_FILE = "start.bin"  # TG_TRAIN_START: the weights runner.c loads before the updates


@dataclass(frozen=True)
class QemuTarget:
    """One instruction set: how to compile for it and which QEMU machine runs it."""

    name: str
    compiler: str  # cross gcc
    size_tool: str  # binutils size of the same toolchain
    arch_flags: tuple[str, ...]
    libc_flags: tuple[str, ...]  # the C library's specs
    firmware_dir: str  # under firmware/: startup.c and the linker script
    linker_script: str
    qemu: str
    machine: tuple[str, ...]  # QEMU arguments selecting the board and CPU
    stack_size: int | None = None  # bytes reserved for the stack; None: the linker script's default
    # where the firmware's semihosting output arrives: QEMU's semihosting chardev (ARM, RISC-V), or QEMU's own
    # standard output (Xtensa: its simcall write to fd 1 ignores the chardev)
    output_on_stdout: bool = False
    runtime_sources: tuple[str, ...] = ()  # more C files under firmware_dir linked into every firmware

    @property
    def tools(self) -> tuple[str, ...]:
        """Every program measure() runs (the host gcc builds the QEMU plugin)."""
        return (self.compiler, self.size_tool, self.qemu, "gcc")

    def measure(self, program, header: Path, name: str, X: np.ndarray, extra_flags: tuple[str, ...] = (),
                updates=None, start_weights: bytes | None = None) -> Measurement:
        """Raw scores and predictions of the compiled C for every row of X, and the model's costs (extra_flags:
        more compiler arguments for every build, after the sources: include paths, libraries). updates (trainable
        programs): (X_updates, y_updates), each row one NAME_partial_fit before the rows are predicted (extra:
        instructions_partial_fit, the mean instructions of one step, and its _min and _max). start_weights (with
        updates): NAME_WEIGHTS_BYTES bytes NAME_load_weights takes before them (start.bin; a fleet round's global
        weights); None: the exported weights."""
        start = host.start_bytes(program, updates, start_weights)
        X = np.ascontiguousarray(program.check_features(X), dtype=np.float32)
        score_type = NUMPY_TYPES.get(program.ops[-1].out_type)
        if score_type is None:
            raise TinygenError(f"target {self.name} reads 32-bit scores; this model's are {program.ops[-1].out_type}")
        prediction_type = np.int32 if program.task == "classification" else np.float32
        for tool in self.tools:
            toolchain.find(tool)
        n_updates = 0 if updates is None else len(updates[0])
        with tempfile.TemporaryDirectory(prefix=f"tinygen-{self.name}-") as tmp:
            workdir = Path(tmp)
            shutil.copyfile(header, workdir / "model.h")
            X.tofile(workdir / ROWS_FILE)
            train = () if updates is None else tuple(f"-D{d}" for d in host.train_defines(program, start is not None))
            if updates is not None:
                host.update_rows(program, updates).tofile(workdir / UPDATES_FILE)
            if start is not None:
                (workdir / START_FILE).write_bytes(start)
            elfs, results = self._build_and_run(program, workdir, name, len(X), train, extra_flags, n_updates)
            trained = trained_line(workdir / "check.out") if updates is not None else None
            cost_size = toolchain.berkeley_size(toolchain.find(self.size_tool), elfs["cost"])
            stub_size = toolchain.berkeley_size(toolchain.find(self.size_tool), elfs["stub"])
        check_lines = results["check"][0]
        words = hex_words(check_lines, program.n_outputs + 1)
        for variant in ("cost", "float"):
            if variant in results and not np.array_equal(hex_words(results[variant][0], program.n_outputs + 1)[:, -1],
                                                         words[:, -1]):
                raise TinygenError(f"on {self.name}, NAME_predict gives different answers in two firmwares "
                                   "(uninitialized or out-of-bounds memory?)")
        cost_lines, cost_counts = results["cost"]
        costs = region_costs(cost_lines, [cost_counts[0], *cost_counts[1 + n_updates:]])
        extra = {"instructions_min": costs["min"], "instructions_max": costs["max"]} if costs["mean"] is not None else {}
        if n_updates:
            fits = np.asarray(cost_counts[1:1 + n_updates], dtype=np.int64) - cost_counts[0]
            extra.update(instructions_partial_fit=float(fits.mean()), instructions_partial_fit_min=int(fits.min()),
                         instructions_partial_fit_max=int(fits.max()), state_bytes=program.trainable_op.state_bytes)
        if "float" in results:  # a window program: the cost firmware timed the int16 stream, this one the float window
            floats = region_costs(*results["float"])
            extra.update(instructions_predict_float=floats["mean"], instructions_predict_float_min=floats["min"],
                         instructions_predict_float_max=floats["max"], stack_bytes_predict_float=floats["stack"])
        measured = Measurement(
            scores=words[:, :-1].view(score_type), predictions=words[:, -1].view(prediction_type),
            # section alignment can make a tiny model's difference a few bytes negative: that is 0
            flash_bytes=max(0, (cost_size["text"] + cost_size["data"]) - (stub_size["text"] + stub_size["data"])),
            ram_bytes=max(0, (cost_size["data"] + cost_size["bss"]) - (stub_size["data"] + stub_size["bss"])),
            stack_bytes=costs["stack"], cycles_per_inference=costs["mean"], cycles_unit="instructions", extra=extra,
            proba=None if program.proba is None else proba_values(check_lines, program.proba.n_out))
        if trained is not None:
            measured.weights, measured.steps, measured.saturations = trained
        return measured

    def _build_and_run(self, program, workdir: Path, name: str, n_rows: int, train: tuple[str, ...],
                       extra_flags: tuple[str, ...], n_updates: int) -> tuple[dict, dict]:
        """(ELF per variant, run results per variant except the stub): every firmware built and run in parallel."""
        plugin = plugin_library()
        variants = firmware_variants(program.window_op is not None)
        with ThreadPoolExecutor(max_workers=len(variants)) as pool:
            proba = ("-DTG_PROBA",) if program.proba is not None else ()
            builds = {variant: pool.submit(self.build, workdir, name, program.is_fixed, variant,
                                           defines + proba + train, extra_flags)
                      for variant, defines in variants.items()}
            elfs = {variant: build.result() for variant, build in builds.items()}
            runs = {variant: pool.submit(self.run, elfs[variant], workdir, n_rows,
                                         None if variant == "check" else plugin, n_updates)
                    for variant in variants if variant != "stub"}
            return elfs, {variant: run.result() for variant, run in runs.items()}

    def build(self, workdir: Path, name: str, fixed: bool, variant: str, defines: tuple[str, ...] = (),
              extra_flags: tuple[str, ...] = ()) -> Path:
        """Compile and link workdir/model.h into a firmware ELF (workdir/VARIANT.elf)."""
        firmware = toolchain.package_root("firmware")
        elf = workdir / f"{variant}.elf"
        cmd = [toolchain.find(self.compiler), *self.arch_flags, *self.libc_flags, *CFLAGS,
               f"-DTG_NAME={name}", '-DTG_HEADER="model.h"', f"-I{workdir}", *(["-DTG_FIXED"] if fixed else []),
               *defines, f"-L{firmware / self.firmware_dir}", "-T", self.linker_script,
               *([f"-Wl,--defsym=__stack_size={self.stack_size}"] if self.stack_size else []),
               str(firmware / self.firmware_dir / "startup.c"), str(firmware.joinpath(*RUNNER_SOURCE)),
               *(str(firmware / self.firmware_dir / source) for source in self.runtime_sources),
               *extra_flags, "-o", str(elf)]
        try:
            toolchain.run(cmd, f"building {name}.h for {self.name}")
        except TinygenError as error:
            missing = sorted(set(re.findall(r"undefined reference to `(__\w+)'", getattr(error, "output", ""))))
            if not self.runtime_sources or not missing:
                raise
            raise TinygenError(f"{self.name} cannot link this model: it needs {', '.join(missing)}, which Debian's "
                               f"libgcc for this core leaves to the chip's ROM and firmware/{self.firmware_dir}/"
                               f"{', '.join(self.runtime_sources)} does not supply") from None
        return elf

    def run(self, elf: Path, workdir: Path, n_rows: int, plugin: Path | None = None,
            n_updates: int = 0) -> tuple[list[tuple[str, int, str]], list[int] | None]:
        """Run the firmware over workdir/rows.bin: per row (hex words, stack bytes, hex probabilities or "");
        with the counting plugin also its counts (the empty region first, then one per row). Writes
        ELF_STEM.out/.counts."""
        out_file, counts_file = elf.with_suffix(".out"), elf.with_suffix(".counts")
        for stale in (out_file, counts_file):
            stale.unlink(missing_ok=True)
        cmd = [toolchain.find(self.qemu), *self.machine, "-nographic", "-monitor", "none", "-serial", "none",
               "-chardev", f"file,id=sh0,path={qemu_escape(out_file.name)}",
               "-semihosting-config", "enable=on,target=native,chardev=sh0", "-kernel", qemu_escape(elf.name)]
        if plugin is not None:
            symbols = elf_symbols(elf, ("bench_begin", "bench_end"))
            cmd += ["-plugin", f"{qemu_escape(str(plugin))},begin={symbols['bench_begin']:#x},"
                               f"end={symbols['bench_end']:#x},out={qemu_escape(counts_file.name)}"]
        failure = None
        try:
            toolchain.run(cmd, f"running the {self.name} firmware under QEMU", cwd=workdir, timeout=120 + n_rows / 100,
                          stdout_file=out_file if self.output_on_stdout else None)
        except TinygenError as error:
            failure = error
        reported = out_file.read_text(errors="replace").splitlines() if out_file.exists() else []
        for line in reported:
            if line.startswith("FAULT"):
                causes = FAULT_CAUSES.get(self.firmware_dir, ARM_EXCEPTIONS)
                raise TinygenError(f"the {self.name} firmware faulted: {describe_fault(line, elf, causes)}")
            if line.startswith("ERROR"):
                detail = line[6:]
                if "stack overflow" in detail:
                    region = stack_region(elf)
                    detail += f" ({region} bytes; QemuTarget(stack_size=...) reserves more)" if region else ""
                raise TinygenError(f"the {self.name} firmware failed: {detail}")
        if failure is not None:
            raise failure
        lines, end = [], None
        for line in reported:
            if line.startswith("R "):
                words, stack_hex, *proba_hex = line[2:].split(" ")
                lines.append((words, int(stack_hex, 16), "".join(proba_hex)))
            elif line.startswith("END "):
                end = [int(field, 16) for field in line[4:].split()]
        if end is None or end[0] != n_rows or len(lines) != n_rows:
            raise TinygenError(f"{self.name} firmware returned {len(lines)} of {n_rows} rows "
                               f"({'no END line' if end is None else f'END says {end[0]}'})")
        if end[1]:
            raise TinygenError(f"on {self.name}, scores_q(quantize_input(x)) != scores(x) (or the predict_proba forms "
                               f"differ) on {end[1]} rows")
        if plugin is None:
            return lines, None
        counts = [int(value) for value in counts_file.read_text().split("\n") if value and not value.startswith("total")]
        if len(counts) != 1 + n_updates + n_rows or min(counts, default=0) < 0:
            raise TinygenError(f"the instruction-count plugin saw {len(counts)} regions for {n_rows} rows on {self.name}")
        return lines, counts


def firmware_variants(window: bool) -> dict[str, tuple[str, ...]]:
    """The builds of runner.c and their defines: check = scores + predictions; cost = the timed call alone (run for
    instructions and stack, sized for flash and RAM); stub = the cost firmware without the model (sized only). A
    window program's (TG_WINDOW) cost firmware times NAME_predict_latest on a stream, the int16 path, as the AVR
    harness does, and "float" times NAME_predict on the float window (reported as instructions_predict_float)."""
    window_flag = ("-DTG_WINDOW",) if window else ()
    variants = {"check": window_flag, "cost": ("-DTG_PREDICT_ONLY", *window_flag),
                "stub": ("-DTG_PREDICT_ONLY", "-DTG_STUB", *window_flag)}
    return {**variants, "float": ("-DTG_PREDICT_ONLY",)} if window else variants


def trained_line(out_file: Path) -> tuple[bytes, int, int]:
    """(NAME_weights() bytes, steps, saturations) from a training firmware's "W" line."""
    for line in out_file.read_text(errors="replace").splitlines():
        if line.startswith("W "):
            weights, steps, saturations = line[2:].split(" ")
            return bytes.fromhex(weights), int(steps, 16), int(saturations, 16)
    raise TinygenError(f"the firmware did not report its trained weights ({out_file.name})")


def region_costs(lines: list[tuple[str, int, str]], counts: list[int]) -> dict:
    """mean, min and max instructions of the timed call over the rows (the empty region's count subtracted), and
    its peak stack bytes; None each without rows."""
    instructions = np.asarray(counts[1:], dtype=np.int64) - counts[0]
    if not len(instructions):
        return {"mean": None, "min": None, "max": None, "stack": None}
    return {"mean": float(instructions.mean()), "min": int(instructions.min()), "max": int(instructions.max()),
            "stack": max(stack_bytes for _, stack_bytes, _ in lines)}


def hex_words(lines: list[tuple[str, int, str]], per_row: int) -> np.ndarray:
    """The firmware's hex words of every row as uint32 [rows, per_row]."""
    words = np.frombuffer(bytes.fromhex("".join(words for words, _, _ in lines)), dtype=">u4")
    return words.astype(np.uint32).reshape(len(lines), per_row)


def proba_values(lines: list[tuple[str, int, str]], n_classes: int) -> np.ndarray:
    """The firmware's NAME_predict_proba values of every row (4 hex digits each) as uint16 [rows, n_classes]."""
    if any(len(proba) != 4 * n_classes for _, _, proba in lines):
        raise TinygenError(f"the firmware sent rows without their {n_classes} probabilities")
    values = np.frombuffer(bytes.fromhex("".join(proba for _, _, proba in lines)), dtype=">u2")
    return values.astype(np.uint16).reshape(len(lines), n_classes)


ARM_EXCEPTIONS = {2: "NMI", 3: "HardFault", 4: "MemManage fault", 5: "BusFault", 6: "UsageFault", 11: "SVCall",
                  12: "DebugMonitor", 14: "PendSV", 15: "SysTick"}
RISCV_TRAPS = {0: "instruction address misaligned", 1: "instruction access fault", 2: "illegal instruction",
               3: "breakpoint", 4: "load address misaligned", 5: "load access fault",
               6: "store address misaligned", 7: "store access fault", 11: "environment call"}

# EXCCAUSE values of the Xtensa ISA; 0xdb is firmware/xtensa/startup.c's mark for a debug exception
XTENSA_CAUSES = {0: "illegal instruction", 1: "syscall", 2: "instruction fetch error", 3: "load/store error",
                 6: "integer divide by zero", 8: "privileged instruction", 9: "unaligned load or store",
                 20: "instruction fetch prohibited", 28: "load prohibited", 29: "store prohibited",
                 0xDB: "debug exception (break)"}
FAULT_CAUSES = {"rv32": RISCV_TRAPS, "xtensa": XTENSA_CAUSES}  # by firmware_dir; ARM_EXCEPTIONS otherwise


def stack_region(elf: Path) -> int | None:
    """Bytes between the linker script's __stack_limit and __stack_top."""
    limits = {name: value for name, value, _ in elf_symbol_table(elf) if name in ("__stack_limit", "__stack_top")}
    return limits["__stack_top"] - limits["__stack_limit"] if len(limits) == 2 else None


def describe_fault(line: str, elf: Path, causes: dict[int, str]) -> str:
    """The firmware's "FAULT cause=.. pc=.. sp=.." line in words: the trap, the function, a stack overflow."""
    try:
        fields = dict(item.split("=") for item in line.split()[1:])
        cause, pc, sp = (int(fields[key], 16) for key in ("cause", "pc", "sp"))
    except (ValueError, KeyError):
        return line
    table = elf_symbol_table(elf)
    text = f"{causes.get(cause, 'trap')} (cause {cause})"
    if pc != 0xFFFFFFFF:  # the firmware's "no valid exception frame"
        functions = [name for name, value, size in table if size and value <= pc < value + size]
        text += f" at pc {pc:#x}" + (f" in {functions[0]}" if functions else "")
    limit = next((value for name, value, _ in table if name == "__stack_limit"), None)
    if limit is not None and sp < limit:
        text += f"; sp {sp:#x} is below the {stack_region(elf)}-byte stack region: a stack overflow"
    return text


def qemu_escape(value: str) -> str:
    """A value inside a QEMU option string: commas are doubled."""
    return value.replace(",", ",,")


def elf_symbol_table(path: Path) -> list[tuple[str, int, int]]:
    """(name, address, size) of every symbol of a 32-bit little-endian ELF; Thumb bits cleared."""
    data = Path(path).read_bytes()
    if data[:4] != b"\x7fELF" or data[4] != 1 or data[5] != 1:
        raise TinygenError(f"{Path(path).name} is not a 32-bit little-endian ELF file")
    shoff, = struct.unpack_from("<I", data, 0x20)
    shentsize, shnum = struct.unpack_from("<HH", data, 0x2E)
    sections = [struct.unpack_from("<IIIIIIIIII", data, shoff + i * shentsize) for i in range(shnum)]
    table = []
    for _name, kind, _flags, _addr, offset, size, link, _info, _align, entsize in sections:
        if kind != 2:  # SHT_SYMTAB
            continue
        strtab_offset = sections[link][4]
        for start in range(offset, offset + size, entsize or 16):
            st_name, st_value, st_size = struct.unpack_from("<III", data, start)
            end = data.index(b"\0", strtab_offset + st_name)
            table.append((data[strtab_offset + st_name:end].decode("ascii", "replace"), st_value & ~1, st_size))
    return table


def elf_symbols(path: Path, names: tuple[str, ...]) -> dict[str, int]:
    """Addresses of the named symbols (an error names the missing ones)."""
    found = {name: value for name, value, _ in elf_symbol_table(path) if name in names}
    missing = [name for name in names if name not in found]
    if missing:
        raise TinygenError(f"{Path(path).name} has no symbol {', '.join(missing)}")
    return found


def cache_dir() -> Path:
    """$XDG_CACHE_HOME/tinygen, else ~/.cache/tinygen; a directory in the temp dir when neither is writable."""
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    for candidate in (Path(base) / "tinygen", Path(tempfile.gettempdir()) / f"tinygen-{os.getuid()}"):
        try:
            candidate.mkdir(parents=True, exist_ok=True)
        except OSError:
            continue
        if os.access(candidate, os.W_OK):
            return candidate
    raise ToolMissing("no writable cache directory for the QEMU plugin (tried $XDG_CACHE_HOME, ~/.cache, the temp dir)")


@functools.lru_cache(maxsize=None)
def plugin_library() -> Path:
    """The instruction-counting QEMU plugin, built once with the host gcc and cached by a hash of its source."""
    source = toolchain.package_root("firmware").joinpath(*PLUGIN_SOURCE)
    digest = hashlib.sha256(source.read_bytes()).hexdigest()[:16]
    library = cache_dir() / f"insn_regions-{digest}.so"
    if not library.exists():
        partial = library.with_name(f"{library.name}.{os.getpid()}.tmp")
        toolchain.run([toolchain.find("gcc"), "-shared", "-fPIC", "-O2", "-Wall", "-Wextra", "-Werror",
                       str(source), "-o", str(partial)], "building the QEMU instruction-count plugin")
        os.replace(partial, library)  # atomic: a concurrent build of the same source writes the same bytes
    return library


ARM_GCC, ARM_SIZE, ARM_QEMU = "arm-none-eabi-gcc", "arm-none-eabi-size", "qemu-system-arm"
NEWLIB_NANO = ("--specs=nano.specs",)

CORTEX_M4 = QemuTarget(
    "cortex-m4", ARM_GCC, ARM_SIZE, ("-mcpu=cortex-m4", "-mthumb", "-mfloat-abi=hard", "-mfpu=fpv4-sp-d16"),
    NEWLIB_NANO, "cortex-m", "an386.ld", ARM_QEMU, ("-M", "mps2-an386"))
# Soft-float on the same core: the FPU stays disabled (CPACR), so a stray FPU instruction would fault.
CORTEX_M4_NOFPU = QemuTarget(
    "cortex-m4-nofpu", ARM_GCC, ARM_SIZE, ("-mcpu=cortex-m4", "-mthumb", "-mfloat-abi=soft"),
    NEWLIB_NANO, "cortex-m", "an386.ld", ARM_QEMU, ("-M", "mps2-an386"))
# ARMv6-M (nRF51822): 256 KB flash, 16 KB RAM in the linker script.
CORTEX_M0 = QemuTarget(
    "cortex-m0", ARM_GCC, ARM_SIZE, ("-mcpu=cortex-m0", "-mthumb"),
    NEWLIB_NANO, "cortex-m", "microbit.ld", ARM_QEMU, ("-M", "microbit"))
# ESP32-C3 class. The QEMU CPU is restricted to the compiled ISA so a wrong -march faults instead of running.
RV32 = QemuTarget(
    "rv32", "riscv64-unknown-elf-gcc", "riscv64-unknown-elf-size", ("-march=rv32imc", "-mabi=ilp32"),
    ("--specs=picolibc.specs",), "rv32", "virt.ld", "qemu-system-riscv32",
    ("-M", "virt", "-cpu", "rv32,a=false,f=false,d=false", "-bios", "none"))

# The ESP8266's core, the closest Xtensa that Debian builds for (no LX6/LX7 compiler, no ESP32 machine in QEMU):
# counts here are lx106 instructions, indicative for the ESP32's LX6/LX7, not its cycles. -mtext-section-literals
# keeps each function's constants beside it, as the ESP8266 toolchains do.
# Debian installs its picolibc specs outside the compiler's search path: named by their full path. Its libgcc lacks
# the helpers that the ESP8266's ROM provides (64-bit multiply, division, float add/multiply/convert):
# firmware/xtensa/rom_helpers.c supplies them, and counts as the model's flash where only the model uses them.
XTENSA_LX106 = QemuTarget(
    "xtensa-lx106", "xtensa-lx106-elf-gcc", "xtensa-lx106-elf-size", ("-mlongcalls", "-mtext-section-literals"),
    ("--specs=/usr/lib/xtensa-lx106-elf/picolibc.specs",), "xtensa", "sim.ld", "qemu-system-xtensa",
    ("-M", "sim", "-cpu", "lx106"),
    output_on_stdout=True, runtime_sources=("rom_helpers.c",))

TARGETS = {target.name: target for target in (CORTEX_M4, CORTEX_M4_NOFPU, CORTEX_M0, RV32, XTENSA_LX106)}
