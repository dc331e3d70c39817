"""numba peers: the binary network trained by code compiled with ``numba.njit``.

- ``numba-loops``: forward pass, backward pass and SGD update written as explicit loops over
  samples and units, for any number of relu hidden layers (the layers' arrays are passed as
  tuples, which numba indexes like lists).
- ``numba-np``: the tutorials' numpy code (one hidden layer: ``X @ W1 + b1``, ``np.maximum``,
  sigmoid, the backward pass as matrix products) with the correct gradient, compiled in
  numba's nopython mode; its matrix products go to BLAS.

- ``numba-loops-fm``, ``numba-np-fm``: the same two functions compiled with
  ``fastmath=True``, which lets LLVM reassociate sums (and so vectorise the loops over units
  and samples) and assume no NaN or infinity; they must pass the same gate as the others.

All train full batches of mean binary cross-entropy with plain SGD in the data's dtype, and
compute the loss on the epochs cnet records it. numba compiles on the first call; the gate
(:mod:`cnet.bench.gate`) makes that call, so compile time is not in any timed fit.
"""
import numpy as np

from cnet.bench.peers import Peer

try:
    import numba
except ImportError:
    numba = None

FORMS = ("numba-loops", "numba-np", "numba-loops-fm", "numba-np-fm")


def version():
    """numba's version, or None when it is not installed."""
    return None if numba is None else numba.__version__


def _njit(fn, fastmath=False):
    # Without numba the functions stay plain Python; they are then never called.
    return numba.njit(fastmath=fastmath)(fn) if numba is not None else fn


