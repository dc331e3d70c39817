"""Each compiled kernel against its numpy twin, and both against independent expectations."""
import inspect

import numpy as np
import pytest
import scipy.sparse
import scipy.special
from sklearn.metrics import log_loss

import cnet
import registry_rows
from cnet import _kernels, kernels, reference, registry
from conftest import ATOL, RTOL

# The raw entry points are built once, for the baseline (setup.py): these tables test that
# build. The training loop, built per CPU variant, has its tables run on each
# (test_gradients, test_training, test_epoch_passes, ...).

DTYPES = [np.float32, np.float64]
# 1x1, a row, a column, odd sizes, and sizes on both sides of the matmul BLAS crossover.
SHAPES = [(1, 1), (1, 7), (7, 1), (3, 5), (13, 31), (64, 65), (129, 70)]


def _make(rng, shape, dtype, layout):
    """A float array of the given shape in the given memory layout."""
    a = rng.standard_normal(shape).astype(dtype)
    if layout == "fortran":
        return np.asfortranarray(a)
    if layout == "strided":
        # Every other column of a wider array: neither C- nor F-contiguous.
        wide = rng.standard_normal((shape[0], 2 * shape[1])).astype(dtype)
        wide[:, ::2] = a
        return wide[:, ::2]
    if layout == "readonly":
        a.setflags(write=False)
    return a


def _sparse(rng, shape, dtype, layout):
    """A sparse matrix for the sparse kernels: CSC for the "fortran" layout, a CSR matrix
    with unsorted and duplicate column indices for "strided" (the kernels sum what is
    stored), read-only CSR arrays for "readonly", and plain CSR otherwise."""
    x = scipy.sparse.random(shape[0], shape[1], density=0.4, format="csr", dtype=dtype,
                            random_state=np.random.RandomState(rng.integers(2**31)))
    if layout == "fortran":
        return x.tocsc()
    if layout == "strided":
        # Every row's entries twice, in reverse order and with half the value each time.
        rows = np.repeat(np.arange(shape[0]), np.diff(x.indptr))
        coo = scipy.sparse.coo_matrix((np.r_[x.data, x.data][::-1] / 2,
                                       (np.r_[rows, rows][::-1], np.r_[x.indices, x.indices][::-1])),
                                      shape=shape)
        order = np.argsort(coo.row, kind="stable")
        indptr = np.r_[0, np.cumsum(np.bincount(coo.row, minlength=shape[0]))]
        return scipy.sparse.csr_matrix((coo.data[order].astype(dtype), coo.col[order], indptr),
                                       shape=shape)
    if layout == "readonly":
        for array in (x.data, x.indices, x.indptr):
            array.setflags(write=False)
    return x


def _kernel_args(name, rng, shape, dtype, layout):
    """Arguments for kernel ``name`` built around an array of ``shape``."""
    make = lambda s: _make(rng, s, dtype, layout)  # noqa: E731
    rows, cols = shape
    if name == "matmul":
        return (make((rows, 5)), make((5, cols))), {}
    if name == "sparse_matmul":
        return (_sparse(rng, (rows, 9), dtype, layout), make((9, cols))), {}
    if name == "sparse_transpose_matmul":
        return (_sparse(rng, (rows, 9), dtype, layout), make((rows, cols))), {}
    if name == "bias_add":
        return (make(shape), make((1, rows))[0]), {}
    if name in registry_rows.FORWARDS or name == "softmax":
        return (make(shape) * 5,), {}
    if name in registry_rows.BACKWARDS:
        activation = name[:-len("_backward")]
        x = make(shape)
        return (make(shape), x if registry_rows.reads_input(activation) else
                getattr(reference, activation)(x)), {}
    if name in registry_rows.LOSSES + registry_rows.GRADS:
        output = registry_rows.output_of_loss_kernel(name)
        y = np.ascontiguousarray(registry_rows.targets(rng, cols, rows, output, dtype).T)
        # Classification logits spread wide, to reach the saturated ends.
        scale = 5 if registry.output_loss(output).task == "classification" else 1
        return (make(shape) * scale, y), {}
    if name == "bias_grad":
        return (make(shape),), {}
    raise KeyError(name)


