"""The AVR target (ATmega328P at 16 MHz, the Arduino Uno) under simavr: the compiled header equals the
simulator on every row, its costs are measured (flash, RAM, stack, exact cycles), a model that does not fit
the Uno is refused with the overshoot, and the libsimavr driver (run_elf) is exact on hand-written firmware."""
from __future__ import annotations

import subprocess

import numpy as np
import pytest
from sklearn.linear_model import LinearRegression, RidgeClassifier

import tinygen
from tinygen import targets
from tinygen.bench import fitted, split
from tinygen.targets import avr
from tinygen.verify import compare_on_target

from conftest import error_of, need_tool


@pytest.fixture(autouse=True)
def avr_target(monkeypatch):
    """compare_on_target(..., "avr", ...) reaches tinygen.targets.avr, registered or not."""
    need_tool("avr-gcc")
    need_tool("simavr")
    need_tool("gcc")  # builds the libsimavr driver
    monkeypatch.setitem(targets.TARGETS, "avr", avr)


def converted(dataset: str, model: str, dtype: str):
    X, _, X_train, *_ = split(dataset)
    return tinygen.convert(fitted(dataset, model), dtype=dtype, calibration=X_train), X


@pytest.mark.parametrize("dtype", ["q15", "q7", "q31", "float32"])
@pytest.mark.parametrize("dataset", ["breast_cancer", "wine"])
def test_logistic_regression_full_dataset(dataset, dtype):
    model, X = converted(dataset, "LogisticRegression", dtype)
    result = compare_on_target(model, "avr", X, "m")
    assert result["rows"] == len(X)
    assert result["mismatches"] == 0, result
    assert result["ram_bytes"] == 0  # every table is in flash (PROGMEM)
    for key in ("flash_bytes", "stack_bytes", "cycles_min", "cycles_max", "firmware_flash_bytes", "firmware_sram_bytes"):
        assert isinstance(result[key], int) and result[key] > 0, (key, result)
    assert result["cycles_unit"] == "cycles"
    assert result["cycles_min"] <= result["cycles_per_inference"] <= result["cycles_max"]
    assert result["firmware_flash_bytes"] <= avr.FLASH_LIMIT and result["firmware_sram_bytes"] <= avr.SRAM_LIMIT
    if dtype != "float32":  # the same inference from pre-quantized features skips the float->fixed step
        assert 0 < result["cycles_predict_q"] < result["cycles_per_inference"]


@pytest.mark.parametrize("dtype", ["q15", "float32"])
def test_regressor(dtype):
    model, X = converted("diabetes", "Ridge", dtype)
    result = compare_on_target(model, "avr", X, "m")
    assert result["rows"] == len(X) and result["mismatches"] == 0, result
    assert result["ram_bytes"] == 0 and result["stack_bytes"] > 0 and result["cycles_per_inference"] > 0


def test_cycles_are_deterministic():
    model, X = converted("breast_cancer", "LogisticRegression", "q15")
    first = compare_on_target(model, "avr", X[::7], "m")
    second = compare_on_target(model, "avr", X[::7], "m")
    assert first == second


def test_rows_split_over_parallel_runs_change_nothing(monkeypatch):
    model, X = converted("wine", "LogisticRegression", "q7")
    one_run = compare_on_target(model, "avr", X, "m")
    monkeypatch.setattr(avr, "MIN_ROWS_PER_PARALLEL_RUN", 10)
    monkeypatch.setattr(avr.os, "cpu_count", lambda: 3)  # three runs even on a one-CPU machine
    assert compare_on_target(model, "avr", X, "m") == one_run


def extreme_rows(n_features: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    values = np.array([0.0, -0.0, 1e-45, 1e-40, 1.17e-38, 1e-10, 0.5, 1.5, 2.5, 1e10, 1e30, 3.4e38,
                       np.inf, -np.inf, np.nan], dtype=np.float32)
    picked = rng.choice(values, size=(150, n_features)) * rng.choice([-1, 1], size=(150, n_features))
    wide = rng.normal(scale=10.0 ** rng.integers(-20, 20, size=(150, 1)), size=(150, n_features))
    return np.concatenate([picked, wide]).astype(np.float32)


def test_fixed_point_input_conversion_on_extreme_values():
    """NaN, +-inf, subnormals, huge values and ties through NAME_quantize_input on the AVR: bit-exact."""
    model, _ = converted("diabetes", "Ridge", "q15")
    result = compare_on_target(model, "avr", extreme_rows(model.program.n_features), "m")
    assert result["mismatches"] == 0, result


def test_float32_is_bit_exact_except_nan_payloads(tmp_path):
    """avr-libc's soft float equals numpy float32 bit for bit on every result that is not NaN: subnormals,
    signed zeros, overflow to +-inf. A NaN result is NaN on both, but avr-libc's __fp_nan only loads the
    high word (0xffc0) and leaves the low 16 bits of an operand, where numpy propagates the NaN operand."""
    model, _ = converted("diabetes", "Ridge", "float32")
    rows = extreme_rows(model.program.n_features)
    paths = model.save(tmp_path, "m")
    measured = avr.measure(model.program, paths["header"], "m", rows)
    with np.errstate(all="ignore"):
        expected = model.program.scores(rows).astype(np.float32)
    is_nan = np.isnan(expected[:, 0])
    assert 0 < is_nan.sum() < len(rows) // 2
    assert np.array_equal(measured.scores[~is_nan].view(np.uint32), expected[~is_nan].view(np.uint32))
    assert np.isnan(measured.scores[is_nan]).all()
    assert (measured.scores[is_nan].view(np.uint32) >> 16 == 0xFFC0).all()


def test_split_api_is_checked(tmp_path):
    """A header whose NAME_scores disagrees with NAME_scores_q(NAME_quantize_input(x)) fails on the AVR."""
    model, X = converted("breast_cancer", "LogisticRegression", "q15")
    header = model.save(tmp_path, "m")["header"]
    text = header.read_text()
    call = "    m_scores_q(x_q, out);\n}"
    assert text.count(call) == 1
    header.write_text(text.replace(call, "    m_scores_q(x_q, out);\n    out[0] += 1;\n}"))
    assert "m_scores_q(m_quantize_input(x)) != m_scores(x)" in error_of(avr.measure, model.program, header, "m", X[:5])


def test_model_over_the_flash_is_refused(tmp_path):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(640, 100))
    model = tinygen.convert(RidgeClassifier().fit(X, np.repeat(np.arange(160), 4)), dtype="q15", calibration=X)
    header = model.save(tmp_path, "wide")["header"]
    message = error_of(avr.measure, model.program, header, "wide", X[:2])
    assert "does not fit the ATmega328P" in message and "flash" in message and "over by" in message


