"""``forward(X, return_intermediates=True)`` and ``gradients(X, y)``: the tutorials' Z1, A1, ...
and dW1, db1, ... of a fitted model.

Expectations come from elsewhere: the numpy twin's forward and backward passes
(``cnet.reference``) run on the model's ``coefs_``/``params``, scikit-learn's metrics for the
loss, central finite differences of the returned objective for the gradient, and the losses
that fit itself recorded in ``loss_curve_`` (``loss_`` for NeuralNet).

Tolerances, compiled against the twin: float64 1e-12 relative and absolute (a few ulps of
summation order); float32 2e-5 relative and 1e-5 absolute.
"""
import inspect
import warnings

import numpy as np
import pytest
import scipy.sparse as sp
from sklearn.exceptions import ConvergenceWarning, NotFittedError
from sklearn.metrics import log_loss, mean_poisson_deviance, mean_squared_error
from sklearn.preprocessing import LabelBinarizer

import cnet
from cnet import _cpu, engine, reference, registry
from cnet._layout import n_parameters, unpack
from cnet.spec import Network

RTOL = {np.dtype(np.float64): 1e-12, np.dtype(np.float32): 2e-5}
ATOL = {np.dtype(np.float64): 1e-12, np.dtype(np.float32): 1e-5}
ACTIVATIONS = list(registry.ACTIVATIONS)
REGRESSION_LOSSES = list(registry.regression_losses())
# Every kind of model and output: NeuralNet, the classifier's three target types, the
# regressor's losses (each with its output activation) and several outputs.
KINDS = ["neural_net", "binary", "multiclass", "multilabel", "multioutput",
         *REGRESSION_LOSSES]


def _data(kind, n=40, n_features=4, seed=0):
    """X and targets of ``kind``."""
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, n_features))
    if kind in ("neural_net", "binary"):
        y = np.where(X[:, 0] + 0.5 * rng.standard_normal(n) > 0, "yes", "no")
    elif kind == "multiclass":
        y = np.digitize(X[:, 0] + X[:, 1], [-0.5, 0.5])
    elif kind == "multilabel":
        y = (X[:, :3] + 0.3 * rng.standard_normal((n, 3)) > 0).astype(int)
    elif kind == "multioutput":
        y = X[:, :2] @ np.array([[1.0, -0.5], [0.3, 2.0]])
    elif registry.regression_losses()[kind].targets == "counts":
        y = rng.poisson(np.exp(0.5 * X[:, 0])).astype(float)
    else:
        y = X[:, 0] - 2 * X[:, 1] + 0.1 * rng.standard_normal(n)
    return X, y


def _model(kind, activation="tanh", dtype=np.float64, **params):
    """An unfitted model of ``kind`` with a hidden layer of 5 units (two for NeuralNet)."""
    if kind == "neural_net":
        return cnet.NeuralNet(layers=[4, 5, 3, 1], activation=activation, iterations=3,
                              learning_rate=0.05, random_state=0, **params)
    common = dict(hidden_layer_sizes=(5,), activation=activation, max_iter=3,
                  random_state=0, dtype=dtype, learning_rate_init=0.01)
    common.update(params)
    if kind in ("binary", "multiclass", "multilabel"):
        return cnet.MLPClassifier(**common)
    return cnet.MLPRegressor(loss="squared_error" if kind == "multioutput" else kind,
                             **common)


def _fitted(kind, activation="tanh", dtype=np.float64, **params):
    X, y = _data(kind)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model = _model(kind, activation, dtype, **params).fit(X.astype(dtype), y)
    return model, X.astype(dtype), y


def _weights_and_network(model):
    """The model's weights and biases (lists, as the twin takes them) and its Network,
    read from its public attributes."""
    if isinstance(model, cnet.NeuralNet):
        layers = [int(u) for u in model.layers]
        weights = [model.params[f"W{k}"] for k in range(1, len(layers))]
        biases = [model.params[f"b{k}"] for k in range(1, len(layers))]
        output, parameter = "logistic", 1.0
    else:
        weights, biases = list(model.coefs_), list(model.intercepts_)
        layers = [weights[0].shape[0]] + [W.shape[1] for W in weights]
        entry = (registry.regression_losses()[model.loss] if hasattr(model, "loss")
                 else registry.output_loss(model.out_activation_))
        output = entry.name
        parameter = model.huber_delta if entry.parameter == "delta" else 1.0
    network = Network(layers, model.activation, output, loss_parameter=parameter,
                      dtype=weights[0].dtype)
    return weights, biases, network


