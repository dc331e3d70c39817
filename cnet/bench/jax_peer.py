"""JAX peers: the workload's network written in ``jax.numpy``, differentiated by ``jax.grad``
and compiled by XLA, in two forms.

- ``jax-fori``: one ``jax.jit`` call per fit, all epochs inside ``lax.fori_loop``; the number
  of epochs is an argument, so one compilation serves every fit.
- ``jax-scan``: one ``jax.jit`` call per epoch from Python, the epoch a ``lax.scan`` over the
  batches.

Both take the same batches as cnet (in order, no shuffling; a shorter last batch is one
more step after the scan), the same loss (mean binary or categorical cross-entropy over the
batch), plain SGD or scikit-learn's Adam, in the workload's dtype (float64 needs
``jax_enable_x64``, switched on when this module loads). The loss is recorded on the epochs
cnet records it (``loss_every``); other epochs take the gradient without the loss value.
"""
from functools import partial

import numpy as np

from cnet.bench.peers import ADAM, Peer

try:
    import jax
    import jax.numpy as jnp
    from jax import lax
except ImportError:
    jax = None
else:
    jax.config.update("jax_enable_x64", True)

FORMS = ("jax-fori", "jax-scan")


def version():
    """jax's version, or None when it is not installed."""
    return None if jax is None else jax.__version__


def _forward(params, X):
    A = X
    for W, b in params[:-1]:
        A = jnp.maximum(A @ W + b, 0)
    W, b = params[-1]
    return A @ W + b


def _loss(params, X, Y, multiclass):
    Z = _forward(params, X)
    if multiclass:   # Y one-hot
        return jnp.mean(jax.nn.logsumexp(Z, axis=1) - jnp.sum(Y * Z, axis=1))
    return jnp.mean(jnp.logaddexp(0, Z) - Y * Z)   # log(1 + e^z) - y z, finite when saturated


def _update(params, grads, opt, wl):
    """One optimizer step; ``opt`` is () for SGD, (t, m, v) for Adam."""
    lr = wl.learning_rate
    if wl.solver == "sgd":
        return jax.tree_util.tree_map(lambda p, g: p - lr * g, params, grads), opt
    b1, b2, eps = ADAM["beta_1"], ADAM["beta_2"], ADAM["epsilon"]
    t, m, v = opt
    t = t + 1
    m = jax.tree_util.tree_map(lambda m, g: b1 * m + (1 - b1) * g, m, grads)
    v = jax.tree_util.tree_map(lambda v, g: b2 * v + (1 - b2) * g * g, v, grads)
    # scikit-learn's (and cnet's) step: both bias corrections folded into the rate, computed
    # in float64 and rounded to the parameters' dtype as cnet passes it to its kernel.
    dtype = params[0][0].dtype
    step = (lr * jnp.sqrt(1 - b2 ** t) / (1 - b1 ** t)).astype(dtype)
    params = jax.tree_util.tree_map(lambda p, m, v: p - step * m / (jnp.sqrt(v) + eps),
                                    params, m, v)
    return params, (t, m, v)


def _epoch_fn(wl, n):
    """``epoch(params, opt, data, with_loss) -> (params, opt, loss)``, traceable by jit."""
    multiclass = wl.multiclass

    def step(carry, batch, with_loss):
        params, opt = carry
        Xb, Yb = batch
        if with_loss:
            loss, grads = jax.value_and_grad(_loss)(params, Xb, Yb, multiclass)
        else:
            loss, grads = 0.0, jax.grad(_loss)(params, Xb, Yb, multiclass)
        params, opt = _update(params, grads, opt, wl)
        return (params, opt), loss * Xb.shape[0]

    def epoch(params, opt, data, with_loss):
        Xb, Yb, Xr, Yr = data
        (params, opt), losses = lax.scan(partial(step, with_loss=with_loss), (params, opt),
                                         (Xb, Yb))
        total = jnp.sum(losses)
        if Xr.shape[0]:
            (params, opt), last = step((params, opt), (Xr, Yr), with_loss)
            total = total + last
        return params, opt, total / n   # the epoch's loss: batch losses weighted by size

    return epoch


def _batches(wl, X):
    """X and one-hot (or 0/1 column) Y as full batches stacked for scan, plus the rest."""
    n, step = len(X), wl.step
    if wl.multiclass:
        Y = np.eye(wl.layers[-1], dtype=X.dtype)[wl.y]
    else:
        Y = wl.y.astype(X.dtype).reshape(-1, 1)
    full = (n // step) * step
    return (jnp.asarray(X[:full].reshape(n // step, step, -1)),
            jnp.asarray(Y[:full].reshape(n // step, step, -1)),
            jnp.asarray(X[full:]), jnp.asarray(Y[full:]))


def _initial_opt(wl, params):
    """The optimizer's state at the start of a fit: () for SGD, (t, m, v) for Adam."""
    if wl.solver == "sgd":
        return ()

    def zeros():
        return jax.tree_util.tree_map(jnp.zeros_like, params)
    return (jnp.asarray(0), zeros(), zeros())


def jax_peers(wl, X, start):
    """The two JAX peers of ``wl`` on X (its dtype is the training dtype).

    Parameters
    ----------
    wl : Workload
    X : ndarray of shape (n_samples, n_features)
    start : tuple of (list of ndarray, list of ndarray)
        The initial weights and biases of every timed fit (cnet's).

    Returns
    -------
    dict of str to Peer
        ``"jax-fori"`` and ``"jax-scan"``.
    """
    n, every = len(X), wl.loss_every
    data = _batches(wl, X)
    epoch = _epoch_fn(wl, n)
    slots = -(-wl.max_epochs // every)   # room for the losses of the longest fit

    @jax.jit
    def fit_fori(params, opt, data, epochs):
        def record(e, carry):
            params, opt, losses = carry
            params, opt, loss = epoch(params, opt, data, True)
            return params, opt, losses.at[e // every].set(loss)

        def skip(e, carry):
            params, opt, losses = carry
            params, opt, _ = epoch(params, opt, data, False)
            return params, opt, losses

        def body(e, carry):
            if every == 1:
                return record(e, carry)
            return lax.cond(e % every == 0, record, skip, e, carry)

        losses = jnp.zeros(slots, dtype=X.dtype)
        return lax.fori_loop(0, epochs, body, (params, opt, losses))

    epoch_jit = jax.jit(epoch, static_argnames="with_loss")

    def run_fori(params, epochs):
        params, _, losses = fit_fori(params, _initial_opt(wl, params), data, epochs)
        # Sliced on the host: slicing on the device would compile a new slice for each
        # number of epochs.
        return params, np.asarray(losses)[:-(-epochs // every)]

    def run_scan(params, epochs):
        opt, losses = _initial_opt(wl, params), []
        for e in range(epochs):
            params, opt, loss = epoch_jit(params, opt, data, with_loss=e % every == 0)
            if e % every == 0:
                losses.append(loss)   # kept on the device: reading it would wait for it
        jax.block_until_ready(params)
        return params, losses

    def as_params(weights, biases):
        return [(jnp.asarray(W, dtype=X.dtype), jnp.asarray(b, dtype=X.dtype))
                for W, b in zip(weights, biases)]

    def peer(run):
        params0 = as_params(*start)

        def train(epochs):
            run(params0, epochs)
            return epochs

        def run_from(weights, biases, epochs):
            params, _ = run(as_params(weights, biases), epochs)
            return [np.asarray(W) for W, _ in params], [np.asarray(b) for _, b in params]
        return Peer(train, run_from)

    return {"jax-fori": peer(run_fori), "jax-scan": peer(run_scan)}
