"""``scoring=``: early stopping on any scikit-learn scorer.

The built-in scores the compiled loop computes (accuracy, R², neg_log_loss,
neg_mean_squared_error) are checked against scikit-learn's scorers applied to the weights of
each epoch; a Python scorer's stopping is checked against a Python reference loop that trains
epoch by epoch (partial_fit), scores each epoch with scikit-learn and applies scikit-learn's
rule. Epoch weights are recorded with a callback (sklearn.callback), which makes the fit go
an epoch per call without changing what it computes.
"""
import warnings

import numpy as np
import pytest
from sklearn.datasets import make_classification, make_regression
from sklearn.exceptions import ConvergenceWarning
from sklearn.metrics import get_scorer, make_scorer, balanced_accuracy_score

import cnet
from cnet import MLPClassifier, MLPRegressor, engine

# Built-in scores against scikit-learn's: float64 sums in another order, and cnet's log
# loss from the logits where scikit-learn takes the log of probabilities clipped at eps.
RTOL, ATOL = 1e-9, 1e-12


class EpochRecorder:
    """A callback keeping each epoch's fitted estimator."""

    def __init__(self):
        self.models = []

    def setup(self, estimator, context):
        pass

    def on_fit_task_begin(self, estimator, context):
        pass

    def on_fit_task_end(self, estimator, context, *, fitted_estimator=None):
        if context.task_name == "epoch" and fitted_estimator is not None:
            self.models.append(fitted_estimator)

    def teardown(self, estimator, context):
        pass


def _classification(n_classes=3, weights=False):
    X, y = make_classification(300, 6, n_informative=4, n_classes=n_classes, random_state=0)
    X_val, y_val = X[200:], y[200:]
    w_val = np.random.default_rng(0).uniform(0.2, 2.0, 100) if weights else None
    return X[:200], y[:200], X_val, y_val, w_val


def _eval_set(X_val, y_val, w_val):
    return (X_val, y_val) if w_val is None else (X_val, y_val, w_val)


def _fit(model, X, y, eval_set, recorder=None):
    if recorder is not None:
        model.set_callbacks(recorder)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return model.fit(X, y, eval_set=eval_set)


@pytest.mark.parametrize("scoring, n_classes, weights", [
    (None, 3, False), ("accuracy", 2, True), ("neg_log_loss", 3, False),
    ("neg_log_loss", 2, True)])
def test_classifier_builtin_scores_equal_sklearn(scoring, n_classes, weights):
    X, y, X_val, y_val, w_val = _classification(n_classes, weights)
    recorder = EpochRecorder()
    clf = _fit(MLPClassifier((16,), max_iter=15, early_stopping=True, scoring=scoring,
                             n_iter_no_change=100, learning_rate_init=0.01, random_state=0),
               X, y, _eval_set(X_val, y_val, w_val), recorder)
    scorer = get_scorer(scoring or "accuracy")
    kwargs = {} if w_val is None else {"sample_weight": w_val}
    expected = [scorer(m, X_val, y_val, **kwargs) for m in recorder.models]
    assert len(expected) == clf.n_iter_ == 15
    np.testing.assert_allclose(clf.validation_scores_, expected, rtol=RTOL, atol=ATOL)
    assert clf.best_validation_score_ == pytest.approx(max(expected), rel=RTOL)


@pytest.mark.parametrize("scoring, loss, n_targets, weights", [
    (None, "squared_error", 1, False), ("r2", "squared_error", 2, True),
    ("neg_mean_squared_error", "squared_error", 1, False),
    ("neg_mean_squared_error", "squared_error", 3, True),
    ("neg_mean_squared_error", "poisson", 1, True)])
def test_regressor_builtin_scores_equal_sklearn(scoring, loss, n_targets, weights):
    X, y = make_regression(300, 5, n_targets=n_targets, noise=0.5, random_state=0)
    y = y / 100
    if loss == "poisson":
        y = np.abs(y)
    w_val = np.random.default_rng(1).uniform(0.2, 2.0, 100) if weights else None
    recorder = EpochRecorder()
    reg = _fit(MLPRegressor(loss, hidden_layer_sizes=(16,), max_iter=12, early_stopping=True,
                            scoring=scoring, n_iter_no_change=100, learning_rate_init=0.01,
                            random_state=0),
               X[:200], y[:200], _eval_set(X[200:], y[200:], w_val), recorder)
    scorer = get_scorer(scoring or "r2")
    kwargs = {} if w_val is None else {"sample_weight": w_val}
    expected = [scorer(m, X[200:], y[200:], **kwargs) for m in recorder.models]
    np.testing.assert_allclose(reg.validation_scores_, expected, rtol=RTOL, atol=ATOL)


