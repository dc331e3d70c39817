"""scikit-learn's callbacks (sklearn.callback) on MLPClassifier and MLPRegressor, after the
patterns of scikit-learn's own callback tests (sklearn/callback/tests): hooks counted and
ordered, the task tree, a callback that stops the fit, ScoringMonitor's logs, nesting inside
GridSearchCV, and ProgressBar."""
import io
import pickle
import warnings
from contextlib import redirect_stdout

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.callback import ProgressBar, ScoringMonitor
from sklearn.datasets import make_classification, make_regression
from sklearn.exceptions import ConvergenceWarning
from sklearn.metrics import accuracy_score
from sklearn.model_selection import GridSearchCV

from cnet import MLPClassifier, MLPRegressor, engine

X, y = make_classification(120, 5, n_informative=3, n_classes=3, random_state=0)
X_reg, y_reg = make_regression(120, 5, noise=0.5, random_state=0)
y_reg = y_reg / 100


class Recording:
    """Keeps every hook call (name, context) and each epoch's fitted estimator; the
    callback's class attribute ``max_propagation_depth`` makes it auto-propagated."""

    def __init__(self, stop_at=None):
        self.record = []
        self.fitted = []
        self.stop_at = stop_at

    def setup(self, estimator, context):
        self.record.append(("setup", context))

    def on_fit_task_begin(self, estimator, context, *, X=None, y=None, metadata=None):
        self.record.append(("begin", context))

    def on_fit_task_end(self, estimator, context, *, X=None, y=None, metadata=None,
                        fitted_estimator=None):
        self.record.append(("end", context))
        if context.parent is not None and fitted_estimator is not None:
            self.fitted.append(fitted_estimator)
            self.metadata = metadata
            return self.stop_at is not None and len(self.fitted) >= self.stop_at
        return False

    def teardown(self, estimator, context):
        self.record.append(("teardown", context))

    def count(self, name):
        return sum(1 for hook, _ in self.record if hook == name)


class AutoRecording(Recording):
    max_propagation_depth = None


