"""`tinygen flash`: the verify firmware (firmware/avr/port.c) or the Arduino example sketch for a board, converted
to Intel hex and uploaded with the board's own uploader (avrdude through the board's bootloader).

An upload builds the firmware in a folder of its own under the cache (XDG_CACHE_HOME/tinygen/flash), removed after
it; the commands flash prints (--dry-run, or a missing uploader) name a folder that stays there
(flash/NAME-BOARD-DIGEST, with the header), so they run as printed.
The model's digest, which the firmware reports and `verify --port` checks, is the SHA-256 of its NAME.json (the
digest field zeroed) that the header carries on its `tinygen-manifest-sha256` line (digests.py); a header without
that line (a version-1 export) is identified by its own SHA-256.
"""
from __future__ import annotations

import contextlib
import hashlib
import shlex
import shutil
import subprocess
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from . import boards, digests
from .errors import TinygenError, ToolMissing
from .files import atomic_write_bytes
from .targets import avr, toolchain

UPLOAD_TOOL = "avrdude"
UPLOAD_BASE_TIMEOUT_S = 20  # plus UPLOAD_SECONDS_PER_KB of the firmware: writing and reading back at 115200 baud
UPLOAD_SECONDS_PER_KB = 0.5
MAX_FAILED_SYNC_LINES = 6  # avrdude tries a silent bootloader 10 times, 5.6 s and 2 lines each: stop after 3
BOOTLOADERS = ("optiboot",)


@dataclass(frozen=True)
class Uploader:
    """How a board is flashed: its part for avr-gcc and avrdude, the bootloader's protocol and speed."""
    board: str
    mcu: str  # avr-gcc -mmcu
    part: str  # avrdude -p
    programmer: str  # avrdude -c
    baud: int
    options: tuple[str, ...] = ()  # more avrdude options (-D: the bootloader erases each page itself)
    optiboot_baud: int | None = None  # with --bootloader optiboot, when the board's own is another


UPLOADERS = {
    "uno": Uploader("uno", "atmega328p", "m328p", "arduino", 115_200),
    "nano": Uploader("nano", "atmega328p", "m328p", "arduino", 57_600, optiboot_baud=115_200),  # old bootloader
    "mega2560": Uploader("mega2560", "atmega2560", "m2560", "wiring", 115_200, ("-D",)),
}
# arduino-mk's BOARD_TAG (and BOARD_SUB) for the sketch build
SKETCH_BOARDS = {"uno": ("uno", None), "nano": ("nano", "atmega328old"), "mega2560": ("mega", "atmega2560")}
ARDUINO_MK = Path("/usr/share/arduino/Arduino.mk")
INSTALL = {"avrdude": "apt-get install avrdude", "make": "apt-get install make arduino-mk arduino-core-avr"}


def uploader_for(board: str, bootloader: str | None = None) -> Uploader:
    """The board's uploader; a board tinygen cannot flash, or a bootloader it does not know, is bad input."""
    if board not in UPLOADERS:
        boards.get(board)  # an unknown board: the board table's own error
        raise TinygenError(f"tinygen flash uploads to {', '.join(UPLOADERS)} (AVR boards through their bootloader); "
                           f"for the {board}, export the header (tinygen export --format esp-idf|platformio) and use "
                           "the board's own tools")
    if bootloader is not None and bootloader not in BOOTLOADERS:
        raise TinygenError(f"--bootloader {bootloader}: only {', '.join(BOOTLOADERS)} is known")
    uploader = UPLOADERS[board]
    if bootloader == "optiboot" and uploader.optiboot_baud is not None:
        return Uploader(uploader.board, uploader.mcu, uploader.part, uploader.programmer, uploader.optiboot_baud,
                        uploader.options)
    return uploader


def model_digest(header_bytes: bytes) -> str:
    """What the firmware reports as its model: the manifest digest the header carries, else the header's SHA-256."""
    match = digests.HEADER_LINE.search(header_bytes)
    return match.group(1).decode() if match else hashlib.sha256(header_bytes).hexdigest()


