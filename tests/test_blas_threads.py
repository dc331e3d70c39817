"""The BLAS thread policy: which products may use OpenBLAS's threads, when cnet holds OpenBLAS
at one thread, that ``threadpool_limits`` and ``CNET_NUM_THREADS`` are obeyed, and that the
policy never changes what is computed.

Nothing here is timed: thread counts are observed through threadpoolctl at the moment a
compiled loop starts (a spy on ``cnet._blas_threads.loop_started``), and whether OpenBLAS's
worker threads ran through their CPU time in ``/proc``.
"""
import json
import os
import subprocess
import sys
import textwrap
import threading
import warnings
from pathlib import Path

import numpy as np
import pytest
from sklearn.datasets import load_digits
from sklearn.exceptions import ConvergenceWarning
from threadpoolctl import threadpool_info, threadpool_limits

import cnet
from cnet import _blas_threads, _cpu

# The products of one digits10 batch (layers 64 -> 128 -> 10, batch 64) as the loop calls them
# (m, n, k), forward and backward: all of them are where a second thread does not pay.
DIGITS10_PRODUCTS = [(128, 64, 64), (10, 64, 128), (128, 64, 10), (128, 10, 64), (64, 128, 64)]
# A network whose first layer's products (300 * 256 * 128 multiply-adds) may use threads.
LARGE = dict(hidden_layer_sizes=(256,), batch_size=128)


def _openblas_threads():
    return [i["num_threads"] for i in threadpool_info() if i["internal_api"] == "openblas"]


@pytest.fixture
def spy(monkeypatch):
    """The OpenBLAS thread counts seen just after each compiled loop with large products has
    started (the hold, if any, is then in place), and the number of such loops running."""
    seen = []
    original = _blas_threads.loop_started

    def loop_started():
        original()
        seen.append((min(_openblas_threads()), _blas_threads.running_loops()))

    monkeypatch.setattr(_blas_threads, "loop_started", loop_started)
    return seen


def _large_fit(dtype=np.float64, max_iter=2):
    rng = np.random.default_rng(0)
    X = rng.standard_normal((256, 300)).astype(dtype)
    y = (X[:, 0] > 0).astype(int)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return cnet.MLPClassifier(**LARGE, max_iter=max_iter, random_state=0).fit(X, y)


