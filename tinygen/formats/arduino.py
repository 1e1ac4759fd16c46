"""--format arduino: OUTDIR/NAME.zip, an Arduino library in the 1.5 layout that the IDE's
"Add .ZIP Library" installs:

    NAME/library.properties          the library specification's fields (name ... includes=NAME.h)
    NAME/src/NAME.h                  the model
    NAME/examples/NAME/NAME.ino      predicts a built-in row, then rows read from Serial; for a window
                                     program: classifies a built-in window, then streams frames read
                                     from Serial and prints the class of every window; for a trainable
                                     export: predicts rows and learns from labelled ones (NAME_partial_fit),
                                     keeping the weights in EEPROM
    NAME/extras/NAME.json            the manifest (for `tinygen simulate`)
"""
from __future__ import annotations

from .common import Package, render

CATEGORY = "Data Processing"


def check_name(name: str) -> str:
    return name


def sketch(context: dict) -> bytes:
    """The example sketch (shared with the PlatformIO package): rows, a window program's frames, or a trainable
    program's rows and labelled rows."""
    if context["trainable"]:
        template = "arduino/trainable_sketch.ino.j2"
    elif context["window"]:
        template = "arduino/window_sketch.ino.j2"
    else:
        template = "arduino/sketch.ino.j2"
    return render(template, **context)


def package(model, name: str, context: dict, header: str, manifest: str) -> Package:
    files = {
        "library.properties": render("arduino/library.properties.j2", category=CATEGORY, **context),
        f"src/{name}.h": header.encode("utf-8"),
        f"examples/{name}/{name}.ino": sketch(context),
        f"extras/{name}.json": manifest.encode("utf-8"),
    }
    return Package(kind="zip", path=f"{name}.zip", files=files, root=name)
