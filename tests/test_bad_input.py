"""Bad input gets a clear ValueError or TypeError naming the problem, never a crash."""
import numpy as np
import pytest

import cnet
from cnet import _kernels, _train, kernels
from cnet.spec import Network, Progress

from _specs import specs

X = np.random.default_rng(0).standard_normal((20, 2))


def _forged(layers, dtype=np.float64):
    """A Network holding layers its constructor refuses, as a raw caller could make one: the
    compiled entry points must still refuse it rather than read out of bounds."""
    network = object.__new__(Network)
    for name, value in dict(layers=np.asarray(layers, np.intp), activation="relu",
                            output="logistic", loss_parameter=1.0, dtype=np.dtype(dtype),
                            activation_code=1, output_code=0, keeps_input=False).items():
        object.__setattr__(network, name, value)
    return network


def _train_call(params, network, Y, n_epochs=1):
    _, training = specs([2, 5, 1], "relu", "logistic", batch_size=20)
    return _train.train_epochs(params, network, training, X, Y, Progress(), n_epochs)
y = (X[:, 0] > 0).astype(int)


def fit(X=X, y=y, **params):
    return cnet.NeuralNet(**{"iterations": 2, **params}).fit(X, y)


@pytest.mark.parametrize("X_bad,y_bad,error,match", [
    (X[:, 0], y, ValueError, "2D array"),                         # 1-D X
    (X[None], y, ValueError, "dim"),                               # 3-D X
    (X[:, :1], y, ValueError, "1 features, but layers.0. is 2"),   # feature count
    (X[:15], y, ValueError, "inconsistent numbers of samples"),
    (np.where(X > 1, np.nan, X), y, ValueError, "NaN"),
    (np.where(X > 1, np.inf, X), y, ValueError, "infinity"),
    (np.full((20, 2), "a"), y, ValueError, "convert"),             # strings
    (X.astype(complex), y, ValueError, "[Cc]omplex"),
    (X[:0], y[:0], ValueError, "0 sample"),                        # empty
    (X, np.zeros(20), ValueError, "exactly two classes"),          # one class
    (X, np.arange(20) % 3, ValueError, "exactly two classes"),     # three classes
    (X, y + 0.5, ValueError, "Unknown label type|continuous"),     # regression target
    (X, np.where(y > 0, np.nan, 0), ValueError, "NaN"),
])
def test_neural_net_rejects_bad_data(X_bad, y_bad, error, match):
    with pytest.raises(error, match=match):
        fit(X_bad, y_bad)


@pytest.mark.parametrize("params,error,match", [
    (dict(layers=[2]), ValueError, "at least 2"),
    (dict(layers=[2, 0, 1]), ValueError, "positive integers"),
    (dict(layers=[2, 2.5, 1]), ValueError, "positive integers"),
    (dict(layers=[2, 5, 2]), ValueError, "layers.-1. must be 1"),
    (dict(layers="abc"), ValueError, "The 'layers' parameter of NeuralNet must be an array-like"),
    (dict(learning_rate=0), ValueError, "learning_rate"),
    (dict(learning_rate=np.nan), ValueError, "learning_rate"),
    (dict(learning_rate="fast"), TypeError, "learning_rate"),
    (dict(iterations=-1), ValueError, "iterations"),
    (dict(iterations=2.5), TypeError, "iterations"),
    (dict(batch_size=0), ValueError, "batch_size"),
    (dict(loss_every=-1), ValueError, "loss_every"),
    (dict(activation="tanhh"), ValueError, "activation"),
    (dict(backend="gpu"), ValueError, "backend"),
])
def test_neural_net_rejects_bad_hyperparameters(params, error, match):
    with pytest.raises(error, match=match):
        fit(**params)


def test_predict_checks_its_input():
    net = fit()
    with pytest.raises(ValueError, match="3 features"):
        net.predict(np.ones((4, 3)))
    with pytest.raises(ValueError, match="NaN"):
        net.predict(np.full((4, 2), np.nan))
    with pytest.raises(ValueError, match="shape"):
        net.params["W1"] = np.ones((3, 3))
        net.predict(X)
    with pytest.raises(Exception, match="not fitted"):
        cnet.NeuralNet().predict(X)


def test_warm_start_rejects_a_changed_network():
    net = fit(warm_start=True)
    with pytest.raises(ValueError, match="layers changed"):
        net.set_params(layers=[2, 3, 1]).fit(X, y)


