"""Peak memory of one fit, beside the data and parameters it must hold."""
import tracemalloc
import warnings

import numpy as np
from sklearn.exceptions import ConvergenceWarning
from sklearn.neural_network import MLPClassifier

import cnet
from cnet.bench.peers import mlp_params

# The fits measured: a workload's own front end in cnet, and scikit-learn's on the same
# multi-class work, so the extra memory has a point of comparison.
FITTERS = ("cnet", "scikit-learn")


def _model(wl, fitter):
    if fitter == "scikit-learn":
        return MLPClassifier(**mlp_params(wl, 1))
    if wl.multiclass:
        return cnet.MLPClassifier(**mlp_params(wl, 1))
    return cnet.NeuralNet(layers=wl.layers, learning_rate=wl.learning_rate, iterations=1,
                          batch_size=wl.batch_size, shuffle=False, loss_every=wl.loss_every,
                          random_state=0)


def peak_fit_memory(wl, fitter="cnet"):
    """Peak memory one epoch's fit allocates on ``wl`` in float32, by tracemalloc.

    cnet's front end is ``cnet.MLPClassifier`` for a multi-class workload and
    ``cnet.NeuralNet`` otherwise; ``fitter="scikit-learn"`` fits scikit-learn's
    ``MLPClassifier`` (multi-class workloads only). numpy reports its buffers to tracemalloc
    and the compiled loop takes its workspaces from Python's raw allocator, which tracemalloc
    also sees, so the peak covers parameters, gradients and workspaces; X itself exists before
    tracing starts.

    Parameters
    ----------
    wl : Workload
    fitter : {"cnet", "scikit-learn"}, default "cnet"

    Returns
    -------
    dict
        ``peak_extra_bytes``, ``X_bytes``, ``param_bytes``, ``extra_over_base`` (the peak over
        X + parameters) and ``total_over_base``.
    """
    if fitter not in FITTERS or (fitter == "scikit-learn" and not wl.multiclass):
        raise ValueError(f"fitter must be one of {FITTERS} (scikit-learn: multi-class "
                         f"workloads), got {fitter!r} for {wl.name}")
    X = wl.X.astype(np.float32)
    model = _model(wl, fitter)
    # Already tracing (a caller's own measurement): measure from here and leave it running.
    was_tracing = tracemalloc.is_tracing()
    if was_tracing:
        start = tracemalloc.get_traced_memory()[0]
        tracemalloc.reset_peak()
    else:
        start = 0
        tracemalloc.start()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            model.fit(X, wl.y)
        peak = tracemalloc.get_traced_memory()[1] - start
    finally:
        if not was_tracing:
            tracemalloc.stop()
    param_bytes = sum(a * b + b for a, b in zip(wl.layers[:-1], wl.layers[1:])) * X.itemsize
    base = X.nbytes + param_bytes
    return {"peak_extra_bytes": peak, "X_bytes": X.nbytes, "param_bytes": param_bytes,
            "extra_over_base": peak / base, "total_over_base": (base + peak) / base}
