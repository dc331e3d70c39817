"""Which build of the compiled training loop runs: the best this CPU supports.

``pip install .`` on x86-64 builds the training loop (``_train``) for the baseline x86-64 and
for x86-64-v3 (AVX2 and FMA), and for x86-64-v4 (AVX-512) when asked to (see setup.py). At
import, cnet asks the CPU which it can run and uses the best, as numpy and OpenBLAS choose
their kernels; ``CNET_CPU=baseline|avx2|avx512`` forces one. Every variant computes the same
functions; the tests run the loop's twin-equivalence and gradient tables on each variant the
machine supports. The raw kernel entry points (``_kernels``) are built once, for the baseline:
they serve ``cnet.kernels`` and the tests, not the training loop.
"""
import importlib
import os
from contextlib import contextmanager
from contextvars import ContextVar

from cnet import _kernels

# Each variant: the package holding its modules and the x86-64 level it needs.
VARIANTS = {"baseline": ("cnet", 1), "avx2": ("cnet._avx2", 3), "avx512": ("cnet._avx512", 4)}
# The modules built for every variant; the others exist in the baseline package only.
_VARIANT_MODULES = ("_train",)


def _built(variant):
    try:
        for name in _VARIANT_MODULES:
            importlib.import_module(f"{VARIANTS[variant][0]}.{name}")
    except ImportError:
        return False
    return True


def supported():
    """The variants that are built and that this CPU can run, best last.

    Returns
    -------
    list of str
    """
    level = _kernels.cpu_level()
    # In VARIANTS' order, the baseline first: every variant's loop is compiled from the
    # baseline's C, whose module init files itself under "cnet._train" if no module is there
    # yet, so the baseline must be imported before any other variant.
    return [name for name, (_, needs) in VARIANTS.items() if needs <= level and _built(name)]


def _choose():
    available = supported()
    forced = os.environ.get("CNET_CPU")
    if not forced:
        return available[-1]
    if forced not in VARIANTS:
        raise ValueError(f"CNET_CPU must be one of {list(VARIANTS)}, got {forced!r}")
    if forced not in available:
        # Running code for instructions the CPU lacks would kill the process: refuse.
        built_on_request = (forced == "avx512" and not _built(forced)
                            and _kernels.cpu_level() >= VARIANTS[forced][1])
        raise ImportError(f"CNET_CPU={forced}: this CPU or this build does not provide it; "
                          f"available here: {available}"
                          + ("; build it with CNET_AVX512=1 pip install ." if built_on_request
                             else ""))
    return forced


_default = _choose()
# A context variable: `using` in one thread (or task) leaves every other one on its own build.
_active = ContextVar("cnet_cpu_variant", default=_default)
_cache = {}


def active():
    """The variant in use: ``"baseline"``, ``"avx2"`` or ``"avx512"``."""
    return _active.get()


def module(name):
    """The compiled module ``name`` (``"_kernels"`` or ``"_train"``) of the active variant
    (``"_kernels"``: the baseline's, its only build)."""
    key = (_active.get() if name in _VARIANT_MODULES else "baseline", name)
    if key not in _cache:
        _cache[key] = importlib.import_module(f"{VARIANTS[key[0]][0]}.{name}")
    return _cache[key]


@contextmanager
def using(variant):
    """Run the enclosed code, in this thread, on ``variant`` (for tests and benchmarks)."""
    if variant not in supported():
        raise ValueError(f"variant {variant!r} is not available here: {supported()}")
    token = _active.set(variant)
    try:
        yield
    finally:
        _active.reset(token)