def test_twin_has_the_same_kernels_and_signatures():
    for name in kernels.__all__:
        assert hasattr(reference, name), f"reference lacks {name}"
        assert (inspect.signature(getattr(kernels, name))
                == inspect.signature(getattr(reference, name))), name
        assert hasattr(_kernels, name), f"the compiled module lacks {name}"


# Tested below with arguments of their own: the in-place updates and the dropout mask.
IN_PLACE_UPDATES = ("sgd_update", "momentum_update", "adam_update", "dropout_mask")


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("layout", ["C", "fortran", "strided", "readonly"])
@pytest.mark.parametrize("name", [n for n in kernels.__all__ if n not in IN_PLACE_UPDATES])
def test_kernel_matches_twin(name, shape, dtype, layout):
    rng = np.random.default_rng(sum(shape))
    args, kw = _kernel_args(name, rng, shape, dtype, layout)
    got = getattr(kernels, name)(*args, **kw)
    expected = getattr(reference, name)(*args, **kw)
    if isinstance(expected, float):
        assert isinstance(got, float)
    else:
        assert got.dtype == dtype and got.shape == expected.shape
    np.testing.assert_allclose(got, expected, rtol=RTOL[dtype], atol=ATOL[dtype])


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("trans_a", [False, True])
@pytest.mark.parametrize("trans_b", [False, True])
@pytest.mark.parametrize("mnk", [(1, 1, 1), (5, 240, 2), (2, 5, 240), (7, 3, 9),
                                 (33, 32, 31), (100, 30, 50), (256, 128, 64)])
def test_matmul_every_transpose(backend, mnk, trans_a, trans_b, dtype):
    m, n, k = mnk
    rng = np.random.default_rng(m * n * k)
    a = rng.standard_normal((k, m) if trans_a else (m, k)).astype(dtype)
    b = rng.standard_normal((n, k) if trans_b else (k, n)).astype(dtype)
    # Independent expectation: einsum in float64.
    a64 = a.astype(np.float64).T if trans_a else a.astype(np.float64)
    b64 = b.astype(np.float64).T if trans_b else b.astype(np.float64)
    expected = np.einsum("ik,kj->ij", a64, b64)
    got = backend.matmul(a, b, trans_a=trans_a, trans_b=trans_b)
    # float32: k products of unit normals, rounding grows like sqrt(k) * eps32.
    tol = 1e-5 * np.sqrt(k) if dtype == np.float32 else 1e-12
    np.testing.assert_allclose(got, expected, rtol=tol, atol=tol * np.sqrt(k))


def test_matmul_has_both_paths():
    # The tests above only cover both paths if the crossover lies between their sizes.
    assert not _kernels.matmul_uses_blas(5, 240, 2)
    assert _kernels.matmul_uses_blas(256, 128, 64)


@pytest.mark.parametrize("dtype", DTYPES)
def test_matmul_writes_into_out(backend, dtype):
    a = np.arange(6, dtype=dtype).reshape(2, 3)
    out = np.full((2, 2), np.nan, dtype=dtype)
    result = backend.matmul(a, a, out=out, trans_b=True)
    assert result is out
    np.testing.assert_array_equal(out, [[5, 14], [14, 50]])


@pytest.mark.parametrize("dtype", DTYPES)
def test_sigmoid_is_stable_at_extremes(backend, dtype):
    z = np.array([[-1000.0, -50.0, 0.0, 50.0, 1000.0]], dtype=dtype)
    # exp underflowing to 0 is harmless; overflow or NaN would not be.
    with np.errstate(over="raise", invalid="raise", divide="raise"):
        s = backend.sigmoid(z)
    np.testing.assert_allclose(s, scipy.special.expit(z.astype(np.float64)),
                               rtol=1e-6, atol=1e-30)
    assert s[0, 0] == 0 and s[0, -1] == 1


