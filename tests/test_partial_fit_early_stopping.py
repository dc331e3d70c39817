"""partial_fit with early_stopping=True (scikit-learn's MLP refuses it, its #25693): scored on
a validation set given to partial_fit, the best score and weights kept across calls, and
``stop_training_`` set when scikit-learn's rule says stop. Checked against a reference loop
that streams the same batches into a model without early stopping, scores each call with
scikit-learn and applies the rule itself."""
import warnings

import numpy as np
import pytest
from sklearn.datasets import make_classification, make_regression
from sklearn.metrics import get_scorer

import cnet
from cnet import MLPClassifier, MLPRegressor

X, y = make_classification(400, 6, n_informative=4, n_classes=3, random_state=0)
X_val, y_val = X[300:], y[300:]
X, y = X[:300], y[:300]
CLASSES = np.unique(y)


def _batches(X, y, size=60):
    while True:
        for start in range(0, len(X), size):
            yield X[start:start + size], y[start:start + size]


def _stream(model, X, y, X_val, y_val, n_calls, **first):
    """Feed batches until stop_training_ or n_calls; the eval set given on the first call
    only (it is kept). Returns the weights after each call."""
    weights = []
    for i, (Xb, yb) in zip(range(n_calls), _batches(X, y)):
        model.partial_fit(Xb, yb, **(dict(first, eval_set=(X_val, y_val)) if i == 0 else {}))
        weights.append([W.copy() for W in model.coefs_])
        if model.stop_training_:
            break
    return weights


def _reference(model, X, y, X_val, y_val, n_calls, scorer, tol, n_iter_no_change, **first):
    """scikit-learn's rule written out over partial_fit calls of a model without early
    stopping: the scores, the call that says stop (or None), and the best call's weights."""
    scores, best, best_weights, count, stop_call = [], -np.inf, None, 0, None
    for i, (Xb, yb) in zip(range(n_calls), _batches(X, y)):
        model.partial_fit(Xb, yb, **(first if i == 0 else {}))
        score = scorer(model, X_val, y_val)
        scores.append(score)
        count = count + 1 if score < best + tol else 0
        if score > best:
            best, best_weights = score, [W.copy() for W in model.coefs_]
        if count > n_iter_no_change:
            stop_call = i
            break
    return scores, stop_call, best_weights


@pytest.mark.parametrize("scoring", [None, "neg_log_loss", "f1_macro"])
def test_classifier_stream_equals_reference(scoring):
    params = dict(hidden_layer_sizes=(16,), learning_rate_init=0.01, random_state=0,
                  tol=1e-3, n_iter_no_change=3)
    model = MLPClassifier(early_stopping=True, scoring=scoring, **params)
    weights = _stream(model, X, y, X_val, y_val, 300, classes=CLASSES)
    scores, stop_call, best_weights = _reference(
        MLPClassifier(**params), X, y, X_val, y_val, 300, get_scorer(scoring or "accuracy"),
        1e-3, 3, classes=CLASSES)
    assert stop_call is not None, "the test needs a stream that stops"
    np.testing.assert_allclose(model.validation_scores_, scores, rtol=1e-9, atol=1e-12)
    assert len(weights) == stop_call + 1 and model.stop_training_
    assert model.best_validation_score_ == pytest.approx(max(scores), rel=1e-9)
    # Stopped: the best call's weights are restored.
    for a, b in zip(model.coefs_, best_weights):
        np.testing.assert_array_equal(a, b)


