"""Export formats: the bare header plus package layouts for Arduino, ESP-IDF and PlatformIO.

Every format writes OUTDIR/NAME.h and OUTDIR/NAME.json (the contract) and, except `header`, a package:
    arduino     OUTDIR/NAME.zip            an Arduino library ("Sketch > Include Library > Add .ZIP Library")
    esp-idf     OUTDIR/NAME_esp_idf/       a header-only ESP-IDF component with an example app
    platformio  OUTDIR/NAME_platformio/    a PlatformIO library (library.json)
    tflite      OUTDIR/NAME.tflite         dtype int8: the same network as a TFLite flatbuffer for TFLM
Same inputs give byte-identical files; an error leaves none of the files behind. One module per format,
each with `check_name(name)` and `package(model, name, context) -> Package | None`.
"""
from __future__ import annotations

from pathlib import Path

from ..emit import check_name as check_c_name
from ..errors import TinygenError
from . import arduino, esp_idf, header, platformio, tflite
from .common import DEFAULT_VERSION, check_file_name, check_outdir, context, write_outputs  # noqa: F401 (cli)

MODULES = {"header": header, "arduino": arduino, "esp-idf": esp_idf, "platformio": platformio, "tflite": tflite}
FORMATS = tuple(MODULES)


def get(fmt: str):
    if fmt not in MODULES:
        raise TinygenError(f"unknown format {fmt!r}; choose from {', '.join(FORMATS)}")
    return MODULES[fmt]


def check_name(name: str, fmt: str = "header") -> str:
    """The C identifier check, the file name check of every format (e.g. a header name that shadows
    <stdint.h>), then whatever the format adds."""
    return get(fmt).check_name(check_file_name(check_c_name(name)))


def render(model, name: str = "model", fmt: str = "header", example=None, version: str = DEFAULT_VERSION):
    """(header text, manifest text, Package or None), all in memory."""
    module = get(fmt)
    check_name(name, fmt)
    header_text, manifest_text = model.files(name)  # each carries the other's digest: packages copy these
    ctx = context(model, name, example=example, version=version)
    return header_text, manifest_text, module.package(model, name, ctx, header_text, manifest_text)


def export(model, outdir, name: str = "model", fmt: str = "header", example=None,
           version: str = DEFAULT_VERSION) -> dict[str, Path]:
    """Write OUTDIR/NAME.h, OUTDIR/NAME.json and the format's package.

    model: a tinygen ConvertedModel. example: one row of features the package's example program predicts
    at start (the first calibration row is a good choice; default all zeros). version: the library's
    version (MAJOR.MINOR.PATCH). Returns {"header", "manifest"[, "package"]} -> path."""
    header_text, manifest_text, package = render(model, name, fmt, example=example, version=version)
    return write_outputs(outdir, name, header_text, manifest_text, package)
