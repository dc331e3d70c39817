"""Prediction time of cnet's MLPClassifier against scikit-learn's, and of its ONNX export in
onnxruntime, on the digits network.

Both estimators hold the same weights (a [64, 128, 10] network fitted by cnet on
``load_digits``, copied into scikit-learn's), and their probabilities are checked to agree
before anything is timed. For one sample and for 1,000, in float64 and float32, the table
gives the median time per call of ``predict`` and ``predict_proba``, the estimators timed in
alternating rounds so that the machine's noise falls on all alike. With the onnx extra
installed, a third column times cnet's model exported with ``to_onnx(dtype, zipmap=False)``
in an onnxruntime session asked for the same output (``label`` for predict,
``probabilities`` for predict_proba), after checking that it agrees too.

Each round first runs its function untimed for a while: cnet calls scipy's OpenBLAS and
scikit-learn numpy's, two libraries with a thread pool each, and a pool's threads keep
spinning for a moment after a call, taking the cores from the other library's threads. Timed
straight after the switch, both sides measured up to 3x slower on a 2-core machine.
onnxruntime's own pool is told not to spin for the same reason.

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


def alternating_medians(funcs, calls, repeats, settle_s):
    """Median seconds per call of each function, timed in alternating rounds."""
    times = [[] for _ in funcs]
    for _ in range(repeats):
        for func, spent in zip(funcs, times):
            spent.append(settled_per_call(func, calls, settle_s))
    return [statistics.median(spent) for spent in times]


def onnx_session(model, X):
    """An onnxruntime session of ``model``'s ONNX export, checked against predict_proba; None
    without the onnx extra."""
    try:
        import onnxruntime
    except ImportError:
        return None
    options = onnxruntime.SessionOptions()
    # A spinning pool would take the cores from the next round's library (see above).
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    session = onnxruntime.InferenceSession(
        model.to_onnx(dtype=X.dtype, zipmap=False).SerializeToString(), options,
        providers=["CPUExecutionProvider"])
    tolerance = 1e-10 if X.dtype == np.float64 else 1e-5
    probabilities = session.run(["probabilities"], {"X": X})[0]
    if not np.allclose(probabilities, model.predict_proba(X), atol=tolerance):
        raise RuntimeError("the ONNX export disagrees with cnet: nothing would be compared")
    return session


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    repeats, settle_s = (3, 0.1) if args.quick else (7, 0.25)
    X, y = load_digits(return_X_y=True)
    print(f"{'dtype':<8} {'rows':>5} {'method':<14} {'cnet µs':>9} {'sklearn µs':>11} "
          f"{'sklearn/cnet':>13} {'onnxrt µs':>10} {'onnxrt/cnet':>12}")
    for dtype in (np.float64, np.float32):
        Xd = np.ascontiguousarray(X / 16.0, dtype=dtype)
        ours, theirs = fitted_pair(Xd, y)
        session = onnx_session(ours, Xd)
        for rows in (1, 1000):
            batch = np.ascontiguousarray(Xd[:rows])
            calls = 2000 if rows == 1 else 100
            if args.quick:
                calls //= 10
            for method in ("predict", "predict_proba"):
                mine, sk = (getattr(model, method) for model in (ours, theirs))
                funcs = [lambda: mine(batch), lambda: sk(batch)]
                if session is not None:
                    output = ["label" if method == "predict" else "probabilities"]
                    funcs.append(lambda: session.run(output, {"X": batch}))
                t_ours, t_theirs, *t_onnx = alternating_medians(funcs, calls, repeats,
                                                                settle_s)
                onnx_cells = (f"{t_onnx[0] * 1e6:>10.1f} {t_onnx[0] / t_ours:>11.2f}x"
                              if t_onnx else f"{'-':>10} {'-':>12}")
                print(f"{np.dtype(dtype).name:<8} {rows:>5} {method:<14} {t_ours * 1e6:>9.1f} "
                      f"{t_theirs * 1e6:>11.1f} {t_theirs / t_ours:>12.2f}x {onnx_cells}")

if __name__ == "__main__":
    main()
