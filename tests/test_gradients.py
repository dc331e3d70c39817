"""The gradient both backends compute is the true gradient: a finite-difference check."""
import numpy as np
import pytest

import registry_rows
from cnet import engine, registry
from cnet._layout import n_parameters
from cnet.spec import Network

# Every table here runs on each compiled build this CPU supports (conftest.cpu_variant).
pytestmark = pytest.mark.usefixtures("cpu_variant")

ARCHITECTURES = [[2, 1], [2, 5, 1], [3, 4, 3, 1], [4, 7, 6, 5, 3]]
# Every registry entry is a row: a new activation or output/loss pair is checked by itself.
ACTIVATIONS = registry_rows.ACTIVATIONS
OUTPUTS = registry_rows.OUTPUTS
_targets = registry_rows.targets


def _problem(layers, seed, output="logistic"):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((23, layers[0]))
    Y = _targets(rng, 23, layers[-1], output)
    params = rng.standard_normal(n_parameters(layers)) * 0.8
    return np.asarray(layers, dtype=np.intp), params, X, Y


@pytest.mark.parametrize("backend", ["cython", "numpy"])
@pytest.mark.parametrize("output", OUTPUTS)
@pytest.mark.parametrize("activation", ACTIVATIONS)
@pytest.mark.parametrize("layers", ARCHITECTURES, ids=str)
def test_gradient_matches_central_differences(backend, activation, output, layers):
    if registry.output_loss(output).targets == "one_hot" and layers[-1] == 1:
        layers = layers[:-1] + [3]   # a softmax over one unit is constant
    layers, params, X, Y = _problem(layers, seed=len(layers), output=output)
    args = (Network(layers, activation, output, dtype=params.dtype), X, Y)
    loss, grad = engine.loss_and_gradient(backend, params, *args)
    h = 1e-6
    numeric = np.empty_like(params)
    for i in range(params.size):
        step = np.zeros_like(params)
        step[i] = h
        up, _ = engine.loss_and_gradient(backend, params + step, *args)
        down, _ = engine.loss_and_gradient(backend, params - step, *args)
        numeric[i] = (up - down) / (2 * h)
    # Relative error of the whole gradient vector; central differences are accurate to
    # O(h^2) ~ 1e-12 plus rounding ~ eps * loss / h ~ 1e-10.
    error = np.linalg.norm(grad - numeric) / np.linalg.norm(grad + numeric)
    assert error < 1e-6, error


def test_the_seeds_gradients_are_not_the_gradient():
    """The check above can fail: the first tutorial's backprop, through dW2 instead of W2."""
    layers, params, X, Y = _problem([2, 5, 1], seed=0)
    _, grad = engine.loss_and_gradient("numpy", params, Network(layers, "relu", "logistic"), X, Y)
    W1, b1 = params[:10].reshape(2, 5), params[10:15]
    W2, b2 = params[15:20].reshape(5, 1), params[20:]
    Z1 = W1.T @ X.T + b1[:, None]
    A1 = np.maximum(Z1, 0)
    A2 = 1 / (1 + np.exp(-(W2.T @ A1 + b2[:, None])))
    dZ2 = (A2 - Y.T) / len(X)
    dW2 = A1 @ dZ2.T
    dZ1_seed = (dW2 @ dZ2) * (Z1 > 0)       # the tutorial's dW2 where W2 belongs
    dZ1_true = (W2 @ dZ2) * (Z1 > 0)
    np.testing.assert_allclose(grad[:10], (X.T @ dZ1_true.T).ravel(), rtol=1e-12)
    assert not np.allclose(grad[:10], (X.T @ dZ1_seed.T).ravel(), rtol=1e-3)


@pytest.mark.parametrize("output", OUTPUTS)
@pytest.mark.parametrize("activation", registry_rows.ACTIVATIONS)
def test_gradient_on_the_blas_path(activation, output):
    # 64 samples through [20, 30, 3]: every product of the first two layers goes to BLAS.
    from cnet import _kernels
    layers = [20, 30, 3]
    assert _kernels.matmul_uses_blas(30, 64, 20)
    rng = np.random.default_rng(7)
    X = rng.standard_normal((64, 20))
    Y = _targets(rng, 64, 3, output)
    params = rng.standard_normal(n_parameters(layers)) * 0.3
    args = (Network(layers, activation, output, dtype=params.dtype), X, Y)
    loss, grad = engine.loss_and_gradient("cython", params, *args)
    h = 1e-6
    # The difference of two losses carries their rounding, about eps * |loss| each, divided
    # by 2h: a loss of 10 (Poisson outputs on random weights) leaves ~1e-9 of noise.
    noise = 1e-9 * max(1.0, abs(loss))
    for i in rng.choice(params.size, 60, replace=False):   # a sample of the 723 parameters
        step = np.zeros_like(params)
        step[i] = h
        up, _ = engine.loss_and_gradient("cython", params + step, *args)
        down, _ = engine.loss_and_gradient("cython", params - step, *args)
        if _crosses_a_kink(args[0], params + step, params - step, X, Y):
            continue
        assert (up - down) / (2 * h) == pytest.approx(grad[i], rel=1e-5, abs=noise)