def _digits10_fit(dtype=np.float64, max_iter=3):
    X, y = load_digits(return_X_y=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return cnet.MLPClassifier((128,), solver="sgd", batch_size=64, max_iter=max_iter,
                                  random_state=0).fit((X / 16).astype(dtype), y)


# The raw kernels are built for the baseline only (setup.py): one run each.
def test_product_paths():
    paths = cnet._cpu.module("_kernels").matmul_path
    assert paths(8, 8, 8) == "small"
    # OpenBLAS keeps a product this size on the calling thread by itself.
    assert paths(64, 64, 64) == "blas one call"
    for m, n, k in DIGITS10_PRODUCTS:
        assert paths(m, n, k) != "blas threads", (m, n, k)
    assert paths(128, 64, 64) == paths(64, 128, 64) == "blas split"
    # Neither a row nor a column of C fits OpenBLAS's one-thread bound: left to OpenBLAS.
    assert paths(2, 2, 1_000_000) == "blas threads"
    for m, n, k in [(128, 256, 256), (256, 256, 784), (784, 256, 256)]:
        assert paths(m, n, k) == "blas threads", (m, n, k)
    with pytest.raises(ValueError, match="positive"):
        paths(0, 4, 4)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("m, n, k, trans_a, trans_b", [
    (128, 64, 64, True, True), (64, 128, 64, False, True), (128, 64, 64, False, False),
    (300, 100, 100, True, False),                  # rows of C split, a ragged last block
    (3, 400, 1000, False, False), (5, 300, 900, True, True)])   # columns of C split
def test_split_products_are_one_blas_call(dtype, m, n, k, trans_a, trans_b):
    # Splitting C's rows or columns never splits a sum, but OpenBLAS may compute the blocks
    # with its small-matrix kernels, which round differently from its kernels for the whole
    # product: within a few ulps of the sum's terms. For digits10's products (both small
    # enough for those kernels) float64 is bitwise one call.
    kernels = cnet._cpu.module("_kernels")
    assert kernels.matmul_path(m, n, k) == "blas split"
    rng = np.random.default_rng(0)
    a = rng.standard_normal((k, m) if trans_a else (m, k)).astype(dtype)
    b = rng.standard_normal((n, k) if trans_b else (k, n)).astype(dtype)
    split, whole = np.empty((m, n), dtype), np.empty((m, n), dtype)
    kernels.matmul(a, b, split, trans_a, trans_b)
    kernels.matmul_blas(a, b, whole, trans_a, trans_b)
    if dtype == np.float64 and (m, n, k) in DIGITS10_PRODUCTS:
        np.testing.assert_array_equal(split, whole)
    else:
        scale = np.abs(a).max() * np.abs(b).max() * k
        eps = np.finfo(dtype).eps
        np.testing.assert_allclose(split, whole, rtol=0, atol=8 * eps * scale)
    expected = (a.T if trans_a else a).astype(np.float64) @ (b.T if trans_b else b)
    np.testing.assert_allclose(split, expected, rtol=0,
                               atol=(1e-12 if dtype == np.float64 else 1e-5) * k * 10)


def test_hold_target():
    assert _blas_threads.hold_target(1, None, 2) is None        # alone, quiet: no hold
    assert _blas_threads.hold_target(1, None, None) is None     # load unknown
    assert _blas_threads.hold_target(2, None, 8) == 1           # another cnet loop runs
    assert _blas_threads.hold_target(1, None, 1) == 1           # one core left
    assert _blas_threads.hold_target(1, 3, 8) == 3              # the knob
    assert _blas_threads.hold_target(2, 3, 8) == 1


def test_free_cores_counts_this_process_affinity():
    free = _blas_threads.free_cores()
    if free is None:
        pytest.skip("no /proc/loadavg or sched_getaffinity: the load is not read here")
    assert free <= len(os.sched_getaffinity(0))


def test_a_busy_machine_holds_openblas_at_one_thread_for_the_fit(spy, monkeypatch):
    monkeypatch.setattr(_blas_threads, "free_cores", lambda: 1)
    with threadpool_limits(limits=2, user_api="blas"):
        _large_fit()
        assert spy and all(threads == 1 for threads, _ in spy)
        # Given back when the fit ends.
        assert min(_openblas_threads()) == 2
    assert not _blas_threads.holding() and _blas_threads.running_loops() == 0


@pytest.mark.parametrize("solver", ["sgd", "lbfgs"])
def test_every_compiled_loop_holds_and_gives_back(spy, monkeypatch, solver):
    # train_epochs (sgd), loss_and_gradient (lbfgs) and forward (predict) each count their
    # loop and give the count back, also when they end in an error.
    monkeypatch.setattr(_blas_threads, "free_cores", lambda: 1)
    rng = np.random.default_rng(0)
    X = rng.standard_normal((256, 300))
    y = (X[:, 0] > 0).astype(int)
    with threadpool_limits(limits=2, user_api="blas"):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            clf = cnet.MLPClassifier(**LARGE, solver=solver, max_iter=2, random_state=0)
            clf.fit(X, y)
        fitted = len(spy)
        assert fitted >= 1
        clf.predict(X)
        assert len(spy) == fitted + 1
        with pytest.raises(ValueError):
            clf.predict(X[:, :299])
        assert all(threads == 1 for threads, _ in spy)
        assert min(_openblas_threads()) == 2
    assert _blas_threads.running_loops() == 0 and not _blas_threads.holding()


def test_alone_on_a_quiet_machine_large_products_use_the_threads_allowed(spy, monkeypatch):
    monkeypatch.setattr(_blas_threads, "free_cores", lambda: 2)
    with threadpool_limits(limits=2, user_api="blas"):
        _large_fit()
        assert spy and all(threads == 2 for threads, _ in spy)


def test_threadpool_limits_is_obeyed(spy, monkeypatch):
    monkeypatch.setattr(_blas_threads, "free_cores", lambda: 64)
    monkeypatch.setenv("CNET_NUM_THREADS", "8")
    with threadpool_limits(limits=1, user_api="blas"):
        _large_fit()
        assert spy and all(threads == 1 for threads, _ in spy)
        assert max(_openblas_threads()) == 1   # never raised, not even when giving back


def test_the_knob_caps_cnets_blas_threads(spy, monkeypatch):
    monkeypatch.setattr(_blas_threads, "free_cores", lambda: 64)
    monkeypatch.setenv("CNET_NUM_THREADS", "1")
    with threadpool_limits(limits=2, user_api="blas"):
        _large_fit()
        assert spy and all(threads == 1 for threads, _ in spy)
        assert min(_openblas_threads()) == 2


@pytest.mark.parametrize("bad", ["0", "-1", "two", "1.5"])
def test_a_bad_knob_is_refused_and_nothing_is_held(monkeypatch, bad):
    monkeypatch.setenv("CNET_NUM_THREADS", bad)
    with threadpool_limits(limits=2, user_api="blas"):
        with pytest.raises(ValueError, match="CNET_NUM_THREADS"):
            _large_fit()
        assert min(_openblas_threads()) == 2
    assert _blas_threads.running_loops() == 0 and not _blas_threads.holding()


def test_a_second_loop_in_another_thread_holds_and_the_last_gives_back(monkeypatch):
    monkeypatch.setattr(_blas_threads, "free_cores", lambda: 64)
    started, release = threading.Event(), threading.Event()

    def other_loop():
        _blas_threads.loop_started()
        started.set()
        release.wait(10)
        _blas_threads.loop_finished()

    with threadpool_limits(limits=2, user_api="blas"):
        _blas_threads.loop_started()
        assert not _blas_threads.holding() and min(_openblas_threads()) == 2
        other = threading.Thread(target=other_loop)
        other.start()
        try:
            assert started.wait(10)
            assert _blas_threads.running_loops() == 2
            assert _blas_threads.holding() and max(_openblas_threads()) == 1
            # A loop nested in this thread (predict inside a fit's scorer) counts once.
            _blas_threads.loop_started()
            assert _blas_threads.running_loops() == 2
            _blas_threads.loop_finished()
        finally:
            release.set()
            other.join()
        assert _blas_threads.running_loops() == 1 and max(_openblas_threads()) == 1
        _blas_threads.loop_finished()
        assert not _blas_threads.holding() and min(_openblas_threads()) == 2


def test_small_networks_never_touch_openblas_threads(spy):
    # A digits10 fit has no product that may use threads: nothing to count or hold.
    _digits10_fit(max_iter=1)
    assert spy == []


def _params(model):
    return model.coefs_ + model.intercepts_


def test_the_policy_does_not_change_a_float64_digits10_fit():
    # Its split products are bitwise one BLAS call each (see above): bitwise the fit of
    # OpenBLAS deciding alone.
    with threadpool_limits(limits=2, user_api="blas"):
        with_policy = _digits10_fit()
        with _blas_threads.policy_off():
            without = _digits10_fit()
    for a, b in zip(_params(with_policy), _params(without)):
        np.testing.assert_array_equal(a, b)


def test_the_hold_changes_a_large_fit_only_by_rounding(monkeypatch):
    # OpenBLAS's own thread count changes the last bits of some products (k = 300 here), as
    # threadpool_limits always did: the held fit equals the threaded one within rounding.
    monkeypatch.setattr(_blas_threads, "free_cores", lambda: 1)
    with threadpool_limits(limits=2, user_api="blas"):
        held = _large_fit()
        with _blas_threads.policy_off():
            threaded = _large_fit()
    for a, b in zip(_params(held), _params(threaded)):
        np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-12)