def _twin_layers(model, X):
    """Z1, A1, ... computed by the numpy twin's forward pass from the model's weights."""
    weights, biases, network = _weights_and_network(model)
    pre = []
    values, logits = reference.forward_pass(weights, biases, network.activation, X, pre=pre)
    out_activation, _, _ = reference.output_functions(network.output)
    expected = {}
    for k, (Z, A) in enumerate(zip(pre + [logits], values[1:] + [out_activation(logits)]),
                               start=1):
        expected[f"Z{k}"], expected[f"A{k}"] = Z.T, A.T
    return expected


def _encoded(model, y, dtype):
    """The targets as the network is trained on them, encoded here (not by the model)."""
    if isinstance(model, cnet.NeuralNet):
        return (y == model.classes_[1]).astype(dtype).reshape(-1, 1)
    if isinstance(model, cnet.MLPClassifier):
        if np.ndim(y) == 2:
            return np.ascontiguousarray(y, dtype=dtype)
        return LabelBinarizer().fit(model.classes_).transform(y).astype(dtype)
    return np.ascontiguousarray(np.reshape(y, (len(y), -1)), dtype=dtype)


def _alpha(model):
    return 0.0 if isinstance(model, cnet.NeuralNet) else model.alpha


# --- the entry points ----------------------------------------------------------------------

def test_the_compiled_forward_layers_and_its_twin_take_the_same_parameters():
    compiled = inspect.signature(_cpu.module("_train").forward_layers).parameters
    twin = inspect.signature(reference.forward_layers).parameters
    assert [(p.name, repr(p.default)) for p in compiled.values()] == [
        (p.name, repr(p.default)) for p in twin.values()]


@pytest.mark.usefixtures("cpu_variant")
@pytest.mark.parametrize("output", list(registry.OUTPUT_LOSSES))
@pytest.mark.parametrize("activation", ACTIVATIONS)
def test_engine_forward_layers_equals_the_twin(activation, output):
    rng = np.random.default_rng(1)
    for dtype in (np.float64, np.float32):
        for layers in ([3, 1], [3, 6, 2], [5, 4, 7, 3]):
            layers = np.array(layers, np.intp)
            params = (rng.standard_normal(n_parameters(layers)) * 0.5).astype(dtype)
            network = Network(layers, activation, output, dtype=dtype)
            # Sparse X is read through its own product; 1 sample through the narrow one.
            for X in (rng.standard_normal((9, layers[0])).astype(dtype),
                      rng.standard_normal((1, layers[0])).astype(dtype),
                      sp.random(9, layers[0], density=0.5, format="csr", random_state=2,
                                dtype=dtype)):
                got = engine.forward_layers("cython", params, network, X)
                want = engine.forward_layers("numpy", params, network, X)
                for g, w in zip(got.pre + got.activations, want.pre + want.activations):
                    assert g.dtype == dtype and g.flags.c_contiguous
                    np.testing.assert_allclose(g, w, rtol=RTOL[np.dtype(dtype)],
                                               atol=ATOL[np.dtype(dtype)])
                # The output layer's activation is the prediction, bit for bit.
                np.testing.assert_array_equal(got.activations[-1],
                                              engine.predict("cython", params, network, X))


@pytest.mark.parametrize("backend", ["cython", "numpy"])
def test_forward_layers_refuses_what_forward_refuses(backend):
    layers = np.array([3, 4, 2], np.intp)
    network = Network(layers, "relu", "softmax")
    params = np.zeros(n_parameters(layers))
    module = engine.get_backend(backend)
    X = np.ones((5, 3))
    with pytest.raises(ValueError, match="X has 2 features, but layers"):
        module.forward_layers(params, network, np.ones((5, 2)), np.empty(30), np.empty(30))
    with pytest.raises(ValueError, match="pre and acts need 30 values each"):
        module.forward_layers(params, network, X, np.empty(29), np.empty(30))
    buffer = np.empty(60)
    with pytest.raises(ValueError, match="shares memory"):
        module.forward_layers(params, network, X, buffer[:30], buffer[20:50])
    with pytest.raises(ValueError, match="NaN or infinity"):
        module.forward_layers(params, network, np.full((5, 3), np.nan), np.empty(30),
                              np.empty(30))
    with pytest.raises(TypeError, match="dtype"):
        module.forward_layers(params, network, X.astype(np.float32), np.empty(30),
                              np.empty(30))
    with pytest.raises((TypeError, ValueError)):
        module.forward_layers(params, network, X, np.empty(30, np.float32), np.empty(30))