def _loops_epochs(As, dZs, Ws, bs, dWs, dbs, Y, lr, epochs, loss_every, losses):
    """``epochs`` epochs of full-batch SGD, all in explicit loops.

    ``As[0]`` is X and ``As[l]`` the output of layer l (n x units; the last holds logits);
    ``dZs[l]`` the gradient of the loss with respect to layer l+1's pre-activation; ``dWs``
    and ``dbs`` receive the gradients. Parameters are updated in place.
    """
    L = len(Ws)
    n = As[0].shape[0]
    for epoch in range(epochs):
        for l in range(L):
            A_in, A_out, W, b = As[l], As[l + 1], Ws[l], bs[l]
            for i in range(n):
                for j in range(W.shape[1]):
                    A_out[i, j] = b[j]
                for k in range(W.shape[0]):
                    a = A_in[i, k]
                    for j in range(W.shape[1]):   # inner loop along contiguous memory
                        A_out[i, j] += a * W[k, j]
                if l < L - 1:
                    for j in range(W.shape[1]):
                        if A_out[i, j] < 0:
                            A_out[i, j] = 0
        record = epoch % loss_every == 0
        loss = 0.0
        out, dZ = As[L], dZs[L - 1]
        for i in range(n):
            z, y = out[i, 0], Y[i, 0]
            if z >= 0:   # the sigmoid by the sign of z, so exp never overflows
                p = 1.0 / (1.0 + np.exp(-z))
            else:
                e = np.exp(z)
                p = e / (1.0 + e)
            dZ[i, 0] = (p - y) / n
            if record:
                loss += max(z, 0.0) - z * y + np.log1p(np.exp(-abs(z)))
        if record:
            losses[epoch // loss_every] = loss / n
        for l in range(L - 1, -1, -1):
            A_in, dZ, W, b, dW, db = As[l], dZs[l], Ws[l], bs[l], dWs[l], dbs[l]
            dW[:, :] = 0
            db[:] = 0
            for i in range(n):
                for k in range(W.shape[0]):
                    a = A_in[i, k]
                    for j in range(W.shape[1]):
                        dW[k, j] += a * dZ[i, j]
                for j in range(W.shape[1]):
                    db[j] += dZ[i, j]
            if l > 0:   # the gradient into the layer below, through its relu, before W moves
                dA = dZs[l - 1]
                for i in range(n):
                    for k in range(W.shape[0]):
                        dA[i, k] = 0
                        if A_in[i, k] > 0:
                            for j in range(W.shape[1]):
                                dA[i, k] += dZ[i, j] * W[k, j]
            for k in range(W.shape[0]):
                for j in range(W.shape[1]):
                    W[k, j] -= lr * dW[k, j]
            for j in range(W.shape[1]):
                b[j] -= lr * db[j]


def _numpy_epochs(X, Y, W1, b1, W2, b2, lr, inv_n, zero, one, epochs, loss_every, losses):
    """The tutorials' numpy training loop, one hidden relu layer, with the true gradient.

    The scalars come in the data's dtype (``inv_n`` is 1 / n_samples), so float32 stays
    float32: numba widens float32 arrays combined with Python floats or integers.
    """
    for epoch in range(epochs):
        Z1 = X @ W1 + b1
        A1 = np.maximum(Z1, zero)
        Z2 = A1 @ W2 + b2
        P = one / (one + np.exp(-Z2))
        if epoch % loss_every == 0:
            losses[epoch // loss_every] = np.mean(
                np.maximum(Z2, zero) - Z2 * Y + np.log1p(np.exp(-np.abs(Z2))))
        dZ2 = (P - Y) * inv_n
        dW2 = A1.T @ dZ2
        db2 = dZ2.sum(axis=0)
        dZ1 = (dZ2 @ W2.T) * (Z1 > zero)
        dW1 = X.T @ dZ1
        db1 = dZ1.sum(axis=0)
        W1 -= lr * dW1
        b1 -= lr * db1
        W2 -= lr * dW2
        b2 -= lr * db2


# Each form compiled twice: IEEE arithmetic as written, and fastmath.
_LOOPS = {False: _njit(_loops_epochs), True: _njit(_loops_epochs, fastmath=True)}
_NUMPY = {False: _njit(_numpy_epochs), True: _njit(_numpy_epochs, fastmath=True)}


def numba_peers(wl, X, start):
    """The numba peers that fit ``wl``: full batch, binary, SGD.

    ``numba-loops`` and ``numba-loops-fm`` for any depth, ``numba-np`` and ``numba-np-fm``
    for one hidden layer.

    Parameters
    ----------
    wl : Workload
    X : ndarray of shape (n_samples, n_features)
    start : tuple of (list of ndarray, list of ndarray)
        The initial weights and biases of every timed fit (cnet's).

    Returns
    -------
    dict of str to Peer
    """
    dtype = X.dtype.type
    Y = wl.y.astype(X.dtype).reshape(-1, 1)
    n, every = len(X), wl.loss_every

    # Work arrays are allocated once per fit, as cnet allocates its workspaces.
    def run_loops(weights, biases, epochs, fastmath):
        Ws = tuple(np.array(W, dtype=X.dtype) for W in weights)
        bs = tuple(np.array(b, dtype=X.dtype) for b in biases)
        As = (X,) + tuple(np.empty((n, W.shape[1]), X.dtype) for W in Ws)
        dZs = tuple(np.empty((n, W.shape[1]), X.dtype) for W in Ws)
        losses = np.empty(-(-epochs // every))
        _LOOPS[fastmath](As, dZs, Ws, bs, tuple(np.empty_like(W) for W in Ws),
                      tuple(np.empty_like(b) for b in bs), Y, dtype(wl.learning_rate),
                      epochs, every, losses)
        return list(Ws), list(bs)

    def run_numpy(weights, biases, epochs, fastmath):
        (W1, W2), (b1, b2) = ([np.array(W, dtype=X.dtype) for W in weights],
                              [np.array(b, dtype=X.dtype) for b in biases])
        losses = np.empty(-(-epochs // every))
        _NUMPY[fastmath](X, Y, W1, b1, W2, b2, dtype(wl.learning_rate), dtype(1 / n),
                      dtype(0), dtype(1),
                      epochs, every, losses)
        return [W1, W2], [b1, b2]

    def peer(run, fastmath):
        def run_from(weights, biases, epochs):
            return run(weights, biases, epochs, fastmath)

        def train(epochs):
            run_from(*start, epochs)
            return epochs
        return Peer(train, run_from)

    peers = {"numba-loops": peer(run_loops, False), "numba-loops-fm": peer(run_loops, True)}
    if len(wl.layers) == 3:
        peers.update({"numba-np": peer(run_numpy, False), "numba-np-fm": peer(run_numpy, True)})
    return peers