@pytest.mark.parametrize("call,error,match", [
    (lambda: kernels.matmul(np.ones((2, 3)), np.ones((2, 3))), ValueError, "inner dimensions"),
    (lambda: kernels.matmul(np.ones(3), np.ones((3, 1))), ValueError, "2-D"),
    (lambda: kernels.matmul(np.ones((0, 3)), np.ones((3, 1))), ValueError, "empty"),
    (lambda: kernels.matmul(np.ones((2, 2)), np.ones((2, 2)), out=np.ones((3, 2))),
     ValueError, "shape"),
    (lambda: kernels.matmul(np.ones((2, 2)), np.ones((2, 2)), out=np.ones((2, 2), np.float32)),
     TypeError, "dtype"),
    (lambda: kernels.matmul(np.ones((2, 2)), np.ones((2, 2)), out=np.ones((2, 4))[:, ::2]),
     ValueError, "contiguous"),
    (lambda: kernels.relu(np.array(["a", "b"])), TypeError, "numeric"),
    (lambda: kernels.relu(np.array([1 + 1j])), TypeError, "numeric"),
    (lambda: kernels.relu(np.array([object()])), TypeError, "numeric"),
    (lambda: kernels.relu(np.array([np.nan])), ValueError, "NaN"),
    (lambda: kernels.sigmoid(np.array([np.inf])), ValueError, "infinity"),
    (lambda: kernels.sigmoid(np.array([])), ValueError, "empty"),
    (lambda: kernels.relu_backward(np.ones(3), np.ones(4)), ValueError, "shape"),
    (lambda: kernels.bias_add(np.ones((2, 3)), np.ones(3)), ValueError, "bias"),
    (lambda: kernels.binary_cross_entropy(np.ones((1, 3)), np.ones((1, 2))), ValueError, "shape"),
    (lambda: kernels.binary_cross_entropy(np.ones(3), np.ones(3)), ValueError, "2-D"),
    (lambda: kernels.bias_grad(np.ones(3)), ValueError, "2-D"),
    (lambda: kernels.sgd_update([1.0, 2.0], np.ones(2), 0.1), TypeError, "param"),
    (lambda: kernels.sgd_update(np.ones(2, int), np.ones(2), 0.1), TypeError, "param"),
    (lambda: kernels.sgd_update(np.ones(2), np.ones(3), 0.1), ValueError, "shape"),
    (lambda: kernels.sgd_update(np.ones(2), np.ones(2), np.nan), ValueError, "learning_rate"),
])
def test_kernels_reject_bad_input(call, error, match):
    with pytest.raises(error, match=match):
        call()


@pytest.mark.parametrize("call,match", [
    (lambda: _kernels.matmul(np.ones((2, 3)), np.ones((2, 3)), np.ones((2, 3))), "inner"),
    (lambda: _kernels.matmul(np.ones((2, 3)), np.ones((3, 3)), np.ones((3, 3))), "out has shape"),
    (lambda: _kernels.relu(np.ones(3), np.ones(2)), "out has 2"),
    (lambda: _kernels.bias_add(np.ones((2, 3)), np.ones(3), np.ones((2, 3))), "bias"),
    (lambda: _kernels.bias_grad(np.ones((2, 3)), np.ones(3)), "out has 3"),
    (lambda: _kernels.sgd_update(np.ones(3), np.ones(2), 0.1), "grad has 2"),
    (lambda: _train_call(np.ones(20), Network([2, 5, 1], "relu", "logistic"), np.ones((20, 1))),
     "params has 20"),
    (lambda: _train_call(np.ones(21), Network([2, 5, 1], "relu", "logistic"), np.ones((19, 1))),
     "Y has 19"),
    (lambda: _train_call(np.ones(21), Network([2, 5, 1], "relu", "logistic"), np.ones((20, 1)),
                         n_epochs=-1), "n_epochs must be non-negative"),
    (lambda: _train_call(np.ones(21)[:0], _forged([2]), np.ones((20, 1))), "at least 2"),
    (lambda: _train_call(np.ones(21), _forged([2, 0, 1]), np.ones((20, 1))),
     "at least one unit"),
    (lambda: _train.forward(np.ones(26), Network([3, 5, 1], "relu", "logistic"), X,
                            np.ones((20, 1))), "layers.0. is 3"),
    (lambda: _train.loss_and_gradient(np.ones(13), _forged([2, 2**31, 1]), X,
                                      np.ones((20, 1)), np.ones(13)), "too large for BLAS"),
])
def test_compiled_entry_points_check_shapes_before_their_loops(call, match):
    # The raw compiled functions are reachable from Python too: they must not read out of
    # bounds when called with mismatched arrays.
    with pytest.raises(ValueError, match=match):
        call()


def test_reported_crashes_are_errors_now():
    # Found in review: each of these crashed the interpreter or wrapped around before.
    with pytest.raises(ValueError, match="non-negative"):
        _train.epoch_order(0, 0, -1)
    with pytest.raises(ValueError, match="non-negative"):
        _train.epoch_order(0, 0, 2**60)
    huge = np.array([2, 1409042362, 2137680572, 2039016529, 2087880752, 1399285262,
                     1814743238, 748198385, 1], np.intp)   # parameter count overflows int64
    with pytest.raises(ValueError, match="params has 64 elements"):
        _train.forward(np.ones(64, np.float32),
                       Network(huge, "relu", "logistic", dtype=np.float32),
                       np.ones((1, 2), np.float32), np.empty((1, 1), np.float32))
    with pytest.raises(ValueError, match="empty"):
        _kernels.binary_cross_entropy(np.ones((1, 0)), np.ones((1, 0)))


@pytest.mark.parametrize("call", [
    lambda a: kernels.matmul(a, a, out=a),
    lambda a: kernels.binary_cross_entropy_grad(np.ones_like(a), a, out=a),
    lambda a: kernels.relu_backward(np.ones_like(a), a, out=a),
    lambda a: kernels.bias_add(a, a[0], out=a),
])
def test_out_may_not_alias_an_input_it_reads(call):
    a = np.random.default_rng(0).standard_normal((64, 64))
    with pytest.raises(ValueError, match="shares memory"):
        call(a)


def test_out_may_be_the_input_of_an_elementwise_kernel():
    z = np.array([-1.0, 2.0])
    assert kernels.relu(z, out=z) is z and z.tolist() == [0.0, 2.0]


def test_fit_without_labels_and_bool_layer_sizes():
    with pytest.raises(ValueError, match="requires y"):
        cnet.NeuralNet().fit(X, None)
    with pytest.raises(ValueError, match="positive integers"):
        fit(layers=[2, True, 1])
    with pytest.raises(TypeError, match="learning_rate"):
        kernels.sgd_update(np.ones(2), np.ones(2), "0.1")
