"""Shared fixtures: the seed workload and the two kernel backends."""
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


@pytest.fixture(params=["kernels", "reference"])
def backend(request):
    """The compiled kernels and their numpy twin, behind the same names and signatures."""
    return getattr(cnet, request.param)