def test_forward_layers_raises_on_values_that_overflow():
    layers = np.array([2, 3, 1], np.intp)
    params = np.full(n_parameters(layers), 1e200)
    with pytest.raises(engine.NonFiniteOutputError, match="NaN or infinite"):
        engine.forward_layers("cython", params, Network(layers, "relu", "logistic"),
                              np.full((2, 2), 1e200))


# --- forward on the models -----------------------------------------------------------------

@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("activation", ACTIVATIONS)
def test_forward_intermediates_equal_the_twin(kind, activation):
    for dtype in (np.float64, np.float32):
        model, X, _ = _fitted(kind, activation, dtype)
        n_layers = len(_weights_and_network(model)[0])
        for data in (X, sp.csr_matrix(X)):
            got = model.forward(data, return_intermediates=True)
            assert list(got) == [f"{v}{k}" for k in range(1, n_layers + 1) for v in "ZA"]
            expected = _twin_layers(model, X)
            for name, value in expected.items():
                assert got[name].shape == value.shape, name
                assert got[name].dtype == np.dtype(dtype), name
                np.testing.assert_allclose(got[name], value, rtol=RTOL[np.dtype(dtype)],
                                           atol=ATOL[np.dtype(dtype)], err_msg=name)
            last = got[f"A{n_layers}"]
            np.testing.assert_array_equal(model.forward(data), last)


@pytest.mark.parametrize("kind", KINDS)
def test_forward_without_intermediates_is_what_the_predictions_are_made_of(kind):
    model, X, _ = _fitted(kind)
    out = model.forward(X)
    assert out.ndim == 2 and out.shape[0] == X.shape[0]
    if isinstance(model, cnet.MLPRegressor):
        np.testing.assert_array_equal(out.reshape(model.predict(X).shape), model.predict(X))
    elif out.shape[1] == 1:                 # two classes: the positive class's probability
        np.testing.assert_array_equal(out[:, 0], model.predict_proba(X)[:, 1])
    else:
        np.testing.assert_array_equal(out, model.predict_proba(X))


def test_forward_is_computed_by_the_compiled_loop(monkeypatch):
    # The twin's entry points are made to fail: a model on the default backend never reaches
    # them.
    def refuse(*args, **kwargs):
        raise AssertionError("the numpy twin was called")

    for name in ("forward_layers", "forward", "loss_and_gradient"):
        monkeypatch.setattr(reference, name, refuse)
    for kind in ("neural_net", "multiclass", "poisson"):
        model, X, y = _fitted(kind)
        model.forward(X, return_intermediates=True)
        model.gradients(X, y)
    model.set_params(backend="numpy")
    with pytest.raises(AssertionError, match="twin was called"):
        model.forward(X, return_intermediates=True)


def test_the_tutorial_network_reads_as_the_tutorial_writes_it():
    # Z1 = X W1 + b1, A1 = relu(Z1), Z2 = A1 W2 + b2, A2 = sigmoid(Z2), in plain numpy.
    X, y = _data("binary")
    net = cnet.NeuralNet(layers=[4, 5, 1], iterations=50, learning_rate=0.05,
                         random_state=0).fit(X, y)
    got = net.forward(X, return_intermediates=True)
    p = net.params
    Z1 = X @ p["W1"] + p["b1"]
    A1 = np.maximum(Z1, 0)
    Z2 = A1 @ p["W2"] + p["b2"]
    A2 = 1 / (1 + np.exp(-Z2))
    for name, value in {"Z1": Z1, "A1": A1, "Z2": Z2, "A2": A2}.items():
        np.testing.assert_allclose(got[name], value, rtol=1e-12, atol=1e-12, err_msg=name)


# --- gradients on the models ---------------------------------------------------------------

@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("activation", ["relu", "tanh", "gelu", "leaky_relu"])
def test_gradients_equal_the_twin(kind, activation, weighted):
    for dtype in (np.float64, np.float32):
        model, X, y = _fitted(kind, activation, dtype, **({} if kind == "neural_net"
                                                           else {"alpha": 0.3}))
        w = np.random.default_rng(3).uniform(0, 2, len(X)) if weighted else None
        for data in (X, sp.csr_matrix(X)):
            loss, grads = model.gradients(data, y, sample_weight=w)
            weights, biases, network = _weights_and_network(model)
            params = np.concatenate([a.ravel() for pair in zip(weights, biases)
                                     for a in pair]).astype(dtype)
            grad = np.empty_like(params)
            want = reference.loss_and_gradient(
                params, network, X, _encoded(model, y, dtype), grad,
                sample_weight=None if w is None else w.astype(dtype), alpha=_alpha(model))
            tol = dict(rtol=RTOL[np.dtype(dtype)], atol=ATOL[np.dtype(dtype)])
            assert loss == pytest.approx(want, rel=tol["rtol"], abs=tol["atol"])
            dW, db = unpack(grad, network.layers)
            assert list(grads) == [f"d{v}{k}" for k in range(1, len(dW) + 1) for v in "Wb"]
            for k in range(len(dW)):
                np.testing.assert_allclose(grads[f"dW{k + 1}"], dW[k], **tol)
                np.testing.assert_allclose(grads[f"db{k + 1}"], db[k], **tol)


