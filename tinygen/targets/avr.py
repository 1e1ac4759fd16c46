"""The AVR target: an ATmega328P at 16 MHz (Arduino Uno) emulated by simavr, with exact cycle counts.

firmware/avr/main.c (the harness) is built with avr-gcc around the generated header into three firmwares:
"size" (main.c + predict.c: NAME_predict only), "stub" (the same without the model) and "run" (main.c +
model.c: every API call). firmware/avr/driver.c, a small host program linked against libsimavr, runs them:
the rows travel to the firmware over UART0 (raw float32, paced by the UART's flow control), the raw scores
and predictions come back as hex lines over UART0, and the driver times the GPIOR0-marked regions with
simavr's cycle counter and samples the stack pointer after every instruction.

Costs of a model (what `measure` returns), all from the "size" firmware, so they describe one machine code:
- flash_bytes / ram_bytes: avr-size of "size" minus "stub" (text+data for flash, data+bss for RAM), so the
  soft-float and multiply helpers the model pulls from avr-libc's libm and libgcc count as the model's.
- stack_bytes: the peak stack of one NAME_predict call (return address included), max over the rows.
- cycles_per_inference: exact cycles of one NAME_predict(x) call from float features as its caller sees it
  (argument setup, call, body, return, storing the result), the cost of an empty marked region subtracted;
  mean over the rows, min and max in extra. Fixed-point models add cycles_predict_q*: NAME_predict_q on
  features quantized beforehand (timed in the "run" firmware), which shows what the float->fixed step costs;
  models with an integer predict_proba add cycles_proba*: one NAME_proba_from_scores call (the "run" firmware),
  what predict_proba costs on top of the scores.
The firmware must fit the Uno: 32,256 B of flash (the bootloader keeps 512 B) and 2,048 B of SRAM for .data
+ .bss + the stack. The linker does not see the stack, so this module checks SRAM with the measured stack.
The raw scores come from the "run" firmware, whose predictions must equal the "size" firmware's.

`run_elf` runs any AVR ELF (an Arduino sketch, say) under the same driver: UART0 output and marked regions.
"""
from __future__ import annotations

import hashlib
import os
import subprocess
import tempfile
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import TinygenError, ToolMissing
from . import host, toolchain
from .measurement import Measurement

MCU = "atmega328p"
F_CPU = 16_000_000
FLASH_LIMIT = 32_256  # Arduino Uno: 32 KB minus the 512 B Optiboot bootloader
SRAM_LIMIT = 2_048
CFLAGS = ["-std=c99", "-Os", f"-mmcu={MCU}", f"-DF_CPU={F_CPU}UL", "-ffunction-sections", "-fdata-sections",
          "-Wl,--gc-sections", "-ffp-contract=off", "-Wall", "-Wextra", "-Wpedantic", "-Wconversion", "-Werror"]
REGION_PREDICT = 1  # firmware/avr/main.c: one NAME_predict(x) call
REGION_EMPTY = 2  # firmware/avr/main.c: no code between the markers
REGION_PREDICT_Q = 3  # firmware/avr/main.c: one NAME_predict_q(x_q) call (fixed-point models)
REGION_PROBA = 4  # firmware/avr/main.c: one NAME_proba_from_scores(scores, proba) call (models with predict_proba)
REGION_PARTIAL_FIT = 5  # firmware/avr/main.c (TG_TRAIN): one NAME_partial_fit(x, y) call of a trainable model
MIN_ROWS_PER_PARALLEL_RUN = 200  # rows are split over parallel simavr runs (one per CPU) above this
MAX_ROWS_PER_RUN = 65_535  # the row count travels as a uint16
CYCLES_PER_ROW_LIMIT = 5_000_000  # a runaway firmware stops here (0.3 s of Uno time per row)
CYCLES_BASE_LIMIT = 50_000_000
EMULATED_CYCLES_PER_SECOND = 20_000_000  # a pessimistic host speed, for subprocess timeouts
DRIVER_PACKAGES = "simavr libsimavr-dev libelf-dev pkg-config gcc"
NUMPY_TYPES = {"int32": np.int32, "float32": np.float32}
_DRIVER_LOCK = threading.Lock()  # measure() runs simavr from several threads; build the driver once


