"""Rows timed as whole fits: lbfgs on digits, and sparse text-like input.

lbfgs has no epochs (scipy's L-BFGS-B decides how many loss evaluations an iteration takes),
so the whole ``fit`` is timed; the sparse row runs a few epochs of Adam per fit and reports
the time per epoch. Each peer is warmed up with one fit (skipped with ``quick`` where a fit
takes seconds, since one-time costs are small beside it), then the timed fits go round the
peers in turn. A peer that raises is reported as ``failed: <reason>`` and the rest run on.
"""
import statistics
import time
import warnings

import numpy as np
import scipy.sparse as sp
from sklearn.datasets import load_digits
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import train_test_split
from sklearn.neural_network import MLPClassifier

import cnet
from cnet.bench.peers import failure

# cnet in both dtypes, then scikit-learn in both (it keeps float32 input in float32 since
# version 1.2 where it can; the table says what its weights came out as).
PEERS = (("cnet", cnet.MLPClassifier, "float64"), ("cnet", cnet.MLPClassifier, "float32"),
         ("sklearn", MLPClassifier, "float64"), ("sklearn", MLPClassifier, "float32"))


def _fit(make, X, y):
    with warnings.catch_warnings():
        # max_iter is what ends these fits; both estimators warn about it.
        warnings.simplefilter("ignore", ConvergenceWarning)
        return make().fit(X, y)


def time_fits(fits, repeats, settle_s, warm_up=True):
    """Median wall time of each of several whole fits, round-robin after a warm-up.

    Parameters
    ----------
    fits : dict of str to callable
        ``fit() -> fitted estimator``.
    repeats : int
    settle_s : float
        Seconds of rest before each timed fit (see ``cnet.bench.timing.SETTLE_S``).
    warm_up : bool
        Run each fit once untimed first.

    Returns
    -------
    dict of str to dict
        Per fit: ``seconds`` (median), ``runs_s`` and ``model`` (the last fitted estimator),
        or ``failed`` (the cell text) if it raised.
    """
    out = {name: {"runs_s": []} for name in fits}
    for round_ in range(repeats + (1 if warm_up else 0)):
        for name, fit in fits.items():
            if "failed" in out[name]:
                continue
            time.sleep(settle_s)
            start = time.perf_counter()
            try:
                model = fit()
            except Exception as exc:   # a peer's failure is a result, not a crash
                out[name] = {"failed": failure(exc), "error": repr(exc)}
                continue
            if round_ or not warm_up:
                out[name]["runs_s"].append(time.perf_counter() - start)
            out[name]["model"] = model
    for r in out.values():
        if "failed" not in r:
            r["seconds"] = statistics.median(r["runs_s"])
    return out


def lbfgs_rows(quick, repeats, settle_s):
    """``MLPClassifier(solver="lbfgs")`` of cnet and scikit-learn on 10-class digits.

    Same hidden layer (64 relu units), ``max_iter``, ``alpha`` (1e-4) and ``tol=0`` (so both
    run ``max_iter`` iterations unless the line search gives up), trained on 75 % of
    ``load_digits`` scaled to [0, 1] and scored on the other 25 %.

    Returns
    -------
    list of dict
        One per peer and dtype: wall time of the whole fit, iterations, accuracy.
    """
    X, y = load_digits(return_X_y=True)
    X_train, X_test, y_train, y_test = train_test_split(X / 16.0, y, random_state=0)
    max_iter = 100 if quick else 200
    params = dict(hidden_layer_sizes=(64,), solver="lbfgs", max_iter=max_iter, alpha=1e-4,
                  tol=0, random_state=0)
    data = {dtype: X_train.astype(dtype) for dtype in ("float64", "float32")}
    fits = {f"{name} {dtype}": (lambda cls=cls, X=data[dtype]: _fit(
        lambda: cls(**params), X, y_train)) for name, cls, dtype in PEERS}
    timed = time_fits(fits, repeats, settle_s)
    rows = []
    for (name, _, dtype), r in zip(PEERS, timed.values()):
        row = {"workload": "digits10-lbfgs", "peer": name, "dtype": dtype,
               "hidden_layer_sizes": [64], "max_iter": max_iter, "n_train": len(X_train)}
        if "failed" in r:
            row.update(failed=r["failed"], error=r["error"])
        else:
            model = r["model"]
            row.update(seconds=r["seconds"], runs_s=r["runs_s"], n_iter=int(model.n_iter_),
                       trained_dtype=str(model.coefs_[0].dtype),
                       test_accuracy=float(model.score(X_test.astype(dtype), y_test)))
        rows.append(row)
    return rows


