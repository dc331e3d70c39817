"""Time cnet against its numpy twin, scikit-learn, PyTorch, JAX and numba, epoch for epoch.

Every peer trains the same network (architecture, activation, batch size, learning rate,
dtype, optimizer: plain SGD, or Adam in one row, without shuffling) on the same data in this
one process; the tables show the median cost of one training epoch and each peer's cost
relative to cnet's compiled loop. Binary rows train ``cnet.NeuralNet``; the 10-class rows
train ``cnet.MLPClassifier``. Before its time counts, each peer must pass a correctness gate:
from cnet's initial weights, the same epochs must reach cnet's loss (``cnet._bench.gate``).
Two more tables time whole fits: lbfgs on digits and sparse text-like input.

Run it as ``cnet bench [--quick]`` (installed) or ``python benchmarks/compare.py`` (in the
source tree); ``--help`` lists the options and ``benchmarks/README.md`` says what the columns
mean. Nothing here asserts anything about speed: it only measures.
"""
import argparse
import json
import math
import os
import statistics
import sys
import time
import tracemalloc
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from sklearn.datasets import load_digits, make_moons
from sklearn.model_selection import train_test_split
from threadpoolctl import threadpool_limits

try:
    import cnet
    from cnet import _kernels
except ImportError as exc:  # pragma: no cover - only reached on a broken setup
    sys.exit(f"cannot import cnet ({exc}): install it (pip install -e .) or run with "
             f"PYTHONPATH set to the repository root")

from cnet._bench import gate, jax_peer, numba_peer, whole_fit
from cnet._bench.machine import load_average, machine_info, print_header
from cnet._bench.peers import (cnet_mlp_peer, failure, neural_net_peer, sklearn_peer, torch,
                               torch_peer)

# Binary workloads (cnet.NeuralNet), then 10-class ones (cnet.MLPClassifier), then the rows
# timed as whole fits, then scaling.
BINARY = ("seed", "seed-loss1000", "seed-16-8", "digits", "wide")
MULTICLASS = ("digits10", "wide10", "digits10-adam")
WHOLE_FIT = ("digits10-lbfgs", "sparse-text")
WORKLOADS = BINARY + MULTICLASS + WHOLE_FIT + ("scaling",)
DTYPES = {"float64": np.float64, "float32": np.float32}
PEERS = ("cnet", "numpy", "sklearn", "torch") + jax_peer.FORMS + numba_peer.FORMS
# Timed fits of one peer that differ by more than this factor get the row flagged as noisy.
NOISY_SPREAD = 1.25
# Seconds of rest before each timed run. OpenBLAS's worker threads spin for a while after a
# call before they sleep; numpy and cnet (through scipy) each load their own OpenBLAS, and on
# a 2-core machine one pool still spinning halves the speed of the next peer's BLAS calls.
SETTLE_S = 0.3
# The rest with --quick. The pools measured here spin about 0.1 s after their last call
# (OpenBLAS's default timeout, 2**28 TSC ticks), so this still outlasts them, with less margin.
SETTLE_QUICK_S = 0.15
DEFAULT_JSON = Path("cnet-bench.json")   # benchmarks/compare.py passes its own default


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
        Plain SGD (no momentum) or Adam with :data:`cnet._bench.peers.ADAM`'s parameters.
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


# --- workloads --------------------------------------------------------------------------------

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


# --- the peers: each a Peer (cnet._bench.peers), checked by the gate before it is timed -------

