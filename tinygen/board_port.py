"""`tinygen verify --port PORT --board B`: the model run by the verify firmware on a board at a serial port.

The host speaks firmware/avr/port.c's protocol (115200 baud, request/response: one row out, one answer back, so
no buffer on either side overflows): it waits for the firmware's ready line after opening the port (opening resets
an Uno, as DTR does), asks for the model's digest, then sends every row and reads its raw outputs, the Timer1
cycles of its inference and the stack it used. Every wait is bounded: a wrong port, a board that does not answer
and a firmware that prints anything else each end in a one-line TinygenError within a few seconds.
pyserial (the `port` extra) is the serial library; any path is a port (a device, a symlink, a pseudo-terminal).
"""
from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from .errors import TinygenError
from .targets.measurement import Measurement

BAUD = 115_200
PROTOCOL = "1"
READY_TIMEOUT_S = 6.0  # an Uno's bootloader waits about 1.4 s after the reset the open causes; others longer
INFO_TIMEOUT_S = 3.0  # a board that did not reset (no auto-reset) answers the info request at once
ROW_TIMEOUT_S = 10.0  # one row's answer: the transfer at 115200 baud plus a slow inference
MAX_LINE_BYTES = 4096
SHOWN_BYTES = 60


def require_pyserial():
    try:
        import serial
    except ImportError:
        raise TinygenError("verify --port needs pyserial: pip install 'tinygen[port]' (or pip install pyserial)") from None
    return serial


@dataclass(frozen=True)
class PortRequest:
    """What verify --port was given: the port, the board on it, and the command that flashes the model there."""
    path: str
    board: str
    flash_command: str


@dataclass(frozen=True)
class FirmwareInfo:
    """The firmware's answer to 'i': its model digest and the shapes of its rows and answers."""
    digest: str
    n_features: int
    n_outputs: int
    score_bytes: int
    prediction_bytes: int
    n_proba: int
    frames: int
    timed_alone: bool  # the timed NAME_predict compiled apart, as the simavr target's (firmware/avr/port.c)


class BoardLink:
    """An open serial port to the verify firmware, with deadline-bounded line reads."""

    def __init__(self, request: PortRequest):
        serial = require_pyserial()
        self.request = request
        self.pending = b""
        self.heard = b""  # the first bytes that were not the protocol, to show in an error
        try:
            self.serial = serial.Serial(request.path, BAUD, timeout=0.05, write_timeout=ROW_TIMEOUT_S)
        except (serial.SerialException, OSError, ValueError) as exc:
            reason = " ".join(str(getattr(exc, "strerror", None) or exc).split())
            raise TinygenError(f"cannot open port {request.path}: {reason}; is the {request.board} connected there "
                               "(ls /dev/ttyACM* /dev/ttyUSB*)?") from None

    def close(self) -> None:
        self.serial.close()

    def read_line(self, deadline: float) -> str | None:
        """The next line (without its newline), or None when the deadline passes first."""
        while b"\n" not in self.pending:
            if time.monotonic() >= deadline:
                return None
            try:
                self.pending += self.serial.read(max(1, self.serial.in_waiting))
            except Exception as exc:  # noqa: BLE001 - pyserial's and the OS's errors alike: the port went away
                raise TinygenError(f"reading {self.request.path} failed: {' '.join(str(exc).split())}") from None
            if len(self.pending) > MAX_LINE_BYTES:  # a stream without newlines is not the protocol
                return self._take(len(self.pending))
        line, _, self.pending = self.pending.partition(b"\n")
        return line.rstrip(b"\r").decode("ascii", "replace")

    def _take(self, n: int) -> str:
        line, self.pending = self.pending[:n], self.pending[n:]
        return line.decode("ascii", "replace")

    def send(self, data: bytes) -> None:
        try:
            self.serial.write(data)
            self.serial.flush()
        except Exception as exc:  # noqa: BLE001
            raise TinygenError(f"writing to {self.request.path} failed: {' '.join(str(exc).split())}") from None

    def note_unexpected(self, line: str) -> None:
        if len(self.heard) < SHOWN_BYTES:
            self.heard += line.encode("ascii", "replace")[:SHOWN_BYTES] + b"\n"

    def not_the_protocol(self, what: str) -> TinygenError:
        port, flash = self.request.path, self.request.flash_command
        if not self.heard:
            return TinygenError(f"no answer from the {self.request.board} on {port} {what} (is the board there and "
                                f"powered, and the verify firmware on it? flash it: {flash})")
        shown = self.heard.decode("ascii", "replace").strip().replace("\n", "\\n")[:SHOWN_BYTES]
        return TinygenError(f"the firmware on {port} does not speak tinygen's verify protocol (it sent {shown!r}); "
                            f"flash the verify firmware: {flash}")


def _parse_info(line: str) -> FirmwareInfo | None:
    fields = line.split()
    if len(fields) != 10 or fields[:2] != ["tinygen-port", PROTOCOL] or len(fields[2]) != 64 or fields[9] not in "01":
        return None
    try:
        numbers = [int(field, 16) for field in fields[3:9]]
    except ValueError:
        return None
    return FirmwareInfo(fields[2], *numbers, timed_alone=fields[9] == "1")