@pytest.mark.parametrize("dtype", DTYPES)
def test_relu_and_its_backward(backend, dtype):
    z = np.array([[-2.0, -0.0, 0.5, 3.0]], dtype=dtype)
    np.testing.assert_array_equal(backend.relu(z), [[0, 0, 0.5, 3]])
    grad = np.array([[1.0, 2.0, 3.0, 4.0]], dtype=dtype)
    np.testing.assert_array_equal(backend.relu_backward(grad, backend.relu(z)), [[0, 0, 3, 4]])


@pytest.mark.parametrize("activation", registry_rows.ACTIVATIONS)
def test_activation_backward_matches_finite_differences(backend, activation):
    rng = np.random.default_rng(1)
    z = rng.standard_normal((3, 4))
    z[np.abs(z) < 0.05] = 0.5  # keep away from the kinks at 0 (relu, leaky_relu)
    grad = rng.standard_normal((3, 4))
    forward = getattr(backend, activation)
    backward = getattr(backend, f"{activation}_backward")
    h = 1e-6
    numeric = grad * (forward(z + h) - forward(z - h)) / (2 * h)
    x = z if registry_rows.reads_input(activation) else forward(z)
    # Central differences: O(h**2) ~ 1e-12 plus rounding ~ eps / h ~ 1e-10.
    np.testing.assert_allclose(backward(grad, x), numeric, rtol=1e-7, atol=1e-9)


@pytest.mark.parametrize("dtype", DTYPES)
def test_binary_cross_entropy_matches_sklearn_and_saturates_finitely(backend, dtype):
    rng = np.random.default_rng(2)
    logits = rng.standard_normal((1, 50)).astype(dtype) * 3
    y = (rng.random((1, 50)) > 0.5).astype(dtype)
    p = scipy.special.expit(logits[0].astype(np.float64))
    expected = log_loss(y[0], p, labels=[0, 1])
    tol = 1e-5 if dtype == np.float32 else 1e-12
    assert backend.binary_cross_entropy(logits, y) == pytest.approx(expected, rel=tol)
    # Saturated and wrong: the loss is the logit's size, not inf; right: it is ~0.
    z = np.array([[1000.0, -1000.0, 1000.0]], dtype=dtype)
    t = np.array([[0.0, 1.0, 1.0]], dtype=dtype)
    with np.errstate(over="raise", invalid="raise", divide="raise"):
        assert backend.binary_cross_entropy(z, t) == pytest.approx(2000 / 3)
        np.testing.assert_allclose(backend.binary_cross_entropy_grad(z, t), [[1 / 3, -1 / 3, 0]])


@pytest.mark.parametrize("output", registry_rows.OUTPUTS)
def test_loss_grad_is_the_derivative_of_the_loss(backend, output):
    loss_kernel = registry.output_loss(output).loss_kernel
    loss, loss_grad = getattr(backend, loss_kernel), getattr(backend, f"{loss_kernel}_grad")
    rng = np.random.default_rng(3)
    z = rng.standard_normal((2, 5))
    y = np.ascontiguousarray(registry_rows.targets(rng, 5, 2, output).T)
    h = 1e-6
    numeric = np.empty_like(z)
    for idx in np.ndindex(z.shape):
        e = np.zeros_like(z)
        e[idx] = h
        numeric[idx] = (loss(z + e, y) - loss(z - e, y)) / (2 * h)
    np.testing.assert_allclose(loss_grad(z, y), numeric, rtol=1e-6)


