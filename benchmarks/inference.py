"""Prediction time of cnet's MLPClassifier against scikit-learn's, on the digits network.

Both estimators hold the same weights (a [64, 128, 10] network fitted by cnet on
``load_digits``, copied into scikit-learn's), and their probabilities are checked to agree
before anything is timed. For one sample and for 1,000, in float64 and float32, the table
gives the median time per call of ``predict`` and ``predict_proba``, the two estimators
timed in alternating rounds so that the machine's noise falls on both alike.

Each round first runs its function untimed for a while: cnet calls scipy's OpenBLAS and
scikit-learn numpy's, two libraries with a thread pool each, and a pool's threads keep
spinning for a moment after a call, taking the cores from the other library's threads. Timed
straight after the switch, both sides measured up to 3x slower on a 2-core machine.

Usage: ``python benchmarks/inference.py [--quick]``
"""
import argparse
import statistics
import time
import warnings

import numpy as np
from sklearn.datasets import load_digits
from sklearn.exceptions import ConvergenceWarning
from sklearn.neural_network import MLPClassifier

import cnet


def fitted_pair(X, y):
    """cnet's MLPClassifier fitted on X, y and scikit-learn's holding the same weights."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        ours = cnet.MLPClassifier(hidden_layer_sizes=(128,), max_iter=5, random_state=0)
        ours.fit(X, y)
        # scikit-learn's fit sets up classes and layers; the weights are then replaced.
        theirs = MLPClassifier(hidden_layer_sizes=(128,), max_iter=1, random_state=0)
        theirs.fit(X, y)
    theirs.coefs_ = [W.astype(X.dtype) for W in ours.coefs_]
    theirs.intercepts_ = [b.astype(X.dtype) for b in ours.intercepts_]
    tolerance = 1e-10 if X.dtype == np.float64 else 1e-5
    if not np.allclose(ours.predict_proba(X), theirs.predict_proba(X), atol=tolerance):
        raise RuntimeError("the two estimators disagree: nothing would be compared")
    return ours, theirs


def per_call(func, calls):
    start = time.perf_counter()
    for _ in range(calls):
        func()
    return (time.perf_counter() - start) / calls


def settled_per_call(func, calls, settle_s):
    """Seconds per call of func over ``calls`` calls, after running it untimed for settle_s."""
    end = time.perf_counter() + settle_s
    while time.perf_counter() < end:
        func()
    return per_call(func, calls)


def alternating_medians(func_a, func_b, calls, repeats, settle_s):
    """Median seconds per call of each function, timed in alternating rounds."""
    a, b = [], []
    for _ in range(repeats):
        a.append(settled_per_call(func_a, calls, settle_s))
        b.append(settled_per_call(func_b, calls, settle_s))
    return statistics.median(a), statistics.median(b)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    repeats, settle_s = (3, 0.1) if args.quick else (7, 0.25)
    X, y = load_digits(return_X_y=True)
    print(f"{'dtype':<8} {'rows':>5} {'method':<14} {'cnet µs':>9} {'sklearn µs':>11} "
          f"{'sklearn/cnet':>13}")
    for dtype in (np.float64, np.float32):
        Xd = np.ascontiguousarray(X / 16.0, dtype=dtype)
        ours, theirs = fitted_pair(Xd, y)
        for rows in (1, 1000):
            batch = np.ascontiguousarray(Xd[:rows])
            calls = 2000 if rows == 1 else 100
            if args.quick:
                calls //= 10
            for method in ("predict", "predict_proba"):
                mine, sk = (getattr(model, method) for model in (ours, theirs))
                t_ours, t_theirs = alternating_medians(lambda: mine(batch), lambda: sk(batch),
                                                       calls, repeats, settle_s)
                print(f"{np.dtype(dtype).name:<8} {rows:>5} {method:<14} {t_ours * 1e6:>9.1f} "
                      f"{t_theirs * 1e6:>11.1f} {t_theirs / t_ours:>12.2f}x")


if __name__ == "__main__":
    main()
