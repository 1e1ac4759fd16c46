"""--format platformio: OUTDIR/NAME_platformio/, a PlatformIO library:

    library.json                     name, version, description, keywords, frameworks/platforms "*", headers
    src/NAME.h                       the model
    examples/NAME/NAME.ino           the Arduino example sketch (the same as --format arduino's)
    extras/NAME.json                 the manifest
"""
from __future__ import annotations

from . import arduino
from .common import Package, render


def check_name(name: str) -> str:
    return name


def package(model, name: str, context: dict, header: str, manifest: str) -> Package:
    files = {
        "library.json": render("platformio/library.json.j2", **context),
        f"src/{name}.h": header.encode("utf-8"),
        f"examples/{name}/{name}.ino": arduino.sketch(context),
        f"extras/{name}.json": manifest.encode("utf-8"),
    }
    return Package(kind="dir", path=f"{name}_platformio", files=files)