@dataclass(frozen=True)
class Region:
    """One GPIOR0-marked region of a run: `cycles` includes the starting marker write (an empty region
    measures 1); `stack_bytes` is how far the stack pointer went below its value at the region start."""
    id: int
    cycles: int
    stack_bytes: int
    sp_start: int
    sp_min: int


@dataclass(frozen=True)
class Run:
    """Everything one driver run reports."""
    uart_output: bytes
    regions: list  # of Region, in the order they closed
    state: str  # "done": the firmware slept with interrupts off
    cycles: int  # total emulated cycles
    stack_peak: int  # RAMEND - the lowest stack pointer of the whole run
    ramend: int
    input_left: int  # UART input bytes the firmware never read


# --- the host driver -----------------------------------------------------------------------------------

def cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    for candidate in (Path(base) / "tinygen", Path(tempfile.gettempdir()) / f"tinygen-{os.getuid()}"):
        try:
            candidate.mkdir(parents=True, exist_ok=True)
            if os.access(candidate, os.W_OK):
                return candidate
        except OSError:
            continue
    raise ToolMissing("no writable cache directory for the AVR driver (tried $XDG_CACHE_HOME/tinygen, "
                       "~/.cache/tinygen and the temp dir)")


def simavr_flags() -> list[str]:
    try:
        done = subprocess.run([toolchain.find("pkg-config"), "--cflags", "--libs", "simavr"], capture_output=True,
                              text=True, timeout=30, check=False)
    except TinygenError:
        done = None
    if done is not None and done.returncode == 0:
        return done.stdout.split() + ["-lelf"]
    if Path("/usr/include/simavr/sim_avr.h").is_file():
        return ["-I/usr/include/simavr", "-lsimavr", "-lelf"]
    raise ToolMissing(f"libsimavr is not installed (needed to run AVR firmware); install it with: "
                       f"apt-get install {DRIVER_PACKAGES}")


def driver_path() -> Path:
    """The libsimavr host driver, built with the host gcc once and cached (in $XDG_CACHE_HOME/tinygen,
    ~/.cache/tinygen or the temp dir), keyed by a hash of driver.c, the build flags and libsimavr's header."""
    source = toolchain.package_root("firmware") / "avr" / "driver.c"
    flags = simavr_flags()
    key = hashlib.sha256(source.read_bytes() + "\0".join(flags).encode())
    for flag in flags:
        header = Path(flag[2:]) / "sim_avr.h" if flag.startswith("-I") else None
        if header is not None and header.is_file():
            key.update(header.read_bytes())
    with _DRIVER_LOCK:
        cache = cache_dir()
        exe = cache / f"avr-driver-{key.hexdigest()[:16]}"
        if exe.is_file() and os.access(exe, os.X_OK):
            return exe
        try:
            gcc = toolchain.find("gcc")
        except TinygenError:
            raise ToolMissing(f"gcc not found (needed to build the simavr driver); install it with: "
                               f"apt-get install {DRIVER_PACKAGES}") from None
        partial = cache / f".{exe.name}-{os.getpid()}"
        try:
            done = subprocess.run([gcc, "-O2", "-o", str(partial), str(source), *flags], capture_output=True,
                                  text=True, timeout=120, check=False)
            if done.returncode != 0:
                detail = " | ".join(done.stderr.strip().splitlines()[:4])
                raise ToolMissing(f"building the simavr driver failed (is libsimavr-dev installed? apt-get install "
                                   f"{DRIVER_PACKAGES}): {detail}")
            os.replace(partial, exe)  # atomic: another process never sees a half-written driver
        finally:
            partial.unlink(missing_ok=True)
    return exe


def _parse_report(text: str) -> tuple[list, dict]:
    regions, end = [], {}
    for line in text.splitlines():
        fields = line.split()
        if len(fields) == 6 and fields[0] == "region":
            regions.append(Region(*(int(f) for f in fields[1:])))
        elif len(fields) == 6 and fields[0] == "end":
            end = {"state": fields[1], "cycles": int(fields[2]), "stack_peak": int(fields[3]),
                   "ramend": int(fields[4]), "input_left": int(fields[5])}
    return regions, end


