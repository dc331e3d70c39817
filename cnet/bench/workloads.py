"""The training problems of ``cnet bench``: each a :class:`Workload` every peer trains alike."""
from dataclasses import dataclass

import numpy as np
from sklearn.datasets import load_digits, make_moons
from sklearn.model_selection import train_test_split

# Binary workloads (cnet.NeuralNet), then 10-class ones (cnet.MLPClassifier), then the rows
# timed as whole fits, then the fits that share the cores (cnet.bench.contention), then the
# shape grid (cnet.bench.grid) and the seed beside its C floors (cnet.bench.c_floor), then
# scaling.
BINARY = ("seed", "seed-loss1000", "seed-16-8", "digits", "wide")
MULTICLASS = ("digits10", "wide10", "digits10-adam")
WHOLE_FIT = ("digits10-lbfgs", "sparse-text")
CONTENTION = ("load", "threads")
GRID_AND_FLOORS = ("grid", "seed-floors")
WORKLOADS = BINARY + MULTICLASS + WHOLE_FIT + CONTENTION + GRID_AND_FLOORS + ("scaling",)
DTYPES = {"float64": np.float64, "float32": np.float32}


@dataclass
class Workload:
    """One training problem, trained identically by every peer.

    Attributes
    ----------
    name : str
    X : ndarray of shape (n_samples, n_features), float64
    y : ndarray of shape (n_samples,) of int labels
        0/1 for a binary workload, 0..k-1 for a multi-class one.
    layers : list of int
        Units per layer, inputs first; one output unit (binary) or k (multi-class, softmax).
    learning_rate : float
    batch_size : int or None
        None is full batch.
    loss_every : int
        Record the loss every this many epochs: cnet's ``loss_every``, and the JAX and
        numba peers' too; scikit-learn and PyTorch compute the loss of every batch anyway.
    max_epochs : int
        Upper bound on the epochs of one timing.
    solver : {"sgd", "adam"}
        Plain SGD (no momentum) or Adam with :data:`cnet.bench.peers.ADAM`'s parameters.
    multiclass : bool
        True: cnet's columns train ``cnet.MLPClassifier`` (softmax output, categorical
        cross-entropy) and PyTorch uses ``CrossEntropyLoss``. False: cnet's columns train
        ``cnet.NeuralNet`` (one logistic unit, binary cross-entropy).
    gate_epochs : int
        Epochs every peer trains from cnet's initial weights in the correctness gate.
    numba : bool
        Whether the numba peers (full-batch binary networks) run on it.
    """

    name: str
    X: np.ndarray
    y: np.ndarray
    layers: list
    learning_rate: float
    batch_size: object
    loss_every: int
    max_epochs: int
    solver: str = "sgd"
    multiclass: bool = False
    gate_epochs: int = 1
    numba: bool = False

    @property
    def step(self):
        """Samples per gradient step (the whole set for full batch)."""
        n = len(self.X)
        return n if self.batch_size is None else min(self.batch_size, n)


def seed_workload(loss_every=1, hidden=(5,)):
    """The tutorials' problem: make_moons, [2, 5, 1], full batch, 240 training rows.

    The tutorials record the loss every epoch (``loss_every=1``, "seed"); "seed-loss1000"
    records it every 1000 epochs, "seed-16-8" has two hidden layers of 16 and 8 units.
    """
    X, y = make_moons(300, noise=0.2, random_state=0)
    X, _, y, _ = train_test_split(X, y, random_state=0, test_size=0.2)
    name = ("seed" if loss_every == 1 else f"seed-loss{loss_every}") if hidden == (5,) else \
        "seed-" + "-".join(map(str, hidden))
    return Workload(name, X, y, [2, *hidden, 1], 0.003, None, loss_every=loss_every,
                    max_epochs=100000, gate_epochs=500, numba=True)


def moons_workload(n_samples, hidden=5):
    """The seed problem with ``n_samples`` rows, all trained on, and ``hidden`` hidden units."""
    X, y = make_moons(n_samples, noise=0.2, random_state=0)
    return Workload("moons", X, y, [2, hidden, 1], 0.003, None, loss_every=1000,
                    max_epochs=100000)


def digits_workload():
    """load_digits scaled to [0, 1], [64, 128, 1], batch 64; binary target (digit >= 5)."""
    X, digit = load_digits(return_X_y=True)
    return Workload("digits", X / 16.0, (digit >= 5).astype(np.int64), [64, 128, 1], 0.01, 64,
                    loss_every=1, max_epochs=2000, gate_epochs=2)


def wide_workload(n_samples=8192, n_features=784, layers=(784, 256, 128, 1)):
    """Synthetic MNIST-sized data, standard normal, labelled by a random linear rule."""
    rng = np.random.default_rng(0)
    X = rng.standard_normal((n_samples, n_features))
    y = (X @ rng.standard_normal(n_features) > 0).astype(np.int64)
    return Workload("wide", X, y, list(layers), 0.01, 256, loss_every=1, max_epochs=5)


def digits10_workload(solver="sgd", quick=False):
    """load_digits scaled to [0, 1], all 10 classes, [64, 128, 10], batch 64.

    Plain SGD at learning rate 0.01 ("digits10"), or Adam at 0.001 ("digits10-adam").
    """
    X, digit = load_digits(return_X_y=True)
    name, lr = ("digits10", 0.01) if solver == "sgd" else ("digits10-adam", 0.001)
    return Workload(name, X / 16.0, digit.astype(np.int64), [64, 128, 10], lr, 64,
                    loss_every=1, max_epochs=20 if quick else 2000, solver=solver,
                    multiclass=True, gate_epochs=2)


def wide10_workload(n_classes=10, quick=False):
    """The wide workload's data, labelled with 10 classes by the argmax of a random linear map.

    [784, 256, 128, 10], batch 256, plain SGD at learning rate 0.01.
    """
    wide = wide_workload()
    W = np.random.default_rng(1).standard_normal((wide.X.shape[1], n_classes))
    y = np.argmax(wide.X @ W, axis=1).astype(np.int64)
    return Workload("wide10", wide.X, y, wide.layers[:-1] + [n_classes], 0.01, 256,
                    loss_every=1, max_epochs=1 if quick else 5, multiclass=True)
