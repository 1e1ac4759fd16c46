"""Finding and running compilers: one place for the subprocess plumbing and its error messages."""
from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

from ..errors import TinygenError, ToolMissing

# tool -> the Debian package that provides it (tinygen doctor prints one apt-get line from these)
PACKAGES = {
    "gcc": "gcc", "g++": "g++", "size": "binutils", "make": "make",
    "avr-gcc": "gcc-avr avr-libc", "avr-size": "binutils-avr", "avr-objcopy": "binutils-avr", "avrdude": "avrdude", "simavr": "simavr libsimavr-dev libelf-dev pkg-config",
    "arm-none-eabi-gcc": "gcc-arm-none-eabi libnewlib-arm-none-eabi", "qemu-system-arm": "qemu-system-arm",
    "riscv64-unknown-elf-gcc": "gcc-riscv64-unknown-elf picolibc-riscv64-unknown-elf",
    "qemu-system-riscv32": "qemu-system-misc", "qemu-system-xtensa": "qemu-system-misc",
    "xtensa-lx106-elf-gcc": "gcc-xtensa-lx106 binutils-xtensa-lx106 picolibc-xtensa-lx106-elf",
    "xtensa-lx106-elf-size": "binutils-xtensa-lx106", "arm-none-eabi-size": "binutils-arm-none-eabi",
    "riscv64-unknown-elf-size": "binutils-riscv64-unknown-elf", "clang": "clang", "clang++": "clang",
    "cppcheck": "cppcheck",
}


def find(tool: str) -> str:
    path = shutil.which(tool)
    if path is None:
        raise ToolMissing(f"{tool} not found; install it with: apt-get install {PACKAGES.get(tool, tool)}")
    return path


def package_root(subdir: str) -> Path:
    """templates/ or firmware/ in a checkout; the copy inside the installed package otherwise."""
    here = Path(__file__).resolve().parent.parent
    for candidate in (here / f"_{subdir}", here.parent / subdir):
        if candidate.is_dir():
            return candidate
    raise TinygenError(f"tinygen's {subdir}/ is missing from this installation; reinstall tinygen")


def run(cmd: list[str], what: str, cwd: Path | None = None, timeout: float = 300,
        stdout_file: Path | None = None) -> subprocess.CompletedProcess:
    """Run a command; a failure becomes a TinygenError with the first lines of its output. stdout_file: its
    standard output is also written there, failed or not (a firmware's report of why it failed)."""
    try:
        done = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=timeout,
                              env={**os.environ, "LC_ALL": "C"})
    except subprocess.TimeoutExpired:
        raise TinygenError(f"{what} timed out after {timeout:.0f} s") from None
    if stdout_file is not None:
        Path(stdout_file).write_text(done.stdout)
    if done.returncode != 0:
        detail = " | ".join((done.stderr or done.stdout).strip().splitlines()[:6])
        error = TinygenError(f"{what} failed (exit {done.returncode}): {detail}")
        error.output = done.stderr or done.stdout  # all of it, for callers that explain a known failure
        raise error
    return done


def berkeley_size(size_tool: str, path: Path) -> dict:
    """text/data/bss bytes of an object or ELF, from binutils `size` (Berkeley format)."""
    line = run([size_tool, str(path)], f"{size_tool} {path.name}").stdout.strip().splitlines()[-1].split()
    return {"text": int(line[0]), "data": int(line[1]), "bss": int(line[2])}


def model_footprint(compiler: str, flags: list[str], header: Path, name: str, link: bool = False) -> dict:
    """Flash (text + data) and static RAM (data + bss) that a model adds: a program calling NAME_predict on
    an external input array, minus the same program without the model. Linked (link=True) it also counts
    the libgcc/libc helpers the model pulls in; as an object file (link=False) the model's own code only."""
    size_tool = find(compiler[: -len("gcc")] + "size")
    header = Path(header).resolve()
    with tempfile.TemporaryDirectory(prefix="tinygen-footprint-") as tmp:
        sizes = {}
        for variant, call in (("empty", "0"), ("model", f"{name}_predict(tg_x)")):
            source = Path(tmp) / f"{variant}.c"
            # tg_x is an external global, so the compiler cannot fold the model away on known inputs;
            # both variants include the header (unused static inline code and tables emit nothing)
            source.write_text(f'#include "{header}"\nfloat tg_x[{name}_N_FEATURES];\nvolatile float tg_sink;\n'
                              f"int main(void)\n{{\n    tg_sink = (float){call};\n    return 0;\n}}\n")
            output = Path(tmp) / f"{variant}.{'elf' if link else 'o'}"
            run([find(compiler), *flags, "-std=c99", *([] if link else ["-c"]), str(source), "-o", str(output)],
                f"building {header.name} with {compiler}")
            sizes[variant] = berkeley_size(size_tool, output)
    flash = {v: s["text"] + s["data"] for v, s in sizes.items()}
    ram = {v: s["data"] + s["bss"] for v, s in sizes.items()}
    return {"flash_bytes": flash["model"] - flash["empty"], "ram_bytes": ram["model"] - ram["empty"]}
