"""The fused step for skinny networks (src_c/_skinny.pxd): one wide hidden layer between an
input and an output of a few units trains as the numpy twin and as the layer-by-layer step
do, and its gradient is the true gradient."""
from contextlib import contextmanager

import numpy as np
import pytest
import scipy.sparse

import registry_rows
from cnet import engine
from cnet._layout import n_parameters
from cnet.spec import Network, Progress

from _specs import specs

# Every table here runs on each compiled build this CPU supports (conftest.cpu_variant).
pytestmark = pytest.mark.usefixtures("cpu_variant")

# Skinny architectures, each with an output layer it suits: the grid's shape, the widest
# input and output the step takes under a softmax, one input, and three inputs into a layer
# whose width is not a multiple of any vector (the loops' remainders).
ARCHITECTURES = [([2, 100, 1], "logistic"), ([4, 128, 4], "softmax"),
                 ([1, 96, 2], "identity"), ([3, 130, 2], "logistic")]
ARCH_IDS = ["-".join(map(str, layers)) for layers, _ in ARCHITECTURES]
DTYPES = [np.float64, np.float32]
# Relative agreement, as tests/test_training.py asks of the generic step: both sum in
# different orders (per sample along the units here), a few ulps per step. After 20 epochs,
# not 40: a hidden unit whose pre-activation lands within an ulp of a kink takes the other
# derivative on a rounding difference, and in float32 one such flip (leaky_relu on
# [1, 96, 2], between epochs 30 and 40, on every build) moves the parameters by 1.5e-4.
TRAIN_RTOL = {np.float64: 1e-10, np.float32: 1e-4}
EPOCHS = 20
# 150 rows in batches of 32: four whole batches and a short one of 22. Blocks of a few
# samples (16 KiB of hidden values) leave short blocks, and groups of four samples a
# remainder, in both.
N_ROWS = 150


def _loop():
    return engine.get_backend("cython")


@contextmanager
def _skinny_path(on):
    previous = _loop().set_skinny_path(on)
    try:
        yield
    finally:
        _loop().set_skinny_path(previous)


def _problem(layers, output, dtype, seed=0, n=N_ROWS):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, layers[0])).astype(dtype)
    score = X[:, :1] * X[:, -1:] + np.arange(layers[-1]) * X[:, :1]
    Y = registry_rows.learnable_targets(score, layers[-1], output, dtype)
    params = (rng.standard_normal(n_parameters(layers)) * 0.2).astype(dtype)
    return np.asarray(layers, dtype=np.intp), X, Y, params


def _train(backend, layers, activation, output, dtype, epochs=EPOCHS, batch_size=32,
           shuffle=True, skinny=True, weighted=False, X=None, loss_every=3, **training):
    layers, X_dense, Y, params = _problem(layers, output, dtype)
    X = X_dense if X is None else X
    weights = ((np.random.default_rng(4).random(len(Y)) * 2).astype(dtype) if weighted
               else None)
    training.setdefault("learning_rate", 0.05)
    with _skinny_path(skinny):
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


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("layers,output", ARCHITECTURES, ids=ARCH_IDS)
def test_the_skinny_architectures_take_the_fused_step(layers, output, dtype):
    network = Network(np.asarray(layers, dtype=np.intp), "relu", output, dtype=dtype)
    block = _loop().skinny_block_size(network)
    assert block >= 4
    with _skinny_path(False):
        assert _loop().skinny_block_size(network) == 0


@pytest.mark.parametrize("layers", [[2, 5, 1], [2, 32, 1], [2, 95, 1], [5, 100, 1],
                                    [2, 100, 5], [2, 100, 100, 1]], ids=str)
def test_other_networks_take_another_step(layers):
    # The narrow step's, hidden layers too short for rows of units, inputs or outputs too
    # wide for skinny products, and two hidden layers.
    network = Network(np.asarray(layers, dtype=np.intp), "relu", "logistic")
    assert _loop().skinny_block_size(network) == 0


