"""Saving and loading fitted models: ``.skops`` (safe, the default), pickles only when the user opts in.

A ``.skops`` file is loaded only if every type skops does not trust by default is one tinygen supports
(:data:`SUPPORTED_TYPES`); anything else is refused before any of it is constructed. ``.joblib``/``.pkl``
files run code when loaded, so they need ``allow_pickle=True`` (the CLI's ``--allow-pickle``).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from tinygen.errors import TinygenError
from tinygen.files import atomic_path

SKOPS_SUFFIXES = (".skops",)
PICKLE_SUFFIXES = (".joblib", ".pkl")


def _supported_classes() -> list[type]:
    """The estimator classes tinygen supports: exactly what the frontends convert, plus Pipeline. Later
    model families add helper types that skops needs to trust for them to :data:`_EXTRA_TRUSTED`."""
    from sklearn.pipeline import Pipeline

    from .frontend import MODELS, TRANSFORMERS

    return [*MODELS, *TRANSFORMERS, Pipeline]


# Fully qualified names of non-estimator types that supported estimators contain and that skops does not
# trust by default (e.g. a later tree family adds "sklearn.tree._tree.Tree"). Empty for the linear family.
_EXTRA_TRUSTED: list[str] = [
    "sklearn.tree._tree.Tree",  # the node arrays inside every tree, forest and GradientBoosting
    "sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor",  # HistGradientBoosting's trees
    # the optimizer state a fitted MLP keeps (arrays and floats; solver adam / sgd)
    "sklearn.neural_network._stochastic_optimizers.AdamOptimizer",
    "sklearn.neural_network._stochastic_optimizers.SGDOptimizer",
    # the window-feature step in front of a model trained on raw sensor windows (train --window); its state is
    # its parameters (ints, strings, a float) and the names it records
    "tinygen.features.WindowFeatures",
]


def _qualified_name(cls: type) -> str:
    return f"{cls.__module__}.{cls.__qualname__}"


SUPPORTED_CLASSES: tuple[type, ...] = tuple(_supported_classes())
SUPPORTED_TYPES: tuple[str, ...] = tuple(_qualified_name(c) for c in SUPPORTED_CLASSES) + tuple(_EXTRA_TRUSTED)


def _short_list(names: list[str] | tuple[str, ...], limit: int = 8) -> str:
    shown = ", ".join(names[:limit])
    if len(names) > limit:
        shown += f" (and {len(names) - limit} more)"
    return shown


def _supported_short() -> str:
    return ", ".join(c.__name__ for c in SUPPORTED_CLASSES)


def _suffix(path: Path) -> str:
    return path.suffix.lower()


def _unknown_suffix(path: Path, verb: str) -> TinygenError:
    return TinygenError(
        f"cannot {verb} model {str(path)!r}: unknown file type {path.suffix or '(no suffix)'!r}; "
        "use .skops (or .joblib/.pkl with --allow-pickle)"
    )


def _pickle_refusal(path: Path) -> TinygenError:
    return TinygenError(
        f"{str(path)!r} is a pickle, which runs code when loaded; pass --allow-pickle if you trust it, "
        "or save the model as .skops"
    )


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split()) or type(exc).__name__


# ---------------------------------------------------------------------------------------------------- save


def save_model(estimator: Any, path: str | os.PathLike, *, allow_pickle: bool = False) -> None:
    """Write ``estimator`` to ``path`` atomically: ``.skops`` via skops, ``.joblib``/``.pkl`` only with
    ``allow_pickle=True``."""
    path = Path(path)
    suffix = check_save_path(path, allow_pickle=allow_pickle)
    if suffix in SKOPS_SUFFIXES:
        import skops.io

        with atomic_path(path) as tmp:
            try:
                tmp.write_bytes(_canonical_skops(skops.io.dumps(estimator)))
            except OSError:
                raise  # atomic_path reports it as "cannot write PATH: reason"
            except Exception as exc:  # skops raises many kinds for objects it cannot serialize
                raise TinygenError(f"cannot save model to {str(path)!r}: {_one_line(exc)}") from exc
        return
    with atomic_path(path) as tmp:
        try:
            _dump_pickle(estimator, tmp)
        except OSError:
            raise
        except Exception as exc:  # pickling fails in many ways (lambdas, open handles, ...)
            raise TinygenError(f"cannot save model to {str(path)!r}: {_one_line(exc)}") from exc


def check_save_path(path: str | os.PathLike, *, allow_pickle: bool = False) -> str:
    """The suffix of a path save_model() would write (.skops, or a pickle with allow_pickle); otherwise the
    TinygenError it would raise, so long jobs can refuse a bad output path before they start."""
    path = Path(path)
    suffix = _suffix(path)
    if suffix in SKOPS_SUFFIXES:
        return suffix
    if suffix in PICKLE_SUFFIXES:
        if not allow_pickle:
            raise TinygenError(
                f"refusing to write pickle {str(path)!r}: pickles run code when loaded; save the model as "
                ".skops, or pass --allow-pickle"
            )
        return suffix
    raise _unknown_suffix(path, "save")


def _canonical_skops(blob: bytes) -> bytes:
    """The same model always gives the same bytes: skops names objects by their memory address (id())
    and stamps the zip with the time; renumber the ids in order of first appearance and fix the dates.
    The ids only link references to the same object, so a consistent renumbering loads identically."""
    import io
    import json
    import zipfile

    with zipfile.ZipFile(io.BytesIO(blob)) as source:
        members = {info.filename: (info, source.read(info.filename)) for info in source.infolist()}
    numbering: dict[int, int] = {}

    def walk(node):
        if isinstance(node, dict):
            if isinstance(node.get("__id__"), int):
                node["__id__"] = numbering.setdefault(node["__id__"], len(numbering) + 1)
            if isinstance(node.get("file"), str) and node["file"].endswith(".npy"):
                old = int(node["file"][:-4])
                node["file"] = f"{numbering.setdefault(old, len(numbering) + 1)}.npy"
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    schema = json.loads(members["schema.json"][1])
    walk(schema)
    renamed = {"schema.json": json.dumps(schema, indent=2).encode("utf-8")}
    for name, (_, content) in members.items():
        if name.endswith(".npy"):
            renamed[f"{numbering[int(name[:-4])]}.npy"] = content
        elif name != "schema.json":
            renamed[name] = content
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_STORED) as target:
        for name in sorted(renamed):
            info = zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0))
            info.external_attr = 0o644 << 16
            target.writestr(info, renamed[name])
    return out.getvalue()


def _dump_pickle(obj: Any, path: Path) -> None:
    try:
        import joblib
    except ImportError:  # pragma: no cover - joblib ships with scikit-learn
        import pickle

        with open(path, "wb") as handle:
            pickle.dump(obj, handle, protocol=pickle.HIGHEST_PROTOCOL)
        return
    joblib.dump(obj, path)


# ---------------------------------------------------------------------------------------------------- load


def _skops_untrusted(path: Path) -> list[str]:
    """Every type in a ``.skops`` file that skops does not trust by default (nothing is constructed)."""
    import skops.io

    try:
        return list(skops.io.get_untrusted_types(file=path))
    except Exception as exc:  # not a zip, no schema, bad JSON, ...: skops raises many kinds
        raise TinygenError(
            f"{str(path)!r} is not a readable .skops model file ({_one_line(exc)}); save it again with "
            "tinygen train or skops.io.dump"
        ) from exc


def _held_estimators(path: Path) -> list[str]:
    """Qualified class names of the model a readable ``.skops`` file holds: its root object and, for a Pipeline,
    each step's (read from its schema; nothing is constructed)."""
    import json
    import zipfile

    with zipfile.ZipFile(path) as archive:
        schema = json.loads(archive.read("schema.json"))
    found = []

    def visit(node) -> None:
        if not isinstance(node, dict) or node.get("__module__") == "builtins":  # "passthrough", None
            return
        found.append(f"{node.get('__module__')}.{node.get('__class__')}")
        if found[-1] == "sklearn.pipeline.Pipeline":
            steps = node.get("content", {}).get("content", {}).get("steps", {}).get("content", [])
            for step in steps:  # (name, estimator) tuples
                pair = step.get("content", []) if isinstance(step, dict) else []
                if len(pair) == 2:
                    visit(pair[1])

    visit(schema)
    return found


