"""`tinygen doctor`: which toolchains and emulators this machine has, and one apt-get line for the rest."""
from __future__ import annotations

import importlib.util
import shutil
import subprocess
from pathlib import Path

from .targets.toolchain import PACKAGES

# (tool, what tinygen uses it for)
TOOLS = (
    ("gcc", "host build and verify (required)"),
    ("g++", "C++11 check of generated headers"),
    ("size", "host object size"),
    ("avr-gcc", "AVR (Arduino Uno) build"),
    ("avr-size", "AVR flash/RAM sizes"),
    ("simavr", "AVR emulator (verify --target avr, board-sim)"),
    ("avr-objcopy", "AVR firmware to Intel hex (tinygen flash)"),
    ("avrdude", "uploads to Arduino boards (tinygen flash, board-sim tests)"),
    ("pkg-config", "finds libsimavr for tinygen's AVR driver"),
    ("arm-none-eabi-gcc", "Cortex-M build"),
    ("qemu-system-arm", "Cortex-M emulator"),
    ("riscv64-unknown-elf-gcc", "RISC-V rv32imc build"),
    ("qemu-system-riscv32", "RISC-V emulator"),
    ("xtensa-lx106-elf-gcc", "Xtensa lx106 build (verify --target xtensa-lx106, esp-idf format, esp32 board)"),
    ("xtensa-lx106-elf-size", "Xtensa lx106 flash/RAM sizes"),
    ("qemu-system-xtensa", "Xtensa lx106 emulator (ESP8266 core; indicative for the ESP32)"),
    ("make", "builds Arduino sketches (arduino-mk)"),
    ("clang", "second compiler for the compiler matrix"),
    ("cppcheck", "static analysis of generated C"),
)


NO_VERSION_FLAG = {"simavr", "avrdude"}  # print an error for --version: show their path instead


def version_line(path: str) -> str:
    if Path(path).name in NO_VERSION_FLAG:
        return path
    try:
        done = subprocess.run([path, "--version"], capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return "?"
    lines = (done.stdout or done.stderr).strip().splitlines()
    return lines[0][:70] if lines else "?"


# (a file, what provides it, what it is for): parts that are libraries or data rather than programs
FILES = (
    ("/usr/include/simavr/sim_avr.h", "libsimavr-dev", "libsimavr headers for the AVR driver"),
    ("/usr/share/arduino/Arduino.mk", "arduino-mk", "Arduino sketch builds (export --format arduino tests)"),
    ("/usr/share/arduino/hardware/arduino/avr/cores/arduino/Arduino.h", "arduino-core-avr", "the Arduino AVR core"),
    ("/usr/share/arduino/hardware/arduino/avr/bootloaders/optiboot/optiboot.c", "arduino-core-avr",
     "optiboot's source: the virtual Uno's bootloader (board-sim)"),
)


# (Python module, its pip requirement, what it is for): optional packages (extras)
MODULES = (("serial", "tinygen[port]", "pyserial: verify --port talks to a board's serial port"),)


ARDUINO_CORE = Path("/usr/share/arduino/hardware/arduino/avr/cores/arduino")
DECIMAL_DIG_PROBE = "#include <float.h>\nstatic const int digits = DECIMAL_DIG;\nint main() { return digits; }\n"


def arduino_core_defect() -> str | None:
    """Why Debian's Arduino AVR core does not build as shipped, or None: its WString.cpp uses DECIMAL_DIG, which
    Debian's avr-g++ (5.4) defines for C99 but not for C++ (newer GCC's <float.h> has it for C++11 too)."""
    compiler = shutil.which("avr-g++")
    users = [p.name for p in ARDUINO_CORE.glob("*.cpp") if "DECIMAL_DIG" in p.read_text(errors="replace")] \
        if ARDUINO_CORE.is_dir() else []
    if compiler is None or not users:
        return None
    try:
        done = subprocess.run([compiler, "-mmcu=atmega328p", "-std=gnu++11", "-x", "c++", "-fsyntax-only", "-"],
                              input=DECIMAL_DIG_PROBE, capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return None
    if done.returncode == 0:
        return None
    return (f"{', '.join(sorted(users))} uses DECIMAL_DIG, which {Path(compiler).name} does not define in C++: build "
            "sketches with -DDECIMAL_DIG=__DECIMAL_DIG__ (arduino-mk: CXXFLAGS += -DDECIMAL_DIG=__DECIMAL_DIG__; "
            "tinygen flash --sketch adds it)")


def report(echo) -> list[str]:
    """Print one line per tool; return the missing tools (or packages, for files)."""
    missing = []
    for module, requirement, purpose in MODULES:
        if importlib.util.find_spec(module) is None:
            echo(f"  missing  {module:<24} {purpose}: pip install '{requirement}'")
        else:
            echo(f"  ok       {module:<24} {purpose.split(':')[0]}")
    for path, package, purpose in FILES:
        if Path(path).exists():
            echo(f"  ok       {package:<24} {path}")
        else:
            missing.append(package)
            echo(f"  missing  {package:<24} {purpose}")
    for tool, purpose in TOOLS:
        path = shutil.which(tool)
        if path is None:
            missing.append(tool)
            echo(f"  missing  {tool:<24} {purpose}")
        else:
            echo(f"  ok       {tool:<24} {version_line(path)}")
    defect = arduino_core_defect()
    if defect:
        echo(f"  defect   {'arduino-core-avr':<24} {defect}")
    if missing:
        packages = sorted({pkg for tool in missing for pkg in PACKAGES.get(tool, tool).split()})
        echo("\ninstall the missing ones with:")
        echo(f"  sudo apt-get update && sudo apt-get install -y --no-install-recommends {' '.join(packages)}")
    else:
        echo("\neverything tinygen can use is installed")
    return missing
