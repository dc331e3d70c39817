"""The regressor's losses beyond scikit-learn's: each against its closed form (PyTorch's
definitions, written out in numpy here), and through the estimator.

The kernel and twin tables, the finite-difference rows and the training rows of every registry
loss are in test_kernels.py, test_gradients.py and test_training.py; these tests hold what
those tables do not: the loss's parameter, and the definitions users know the losses by.
"""
import warnings

import numpy as np
import pytest

import cnet
from cnet import kernels, reference

RNG = np.random.default_rng(0)
PRED = RNG.standard_normal((2, 50)) * 3
Y = RNG.standard_normal((2, 50))


def huber_closed_form(pred, y, delta):
    # torch.nn.HuberLoss(reduction="none", delta=delta), summed over outputs, mean over samples.
    r = np.abs(pred - y)
    return float(np.where(r < delta, 0.5 * r**2, delta * (r - 0.5 * delta)).sum() / pred.shape[1])


@pytest.mark.parametrize("module", [kernels, reference], ids=["compiled", "twin"])
@pytest.mark.parametrize("delta", [0.1, 1.0, 2.5])
def test_huber_loss_and_gradient_follow_the_definition(module, delta):
    assert module.huber_loss(PRED, Y, delta=delta) == pytest.approx(
        huber_closed_form(PRED, Y, delta), rel=1e-12)
    expected = np.clip(PRED - Y, -delta, delta) / PRED.shape[1]
    np.testing.assert_allclose(module.huber_loss_grad(PRED, Y, delta=delta), expected,
                               rtol=1e-12, atol=0)


def test_huber_default_delta_is_one_as_pytorchs():
    assert kernels.huber_loss(PRED, Y) == kernels.huber_loss(PRED, Y, delta=1.0)
    assert kernels.huber_loss(PRED, Y) != kernels.huber_loss(PRED, Y, delta=2.0)


def test_huber_beyond_every_residual_is_the_squared_error():
    delta = float(np.abs(PRED - Y).max()) * 2
    assert kernels.huber_loss(PRED, Y, delta=delta) == pytest.approx(
        kernels.squared_error(PRED, Y), rel=1e-12)


@pytest.mark.parametrize("delta", [0.0, -1.0, np.inf, np.nan, "1"])
def test_huber_refuses_a_delta_that_is_not_positive_and_finite(delta):
    with pytest.raises(ValueError, match="delta"):
        kernels.huber_loss(PRED, Y, delta=delta)


def _fit(**params):
    rng = np.random.default_rng(1)
    X = rng.standard_normal((80, 3))
    y = X @ np.array([1.0, -2.0, 0.5]) + 0.1 * rng.standard_normal(80)
    y[:4] += 30                                   # outliers
    reg = cnet.MLPRegressor(hidden_layer_sizes=(8,), solver="sgd", learning_rate_init=0.01,
                            max_iter=20, random_state=0, **params)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return reg.fit(X, y), X, y


def test_regressor_huber_with_a_delta_past_every_residual_trains_as_squared_error():
    huber, _, _ = _fit(loss="huber", huber_delta=1e6)
    squared, _, _ = _fit(loss="squared_error")
    for a, b in zip(huber.coefs_ + huber.intercepts_, squared.coefs_ + squared.intercepts_):
        np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-12)


def test_regressor_huber_delta_changes_the_fit_and_both_backends_agree():
    small, X, y = _fit(loss="huber", huber_delta=0.5)
    large, _, _ = _fit(loss="huber", huber_delta=5.0)
    assert not np.allclose(small.coefs_[0], large.coefs_[0])
    twin, _, _ = _fit(loss="huber", huber_delta=0.5, backend="numpy")
    np.testing.assert_allclose(small.predict(X), twin.predict(X), rtol=1e-9, atol=1e-9)
    assert small.out_activation_ == "identity"


def test_regressor_huber_delta_is_checked_and_saved(tmp_path):
    with pytest.raises(ValueError, match="huber_delta"):
        cnet.MLPRegressor(loss="huber", huber_delta=0).fit([[0.0], [1.0]], [0.0, 1.0])
    reg, X, _ = _fit(loss="huber", huber_delta=0.5)
    reg.save(tmp_path / "huber.npz")
    loaded = cnet.load(tmp_path / "huber.npz")
    assert loaded.huber_delta == 0.5 and loaded.loss == "huber"
    np.testing.assert_array_equal(loaded.predict(X), reg.predict(X))


@pytest.mark.parametrize("module", [kernels, reference], ids=["compiled", "twin"])
def test_absolute_error_follows_the_definition_and_its_gradient_is_zero_at_zero(module):
    # torch.nn.L1Loss(reduction="none"), summed over outputs, mean over samples.
    assert module.absolute_error(PRED, Y) == pytest.approx(
        float(np.abs(PRED - Y).sum() / PRED.shape[1]), rel=1e-12)
    y = PRED.copy()
    y[0, :10] += 1.0
    y[1, :10] -= 1.0
    grad = module.absolute_error_grad(PRED, y)
    n = PRED.shape[1]
    np.testing.assert_array_equal(grad[0, :10], -1.0 / n)
    np.testing.assert_array_equal(grad[1, :10], 1.0 / n)
    np.testing.assert_array_equal(grad[:, 10:], 0.0)       # prediction == target


def test_regressor_absolute_error_trains_as_its_twin_and_fits_the_median_better():
    absolute, X, y = _fit(loss="absolute_error")
    twin, _, _ = _fit(loss="absolute_error", backend="numpy")
    np.testing.assert_allclose(absolute.predict(X), twin.predict(X), rtol=1e-9, atol=1e-9)
    assert absolute.out_activation_ == "identity"
    squared, _, _ = _fit(loss="squared_error")
    # The outliers drag the squared error's fit up; the absolute error's much less.
    clean = slice(4, None)
    assert (np.median(np.abs(absolute.predict(X)[clean] - y[clean]))
            < np.median(np.abs(squared.predict(X)[clean] - y[clean])))


def test_the_loss_parameter_may_be_passed_by_position_as_to_the_twin():
    for module in (kernels, reference):
        assert module.huber_loss(PRED, Y, 2.0) == pytest.approx(huber_closed_form(PRED, Y, 2.0))
        np.testing.assert_allclose(module.huber_loss_grad(PRED, Y, None, 2.0),
                                   np.clip(PRED - Y, -2.0, 2.0) / PRED.shape[1], rtol=1e-12)


@pytest.mark.parametrize("delta", [0.0, -1.0, np.nan])
def test_the_twin_refuses_the_deltas_the_kernels_refuse(delta):
    with pytest.raises(ValueError, match="delta"):
        reference.huber_loss(PRED, Y, delta=delta)


def test_float32_stays_float32_with_a_float64_delta():
    pred, y = PRED.astype(np.float32), Y.astype(np.float32)
    for module in (kernels, reference):
        assert module.huber_loss_grad(pred, y, delta=np.float64(2)).dtype == np.float32
