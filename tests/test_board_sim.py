"""The board loop without hardware (issue 18): the virtual Uno (firmware/board-sim: simavr running optiboot, UART0
on a pseudo-terminal, reset when the port opens) is flashed by the real avrdude through `tinygen flash`, and
`tinygen verify --port` checks every held-out row on it against the simulator, with Timer1 cycles that agree with
the simavr target's. Every failure of the loop (a wrong port, a silent board, a firmware that prints anything else,
an upload that fails, another model on the board) is one line and a bounded wait. The default run covers the
q15 model's loop and the quick failures; the slow run (CI runs both) the other models and the failures that wait
out a timeout."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
import tty

import pytest
from click.testing import CliRunner
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split
from sklearn.neural_network import MLPClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

import tinygen
from tinygen import board_port, board_sim, data, flash
from tinygen.cli import main
from tinygen.errors import TinygenError
from tinygen.targets import avr

from conftest import AVR_FIRMWARE, fit_named, need_tool, unavailable

ERROR_SECONDS = 30  # the bound on every failure of the loop
CASES = {  # the three held-out models: fitted on 75 % of breast_cancer, verified on the other 25 %
    "q15-linear": (lambda: make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000)), "q15"),
    "exact-forest": (lambda: RandomForestClassifier(n_estimators=10, max_depth=6, random_state=0), "exact"),
    "q7-mlp": (lambda: make_pipeline(StandardScaler(), MLPClassifier(hidden_layer_sizes=(16, 8), max_iter=2000,
                                                                     random_state=0)), "q7"),
}


@pytest.fixture(scope="module")
def tools():
    for tool in ("avr-gcc", "avr-objcopy", "avr-size", "avrdude", "simavr", "gcc", "pkg-config"):
        need_tool(tool)
    try:
        import serial  # noqa: F401
    except ImportError:
        unavailable("pyserial is not installed (pip install 'tinygen[port]')")


@pytest.fixture(scope="module")
def board(tools):
    """One virtual Uno for the module's tests (each xdist worker starts its own)."""
    with board_sim.virtual_board("uno") as port:
        yield port


def run(*args, code: int = 0):
    """The CLI in-process; the exit code checked, no traceback, and errors one line."""
    result = CliRunner().invoke(main, [str(a) for a in args])
    assert result.exit_code == code, (f"tinygen {' '.join(map(str, args))} exited {result.exit_code}, expected {code}\n"
                                      f"stdout: {result.stdout}\nstderr: {result.stderr}\nexception: {result.exception!r}")
    assert "Traceback" not in result.output
    if code == 2:
        assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    return result


def export_case(case: str, directory):
    """DIRECTORY/NAME.h, NAME.json and test.csv (the held-out rows) of one of CASES: (the model, its test rows)."""
    make, dtype = CASES[case]
    bundle = data.load_bundled("breast_cancer")
    X_train, X_test, y_train, y_test = train_test_split(bundle.X, bundle.y, test_size=0.25, random_state=0,
                                                        stratify=bundle.y)
    model = tinygen.convert(make().fit(X_train, y_train), dtype=dtype, calibration=X_train,
                            feature_names=bundle.feature_names)
    name = case.replace("-", "_")
    model.save(directory, name)
    data.write_csv(data.Dataset(X_test, y_test, bundle.feature_names, "target"), directory / "test.csv")
    return model, X_test, directory / f"{name}.json"


def verify_on(board_port_path, manifest, directory, code: int = 0):
    report_path = directory / "report.json"
    result = run("verify", manifest, "--data", directory / "test.csv", "--label", "target", "--board", "uno",
                 "--port", board_port_path, "--json", report_path, code=code)
    return result, json.loads(report_path.read_text()) if report_path.exists() else None


# ---- the loop ----------------------------------------------------------------------------------------------
@pytest.mark.parametrize("case", [case if case == "q15-linear" else pytest.param(case, marks=pytest.mark.slow)
                                  for case in CASES])