def build_peers(wl, X, chosen=PEERS):
    """The peers that run on ``wl``, and a note for each that does not.

    Parameters
    ----------
    wl : Workload
    X : ndarray
        ``wl.X`` in the training dtype.
    chosen : sequence of str
        The peers asked for (``--peers``); cnet always runs, as everything is relative to it.

    Returns
    -------
    start : tuple of (list of ndarray, list of ndarray)
        The initial weights and biases cnet's fit starts from.
    peers : dict of str to Peer
    notes : dict of str to str
        For the peers not built: ``"n/a"`` (not made for this workload), ``"not installed"``,
        or ``"failed: <reason>"``.
    """
    start = (gate.glorot_uniform_weights if wl.multiclass else gate.he_normal_weights)(
        wl.layers, X.dtype)
    cnet_peer = cnet_mlp_peer if wl.multiclass else neural_net_peer
    builders = {"cnet": lambda: {"cnet": cnet_peer(wl, X, "cython")},
                "numpy": lambda: {"numpy": cnet_peer(wl, X, "numpy")},
                "sklearn": lambda: {"sklearn": sklearn_peer(wl, X)},
                "torch": lambda: {"torch": torch_peer(wl, X)},
                "jax": lambda: jax_peer.jax_peers(wl, X, start),
                "numba": lambda: numba_peer.numba_peers(wl, X, start)}
    installed = {"torch": torch is not None, "jax": jax_peer.version() is not None,
                 "numba": numba_peer.version() is not None}
    names = {"cnet": ("cnet",), "numpy": ("numpy",), "sklearn": ("sklearn",),
             "torch": ("torch",), "jax": jax_peer.FORMS, "numba": numba_peer.FORMS}
    peers, notes = {}, {}
    for family, build in builders.items():
        wanted = [p for p in names[family] if p == "cnet" or p in chosen]
        if not wanted:
            continue
        if family == "numba" and not wl.numba:
            notes.update(dict.fromkeys(wanted, "n/a"))
        elif not installed.get(family, True):
            notes.update(dict.fromkeys(wanted, "not installed"))
        else:
            try:
                built = build()
            except Exception as exc:   # a peer that cannot be set up is a result, too
                notes.update(dict.fromkeys(wanted, failure(exc)))
                continue
            peers.update((p, built[p]) for p in wanted if p in built)
            notes.update((p, "n/a") for p in wanted if p not in built)
    return start, peers, notes


# --- timing -----------------------------------------------------------------------------------

def _seconds(train, epochs):
    start = time.perf_counter()
    done = train(epochs)
    return time.perf_counter() - start, done


def _round_up(x):
    """x rounded up to one significant digit (2272 -> 3000), so epoch counts read well."""
    if x <= 1:
        return 1
    scale = 10 ** math.floor(math.log10(x))
    return int(math.ceil(x / scale) * scale)


def calibrate(train, target_s, max_epochs):
    """Warm ``train`` up and choose the epochs of its timed fits.

    A one-epoch fit first pays the one-time costs (lazy initialisation, first calls); then
    the number of epochs grows until a fit takes a measurable time, which gives the epochs
    that make one fit last about ``target_s`` (at most ``max_epochs``). Slow peers thus run
    fewer epochs than fast ones: the cost of one epoch is what is compared, and a fit's fixed
    cost is small next to ``target_s``.

    Parameters
    ----------
    train : callable
        ``train(epochs)`` runs one complete fit and returns the number of epochs it trained.
    target_s : float
        Wanted duration of one timed fit.
    max_epochs : int

    Returns
    -------
    int
        Epochs per timed fit.
    """
    train(1)
    epochs = 1
    while True:
        seconds, done = _seconds(train, epochs)
        if epochs >= max_epochs or seconds >= target_s / 4:
            break
        epochs = min(max_epochs, epochs * max(2, int(target_s / 4 / max(seconds, 1e-6))))
    return min(max_epochs, _round_up(target_s * done / max(seconds, 1e-9)))