def connect(request: PortRequest) -> tuple[BoardLink, FirmwareInfo]:
    """Open the port, wait out the reset for the ready line, ask for the firmware's digest and shapes."""
    link = BoardLink(request)
    try:
        started = time.monotonic()
        deadline = started + READY_TIMEOUT_S
        while (line := link.read_line(deadline)) is not None and line != "tinygen-port ready":
            link.note_unexpected(line)
        link.send(b"i")
        deadline = time.monotonic() + INFO_TIMEOUT_S
        while (line := link.read_line(deadline)) is not None:
            if line.startswith("tinygen-port ") and line.split()[1:2] not in ([PROTOCOL], ["ready"]):
                raise TinygenError(f"the firmware on {request.path} speaks protocol {line.split()[1]!r}, this tinygen "
                                   f"{PROTOCOL}: flash it with this tinygen: {request.flash_command}")
            info = _parse_info(line)
            if info is not None:
                return link, info
            if line != "tinygen-port ready":
                link.note_unexpected(line)
        raise link.not_the_protocol(f"within {time.monotonic() - started:.0f} s")
    except BaseException:
        link.close()
        raise


def _record(program, info: FirmwareInfo, request: PortRequest) -> np.dtype:
    """The bytes of one answer: scores, prediction and probabilities, as the firmware says it sends them."""
    score_type = np.dtype(np.int32 if program.ops[-1].out_type == "int32" else np.float32).newbyteorder("<")
    prediction_type = np.dtype(np.int32 if program.task == "classification" else np.float32).newbyteorder("<")
    n_proba = 0 if program.proba is None else program.proba.n_out
    frames = 0 if program.window_op is None else program.window_op.window
    expected = (program.n_features, program.n_outputs, score_type.itemsize, prediction_type.itemsize, n_proba, frames)
    got = (info.n_features, info.n_outputs, info.score_bytes, info.prediction_bytes, info.n_proba, info.frames)
    if got != expected:
        raise TinygenError(f"the firmware on {request.path} reports rows of {got} (features, outputs, score bytes, "
                           f"prediction bytes, probabilities, frames), the model {expected}; flash it again: "
                           f"{request.flash_command}")
    return np.dtype([("scores", score_type, (program.n_outputs,)), ("prediction", prediction_type),
                     *([("proba", np.dtype("<u2"), (n_proba,))] if n_proba else [])])


def _parse_answer(line: str | None, record: np.dtype, link: BoardLink, row: int) -> tuple[np.void, int, int]:
    """One row's answer: (the outputs, cycles, stack bytes)."""
    if line is None:
        raise TinygenError(f"the {link.request.board} on {link.request.path} stopped answering at row {row + 1} "
                           f"(no answer within {ROW_TIMEOUT_S:.0f} s)")
    fields = line.split()
    try:
        if len(fields) != 4 or fields[0] != "=":
            raise ValueError
        outputs = np.frombuffer(bytes.fromhex(fields[1]), dtype=record)
        cycles, stack = int(fields[2], 16), int(fields[3], 16)
        if len(outputs) != 1:
            raise ValueError
    except ValueError:
        raise TinygenError(f"the firmware on {link.request.path} answered row {row + 1} with {line[:SHOWN_BYTES]!r}, "
                           "not an answer of the verify protocol (a noisy line, or another firmware?)") from None
    return outputs[0], cycles, stack


def run_rows(link: BoardLink, program, X: np.ndarray, record: np.dtype) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Every row to the firmware, one at a time: (answers, cycles per row, stack bytes per row)."""
    rows = np.ascontiguousarray(np.asarray(X, dtype=np.float32), dtype="<f4")
    answers = np.zeros(len(rows), dtype=record)
    cycles = np.zeros(len(rows), dtype=np.int64)
    stack = np.zeros(len(rows), dtype=np.int64)
    for index, row in enumerate(rows):
        link.send(b"r" + row.tobytes())
        line = link.read_line(time.monotonic() + ROW_TIMEOUT_S)
        answers[index], cycles[index], stack[index] = _parse_answer(line, record, link, index)
    return answers, cycles, stack


def measure(program, X: np.ndarray, request: PortRequest, digest: str) -> tuple[Measurement | None, dict]:
    """The board's outputs and costs for every row, and what the report adds (board, port, digests, timing).
    A firmware of another model gives (None, {...}) with "digest_mismatch": nothing is run then."""
    started = time.monotonic()
    link, info = connect(request)
    try:
        extra = {"board": request.board, "port": request.path, "firmware_digest": info.digest, "model_digest": digest,
                 "timed_alone": info.timed_alone, "connect_seconds": round(time.monotonic() - started, 3)}
        if info.digest != digest:
            return None, {**extra, "digest_mismatch": True}
        record = _record(program, info, request)
        streamed = time.monotonic()
        answers, cycles, stack = run_rows(link, program, X, record)
        extra["rows_seconds"] = round(time.monotonic() - streamed, 3)
    finally:
        link.close()
    score_type = np.int32 if program.ops[-1].out_type == "int32" else np.float32
    prediction_type = np.int32 if program.task == "classification" else np.float32
    extra.update(cycles_min=int(cycles.min()), cycles_max=int(cycles.max()), cycles_per_row=cycles.tolist())
    measured = Measurement(np.array(answers["scores"], dtype=score_type), np.array(answers["prediction"], dtype=prediction_type),
                           stack_bytes=int(stack.max()), cycles_per_inference=float(cycles.mean()), cycles_unit="cycles",
                           proba=np.array(answers["proba"], dtype=np.uint16) if "proba" in record.names else None)
    return measured, extra