def sparse_text_data(n_samples=20000, n_features=50000, density=0.001):
    """A CSR matrix like bag-of-words counts, and labels from a hidden linear rule.

    Non-negative values (uniform in [0, 1)), a fixed seed, and y = 1 where ``X @ w`` is above
    its median for a random normal ``w``: two balanced classes that a linear model can learn.
    """
    # A Generator, not an integer seed: with a RandomState, scipy picks the non-zero
    # positions by permuting all n_samples * n_features indices (8 GB here, minutes).
    X = sp.random(n_samples, n_features, density=density, format="csr",
                  random_state=np.random.default_rng(0))
    score = X @ np.random.default_rng(1).standard_normal(n_features)
    return X, (score > np.median(score)).astype(np.int64)


def sparse_rows(quick, repeats, settle_s):
    """cnet's and scikit-learn's ``MLPClassifier`` (Adam, 64 hidden units) on sparse CSR input.

    Same settings for both: batch 200, learning rate 0.001, no L2 penalty, no shuffling, no
    early stop; a fit runs 1 epoch with ``quick`` (one timed fit, no warm-up), else 3.

    Returns
    -------
    list of dict
        One per peer and dtype: seconds per epoch, or the failure.
    """
    X, y = sparse_text_data()
    epochs = 1 if quick else 3
    params = dict(hidden_layer_sizes=(64,), solver="adam", batch_size=200,
                  learning_rate_init=0.001, alpha=0, shuffle=False, max_iter=epochs, tol=0,
                  n_iter_no_change=10**9, random_state=0)
    data = {dtype: X.astype(dtype) for dtype in ("float64", "float32")}
    fits = {f"{name} {dtype}": (lambda cls=cls, X=data[dtype]: _fit(lambda: cls(**params), X, y))
            for name, cls, dtype in PEERS}
    timed = time_fits(fits, 1 if quick else repeats, settle_s, warm_up=not quick)
    rows = []
    for (name, _, dtype), r in zip(PEERS, timed.values()):
        row = {"workload": "sparse-text", "peer": name, "dtype": dtype,
               "shape": list(X.shape), "nnz": int(X.nnz), "hidden_layer_sizes": [64],
               "epochs_per_fit": epochs}
        if "failed" in r:
            row.update(failed=r["failed"], error=r["error"])
        else:
            model = r["model"]
            row.update(seconds_per_epoch=r["seconds"] / model.n_iter_, runs_s=r["runs_s"],
                       trained_dtype=str(model.coefs_[0].dtype),
                       train_accuracy=float(model.score(data[dtype], y)))
        rows.append(row)
    return rows


def print_lbfgs(rows):
    """The lbfgs table: whole-fit time, ratio to cnet float64, iterations, accuracy."""
    base = next((r["seconds"] for r in rows if r["peer"] == "cnet" and "seconds" in r), None)
    print(f"\ndigits10-lbfgs: MLPClassifier(solver=\"lbfgs\", hidden_layer_sizes=(64,), "
          f"max_iter={rows[0]['max_iter']}, tol=0) on {rows[0]['n_train']} rows of "
          f"load_digits; ms per whole fit, median; accuracy on the other 25 %")
    print(f"{'peer':<9}{'dtype':<9}{'fit ms':>10}{'/cnet f64':>11}{'iters':>7}"
          f"{'trained in':>12}{'accuracy':>10}")
    for r in rows:
        if "failed" in r:
            print(f"{r['peer']:<9}{r['dtype']:<9}  {r['failed']}")
            continue
        ratio = f"{r['seconds'] / base:.2f}x" if base else "-"
        print(f"{r['peer']:<9}{r['dtype']:<9}{r['seconds'] * 1e3:>10,.0f}{ratio:>11}"
              f"{r['n_iter']:>7}{r['trained_dtype']:>12}{r['test_accuracy']:>10.3f}", flush=True)


def print_sparse(rows):
    """The sparse table: seconds per epoch, ratio to cnet in the same dtype, or the failure."""
    first = rows[0]
    print(f"\nsparse-text: {first['shape'][0]:,} x {first['shape'][1]:,} CSR, "
          f"{first['nnz']:,} non-zeros; MLPClassifier(hidden_layer_sizes=(64,), "
          f"solver=\"adam\", batch_size=200), {first['epochs_per_fit']} epoch(s) per fit; "
          f"ms per epoch, median")
    print(f"{'peer':<9}{'dtype':<9}{'ms/epoch':>10}{'/cnet':>9}{'trained in':>12}"
          f"{'train acc':>11}")
    cnet_s = {r["dtype"]: r.get("seconds_per_epoch") for r in rows if r["peer"] == "cnet"}
    for r in rows:
        if "failed" in r:
            print(f"{r['peer']:<9}{r['dtype']:<9}  {r['failed']}", flush=True)
            continue
        base = cnet_s.get(r["dtype"])
        ratio = f"{r['seconds_per_epoch'] / base:.2f}x" if base else "-"
        print(f"{r['peer']:<9}{r['dtype']:<9}{r['seconds_per_epoch'] * 1e3:>10,.0f}{ratio:>9}"
              f"{r['trained_dtype']:>12}{r['train_accuracy']:>11.3f}", flush=True)