def time_per_epoch(trains, target_s, max_epochs, repeats, settle_s=SETTLE_S):
    """Median seconds per epoch of each of several trainers, each warmed up first.

    The timed fits go round the trainers in turn, so that a burst of load from elsewhere on
    the machine slows all of them rather than one: the ratios suffer less than the times.

    Parameters
    ----------
    trains : dict of str to callable
        ``train(epochs) -> epochs trained``, one complete fit per call.
    target_s, max_epochs
        See :func:`calibrate`.
    repeats : int
        Timed fits per trainer; their median is reported.
    settle_s : float
        Seconds of rest before each timed fit.

    Returns
    -------
    dict of str to dict
        Per trainer: ``seconds_per_epoch`` (median), ``epochs`` (per timed fit), ``runs_s``
        (the timed fits' durations) and ``spread`` (slowest over fastest timed fit).
    """
    epochs = {name: calibrate(train, target_s, max_epochs) for name, train in trains.items()}
    runs = {name: [] for name in trains}
    per_epoch = {name: [] for name in trains}
    for _ in range(repeats):
        for name, train in trains.items():
            time.sleep(settle_s)
            seconds, done = _seconds(train, epochs[name])
            runs[name].append(seconds)
            per_epoch[name].append(seconds / done)
    return {name: {"seconds_per_epoch": statistics.median(per_epoch[name]),
                   "epochs": epochs[name], "runs_s": runs[name],
                   "spread": max(per_epoch[name]) / min(per_epoch[name])} for name in trains}


def _noisy(results):
    """Names whose timed fits disagree by more than NOISY_SPREAD, to flag in the tables."""
    return [name for name, r in results.items() if r["spread"] > NOISY_SPREAD]


def matmul_flops(layers, n_samples):
    """Floating-point operations of one epoch's matrix products.

    Forward ``A @ W`` for every layer, ``dW = A.T @ dZ`` for every layer and ``dA = dZ @ W.T``
    for layers 2..L (the first layer's input needs no gradient): 2 flops per multiply-add.
    """
    pairs = list(zip(layers[:-1], layers[1:]))
    mads = 2 * sum(a * b for a, b in pairs) + sum(a * b for a, b in pairs[1:])
    return 2.0 * n_samples * mads


def matmul_floor(wl, dtype, repeats, settle_s=SETTLE_S):
    """Median seconds of one epoch of ``wl``'s matrix products alone, through numpy's ``@``.

    The products are those of :func:`matmul_flops`, batch by batch, into preallocated outputs
    and with no other work: no network does less, so this is a floor for every peer.
    """
    rng = np.random.default_rng(0)
    X = wl.X.astype(dtype)
    n, step, layers = len(X), wl.step, wl.layers
    W = [rng.standard_normal((a, b)).astype(dtype) for a, b in zip(layers[:-1], layers[1:])]
    A = [None] + [np.empty((step, b), dtype) for b in layers[1:]]   # A[k]: layer k's output
    dZ = [None] + [rng.standard_normal((step, b)).astype(dtype) for b in layers[1:]]
    dA = [np.empty((step, a), dtype) for a in layers[:-1]]
    dW = [np.empty_like(w) for w in W]

    def epoch():
        for start in range(0, n, step):
            m = min(step, n - start)
            A[0] = X[start:start + m]
            for k in range(1, len(layers)):
                np.matmul(A[k - 1][:m], W[k - 1], out=A[k][:m])
            for k in range(len(layers) - 1, 0, -1):
                np.matmul(A[k - 1][:m].T, dZ[k][:m], out=dW[k - 1])
                if k > 1:
                    np.matmul(dZ[k][:m], W[k - 1].T, out=dA[k - 1][:m])

    epoch()
    runs = []
    for _ in range(repeats):
        time.sleep(settle_s)
        start = time.perf_counter()
        epoch()
        runs.append(time.perf_counter() - start)
    return statistics.median(runs)


def peak_fit_memory(wl):
    """Peak memory ``NeuralNet.fit`` allocates on ``wl`` in float32, by tracemalloc.

    numpy reports its buffers to tracemalloc, so the peak covers the parameters, gradients
    and workspaces cnet allocates with numpy; X itself exists before tracing starts.
    """
    X = wl.X.astype(np.float32)
    net = cnet.NeuralNet(layers=wl.layers, learning_rate=wl.learning_rate, iterations=1,
                         batch_size=wl.batch_size, shuffle=False, loss_every=wl.loss_every,
                         random_state=0)
    tracemalloc.start()
    try:
        net.fit(X, wl.y)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    param_bytes = sum(a * b + b for a, b in zip(wl.layers[:-1], wl.layers[1:])) * X.itemsize
    base = X.nbytes + param_bytes
    return {"peak_extra_bytes": peak, "X_bytes": X.nbytes, "param_bytes": param_bytes,
            "extra_over_base": peak / base, "total_over_base": (base + peak) / base}


