"""A virtual Arduino Uno on a pseudo-terminal: `tinygen board-sim --board uno` and the tests' `virtual_board()`.

firmware/board-sim/board_sim.c (a host program on libsimavr) runs an ATmega328P at 16 MHz that starts in optiboot,
UART0 on a pty, paced to real time, reset when the port opens (as DTR resets an Uno), so the real avrdude uploads
through the bootloader and `verify --port` talks to what it uploaded. Both pieces are built on this machine and
cached (XDG_CACHE_HOME/tinygen, ~/.cache/tinygen or the temp dir); nothing is downloaded:
- optiboot from the source Debian's arduino-core-avr ships (its prebuilt optiboot_atmega328.hex is broken: 532 B
  that spill past the flash), linked at 0x7C00, a 1 KB boot section (avr-gcc 5.4 builds it to 532 B, over the
  Uno's 512 B one): applications up to 31,744 B fit below it;
- the driver, with the host gcc against libsimavr (GPL-3: a test and development tool, never shipped linked).
"""
from __future__ import annotations

import contextlib
import hashlib
import os
import select
import signal
import subprocess
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from .errors import TinygenError, ToolMissing
from .targets import toolchain
from .targets.avr import cache_dir, simavr_flags

OPTIBOOT_SOURCE = Path("/usr/share/arduino/hardware/arduino/avr/bootloaders/optiboot/optiboot.c")
OPTIBOOT_PACKAGES = "arduino-core-avr gcc-avr avr-libc binutils-avr"
DRIVER_PACKAGES = "simavr libsimavr-dev libelf-dev pkg-config gcc"
START_TIMEOUT_S = 10  # the driver prints its port at once; this bounds a broken build or a stuck start
STOP_TIMEOUT_S = 5
_BUILD_LOCK = threading.Lock()


@dataclass(frozen=True)
class VirtualBoard:
    """A board the driver can emulate: its part, clock, bootloader build and boot section."""
    name: str
    mcu: str
    frequency: int
    boot_address: int  # where the bootloader is linked and the CPU starts (the BOOTRST fuse)
    optiboot_flags: tuple[str, ...]


BOARDS = {
    "uno": VirtualBoard("uno", "atmega328p", 16_000_000, 0x7C00,
                        ("-DLED_START_FLASHES=3", "-DBAUD_RATE=115200")),
}


def get(name: str) -> VirtualBoard:
    if name not in BOARDS:
        raise TinygenError(f"board-sim emulates {', '.join(BOARDS)}, not {name!r}")
    return BOARDS[name]


def _cached_build(prefix: str, key_parts: list[bytes], suffix: str, build) -> Path:
    """The cache file for these inputs, built by build(partial_path) once (atomically) when missing."""
    key = hashlib.sha256(b"\0".join(key_parts)).hexdigest()[:16]
    with _BUILD_LOCK:
        path = cache_dir() / f"{prefix}-{key}{suffix}"
        if path.is_file():
            return path
        partial = path.with_name(f".{path.name}-{os.getpid()}")
        try:
            build(partial)
            os.replace(partial, path)  # another process never sees a half-written file
        finally:
            partial.unlink(missing_ok=True)
    return path


def optiboot_hex(board: VirtualBoard) -> Path:
    """optiboot for the board, built from arduino-core-avr's source and cached: Intel hex."""
    if not OPTIBOOT_SOURCE.is_file():
        raise ToolMissing(f"optiboot's source {OPTIBOOT_SOURCE} is missing (the virtual board builds its bootloader from "
                          f"it); install it with: apt-get install {OPTIBOOT_PACKAGES}")
    gcc, objcopy = toolchain.find("avr-gcc"), toolchain.find("avr-objcopy")
    flags = ["-Os", "-fno-inline-small-functions", "-fno-split-wide-types", f"-mmcu={board.mcu}",
             f"-DF_CPU={board.frequency}L", *board.optiboot_flags, f"-I{OPTIBOOT_SOURCE.parent}",
             f"-Wl,--section-start=.text={board.boot_address:#x}", "-Wl,--section-start=.version=0x7ffe",
             "-Wl,--relax", "-Wl,--gc-sections", "-nostartfiles", "-nostdlib"]

    def build(partial: Path) -> None:
        elf = partial.parent / f"{partial.name}.elf"  # per process, as partial is
        try:
            toolchain.run([gcc, *flags, str(OPTIBOOT_SOURCE), "-o", str(elf)], "building optiboot")
            toolchain.run([objcopy, "-j", ".text", "-j", ".data", "-j", ".version", "-O", "ihex", str(elf), str(partial)],
                          "converting optiboot to Intel hex")
        finally:
            elf.unlink(missing_ok=True)

    return _cached_build(f"optiboot-{board.name}", [OPTIBOOT_SOURCE.read_bytes(), *(f.encode() for f in flags)], ".hex",
                         build)


