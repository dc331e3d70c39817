"""The fixed costs of a call: a one-epoch fit on 240x2, a one-row prediction, ``import cnet``.

Where the network does almost nothing (``[2, 5, 1]``, one epoch over make_moons' 240 samples;
one row), the time of a call is what surrounds the network: validation, the estimator's
bookkeeping, building the training spec. The table gives the median time per call of

- ``fit`` with ``max_iter=1`` (``iterations=1``) for cnet's ``MLPClassifier``,
  ``MLPRegressor`` and ``NeuralNet`` and scikit-learn's ``MLPClassifier`` and ``MLPRegressor``;
- ``predict_proba`` (``predict`` for the regressors) of one row for the same five, and
  torch's forward pass of the same network (under ``no_grad``), if torch is installed;
- ``import cnet``, ``import cnet; cnet.MLPClassifier`` and ``import sklearn.neural_network``,
  each in a fresh interpreter (the median of ``--imports`` runs).

The rows of a group are timed in alternating rounds, so that the machine's noise falls on all
of them alike. The predictions are checked to agree before they are timed (cnet's against
scikit-learn's and torch's holding the same weights).

The cnet timed is the one Python imports: run from a checkout, or point ``PYTHONPATH`` at one
(``PYTHONPATH=/path/to/other/checkout python benchmarks/fixed_costs.py``) to compare two; set
``CNET_CPU`` to the same compiled variant for both, so that only the Python around the
network differs.

Usage: ``python benchmarks/fixed_costs.py [--quick]``
"""
import argparse
import os
import statistics
import subprocess
import sys
import time
import warnings
from pathlib import Path

import numpy as np
from sklearn.datasets import make_moons
from sklearn.exceptions import ConvergenceWarning
from sklearn.neural_network import MLPClassifier, MLPRegressor

import cnet


def median_time(call, repeat, warmup):
    """Median seconds of ``call()`` over ``repeat`` calls, after ``warmup`` untimed ones."""
    for _ in range(warmup):
        call()
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        call()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def alternate(calls, rounds, repeat, warmup):
    """``{name: median seconds}``, the calls timed in ``rounds`` alternating rounds (the
    median of the rounds' medians)."""
    found = {name: [] for name in calls}
    for _ in range(rounds):
        for name, call in calls.items():
            found[name].append(median_time(call, repeat, warmup))
    return {name: statistics.median(times) for name, times in found.items()}


def fit_calls(X, y):
    """One-epoch fits, scikit-learn's MLP defaults otherwise (adam, batch of 200)."""
    y_float = y.astype(float)
    return {
        "cnet MLPClassifier": lambda: cnet.MLPClassifier((5,), max_iter=1).fit(X, y),
        "cnet MLPRegressor": lambda: cnet.MLPRegressor(hidden_layer_sizes=(5,),
                                                       max_iter=1).fit(X, y_float),
        "cnet NeuralNet": lambda: cnet.NeuralNet(layers=[2, 5, 1], iterations=1).fit(X, y),
        "sklearn MLPClassifier": lambda: MLPClassifier((5,), max_iter=1).fit(X, y),
        "sklearn MLPRegressor": lambda: MLPRegressor(hidden_layer_sizes=(5,),
                                                     max_iter=1).fit(X, y_float),
    }


def torch_forward(net):
    """Torch's forward of ``net``'s network (float64, its weights), or None without torch."""
    try:
        import torch
    except ImportError:
        return None
    torch.set_num_threads(1)
    first, second = torch.nn.Linear(2, 5).double(), torch.nn.Linear(5, 1).double()
    with torch.no_grad():
        first.weight.copy_(torch.from_numpy(net.params["W1"].T.copy()))
        first.bias.copy_(torch.from_numpy(net.params["b1"].copy()))
        second.weight.copy_(torch.from_numpy(net.params["W2"].T.copy()))
        second.bias.copy_(torch.from_numpy(net.params["b2"].copy()))
    model = torch.nn.Sequential(first, torch.nn.ReLU(), second, torch.nn.Sigmoid())

    def forward(row):
        with torch.no_grad():
            return model(torch.from_numpy(row)).numpy()
    return forward