def test_flash_then_verify_every_held_out_row(board, case, tmp_path):
    model, X_test, manifest = export_case(case, tmp_path)
    started = time.monotonic()
    flashed = run("flash", manifest, "--board", "uno", "--port", board)
    assert f"to the uno on {board}" in flashed.stdout
    _, report = verify_on(board, manifest, tmp_path)
    seconds = time.monotonic() - started
    on_board = report["targets"]["port"]
    assert list(report["targets"]) == ["port"]  # no emulator target unless --target asks
    assert on_board["board"] == "uno" and on_board["port"] == board
    assert on_board["rows"] == len(X_test) and on_board["mismatches"] == 0, on_board
    assert on_board["firmware_digest"] == on_board["model_digest"]
    for key in ("flash_bytes", "stack_bytes", "firmware_flash_bytes"):
        assert isinstance(on_board[key], int) and on_board[key] > 0, (key, on_board)
    assert on_board["ram_bytes"] is not None and on_board["cycles_unit"] == "cycles"
    # the cycles Timer1 counts on the board agree with the simavr target's exact count of the same model
    emulated = avr.measure(model.program, manifest.with_suffix(".h"), manifest.stem, X_test)
    for ours, theirs in ((on_board["cycles_per_inference"], emulated.cycles_per_inference),
                         (on_board["cycles_min"], emulated.extra["cycles_min"]),
                         (on_board["cycles_max"], emulated.extra["cycles_max"])):
        assert abs(ours - theirs) <= 0.01 * theirs, (case, ours, theirs)
    print(f"{case}: {len(X_test)} rows, flash + verify {seconds:.1f} s (rows {on_board['rows_seconds']} s), cycles "
          f"{on_board['cycles_per_inference']:.1f} on the board, {emulated.cycles_per_inference:.1f} in simavr")


def test_another_model_on_the_board_asks_to_flash_it_first(board, tmp_path):
    _, _, forest = export_case("exact-forest", tmp_path / "forest")
    _, _, linear = export_case("q15-linear", tmp_path / "linear")
    run("flash", forest, "--board", "uno", "--port", board)
    result, report = verify_on(board, linear, tmp_path / "linear", code=1)
    assert f"flash it first: tinygen flash {linear} --board uno --port {board}" in result.output
    assert report["targets"]["port"]["mismatches"] is None and report["passed"] is False


@pytest.mark.slow
def test_the_port_reopened_resets_the_board_each_time(board, tmp_path):
    _, _, manifest = export_case("q15-linear", tmp_path)
    run("flash", manifest, "--board", "uno", "--port", board)
    request = board_port.PortRequest(board, "uno", "tinygen flash ...")
    for _ in range(3):  # each open resets the board: the ready line, then the info answer
        link, info = board_port.connect(request)
        link.close()
        assert info.digest == flash.model_digest(manifest.with_suffix(".h").read_bytes())


# ---- failures: one line, exit 2, bounded ---------------------------------------------------------------------
def timed_error(*args):
    started = time.monotonic()
    result = run(*args, code=2)
    elapsed = time.monotonic() - started
    assert elapsed < ERROR_SECONDS, (args, elapsed)
    return result.stderr


def test_a_wrong_port_is_one_line(tools, tmp_path):
    _, _, manifest = export_case("q15-linear", tmp_path)
    message = timed_error("verify", manifest, "--data", tmp_path / "test.csv", "--label", "target", "--board", "uno",
                          "--port", tmp_path / "no-such-port")
    assert "cannot open port" in message and "no-such-port" in message


@pytest.fixture
def silent_port():
    """A pseudo-terminal nobody answers on (a board that is not there)."""
    master, slave = os.openpty()
    tty.setraw(slave)  # no echo: what the host writes is not read back as the board's
    path = os.ttyname(slave)
    yield path
    os.close(slave)
    os.close(master)


@pytest.mark.slow  # waits out a timeout
def test_a_board_that_does_not_answer(tools, silent_port, tmp_path):
    _, _, manifest = export_case("q15-linear", tmp_path)
    message = timed_error("verify", manifest, "--data", tmp_path / "test.csv", "--label", "target", "--board", "uno",
                          "--port", silent_port)
    assert f"no answer from the uno on {silent_port}" in message and "tinygen flash" in message


@pytest.mark.slow  # waits out a timeout
def test_an_upload_that_fails(tools, silent_port, tmp_path):
    _, _, manifest = export_case("q15-linear", tmp_path)
    message = timed_error("flash", manifest, "--board", "uno", "--port", silent_port)
    assert f"the upload to {silent_port} failed: no bootloader answered" in message and "not in sync" in message


NOISE_FIRMWARE = r"""
#include <avr/io.h>
#include <avr/wdt.h>
/* a sketch that prints text and binary noise forever: not the verify firmware */
static void put(uint8_t b) { while (!(UCSR0A & _BV(UDRE0))) {} UDR0 = b; }
int main(void)
{
    uint8_t n = 0;
    MCUSR = 0;
    wdt_disable();
    UCSR0A = _BV(U2X0); UBRR0H = 0; UBRR0L = 16; UCSR0C = _BV(UCSZ01) | _BV(UCSZ00); UCSR0B = _BV(RXEN0) | _BV(TXEN0);
    for (;;) {
        const char *s = "temperature 21.5\n";
        while (*s) { put((uint8_t)*s++); }
        put(n); put((uint8_t)(n * 7u)); put(0xFF); n++;
    }
}
"""


