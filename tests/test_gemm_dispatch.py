"""The choice between cnet's hand-written matmul loops and BLAS on skinny products (one
dimension in 1..16), and the three ways of computing them: the loops, one BLAS call, and the
dispatched product the training loop runs, against numpy, on every compiled build this CPU
runs (conftest.cpu_variant)."""
import numpy as np
import pytest
from sklearn.datasets import make_moons

import cnet
from cnet import _cpu

pytestmark = pytest.mark.usefixtures("cpu_variant")

FORMS = {"NN": (False, False), "TN": (True, False), "NT": (False, True), "TT": (True, True)}

# (m, n, k): a small K, M or N on both sides of each threshold of src_c/_gemm.pxd: the work
# bound 4096 (GEMM_BLAS_MIN_WORK), GEMM_SKINNY_K = 4, one or two rows or columns of C (2 and
# 3), the loops' long dimension GEMM_SKINNY_MIN_LOOP = 64 (63 and 64), TT's panel (inner
# dimension 128 and 129; 1024 columns per block at k = 2, so 2100 columns take three).
SKINNY_SHAPES = [
    (40, 100, 1), (40, 100, 2), (5, 240, 2),             # below the work bound
    (64, 300, 1), (64, 300, 2), (37, 129, 4), (37, 129, 5), (33, 200, 16),
    (64, 63, 2), (64, 64, 2), (64, 2100, 2), (3, 700, 3),
    (1, 300, 50), (2, 300, 50), (3, 300, 50), (1, 5000, 16), (16, 300, 40),
    (300, 1, 63), (300, 1, 64), (300, 2, 100), (300, 3, 100), (2, 300, 100), (3, 300, 100),
    (50, 3, 600), (7, 1, 1100), (2, 40, 1100), (40, 16, 128), (40, 16, 129), (3, 17, 300),
]


def _operands(form, m, n, k, dtype, seed):
    trans_a, trans_b = FORMS[form]
    rng = np.random.default_rng(seed)
    a = rng.standard_normal((k, m) if trans_a else (m, k)).astype(dtype)
    b = rng.standard_normal((n, k) if trans_b else (k, n)).astype(dtype)
    c0 = rng.standard_normal((m, n)).astype(dtype)
    return a, b, c0


def _check(got, a, b, c0, form, alpha, accumulate):
    """got against numpy's product in float64, within the rounding bound of any order of
    summation: |error| <= (k + 2) eps (|alpha| |op(a)| |op(b)| + |c0|), eps of got's dtype
    (k - 1 additions, the products, the scaling by alpha and the addition of c0)."""
    trans_a, trans_b = FORMS[form]
    a64 = a.astype(np.float64).T if trans_a else a.astype(np.float64)
    b64 = b.astype(np.float64).T if trans_b else b.astype(np.float64)
    c64 = c0.astype(np.float64)
    expected = alpha * (a64 @ b64) + (c64 if accumulate else 0)
    bound = abs(alpha) * (np.abs(a64) @ np.abs(b64)) + (np.abs(c64) if accumulate else 0)
    k = a64.shape[1]
    eps = np.finfo(got.dtype).eps
    excess = np.abs(got - expected) - (k + 2) * eps * bound
    assert excess.max() <= 0, f"off by more than the rounding bound: {excess.max()}"


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("form", list(FORMS))
@pytest.mark.parametrize("mnk", SKINNY_SHAPES)
@pytest.mark.parametrize("alpha, accumulate", [(1.0, False), (-0.375, True)])
def test_every_path_equals_numpy(mnk, form, dtype, alpha, accumulate):
    m, n, k = mnk
    kernels = _cpu.module("_kernels")
    trans_a, trans_b = FORMS[form]
    a, b, c0 = _operands(form, m, n, k, dtype, m * 10007 + n * 101 + k)
    for name in ("matmul_small", "matmul_blas", "matmul"):
        out = c0.copy()
        getattr(kernels, name)(a, b, out, trans_a, trans_b, alpha, accumulate)
        _check(out, a, b, c0, form, alpha, accumulate)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_the_check_can_fail(dtype):
    # The bound is tight enough to see one term of the sum missing or a wrong beta.
    a, b, c0 = _operands("NT", 2, 60, 513, dtype, 0)
    kernels = _cpu.module("_kernels")
    out = c0.copy()
    kernels.matmul(a[:, :-1].copy(), b[:, :-1].copy(), out, False, True, 1.0, True)
    with pytest.raises(AssertionError, match="rounding bound"):
        _check(out, a, b, c0, "NT", 1.0, True)
    out = c0.copy()
    kernels.matmul(a, b, out, False, True, 1.0, False)
    with pytest.raises(AssertionError, match="rounding bound"):
        _check(out, a, b, c0, "NT", 1.0, True)