def prediction_calls(X, y):
    """One-row predictions of fitted models, checked to agree where they share weights."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        net = cnet.NeuralNet(layers=[2, 5, 1], iterations=200, learning_rate=0.05,
                             random_state=0).fit(X, y)
        ours = cnet.MLPClassifier((5,), max_iter=20, random_state=0).fit(X, y)
        theirs = MLPClassifier((5,), max_iter=1, random_state=0).fit(X, y)
        regressor = cnet.MLPRegressor(hidden_layer_sizes=(5,), max_iter=20,
                                      random_state=0).fit(X, y.astype(float))
        their_regressor = MLPRegressor(hidden_layer_sizes=(5,), max_iter=1,
                                       random_state=0).fit(X, y.astype(float))
    theirs.coefs_ = [W.copy() for W in ours.coefs_]
    theirs.intercepts_ = [b.copy() for b in ours.intercepts_]
    their_regressor.coefs_ = [W.copy() for W in regressor.coefs_]
    their_regressor.intercepts_ = [b.copy() for b in regressor.intercepts_]
    row = np.ascontiguousarray(X[:1])
    np.testing.assert_allclose(ours.predict_proba(X), theirs.predict_proba(X), rtol=1e-10)
    np.testing.assert_allclose(regressor.predict(X), their_regressor.predict(X), rtol=1e-10,
                               atol=1e-12)
    calls = {
        "cnet NeuralNet.predict_proba": lambda: net.predict_proba(row),
        "cnet MLPClassifier.predict_proba": lambda: ours.predict_proba(row),
        "cnet MLPRegressor.predict": lambda: regressor.predict(row),
        "sklearn MLPClassifier.predict_proba": lambda: theirs.predict_proba(row),
        "sklearn MLPRegressor.predict": lambda: their_regressor.predict(row),
    }
    forward = torch_forward(net)
    if forward is not None:
        np.testing.assert_allclose(forward(np.ascontiguousarray(X))[:, 0],
                                   net.predict_proba(X)[:, 1], rtol=1e-10)
        calls["torch forward (no_grad)"] = lambda: forward(row)
    return calls


IMPORTS = {
    "import cnet": "import cnet",
    "import cnet; cnet.MLPClassifier": "import cnet; cnet.MLPClassifier",
    "import sklearn.neural_network": "import sklearn.neural_network",
}


def import_times(runs):
    """``{statement: median seconds}``, each statement timed in ``runs`` fresh interpreters,
    importing the cnet this process imported."""
    root = str(Path(cnet.__file__).resolve().parent.parent)
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(
        [root, *filter(None, [os.environ.get("PYTHONPATH")])]))
    found = {name: [] for name in IMPORTS}
    for _ in range(runs):
        for name, statement in IMPORTS.items():
            code = (f"import time; start = time.perf_counter(); {statement}; "
                    f"print(time.perf_counter() - start)")
            # From the checkout's root: "-c" puts the working directory first on sys.path.
            out = subprocess.run([sys.executable, "-c", code], env=env, check=True, cwd=root,
                                 capture_output=True, text=True).stdout
            found[name].append(float(out))
    return {name: statistics.median(times) for name, times in found.items()}


def show(title, times, unit, scale, reference=None):
    print(f"\n{title}")
    width = max(len(name) for name in times)
    for name, seconds in times.items():
        ratio = "" if reference is None else f"  {seconds / times[reference]:6.2f}x"
        print(f"  {name:<{width}}  {seconds * scale:10.1f} {unit}{ratio}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer calls and rounds")
    parser.add_argument("--imports", type=int, default=5,
                        help="fresh interpreters per import statement (default 5)")
    args = parser.parse_args()
    rounds, fits, predictions = (3, 30, 300) if args.quick else (5, 100, 2000)
    X, y = make_moons(240, noise=0.2, random_state=0)
    print(f"cnet from {Path(cnet.__file__).resolve().parent} "
          f"(compiled variant: {cnet._cpu.active()}), numpy {np.__version__}")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        fit = alternate(fit_calls(X, y), rounds, fits, fits // 5)
    show("fit, one epoch, 240x2, [2, 5, 1] (median per call)", fit, "us", 1e6,
         "sklearn MLPClassifier")
    predict = alternate(prediction_calls(X, y), rounds, predictions, predictions // 5)
    show("one-row prediction, [2, 5, 1] (median per call)", predict, "us", 1e6,
         "sklearn MLPClassifier.predict_proba")
    show(f"import, fresh interpreter (median of {args.imports})",
         import_times(args.imports), "ms", 1e3, "import sklearn.neural_network")


if __name__ == "__main__":
    main()