def _quiet_fit(model, *args, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return model.fit(*args, **kwargs)


@pytest.mark.parametrize("Estimator, data", [(MLPClassifier, (X, y)),
                                             (MLPRegressor, (X_reg, y_reg))])
def test_hooks_called_once_per_epoch(Estimator, data):
    callback = Recording()
    model = Estimator(hidden_layer_sizes=(8,), max_iter=7, random_state=0)
    _quiet_fit(model.set_callbacks(callback), *data)
    assert callback.count("setup") == callback.count("teardown") == 1
    assert callback.count("begin") == callback.count("end") == 1 + 7
    hooks = [hook for hook, _ in callback.record]
    assert hooks[:2] == ["setup", "begin"] and hooks[-2:] == ["end", "teardown"]
    root = callback.record[0][1]
    assert root.parent is None and root.max_subtasks == 7
    epochs = [ctx for ctx in root if ctx is not root]
    assert [ctx.task_id for ctx in epochs] == list(range(7))
    assert all(ctx.task_name == "epoch" and ctx.max_subtasks == 0 for ctx in epochs)


def test_fitted_estimator_is_the_model_after_that_epoch():
    """Each epoch's fitted estimator predicts as a fit of that many epochs does."""
    callback = Recording()
    params = dict(hidden_layer_sizes=(8,), random_state=0, learning_rate_init=0.01)
    model = _quiet_fit(MLPClassifier(max_iter=5, **params).set_callbacks(callback), X, y)
    assert len(callback.fitted) == 5
    for k, fitted in enumerate(callback.fitted, start=1):
        alone = _quiet_fit(MLPClassifier(max_iter=k, **params), X, y)
        np.testing.assert_array_equal(fitted.predict_proba(X), alone.predict_proba(X))
        assert fitted.n_iter_ == k
    # The snapshots are copies: later epochs did not change the first one.
    assert not np.array_equal(callback.fitted[0].coefs_[0], model.coefs_[0])


def test_callbacks_do_not_change_the_fit():
    params = dict(hidden_layer_sizes=(8,), random_state=0, max_iter=30, early_stopping=True)
    plain = _quiet_fit(MLPClassifier(**params), X, y)
    watched = _quiet_fit(MLPClassifier(**params).set_callbacks(Recording()), X, y)
    assert plain.validation_scores_ == watched.validation_scores_
    assert plain.loss_curve_ == watched.loss_curve_
    for a, b in zip(plain.coefs_, watched.coefs_):
        np.testing.assert_array_equal(a, b)


def test_a_callback_stops_the_fit():
    callback = Recording(stop_at=3)
    params = dict(hidden_layer_sizes=(8,), random_state=0, learning_rate_init=0.01)
    with warnings.catch_warnings():
        # No "maximum iterations reached": the callback ended it.
        warnings.simplefilter("error", ConvergenceWarning)
        model = MLPClassifier(max_iter=50, **params).set_callbacks(callback).fit(X, y)
    assert model.n_iter_ == 3 and len(model.loss_curve_) == 3
    assert model.stop_training_
    alone = _quiet_fit(MLPClassifier(max_iter=3, **params), X, y)
    np.testing.assert_array_equal(model.predict_proba(X), alone.predict_proba(X))


def test_sample_weight_reaches_the_hooks():
    callback = Recording()
    w = np.linspace(0.5, 1.5, len(X))
    _quiet_fit(MLPClassifier((8,), max_iter=2).set_callbacks(callback), X, y,
               sample_weight=w)
    assert callback.metadata["sample_weight"] is w


def test_no_callbacks_one_compiled_call(monkeypatch):
    calls = []
    train = engine.train
    monkeypatch.setattr(engine, "train", lambda *a, **k: calls.append(a[6]) or train(*a, **k))
    _quiet_fit(MLPClassifier((8,), max_iter=12, random_state=0), X, y)
    assert calls == [12]
    calls.clear()
    _quiet_fit(MLPClassifier((8,), max_iter=12, random_state=0).set_callbacks(Recording()),
               X, y)
    assert calls == [1] * 12


def test_scoring_monitor_records_each_epoch():
    monitor = ScoringMonitor(scoring="accuracy")
    model = _quiet_fit(MLPClassifier((8,), max_iter=6, random_state=0,
                                     learning_rate_init=0.01).set_callbacks(monitor), X, y)
    log = monitor.get_logs()
    epochs = [row for row in log.data if row["task_name"] == "epoch"]
    assert [row["task_id"] for row in epochs] == list(range(6))
    assert epochs[-1]["accuracy"] == accuracy_score(y, model.predict(X))
    assert log.estimator_name == "MLPClassifier"


def test_verbose_keeps_printing_with_callbacks():
    out = io.StringIO()
    with redirect_stdout(out):
        _quiet_fit(MLPClassifier((8,), max_iter=4, verbose=True).set_callbacks(Recording()),
                   X, y)
    assert out.getvalue().count("Iteration ") == 4


def test_lbfgs_iterations_are_subtasks_and_can_stop():
    callback = Recording()
    model = _quiet_fit(MLPRegressor(hidden_layer_sizes=(8,), solver="lbfgs", max_iter=15,
                                    random_state=0).set_callbacks(callback), X_reg, y_reg)
    root = callback.record[0][1]
    iterations = [ctx for ctx in root if ctx is not root]
    # One subtask per iteration and the one begun but never run, as scikit-learn's lbfgs.
    assert len(iterations) == model.n_iter_ + 1
    assert all(ctx.task_name == "lbfgs-iter" for ctx in iterations)
    assert len(callback.fitted) == model.n_iter_
    np.testing.assert_array_equal(callback.fitted[-1].predict(X_reg), model.predict(X_reg))

    stopper = Recording(stop_at=4)
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        stopped = MLPRegressor(hidden_layer_sizes=(8,), solver="lbfgs", max_iter=50,
                               random_state=0).set_callbacks(stopper).fit(X_reg, y_reg)
    assert stopped.n_iter_ == 4 and stopped.stop_training_
    np.testing.assert_array_equal(stopper.fitted[-1].predict(X_reg), stopped.predict(X_reg))


def test_partial_fit_is_one_epoch_task():
    callback = Recording()
    model = MLPClassifier((8,), random_state=0).set_callbacks(callback)
    model.partial_fit(X, y, classes=np.unique(y))
    model.partial_fit(X, y)
    assert callback.count("setup") == 2 and callback.count("begin") == 4
    assert len(callback.fitted) == 2


def test_nested_in_grid_search():
    """An auto-propagated callback on the search reaches each MLP fit, whose task tree
    hangs under the search's, as with scikit-learn's own estimators."""
    callback = AutoRecording()
    search = GridSearchCV(MLPClassifier((8,), max_iter=3, random_state=0),
                          {"alpha": [1e-4, 1e-2]}, cv=2)
    _quiet_fit(search.set_callbacks(callback), X, y)
    root = callback.record[0][1]
    assert root.estimator_name == "GridSearchCV"
    mlp_tasks = [ctx for ctx in root if ctx.estimator_name == "MLPClassifier"]
    fits = [ctx for ctx in mlp_tasks if ctx.task_name != "epoch"]
    epochs = [ctx for ctx in mlp_tasks if ctx.task_name == "epoch"]
    # 2 candidates x 2 folds, and the refit; 3 epochs each.
    assert len(fits) == 5 and len(epochs) == 15
    assert all(ctx.parent.estimator_name == "MLPClassifier" for ctx in epochs)
    assert all(ctx.source_estimator_name == "GridSearchCV" for ctx in fits)
    assert callback.count("setup") == callback.count("teardown") == 1


def test_scoring_monitor_on_the_inner_estimator_of_a_search():
    monitor = ScoringMonitor(scoring="accuracy")
    search = GridSearchCV(MLPClassifier((8,), max_iter=2, random_state=0).set_callbacks(monitor),
                          {"alpha": [1e-4, 1e-2]}, cv=2)
    _quiet_fit(search, X, y)
    rows = [row for row in monitor.get_logs().data if row["task_name"] == "epoch"]
    assert len(rows) == 5 * 2


def test_clone_and_pickle_keep_callbacks():
    model = MLPClassifier((8,), max_iter=2).set_callbacks(ScoringMonitor(scoring="accuracy"))
    assert clone(model)._skl_callbacks == model._skl_callbacks
    _quiet_fit(model, X, y)
    again = pickle.loads(pickle.dumps(model))
    np.testing.assert_array_equal(again.predict(X), model.predict(X))


def test_set_callbacks_refuses_what_is_not_a_callback():
    with pytest.raises(TypeError, match="FitCallback protocol"):
        MLPClassifier().set_callbacks(object())


def test_progress_bar():
    # ProgressBar draws with rich, an optional dependency of scikit-learn's (cnet's extra
    # "callbacks"); without it ProgressBar() itself raises ImportError.
    pytest.importorskip("rich", reason="ProgressBar needs rich (pip install cnet[callbacks])")
    model = MLPClassifier((8,), max_iter=5, random_state=0).set_callbacks(ProgressBar())
    _quiet_fit(model, X, y)
    assert model.n_iter_ == 5
