"""Sparse X: every path gives what the same computation on the dense copy of X gives.

The dense path is independently checked (finite differences, the twin, scikit-learn); here the
sparse first layer is held to it, in the engine, the raw compiled entry points and every front
end, and it is shown to use memory in proportion to the stored entries, not to the dense size.
"""
import tracemalloc
import warnings

import numpy as np
import pytest
import scipy.sparse as sp
from sklearn.exceptions import ConvergenceWarning

import cnet
import registry_rows
from cnet import _cpu, engine
from cnet._layout import n_parameters
from cnet.spec import Network

from _specs import specs

# Every table here runs on each compiled build this CPU supports (conftest.cpu_variant).
pytestmark = pytest.mark.usefixtures("cpu_variant")

# Sparse against dense copy: the same arithmetic in another order (the sparse products sum
# only stored entries, four at a time), so a few ulps in float64, more in float32.
RTOL = {np.float64: 1e-10, np.float32: 1e-4}
SPARSE_KINDS = [sp.csr_matrix, sp.csc_matrix, sp.csr_array, sp.csc_array]


def _sparse_problem(layers, output, dtype=np.float64, n=60, density=0.15, seed=0):
    rng = np.random.default_rng(seed)
    X = sp.random(n, layers[0], density=density, format="csr", dtype=dtype,
                  random_state=np.random.RandomState(seed))
    X.data = (X.data * 3 - 1).astype(dtype)
    keep = np.ones(n, dtype=dtype)
    keep[3] = 0                      # a sample with no stored feature
    X = sp.csr_matrix(sp.diags(keep) @ X, dtype=dtype)
    X.eliminate_zeros()
    Y = registry_rows.targets(rng, n, layers[-1], output, dtype)
    params = (rng.standard_normal(n_parameters(layers)) * 0.5).astype(dtype)
    return np.asarray(layers, dtype=np.intp), params, X, Y


def _close(got, expected, dtype, rtol=None):
    scale = max(np.max(np.abs(expected)), 1e-300)
    assert np.max(np.abs(np.asarray(got) - expected)) / scale < (rtol or RTOL[dtype])


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("backend", ["cython", "numpy"])
@pytest.mark.parametrize("layers,activation,output", [
    ([40, 1], "relu", "logistic"), ([40, 7, 1], "relu", "logistic"),
    ([40, 9, 5, 4], "tanh", "softmax"), ([40, 6, 2], "leaky_relu", "identity"),
    ([40, 5, 3], "sigmoid", "exp"), ([300, 70, 3], "relu", "softmax")])
def test_loss_gradient_and_outputs_equal_the_dense_copys(backend, layers, activation, output,
                                                         dtype):
    # [300, 70, 3] puts the dense copy's first-layer products on BLAS.
    layers, params, X, Y = _sparse_problem(layers, output, dtype)
    weights = np.random.default_rng(1).random(X.shape[0]).astype(dtype) + 0.1
    network = Network(layers, activation, output, dtype=dtype)
    for kw in [{}, {"sample_weight": weights, "alpha": 0.3}, {"dropout": 0.3, "dropout_seed": 9}]:
        loss, grad = engine.loss_and_gradient(backend, params, network, X, Y, **kw)
        dense_loss, dense_grad = engine.loss_and_gradient(backend, params, network,
                                                          X.toarray(), Y, **kw)
        _close([loss], np.array([dense_loss]), dtype)
        _close(grad, dense_grad, dtype)
    _close(engine.predict(backend, params, network, X),
           engine.predict(backend, params, network, X.toarray()), dtype)


def test_sparse_gradient_matches_central_differences():
    layers, params, X, Y = _sparse_problem([30, 6, 4, 3], "softmax", n=25, density=0.2)
    args = (Network(layers, "tanh", "softmax"), X, Y)
    _, grad = engine.loss_and_gradient("cython", params, *args)
    h = 1e-6
    numeric = np.empty_like(params)
    for i in range(params.size):
        step = np.zeros_like(params)
        step[i] = h
        up, _ = engine.loss_and_gradient("cython", params + step, *args)
        down, _ = engine.loss_and_gradient("cython", params - step, *args)
        numeric[i] = (up - down) / (2 * h)
    # As in test_gradients.py: O(h^2) plus rounding of order eps * loss / h.
    assert np.linalg.norm(grad - numeric) / np.linalg.norm(grad + numeric) < 1e-6


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("batch_size,shuffle", [(60, False), (16, True), (7, False)])
@pytest.mark.parametrize("optimizer", [
    {"solver": "sgd"}, {"solver": "sgd", "momentum": 0.9, "alpha": 0.01},
    {"solver": "adam", "dropout": 0.2}])
def test_training_on_sparse_x_equals_training_on_its_dense_copy(optimizer, batch_size, shuffle,
                                                                dtype):
    # Four runs from one start: both backends on the sparse X and on its dense copy.
    layers, start, X, Y = _sparse_problem([40, 8, 3], "softmax", dtype)
    results = []
    for backend in ("cython", "numpy"):
        for data in (X, X.toarray()):
            params = start.copy()
            losses = engine.train(backend, params, *specs(
                layers, "relu", "softmax", dtype, learning_rate=0.05, batch_size=batch_size,
                shuffle=shuffle, seed=11, loss_every=1, **optimizer), data, Y, 30).losses
            results.append((params, np.array(losses)))
    for params, losses in results[1:]:
        _close(params, results[0][0], dtype)
        _close(losses, results[0][1], dtype)