def test_sparse_input_and_dropout_take_the_generic_step():
    network = Network(np.asarray([2, 100, 1], dtype=np.intp), "relu", "logistic")
    assert _loop().skinny_block_size(network, sparse=True) == 0
    assert _loop().skinny_block_size(network, dropout=0.2) == 0


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("activation", registry_rows.ACTIVATIONS)
@pytest.mark.parametrize("layers,output", ARCHITECTURES, ids=ARCH_IDS)
@pytest.mark.parametrize("batch_size,shuffle", [(N_ROWS, False), (32, True)])
def test_skinny_step_equals_numpy_twin(layers, output, activation, dtype, batch_size, shuffle):
    fused = _train("cython", layers, activation, output, dtype, batch_size=batch_size,
                   shuffle=shuffle)
    twin = _train("numpy", layers, activation, output, dtype, batch_size=batch_size,
                  shuffle=shuffle)
    _assert_close(fused, twin, dtype)
    assert not np.allclose(fused[0], _problem(layers, output, dtype)[3])


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("activation", registry_rows.ACTIVATIONS)
@pytest.mark.parametrize("layers,output", ARCHITECTURES, ids=ARCH_IDS)
def test_skinny_step_equals_layer_by_layer_step(layers, output, activation, dtype):
    fused = _train("cython", layers, activation, output, dtype, skinny=True)
    generic = _train("cython", layers, activation, output, dtype, skinny=False)
    _assert_close(fused, generic, dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("output", registry_rows.OUTPUTS)
@pytest.mark.parametrize("option", [
    {"weighted": True}, {"alpha": 0.01}, {"solver": "adam", "learning_rate": 0.01},
    {"momentum": 0.9, "nesterov": True, "learning_rate": 0.01}, {"batch_size": 7},
    {"loss_every": 1}])
def test_skinny_step_with_each_option_equals_numpy_twin(output, option, dtype):
    # Three outputs suit every pair (a softmax over one unit is constant); momentum at the
    # others' rate of 0.05 makes the exp output overflow within an epoch, in both. As in
    # tests/test_narrow_path.py, a few epochs keep the absolute error's sign flips (a
    # rounding difference where a residual is near 0) out of the comparison.
    layers = [3, 100, 3]
    epochs = 3 if output == "absolute_error" else 20
    fused = _train("cython", layers, "tanh", output, dtype, epochs=epochs, **option)
    twin = _train("numpy", layers, "tanh", output, dtype, epochs=epochs, **option)
    _assert_close(fused, twin, dtype)


@pytest.mark.parametrize("activation", registry_rows.ACTIVATIONS)
@pytest.mark.parametrize("layers,output", ARCHITECTURES, ids=ARCH_IDS)
def test_skinny_gradient_matches_central_differences(layers, output, activation):
    # 37 rows: several blocks, a short last one, and groups of four samples with a remainder.
    layers, X, Y, params = _problem(layers, output, np.float64, seed=3, n=37)
    weights = np.random.default_rng(5).random(37) + 0.5
    args = (Network(layers, activation, output), X, Y, weights)
    assert 0 < _loop().skinny_block_size(args[0]) < 37
    loss, grad = engine.loss_and_gradient("cython", params, *args, alpha=0.01)
    h = 1e-6
    numeric = np.empty_like(params)
    for i in range(params.size):
        step = np.zeros_like(params)
        step[i] = h
        up, _ = engine.loss_and_gradient("cython", params + step, *args, alpha=0.01)
        down, _ = engine.loss_and_gradient("cython", params - step, *args, alpha=0.01)
        numeric[i] = (up - down) / (2 * h)
    # As tests/test_gradients.py: central differences are accurate to O(h^2) ~ 1e-12 plus
    # rounding ~ eps * loss / h ~ 1e-10, relative to the whole gradient.
    error = np.linalg.norm(grad - numeric) / np.linalg.norm(grad + numeric)
    assert error < 1e-6, error
    # And the twin's gradient, to the rounding of the sums (tests/conftest.py's RTOL).
    twin_loss, twin_grad = engine.loss_and_gradient("numpy", params, *args, alpha=0.01)
    np.testing.assert_allclose(loss, twin_loss, rtol=1e-12)
    np.testing.assert_allclose(grad, twin_grad, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("output", registry_rows.OUTPUTS)
def test_skinny_gradient_equals_generic_gradient(output, dtype):
    layers, X, Y, params = _problem([4, 128, 3], output, dtype, seed=6, n=45)
    args = (Network(layers, "silu", output, dtype=dtype), X, Y)
    with _skinny_path(True):
        loss, grad = engine.loss_and_gradient("cython", params, *args)
    with _skinny_path(False):
        generic_loss, generic_grad = engine.loss_and_gradient("cython", params, *args)
    rtol = {np.float64: 1e-12, np.float32: 2e-5}[dtype]
    np.testing.assert_allclose(loss, generic_loss, rtol=rtol)
    np.testing.assert_allclose(grad, generic_grad, rtol=rtol,
                               atol=rtol * np.max(np.abs(generic_grad)))


@pytest.mark.parametrize("case", ["dropout", "sparse"])
def test_dropout_and_sparse_input_train_as_without_the_skinny_step(case):
    # Neither takes the fused step: the switch changes nothing, bit for bit.
    layers, X, Y, params = _problem([2, 100, 1], "logistic", np.float64)
    extra = ({"dropout": 0.2} if case == "dropout"
             else {"X": scipy.sparse.csr_matrix(X)})
    on = _train("cython", [2, 100, 1], "relu", "logistic", np.float64, skinny=True, **extra)
    off = _train("cython", [2, 100, 1], "relu", "logistic", np.float64, skinny=False, **extra)
    np.testing.assert_array_equal(on[0], off[0])
    np.testing.assert_array_equal(on[1], off[1])


def test_skinny_step_is_deterministic():
    runs = [_train("cython", [4, 128, 4], "gelu", "softmax", np.float64, epochs=5)
            for _ in range(2)]
    np.testing.assert_array_equal(runs[0][0], runs[1][0])
    np.testing.assert_array_equal(runs[0][1], runs[1][1])