def test_the_policy_keeps_float32_results_within_rounding():
    with_policy = _digits10_fit(np.float32)
    with _blas_threads.policy_off():
        without = _digits10_fit(np.float32)
    for a, b in zip(_params(with_policy), _params(without)):
        assert a.dtype == np.float32
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)


SPY_SCRIPT = textwrap.dedent("""
    import json, os, threading, time, warnings
    import numpy as np
    from sklearn.datasets import load_digits
    from threadpoolctl import threadpool_limits
    import cnet

    def other_threads_ticks():
        # CPU time (clock ticks) of every thread of this process but this one: OpenBLAS's
        # workers, which run only when a product goes multi-threaded.
        me, total = threading.get_native_id(), 0
        for tid in os.listdir("/proc/self/task"):
            if int(tid) != me:
                with open(f"/proc/self/task/{tid}/stat") as f:
                    fields = f.read().rsplit(")", 1)[1].split()
                total += int(fields[11]) + int(fields[12])
        return total

    X, y = load_digits(return_X_y=True)
    X = X / 16
    def fit():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            cnet.MLPClassifier((128,), solver="sgd", batch_size=64, max_iter=15,
                               random_state=0).fit(X, y)
    with threadpool_limits(limits=2, user_api="blas"):
        fit()
        time.sleep(0.5)   # OpenBLAS's workers spin about 0.1 s after a call before sleeping
        before = other_threads_ticks()
        fit()
        print(json.dumps({"ticks": other_threads_ticks() - before}))
""")


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc/self/task")
def test_a_digits10_fit_never_wakes_openblas_threads(tmp_path):
    # Before the policy, OpenBLAS ran this fit's 128 x 64 x 64 products on two threads; on a
    # busy machine those threads spin waiting for each other (3.6x to 80x slower fits). A
    # fresh process, so that no other test's threads run meanwhile.
    # The child imports the cnet under test, from a folder that holds no other.
    env = dict(os.environ, CNET_CPU=_cpu.active(),
               PYTHONPATH=str(Path(cnet.__file__).parent.parent))
    env.pop("CNET_NUM_THREADS", None)
    out = subprocess.run([sys.executable, "-c", SPY_SCRIPT], capture_output=True, text=True,
                         timeout=120, env=env, cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout.strip().splitlines()[-1])["ticks"] == 0
