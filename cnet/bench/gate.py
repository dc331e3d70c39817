"""The correctness gate: a peer's time counts only if it trains what cnet trains.

Every peer starts from the same initial weights as cnet, runs the same epochs on the same
batches, and the mean training loss of the weights it ends with must equal that of cnet's
within a relative tolerance. A peer with a wrong gradient, a different loss or another
optimizer lands elsewhere and is reported as failing, not timed. The loss is evaluated here,
in float64 numpy, for every peer alike, so no peer grades itself.
"""
import numpy as np
from sklearn.utils import check_random_state

from cnet.bench.peers import failure

# Relative tolerance on the loss after the gate's epochs. float64 peers differ from cnet
# only by summation order (about 1e-14 relative after hundreds of epochs); float32 ones by
# about 1e-6, so these bounds leave room without letting a wrong gradient through.
RTOL = {"float64": 1e-6, "float32": 1e-3}


def he_normal_weights(layers, dtype, random_state=0):
    """The weights ``cnet.NeuralNet(random_state=...)`` starts from, biases zero.

    Drawn here rather than read from a fitted model so the gate needs no private state; the
    tests check that they equal ``NeuralNet(iterations=0).fit(...).params``.
    """
    rng = check_random_state(random_state)
    weights, biases = [], []
    for k, (n_in, n_out) in enumerate(zip(layers[:-1], layers[1:])):
        gain = 2.0 if k < len(layers) - 2 else 1.0   # relu hidden layers, linear output
        weights.append((rng.standard_normal((n_in, n_out)) * np.sqrt(gain / n_in))
                       .astype(dtype))
        biases.append(np.zeros(n_out, dtype=dtype))
    return weights, biases


def glorot_uniform_weights(layers, dtype, random_state=0):
    """The weights ``cnet.MLPClassifier(random_state=...)`` (and scikit-learn's) starts from.

    Each layer's weights, then its biases, uniform in ``±sqrt(6 / (n_in + n_out))``.
    """
    rng = check_random_state(random_state)
    weights, biases = [], []
    for n_in, n_out in zip(layers[:-1], layers[1:]):
        bound = np.sqrt(6.0 / (n_in + n_out))
        weights.append(rng.uniform(-bound, bound, (n_in, n_out)).astype(dtype))
        biases.append(rng.uniform(-bound, bound, n_out).astype(dtype))
    return weights, biases


def mean_loss(weights, biases, X, y, multiclass):
    """Mean cross-entropy of a relu network with these parameters on X, y, in float64.

    Binary: one logistic output unit, ``y`` in {0, 1}. Multi-class: softmax over the
    outputs, ``y`` the class index.
    """
    A = np.asarray(X, dtype=np.float64)
    params = [(np.asarray(W, np.float64), np.asarray(b, np.float64))
              for W, b in zip(weights, biases)]
    for W, b in params[:-1]:
        A = np.maximum(A @ W + b, 0.0)
    Z = A @ params[-1][0] + params[-1][1]
    if multiclass:
        top = Z.max(axis=1)
        log_norm = top + np.log(np.exp(Z - top[:, None]).sum(axis=1))
        return float(np.mean(log_norm - Z[np.arange(len(Z)), y]))
    z = Z[:, 0]
    return float(np.mean(np.logaddexp(0.0, z) - y * z))


def check(run_from, reference_loss, start, epochs, X, y, multiclass, dtype_name):
    """Run one peer's gate.

    Parameters
    ----------
    run_from : callable
        ``run_from(weights, biases, epochs) -> (weights, biases)``: the peer's training from
        the given start (lists of arrays, not modified).
    reference_loss : float
        cnet's loss after the same epochs from the same start.
    start : tuple of (list of ndarray, list of ndarray)
    epochs : int
    X, y, multiclass
        The training data, as :func:`mean_loss` takes them.
    dtype_name : {"float64", "float32"}
        Picks the tolerance in :data:`RTOL`.

    Returns
    -------
    dict
        ``passed`` (bool), ``loss``, ``reference_loss``, ``rel_diff`` and ``rtol``.
    """
    weights, biases = run_from(*start, epochs)
    loss = mean_loss(weights, biases, X, y, multiclass)
    rel = abs(loss - reference_loss) / max(abs(reference_loss), 1e-300)
    return {"passed": bool(np.isfinite(loss) and rel <= RTOL[dtype_name]), "loss": loss,
            "reference_loss": reference_loss, "rel_diff": rel, "rtol": RTOL[dtype_name]}


def gate_peers(peers, start, epochs, X, y, multiclass, dtype_name):
    """Run every peer's gate against cnet's (``peers["cnet"]``); a peer that raises fails.

    Returns
    -------
    dict of str to dict
        Per peer other than cnet: :func:`check`'s outcome, or ``passed`` False with
        ``failed`` (``"failed: <reason>"``) and ``error``.
    """
    reference = mean_loss(*peers["cnet"].run_from(*start, epochs), X, y, multiclass)
    out = {}
    for name, peer in peers.items():
        if name == "cnet":
            continue
        try:
            out[name] = check(peer.run_from, reference, start, epochs, X, y, multiclass,
                              dtype_name)
        except Exception as exc:   # a peer's failure is a result, not a crash
            out[name] = {"passed": False, "failed": failure(exc), "error": repr(exc)}
    return out
