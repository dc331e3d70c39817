"""The one training engine behind every cnet model.

A backend is chosen by name: ``"cython"`` runs the compiled loop in ``cnet._train``,
``"numpy"`` runs its twin in ``cnet.reference``. Both modules have the same functions with the
same signatures; this module calls them and converts their raw outputs.
"""
import importlib
from typing import NamedTuple

import numpy as np

from cnet import _cpu

BACKENDS = {"cython": "cnet._train", "numpy": "cnet.reference"}


class TrainResult(NamedTuple):
    """What :func:`train` reports."""

    losses: list            # the recorded losses of the whole epochs trained, in order
    step_count: int         # Adam's step counter after training
    epochs_done: int        # whole epochs trained; fewer than asked if training stopped
    interrupted: bool       # a KeyboardInterrupt stopped it
    stopped: bool = False   # the epoch rules stopped it (no improvement for too long)


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


def train(backend, params, layers, activation, output, X, Y, *, learning_rate, batch_size,
          shuffle, seed, first_epoch, n_epochs, loss_every, solver="sgd", momentum=0.0,
          nesterov=False, beta_1=0.9, beta_2=0.999, epsilon=1e-8, alpha=0.0, state=None,
          step_count=0, sample_weight=None, dropout=0.0, rules=None):
    """Run ``n_epochs`` epochs of mini-batch gradient descent, updating ``params`` in place.

    Parameters
    ----------
    backend : str
        ``"cython"`` or ``"numpy"``.
    params : ndarray of shape (n_parameters,)
        Flat parameter vector (see :mod:`cnet._layout`), float32 or float64.
    layers : ndarray of intp
        Units per layer, inputs first.
    activation : str
        Hidden-layer activation: identity, relu, sigmoid, tanh or leaky_relu.
    output : str
        Output activation with its loss: ``"logistic"`` (binary cross-entropy), ``"softmax"``
        (categorical cross-entropy, one-hot Y), ``"identity"`` (squared error) or ``"exp"``
        (Poisson deviance, non-negative Y).
    X : ndarray of shape (n_samples, layers[0])
        C-contiguous, dtype of ``params``.
    Y : ndarray of shape (n_samples, layers[-1])
        Targets, C-contiguous, dtype of ``params``.
    learning_rate : float
    batch_size : int
        Samples per step; ``n_samples`` or more is full batch.
    shuffle : bool
        Visit the samples in a new order each epoch (only with more than one batch).
    seed : int
        Seed of the shuffling order, in [0, 2**64).
    first_epoch : int
        Number of epochs already trained (the epoch counter continues from it).
    n_epochs : int
    loss_every : int
        Record the loss on epochs whose number is a multiple of this; 0 records none.
    solver : {"sgd", "adam"}
    momentum, nesterov : float, bool
        SGD's momentum (0: none) and whether to use Nesterov's.
    beta_1, beta_2, epsilon : float
        Adam's parameters.
    alpha : float
        L2 penalty on the weights: ``0.5 * alpha * sum(W**2) / batch_size`` per batch.
    state : ndarray of shape (2, n_parameters), optional
        The optimizer's running state (velocity, or Adam's two moments), updated in place;
        needed unless the solver is plain SGD with no penalty. Start from zeros.
    step_count : int
        Adam steps taken so far.
    sample_weight : ndarray of shape (n_samples,), optional
        Non-negative weights, dtype of ``params``; each batch's loss is their weighted mean.
    dropout : float in [0, 1)
        Inverted dropout on the hidden layers' outputs (masks derived from ``seed``).
    rules : cnet.epoch_rules.EpochRules, optional
        Schedules, validation and stopping applied after every epoch inside the loop; their
        state is carried in ``rules.progress``. ``learning_rate`` is then the first epoch's.

    Returns
    -------
    TrainResult
        The recorded losses, the step count, the whole epochs trained and whether a
        KeyboardInterrupt stopped training. An epoch that would leave the parameters NaN or
        infinite, or an interrupt, stops training with the parameters of the last whole
        epoch (``epochs_done < n_epochs``).
    """
    losses = np.empty(n_epochs, dtype=np.float64)
    step_count, epochs_done, interrupted, stopped = get_backend(backend).train_epochs(
        params, layers, activation, output, X, Y, float(learning_rate), int(batch_size),
        bool(shuffle), int(seed), int(first_epoch), int(n_epochs), int(loss_every), losses,
        solver, float(momentum), bool(nesterov), float(beta_1), float(beta_2), float(epsilon),
        float(alpha), state, int(step_count), sample_weight, float(dropout), rules)
    done = losses[:epochs_done]
    recorded = [] if loss_every == 0 else [
        float(v) for v in done[(first_epoch + np.arange(epochs_done)) % loss_every == 0]]
    return TrainResult(recorded, int(step_count), int(epochs_done), bool(interrupted),
                       bool(stopped))


def predict(backend, params, layers, activation, output, X):
    """The network's outputs, ``(n_samples, layers[-1])``, after the output activation.

    Raises ValueError rather than return NaN or infinity (parameters too large for X)."""
    out = np.empty((X.shape[0], int(layers[-1])), dtype=params.dtype)
    get_backend(backend).forward(params, layers, activation, output, X, out)
    if not np.isfinite(out).all():
        bad = int(np.sum(~np.isfinite(out).all(axis=1)))
        raise NonFiniteOutputError(f"the network's outputs are NaN or infinite for {bad} of "
                                   f"{len(out)} samples: its parameters are too large for "
                                   f"this input (did training diverge?)")
    return out


def loss_and_gradient(backend, params, layers, activation, output, X, Y, sample_weight=None,
                      dropout=0.0, dropout_seed=0, alpha=0.0, grad=None):
    """Mean loss over all of X (weighted, if sample_weight is given) and its gradient.

    With dropout, the masks are fixed by ``dropout_seed``, so the loss is a smooth function
    of the parameters (for gradient checks). ``alpha`` adds the L2 penalty
    ``0.5 * alpha * sum(W**2)`` over the weight sum (n without weights), as in training.
    ``grad``, if given, receives the gradient (an array like ``params``)."""
    grad = np.empty_like(params) if grad is None else grad
    loss = get_backend(backend).loss_and_gradient(params, layers, activation, output, X, Y,
                                                  grad, sample_weight, float(dropout),
                                                  int(dropout_seed), float(alpha))
    return float(loss), grad
