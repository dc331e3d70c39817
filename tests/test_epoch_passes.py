"""The batch step's element-wise passes against the numpy twin, at the sizes where their loops
change form: the softmax loss summed in eight lanes (batches of fewer than, exactly and more
than eight samples, a tail, sample weights, targets that are not one-hot) and the bias
gradients summed row by row as each hidden layer's gradient is written (several hidden
layers, every activation, dropout)."""
import numpy as np
import pytest
from sklearn.datasets import load_digits

import registry_rows
from _specs import specs
from cnet import engine
from cnet._layout import n_parameters
from cnet.spec import Network

# Every table here runs on each compiled build this CPU supports (conftest.cpu_variant).
pytestmark = pytest.mark.usefixtures("cpu_variant")

# The compiled loop sums in another order than numpy (lanes, blocks): float64 agrees to
# rounding of a few hundred terms, float32 to its own.
RTOL = {np.float64: 1e-12, np.float32: 2e-5}
# Whole epochs, as the twin tables of test_training.py hold them.
TRAIN_RTOL = {np.float64: 1e-10, np.float32: 1e-4}
BATCH_SIZES = [1, 7, 8, 9, 64, 67]


def _relative_error(a, b):
    return np.linalg.norm(a - b) / max(np.linalg.norm(b), np.finfo(b.dtype).tiny)


def _both_backends(params, network, X, Y, **kwargs):
    return [engine.loss_and_gradient(backend, params, network, X, Y, **kwargs)
            for backend in ("cython", "numpy")]


def _soft_targets(rng, n, outputs):
    # Rows that sum to 1 but are not one-hot (label smoothing, soft labels): every output's
    # target enters the loss, not only the class's.
    y = rng.random((n, outputs)) + 0.05
    return y / y.sum(axis=1, keepdims=True)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("weighted", [False, True], ids=["unweighted", "weighted"])
@pytest.mark.parametrize("soft", [False, True], ids=["one-hot", "soft"])
@pytest.mark.parametrize("n", BATCH_SIZES)
def test_softmax_loss_and_gradient_match_the_twin(n, soft, weighted, dtype):
    rng = np.random.default_rng(n)
    layers = [5, 6, 4]
    X = rng.standard_normal((n, layers[0])).astype(dtype)
    Y = (_soft_targets(rng, n, layers[-1]) if soft
         else np.eye(layers[-1])[rng.integers(0, layers[-1], n)]).astype(dtype)
    params = (rng.standard_normal(n_parameters(layers)) * 1.5).astype(dtype)
    weights = rng.random(n).astype(dtype) + 0.1 if weighted else None
    network = Network(layers, "tanh", "softmax", dtype=dtype)
    (loss_c, grad_c), (loss_n, grad_n) = _both_backends(params, network, X, Y,
                                                        sample_weight=weights)
    np.testing.assert_allclose(loss_c, loss_n, rtol=RTOL[dtype])
    assert _relative_error(grad_c, grad_n) < RTOL[dtype]


def test_softmax_loss_counts_every_sample():
    """The check above can fail: the loss of 67 samples differs from that of 64 of them."""
    rng = np.random.default_rng(0)
    layers = [5, 6, 4]
    X = rng.standard_normal((67, layers[0]))
    Y = np.eye(layers[-1])[rng.integers(0, layers[-1], 67)]
    params = rng.standard_normal(n_parameters(layers))
    network = Network(layers, "tanh", "softmax")
    whole, _ = engine.loss_and_gradient("cython", params, network, X, Y)
    head, _ = engine.loss_and_gradient("cython", params, network, X[:64], Y[:64])
    assert abs(whole - head) > 1e-6


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("dropout", [0.0, 0.3])
@pytest.mark.parametrize("activation", registry_rows.ACTIVATIONS)
def test_bias_gradients_of_every_hidden_layer_match_the_twin(activation, dropout, dtype):
    rng = np.random.default_rng(3)
    layers = [4, 9, 7, 5, 3]
    n = 13
    X = rng.standard_normal((n, layers[0])).astype(dtype)
    Y = registry_rows.targets(rng, n, layers[-1], "logistic").astype(dtype)
    params = (rng.standard_normal(n_parameters(layers)) * 0.8).astype(dtype)
    network = Network(layers, activation, "logistic", dtype=dtype)
    (loss_c, grad_c), (loss_n, grad_n) = _both_backends(params, network, X, Y,
                                                        dropout=dropout, dropout_seed=7)
    np.testing.assert_allclose(loss_c, loss_n, rtol=RTOL[dtype])
    off = 0
    for n_in, n_out in zip(layers[:-1], layers[1:]):
        off += n_in * n_out
        bias_c, bias_n = grad_c[off:off + n_out], grad_n[off:off + n_out]
        assert _relative_error(bias_c, bias_n) < 10 * RTOL[dtype], (n_in, n_out)
        off += n_out


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_training_with_several_hidden_layers_matches_the_twin(dtype):
    """Whole epochs of mini-batches with a short last batch (300 = 4 * 64 + 44): the SGD step
    taken on the way back applies the bias gradients summed there to the right layers."""
    X, digit = load_digits(return_X_y=True)
    X = (X[:300] / 16).astype(dtype)
    Y = np.eye(10, dtype=dtype)[digit[:300]]
    layers = [64, 32, 16, 10]
    start = (np.random.default_rng(0).standard_normal(n_parameters(layers)) * 0.1).astype(dtype)
    trained = {}
    for backend in ("cython", "numpy"):
        params = start.copy()
        network, training = specs(layers, "relu", "softmax", dtype, learning_rate=0.05,
                                  batch_size=64)
        engine.train(backend, params, network, training, X, Y, 3)
        trained[backend] = params
    assert _relative_error(trained["cython"], trained["numpy"]) < TRAIN_RTOL[dtype]
    assert _relative_error(trained["cython"], start) > 1e-3   # it did train