@pytest.mark.parametrize("dtype", DTYPES)
def test_bias_kernels(backend, dtype):
    z = np.arange(6, dtype=dtype).reshape(2, 3)
    np.testing.assert_array_equal(backend.bias_add(z, np.array([10, 20], dtype=dtype)),
                                  [[10, 11, 12], [23, 24, 25]])
    np.testing.assert_array_equal(backend.bias_grad(z), [3, 12])


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("size", [1, 7, 1000])
def test_sgd_update_in_place(backend, dtype, size):
    rng = np.random.default_rng(size)
    param = rng.standard_normal(size).astype(dtype)
    grad = rng.standard_normal(size).astype(dtype)
    expected = param.astype(np.float64) - 0.1 * grad.astype(np.float64)
    result = backend.sgd_update(param, grad, 0.1)
    assert result is param
    # float32: the result is rounded once (eps32 ~ 6e-8 of |param|, |param| < ~5).
    tol = 1e-6 if dtype == np.float32 else 1e-15
    np.testing.assert_allclose(param, expected, rtol=tol, atol=tol)


def test_kernels_promote_other_real_dtypes():
    # Integers compute in float64, as numpy would promote them.
    out = kernels.relu(np.array([[-1, 2]]))
    assert out.dtype == np.float64 and out.tolist() == [[0.0, 2.0]]
    assert cnet.kernels.matmul(np.ones((2, 2), np.float32), np.ones((2, 2))).dtype == np.float64


@pytest.mark.parametrize("path", ["matmul_small", "matmul_blas"])
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("trans_a", [False, True])
@pytest.mark.parametrize("trans_b", [False, True])
@pytest.mark.parametrize("mnk", [(1, 1, 1), (1, 9, 4), (9, 1, 4), (3, 5, 300), (40, 33, 17)])
def test_both_matmul_paths_on_every_shape(path, mnk, trans_a, trans_b, dtype):
    m, n, k = mnk
    rng = np.random.default_rng(k)
    a = rng.standard_normal((k, m) if trans_a else (m, k)).astype(dtype)
    b = rng.standard_normal((n, k) if trans_b else (k, n)).astype(dtype)
    out = np.empty((m, n), dtype=dtype)
    getattr(_kernels, path)(a, b, out, trans_a, trans_b)
    expected = reference.matmul(a.astype(np.float64), b.astype(np.float64),
                                trans_a=trans_a, trans_b=trans_b)
    tol = 1e-5 * np.sqrt(k) if dtype == np.float32 else 1e-12
    np.testing.assert_allclose(out, expected, rtol=tol, atol=tol * np.sqrt(k))


@pytest.mark.parametrize("dtype,lowest,max_ulp", [(np.float64, -708.0, 2.5), (np.float32, -87.0, 2.5)])
def test_vectorizable_exp_is_accurate(dtype, lowest, max_ulp):
    # cnet's own exp for x <= 0 (sigmoid and the loss need no other) against numpy's exp in
    # float64, in units of the last place of the result's dtype.
    rng = np.random.default_rng(0)
    x = np.concatenate([np.linspace(lowest, 0, 200_001), rng.random(50_000) * lowest,
                        [0.0, -0.0, -1e-300, -np.log(2) / 2, -np.log(2)]]).astype(dtype)
    out = np.empty_like(x)
    _kernels.exp_nonpositive(x, out)
    exact = np.exp(x.astype(np.float64))
    ulps = np.abs(out - exact) / np.spacing(exact.astype(dtype)).astype(np.float64)
    assert ulps.max() <= max_ulp


@pytest.mark.parametrize("dtype", DTYPES)
def test_vectorizable_log1p_is_within_6_ulp_of_libm_on_the_unit_interval(dtype):
    # The cross-entropy's log(1 + exp(-|z|)): arguments in [0, 1], tiny ones included.
    rng = np.random.default_rng(1)
    x = np.concatenate([np.linspace(0, 1, 200_001), rng.random(50_000),
                        10.0 ** -rng.uniform(0, 300 if dtype == np.float64 else 37, 50_000),
                        [0.0, 1.0, 1e-300 if dtype == np.float64 else 1e-37]]).astype(dtype)
    out = np.empty_like(x)
    _kernels.log1p_unit(x, out)
    exact = np.log1p(x.astype(np.float64))
    tiny = np.finfo(dtype).tiny
    ulps = np.abs(out - exact) / np.spacing(np.maximum(exact, tiny).astype(dtype)).astype(
        np.float64)
    # A few roundings relative to s = e / (2 + e), up to twice that in the result's ulp
    # (src_c/_log.pxd); measured worst cases 5 (float64) and 4 (float32).
    assert ulps.max() <= 6
    nan = np.empty(1, dtype)
    _kernels.log1p_unit(np.array([np.nan], dtype), nan)
    assert np.isnan(nan[0])            # NaN stays NaN, so divergence shows