# Smooth activations and losses, so that a central difference converges: relu's and the
# absolute error's kinks would make it depend on which side of the kink the step lands.
@pytest.mark.parametrize("kind", ["neural_net", "binary", "multiclass", "multilabel",
                                  "multioutput", "poisson", "huber"])
@pytest.mark.parametrize("weighted", [False, True])
def test_gradients_equal_finite_differences_of_the_returned_objective(kind, weighted):
    model, X, y = _fitted(kind, "tanh", **({} if kind == "neural_net" else {"alpha": 0.5}))
    w = np.random.default_rng(4).uniform(0, 2, len(X)) if weighted else None
    _, grads = model.gradients(X, y, sample_weight=w)
    weights, biases, _ = _weights_and_network(model)
    step = 1e-6
    rng = np.random.default_rng(5)
    # The parameters are the model's own arrays (views of its vector): changed in place.
    for k, (W, b) in enumerate(zip(weights, biases), start=1):
        for name, array in ((f"dW{k}", W), (f"db{k}", b)):
            flat = array.reshape(-1)
            for i in rng.choice(flat.size, min(flat.size, 4), replace=False):
                original = flat[i]
                flat[i] = original + step
                up, _ = model.gradients(X, y, sample_weight=w)
                flat[i] = original - step
                down, _ = model.gradients(X, y, sample_weight=w)
                flat[i] = original
                # Central differences err by O(step**2) plus rounding of ~1e-16 / step.
                assert grads[name].reshape(-1)[i] == pytest.approx(
                    (up - down) / (2 * step), rel=1e-6, abs=1e-8), (name, i)


def test_the_objective_is_the_loss_scikit_learn_metrics_give_plus_the_l2_term():
    penalty = {}
    for kind in ("binary", "multiclass", "squared_error", "poisson"):
        model, X, y = _fitted(kind, "relu", alpha=0.7)
        w = np.random.default_rng(6).uniform(0.5, 1.5, len(X))
        loss, _ = model.gradients(X, y, sample_weight=w)
        if kind in ("binary", "multiclass"):
            data_loss = log_loss(y, model.predict_proba(X), sample_weight=w)
        elif kind == "squared_error":        # half the squared error
            data_loss = mean_squared_error(y, model.predict(X), sample_weight=w) / 2
        else:                                # half the Poisson deviance
            data_loss = mean_poisson_deviance(y, model.predict(X), sample_weight=w) / 2
        penalty[kind] = 0.5 * model.alpha * sum((W ** 2).sum() for W in model.coefs_) / w.sum()
        assert loss == pytest.approx(data_loss + penalty[kind], rel=1e-10)
    # The L2 term is large enough here that leaving it out would fail the checks above.
    assert min(penalty.values()) > 1e-3


# --- the objective is the one fit records ----------------------------------------------------

@pytest.mark.parametrize("kind", ["binary", "multiclass", "multilabel", "squared_error",
                                  "poisson"])
@pytest.mark.parametrize("solver", ["sgd", "adam"])
def test_the_objective_is_what_a_full_batch_epoch_records(kind, solver):
    # A full-batch epoch records the objective at the parameters it starts from, before its
    # step: a second fit (warm start) records the objective at the first fit's result.
    X, y = _data(kind)
    w = np.random.default_rng(7).uniform(0, 2, len(X))
    model = _model(kind, "tanh", alpha=2.0, solver=solver, batch_size=len(X), max_iter=1,
                   shuffle=False)
    extra = {"class_weight": "balanced"} if kind in ("binary", "multiclass") else {}
    model.set_params(**extra)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model.fit(X, y, sample_weight=w)
        loss, _ = model.gradients(X, y, sample_weight=w)
        without_alpha, _ = model.set_params(alpha=0.0).gradients(X, y, sample_weight=w)
        model.set_params(alpha=2.0, warm_start=True).fit(X, y, sample_weight=w)
    assert len(model.loss_curve_) == 2
    assert model.loss_curve_[1] == pytest.approx(loss, rel=1e-10)
    # The check can fail: without the L2 term (or with another epoch's parameters) the
    # objective is far from the record.
    assert abs(without_alpha - model.loss_curve_[1]) > 1e-3
    assert abs(model.loss_curve_[0] - model.loss_curve_[1]) > 1e-6


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_the_objective_is_what_lbfgs_records_last(dtype):
    # lbfgs records the objective at each iterate; the last iterate is the fitted model.
    X, y = _data("multiclass")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model = _model("multiclass", "tanh", dtype, solver="lbfgs", alpha=1.0,
                       max_iter=15).fit(X, y)
    loss, _ = model.gradients(X, y)
    assert model.loss_curve_[-1] == pytest.approx(loss, rel=1e-12 if dtype == np.float64
                                                  else 1e-6)
    assert abs(model.loss_curve_[-2] - loss) > 1e-6