@pytest.mark.slow
def test_a_firmware_that_prints_garbage(board, tmp_path):
    source = tmp_path / "noise.c"
    source.write_text(NOISE_FIRMWARE)
    elf, hex_path = tmp_path / "noise.elf", tmp_path / "noise.hex"
    subprocess.run(["avr-gcc", "-Os", "-mmcu=atmega328p", str(source), "-o", str(elf)], check=True)
    subprocess.run(["avr-objcopy", "-O", "ihex", str(elf), str(hex_path)], check=True)
    flash.upload(flash.FlashPlan([], hex_path, flash.upload_command(flash.UPLOADERS["uno"], board, hex_path)))
    _, _, manifest = export_case("q15-linear", tmp_path)
    message = timed_error("verify", manifest, "--data", tmp_path / "test.csv", "--label", "target", "--board", "uno",
                          "--port", board)
    assert "does not speak tinygen's verify protocol (it sent 'temperature 21.5" in message
    assert f"flash the verify firmware: tinygen flash {manifest} --board uno --port {board}" in message


@pytest.mark.slow  # waits out a timeout
def test_an_answer_that_is_not_the_protocol_mid_stream(tools, tmp_path):
    """A firmware that greets and answers 'i' correctly, then garbles a row's answer: one line, no hang."""
    model, X_test, manifest = export_case("q15-linear", tmp_path)
    digest = flash.model_digest(manifest.with_suffix(".h").read_bytes())
    master, slave = os.openpty()
    tty.setraw(slave)
    path = os.ttyname(slave)

    def fake_board():
        time.sleep(1)  # after the port is open (pyserial empties its input when it opens)
        os.write(master, b"tinygen-port ready\n")
        while os.read(master, 1) != b"i":
            pass
        program = model.program
        info = f"tinygen-port 1 {digest} {program.n_features:04x} {program.n_outputs:04x} 0004 0004 " \
               f"{program.proba.n_out:04x} 0000 1\n"
        os.write(master, info.encode())
        time.sleep(0.5)
        os.write(master, b"= zz 12 34\n")

    threading.Thread(target=fake_board, daemon=True).start()
    try:
        message = timed_error("verify", manifest, "--data", tmp_path / "test.csv", "--label", "target", "--board", "uno",
                              "--port", path)
    finally:
        os.close(slave)
        os.close(master)
    assert "answered row 1 with '= zz 12 34', not an answer of the verify protocol" in message


# ---- commands, options and what is missing ---------------------------------------------------------------------
def test_dry_run_prints_the_board_commands(tools, tmp_path):
    _, _, manifest = export_case("q15-linear", tmp_path)
    lines = {}
    for board_name, extra in (("uno", []), ("nano", []), ("nano", ["--bootloader", "optiboot"]), ("mega2560", [])):
        result = run("flash", manifest, "--board", board_name, "--port", "/dev/ttyACM0", "--dry-run", *extra)
        lines[(board_name, *extra)] = result.stdout.strip().splitlines()
    assert lines[("uno",)][0].startswith("avr-gcc -c -mmcu=atmega328p ") and "predict.c" in lines[("uno",)][0]
    assert lines[("uno",)][1].startswith("avr-gcc -mmcu=atmega328p ") and "-DTG_TIMED_UNIT" in lines[("uno",)][1]
    assert lines[("uno",)][-1].startswith("avrdude -c arduino -p m328p -b 115200 -P /dev/ttyACM0 -U flash:w:")
    assert lines[("nano",)][-1].startswith("avrdude -c arduino -p m328p -b 57600 -P /dev/ttyACM0 -U flash:w:")
    assert lines[("nano", "--bootloader", "optiboot")][-1].startswith("avrdude -c arduino -p m328p -b 115200 ")
    assert lines[("mega2560",)][1].startswith("avr-gcc -mmcu=atmega2560 ")
    assert lines[("mega2560",)][-1].startswith("avrdude -c wiring -p m2560 -b 115200 -P /dev/ttyACM0 -D -U flash:w:")
    sketch = run("flash", manifest, "--board", "uno", "--port", "/dev/ttyACM0", "--dry-run", "--sketch").stdout
    assert sketch.splitlines()[0].startswith("make -C ") and "avrdude -c arduino" in sketch


