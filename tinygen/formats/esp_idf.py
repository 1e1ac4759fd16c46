"""--format esp-idf: OUTDIR/NAME_esp_idf/, a header-only ESP-IDF component with an example app:

    CMakeLists.txt                   idf_component_register(INCLUDE_DIRS "include")
    idf_component.yml                version and description (for the component manager)
    include/NAME.h                   the model
    examples/NAME_example/           an app: `idf.py build` there finds the component through
        CMakeLists.txt               EXTRA_COMPONENT_DIRS ../..
        main/CMakeLists.txt
        main/main.c                  app_main predicts the example row and prints it with printf
"""
from __future__ import annotations

from .common import Package, render


def check_name(name: str) -> str:
    return name


def component_name(name: str) -> str:
    return f"{name}_esp_idf"


def package(model, name: str, context: dict, header: str, manifest: str) -> Package:
    ctx = {**context, "component": component_name(name), "example_app": f"{name}_example"}
    app = f"examples/{name}_example"
    files = {
        "CMakeLists.txt": render("esp-idf/CMakeLists.txt.j2", **ctx),
        "idf_component.yml": render("esp-idf/idf_component.yml.j2", **ctx),
        f"include/{name}.h": header.encode("utf-8"),
        f"{app}/CMakeLists.txt": render("esp-idf/example/CMakeLists.txt.j2", **ctx),
        f"{app}/main/CMakeLists.txt": render("esp-idf/example/main/CMakeLists.txt.j2", **ctx),
        f"{app}/main/main.c": render("esp-idf/example/main/main.c.j2", **ctx),
    }
    return Package(kind="dir", path=component_name(name), files=files)
