#!/usr/bin/env bash
# Sets up and runs tinygen's tests on a fresh Debian machine: the C toolchains the tests compile with
# (apt-get, as root or through sudo), tinygen with its test extras in a virtual environment (.venv, through
# examples/setup.sh), then pytest with missing toolchains turned into failures. Extra arguments go to pytest.
# The default run leaves out the tests marked slow (the rest of the exhaustive sweeps); `bash tests/run.sh -m slow`
# runs those alone, and any other -m expression replaces "not slow" (.ci/run runs the default, then -m slow).
set -euo pipefail
cd "$(dirname "$0")/.."

# host compilers, with clang and cppcheck for the compiler matrix (clang with its sanitizer runtimes for the
# fuzz tests' AddressSanitizer + UndefinedBehaviorSanitizer builds); AVR (Uno) with simavr and its library for
# tinygen's cycle-counting driver and the virtual Uno, avrdude to flash it (tinygen flash); Cortex-M and RISC-V cross compilers with QEMU; Xtensa lx106
# (the ESP8266 core: the ESP32 compile check, and target xtensa-lx106 under qemu-system-xtensa from qemu-system-misc); the Arduino AVR core for sketch builds; headless Chromium (and a font for its text) to render
# `tinygen report`'s page
packages="gcc g++ binutils make pkg-config clang cppcheck
  gcc-avr avr-libc binutils-avr simavr libsimavr-dev libelf-dev avrdude
  gcc-arm-none-eabi libnewlib-arm-none-eabi binutils-arm-none-eabi qemu-system-arm
  gcc-riscv64-unknown-elf picolibc-riscv64-unknown-elf binutils-riscv64-unknown-elf qemu-system-misc
  gcc-xtensa-lx106 binutils-xtensa-lx106 picolibc-xtensa-lx106-elf
  arduino-mk arduino-core-avr
  chromium fonts-dejavu-core
  libclang-rt-dev
  python3-venv"
if command -v apt-get >/dev/null 2>&1; then
  sudo=""
  [ "$(id -u)" = 0 ] || sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends $packages >/dev/null
fi

# tinygen, editable, with its test extra, in the virtual environment .venv (examples/setup.sh: Debian's python3
# is externally managed, PEP 668); the extra includes the peers (emlearn, m2cgen: tests run bench --peers) and
# xmlschema (JUnit files); the port extra (pyserial) talks to the virtual Uno. The tests then run with that
# environment first on PATH (its python3, its tinygen).
TINYGEN_EDITABLE=1 bash examples/setup.sh '[test,port]'
export PATH="$PWD/${TINYGEN_VENV:-.venv}/bin:$PATH"

export TINYGEN_REQUIRE_TOOLCHAINS=1
markers=(-m "not slow")
for arg in "$@"; do
  case "$arg" in -m|-m?*) markers=() ;; esac
done
status=0
# -n auto: one pytest worker per core (pytest-xdist); the tests share no files, each builds in its own tmp_path
python3 -m pytest -q -p no:cacheprovider -n auto --durations=15 ${markers[@]+"${markers[@]}"} "$@" || status=$?
if [ "$status" -eq 5 ]; then
  echo "tests/run.sh: pytest collected no tests; that is a failure" >&2
  exit 1
fi
exit "$status"
