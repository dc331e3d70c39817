"""The one training engine behind every cnet model.

A backend is chosen by name: ``"cython"`` runs the compiled loop in ``cnet._train``,
``"numpy"`` runs its twin in ``cnet.reference``. Both modules have the same functions with the
same signatures, taking the training spec (:mod:`cnet.spec`): a ``Network`` and a
``Training``, checked when they were made; this module calls them and converts their raw
outputs.
"""
import importlib
from typing import NamedTuple

import numpy as np

from cnet import _cpu
from cnet.epoch_rules import Progress

BACKENDS = {"cython": "cnet._train", "numpy": "cnet.reference"}


class TrainResult(NamedTuple):
    """What :func:`train` reports."""

    losses: list            # the recorded losses of the whole epochs trained, in order
    epochs_done: int        # whole epochs trained; fewer than asked if training stopped
    interrupted: bool       # a KeyboardInterrupt stopped it
    stopped: bool = False   # the epoch rules stopped it (no improvement for too long)
    val_losses: list = []   # the validation loss of each whole epoch (with a validation set)
    val_scores: list = []   # the validation score of each whole epoch (stopping on it)


class DivergenceWarning(RuntimeWarning):
    """Training stopped because the parameters became NaN or infinite."""


class InterruptedWarning(UserWarning):
    """Training stopped on Ctrl-C (KeyboardInterrupt); the model keeps what was trained.

    Callers that must not treat the stopped model as finished (the command line, which then
    saves nothing) look for this category."""


class NonFiniteOutputError(ValueError):
    """The network's outputs are NaN or infinite (its parameters are too large for X)."""


def get_backend(name):
    """The module that implements backend ``name`` (``"cython"`` or ``"numpy"``); for
    ``"cython"``, the build of the loop for this CPU (see :mod:`cnet._cpu`)."""
    if name not in BACKENDS:
        raise ValueError(f"backend must be one of {sorted(BACKENDS)}, got {name!r}")
    if name == "cython":
        return _cpu.module("_train")
    return importlib.import_module(BACKENDS[name])


def train(backend, params, network, training, X, Y, n_epochs, progress=None):
    """Run ``n_epochs`` epochs of mini-batch training, updating ``params`` in place.

    Parameters
    ----------
    backend : str
        ``"cython"`` or ``"numpy"``.
    params : ndarray of shape (n_parameters,)
        Flat parameter vector (see :mod:`cnet._layout`), of ``network.dtype``.
    network : cnet.spec.Network
        What is trained: layers, hidden activation, output/loss pair.
    training : cnet.spec.Training
        How: the optimizer (whose state, step count and learning rate are updated in place),
        batches, shuffling, seed, dropout, L2 penalty, sample weights, stopping rules and a
        validation set.
    X : ndarray or scipy.sparse CSR matrix of shape (n_samples, layers[0])
        C-contiguous, dtype of ``params``.
    Y : ndarray of shape (n_samples, layers[-1])
        Targets, C-contiguous, dtype of ``params``.
    n_epochs : int
    progress : cnet.spec.Progress, optional
        The epoch counter and the stopping rules' state, carried from call to call and
        updated in place; a new one (epoch 0) if not given.

    Returns
    -------
    TrainResult
        The recorded losses, the whole epochs trained, whether a KeyboardInterrupt or the
        stopping rules ended training, and the validation losses and scores. An epoch that
        would leave the parameters NaN or infinite, or an interrupt, stops training with the
        parameters of the last whole epoch (``epochs_done < n_epochs``).
    """
    progress = Progress() if progress is None else progress
    first = progress.epoch
    losses, val_losses, val_scores, done, interrupted, stopped = get_backend(
        backend).train_epochs(params, network, training, X, Y, progress, int(n_epochs))
    every = training.loss_every
    recorded = [] if every == 0 else [
        float(v) for v in losses[:done][(first + np.arange(done)) % every == 0]]
    return TrainResult(recorded, int(done), bool(interrupted), bool(stopped),
                       [] if val_losses is None else val_losses[:done].tolist(),
                       [] if val_scores is None else val_scores[:done].tolist())


def predict(backend, params, network, X):
    """The network's outputs, ``(n_samples, layers[-1])``, after the output activation.

    Raises ValueError rather than return NaN or infinity (parameters too large for X)."""
    out = np.empty((X.shape[0], int(network.layers[-1])), dtype=params.dtype)
    bad = get_backend(backend).forward(params, network, X, out)
    if bad:
        raise NonFiniteOutputError(f"the network's outputs are NaN or infinite for {bad} of "
                                   f"{len(out)} samples: its parameters are too large for "
                                   f"this input (did training diverge?)")
    return out


class Layers(NamedTuple):
    """What :func:`forward_layers` reports: one array per layer after the input, each
    ``(n_samples, units)``."""

    pre: list           # each layer's pre-activation: its input times W plus b (Z1, Z2, ...)
    activations: list   # each layer's activation; the last through the output activation


def forward_layers(backend, params, network, X):
    """Every layer of the network over X: each layer's pre-activation and activation.

    Parameters
    ----------
    backend : str
        ``"cython"`` or ``"numpy"``.
    params : ndarray of shape (n_parameters,)
        Flat parameter vector (see :mod:`cnet._layout`), of ``network.dtype``.
    network : cnet.spec.Network
    X : ndarray or scipy.sparse CSR matrix of shape (n_samples, layers[0])
        C-contiguous, dtype of ``params``.

    Returns
    -------
    Layers
        ``pre[k]`` and ``activations[k]`` of layer ``k + 1``, C-contiguous arrays of shape
        ``(n_samples, layers[k + 1])``; ``activations[-1]`` is what :func:`predict` returns.

    Raises
    ------
    NonFiniteOutputError
        As :func:`predict` does, where a value is NaN or infinite (parameters too large
        for X).
    """
    n = X.shape[0]
    units = [int(u) for u in network.layers[1:]]
    pre = np.empty(sum(units) * n, dtype=params.dtype)
    acts = np.empty_like(pre)
    get_backend(backend).forward_layers(params, network, X, pre, acts)
    if not (np.isfinite(pre).all() and np.isfinite(acts).all()):
        bad = ~(np.isfinite(pre) & np.isfinite(acts))
        raise NonFiniteOutputError(f"{int(bad.sum())} of the network's layer values are NaN "
                                   f"or infinite: its parameters are too large for this "
                                   f"input (did training diverge?)")
    # The loops keep a layer as (units, samples); a reader of the tutorials expects one row
    # per sample, as X has.
    layers = Layers([], [])
    start = 0
    for u in units:
        for kept, flat in ((layers.pre, pre), (layers.activations, acts)):
            kept.append(np.ascontiguousarray(flat[start:start + u * n].reshape(u, n).T))
        start += u * n
    return layers


def loss_and_gradient(backend, params, network, X, Y, sample_weight=None, dropout=0.0,
                      dropout_seed=0, alpha=0.0, grad=None):
    """Mean loss of ``network`` (a cnet.spec.Network) over all of X (weighted, if
    sample_weight is given) and its gradient.

    With dropout, the masks are fixed by ``dropout_seed``, so the loss is a smooth function
    of the parameters (for gradient checks). ``alpha`` adds the L2 penalty
    ``0.5 * alpha * sum(W**2)`` over the weight sum (n without weights), as in training.
    ``grad``, if given, receives the gradient (an array like ``params``)."""
    grad = np.empty_like(params) if grad is None else grad
    loss = get_backend(backend).loss_and_gradient(params, network, X, Y, grad, sample_weight,
                                                  float(dropout), int(dropout_seed),
                                                  float(alpha))
    return float(loss), grad