def simulate(elf_path, cycle_limit: int = 1_000_000_000, uart_input: bytes = b"", mcu: str = MCU,
             frequency: int = F_CPU, timeout: float | None = None, eeprom=None) -> Run:
    """Run an AVR ELF under simavr until it sleeps with interrupts off (cli; sleep).

    uart_input: bytes delivered to UART0's receiver (paced by the UART's own timing and flow control).
    eeprom: a file holding the EEPROM: its bytes at power-on (missing: erased, 0xFF), the whole EEPROM at the end
    (so a second run with the same file is a reboot).
    A crash or a run past `cycle_limit` raises TinygenError (with the last UART output)."""
    toolchain.find("simavr")  # the driver needs libsimavr, which Debian ships with the simavr package
    driver = driver_path()
    if timeout is None:
        timeout = 60 + cycle_limit / EMULATED_CYCLES_PER_SECOND
    with tempfile.TemporaryDirectory(prefix="tinygen-simavr-") as tmp:
        report = Path(tmp) / "regions.txt"
        cmd = [str(driver), "-m", mcu, "-f", str(frequency), "-c", str(int(cycle_limit)), "-r", str(report)]
        if uart_input:
            feed = Path(tmp) / "input.bin"
            feed.write_bytes(uart_input)
            cmd += ["-i", str(feed)]
        if eeprom is not None:
            cmd += ["-e", str(eeprom)]
        cmd.append(str(elf_path))
        try:
            done = subprocess.run(cmd, capture_output=True, timeout=timeout, check=False)
        except subprocess.TimeoutExpired:
            raise TinygenError(f"simavr run of {Path(elf_path).name} timed out after {timeout:.0f} s") from None
        report_text = report.read_text() if report.is_file() else ""
    regions, end = _parse_report(report_text)
    detail = " | ".join(done.stderr.decode("utf-8", "replace").strip().splitlines()[-3:])
    if done.returncode != 0 or end.get("state") != "done":
        tail = done.stdout[-80:].decode("ascii", "replace")
        raise TinygenError(f"simavr run of {Path(elf_path).name} failed (exit {done.returncode}, "
                           f"{end.get('state', 'no report')}): {detail}; last UART output: {tail!r}")
    return Run(done.stdout, regions, end["state"], end["cycles"], end["stack_peak"], end["ramend"], end["input_left"])


def run_elf(elf_path, cycle_limit: int = 1_000_000_000, uart_input: bytes = b"", eeprom=None) -> tuple[bytes, list]:
    """Run an ATmega328P ELF (16 MHz) under simavr: (every byte it sent on UART0, its GPIOR0 regions).

    The firmware must end with `cli(); sleep_enable(); sleep_cpu();` (Arduino sketches: Serial.flush()
    first). Regions: write an id 1..255 to GPIOR0 to start one, 0 to end it; each is a Region with exact
    cycles (the starting write included: subtract 1) and peak stack bytes. eeprom: as simulate's. Errors raise
    TinygenError."""
    run = simulate(elf_path, cycle_limit=cycle_limit, uart_input=uart_input, eeprom=eeprom)
    return run.uart_output, run.regions


# --- building the harness ------------------------------------------------------------------------------