def test_float32_builtin_scores_close_to_sklearn():
    X, y, X_val, y_val, _ = _classification(3)
    recorder = EpochRecorder()
    clf = _fit(MLPClassifier((16,), max_iter=5, early_stopping=True, scoring="neg_log_loss",
                             n_iter_no_change=100, dtype="float32", random_state=0),
               X, y, (X_val, y_val), recorder)
    expected = [get_scorer("neg_log_loss")(m, X_val.astype(np.float32), y_val)
                for m in recorder.models]
    # float32 outputs: scikit-learn's log loss of float32 probabilities.
    np.testing.assert_allclose(clf.validation_scores_, expected, rtol=1e-5)


def test_builtin_scores_same_in_one_call_and_per_epoch():
    """The loop's in-call scores do not depend on how the epochs are split into calls."""
    X, y, X_val, y_val, w_val = _classification(3, weights=True)
    params = dict(max_iter=300, early_stopping=True, scoring="neg_log_loss", random_state=0,
                  learning_rate_init=0.05, n_iter_no_change=3, tol=1e-3)
    one = _fit(MLPClassifier((16,), **params), X, y, (X_val, y_val, w_val))
    per_epoch = _fit(MLPClassifier((16,), **params), X, y, (X_val, y_val, w_val),
                     EpochRecorder())
    assert one.validation_scores_ == per_epoch.validation_scores_
    assert one.n_iter_ == per_epoch.n_iter_ < 300
    for a, b in zip(one.coefs_, per_epoch.coefs_):
        np.testing.assert_array_equal(a, b)


def _reference_stopping(model_factory, X, y, X_val, y_val, scorer, n_epochs, tol,
                        n_iter_no_change, classes=None):
    """scikit-learn's early-stopping rule written out: train an epoch per partial_fit call,
    score it with scikit-learn, count the epochs without improvement by tol, keep the best.

    Returns the scores, the number of epochs and the best epoch's weights."""
    model = model_factory()
    scores, best, best_coefs, count = [], -np.inf, None, 0
    for _ in range(n_epochs):
        model.partial_fit(X, y, **({} if classes is None else {"classes": classes}))
        score = scorer(model, X_val, y_val)
        scores.append(score)
        count = count + 1 if score < best + tol else 0
        if score > best:
            best, best_coefs = score, [W.copy() for W in model.coefs_]
        if count > n_iter_no_change:
            break
    return scores, len(scores), best_coefs


@pytest.mark.parametrize("scoring", [
    "balanced_accuracy", "f1_macro",
    make_scorer(balanced_accuracy_score),
    lambda est, X, y: -np.mean(est.predict(X) != y) - 0.01 * np.abs(est.coefs_[0]).mean()])
def test_python_scorer_stopping_equals_reference_loop(scoring):
    X, y, X_val, y_val, _ = _classification(3)
    params = dict(hidden_layer_sizes=(16,), learning_rate_init=0.01, random_state=0,
                  tol=1e-3, n_iter_no_change=4)
    clf = _fit(MLPClassifier(max_iter=60, early_stopping=True, scoring=scoring, **params),
               X, y, (X_val, y_val))
    scorer = get_scorer(scoring) if isinstance(scoring, str) else scoring
    scores, n_iter, best_coefs = _reference_stopping(
        lambda: MLPClassifier(**params), X, y, X_val, y_val, scorer, 60, 1e-3, 4,
        classes=np.unique(y))
    assert n_iter < 60, "the test needs a fit that stops early"
    np.testing.assert_allclose(clf.validation_scores_, scores, rtol=1e-12)
    assert clf.n_iter_ == n_iter
    assert clf.best_validation_score_ == max(scores)
    for a, b in zip(clf.coefs_, best_coefs):
        np.testing.assert_array_equal(a, b)