def driver_path() -> Path:
    """The board driver (firmware/board-sim/board_sim.c), built with the host gcc against libsimavr and cached."""
    source = toolchain.package_root("firmware") / "board-sim" / "board_sim.c"
    flags = simavr_flags()
    try:
        gcc = toolchain.find("gcc")
    except TinygenError:
        raise ToolMissing(f"gcc not found (needed to build the board driver); install it with: apt-get install "
                          f"{DRIVER_PACKAGES}") from None
    header = Path("/usr/include/simavr/sim_avr.h")
    parts = [source.read_bytes(), *(f.encode() for f in flags), header.read_bytes() if header.is_file() else b""]

    def build(partial: Path) -> None:
        done = subprocess.run([gcc, "-O2", "-o", str(partial), str(source), *flags], capture_output=True, text=True,
                              timeout=120, check=False)
        if done.returncode != 0:
            detail = " | ".join(done.stderr.strip().splitlines()[:4])
            raise ToolMissing(f"building the board driver failed (is libsimavr-dev installed? apt-get install "
                              f"{DRIVER_PACKAGES}): {detail}")

    return _cached_build("board-sim", parts, "", build)


def start(board_name: str = "uno", verbose: bool = False) -> tuple[subprocess.Popen, str]:
    """Start the virtual board: (its process, the port path). The caller stops it (stop())."""
    board = get(board_name)
    toolchain.find("simavr")  # libsimavr comes with Debian's simavr package
    boot, driver = optiboot_hex(board), driver_path()
    cmd = [str(driver), "-b", str(boot), "-B", hex(board.boot_address), "-m", board.mcu, "-f", str(board.frequency),
           *(["-v"] if verbose else [])]
    process = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=None if verbose else subprocess.DEVNULL,
                               stdin=subprocess.DEVNULL)
    ready, _, _ = select.select([process.stdout], [], [], START_TIMEOUT_S)
    line = process.stdout.readline().decode("ascii", "replace").split() if ready else []
    if len(line) != 2 or line[0] != "port":
        stop(process)
        raise TinygenError(f"the virtual {board.name} did not start (exit {process.returncode}; its driver said "
                           f"{' '.join(line)!r})")
    return process, line[1]


def stop(process: subprocess.Popen) -> None:
    """SIGTERM, then SIGKILL if it does not end: the board process never outlives its user."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    if process.stdout is not None:
        process.stdout.close()


@contextlib.contextmanager
def virtual_board(board_name: str = "uno", verbose: bool = False):
    """with virtual_board() as port: a running virtual Uno; port is its serial port's path (/dev/pts/N)."""
    process, port = start(board_name, verbose)
    try:
        yield port
    finally:
        stop(process)


def run_until_interrupted(board_name: str, echo) -> None:
    """`tinygen board-sim`: start the board, print its port, run until Ctrl-C (or SIGTERM)."""
    process, port = start(board_name)
    echo(f"virtual {get(board_name).name} (ATmega328P, 16 MHz, optiboot) on {port}")
    echo(f"  flash it:  tinygen flash NAME.json --board {board_name} --port {port}")
    echo(f"  verify:    tinygen verify NAME.json --data DATA.csv --label COLUMN --board {board_name} --port {port}")
    echo("Ctrl-C stops it (the flash is not kept).")
    previous = signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(KeyboardInterrupt()))
    try:
        while process.poll() is None:
            time.sleep(0.2)
        raise TinygenError(f"the virtual board stopped by itself (exit {process.returncode})")
    except KeyboardInterrupt:
        pass
    finally:
        signal.signal(signal.SIGTERM, previous)
        stop(process)