def build(header: Path, name: str, variant: str, workdir: Path, fixed: bool = False, proba: bool = False,
          extra_flags: tuple[str, ...] = (), window: bool = False, train: tuple[str, ...] = ()) -> Path:
    """firmware/avr around the header. variant: "size" (NAME_predict only: sized and timed), "stub" (no
    model: the baseline) or "run" (every API call: raw scores, and the split check of fixed-point models).
    size and stub link even past the part's memories (--noinhibit-exec) so an overflow can be said exactly.
    proba: the header has NAME_predict_proba (every row carries the probabilities; zeros but in "run").
    extra_flags: more avr-gcc arguments, after the sources (include paths, libraries: a peer's C needs them).
    window: a window program: rows arrive frame by frame into its stream (firmware/avr/main.c, TG_WINDOW).
    train: the defines of a trainable program run with update rows (TG_TRAIN, TG_REGRESSION): every variant."""
    firmware = toolchain.package_root("firmware") / "avr"
    if variant == "run":
        sources, defines = ["main.c", "model.c"], ["-DTG_RUN", *(["-DTG_FIXED"] if fixed else [])]
    else:
        sources, defines = ["main.c", "predict.c"], ["-Wl,--noinhibit-exec", *(["-DTG_STUB"] if variant == "stub" else [])]
    defines += (["-DTG_PROBA"] if proba else []) + (["-DTG_WINDOW"] if window else []) + [f"-D{d}" for d in train]
    elf = workdir / f"{name}_{variant}.elf"
    cmd = [toolchain.find("avr-gcc"), *CFLAGS, f"-DTG_NAME={name}", f'-DTG_HEADER="{Path(header).resolve()}"',
           *defines, *(str(firmware / source) for source in sources), *extra_flags, "-o", str(elf)]
    try:
        toolchain.run(cmd, f"building {Path(header).name} for the ATmega328P ({variant} firmware)")
    except TinygenError as exc:
        if variant == "run" and "overflowed" in str(exc):
            raise TinygenError(f"the model fits the ATmega328P, but the firmware that verifies it (the model plus "
                               f"{name}_scores and the fixed-point checks) does not: {exc}") from None
        raise
    return elf


def _sizes(elf: Path) -> dict:
    sizes = toolchain.berkeley_size(toolchain.find("avr-size"), elf)
    return {"flash": sizes["text"] + sizes["data"], "ram": sizes["data"] + sizes["bss"]}


def _encode_rows(X: np.ndarray) -> bytes:
    return np.uint16(len(X)).astype("<u2").tobytes() + np.ascontiguousarray(X, dtype="<f4").tobytes()


def _parse_output(uart: bytes, n_rows: int, n_features: int, record: np.dtype) -> tuple[np.ndarray, int]:
    """The firmware's hex lines -> structured array of scores and predictions; also the split-check failures."""
    try:
        lines = uart.decode("ascii").split("\n")
    except UnicodeDecodeError:
        raise TinygenError("the AVR firmware sent non-ASCII bytes on UART0; output garbled") from None
    header = lines[0].split()
    expected = ["tinygen-avr", f"{n_features:04x}", f"{record['scores'].shape[0]:04x}",
                f"{record['scores'].base.itemsize:04x}", f"{record['prediction'].itemsize:04x}",
                *([f"{record['proba'].shape[0]:04x}"] if "proba" in record.names else [])]
    if header != expected:
        raise TinygenError(f"the AVR firmware reported {' '.join(header[1:])!r}, expected {' '.join(expected[1:])!r} "
                           "(features, outputs, score and prediction bytes)")
    body = lines[1:1 + n_rows]
    if len(lines) < n_rows + 2 or lines[1 + n_rows] != f"end {n_rows:04x}":
        raise TinygenError(f"the AVR firmware returned {max(len(lines) - 3, 0)} rows of {n_rows}")
    split_failures = sum(line.endswith("!") for line in body)
    try:
        raw = bytes.fromhex("".join(line.rstrip("!") for line in body))
    except ValueError:
        raise TinygenError("the AVR firmware sent a malformed row (not hex)") from None
    if len(raw) != n_rows * record.itemsize:
        raise TinygenError(f"the AVR firmware sent {len(raw)} bytes of results, expected {n_rows * record.itemsize}")
    return np.frombuffer(raw, dtype=record), split_failures


@dataclass
class _Rows:
    """The results of one firmware over all rows (several runs glued together)."""
    data: np.ndarray
    split_failures: int
    regions: list  # (region id, cycles - empty-region cycles, stack bytes)
    sram_stack: int  # deepest stack of any run, bytes below RAMEND
    trained: str | None = None  # a training run's "train" line (hex), the same in every run


