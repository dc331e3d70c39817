"""The cache-blocked step (src_c/_train.pyx, _blocked_batch_step): a network whose every
product is skinny, trained on batches too large for the cache, goes through the
layer-by-layer step in blocks of samples, and trains as the numpy twin and as the step over
the whole batch do."""
import tracemalloc
from contextlib import contextmanager

import numpy as np
import pytest

import registry_rows
from cnet import engine
from cnet._layout import n_parameters
from cnet.spec import Network, Progress

from _specs import specs

# Every table here runs on each compiled build this CPU supports (conftest.cpu_variant).
pytestmark = pytest.mark.usefixtures("cpu_variant")

# Networks whose products are all skinny (_gemm.gemm_skinny) and which neither fused step
# takes: hidden layers of fewer than 96 units, or two hidden layers; outputs of one or two
# units (three would make the output layer's forward product a BLAS one).
ARCHITECTURES = [([2, 50, 1], "logistic"), ([2, 60, 2], "softmax"),
                 ([2, 40, 2, 1], "identity")]
ARCH_IDS = ["-".join(map(str, layers)) for layers, _ in ARCHITECTURES]
DTYPES = [np.float64, np.float32]
TRAIN_RTOL = {np.float64: 1e-10, np.float32: 1e-4}
# 1,400 rows: more than twice the rows of a block in both dtypes (a block holds about
# 128 KiB of layer values: 160 to 400 samples here), in full batches and in batches of 700
# (shuffled: blocks of other samples every epoch) and a short last one.
N_ROWS = 1400


def _loop():
    return engine.get_backend("cython")


@contextmanager
def _cache_blocking(on):
    previous = _loop().set_cache_blocking(on)
    try:
        yield
    finally:
        _loop().set_cache_blocking(previous)


def _problem(layers, output, dtype, seed=0, n=N_ROWS):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, layers[0])).astype(dtype)
    score = X[:, :1] * X[:, -1:] + np.arange(layers[-1]) * X[:, :1]
    Y = registry_rows.learnable_targets(score, layers[-1], output, dtype)
    params = (rng.standard_normal(n_parameters(layers)) * 0.3).astype(dtype)
    return np.asarray(layers, dtype=np.intp), X, Y, params


def _train(backend, layers, activation, output, dtype, epochs=25, batch_size=N_ROWS,
           shuffle=False, blocking=True, weighted=False, loss_every=3, **training):
    layers, X, Y, params = _problem(layers, output, dtype)
    weights = ((np.random.default_rng(4).random(len(Y)) * 2).astype(dtype) if weighted
               else None)
    training.setdefault("learning_rate", 0.05)
    with _cache_blocking(blocking):
        losses = engine.train(backend, params, *specs(
            layers, activation, output, dtype, batch_size=batch_size, shuffle=shuffle,
            seed=2**63 + 5, loss_every=loss_every, sample_weight=weights, **training), X, Y,
            epochs, Progress(1)).losses
    return params, np.array(losses)


def _assert_close(a, b, dtype):
    (p_a, l_a), (p_b, l_b) = a, b
    assert p_a.dtype == dtype
    assert np.max(np.abs(p_a - p_b)) / np.max(np.abs(p_b)) < TRAIN_RTOL[dtype]
    np.testing.assert_allclose(l_a, l_b, rtol=TRAIN_RTOL[dtype])
    assert np.isfinite(l_a).all() and len(l_a) > 0