# (form, m, n, k, path): what gemm_path in src_c/_gemm.pxd says. Skinny products take the
# loops at any size, which also keeps them off OpenBLAS's threads; the others keep the work
# rule (one call up to OpenBLAS's one-thread bound, split blocks up to 4M, threads above).
PATHS = [
    # The [2, H, 1] epoch at H = 500 and 24,000 rows, in the forms the loop uses.
    ("TN", 500, 24000, 2, "small"),         # forward of the input layer (K = 2)
    ("TT", 500, 24000, 2, "small"),         # the same, X read samples x features
    ("TN", 1, 24000, 500, "small"),         # forward of the output layer (M = 1)
    ("NN", 500, 24000, 1, "small"),         # the error to the hidden layer (K = 1)
    ("NT", 500, 1, 24000, "small"),         # the output layer's weight gradient (N = 1)
    ("NT", 2, 500, 24000, "small"),         # the input layer's weight gradient (M = 2)
    # GEMM_SKINNY_K = 4 in the row-update forms, with rows of C of at least 64.
    ("NN", 64, 300, 4, "small"), ("NN", 64, 300, 5, "blas one call"),
    ("TN", 64, 300, 4, "small"), ("TT", 64, 300, 4, "small"), ("TT", 64, 300, 5, "blas one call"),
    ("NT", 64, 300, 4, "blas one call"),
    ("TN", 64, 64, 2, "small"), ("TN", 64, 63, 2, "blas one call"),
    ("TT", 64, 63, 2, "blas one call"),
    # One or two rows of C in NN / TN, not in TT (a strided B).
    ("NN", 1, 300, 50, "small"), ("TN", 1, 300, 50, "small"), ("NN", 2, 300, 50, "small"),
    ("TN", 2, 300, 50, "small"), ("NN", 3, 300, 50, "blas one call"),
    ("TT", 1, 300, 50, "blas one call"), ("NN", 2, 63, 50, "blas one call"),
    # NT: one or two columns or rows of C, with dot products of at least 64.
    ("NT", 300, 1, 64, "small"), ("NT", 300, 1, 63, "blas one call"),
    ("NT", 300, 2, 100, "small"), ("NT", 300, 3, 100, "blas one call"),
    ("NT", 1, 300, 100, "small"), ("NT", 2, 300, 100, "small"),
    ("NT", 3, 300, 100, "blas one call"), ("NN", 300, 1, 50, "blas one call"),
    # digits10's batch products keep their paths.
    ("TT", 128, 64, 64, "blas split"), ("TN", 10, 64, 128, "blas one call"),
    ("NN", 128, 64, 10, "blas one call"), ("NT", 128, 10, 64, "blas one call"),
    ("TT", 64, 128, 64, "blas split"),
    # Below the work bound everything takes the loops; the rules above only add to them.
    ("NN", 15, 16, 16, "small"), ("NN", 16, 16, 16, "blas one call"),
    ("NN", 2, 2, 1_000_000, "blas threads"), ("NT", 2, 2, 1_000_000, "small"),
    ("TN", 1024, 256, 784, "blas threads"),
]


@pytest.mark.parametrize("form, m, n, k, path", PATHS)
def test_dispatch_follows_the_rule(form, m, n, k, path):
    kernels = _cpu.module("_kernels")
    trans_a, trans_b = FORMS[form]
    assert kernels.matmul_path(m, n, k, trans_a, trans_b) == path
    assert kernels.matmul_uses_blas(m, n, k, trans_a, trans_b) == (path != "small")


def test_the_default_form_is_nn():
    kernels = _cpu.module("_kernels")
    assert kernels.matmul_path(1, 300, 50) == "small"
    assert kernels.matmul_path(300, 1, 50) == "blas one call"


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_skinny_fit_equals_the_twin(dtype):
    # [2, 50, 1] full batch on 2,000 rows: every product of the epoch is skinny (see PATHS)
    # and runs on the loops; the compiled fit follows the numpy twin.
    X, y = make_moons(2000, noise=0.2, random_state=0)
    X, y = X.astype(dtype), y.astype(dtype)
    fits = []
    for backend in ("cython", "numpy"):
        net = cnet.NeuralNet([2, 50, 1], learning_rate=0.003, iterations=50, random_state=0,
                             backend=backend).fit(X, y)
        fits.append(net.predict_proba(X))
    # The two sum in different orders; 50 steps keep the difference near rounding.
    rtol = 1e-9 if dtype == np.float64 else 1e-4
    np.testing.assert_allclose(fits[0], fits[1], rtol=rtol, atol=rtol)