def test_the_printed_commands_build_the_firmware(tools, tmp_path):
    """--dry-run's commands, run as printed, make the hex flash uploads (built for each AVR board)."""
    _, _, manifest = export_case("q7-mlp", tmp_path)
    for board_name in ("uno", "mega2560"):
        lines = run("flash", manifest, "--board", board_name, "--port", "P", "--dry-run").stdout.strip().splitlines()
        for line in lines[:-1]:
            subprocess.run(line, shell=True, check=True)
        hex_path = lines[-1].split("flash:w:")[1].rsplit(":", 1)[0]
        assert os.path.getsize(hex_path) > 1000


def test_a_board_tinygen_cannot_flash(tools, tmp_path):
    _, _, manifest = export_case("q15-linear", tmp_path)
    message = run("flash", manifest, "--board", "stm32f4", "--port", "/dev/ttyACM0", code=2).stderr
    assert "tinygen flash uploads to uno, nano, mega2560" in message
    message = run("verify", manifest, "--data", tmp_path / "test.csv", "--label", "target", "--port", "/dev/x",
                  code=2).stderr
    assert "--port needs --board BOARD" in message


def test_a_missing_uploader_gets_the_command_and_the_install_line(tools, tmp_path, monkeypatch):
    _, _, manifest = export_case("q15-linear", tmp_path)
    real_which = flash.shutil.which
    monkeypatch.setattr(flash.shutil, "which", lambda tool: None if tool == "avrdude" else real_which(tool))
    message = run("flash", manifest, "--board", "uno", "--port", "/dev/ttyACM0", code=2).stderr
    assert "avrdude is not installed: install it (apt-get install avrdude), then upload with: avrdude -c arduino -p " \
           "m328p -b 115200 -P /dev/ttyACM0 -U flash:w:" in message


def test_a_missing_pyserial_is_a_clear_error(monkeypatch):
    monkeypatch.setitem(sys.modules, "serial", None)
    with pytest.raises(TinygenError, match=r"pip install 'tinygen\[port\]'"):
        board_port.require_pyserial()


@pytest.mark.slow
def test_a_model_file_flashes_as_verify_converts_it(board, tmp_path):
    """flash MODEL.skops --calibration DATA converts as verify MODEL --data DATA does: the digests match."""
    from tinygen import modelio

    bundle = data.load_bundled("wine")
    data.write_csv(bundle, tmp_path / "wine.csv")
    model_path = tmp_path / "wine_lr.skops"
    modelio.save_model(fit_named(bundle, "logreg"), model_path)
    run("flash", model_path, "--board", "uno", "--port", board, "--calibration", tmp_path / "wine.csv", "--label", "target")
    result = run("verify", model_path, "--data", tmp_path / "wine.csv", "--label", "target", "--board", "uno",
                 "--port", board)
    assert f"0 of {len(bundle.X)} rows differ" in result.stdout


def test_virtual_board_stops_with_its_context(tools):
    before = {p for p in os.listdir("/proc") if p.isdigit() and _runs_board_sim(p)}  # the module's board, if any
    with board_sim.virtual_board("uno") as port:
        assert os.path.exists(port)
        process_ids = {p for p in os.listdir("/proc") if p.isdigit() and _runs_board_sim(p)} - before
        assert len(process_ids) == 1
    time.sleep(0.2)
    assert not [p for p in process_ids if os.path.exists(f"/proc/{p}") and _runs_board_sim(p)]


def _runs_board_sim(pid: str) -> bool:
    try:
        return b"board-sim" in open(f"/proc/{pid}/cmdline", "rb").read() and \
            open(f"/proc/{pid}/stat").read().split()[3] == str(os.getpid())
    except OSError:
        return False


@pytest.mark.slow
def test_the_arduino_example_sketch_flashes_and_runs(board, tmp_path):
    """--sketch: export --format arduino's example, built with arduino-mk, uploaded by avrdude, answers on the port."""
    need_tool("make")
    if not flash.ARDUINO_MK.is_file():
        unavailable(f"{flash.ARDUINO_MK} is missing (apt-get install arduino-mk arduino-core-avr)")
    _, _, manifest = export_case("q15-linear", tmp_path)
    run("flash", manifest, "--board", "uno", "--port", board, "--sketch")
    import serial

    with serial.Serial(board, 115200, timeout=0.2) as port:
        deadline, heard = time.monotonic() + 10, b""
        while time.monotonic() < deadline and b"\n" not in heard:
            heard += port.read(256)
    assert heard.strip(), "the example sketch printed nothing"


def test_firmware_source_is_shipped():
    assert (AVR_FIRMWARE / "port.c").is_file()
    assert (AVR_FIRMWARE.parent / "board-sim" / "board_sim.c").is_file()
