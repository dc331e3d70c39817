"""The compiled loop under threads, and its memory over many calls."""
import gc
import os
import sys
import threading
import tracemalloc
import warnings

import numpy as np
import pytest
from sklearn.exceptions import ConvergenceWarning

import cnet
from cnet import kernels


def _fit(seed, out):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((400, 6))
    y = X[:, 0] * X[:, 1] > 0
    net = cnet.NeuralNet(layers=[6, 12, 8, 1], iterations=300, learning_rate=0.05,
                         batch_size=32, random_state=seed, loss_every=0).fit(X, y)
    out[seed] = net._params_flat.copy()


def test_two_fits_in_two_threads_equal_two_fits_in_sequence():
    # The loop releases the GIL, and nothing in it is shared between models: running two
    # at once must give bitwise the parameters each gives alone. (Small layers: the
    # hand-written matmul path, whose result cannot depend on how BLAS splits work.)
    sequential, threaded = {}, {}
    for seed in (1, 2):
        _fit(seed, sequential)
    threads = [threading.Thread(target=_fit, args=(seed, threaded)) for seed in (1, 2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for seed in (1, 2):
        np.testing.assert_array_equal(threaded[seed], sequential[seed])


def test_kernels_hold_no_references():
    a = np.random.default_rng(0).standard_normal((30, 40))
    before = sys.getrefcount(a)
    for _ in range(1000):
        kernels.matmul(a, a, trans_b=True)
        kernels.relu(a)
        kernels.softmax(a)
        kernels.binary_cross_entropy(a, (a > 0).astype(float))
    assert sys.getrefcount(a) == before


def _resident_bytes():
    """Current resident set size on Linux (None elsewhere)."""
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except OSError:
        return None


def test_many_fits_do_not_grow_memory():
    # 1,000 fit/predict calls (every tenth an MLPClassifier, with shuffled mini-batches so the
    # C-allocated shuffle buffer is exercised). Bounds, from the 100th call to the last:
    # the memory Python tracks (numpy's arrays included) grows by under 1 MiB, the resident
    # set by under 8 MiB. Leaking the workspace of one call would exceed both within 100.
    X = np.random.default_rng(0).standard_normal((2000, 8))
    y = X[:, 0] > 0

    def one_round(i):
        net = cnet.NeuralNet(layers=[8, 32, 1], iterations=2, batch_size=64,
                             random_state=0).fit(X, y)
        net.predict_proba(X)
        if i % 10 == 0:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", ConvergenceWarning)
                cnet.MLPClassifier((16,), max_iter=1, random_state=0).fit(X, y).predict(X)

    tracemalloc.start()
    try:
        for i in range(1000):
            one_round(i)
            if i == 99:
                gc.collect()
                early, _ = tracemalloc.get_traced_memory()
                early_rss = _resident_bytes()
        gc.collect()
        late, _ = tracemalloc.get_traced_memory()
        late_rss = _resident_bytes()
    finally:
        tracemalloc.stop()
    assert late - early < 2**20, (early, late)
    if early_rss is not None:
        assert late_rss - early_rss < 8 * 2**20, (early_rss, late_rss)
