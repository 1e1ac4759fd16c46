"""tinygen from Python: fit, convert to q15, check the simulator, save the header (README "Python API")."""
import sys

from sklearn.datasets import load_wine
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

import tinygen

X, y = load_wine(return_X_y=True)
X_train, X_test, y_train, y_test = train_test_split(X, y, random_state=0)
estimator = make_pipeline(StandardScaler(), LogisticRegression(max_iter=5000)).fit(X_train, y_train)

model = tinygen.convert(estimator, dtype="q15", calibration=X_train)
print("float accuracy:", (estimator.predict(X_test) == y_test).mean())
print("q15 accuracy:  ", (model.predict(X_test) == y_test).mean())   # the bit-exact simulator
print("raw scores of the first row:", model.scores(X_test[:1])[0])   # what wine_scores() writes in C
paths = model.save(sys.argv[1] if len(sys.argv) > 1 else "out", name="wine")
print("wrote", paths["header"], "and", paths["manifest"])