# --- tables -----------------------------------------------------------------------------------

def _us(seconds):
    us = seconds * 1e6
    return f"{us:,.0f}" if us >= 1000 else f"{us:.1f}"


def compare_row(wl, dtype_name, opts):
    """Gate and time every peer on ``wl`` in one dtype; return the row (a dict)."""
    X = wl.X.astype(DTYPES[dtype_name])
    start, peers, notes = build_peers(wl, X, opts.peers)
    gates = gate.gate_peers(peers, start, wl.gate_epochs, X, wl.y, wl.multiclass, dtype_name)
    for name, outcome in gates.items():
        if not outcome["passed"]:
            notes[name] = outcome.get("failed", "gate failed")
    timed = {name: peer.train for name, peer in peers.items() if name not in notes}
    results = time_per_epoch(timed, opts.target_s, wl.max_epochs, opts.repeats,
                             opts.settle_s)
    base = results["cnet"]["seconds_per_epoch"]
    return {"workload": wl.name, "dtype": dtype_name, "n_samples": len(X),
            "layers": wl.layers, "batch_size": wl.step, "learning_rate": wl.learning_rate,
            "loss_every": wl.loss_every, "solver": wl.solver,
            "n_classes": int(wl.layers[-1]) if wl.multiclass else 2,
            "cnet_model": "MLPClassifier" if wl.multiclass else "NeuralNet",
            "gate_epochs": wl.gate_epochs, "gate": gates, "not_timed": notes,
            "peers": results,
            "ratio_to_cnet": {p: r["seconds_per_epoch"] / base for p, r in results.items()}}


CELL = 17   # width of a peer's cell: "12,520 (5.9x)"


def _ratio(r):
    return f"{r:.2f}x" if r < 1 else f"{r:.1f}x"


def print_compare_header(peers, width=8):
    """The table's header; ``width`` is that of the workload column."""
    cols = "".join(f"{p:>{CELL}}" for p in peers[1:])
    print(f"{'workload':<{width}} {'dtype':<8}{'cnet µs':>10}{cols}   epochs per fit")
    print(f"{'':<{width}} {'':<8}{'':>10}{'µs (/cnet)':>{CELL}}")


def print_compare_row(row, peers, width=8):
    """Print one row of the comparison table, then why any peer was not timed."""
    timed, notes = row["peers"], row["not_timed"]
    cells = (f"{row['workload']:<{width}} {row['dtype']:<8}"
             f"{_us(timed['cnet']['seconds_per_epoch']):>10}")
    for p in peers[1:]:
        if p in timed:
            text = f"{_us(timed[p]['seconds_per_epoch'])} ({_ratio(row['ratio_to_cnet'][p])})"
        else:
            text = notes.get(p, "-")
            text = "failed" if text.startswith("failed") else text
        cells += f"{text:>{CELL}}"
    epochs = "/".join(str(timed[p]["epochs"]) for p in peers if p in timed)
    noisy = _noisy(timed)
    print(f"{cells}   {epochs}" + (f"   noisy: {', '.join(noisy)}" if noisy else ""),
          flush=True)
    for p, note in notes.items():
        outcome = row["gate"].get(p, {})
        if note.startswith("failed"):
            print(f"    {p}: {note}")
        elif note == "gate failed":
            print(f"    {p}: gate failed, not timed: loss {outcome['loss']:.10g} against "
                  f"cnet's {outcome['reference_loss']:.10g} after {row['gate_epochs']} "
                  f"epochs from the same weights (relative difference "
                  f"{outcome['rel_diff']:.1e} > {outcome['rtol']:.0e})")


def _thinned(values, quick):
    """``values``, or with --quick every other one and the last: the same range, fewer points."""
    values = tuple(values)
    if not quick:
        return values
    return values[::2] + (values[-1:] if len(values) % 2 == 0 else ())