def _crosses_a_kink(network, above, below, X, Y):
    """Whether an output's residual changes sign between two parameter vectors: the absolute
    error has a kink there, and a central difference across it measures no derivative."""
    residual = [engine.predict("cython", p, network, X) - Y for p in (above, below)]
    return bool((np.sign(residual[0]) != np.sign(residual[1])).any())


@pytest.mark.parametrize("backend", ["cython", "numpy"])
@pytest.mark.parametrize("output", OUTPUTS)
def test_weighted_gradient_matches_central_differences(backend, output):
    layers, params, X, Y = _problem([3, 4, 3], seed=11, output=output)
    w = np.random.default_rng(2).random(len(X)) * 3
    args = (Network(layers, "tanh", output, dtype=params.dtype), X, Y)
    _, grad = engine.loss_and_gradient(backend, params, *args, sample_weight=w)
    h = 1e-6
    numeric = np.empty_like(params)
    for i in range(params.size):
        step = np.zeros_like(params)
        step[i] = h
        up, _ = engine.loss_and_gradient(backend, params + step, *args, sample_weight=w)
        down, _ = engine.loss_and_gradient(backend, params - step, *args, sample_weight=w)
        numeric[i] = (up - down) / (2 * h)
    assert np.linalg.norm(grad - numeric) / np.linalg.norm(grad + numeric) < 1e-6


@pytest.mark.parametrize("backend", ["cython", "numpy"])
def test_integer_weights_equal_repeated_samples(backend):
    # An independent expectation: weight 2 is the same as the sample appearing twice.
    layers, params, X, Y = _problem([3, 5, 2], seed=12, output="softmax")
    w = np.random.default_rng(3).integers(0, 4, len(X)).astype(float)
    rows = np.repeat(np.arange(len(X)), w.astype(int))
    args = (Network(layers, "relu", "softmax", dtype=params.dtype),)
    loss_w, grad_w = engine.loss_and_gradient(backend, params, *args, X, Y, sample_weight=w)
    loss_r, grad_r = engine.loss_and_gradient(backend, params, *args, X[rows], Y[rows])
    assert loss_w == pytest.approx(loss_r, rel=1e-12)
    np.testing.assert_allclose(grad_w, grad_r, rtol=1e-10, atol=1e-14)


@pytest.mark.parametrize("backend", ["cython", "numpy"])
@pytest.mark.parametrize("activation", ACTIVATIONS)
def test_gradient_with_dropout_matches_central_differences(backend, activation):
    # The masks are fixed by the seed, so the loss is a smooth function of the parameters.
    layers, params, X, Y = _problem([3, 6, 5, 2], seed=13, output="softmax")
    args = (Network(layers, activation, "softmax", dtype=params.dtype), X, Y)
    kw = dict(dropout=0.4, dropout_seed=99)
    _, grad = engine.loss_and_gradient(backend, params, *args, **kw)
    h = 1e-6
    numeric = np.empty_like(params)
    for i in range(params.size):
        step = np.zeros_like(params)
        step[i] = h
        up, _ = engine.loss_and_gradient(backend, params + step, *args, **kw)
        down, _ = engine.loss_and_gradient(backend, params - step, *args, **kw)
        numeric[i] = (up - down) / (2 * h)
    assert np.linalg.norm(grad - numeric) / np.linalg.norm(grad + numeric) < 1e-6
    # ...and dropout changes it: the check would notice masks being ignored.
    _, plain = engine.loss_and_gradient(backend, params, *args)
    assert not np.allclose(grad, plain)


@pytest.mark.parametrize("backend", ["cython", "numpy"])
@pytest.mark.parametrize("output", OUTPUTS)
def test_gradient_with_l2_penalty_matches_central_differences(backend, output):
    # The objective lbfgs minimizes: the data term plus 0.5 * alpha * sum(W**2) / sum(w).
    layers, params, X, Y = _problem([3, 4, 3], seed=14, output=output)
    w = np.random.default_rng(4).random(len(X)) * 2
    args = (Network(layers, "tanh", output, dtype=params.dtype), X, Y)
    kw = dict(sample_weight=w, alpha=0.7)
    loss, grad = engine.loss_and_gradient(backend, params, *args, **kw)
    plain, _ = engine.loss_and_gradient(backend, params, *args, sample_weight=w)
    weights = [params[:12], params[16:28]]          # W1 (3x4) and W2 (4x3); biases unpenalised
    penalty = 0.5 * 0.7 * sum(float(v @ v) for v in weights) / w.sum()
    assert loss == pytest.approx(plain + penalty, rel=1e-12)
    h = 1e-6
    numeric = np.empty_like(params)
    for i in range(params.size):
        step = np.zeros_like(params)
        step[i] = h
        up, _ = engine.loss_and_gradient(backend, params + step, *args, **kw)
        down, _ = engine.loss_and_gradient(backend, params - step, *args, **kw)
        numeric[i] = (up - down) / (2 * h)
    assert np.linalg.norm(grad - numeric) / np.linalg.norm(grad + numeric) < 1e-6