def test_the_objective_is_what_neural_net_records():
    X, y = _data("neural_net")
    net = cnet.NeuralNet(layers=[4, 5, 1], iterations=1, learning_rate=0.5,
                         random_state=0).fit(X, y)
    loss, _ = net.gradients(X, y)
    net.set_params(warm_start=True).fit(X, y)
    assert net.loss_[1] == pytest.approx(loss, rel=1e-10)
    assert abs(net.loss_[0] - net.loss_[1]) > 1e-6


# --- bad input ------------------------------------------------------------------------------

@pytest.mark.parametrize("kind", ["neural_net", "binary", "squared_error"])
def test_an_unfitted_model_raises_not_fitted(kind):
    X, y = _data(kind)
    with pytest.raises(NotFittedError):
        _model(kind).forward(X)
    with pytest.raises(NotFittedError):
        _model(kind).forward(X, return_intermediates=True)
    with pytest.raises(NotFittedError):
        _model(kind).gradients(X, y)


@pytest.mark.parametrize("kind", ["neural_net", "binary", "multiclass", "multilabel",
                                  "squared_error", "multioutput", "poisson"])
def test_bad_input_gets_a_clear_error(kind):
    model, X, y = _fitted(kind)
    with pytest.raises(ValueError, match="features"):
        model.forward(X[:, :3], return_intermediates=True)
    with pytest.raises(ValueError, match="features"):
        model.gradients(X[:, :3], y)
    with pytest.raises(ValueError, match="inconsistent numbers of samples"):
        model.gradients(X, y[:5])
    with pytest.raises(ValueError, match="NaN|infinity"):
        model.forward(np.where(np.arange(X.shape[1]) == 0, np.nan, X))
    with pytest.raises(TypeError, match="return_intermediates"):
        model.forward(X, return_intermediates="yes")
    with pytest.raises(ValueError, match="sample_weight"):
        model.gradients(X, y, sample_weight=np.ones(3))
    with pytest.raises(ValueError, match="sample_weight"):
        model.gradients(X, y, sample_weight=-np.ones(len(X)))
    with pytest.raises(ValueError, match="sample_weight"):
        model.gradients(X, y, sample_weight=np.zeros(len(X)))
    with pytest.raises(TypeError):
        model.gradients(X)                          # y is required


@pytest.mark.parametrize("kind", ["neural_net", "binary", "multiclass"])
def test_labels_the_classifier_was_not_fitted_on_are_refused(kind):
    model, X, y = _fitted(kind)
    other = np.where(np.arange(len(y)) == 0, "maybe" if y.dtype.kind == "U" else 7, y)
    with pytest.raises(ValueError, match="labels"):
        model.gradients(X, other)


def test_targets_of_another_number_of_outputs_are_refused():
    model, X, y = _fitted("multioutput")
    with pytest.raises(ValueError, match="output"):
        model.gradients(X, y[:, 0])
    model, X, y = _fitted("multilabel")
    with pytest.raises(ValueError):
        model.gradients(X, y[:, :2])
    model, X, y = _fitted("poisson")
    with pytest.raises(ValueError, match="non-negative"):
        model.gradients(X, -y - 1)
    model, X, y = _fitted("squared_error")
    with pytest.raises(ValueError, match="NaN|infinity"):
        model.gradients(X, np.where(np.arange(len(y)) == 0, np.nan, y))


def test_the_tutorials_label_row_is_taken():
    # The first tutorial keeps y as a (1, n) row; NeuralNet's fit takes it, and so does this.
    model, X, y = _fitted("neural_net")
    loss, _ = model.gradients(X, y.reshape(1, -1))
    assert loss == model.gradients(X, y)[0]