def scaling_cases(quick):
    """(what varies, its value, workload) for the scaling table.

    Batch size varies on the wide network with fewer rows; hidden width and rows on the seed
    problem, whose first layer is small enough to cross from cnet's hand-written matmul loops
    to BLAS within the range. With ``quick``, every other value of each (and the last).
    """
    wide = wide_workload(n_samples=1024 if quick else 2048)
    cases = [("batch", b, Workload("wide", wide.X, wide.y, wide.layers, wide.learning_rate,
                                   b, wide.loss_every, max_epochs=50))
             for b in _thinned((32, 64, 128, 256, 512, 1024), quick)]
    cases += [("width", h, moons_workload(240, hidden=h))
              for h in _thinned((8, 16, 32, 64, 128, 256, 512), quick)]
    cases += [("rows", n, moons_workload(n))
              for n in _thinned((128, 256, 512, 1024, 2048, 4096, 8192, 16384), quick)]
    return cases


def scaling_rows(opts, dtype_name):
    """cnet and its numpy twin as batch size, hidden width and rows double."""
    rows = []
    for kind, value, wl in scaling_cases(opts.quick):
        X = wl.X.astype(DTYPES[dtype_name])
        timed = time_per_epoch({b: neural_net_peer(wl, X, b).train
                                for b in ("cython", "numpy")},
                               opts.scaling_target_s, wl.max_epochs, opts.repeats,
                               opts.settle_s)
        c, n = timed["cython"]["seconds_per_epoch"], timed["numpy"]["seconds_per_epoch"]
        rows.append({
            "vary": kind, "value": value, "dtype": dtype_name, "layers": wl.layers,
            "n_samples": len(X), "batch_size": wl.step,
            "cnet_us": c * 1e6, "numpy_us": n * 1e6, "numpy_over_cnet": n / c,
            "epochs": {b: t["epochs"] for b, t in timed.items()},
            "spread": {b: t["spread"] for b, t in timed.items()},
            # The first layer's forward product, batch x features @ features x units.
            "first_layer_blas": bool(_kernels.matmul_uses_blas(wl.step, wl.layers[1],
                                                               wl.layers[0])),
        })
        r = rows[-1]
        print(f"{kind:<6}{value:>7}  {str(r['layers']):<18}{r['n_samples']:>7}"
              f"{r['batch_size']:>7}{_us(c):>11}{_us(n):>11}{r['numpy_over_cnet']:>12.1f}x"
              f"{'yes' if r['first_layer_blas'] else 'no':>7}"
              + ("   noisy" if _noisy(timed) else ""), flush=True)
    return rows


# --- main -------------------------------------------------------------------------------------

def parse_args(argv=None, default_json=DEFAULT_JSON, prog=None):
    """The command-line options (see ``--help``), with workloads and dtypes as lists."""
    parser = argparse.ArgumentParser(prog=prog, description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true",
                        help="shorter timings, fewer repeats and epochs, shorter rests, "
                             "every other scaling point (about a minute or less)")
    parser.add_argument("--workloads", default=",".join(WORKLOADS),
                        help=f"comma-separated subset of {','.join(WORKLOADS)}")
    parser.add_argument("--peers", default=",".join(PEERS),
                        help=f"comma-separated subset of {','.join(PEERS)} for the per-epoch "
                             f"tables (cnet always runs)")
    parser.add_argument("--dtypes", default="float64,float32",
                        help="comma-separated subset of float64,float32 (scaling uses the first)")
    parser.add_argument("--json", type=Path, default=default_json,
                        help=f"where to write the results (default {default_json})")
    parser.add_argument("--threads", type=int, default=None,
                        help="limit BLAS/OpenMP and torch to this many threads (XLA too, "
                             "if 1)")
    opts = parser.parse_args(argv)
    opts.workloads = [w.strip() for w in opts.workloads.split(",") if w.strip()]
    opts.dtypes = [d.strip() for d in opts.dtypes.split(",") if d.strip()]
    opts.peers = ["cnet"] + [p.strip() for p in opts.peers.split(",")
                             if p.strip() and p.strip() != "cnet"]
    for name, chosen, allowed in (("workload", opts.workloads, WORKLOADS),
                                  ("dtype", opts.dtypes, DTYPES), ("peer", opts.peers, PEERS)):
        unknown = [c for c in chosen if c not in allowed]
        if unknown or not chosen:
            parser.error(f"unknown or missing {name}s {unknown}; choose from {list(allowed)}")
    if opts.threads is not None and opts.threads < 1:
        parser.error("--threads must be at least 1")
    opts.repeats = 2 if opts.quick else 5
    opts.target_s = 0.1 if opts.quick else 0.25
    opts.scaling_target_s = 0.01 if opts.quick else 0.05
    opts.settle_s = SETTLE_QUICK_S if opts.quick else SETTLE_S
    return opts


