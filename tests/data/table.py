"""Prints the README's table of real sensor data: 5-fold cross-validated accuracy of the float model and of the
exported program in q15 and q7, for the models and data of tests/test_real_sensor_data.py, and the refinements
q7 took (python3 tests/data/table.py; about 20 s)."""
import sys
import warnings
from pathlib import Path

from sklearn.model_selection import StratifiedKFold

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
import tinygen  # noqa: E402
from test_real_sensor_data import MODELS, SETS, load  # noqa: E402


def main() -> None:
    warnings.filterwarnings("ignore")  # convergence warnings of the fits
    for name in SETS:
        _, X, y = load(name)
        for kind, make in MODELS.items():
            hits, refinements = {"float": 0, "q15": 0, "q7": 0}, set()
            for train, test in StratifiedKFold(5, shuffle=True, random_state=0).split(X, y):
                estimator = make().fit(X[train], y[train])
                hits["float"] += int((estimator.predict(X[test]) == y[test]).sum())
                for dtype in ("q15", "q7"):
                    model = tinygen.convert(estimator, dtype=dtype, calibration=X[train])
                    hits[dtype] += int((model.predict(X[test]) == y[test]).sum())
                    if dtype == "q7":
                        refinements |= {n.split(":")[0] for n in model.program.notes if "score error falls" in n}
            row = " | ".join(f"{hits[k] / len(y):.4f}" for k in ("float", "q15", "q7"))
            print(f"| {name} | {kind} | {row} | {'; '.join(sorted(refinements)) or '-'} |")


if __name__ == "__main__":
    main()