def firmware_flags(program, name: str, header: Path, mcu: str, digest: str) -> list[str]:
    """avr-gcc flags of the port firmware around the header (the simavr harness's, for another part)."""
    flags = [flag for flag in avr.CFLAGS if not flag.startswith("-mmcu=")]
    return [f"-mmcu={mcu}", *flags, f"-DTG_NAME={name}", f'-DTG_HEADER="{Path(header).resolve()}"',
            f'-DTG_DIGEST="{digest}"', *(["-DTG_PROBA"] if program.proba is not None else []),
            *(["-DTG_WINDOW"] if program.window_op is not None else [])]


TIMED_NAMES = ("tg_predict", "tg_scores", "tg_window_begin", "tg_window_frame", "tg_predict_latest", "tg_scores_latest")


def build_commands(program, name: str, header: Path, mcu: str, digest: str, workdir: Path, stub: bool = False,
                   timed_alone: bool = True):
    """[avr-gcc ... (the timed unit), avr-gcc ..., avr-objcopy ...] that build workdir/NAME.hex. timed_alone: the
    timed NAME_predict is predict.c's, compiled apart as the simavr target's (port.c says why); stub: the
    firmware without the model (NAME_stub.elf, what its flash and RAM are measured against)."""
    firmware = toolchain.package_root("firmware") / "avr"
    flags = firmware_flags(program, name, header, mcu, digest)
    elf = workdir / f"{name}{'_stub' if stub else ''}.elf"
    commands, sources = [], [firmware / "port.c"] if stub else [firmware / "port.c", firmware / "model.c"]
    if timed_alone and not stub:
        timed = workdir / f"{name}_timed.o"
        commands.append(["avr-gcc", "-c", *flags, *(f"-D{old}=tg_timed_{old[3:]}" for old in TIMED_NAMES),
                         str(firmware / "predict.c"), "-o", str(timed)])
        sources.append(timed)
    commands.append(["avr-gcc", *flags, *(["-DTG_STUB"] if stub else []), *(["-DTG_TIMED_UNIT"] if timed_alone and not stub else []),
                     *map(str, sources), "-o", str(elf)])
    commands.append(["avr-objcopy", "-O", "ihex", "-R", ".eeprom", str(elf), str(elf.with_suffix(".hex"))])
    return commands


def firmware_size(elf: Path) -> dict:
    sizes = toolchain.berkeley_size(toolchain.find("avr-size"), elf)
    return {"flash": sizes["text"] + sizes["data"], "ram": sizes["data"] + sizes["bss"]}


def app_flash_limit(board: str, bootloader: str | None = None) -> int:
    """Flash below the board's bootloader (optiboot on a Nano leaves what it leaves on an Uno)."""
    return boards.get("uno" if bootloader == "optiboot" and board == "nano" else board).flash_bytes


def upload_command(uploader: Uploader, port: str, hex_path: Path) -> list[str]:
    return [UPLOAD_TOOL, "-c", uploader.programmer, "-p", uploader.part, "-b", str(uploader.baud), "-P", port,
            *uploader.options, "-U", f"flash:w:{hex_path}:i"]


def workdir_for(name: str, board: str, digest: str) -> Path:
    """The build folder whose paths printed commands name (--dry-run, a missing uploader): it stays."""
    path = avr.cache_dir() / "flash" / f"{name}-{board}-{digest[:12]}"
    path.mkdir(parents=True, exist_ok=True)
    return path


@contextlib.contextmanager
def private_workdir(name: str, board: str):
    """A build folder of this run alone (two runs for one model never share files), removed after it."""
    parent = avr.cache_dir() / "flash"
    parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=f"{name}-{board}-", dir=parent) as path:
        yield Path(path)


def write_header(workdir: Path, name: str, header_bytes: bytes) -> Path:
    header = workdir / f"{name}.h"
    atomic_write_bytes(header, header_bytes)  # a build of the same model elsewhere never reads half a header
    return header


def run_build(commands: list[list[str]], what: str) -> None:
    for cmd in commands:
        toolchain.run([toolchain.find(cmd[0]), *cmd[1:]], what)


