"""The header contract: include guard, extern "C", <stdint.h> only, warning-free C99/C++11/AVR builds,
two models in one program, tables in flash on AVR, and byte-identical output for the same input."""
from __future__ import annotations

import re
import subprocess

import numpy as np
import pytest
from sklearn.datasets import load_diabetes, load_wine
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

import tinygen


STRICT = ["-Wall", "-Wextra", "-Wpedantic", "-Wconversion", "-Werror"]
DTYPES = ("float32", "q31", "q15", "q7")


def _models():
    Xc, yc = load_wine(return_X_y=True)
    Xr, yr = load_diabetes(return_X_y=True)
    labels = np.array(['class "a"', "back\\slash", "trigraph??/ */ é"])[yc]
    classifier = make_pipeline(StandardScaler(), LogisticRegression(max_iter=5000)).fit(Xc, labels)
    regressor = make_pipeline(StandardScaler(), Ridge()).fit(Xr, yr)
    out = {}
    for dtype in DTYPES:
        out[f"cls_{dtype}"] = tinygen.convert(classifier, dtype=dtype, calibration=Xc)
        out[f"reg_{dtype}"] = tinygen.convert(regressor, dtype=dtype, calibration=Xr)
    return out


@pytest.fixture(scope="module")
def headers(tmp_path_factory):
    directory = tmp_path_factory.mktemp("headers")
    for name, model in _models().items():
        model.save(directory, name)
    return directory


def _program(directory, names):
    """One translation unit that includes every header and calls every API function."""
    lines = [f'#include "{name}.h"' for name in names] + ["volatile float sink;", "int main(void)", "{",
                                                          "    float x[13] = {0};", "    float xr[10] = {0};"]
    for name in names:
        x = "x" if name.startswith("cls") else "xr"
        lines.append(f"    {{ {name}_score_t s[{name}_N_OUTPUTS]; {name}_scores({x}, s); sink += (float){name}_predict({x}); }}")
        if not name.endswith("float32"):
            lines.append(f"    {{ {name}_input_t q[{name}_N_FEATURES]; {name}_quantize_input({x}, q); sink += (float){name}_predict_q(q); }}")
        if name.startswith("cls"):
            lines.append(f"    sink += (float){name}_label(0)[0];")
    lines += ["    return 0;", "}"]
    path = directory / "all.c"
    path.write_text("\n".join(lines) + "\n")
    return path


NAMES = [f"{kind}_{dtype}" for kind in ("cls", "reg") for dtype in DTYPES]


def test_header_shape(headers):
    for name in NAMES:
        text = (headers / f"{name}.h").read_text()
        guard = f"TINYGEN_{name.upper()}_H"
        assert f"#ifndef {guard}" in text and f"#define {guard}" in text
        assert 'extern "C"' in text
        includes = set(re.findall(r"#include\s*<([^>]+)>", text))
        assert includes <= {"stdint.h", "avr/pgmspace.h"}, includes
        assert "malloc" not in text and "math.h" not in text
        # every file-scope symbol is static or prefixed: declarations start in column 0
        declared = []
        for line in text.splitlines():
            if not line or line[0] in "#/ *{}" or line.startswith(('extern "C"', "}")):
                continue
            if line.startswith("typedef"):
                declared.append(re.search(r"(\w+)\s*;", line).group(1))
            else:
                declared.append(re.search(r"(\w+)\s*[\[(=]", line).group(1))
        assert len(declared) >= 9
        for symbol in declared:
            assert symbol.startswith(f"{name}_"), symbol
        for macro in re.findall(r"^#define\s+(\w+)", text, re.M):
            assert macro.startswith((f"{name}_", guard)), macro


def test_gcc_c99_strict(headers, tool):
    source = _program(headers, NAMES)
    subprocess.run([tool("gcc"), "-std=c99", *STRICT, "-I", str(headers), str(source), "-o", str(headers / "c99")],
                   check=True, capture_output=True, text=True)
    subprocess.run([str(headers / "c99")], check=True)


def test_gxx_cxx11_strict(headers, tool):
    source = _program(headers, NAMES)
    subprocess.run([tool("g++"), "-x", "c++", "-std=c++11", *STRICT, "-I", str(headers), str(source),
                    "-o", str(headers / "cxx11")], check=True, capture_output=True, text=True)


def test_avr_gcc_builds_with_tables_in_flash(headers, tool):
    source = _program(headers, NAMES)
    elf = headers / "all.elf"
    done = subprocess.run([tool("avr-gcc"), "-mmcu=atmega328p", "-Os", "-Wall", "-Wextra", "-Werror", "-I", str(headers),
                           str(source), "-o", str(elf)], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    sizes = subprocess.run([tool("avr-size"), "-A", str(elf)], check=True, capture_output=True, text=True).stdout
    data = int(re.search(r"^\.data\s+(\d+)", sizes, re.M).group(1))
    assert data == 0, sizes  # no model table (or label string) copied to SRAM


def test_two_models_in_two_translation_units(headers, tool):
    (headers / "a.c").write_text('#include "cls_q15.h"\nint a(const float *x) { return (int)cls_q15_predict(x); }\n')
    (headers / "b.c").write_text('#include "cls_q15.h"\n#include "reg_q7.h"\nint a(const float *x);\n'
                                 "int main(void) { float x[13] = {0}; return a(x) + (int)cls_q15_predict(x) + (int)reg_q7_predict(x) * 0; }\n")
    subprocess.run([tool("gcc"), "-std=c99", *STRICT, str(headers / "a.c"), str(headers / "b.c"), "-o", str(headers / "ab")],
                   check=True, capture_output=True, text=True)


def test_same_input_same_bytes(tmp_path):
    first, second = _models(), _models()
    for name in ("cls_q15", "reg_float32", "cls_q7"):
        first[name].save(tmp_path / "one", name)
        second[name].save(tmp_path / "two", name)
        for suffix in (".h", ".json"):
            assert (tmp_path / "one" / f"{name}{suffix}").read_bytes() == (tmp_path / "two" / f"{name}{suffix}").read_bytes()


@pytest.mark.parametrize("stem", ["is", "class", "int", "9lives", "a__b", "my model", "", "x" * 60])
def test_default_names_pass_the_name_check(stem):
    """A default name (from a model file's stem: `train --search -o is.skops`, `export m/is.skops`) is one that
    check_name accepts; `is` (a Python keyword) used to come back unchanged, and every search candidate then
    failed to build with the reason hidden."""
    from tinygen.emit import check_name, suggest_name

    assert check_name(suggest_name(stem)) == suggest_name(stem)
