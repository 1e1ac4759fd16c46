"""The Arduino example of a trainable export (--trainable --format arduino | platformio): the learning sketch built
with the real Arduino AVR core (arduino-mk) for the Uno and run in simavr, its EEPROM kept in a file between runs
(the driver's -e: a second run is a reboot). Its classes after a stream of labelled lines equal the simulator's
(ConvertedModel.partial_fit, then predict), its EEPROM image holds the simulator's weight bytes, a reboot keeps
them, `reset` forgets them, and a damaged or foreign image is ignored.
"""
from __future__ import annotations

import re
import struct

import numpy as np
from sklearn.datasets import load_breast_cancer, load_diabetes
from sklearn.linear_model import SGDClassifier, SGDRegressor
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

import tinygen
from tinygen.formats.common import model_id

from conftest import sketch_of_both_packages

from test_formats import build_sketch, grid_safe_rows

MAGIC = 0x31574754  # "TGW1"
HEADER = struct.Struct("<IIIHH")  # magic, model id, steps, weight bytes, CRC-16
UPDATED = re.compile(r"updated steps=(\d+) saturations=(\d+)")
PREDICTED = re.compile(r"class=(\d+) label=(.*)|value=(\S+)")
SAVE_PAUSE = "\n" * 600  # a whole image written at 3.4 ms a byte; received bytes meanwhile are dropped
PAUSE = "\n" * 20


def cancer_model():
    """Pipeline(StandardScaler, SGDClassifier hinge) on the first half of breast_cancer, trainable at 2^-4
    (fast enough that a short stream changes classes); (model, X, y)."""
    X, y = load_breast_cancer(return_X_y=True)
    order = np.random.default_rng(0).permutation(len(X))
    X, y = X[order], y[order]
    estimator = make_pipeline(StandardScaler(), SGDClassifier(loss="hinge", random_state=0)).fit(X[:280], y[:280])
    return tinygen.convert(estimator, calibration=X, trainable=True, learning_rate="constant:2^-4"), X, y


def text_rows(program, rows) -> tuple[list[str], np.ndarray]:
    """Grid-safe rows as the CSV text a user types (7 significant digits) and the float32 values of that text."""
    lines = [",".join(f"{float(v):.7g}" for v in row) for row in grid_safe_rows(program, rows)]
    return lines, np.array([[np.float32(v) for v in line.split(",")] for line in lines], dtype=np.float32)


def crc16(data: bytes) -> int:
    crc = 0xFFFF
    for byte in data:
        crc ^= byte << 8
        for _ in range(8):
            crc = ((crc << 1) ^ 0x1021) & 0xFFFF if crc & 0x8000 else (crc << 1) & 0xFFFF
    return crc


def image(eeprom: bytes, n_bytes: int) -> tuple[tuple, bytes]:
    """The sketch's EEPROM image: (header fields, weight bytes); asserts its CRC."""
    fields = HEADER.unpack(eeprom[:HEADER.size])
    weights = eeprom[HEADER.size:HEADER.size + n_bytes]
    assert fields[4] == crc16(eeprom[:HEADER.size - 2] + weights)
    return fields, weights


def packed(identity: int, steps: int, weights: bytes) -> bytes:
    """An image as the sketch writes it."""
    head = struct.pack("<IIIH", MAGIC, identity, steps, len(weights))
    return head + struct.pack("<H", crc16(head + weights)) + weights


def run(elf, eeprom, lines: list[str]) -> list[str]:
    """One power-on of the sketch with `lines` sent (a pause after each, a long one after a line that saves):
    the lines it printed."""
    from tinygen.targets.avr import run_elf

    text = "\n" * 300 + "".join(line + "\r\n" + (SAVE_PAUSE if "y=" in line or line == "save" else PAUSE)
                                for line in lines)
    uart, _ = run_elf(elf, cycle_limit=int((len(text) / 900 + 3) * 16e6), uart_input=text.encode("ascii"),
                      eeprom=eeprom)
    return [line for line in uart.decode("utf-8").replace("\r\n", "\n").split("\n") if line]


def classes(printed: list[str]) -> list[int]:
    return [int(m[1]) for m in map(PREDICTED.fullmatch, printed) if m is not None]


def test_trainable_export_gets_the_learning_sketch(tmp_path):
    """Both packages hold the learning sketch (the same file), with this model's id and the documented lines."""
    model, X, _ = cancer_model()
    text = sketch_of_both_packages(model, tmp_path, "cancer", X[0])
    assert f"#define MODEL_ID 0x{model_id(model.program):08X}UL" in text
    for call in ("cancer_partial_fit(x, target)", "cancer_load_weights(bytes)", "eeprom_update_block(cancer_weights()",
                 "cancer_init();", "#define SAVE_EVERY 16u", "ROW,y=<class index>"):
        assert call in text
    fresh = tinygen.convert(make_pipeline(StandardScaler(), SGDClassifier(loss="hinge", random_state=1))
                            .fit(X[:200], cancer_model()[2][:200]), calibration=X, trainable=True)
    assert model_id(fresh.program) != model_id(model.program)  # another export, another id