def port_sizes(program, name: str, header_bytes: bytes, board: str, digest: str, timed_alone: bool) -> dict:
    """flash/RAM the model adds to the port firmware (the firmware minus the same without the model) and the
    firmware's own, built again here as flash builds it; null figures, with the reason, without avr-gcc."""
    uploader = uploader_for(board)
    sizes = {}
    try:
        with private_workdir(name, board) as workdir:
            header = write_header(workdir, name, header_bytes)
            for stub in (False, True):
                commands = build_commands(program, name, header, uploader.mcu, digest, workdir, stub, timed_alone)
                run_build(commands[:-1], f"building the {'stub ' if stub else ''}verify firmware for the {board}")
                sizes[stub] = firmware_size(Path(commands[-1][-2]))
    except ToolMissing as exc:
        return {"flash_bytes": None, "ram_bytes": None, "sizes_note": str(exc)}
    return {"flash_bytes": sizes[False]["flash"] - sizes[True]["flash"],
            "ram_bytes": sizes[False]["ram"] - sizes[True]["ram"],
            "firmware_flash_bytes": sizes[False]["flash"], "firmware_ram_bytes": sizes[False]["ram"]}


@dataclass
class FlashPlan:
    """What flash does: the commands in order, and the hex they make."""
    commands: list[list[str]]
    hex_path: Path
    upload: list[str]


def plan_firmware(model, name: str, header_bytes: bytes, uploader: Uploader, port: str, timed_alone: bool = True,
                  workdir: Path | None = None) -> FlashPlan:
    """The verify firmware's build and upload commands, in workdir (default: workdir_for's); the header is
    written there."""
    digest = model_digest(header_bytes)
    workdir = workdir or workdir_for(name, uploader.board, digest)
    header = write_header(workdir, name, header_bytes)
    commands = build_commands(model.program, name, header, uploader.mcu, digest, workdir, timed_alone=timed_alone)
    hex_path = Path(commands[-1][-1])
    return FlashPlan(commands, hex_path, upload_command(uploader, port, hex_path))


def build_firmware(model, name: str, header_bytes: bytes, uploader: Uploader, port: str, bootloader: str | None,
                   workdir: Path) -> tuple[FlashPlan, str | None]:
    """Build the verify firmware that fits the board: (its plan, a note when the timed NAME_predict had to share
    model.c because the model's tables twice do not fit). A firmware that does not fit at all is an error."""
    limit, note = app_flash_limit(uploader.board, bootloader), None
    for timed_alone in (True, False):
        plan = plan_firmware(model, name, header_bytes, uploader, port, timed_alone, workdir)
        run_build(plan.commands[:-1], f"building the verify firmware for the {uploader.board}")
        flash_bytes = firmware_size(plan.hex_path.with_suffix(".elf"))["flash"]
        if flash_bytes <= limit:
            run_build(plan.commands[-1:], "converting the firmware to Intel hex")
            return plan, note
        note = (f"the model's tables twice ({flash_bytes} B) do not fit the {uploader.board}'s {limit} B: the timed "
                f"{name}_predict shares its unit with {name}_scores, and its cycles may differ from the avr target's")
    raise TinygenError(f"the verify firmware is {flash_bytes} B, over the {limit} B the {uploader.board}'s bootloader "
                       f"leaves (by {flash_bytes - limit} B); try a smaller model (--dtype q7, fewer trees or features)")


def plan_sketch(model, name: str, header_bytes: bytes, uploader: Uploader, port: str) -> FlashPlan:
    """The Arduino example sketch (export --format arduino's library, installed as the IDE installs it) built with
    arduino-mk for the board."""
    from .formats import arduino
    from .formats.common import context

    digest = model_digest(header_bytes)
    workdir = workdir_for(name, uploader.board, digest) / "sketch"
    library = workdir / "libraries" / name
    sketch_dir, objdir = library / "examples" / name, workdir / "build"
    ctx = context(model, name)
    package = arduino.package(model, name, ctx, header_bytes.decode("utf-8"), model.manifest(name))
    for relative, content in package.files.items():
        (library / relative).parent.mkdir(parents=True, exist_ok=True)
        (library / relative).write_bytes(content)
    tag, sub = SKETCH_BOARDS[uploader.board]
    # Debian's Arduino AVR core uses DECIMAL_DIG, which its avr-gcc does not define (only __DECIMAL_DIG__)
    (sketch_dir / "Makefile").write_text(
        f"BOARD_TAG = {tag}\n" + (f"BOARD_SUB = {sub}\n" if sub else "") + f"TARGET = {name}\nOBJDIR = {objdir}\n"
        f"USER_LIB_PATH = {library.parent}\nARDUINO_LIBS = {name}\nCXXFLAGS += -DDECIMAL_DIG=__DECIMAL_DIG__\n"
        f"include {ARDUINO_MK}\n")
    hex_path = objdir / f"{name}.hex"
    return FlashPlan([["make", "-C", str(sketch_dir)]], hex_path, upload_command(uploader, port, hex_path))


