"""The peers every workload runs: cnet, its numpy twin, scikit-learn and PyTorch.

Each peer is a :class:`Peer`: ``train(epochs)`` is one complete fit, the thing timed, and
``run_from(weights, biases, epochs)`` trains from given weights for the correctness gate
(:mod:`cnet.bench.gate`). The optional compiled peers live in ``jax_peer`` and
``numba_peer`` and build the same objects.
"""
import warnings
from dataclasses import dataclass
from typing import Callable

import numpy as np
from sklearn.exceptions import ConvergenceWarning
from sklearn.neural_network import MLPClassifier

import cnet

try:
    import torch
except ImportError:
    torch = None

# Adam's parameters, scikit-learn's (and PyTorch's) defaults, passed explicitly to every peer.
ADAM = {"beta_1": 0.9, "beta_2": 0.999, "epsilon": 1e-8}


@dataclass
class Peer:
    """One way of training a workload's network.

    Attributes
    ----------
    train : callable
        ``train(epochs) -> epochs trained``: one complete fit, as a user would run it.
    run_from : callable
        ``run_from(weights, biases, epochs) -> (weights, biases)``: the same training from
        the given parameters (lists of arrays, ``W`` of shape (n_in, n_out)), which it must
        not modify; returns the parameters it ends with as numpy arrays.
    """

    train: Callable
    run_from: Callable


def failure(exc):
    """The report of a peer that raised: ``failed: <type>: <first line of message>``."""
    first = str(exc).splitlines()[0] if str(exc) else ""
    return f"failed: {type(exc).__name__}" + (f": {first}" if first else "")


def _fit_quietly(clf, X, y):
    """``clf.fit(X, y)``; returns ``clf.n_iter_``."""
    # It warns that it did not converge because max_iter is what ends every fit here.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf.fit(X, y)
    return clf.n_iter_


def mlp_params(wl, epochs):
    """The keyword arguments that set up scikit-learn's ``MLPClassifier`` (and cnet's) as
    ``wl``'s optimizer, with no L2 penalty, no shuffling, and no early stop."""
    params = dict(hidden_layer_sizes=tuple(wl.layers[1:-1]), activation="relu",
                  solver=wl.solver, alpha=0, shuffle=False, learning_rate="constant",
                  learning_rate_init=wl.learning_rate, batch_size=wl.step, max_iter=epochs,
                  tol=0, n_iter_no_change=10**9, random_state=0)
    if wl.solver == "sgd":
        params.update(momentum=0, nesterovs_momentum=False)
    else:
        params.update(ADAM)
    return params


def neural_net_peer(wl, X, backend):
    """``NeuralNet(backend=backend).fit`` on X (its dtype is the training dtype)."""
    def make(epochs, **extra):
        return cnet.NeuralNet(layers=wl.layers, learning_rate=wl.learning_rate,
                              iterations=epochs, activation="relu", batch_size=wl.batch_size,
                              shuffle=False, loss_every=wl.loss_every, random_state=0,
                              backend=backend, **extra)

    def train(epochs):
        return make(epochs).fit(X, wl.y).n_iter_

    def run_from(weights, biases, epochs):
        net = make(0, warm_start=True).fit(X, wl.y)
        for k, (W, b) in enumerate(zip(weights, biases), start=1):
            net.params[f"W{k}"][...] = W
            net.params[f"b{k}"][...] = b
        net.iterations = epochs
        net.fit(X, wl.y)
        n = len(weights)
        return ([net.params[f"W{k}"].copy() for k in range(1, n + 1)],
                [net.params[f"b{k}"].copy() for k in range(1, n + 1)])
    return Peer(train, run_from)


def _mlp_peer(wl, X, make):
    """A peer fitting ``make(**params)``, an MLPClassifier of cnet's or scikit-learn's."""
    def train(epochs):
        return _fit_quietly(make(**mlp_params(wl, epochs)), X, wl.y)

    def run_from(weights, biases, epochs):
        # A first fit learns the classes; the warm-started second starts from the weights
        # given, with a new optimizer, as both estimators do on every fit.
        clf = make(**mlp_params(wl, 1), warm_start=True)
        _fit_quietly(clf, X, wl.y)
        clf.coefs_ = [np.array(W, dtype=X.dtype) for W in weights]
        clf.intercepts_ = [np.array(b, dtype=X.dtype) for b in biases]
        clf.max_iter = epochs
        _fit_quietly(clf, X, wl.y)
        return ([np.array(W) for W in clf.coefs_], [np.array(b) for b in clf.intercepts_])
    return Peer(train, run_from)


def cnet_mlp_peer(wl, X, backend):
    """``cnet.MLPClassifier(backend=backend).fit``, set up as scikit-learn's is."""
    return _mlp_peer(wl, X, lambda **kw: cnet.MLPClassifier(**kw, backend=backend))


def sklearn_peer(wl, X):
    """scikit-learn's ``MLPClassifier`` set up as plain SGD (or Adam) that never stops early."""
    return _mlp_peer(wl, X, MLPClassifier)


def torch_peer(wl, X):
    """An ``nn.Sequential`` of Linear/ReLU trained by ``torch.optim.SGD`` (or ``Adam``) on
    ``BCEWithLogitsLoss`` (binary) or ``CrossEntropyLoss`` (multi-class)."""
    nn = torch.nn
    Xt = torch.from_numpy(X)
    if wl.multiclass:
        Yt = torch.from_numpy(wl.y.astype(np.int64))
    else:
        Yt = torch.from_numpy(wl.y.astype(X.dtype).reshape(-1, 1))
    n, step = len(X), wl.step

    def build():
        modules = []
        for k, (n_in, n_out) in enumerate(zip(wl.layers[:-1], wl.layers[1:])):
            modules.append(nn.Linear(n_in, n_out, dtype=Xt.dtype))
            if k < len(wl.layers) - 2:
                modules.append(nn.ReLU())
        return nn.Sequential(*modules)

    def fit(model, epochs):
        if wl.solver == "adam":
            optimizer = torch.optim.Adam(model.parameters(), lr=wl.learning_rate,
                                         betas=(ADAM["beta_1"], ADAM["beta_2"]),
                                         eps=ADAM["epsilon"])
        else:
            optimizer = torch.optim.SGD(model.parameters(), lr=wl.learning_rate)
        loss_fn = nn.CrossEntropyLoss() if wl.multiclass else nn.BCEWithLogitsLoss()
        for _ in range(epochs):
            for start in range(0, n, step):
                optimizer.zero_grad()
                loss = loss_fn(model(Xt[start:start + step]), Yt[start:start + step])
                loss.backward()
                optimizer.step()

    def train(epochs):
        # Building the model is part of the fit, as initialising the weights is for the others.
        torch.manual_seed(0)
        fit(build(), epochs)
        return epochs

    def run_from(weights, biases, epochs):
        model = build()
        linears = [m for m in model if isinstance(m, nn.Linear)]
        with torch.no_grad():
            for layer, W, b in zip(linears, weights, biases):
                layer.weight.copy_(torch.from_numpy(np.array(W, dtype=X.dtype).T))
                layer.bias.copy_(torch.from_numpy(np.array(b, dtype=X.dtype)))
        fit(model, epochs)
        return ([layer.weight.detach().numpy().T.copy() for layer in linears],
                [layer.bias.detach().numpy().copy() for layer in linears])
    return Peer(train, run_from)
