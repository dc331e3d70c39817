"""Shared fixtures: the seed workload, the two kernel backends, scikit-learn's seed fixture."""
import os

import numpy as np
import pytest
from sklearn.datasets import make_moons
from sklearn.model_selection import train_test_split

import cnet

# Tolerances of Cython against the numpy twin, per dtype: a few ulps of rounding difference from
# summation order (dot products, BLAS blocking), scaled by the size of the sums involved.
RTOL = {np.float32: 2e-5, np.float64: 1e-12}
ATOL = {np.float32: 1e-5, np.float64: 1e-12}


@pytest.fixture(scope="session")
def moons():
    """The tutorials' workload: make_moons(300, noise=0.2), 80/20 split."""
    X, y = make_moons(300, noise=0.2, random_state=0)
    return train_test_split(X, y, random_state=0, test_size=0.2)


@pytest.fixture(params=cnet._cpu.supported())
def cpu_variant(request):
    """Each compiled build this machine can run (baseline, avx2, avx512), made the active one
    for the test: modules that use it run their tables on every variant."""
    with cnet._cpu.using(request.param):
        yield request.param


@pytest.fixture(params=["kernels", "reference"])
def backend(request):
    """The compiled kernels and their numpy twin, behind the same names and signatures."""
    return getattr(cnet, request.param)


def pytest_generate_tests(metafunc):
    """``global_random_seed`` as scikit-learn's own conftest defines it, for its MLP suite.

    SKLEARN_TESTS_GLOBAL_RANDOM_SEED selects the seeds: unset, 42; ``"all"``, 0 to 99; an
    integer, or ``"a-b"``, that seed or that range.
    """
    if "global_random_seed" not in metafunc.fixturenames:
        return
    value = os.environ.get("SKLEARN_TESTS_GLOBAL_RANDOM_SEED")
    if value is None:
        seeds = [42]
    elif value == "all":
        seeds = list(range(100))
    elif "-" in value:
        low, high = map(int, value.split("-"))
        seeds = list(range(low, high + 1))
    else:
        seeds = [int(value)]
    metafunc.parametrize("global_random_seed", seeds)
