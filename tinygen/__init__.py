"""tinygen: scikit-learn models -> small, verified fixed-point C for microcontrollers.

    model = tinygen.convert(estimator, dtype="q15", calibration=X_train)
    model.predict(X); model.scores(X)          # the bit-exact simulator
    model.save("out/", name="activity")        # out/activity.h + out/activity.json
    result = tinygen.search(X, y, board="uno", max_latency_ms=5)   # result.front, result.best, result.estimator
"""
# first: emit.py and ir.py still take __version__ from this package, which they are imported by (see
# tests/test_structure.py)
from .version import __version__  # isort: skip

from .api import ConvertedModel, convert, load
from .errors import TinygenError
from .model_search import SearchResult, search

__all__ = ["convert", "load", "search", "ConvertedModel", "SearchResult", "TinygenError", "__version__"]