def flash_firmware(model, name: str, header_bytes: bytes, uploader: Uploader, port: str,
                   bootloader: str | None = None) -> tuple[FlashPlan, float, str | None]:
    """Build the verify firmware in a folder of its own and upload it: (the plan, seconds the upload took, a note
    or None). Without the uploader it is built where it stays, and the error gives the command that uploads it."""
    if shutil.which(UPLOAD_TOOL) is None:
        plan, _ = build_firmware(model, name, header_bytes, uploader, port, bootloader,
                                 workdir_for(name, uploader.board, model_digest(header_bytes)))
        upload(plan)  # raises ToolMissing with the command and the install line
    with private_workdir(name, uploader.board) as workdir:
        plan, note = build_firmware(model, name, header_bytes, uploader, port, bootloader, workdir)
        return plan, upload(plan), note


def shell_line(cmd: list[str]) -> str:
    return " ".join(shlex.quote(part) for part in cmd)


def upload(plan: FlashPlan) -> float:
    """Run the uploader; seconds it took. A failure is one line with avrdude's own reason, said within about 20 s
    when the bootloader never answers (avrdude itself would retry for a minute)."""
    tool = plan.upload[0]
    if shutil.which(tool) is None:
        raise ToolMissing(f"{tool} is not installed: install it ({INSTALL.get(tool, 'apt-get install ' + tool)}), then "
                          f"upload with: {shell_line(plan.upload)}")
    port = plan.upload[plan.upload.index("-P") + 1]
    timeout = UPLOAD_BASE_TIMEOUT_S + UPLOAD_SECONDS_PER_KB * plan.hex_path.stat().st_size / 2800  # ~2.8 hex chars/B
    started = time.monotonic()
    process = subprocess.Popen(plan.upload, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                               text=True, errors="replace")
    lines, gave_up = [], threading.Event()

    def watch_stderr():  # avrdude says each failed attempt to reach the bootloader: stop it after a few
        for line in process.stderr:
            lines.append(line)
            if sum("not in sync" in seen or "not responding" in seen for seen in lines) >= MAX_FAILED_SYNC_LINES:
                gave_up.set()
                process.kill()

    watcher = threading.Thread(target=watch_stderr, daemon=True)
    watcher.start()
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
        raise TinygenError(f"the upload to {port} did not finish within {timeout:.0f} s") from None
    finally:
        watcher.join(timeout=5)
    if gave_up.is_set():
        raise TinygenError(f"the upload to {port} failed: no bootloader answered ({_avrdude_reason(''.join(lines))}); is "
                           "the board on that port, and --board (and --bootloader) the one it is?")
    if process.returncode != 0:
        raise TinygenError(f"the upload failed (avrdude exit {process.returncode}): {_avrdude_reason(''.join(lines))}")
    return time.monotonic() - started


def _avrdude_reason(stderr: str) -> str:
    """avrdude's most telling lines (its TIOCMGET complaints on a pseudo-terminal are noise)."""
    lines = [line.strip() for line in stderr.splitlines() if line.strip() and "TIOCM" not in line
             and not line.strip().startswith("avrdude done")]
    telling = [line for line in lines if "error" in line.lower() or "not in sync" in line or "can't" in line.lower()
               or "cannot" in line.lower() or "failed" in line.lower() or "mismatch" in line]
    return " | ".join((telling or lines or ["no output"])[:3])
