"""The rules applied between epochs inside the loop (cnet.epoch_rules, and the optimizer's
schedule): the compiled loop
equals its twin, a fit in one call equals a fit an epoch at a time, and the validation score
is scikit-learn's."""
import contextlib
import io
import warnings

import numpy as np
import pytest
import scipy.sparse as sp
from sklearn.datasets import load_digits, make_regression
from sklearn.exceptions import ConvergenceWarning
from sklearn.metrics import accuracy_score, r2_score

import cnet
from cnet import engine
from cnet._layout import n_parameters
from cnet.spec import Progress, Stopping, Validation

from _specs import specs

# Every table here runs on each compiled build this CPU supports (conftest.cpu_variant).
pytestmark = pytest.mark.usefixtures("cpu_variant")


def _problem(output, n=120, n_val=40, features=6, outputs=3, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n + n_val, features))
    score = X[:, :1] * X[:, 1:2] + np.arange(outputs) * X[:, 2:3]
    if output == "softmax":
        Y = np.eye(outputs)[np.argmax(score, axis=1)]
    elif output == "logistic":
        Y = (score > 0).astype(float)
    else:
        Y = score + 0.1 * rng.standard_normal(score.shape)
    return X[:n], Y[:n], X[n:], Y[n:]


def _run(backend, output, score, rules_kw, weighted, sparse_val, epochs=40):
    X, Y, X_val, Y_val = _problem(output)
    layers = np.array([6, 8, Y.shape[1]], np.intp)
    params = np.random.default_rng(1).standard_normal(n_parameters(layers)) * 0.5
    state = np.zeros((2, params.size))
    w_val = np.random.default_rng(2).random(len(X_val)) + 0.5 if weighted else None
    ss_tot = None
    if score == "r2":
        w = np.ones(len(Y_val)) if w_val is None else w_val
        ss_tot = (w[:, None] * (Y_val - np.average(Y_val, axis=0, weights=w)) ** 2).sum(axis=0)
    progress = Progress()
    best = params.copy()
    kw = dict(rules_kw)
    schedule = kw.pop("schedule")
    stopping = Stopping(kw.pop("stop_on"), best_params=best, **kw)
    validation = Validation(sp.csr_matrix(X_val) if sparse_val else X_val, Y_val, w_val,
                            score=score, ss_tot=ss_tot)
    network, training = specs(layers, "tanh", output, learning_rate=0.05, schedule=schedule,
                              power_t=0.5, batch_size=16, shuffle=True, seed=3, loss_every=1,
                              solver="sgd", momentum=0.9, stopping=stopping,
                              validation=validation)
    result = engine.train(backend, params, network, training, X, Y, epochs, progress)
    val_losses, val_scores = np.full(epochs, np.nan), np.full(epochs, np.nan)
    val_losses[:result.epochs_done] = result.val_losses
    if stopping.on == "score":
        val_scores[:result.epochs_done] = result.val_scores
    return (result, params, progress.fields.tolist(), training.optimizer.learning_rate,
            val_losses, val_scores, best)


@pytest.mark.parametrize("output,score", [("softmax", "accuracy_argmax"),
                                          ("logistic", "accuracy_threshold"),
                                          ("identity", "r2")])
@pytest.mark.parametrize("rules_kw", [
    dict(schedule="invscaling", stop_on="loss", tol=1e-3, n_iter_no_change=3),
    dict(schedule="adaptive", stop_on="loss", tol=0.5, n_iter_no_change=2),
    dict(schedule="constant", stop_on="score", tol=1e-4, n_iter_no_change=4),
    dict(schedule="adaptive", stop_on="score", tol=0.5, n_iter_no_change=1),
    dict(schedule="constant", stop_on="none"),
], ids=lambda kw: "-".join(map(str, kw.values())))
@pytest.mark.parametrize("weighted,sparse_val", [(False, False), (True, True)])
def test_compiled_rules_equal_the_twins(output, score, rules_kw, weighted, sparse_val):
    compiled = _run("cython", output, score, rules_kw, weighted, sparse_val)
    twin = _run("numpy", output, score, rules_kw, weighted, sparse_val)
    assert compiled[0].epochs_done == twin[0].epochs_done
    assert compiled[0].stopped == twin[0].stopped
    done = compiled[0].epochs_done
    np.testing.assert_allclose(compiled[0].losses, twin[0].losses, rtol=1e-10)
    for got, expected in zip(compiled[1:], twin[1:]):
        got, expected = np.asarray(got), np.asarray(expected)
        if got.shape == (40,):
            got, expected = got[:done], expected[:done]
        np.testing.assert_allclose(got, expected, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("params", [
    dict(solver="sgd", learning_rate="adaptive", tol=0.05, n_iter_no_change=2),
    dict(solver="sgd", learning_rate="invscaling", learning_rate_init=0.2),
    dict(solver="adam", early_stopping=True, n_iter_no_change=3),
    dict(solver="adam", tol=0.0),
])
def test_one_call_fit_equals_an_epoch_at_a_time(params):
    # verbose fits run the loop an epoch per call; the rules' state must carry over exactly.
    X, y = load_digits(n_class=4, return_X_y=True)
    X = X / 16
    fits = []
    for verbose in (False, True):
        with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()) as printed:
            warnings.simplefilter("ignore", ConvergenceWarning)
            fits.append(cnet.MLPClassifier(hidden_layer_sizes=(16,), max_iter=40,
                                           random_state=0, verbose=verbose,
                                           **params).fit(X, y))
    whole, stepwise = fits
    assert whole.n_iter_ == stepwise.n_iter_
    assert whole.loss_curve_ == stepwise.loss_curve_
    assert whole._optimizer.learning_rate == stepwise._optimizer.learning_rate
    for a, b in zip(whole.coefs_ + whole.intercepts_, stepwise.coefs_ + stepwise.intercepts_):
        np.testing.assert_array_equal(a, b)
    assert f"Iteration {whole.n_iter_}, loss" in printed.getvalue()


