"""tinygen: scikit-learn models -> small, verified fixed-point C for microcontrollers.

    model = tinygen.convert(estimator, dtype="q15", calibration=X_train)
    model.predict(X); model.scores(X)          # the bit-exact simulator
    model.save("out/", name="activity")        # out/activity.h + out/activity.json
    result = tinygen.search(X, y, board="uno", max_latency_ms=5)   # result.front, result.best, result.estimator
"""
__version__ = "0.1.0"

from .api import ConvertedModel, convert, load  # noqa: E402
from .errors import TinygenError  # noqa: E402


def __getattr__(name):
    """search and SearchResult load on first use: the search pulls in the whole model grid, which plain
    conversions do not need (and `python3 -m tinygen.costmodel` must run before the search imports it)."""
    if name in ("search", "SearchResult"):
        from . import model_search

        return getattr(model_search, name)
    raise AttributeError(f"module 'tinygen' has no attribute {name!r}")


__all__ = ["convert", "load", "search", "ConvertedModel", "SearchResult", "TinygenError", "__version__"]
