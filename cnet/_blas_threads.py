"""When cnet's compiled loops let OpenBLAS use more than one thread.

The compiled loops call scipy's OpenBLAS (``scipy.linalg.cython_blas``). How each product is
computed is decided in ``src_c/_gemm.pxd`` from its size alone: small and mid-sized products
always run on the calling thread; only products of at least ``GEMM_PARALLEL_MIN_WORK``
multiply-adds reach OpenBLAS's threads, as many as OpenBLAS is allowed (threadpoolctl's
``threadpool_limits`` sets that, and this module never raises it).

Even large products lose from a second thread when its core is taken: by another cnet loop in
this process (OpenBLAS's threaded products from two threads also wait for each other on a
lock), or by other processes (the threads spin waiting for each other). So while a loop with
such products runs, this module holds OpenBLAS at one thread if

- another such cnet loop is running in this process (in another thread), or
- when the loop starts, fewer than two cores of this process's affinity are left after the
  other runnable tasks on the machine (``/proc/loadavg``, Linux only);

otherwise at ``CNET_NUM_THREADS`` threads if that is set and lower (the knob: at most that
many BLAS threads for cnet's loops); and gives the previous counts back when the last such
loop ends. The thread count is
process-wide in OpenBLAS (its ``openblas_set_num_threads_local`` sets the global count in
the pthreads builds scipy ships), so a BLAS call from another thread of this process during
the hold runs on one thread too: that is the price of the hold, and why it is held only while
a loop that needs it runs. As with ``threadpool_limits``, OpenBLAS's thread count can change
the last bits of some products (measured: float64, k = 300), so a held fit and a threaded one
agree within rounding, not always bitwise.
"""
import ctypes
import itertools
import os
import threading
from contextlib import contextmanager

from threadpoolctl import ThreadpoolController

_lock = threading.Lock()
_find_lock = threading.Lock()
_running = 0          # threads running loops whose products may use BLAS threads
_depth = threading.local()   # such loops nested in this thread (predict inside a fit's scorer)
_held_from = None     # the thread counts before the hold, while cnet holds OpenBLAS lower
_held_at = None       # the counts cnet set
_enabled = True       # False inside policy_off()
_libraries = None


class _OpenBLAS:
    """The thread-count getter and setter of one loaded OpenBLAS, called directly.

    threadpoolctl finds the libraries, but its setter lets only the first thread that used
    it change a pthreads OpenBLAS's count (silently doing nothing in the others), and the
    hold must be taken by whichever thread starts the second loop.
    """

    def __init__(self, path, threading_layer):
        lib = ctypes.CDLL(path)
        for prefix, suffix in itertools.product(("", "scipy_"), ("", "64_", "_64")):
            if hasattr(lib, f"{prefix}openblas_set_num_threads{suffix}"):
                self._get = getattr(lib, f"{prefix}openblas_get_num_threads{suffix}")
                self._set = getattr(lib, f"{prefix}openblas_set_num_threads{suffix}")
                break
        else:
            raise OSError(f"no openblas_set_num_threads in {path}")
        self._get.restype = ctypes.c_int
        self._set.argtypes = [ctypes.c_int]
        self._set.restype = None
        # With OpenMP the count is per calling thread: holding it from one thread would not
        # reach the others' loops, so such a library is left alone.
        self.openmp = threading_layer == "openmp"

    def get_num_threads(self):
        return self._get()

    def set_num_threads(self, n):
        self._set(n)


def _openblas():
    """The pthreads OpenBLAS libraries loaded in this process.

    All of them, not only scipy's: which one ``cython_blas`` binds cannot be asked, and
    numpy's is not called by the compiled loops, so holding it too changes nothing for cnet.
    """
    global _libraries
    # Found once, under the lock: two loops starting at once would otherwise both search.
    with _find_lock:
        if _libraries is None:
            _libraries = _find_openblas()
    return _libraries


def _find_openblas():
    import scipy.linalg.cython_blas  # noqa: F401  (make sure the library is loaded)
    found = []
    for c in ThreadpoolController().lib_controllers:
        if c.internal_api == "openblas":
            try:
                lib = _OpenBLAS(c.filepath, c.threading_layer)
            except OSError:
                continue
            if not lib.openmp:
                found.append(lib)
    return found


