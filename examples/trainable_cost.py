"""The cost of one integer partial_fit step on the Arduino Uno (ATmega328P under simavr, exact cycles): a 30-feature
binary q15 model, breast_cancer, Pipeline(StandardScaler, SGDClassifier) with log_loss and hinge (issue 17's goal: at
most 10,000 cycles and 256 B for the state and the step's stack). Prints, asserts nothing.

    PYTHONPATH=. python3 examples/trainable_cost.py
"""
import tempfile
from pathlib import Path
import numpy as np
from sklearn.datasets import load_breast_cancer
from sklearn.linear_model import SGDClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
import tinygen
from tinygen.targets import avr

X, y = load_breast_cancer(return_X_y=True)
for loss in ("log_loss", "hinge"):
    est = make_pipeline(StandardScaler(), SGDClassifier(loss=loss, random_state=0)).fit(X, y)
    model = tinygen.convert(est, calibration=X, trainable=True)
    with tempfile.TemporaryDirectory() as tmp:
        header = model.save(tmp, "m")["header"]
        index = np.random.default_rng(0).integers(0, len(X), 100)
        m = avr.measure(model.program, Path(header), "m", X[:20], updates=(X[index], y[index]))
    e = m.extra
    print(f"{loss}: partial_fit {e['cycles_partial_fit']:.0f} cycles (min {e['cycles_partial_fit_min']}, max "
          f"{e['cycles_partial_fit_max']}), state {e['state_bytes']} B + 1 B flag, step stack {e['stack_bytes_partial_fit']} B; "
          f"predict {m.cycles_per_inference:.0f} cycles, predict_q {e['cycles_predict_q']:.0f}; flash {m.flash_bytes} B, "
          f"RAM {m.ram_bytes} B")
