"""The load and threads rows: cnet's fits when the cores are not all theirs.

**load**: a whole fit's time while one busy process per usable core spins (a pure-Python
``while True: pass``), over its time on the quiet machine. A fit that keeps to one core gets
its fair share, 1.5x on 2 cores (three runnable tasks on two cores); the goal is <= 1.6x.

**threads**: two fits in two threads of this process against one fit alone, as throughput:
2 x (one fit's time) / (the two fits' wall time). The compiled loop releases the GIL, so two
cores give up to 2.0x; the goal is >= 1.8x.

Each row is measured with cnet's BLAS thread policy (``src_c/_gemm.pxd``,
``cnet._blas_threads``) and with it off (OpenBLAS choosing its threads alone, as before the
policy), side by side in this process, so that the gain is visible. Both fits are
``cnet.MLPClassifier`` with plain SGD (:func:`cnet.bench.peers.mlp_params`): digits10
([64, 128, 10], batch 64) and wide10 ([784, 256, 128, 10], batch 256).
"""
import os
import statistics
import subprocess
import sys
import threading
import time
import warnings
from contextlib import contextmanager, nullcontext

from sklearn.exceptions import ConvergenceWarning

import cnet
from cnet import _blas_threads
from cnet.bench.peers import _fit_quietly, mlp_params
from cnet.bench.timing import median_seconds
from cnet.bench.workloads import digits10_workload, wide10_workload

GOAL_LOAD = 1.6
GOAL_THREADS = 1.8
# Epochs per fit (quick, full): fits of a few tenths of a second on a quiet 2-core machine.
EPOCHS = {"digits10": (10, 40), "wide10": (1, 2)}
# Seconds the busy processes run before the first timed fit: they are then on every core.
BUSY_WARMUP_S = 0.3


def usable_cores():
    """Cores this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1


@contextmanager
def busy_processes(n):
    """Run ``n`` processes that each keep one core busy, for the enclosed block."""
    procs = [subprocess.Popen([sys.executable, "-c", "while True: pass"],
                              stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL) for _ in range(n)]
    try:
        time.sleep(BUSY_WARMUP_S)
        yield
    finally:
        for p in procs:
            p.kill()
        for p in procs:
            p.wait()


def make_fit(wl, epochs):
    """A callable that runs one whole fit of ``wl`` (cnet.MLPClassifier, float64)."""
    params = mlp_params(wl, epochs)

    def fit():
        _fit_quietly(cnet.MLPClassifier(**params), wl.X, wl.y)
    return fit


def _two_threads_time(fit, repeats, settle_s):
    times = []
    for _ in range(repeats):
        time.sleep(settle_s)
        threads = [threading.Thread(target=fit) for _ in range(2)]
        start = time.perf_counter()
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def _policies():
    return {"on": nullcontext, "off": _blas_threads.policy_off}


def contention_rows(names, quick, repeats, settle_s, rows=("load", "threads")):
    """Measure the load and threads rows of the workloads ``names``.

    Parameters
    ----------
    names : list of str
        Some of ``"digits10"``, ``"wide10"``.
    quick : bool
        Fewer epochs per fit.
    repeats : int
        Timed fits per median.
    settle_s : float
        Seconds of rest before each timed fit (OpenBLAS's threads stop spinning).
    rows : tuple of str
        Which rows: ``"load"``, ``"threads"``.

    Returns
    -------
    list of dict
        One per workload and policy (``"on"``, ``"off"``): the fit times in seconds and the
        ``load`` and ``threads`` ratios that were asked for.
    """
    with warnings.catch_warnings():
        # max_iter ends these fits. The filter is set here, in the main thread, because
        # catch_warnings inside each of two concurrent fits restores the filters racily.
        warnings.simplefilter("ignore", ConvergenceWarning)
        return _contention_rows(names, quick, repeats, settle_s, rows)


def _contention_rows(names, quick, repeats, settle_s, rows):
    builders = {"digits10": lambda: digits10_workload("sgd", quick),
                "wide10": lambda: wide10_workload(quick=quick)}
    cores = usable_cores()
    out = []
    for name in names:
        wl = builders[name]()
        epochs = EPOCHS[name][0 if quick else 1]
        fit = make_fit(wl, epochs)
        results = {policy: {"workload": name, "policy": policy, "epochs": epochs,
                            "busy_processes": cores} for policy in _policies()}
        for policy, context in _policies().items():
            with context():
                fit()   # warm-up: one-time costs, OpenBLAS's threads created
                results[policy]["quiet_s"] = median_seconds(fit, repeats, settle_s)
                if "threads" in rows:
                    two = _two_threads_time(fit, repeats, settle_s)
                    results[policy]["two_threads_s"] = two
                    results[policy]["threads"] = 2 * results[policy]["quiet_s"] / two
        if "load" in rows:
            # One set of busy processes for both policies, taken in turn, so that both see
            # the same load.
            with busy_processes(cores):
                busy = {policy: [] for policy in _policies()}
                for _ in range(repeats):
                    for policy, context in _policies().items():
                        with context():
                            busy[policy].append(median_seconds(fit, 1, settle_s))
            for policy, times in busy.items():
                results[policy]["busy_s"] = statistics.median(times)
                results[policy]["load"] = results[policy]["busy_s"] / results[policy]["quiet_s"]
        out.extend(results.values())
    return out


def print_contention(rows):
    """The load and threads table; "off" rows are OpenBLAS choosing its threads alone."""
    if not rows:
        return
    print(f"\nload and threads: cnet.MLPClassifier fits, float64, ms per whole fit (median). "
          f"load = fit time while {rows[0]['busy_processes']} busy processes (one per core) "
          f"run, over the quiet time: goal <= {GOAL_LOAD}x (fair share on 2 cores 1.5x). "
          f"threads = two fits in two threads over one fit, throughput: goal >= "
          f"{GOAL_THREADS}x. policy off: OpenBLAS choosing its threads alone, as before")
    print(f"{'workload':<10}{'policy':<8}{'epochs':>7}{'quiet ms':>10}{'busy ms':>10}"
          f"{'load':>8}{'2 fits ms':>11}{'threads':>9}")
    for r in rows:
        busy = f"{r['busy_s'] * 1e3:,.0f}" if "busy_s" in r else "-"
        load = f"{r['load']:.2f}x" if "load" in r else "-"
        two = f"{r['two_threads_s'] * 1e3:,.0f}" if "two_threads_s" in r else "-"
        threads = f"{r['threads']:.2f}x" if "threads" in r else "-"
        print(f"{r['workload']:<10}{r['policy']:<8}{r['epochs']:>7}{r['quiet_s'] * 1e3:>10,.0f}"
              f"{busy:>10}{load:>8}{two:>11}{threads:>9}", flush=True)
