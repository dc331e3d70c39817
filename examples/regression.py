"""Regression: MLPRegressor on scikit-learn's diabetes data, next to scikit-learn's own.

Run: ``python examples/regression.py``
"""
import warnings

from sklearn.datasets import load_diabetes
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import train_test_split
from sklearn.neural_network import MLPRegressor as SklearnMLPRegressor
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

import cnet


def main():
    X, y = load_diabetes(return_X_y=True)
    X_train, X_test, y_train, y_test = train_test_split(X, y, random_state=0)
    scores = {}
    for name, Model in (("cnet", cnet.MLPRegressor), ("scikit-learn", SklearnMLPRegressor)):
        model = make_pipeline(StandardScaler(), Model(hidden_layer_sizes=(32,), max_iter=500,
                                                      learning_rate_init=0.01, random_state=0))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            model.fit(X_train, y_train)
        scores[name] = model.score(X_test, y_test)
        print(f"{name:<13} test R² {scores[name]:.3f}")
    return scores


if __name__ == "__main__":
    main()