def knob_threads():
    """The value of ``CNET_NUM_THREADS`` (None if unset or empty).

    Raises
    ------
    ValueError
        If it is not a positive integer.
    """
    text = os.environ.get("CNET_NUM_THREADS", "").strip()
    if not text:
        return None
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise ValueError(f"CNET_NUM_THREADS must be a positive integer, got {text!r}")
    return value


def free_cores():
    """Cores of this process's affinity not taken by other runnable tasks, or None where the
    load cannot be read (not Linux).

    ``/proc/loadavg``'s fourth field counts the tasks runnable at this instant, this thread
    included; the smallest of three reads discounts a task that was runnable for a moment.
    """
    try:
        cores = len(os.sched_getaffinity(0))
        runnable = []
        for _ in range(3):
            with open("/proc/loadavg") as f:
                runnable.append(int(f.read().split()[3].split("/")[0]))
    except (OSError, AttributeError, ValueError, IndexError):
        return None
    return cores - (min(runnable) - 1)


def hold_target(running, knob, free):
    """The thread count to hold OpenBLAS at while a loop runs, or None for no hold.

    Parameters
    ----------
    running : int
        Threads of this process running loops with products that may use BLAS threads,
        the starting one included.
    knob : int or None
        ``CNET_NUM_THREADS``.
    free : int or None
        :func:`free_cores`.

    Returns
    -------
    int or None
    """
    if running >= 2 or (free is not None and free < 2):
        return 1
    return knob


def loop_started():
    """Called by the compiled loops (``cnet._train``) when a loop whose products may use BLAS
    threads starts; pair it with :func:`loop_finished`.

    Raises
    ------
    ValueError
        If ``CNET_NUM_THREADS`` is invalid (nothing is then counted as started).
    """
    global _running, _held_from, _held_at
    if not _enabled:
        return
    knob = knob_threads()
    depth = getattr(_depth, "value", 0)
    if depth:
        _depth.value = depth + 1
        return   # this thread is already counted, and held if it needs to be
    # Found on the first such loop whether or not it holds, so that the search (tens of ms)
    # falls on one predictable call rather than on whichever loop first meets a busy machine.
    libraries = _openblas()
    with _lock:
        target = hold_target(_running + 1, knob, free_cores())
        if target is not None:
            counts = [c.get_num_threads() for c in libraries]
            if any(count > target for count in counts):
                if _held_from is None:
                    _held_from = counts
                _held_at = [min(count, target) for count in counts]
                for c, count in zip(libraries, _held_at):
                    c.set_num_threads(count)
        # Counted last, once nothing can raise: an interrupt above leaves no loop counted
        # that loop_finished would never uncount.
        _running += 1
        _depth.value = 1


def loop_finished():
    """Called by the compiled loops when a loop counted by :func:`loop_started` ends. The last
    thread to finish gives OpenBLAS back its thread counts, unless something else changed one
    meanwhile (a ``threadpool_limits`` entered or left in another thread wins)."""
    global _running, _held_from, _held_at
    if getattr(_depth, "value", 0) == 0:
        return   # started inside policy_off(), so never counted
    _depth.value -= 1
    if _depth.value:
        return
    with _lock:
        _running -= 1
        if _running == 0 and _held_from is not None:
            for c, before, held in zip(_openblas(), _held_from, _held_at):
                if c.get_num_threads() == held:
                    c.set_num_threads(before)
            _held_from = _held_at = None


def running_loops():
    """Loops with products that may use BLAS threads running now (for tests)."""
    return _running


def holding():
    """Whether cnet holds OpenBLAS at one thread now (for tests and benchmarks)."""
    return _held_from is not None


@contextmanager
def policy_off():
    """Compute as cnet did before this policy, for benchmarks and tests: no split of
    mid-sized products in the active variant's compiled modules, no hold; OpenBLAS alone
    decides its threads. Not for use while cnet loops run in other threads."""
    global _enabled
    from cnet import _cpu
    modules = [_cpu.module("_kernels"), _cpu.module("_train")]
    before = [module.set_one_thread_split(False) for module in modules]
    _enabled = False
    try:
        yield
    finally:
        _enabled = True
        for module, on in zip(modules, before):
            module.set_one_thread_split(on)