def _run_rows(elf: Path, X: np.ndarray, record: np.dtype, n_features: int, updates: np.ndarray | None = None,
              start: bytes | None = None):
    """One firmware run over the rows X (after the update rows, whose count and bytes lead the input, if given, and
    before them the start weights, if given: TG_TRAIN_START)."""
    prefix = b"" if updates is None else np.uint16(len(updates)).astype("<u2").tobytes() + updates.tobytes()
    prefix = (start or b"") + prefix
    run = simulate(elf, cycle_limit=CYCLES_BASE_LIMIT + CYCLES_PER_ROW_LIMIT * (len(X) + (0 if updates is None else len(updates))),
                   uart_input=prefix + _encode_rows(X))
    if run.input_left:
        raise TinygenError(f"the AVR firmware left {run.input_left} bytes of rows unread")
    uart, trained = run.uart_output, None
    if updates is not None:
        head, _, rest = uart.partition(b"\n")
        line, _, rest = rest.partition(b"\n")
        if not line.startswith(b"train "):
            raise TinygenError("the AVR firmware did not report its trained weights")
        uart, trained = head + b"\n" + rest, line[6:].decode("ascii")
    data, split_failures = _parse_output(uart, len(X), n_features, record)
    empty = [region.cycles for region in run.regions if region.id == REGION_EMPTY]
    if len(empty) != 1:
        raise TinygenError(f"the AVR firmware marked {len(empty)} empty regions, expected 1")
    regions = [(region.id, region.cycles - empty[0], region.stack_bytes) for region in run.regions
               if region.id != REGION_EMPTY]
    return data, split_failures, regions, run.stack_peak, trained