def matmul_floor_rows(out, wl, opts):
    """Print and record, for each of ``wl``'s rows, cnet's epoch against the matmul floor."""
    flops = matmul_flops(wl.layers, len(wl.X))
    print(f"\n{wl.name}: matrix products of one epoch ({flops / 1e9:.2f} GFLOP) through "
          f"numpy's @ alone, against cnet's whole epoch")
    for row in (r for r in out["rows"] if r["workload"] == wl.name):
        floor = matmul_floor(wl, DTYPES[row["dtype"]], max(3, opts.repeats), opts.settle_s)
        c = row["peers"]["cnet"]["seconds_per_epoch"]
        entry = {"workload": wl.name, "layers": wl.layers, "dtype": row["dtype"],
                 "gflop_per_epoch": flops / 1e9,
                 "matmul_floor_s": floor, "matmul_floor_gflops": flops / floor / 1e9,
                 "cnet_s": c, "cnet_gflops": flops / c / 1e9, "cnet_over_floor": c / floor,
                 "peer_gflops": {p: flops / r["seconds_per_epoch"] / 1e9
                                 for p, r in row["peers"].items()}}
        out["wide_matmul_floor"].append(entry)
        print(f"  {row['dtype']:<8} numpy @ floor {floor * 1e3:8.1f} ms "
              f"({entry['matmul_floor_gflops']:6.1f} GFLOP/s)   cnet {c * 1e3:8.1f} ms "
              f"({entry['cnet_gflops']:6.1f} GFLOP/s)   cnet/floor "
              f"{entry['cnet_over_floor']:.2f}x", flush=True)