def test_regressor_stream_keeps_training_until_told_to_stop():
    Xr, yr = make_regression(400, 5, noise=0.5, random_state=0)
    yr = yr / 100
    params = dict(hidden_layer_sizes=(16,), learning_rate_init=0.01, random_state=0,
                  tol=1e-4, n_iter_no_change=2)
    model = MLPRegressor(early_stopping=True, **params)
    reference = MLPRegressor(**params)
    scorer = get_scorer("r2")
    for i, (Xb, yb) in zip(range(4), _batches(Xr[:300], yr[:300])):
        model.partial_fit(Xb, yb, eval_set=(Xr[300:], yr[300:]))
        reference.partial_fit(Xb, yb)
        assert model.validation_scores_[-1] == pytest.approx(
            scorer(reference, Xr[300:], yr[300:]), rel=1e-9)
        if not model.stop_training_:
            # Still training: the last call's weights, as the reference has them.
            for a, b in zip(model.coefs_, reference.coefs_):
                np.testing.assert_array_equal(a, b)
    assert len(model.validation_scores_) == 4


@pytest.mark.parametrize("Estimator, kwargs", [(MLPClassifier, {"classes": CLASSES}),
                                               (MLPRegressor, {})])
def test_without_validation_set_is_a_clear_error(Estimator, kwargs):
    model = Estimator(early_stopping=True)
    with pytest.raises(ValueError, match="partial_fit does not support early_stopping=True "
                                         "without a validation set: validation_fraction "
                                         "cannot split a stream"):
        model.partial_fit(X, y, **kwargs)


def test_new_eval_set_replaces_the_kept_one():
    model = MLPClassifier((8,), early_stopping=True, random_state=0)
    model.partial_fit(X, y, classes=CLASSES, eval_set=(X_val, y_val))
    model.partial_fit(X, y, eval_set=(X_val[:10], y_val[:10]))
    model.partial_fit(X, y)
    expected = model.score(X_val[:10], y_val[:10])
    assert model.validation_scores_[-1] == expected
    assert len(model.validation_loss_curve_) == 3


def test_fit_forgets_the_stream_validation_set():
    model = MLPClassifier((8,), early_stopping=True, random_state=0, max_iter=3)
    model.partial_fit(X, y, classes=CLASSES, eval_set=(X_val, y_val))
    with pytest.warns(Warning):
        model.fit(X, y)
    with pytest.raises(ValueError, match="without a validation set"):
        model.partial_fit(X, y)


def test_save_keeps_scoring_and_restarts_the_records(tmp_path):
    """The scorer's name is a parameter and is saved; the early-stopping records (scores,
    best score, stop_training_) restart on loading, as they start on a first fit."""
    params = dict(hidden_layer_sizes=(16,), learning_rate_init=0.01, random_state=0,
                  tol=1e-3, n_iter_no_change=1)
    model = MLPClassifier(early_stopping=True, scoring="neg_log_loss", **params)
    _stream(model, X, y, X_val, y_val, 300, classes=CLASSES)
    assert model.stop_training_
    model.save(tmp_path / "m.npz")
    loaded = cnet.load(tmp_path / "m.npz")
    assert loaded.scoring == "neg_log_loss"
    assert not loaded.stop_training_ and loaded.validation_scores_ == []
    np.testing.assert_array_equal(loaded.predict_proba(X_val), model.predict_proba(X_val))
    with pytest.raises(ValueError, match="without a validation set"):
        loaded.partial_fit(X, y)
    loaded.partial_fit(X, y, eval_set=(X_val, y_val))
    assert len(loaded.validation_scores_) == 1


def test_early_stopping_switched_on_later_restores_the_weights_it_started_from():
    # After a fit without early stopping, the best weights so far are the fitted ones. A fit
    # with early stopping switched on whose first epoch diverges (NaN score) restores them,
    # not the weights the first fit started from.
    from sklearn.datasets import make_moons
    X, y = make_moons(200, noise=0.2, random_state=0)
    clf = cnet.MLPClassifier(hidden_layer_sizes=(8,), solver="sgd", max_iter=30,
                             random_state=0, warm_start=True)
    with pytest.warns(Warning):
        clf.fit(X, y)
    fitted = [W.copy() for W in clf.coefs_]
    clf.set_params(early_stopping=True, learning_rate_init=1e300, max_iter=3)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            clf.fit(X * 1e6, y)
        except ValueError:
            pass
    for W, expected in zip(clf.coefs_, fitted):
        np.testing.assert_array_equal(W, expected)