def test_validation_scores_are_scikit_learns_scores():
    X, y = load_digits(n_class=5, return_X_y=True)
    X = X / 16
    X_val, y_val, X_train, y_train = X[:150], y[:150], X[150:], y[150:]
    w = np.random.default_rng(0).random(150) + 0.5
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        for epochs in (1, 4):
            clf = cnet.MLPClassifier(hidden_layer_sizes=(8,), max_iter=epochs,
                                     early_stopping=True, n_iter_no_change=100,
                                     random_state=0).fit(X_train, y_train,
                                                         eval_set=(X_val, y_val, w))
            # The last epoch improved or not; compare with a model holding that epoch.
            assert len(clf.validation_scores_) == epochs
        last = cnet.MLPClassifier(hidden_layer_sizes=(8,), max_iter=4, random_state=0).fit(
            X_train, y_train)
    expected = accuracy_score(y_val, last.predict(X_val), sample_weight=w)
    assert clf.validation_scores_[-1] == pytest.approx(expected, abs=1e-12)
    Xr, yr = make_regression(200, 5, noise=5.0, random_state=0)
    yr = np.stack([yr / 100, -yr / 50], axis=1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        reg = cnet.MLPRegressor(hidden_layer_sizes=(8,), max_iter=3, early_stopping=True,
                                n_iter_no_change=100, random_state=0).fit(
            Xr[:150], yr[:150], eval_set=(Xr[150:], yr[150:]))
        plain = cnet.MLPRegressor(hidden_layer_sizes=(8,), max_iter=3, random_state=0).fit(
            Xr[:150], yr[:150])
    assert reg.validation_scores_[-1] == pytest.approx(
        r2_score(yr[150:], plain.predict(Xr[150:])), abs=1e-10)


def test_the_spec_rejects_rules_it_cannot_apply():
    # Names and combinations are refused when the spec is made, once for both backends.
    X, Y, X_val, Y_val = _problem("logistic")
    layers = np.array([6, 4, 3], np.intp)
    for make, match in [
            (lambda: specs(layers, "relu", "logistic", schedule="cyclic", batch_size=10),
             "learning_rate must be one of"),
            (lambda: Stopping("never"), "stopping must be one of"),
            (lambda: Stopping("score"), "needs best_params"),
            (lambda: specs(layers, "relu", "logistic", batch_size=10,
                           stopping=Stopping("score", best_params=np.zeros(3))),
             "needs a validation set"),
            (lambda: specs(layers, "relu", "logistic", batch_size=10, loss_every=2,
                           stopping=Stopping("loss")), "loss of every epoch"),
            (lambda: Validation(X_val, Y_val, score="r2"), "needs ss_tot"),
            (lambda: Validation(X_val, Y_val, score="f1"), "score must be one of")]:
        with pytest.raises(ValueError, match=match):
            make()


@pytest.mark.parametrize("backend", ["cython", "numpy"])
def test_rules_reject_a_validation_set_that_does_not_fit(backend):
    X, Y, X_val, Y_val = _problem("logistic")
    layers = np.array([6, 4, 3], np.intp)
    params = np.zeros(n_parameters(layers))
    for validation, match in [
            (Validation(X_val, np.ascontiguousarray(Y_val[:, :2])), "validation.Y must have"),
            (Validation(X_val[:0], Y_val[:0]), "validation.X has no rows"),
            (Validation(np.ascontiguousarray(X_val[:, :5]), Y_val), "X has 5 features")]:
        start = params.copy()
        with pytest.raises(ValueError, match=match):
            engine.train(backend, start, *specs(layers, "relu", "logistic", batch_size=10,
                                                shuffle=True, validation=validation), X, Y, 2)
        assert np.array_equal(start, params)     # refused before any training