def _datasets(kind, dtype):
    rng = np.random.default_rng(3)
    X = sp.random(120, 50, density=0.1, format="csr", dtype=np.float64,
                  random_state=np.random.RandomState(3))
    w = rng.standard_normal(50)
    score = X @ w
    y_class = np.digitize(score, np.quantile(score, [0.33, 0.66]))
    y_reg = score + 0.1 * rng.standard_normal(120)
    return kind(X.astype(dtype)), y_class, y_reg


@pytest.mark.parametrize("kind", SPARSE_KINDS)
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("solver", ["adam", "sgd", "lbfgs"])
def test_estimators_on_sparse_x_equal_their_dense_fits(kind, dtype, solver):
    X, y_class, y_reg = _datasets(kind, dtype)
    dense = X.toarray()
    # L-BFGS's line search and curvature pairs amplify float32 rounding differences between
    # the two summation orders over its iterations (measured: ~1e-4 after 25).
    rtol = 1e-3 if solver == "lbfgs" and dtype == np.float32 else None
    common = dict(hidden_layer_sizes=(12,), solver=solver, max_iter=25, random_state=0,
                  learning_rate_init=0.01)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        for make, y in [(cnet.MLPClassifier, y_class), (cnet.MLPRegressor, y_reg)]:
            on_sparse = make(**common).fit(X, y)
            on_dense = make(**common).fit(dense, y)
            assert on_sparse.coefs_[0].dtype == dtype
            for a, b in zip(on_sparse.coefs_ + on_sparse.intercepts_,
                            on_dense.coefs_ + on_dense.intercepts_):
                _close(a, b, dtype, rtol)
            _close(on_sparse.predict(X) if make is cnet.MLPRegressor
                   else on_sparse.predict_proba(X), on_dense.predict(dense)
                   if make is cnet.MLPRegressor else on_dense.predict_proba(dense), dtype, rtol)
            if make is cnet.MLPClassifier:
                assert np.array_equal(on_sparse.predict(X), on_dense.predict(dense))
            if solver != "lbfgs":
                on_sparse.partial_fit(X[:40], y[:40])
                on_dense.partial_fit(dense[:40], y[:40])
                _close(on_sparse.coefs_[0], on_dense.coefs_[0], dtype)


@pytest.mark.parametrize("kind", SPARSE_KINDS)
def test_neural_net_on_sparse_x_equals_its_dense_fit(kind):
    X, y_class, _ = _datasets(kind, np.float64)
    y = y_class > 0
    for batch_size, shuffle in [(None, False), (16, True)]:
        kw = dict(layers=[50, 6, 1], learning_rate=0.1, iterations=40, batch_size=batch_size,
                  shuffle=shuffle, random_state=0)
        on_sparse = cnet.NeuralNet(**kw).fit(X, y)
        on_dense = cnet.NeuralNet(**kw).fit(X.toarray(), y)
        _close(on_sparse._params_flat, on_dense._params_flat, np.float64)
        _close(on_sparse.predict_proba(X), on_dense.predict_proba(X.toarray()), np.float64)


def test_fit_memory_follows_the_stored_entries_not_the_dense_size():
    # 1,000 x 2,000,000 at 5 entries a row: 16 GB dense, under 0.1 MB stored. The first
    # layer's weights (2e6 x 2) and Adam's two moments take 96 MB; a dense copy of X, or of a
    # batch of 200 rows (3.2 GB), would take far more.
    n, d = 1000, 2_000_000
    rng = np.random.default_rng(0)
    indices = rng.integers(0, d, 5 * n)
    X = sp.csr_matrix((rng.random(5 * n), indices, np.arange(0, 5 * n + 1, 5)), shape=(n, d))
    y = rng.integers(0, 2, n)
    tracemalloc.start()
    try:
        clf = cnet.MLPClassifier(hidden_layer_sizes=(2,), max_iter=1, random_state=0)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            clf.fit(X, y)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert clf.predict(X[:5]).shape == (5,)
    assert peak < 400 * 2**20, peak


def test_raw_entry_points_check_sparse_input():
    _train = _cpu.module("_train")       # the build under test (cpu_variant)
    layers, params, X, Y = _sparse_problem([40, 5, 1], "logistic")
    network = Network(layers, "relu", "logistic")
    out = np.empty((X.shape[0], 1))
    with pytest.raises(TypeError, match="must be CSR"):
        _train.forward(params, network, X.tocsc(), out)
    with pytest.raises(TypeError, match="dtype float32"):
        _train.forward(params, network, X.astype(np.float32), out)
    bad = X.copy()
    bad.indices[0] = 40
    with pytest.raises(ValueError, match="outside"):
        _train.forward(params, network, bad, out)
    bad = X.copy()
    bad.indptr[5] = bad.indptr[4] - 1
    with pytest.raises(ValueError, match="row pointer"):
        engine.loss_and_gradient("cython", params, network, bad, Y)
    with pytest.raises(ValueError, match="X has 40 features, but layers"):
        _train.forward(np.ones(n_parameters([41, 5, 1])), Network([41, 5, 1], "relu",
                                                                  "logistic"), X, out)
    with pytest.raises(TypeError, match="numpy array or a scipy.sparse CSR"):
        _train.forward(params, network, X.toarray().tolist(), out)


def test_estimators_reject_non_finite_sparse_values():
    X, y, _ = _datasets(sp.csr_matrix, np.float64)
    X.data[0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        cnet.MLPClassifier(max_iter=1).fit(X, y)