def run(opts):
    """Run the chosen workloads, print their tables and return everything for the JSON."""
    info = machine_info()
    print_header(info)
    out = {"machine": info, "options": {"quick": opts.quick, "repeats": opts.repeats,
                                        "target_s": opts.target_s, "threads": opts.threads,
                                        "settle_s": opts.settle_s,
                                        "workloads": opts.workloads, "dtypes": opts.dtypes,
                                        "peers": opts.peers},
           "gate_rtol": gate.RTOL, "rows": [], "wide_matmul_floor": [], "memory": None,
           "lbfgs": [], "sparse": [], "scaling": []}
    builders = {"seed": seed_workload, "seed-loss1000": lambda: seed_workload(loss_every=1000),
                "seed-16-8": lambda: seed_workload(hidden=(16, 8)),
                "digits": digits_workload, "wide": wide_workload,
                "digits10": lambda: digits10_workload("sgd", opts.quick),
                "wide10": lambda: wide10_workload(quick=opts.quick),
                "digits10-adam": lambda: digits10_workload("adam", opts.quick)}
    chosen = [w for w in BINARY + MULTICLASS if w in opts.workloads]
    width = max([8] + [len(w) for w in chosen])
    peers = [p for p in PEERS if p in opts.peers]
    if chosen:
        print(f"µs per training epoch, median of {opts.repeats} timed fits after a warm-up; "
              f"(/cnet) is the peer's time over cnet's (cnet = compiled loop, "
              f"numpy = its numpy twin); 'noisy' flags peers whose timed fits differ by "
              f"more than {NOISY_SPREAD}x. Gate: from cnet's initial weights, each peer's "
              f"loss after the same epochs must equal cnet's within a relative "
              f"{gate.RTOL['float64']:.0e} (float64) or {gate.RTOL['float32']:.0e} (float32), "
              f"else it is not timed. n/a: the peer is not made for that workload")
        print_compare_header(peers, width)
    for name in chosen:
        if name == next((w for w in chosen if w in MULTICLASS), None):
            print(f"10 classes, softmax output: cnet = cnet.MLPClassifier(backend=\"cython\"), "
                  f"numpy = cnet.MLPClassifier(backend=\"numpy\"); digits10-adam: Adam, "
                  f"learning rate 0.001")
        wl = builders[name]()
        for dtype_name in opts.dtypes:
            row = compare_row(wl, dtype_name, opts)
            out["rows"].append(row)
            print_compare_row(row, peers, width)

    if "wide" in chosen:
        matmul_floor_rows(out, wide_workload(), opts)
    if "wide10" in chosen:
        matmul_floor_rows(out, wide10_workload(quick=opts.quick), opts)
    if "wide" in chosen:
        mem = peak_fit_memory(wide_workload())
        out["memory"] = mem
        print(f"\nwide float32, one NeuralNet.fit: peak extra memory (tracemalloc) "
              f"{mem['peak_extra_bytes'] / 2**20:.1f} MiB = {mem['extra_over_base']:.2f}x "
              f"(X + parameters = {(mem['X_bytes'] + mem['param_bytes']) / 2**20:.1f} MiB); "
              f"(X + parameters + extra) / (X + parameters) = {mem['total_over_base']:.2f}x, "
              f"target <= 1.5x")

    if "digits10-lbfgs" in opts.workloads:
        out["lbfgs"] = whole_fit.lbfgs_rows(opts.quick, opts.repeats, opts.settle_s)
        whole_fit.print_lbfgs(out["lbfgs"])
    if "sparse-text" in opts.workloads:
        out["sparse"] = whole_fit.sparse_rows(opts.quick, min(3, opts.repeats), opts.settle_s)
        whole_fit.print_sparse(out["sparse"])

    if "scaling" in opts.workloads:
        dtype_name = opts.dtypes[0]
        print(f"\nscaling, {dtype_name}: µs per epoch of cnet and its numpy twin; BLAS: does "
              f"the first layer's forward product go to BLAS (else hand-written loops)")
        print(f"{'vary':<6}{'value':>7}  {'layers':<18}{'rows':>7}{'batch':>7}{'cnet µs':>11}"
              f"{'numpy µs':>11}{'numpy/cnet':>13}{'BLAS':>7}")
        out["scaling"] = scaling_rows(opts, dtype_name)
    return out


def main(argv=None, default_json=DEFAULT_JSON, prog=None):
    """Run the comparison and print its tables (see the module docstring).

    Parameters
    ----------
    argv : list of str, optional
        Command-line arguments; defaults to ``sys.argv[1:]``.
    default_json : path, default ``cnet-bench.json``
        Where the results go unless ``--json`` says otherwise.
    prog : str, optional
        The program name in ``--help``.
    """
    opts = parse_args(argv, default_json, prog)
    if opts.threads == 1:
        # XLA reads these when its CPU backend starts, at the first JAX computation; they
        # can make it single-threaded, not limit it to N > 1 threads.
        os.environ["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "") + " --xla_cpu_multi_thread"
                                   "_eigen=false intra_op_parallelism_threads=1").strip()
    start = time.perf_counter()
    if opts.threads is not None and torch is not None:
        torch.set_num_threads(opts.threads)
    with threadpool_limits(limits=opts.threads):
        out = run(opts)
    out["elapsed_s"] = time.perf_counter() - start
    out["machine"]["load_average_at_end"] = load_average()
    opts.json.parent.mkdir(parents=True, exist_ok=True)
    opts.json.write_text(json.dumps(out, indent=1, default=float))
    print(f"\nwrote {opts.json} ({out['elapsed_s']:.0f} s)")


if __name__ == "__main__":
    main()