def untrusted_types(path: str | os.PathLike) -> list[str]:
    """The types in a ``.skops`` file that tinygen refuses: not trusted by skops and not supported."""
    return sorted(name for name in _skops_untrusted(Path(path)) if name not in SUPPORTED_TYPES)


def load_model(path: str | os.PathLike, *, allow_pickle: bool = False) -> Any:
    """Read a fitted model. ``.skops`` files are checked against :data:`SUPPORTED_TYPES` before anything
    is constructed; ``.joblib``/``.pkl`` need ``allow_pickle=True``.

    The object is returned as stored: whether tinygen can convert it is the frontend's call.
    """
    path = Path(path)
    suffix = _suffix(path)
    if suffix not in SKOPS_SUFFIXES + PICKLE_SUFFIXES:
        raise _unknown_suffix(path, "load")
    if not path.exists():
        raise TinygenError(f"model file {str(path)!r} does not exist; check the path or train one with tinygen train")
    if path.is_dir():
        raise TinygenError(f"model file {str(path)!r} is a directory; give the path of a model file")
    if suffix in PICKLE_SUFFIXES:
        if not allow_pickle:
            raise _pickle_refusal(path)
        return _load_pickle(path)
    return _load_skops(path)


def _load_skops(path: Path) -> Any:
    import skops.io

    everything_untrusted = _skops_untrusted(path)
    refused = sorted(name for name in everything_untrusted if name not in SUPPORTED_TYPES)
    if refused:
        from .frontend import unsupported_message

        unsupported = [name for name in _held_estimators(path) if name not in SUPPORTED_TYPES]
        if unsupported:  # say the model is not supported, not which of its internals skops distrusts
            raise TinygenError(unsupported_message(unsupported[0].rsplit(".", 1)[-1]))
        raise TinygenError(
            f"refusing to load {str(path)!r}: it contains types tinygen does not trust: "
            f"{_short_list(refused)} (supported: {_supported_short()})"
        )
    try:
        return skops.io.load(path, trusted=list(everything_untrusted))
    except Exception as exc:  # skops raises many kinds on a damaged or version-incompatible file
        raise TinygenError(
            f"cannot load model {str(path)!r}: {_one_line(exc)}; save it again with this scikit-learn version"
        ) from exc


def _load_pickle(path: Path) -> Any:
    try:
        try:
            import joblib
        except ImportError:  # pragma: no cover - joblib ships with scikit-learn
            import pickle

            with open(path, "rb") as handle:
                return pickle.load(handle)
        return joblib.load(path)
    except Exception as exc:  # a pickle can fail in any way
        raise TinygenError(f"cannot load pickle {str(path)!r}: {_one_line(exc)}") from exc