def _run_firmwares(elfs: list, X: np.ndarray, record: np.dtype, n_features: int, updates: np.ndarray | None = None,
                   start: bytes | None = None):
    """Every row through every firmware, yielding one _Rows per firmware in order. Rows are split over
    parallel simavr runs (one per CPU) when there are many (cycles are per row: the split changes nothing)."""
    cpus = os.cpu_count() or 1
    chunks = max(min(cpus, len(X) // MIN_ROWS_PER_PARALLEL_RUN), -(-len(X) // MAX_ROWS_PER_RUN), 1)
    parts = np.array_split(X, chunks)
    with ThreadPoolExecutor(max_workers=cpus) as pool:
        jobs = [[pool.submit(_run_rows, elf, part, record, n_features, updates, start) for part in parts] for elf in elfs]
        for elf_jobs in jobs:
            runs = [job.result() for job in elf_jobs]
            if len({r[4] for r in runs}) != 1:
                raise TinygenError("the AVR firmware trained to different weights in two runs of the same updates")
            yield _Rows(np.concatenate([r[0] for r in runs]), sum(r[1] for r in runs),
                        [region for r in runs for region in r[2]], max(r[3] for r in runs), runs[0][4])


def _region_stats(regions: list, region_id: int, n_rows: int, what: str) -> tuple[np.ndarray, int]:
    cycles = np.array([c for i, c, _ in regions if i == region_id], dtype=np.int64)
    if len(cycles) != n_rows:
        raise TinygenError(f"the AVR run timed {len(cycles)} {what} calls for {n_rows} rows")
    return cycles, max(s for i, _, s in regions if i == region_id)


def _fit_error(what: str, needed: int, limit: int, detail: str) -> TinygenError:
    return TinygenError(f"the model does not fit the ATmega328P (Arduino Uno): its firmware needs {needed} B of "
                        f"{what} where the Uno has {limit} B (over by {needed - limit} B; {detail})")


def _row_record(program) -> tuple[np.dtype, type, type]:
    """(the record the firmware writes per row: scores, prediction and Q15 probabilities if any; the scores'
    numpy type; the prediction's)."""
    score_type = NUMPY_TYPES[program.ops[-1].out_type]
    prediction_type = np.int32 if program.task == "classification" else np.float32
    record = np.dtype([("scores", np.dtype(score_type).newbyteorder("<"), (program.n_outputs,)),
                       ("prediction", np.dtype(prediction_type).newbyteorder("<")),
                       *([("proba", np.dtype("<u2"), (program.proba.n_out,))] if program.proba is not None else [])])
    return record, score_type, prediction_type


def _check_runs_agree(name: str, proba: bool, prediction_type, timed: _Rows, run: _Rows) -> None:
    """TinygenError unless the split entry points agree with the whole ones in the run firmware, and the timed
    firmware predicts what the run firmware does."""
    if run.split_failures:
        raise TinygenError(f"on the ATmega328P, {name}_scores_q({name}_quantize_input(x)) != {name}_scores(x) or "
                           f"{name}_predict_q != {name}_predict" + (f" (or {name}_predict_proba_q / {name}_proba_from_scores "
                           f"!= {name}_predict_proba)" if proba else "") + f" on {run.split_failures} rows")
    if not np.array_equal(timed.data["prediction"], run.data["prediction"], equal_nan=prediction_type == np.float32):
        raise TinygenError(f"on the ATmega328P, {name}_predict gives different results in the timed firmware and "
                           f"in the firmware that also computes {name}_scores")


def _split_costs(program, name: str, run: _Rows, n_rows: int) -> dict:
    """Cycles and stack of the split entry points the run firmware times: NAME_predict_q (the same inference
    from pre-quantized features: what the float->fixed step costs) and NAME_proba_from_scores."""
    costs = {}
    if program.is_fixed:
        cycles_q, stack_q = _region_stats(run.regions, REGION_PREDICT_Q, n_rows, f"{name}_predict_q")
        costs.update(cycles_predict_q=float(cycles_q.mean()), cycles_predict_q_min=int(cycles_q.min()),
                     cycles_predict_q_max=int(cycles_q.max()), stack_bytes_predict_q=int(stack_q))
    if program.proba is not None:
        cycles_p, stack_p = _region_stats(run.regions, REGION_PROBA, n_rows, f"{name}_proba_from_scores")
        costs.update(cycles_proba=float(cycles_p.mean()), cycles_proba_min=int(cycles_p.min()),
                     cycles_proba_max=int(cycles_p.max()), stack_bytes_proba=int(stack_p))
    return costs


def _build_checked(program, header: Path, name: str, workdir: Path, extra_flags: tuple[str, ...],
                   train: tuple[str, ...]) -> tuple[dict, dict, Path | None, Exception | None]:
    """(size firmware sizes, stub sizes, run ELF or None, the run build's error or None) after the fit checks; the
    three ELFs are workdir/NAME_VARIANT.elf."""
    proba = program.proba is not None
    with ThreadPoolExecutor(max_workers=3) as pool:
        window = program.window_op is not None
        jobs = {variant: pool.submit(build, header, name, variant, workdir, program.is_fixed, proba, extra_flags, window,
                                     train)
                for variant in ("size", "stub", "run")}
        sized, stub = _sizes(jobs["size"].result()), _sizes(jobs["stub"].result())
        model_flash, model_ram = sized["flash"] - stub["flash"], sized["ram"] - stub["ram"]
        if sized["flash"] > FLASH_LIMIT:
            raise _fit_error("flash", sized["flash"], FLASH_LIMIT, f"the model itself is {model_flash} B")
        if sized["ram"] > SRAM_LIMIT:
            raise _fit_error("SRAM for .data + .bss alone", sized["ram"], SRAM_LIMIT,
                             f"the model itself has {model_ram} B, the test harness's row buffer "
                             f"{4 * program.n_features} B")
        try:
            return sized, stub, jobs["run"].result(), None
        except TinygenError as exc:  # said after the fit checks: a model too big fails those first
            return sized, stub, None, exc


def _training_results(program, name: str, timed: _Rows, run: _Rows, n_updates: int) -> dict:
    """What a training run reports: NAME_weights() bytes, steps, saturations (both firmwares must agree) and the cost
    of one NAME_partial_fit step in the timed firmware."""
    if timed.trained != run.trained:
        raise TinygenError(f"on the ATmega328P, {name}_partial_fit trains to different weights in two firmwares")
    raw = bytes.fromhex(run.trained)
    n_bytes = len(raw) - 8
    steps, saturations = np.frombuffer(raw[n_bytes:], dtype="<u4")
    cycles = np.array([c for i, c, _ in timed.regions if i == REGION_PARTIAL_FIT], dtype=np.int64)
    if len(cycles) == 0 or len(cycles) % n_updates:
        raise TinygenError(f"the AVR run timed {len(cycles)} {name}_partial_fit calls for {n_updates} updates")
    costs = {"cycles_partial_fit": float(cycles.mean()), "cycles_partial_fit_min": int(cycles.min()),
             "cycles_partial_fit_max": int(cycles.max()),
             "stack_bytes_partial_fit": max(s for i, _, s in timed.regions if i == REGION_PARTIAL_FIT),
             "state_bytes": program.trainable_op.state_bytes}
    return {"weights": raw[:n_bytes], "steps": int(steps), "saturations": int(saturations), "costs": costs}


def measure(program, header: Path, name: str, X: np.ndarray, extra_flags: tuple[str, ...] = (), updates=None,
            start_weights: bytes | None = None) -> Measurement:
    """Raw scores and predictions of the compiled C on the ATmega328P for every row of X, and its costs
    (extra_flags: see build). updates (trainable programs): (X_updates, y_updates), each row one NAME_partial_fit
    before the rows are predicted, timed (extra: cycles_partial_fit, stack_bytes_partial_fit, state_bytes).
    start_weights (with updates): NAME_WEIGHTS_BYTES bytes sent ahead of them for NAME_load_weights (a fleet round's
    global weights); None: the exported weights."""
    start = host.start_bytes(program, updates, start_weights)
    X = np.asarray(X, dtype=np.float32)
    if X.ndim != 2 or X.shape[1] != program.n_features or len(X) == 0:
        raise TinygenError(f"rows for the AVR run must be a non-empty n x {program.n_features} array, got shape {X.shape}")
    record, score_type, prediction_type = _row_record(program)
    update_rows = None if updates is None else host.update_rows(program, updates)
    train = () if updates is None else tuple(host.train_defines(program, start is not None))
    with tempfile.TemporaryDirectory(prefix="tinygen-avr-") as tmp:
        workdir = Path(tmp)
        sized, stub, run_elf_path, run_error = _build_checked(program, header, name, workdir, extra_flags, train)
        results = _run_firmwares([workdir / f"{name}_size.elf", *([run_elf_path] if run_elf_path else [])], X, record,
                                 program.n_features, update_rows, start)
        try:
            timed = next(results)
            sram = sized["ram"] + timed.sram_stack
            if sram > SRAM_LIMIT:
                raise _fit_error("SRAM", sram, SRAM_LIMIT, f".data + .bss {sized['ram']} B, stack {timed.sram_stack} B")
            if run_error is not None:
                raise run_error
            run = next(results)
        finally:
            results.close()
    _check_runs_agree(name, program.proba is not None, prediction_type, timed, run)
    trained = None if updates is None else _training_results(program, name, timed, run, len(update_rows))
    cycles, stack_bytes = _region_stats(timed.regions, REGION_PREDICT, len(X), f"{name}_predict")
    extra = {"cycles_min": int(cycles.min()), "cycles_max": int(cycles.max()), "firmware_flash_bytes": sized["flash"],
             "firmware_sram_bytes": int(sram), **_split_costs(program, name, run, len(X)), **(trained or {}).get("costs", {})}
    measured = Measurement(np.array(run.data["scores"], dtype=score_type),
                           np.array(run.data["prediction"], dtype=prediction_type),
                           flash_bytes=int(sized["flash"] - stub["flash"]), ram_bytes=int(sized["ram"] - stub["ram"]),
                           stack_bytes=int(stack_bytes), cycles_per_inference=float(cycles.mean()), cycles_unit="cycles",
                           extra=extra, proba=np.array(run.data["proba"], dtype=np.uint16) if program.proba is not None else None)
    if trained is not None:
        measured.weights, measured.steps, measured.saturations = trained["weights"], trained["steps"], trained["saturations"]
    return measured