def test_arduino_learning_sketch_on_uno_learns_saves_and_reboots(tmp_path):
    """breast_cancer (30 features, hinge, q15) on the Uno in simavr. Power-on 1, blank EEPROM: predictions, 40
    labelled lines (the labels flipped: a world that changed) among malformed ones, then save: every `updated` line
    counts as the simulator does, the classes after it are the simulator's after partial_fit, and the EEPROM image
    holds the simulator's weight bytes. Power-on 2: the saved weights are back (same classes, steps kept), then
    reset. Power-on 3: the exported weights. A damaged image and a foreign model's image are ignored."""
    model, X, y = cancer_model()
    program = model.program
    elf, sizes = build_sketch(model, "cancer", tmp_path, X[0], build_example=True)
    update_text, update_rows = text_rows(program, X[300:340])
    update_labels = 1 - y[300:340]
    check_text, check_rows = text_rows(program, X[400:430])
    exported = [int(k) for k in model.predict(check_rows)]
    model.partial_fit(update_rows, update_labels)
    learned = [int(k) for k in model.predict(check_rows)]
    assert learned != exported  # the stream shows in the classes
    bad = ["1,2,three", update_text[0] + ",y=2", update_text[0] + ",y=", "frobnicate", "save,1",
           update_text[0] + ",y=1,5", ",".join(["1"] * 31)]
    lines = check_text[:5] + [f"{t},y={k}" for t, k in zip(update_text[:20], update_labels[:20])] + bad
    lines += [f"{t},y={k}" for t, k in zip(update_text[20:], update_labels[20:])] + ["save"] + check_text
    eeprom = tmp_path / "eeprom.bin"
    printed = run(elf, eeprom, lines)

    assert printed[0] == "# cancer: the exported weights (no valid image in EEPROM)"
    assert printed[1].startswith("# send 30 comma-separated numbers")
    assert [line for line in printed if line.startswith("error=")] == [
        "error=expected 30 comma-separated numbers, then y=<class index> to learn",
        "error=y must be a class index in [0, 2)", "error=y must be a class index in [0, 2)",
        "error=expected 30 comma-separated numbers, then y=<class index> to learn",
        "error=expected 30 comma-separated numbers, then y=<class index> to learn",
        "error=expected 30 comma-separated numbers, then y=<class index> to learn",
        "error=expected 30 comma-separated numbers, then y=<class index> to learn"]
    state = model.training_state()
    updates = [UPDATED.fullmatch(line) for line in printed if line.startswith("updated")]
    assert [int(m[1]) for m in updates] == list(range(1, 41))
    assert int(updates[-1][2]) == state["saturations"]
    assert printed.count("saved") == 2 + 1  # after steps 16 and 32, and on save
    assert printed[printed.index("updated steps=16 saturations=" + updates[15][2]) + 1] == "saved"
    assert classes(printed) == exported[:5] + learned
    fields, weights = image(eeprom.read_bytes(), len(model.trainable_weights()))
    assert fields[:4] == (MAGIC, model_id(program), 40, len(weights))
    assert weights == model.trainable_weights()  # the device learned what the simulator did, byte for byte

    printed = run(elf, eeprom, check_text + ["reset"] + check_text)
    assert printed[0] == "# cancer: the weights saved in EEPROM, steps=40"
    assert "reset" in printed and classes(printed) == learned + exported
    assert run(elf, eeprom, [])[0] == "# cancer: the exported weights (no valid image in EEPROM)"

    good = packed(model_id(program), 40, weights)
    for damage in (None, "weight", "id"):
        data = bytearray(good)
        if damage == "weight":
            data[HEADER.size + 5] ^= 0x10
        elif damage == "id":  # a valid image of another model
            data = bytearray(packed(model_id(program) ^ 1, 40, weights))
        eeprom.write_bytes(bytes(data))
        first = run(elf, eeprom, check_text[:3])
        expected = learned[:3] if damage is None else exported[:3]
        assert first[0].startswith("# cancer: the weights saved" if damage is None else "# cancer: the exported")
        assert classes(first) == expected, damage
    print(f"\nUno learning sketch (breast_cancer, 30 features, hinge q15): flash {sizes['flash']} B, "
          f"RAM {sizes['ram']} B")


def test_arduino_learning_sketch_regressor_on_uno(tmp_path):
    """An SGDRegressor's sketch: `,y=<value>` lines run partial_fit_reg; the saved image equals the simulator's
    weight bytes after the same stream, and the values printed after it are the simulator's (6 decimals)."""
    X, y = load_diabetes(return_X_y=True)
    estimator = make_pipeline(StandardScaler(), SGDRegressor(random_state=0)).fit(X[:200], y[:200])
    model = tinygen.convert(estimator, calibration=X, trainable=True, learning_rate="constant:2^-9")
    elf, _ = build_sketch(model, "sugar", tmp_path, X[0])
    update_text, update_rows = text_rows(model.program, X[200:210])
    targets = [f"{v:.1f}" for v in y[200:210]]
    check_text, check_rows = text_rows(model.program, X[300:303])
    model.partial_fit(update_rows, np.array(targets, dtype=np.float32))
    eeprom = tmp_path / "eeprom.bin"
    printed = run(elf, eeprom, [f"{t},y={v}" for t, v in zip(update_text, targets)] + ["save"] + check_text)
    assert [line for line in printed if line.startswith("updated")][-1] == \
        f"updated steps=10 saturations={model.training_state()['saturations']}"
    fields, weights = image(eeprom.read_bytes(), len(model.trainable_weights()))
    assert fields[2] == 10 and weights == model.trainable_weights()
    values = [float(m[3]) for m in map(PREDICTED.fullmatch, printed) if m is not None]
    assert np.allclose(values, model.predict(check_rows), rtol=1e-5, atol=1e-4)