@pytest.mark.parametrize("dtype", DTYPES)
def test_vectorizable_exp_edges(dtype):
    x = np.array([-1e4, -np.inf, np.nan, 0.0], dtype=dtype)
    out = np.empty_like(x)
    _kernels.exp_nonpositive(x, out)
    # Below the normal range the result is 0; NaN stays NaN so divergence shows.
    np.testing.assert_array_equal(out, [0, 0, np.nan, 1])


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("nesterov", [False, True])
def test_momentum_update_matches_twin_and_formula(dtype, nesterov):
    rng = np.random.default_rng(5)
    param, grad, velocity = (rng.standard_normal(37).astype(dtype) for _ in range(3))
    # Independent expectation in float64, scikit-learn's formulation.
    v = 0.9 * velocity.astype(np.float64) - 0.1 * grad
    expected = param + (0.9 * v - 0.1 * grad if nesterov else v)
    results = []
    for backend in (kernels, reference):
        p, vel = param.copy(), velocity.copy()
        assert backend.momentum_update(p, grad, vel, 0.1, 0.9, nesterov) is p
        results.append((p, vel))
    tol = 1e-6 if dtype == np.float32 else 1e-15
    for p, vel in results:
        np.testing.assert_allclose(p, expected, rtol=tol, atol=tol)
        np.testing.assert_allclose(vel, v, rtol=tol, atol=tol)


@pytest.mark.parametrize("dtype", DTYPES)
def test_adam_update_matches_twin_and_formula(dtype):
    rng = np.random.default_rng(6)
    param, grad = (rng.standard_normal(41).astype(dtype) for _ in range(2))
    m1, m2 = rng.standard_normal(41).astype(dtype), rng.random(41).astype(dtype)
    a = 0.9 * m1.astype(np.float64) + 0.1 * grad
    b = 0.999 * m2.astype(np.float64) + 0.001 * grad.astype(np.float64) ** 2
    expected = param - 0.01 * a / (np.sqrt(b) + 1e-8)
    tol = 2e-6 if dtype == np.float32 else 1e-14
    for backend in (kernels, reference):
        p, f, s = param.copy(), m1.copy(), m2.copy()
        assert backend.adam_update(p, grad, f, s, 0.01, 0.9, 0.999, 1e-8) is p
        np.testing.assert_allclose(p, expected, rtol=tol, atol=tol)
        np.testing.assert_allclose(f, a, rtol=tol, atol=tol)
        np.testing.assert_allclose(s, b, rtol=tol, atol=tol)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("rate", [0.0, 0.1, 0.5, 0.9])
@pytest.mark.parametrize("counter", [0, 12345, 2**64 - 3])
def test_dropout_mask_matches_twin_and_its_rate(rate, counter, dtype):
    got = kernels.dropout_mask((40, 250), rate, counter, dtype)
    np.testing.assert_array_equal(got, reference.dropout_mask((40, 250), rate, counter, dtype))
    assert got.dtype == dtype
    kept = got != 0
    np.testing.assert_allclose(got[kept], 1 / (1 - rate), rtol=1e-7)
    # 10,000 Bernoulli draws: the kept fraction is within 5 standard deviations of 1 - rate.
    sd = np.sqrt(rate * (1 - rate) / kept.size)
    assert abs(kept.mean() - (1 - rate)) <= 5 * sd + 1e-12
