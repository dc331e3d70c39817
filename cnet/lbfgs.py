"""Full-batch L-BFGS: scipy's L-BFGS-B over cnet's loss and gradient of the whole data set.

The optimizer is scipy's (``scipy.optimize.minimize(method="L-BFGS-B")``); cnet supplies the
objective, the mean loss over all samples plus the L2 penalty, and its gradient, computed by
the compiled kernels (or their numpy twin) in the parameters' own dtype. scipy works in
float64, so a float32 network's parameters are rounded to float32 at every evaluation: the
objective scipy sees is exactly the one the float32 network has.
"""
from typing import NamedTuple

import numpy as np
import scipy.optimize

from cnet import engine


class LbfgsResult(NamedTuple):
    """What :func:`minimize` reports."""

    n_iter: int             # iterations done
    loss: float             # the objective at the parameters returned
    converged: bool
    message: str            # scipy's reason for stopping
    status: int
    interrupted: bool = False   # a KeyboardInterrupt stopped it


def minimize(backend, params, network, X, Y, *, sample_weight=None,
             alpha=0.0, max_iter=200, max_fun=15000, tol=1e-4, callback=None):
    """Minimize the training objective over ``params`` (updated in place) by L-BFGS-B.

    Parameters
    ----------
    backend : str
        ``"cython"`` or ``"numpy"``.
    params : ndarray of shape (n_parameters,)
        Flat parameter vector, float32 or float64: the starting point, overwritten with the
        result.
    network, X, Y, sample_weight
        As for :func:`cnet.engine.loss_and_gradient`.
    alpha : float
        L2 penalty ``0.5 * alpha * sum(W**2)`` over the weight sum.
    max_iter, max_fun : int
        Most iterations, and most evaluations of the objective.
    tol : float
        Stop when the largest gradient component is at most this (scipy's ``gtol``).
    callback : callable, optional
        Called after each iteration as ``callback(loss, x)``: the objective's value there and
        the iterate (float64).

    Returns
    -------
    LbfgsResult
        On KeyboardInterrupt (Ctrl-C) the search stops and ``params`` holds the best point
        evaluated so far (the lowest objective; the starting point if none was evaluated
        whole), with ``interrupted`` set; the interrupt does not propagate.
    """
    grad = np.empty_like(params)
    start = params.copy()
    # The lowest objective evaluated whole, and where: what an interrupted search keeps.
    best = {"loss": np.inf, "x": None}
    iterations = [0]

    def objective(x):
        params[...] = x
        loss, _ = engine.loss_and_gradient(backend, params, network, X, Y,
                                           sample_weight=sample_weight, alpha=alpha,
                                           grad=grad)
        if loss < best["loss"]:
            best["loss"], best["x"] = loss, params.copy()
        return loss, grad.astype(np.float64)

    def report(intermediate_result):
        iterations[0] += 1
        if callback is not None:
            callback(float(intermediate_result.fun), intermediate_result.x)

    try:
        result = scipy.optimize.minimize(
            objective, params.astype(np.float64), method="L-BFGS-B", jac=True,
            callback=report,
            options={"maxiter": int(max_iter), "maxfun": int(max_fun), "gtol": float(tol)})
    except KeyboardInterrupt:
        params[...] = start if best["x"] is None else best["x"]
        loss = best["loss"] if best["x"] is not None else np.nan
        return LbfgsResult(iterations[0], float(loss), False,
                           "interrupted by the user (KeyboardInterrupt)", -1, True)
    params[...] = result.x
    message = result.message if isinstance(result.message, str) else result.message.decode()
    return LbfgsResult(int(min(result.nit, max_iter)), float(result.fun),
                       bool(result.status == 0), message, int(result.status))