def test_model_over_the_sram_is_refused(tmp_path):
    """300 q31 features: the row buffer is static, the quantized features (1,200 B) live on the stack; the
    linker does not see the stack, the measured run does."""
    rng = np.random.default_rng(0)
    X = rng.normal(size=(320, 300))
    model = tinygen.convert(LinearRegression().fit(X, X @ rng.normal(size=300)), dtype="q31", calibration=X)
    header = model.save(tmp_path, "tall")["header"]
    message = error_of(avr.measure, model.program, header, "tall", X[:2])
    assert "does not fit the ATmega328P" in message and "SRAM" in message and "stack" in message
    assert "over by" in message


# --- run_elf: the driver on hand-written firmware, independent of tinygen models ------------------------

FIRMWARE = r"""
#include <stdint.h>
#include <avr/interrupt.h>
#include <avr/io.h>
#include <avr/sleep.h>

static void put(uint8_t b) { while (!(UCSR0A & _BV(UDRE0))) {} UDR0 = b; }
static uint8_t get(void) { while (!(UCSR0A & _BV(RXC0))) {} return UDR0; }

__attribute__((noinline)) uint8_t fill(uint8_t n);
__attribute__((noinline)) uint8_t fill(uint8_t n)
{
    volatile uint8_t buf[64];
    uint8_t i;
    for (i = 0; i < 64; i++) buf[i] = (uint8_t)(n + i);
    return buf[n & 63];
}

volatile uint8_t sink;

int main(void)
{
    uint8_t i;
    cli();
    UCSR0B = (uint8_t)(_BV(RXEN0) | _BV(TXEN0));
    GPIOR0 = 7; GPIOR0 = 0;
    GPIOR0 = 8; __builtin_avr_delay_cycles(1000); GPIOR0 = 0;
    GPIOR0 = 9; sink = fill(3); GPIOR0 = 0;
    put('h'); put('i'); put('\r'); put('\n'); put(0x00); put(0xFF);
    for (i = 0; i < 5; i++) put((uint8_t)(get() + 1));
#ifdef HANG
    for (;;) {}
#endif
    cli(); sleep_enable(); sleep_cpu();
    return 0;
}
"""


def build_firmware(tmp_path, *defines) -> str:
    source = tmp_path / "fw.c"
    source.write_text(FIRMWARE)
    elf = tmp_path / "fw.elf"
    subprocess.run([need_tool("avr-gcc"), "-std=c99", "-Os", "-mmcu=atmega328p", "-DF_CPU=16000000UL", *defines,
                    str(source), "-o", str(elf)], check=True)
    return str(elf)


def test_run_elf_uart_and_exact_regions(tmp_path):
    elf = build_firmware(tmp_path)
    output, regions = avr.run_elf(elf, uart_input=b"abc\x00\xfe")
    assert output == b"hi\r\n\x00\xff" + b"bcd\x01\xff"  # bytes unchanged, input arrived in order
    by_id = {region.id: region for region in regions}
    assert [region.id for region in regions] == [7, 8, 9]
    assert by_id[7].cycles == 1  # the starting OUT instruction
    assert by_id[8].cycles == 1 + 1000  # __builtin_avr_delay_cycles is exact
    assert 64 + 2 <= by_id[9].stack_bytes <= 64 + 16  # the buffer, the return address, a few saved registers
    assert avr.run_elf(elf, uart_input=b"abc\x00\xfe") == (output, regions)


def test_run_elf_stops_at_the_cycle_limit(tmp_path):
    elf = build_firmware(tmp_path, "-DHANG")
    message = error_of(avr.run_elf, elf, cycle_limit=200_000, uart_input=b"12345")
    assert "cycle-limit" in message and "hi" in message  # says what the firmware printed before


def test_run_elf_refuses_a_missing_file(tmp_path):
    assert "failed" in error_of(avr.run_elf, tmp_path / "missing.elf")