def test_python_scorer_regressor_stopping_equals_reference_loop():
    X, y = make_regression(300, 5, noise=0.5, random_state=0)
    y = y / 100
    params = dict(hidden_layer_sizes=(16,), learning_rate_init=0.01, random_state=0,
                  tol=1e-3, n_iter_no_change=3)
    reg = _fit(MLPRegressor(max_iter=200, early_stopping=True,
                            scoring="neg_mean_absolute_error", **params),
               X[:200], y[:200], (X[200:], y[200:]))
    scores, n_iter, best_coefs = _reference_stopping(
        lambda: MLPRegressor(**params), X[:200], y[:200], X[200:], y[200:],
        get_scorer("neg_mean_absolute_error"), 200, 1e-3, 3)
    assert n_iter < 200
    np.testing.assert_allclose(reg.validation_scores_, scores, rtol=1e-12)
    assert reg.n_iter_ == n_iter
    for a, b in zip(reg.coefs_, best_coefs):
        np.testing.assert_array_equal(a, b)


def test_scoring_on_the_held_out_fraction():
    """Without eval_set, the scorer scores the validation_fraction split."""
    X, y, *_ = _classification(2)
    clf = _fit(MLPClassifier((8,), max_iter=30, early_stopping=True, scoring="roc_auc",
                             random_state=0), X, y, None)
    assert len(clf.validation_scores_) == clf.n_iter_
    assert all(0 <= s <= 1 for s in clf.validation_scores_)


def _count_train_calls(monkeypatch):
    calls = []
    train = engine.train

    def counting(*args, **kwargs):
        calls.append(args[6])
        return train(*args, **kwargs)
    monkeypatch.setattr(engine, "train", counting)
    return calls


@pytest.mark.parametrize("scoring", [None, "accuracy", "neg_log_loss"])
def test_builtin_scorers_stay_one_compiled_call(monkeypatch, scoring):
    X, y, *_ = _classification(3)
    calls = _count_train_calls(monkeypatch)
    clf = _fit(MLPClassifier((8,), max_iter=20, early_stopping=True, scoring=scoring,
                             random_state=0), X, y, None)
    assert calls == [20] and clf.n_iter_ >= 1


def test_python_scorer_goes_an_epoch_per_call(monkeypatch):
    X, y, *_ = _classification(3)
    calls = _count_train_calls(monkeypatch)
    clf = _fit(MLPClassifier((8,), max_iter=20, early_stopping=True, scoring="f1_macro",
                             random_state=0), X, y, None)
    assert calls == [1] * clf.n_iter_


def test_bad_scoring_is_a_clear_error():
    X, y, *_ = _classification(3)
    with pytest.raises(ValueError, match="'scoring' parameter of MLPClassifier"):
        MLPClassifier(scoring="no_such_scorer", early_stopping=True).fit(X, y)
    with pytest.raises(TypeError, match="scoring must give one number"):
        MLPClassifier((4,), max_iter=3, early_stopping=True,
                      scoring=lambda est, X, y: "high").fit(X, y)


def test_scoring_name_round_trips_and_callable_is_refused(tmp_path):
    X, y, *_ = _classification(3)
    clf = _fit(MLPClassifier((8,), max_iter=5, early_stopping=True, scoring="f1_macro",
                             random_state=0), X, y, None)
    clf.save(tmp_path / "m.npz")
    loaded = cnet.load(tmp_path / "m.npz")
    assert loaded.scoring == "f1_macro"
    np.testing.assert_array_equal(loaded.predict(X), clf.predict(X))
    clf.set_params(scoring=make_scorer(balanced_accuracy_score))
    with pytest.raises(ValueError, match="cannot save parameter scoring="):
        clf.save(tmp_path / "c.npz")


@pytest.mark.parametrize("Estimator, scoring, data", [
    (MLPClassifier, "neg_log_loss", "classification"),
    (MLPRegressor, "neg_mean_squared_error", "regression")])
def test_new_loop_scores_equal_the_numpy_twin(Estimator, scoring, data):
    if data == "classification":
        X, y, X_val, y_val, w_val = _classification(3, weights=True)
    else:
        X, y = make_regression(300, 5, n_targets=2, noise=0.5, random_state=0)
        X, y, X_val, y_val = X[:200], y[:200] / 100, X[200:], y[200:] / 100
        w_val = np.linspace(0.5, 1.5, 100)
    fits = [_fit(Estimator(hidden_layer_sizes=(8,), max_iter=10, early_stopping=True,
                           scoring=scoring, n_iter_no_change=100, backend=backend,
                           random_state=0), X, y, (X_val, y_val, w_val))
            for backend in ("cython", "numpy")]
    # The twin's float64 sums in another order (conftest's RTOL for float64, loosened by
    # the epochs of training that separate the two).
    np.testing.assert_allclose(fits[0].validation_scores_, fits[1].validation_scores_,
                               rtol=1e-9)
