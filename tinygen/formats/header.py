"""--format header: OUTDIR/NAME.h and OUTDIR/NAME.json only (what ConvertedModel.save writes)."""
from __future__ import annotations


def check_name(name: str) -> str:
    return name


def package(model, name: str, context: dict, header: str, manifest: str):
    return None