def _network(layers, output="logistic", dtype=np.float64):
    return Network(np.asarray(layers, dtype=np.intp), "relu", output, dtype=dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("layers,output", ARCHITECTURES, ids=ARCH_IDS)
def test_skinny_networks_on_large_batches_are_cut_into_blocks(layers, output, dtype):
    network = _network(layers, output, dtype)
    rows = _loop().cache_block_rows(network, N_ROWS)
    # At least the skinny loops' length (64 samples), at most half the batch.
    assert 64 <= rows <= N_ROWS // 2 and rows % 8 == 0
    assert _loop().cache_block_rows(network, 2 * rows - 1) == 0
    with _cache_blocking(False):
        assert _loop().cache_block_rows(network, N_ROWS) == 0


@pytest.mark.parametrize("layers", [[2, 5, 1], [2, 200, 1], [64, 128, 10], [2, 50, 3],
                                    [8, 50, 1], [2, 50, 50, 1]], ids=str)
def test_other_networks_are_not_cut(layers):
    # The two fused steps' networks, and networks with a product BLAS computes (which would
    # pack its operands again for every block).
    assert _loop().cache_block_rows(_network(layers), 100_000) == 0


def test_sparse_input_dropout_and_strided_input_are_not_cut():
    network = _network([2, 50, 1])
    assert _loop().cache_block_rows(network, 100_000) > 0
    assert _loop().cache_block_rows(network, 100_000, sparse=True) == 0
    assert _loop().cache_block_rows(network, 100_000, dropout=0.2) == 0
    # X read samples x features: the first layer's gradient is a strided product.
    assert _loop().cache_block_rows(network, 100_000, by_feature=False) == 0


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("activation", registry_rows.ACTIVATIONS)
@pytest.mark.parametrize("layers,output", ARCHITECTURES, ids=ARCH_IDS)
@pytest.mark.parametrize("batch_size,shuffle", [(N_ROWS, False), (700, True)])
def test_blocked_step_equals_numpy_twin(layers, output, activation, dtype, batch_size,
                                        shuffle):
    blocked = _train("cython", layers, activation, output, dtype, batch_size=batch_size,
                     shuffle=shuffle)
    twin = _train("numpy", layers, activation, output, dtype, batch_size=batch_size,
                  shuffle=shuffle)
    _assert_close(blocked, twin, dtype)
    assert not np.allclose(blocked[0], _problem(layers, output, dtype)[3])


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("activation", registry_rows.ACTIVATIONS)
@pytest.mark.parametrize("layers,output", ARCHITECTURES, ids=ARCH_IDS)
def test_blocked_step_equals_the_whole_batch_step(layers, output, activation, dtype):
    blocked = _train("cython", layers, activation, output, dtype, blocking=True)
    whole = _train("cython", layers, activation, output, dtype, blocking=False)
    _assert_close(blocked, whole, dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("option", [
    {"weighted": True}, {"alpha": 0.01}, {"solver": "adam", "learning_rate": 0.01},
    {"momentum": 0.9, "nesterov": True}, {"loss_every": 1}])
def test_blocked_step_with_each_option_equals_numpy_twin(option, dtype):
    blocked = _train("cython", [2, 50, 2], "tanh", "softmax", dtype, epochs=15, **option)
    twin = _train("numpy", [2, 50, 2], "tanh", "softmax", dtype, epochs=15, **option)
    _assert_close(blocked, twin, dtype)


def test_blocked_step_is_deterministic():
    runs = [_train("cython", [2, 60, 2], "gelu", "softmax", np.float64, epochs=5)
            for _ in range(2)]
    np.testing.assert_array_equal(runs[0][0], runs[1][0])
    np.testing.assert_array_equal(runs[0][1], runs[1][1])


def test_blocked_step_holds_one_block_of_layer_values():
    # 20,000 rows of [2, 50, 1]: the whole batch's layer values and scratch rows take about
    # 16 MB; the blocked step's workspace holds one block's (under 0.5 MB).
    layers, X, Y, params = _problem([2, 50, 1], "logistic", np.float64, n=20_000)

    def peak(blocking):
        tracemalloc.start()
        try:
            with _cache_blocking(blocking):
                engine.train("cython", params.copy(), *specs(
                    layers, "relu", "logistic", np.float64, batch_size=len(X), shuffle=False,
                    learning_rate=0.01), X, Y, 1, Progress(1))
            return tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()

    whole, blocked = peak(False), peak(True)
    assert whole > 15e6
    assert blocked < whole - 14e6, (blocked, whole)
