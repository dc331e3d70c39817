"""MLPClassifier and MLPRegressor: accuracy parity with scikit-learn, and the ecosystem."""
import pickle
import warnings

import numpy as np
import pytest
import sklearn.neural_network as skl
from sklearn.datasets import load_breast_cancer, load_diabetes, load_digits
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import GridSearchCV, cross_val_score, train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

import cnet


def _split(loader, seed):
    X, y = loader(return_X_y=True)
    X_train, X_test, y_train, y_test = train_test_split(X, y, random_state=seed)
    scaler = StandardScaler().fit(X_train)
    return scaler.transform(X_train), scaler.transform(X_test), y_train, y_test


def _mean_score(estimator_class, loader, params, seeds=range(5)):
    scores = []
    for seed in seeds:
        X_train, X_test, y_train, y_test = _split(loader, seed)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            model = estimator_class(random_state=seed, **params).fit(X_train, y_train)
        scores.append(model.score(X_test, y_test))
    return np.mean(scores)


@pytest.mark.parametrize("loader,params", [
    (load_digits, dict(hidden_layer_sizes=(64,), max_iter=100)),
    (load_breast_cancer, dict(hidden_layer_sizes=(32,), max_iter=200)),
    (load_digits, dict(hidden_layer_sizes=(64,), max_iter=100, solver="sgd",
                       learning_rate_init=0.05, momentum=0.9)),
    (load_digits, dict(hidden_layer_sizes=(64,), max_iter=200, solver="lbfgs")),
    (load_breast_cancer, dict(hidden_layer_sizes=(32,), max_iter=200, solver="lbfgs")),
])
def test_classifier_accuracy_is_within_a_point_of_sklearn(loader, params):
    # Averaged over 5 random states, the same hyperparameters: the parity bar.
    ours = _mean_score(cnet.MLPClassifier, loader, params)
    theirs = _mean_score(skl.MLPClassifier, loader, params)
    assert abs(ours - theirs) <= 0.01, (ours, theirs)


@pytest.mark.parametrize("params", [
    dict(hidden_layer_sizes=(32,), max_iter=500, learning_rate_init=0.01),
    dict(hidden_layer_sizes=(32,), max_iter=200, solver="lbfgs", alpha=1.0),
])
def test_regressor_r2_is_within_002_of_sklearn(params):
    ours = _mean_score(cnet.MLPRegressor, load_diabetes, params)
    theirs = _mean_score(skl.MLPRegressor, load_diabetes, params)
    assert abs(ours - theirs) <= 0.02, (ours, theirs)


def test_pipeline_grid_search_cross_validation_and_pickle():
    X, y = load_digits(return_X_y=True)
    X, y = X[:600], y[:600]
    pipe = make_pipeline(StandardScaler(), cnet.MLPClassifier(max_iter=30, random_state=0,
                                                              learning_rate_init=0.01))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        grid = GridSearchCV(pipe, {"mlpclassifier__hidden_layer_sizes": [(16,), (32,)]},
                            cv=2, n_jobs=2).fit(X, y)
        scores = cross_val_score(pipe, X, y, cv=3)
    assert grid.best_score_ > 0.8 and scores.mean() > 0.8
    restored = pickle.loads(pickle.dumps(grid.best_estimator_))
    np.testing.assert_array_equal(restored.predict_proba(X), grid.best_estimator_.predict_proba(X))


@pytest.mark.parametrize("solver", ["sgd", "adam"])
def test_partial_fit_equals_fit_epoch_by_epoch(solver):
    # partial_fit keeps the weights and the optimizer's state: n calls equal n epochs of fit.
    X_train, _, y_train, _ = _split(load_breast_cancer, 0)
    params = dict(hidden_layer_sizes=(8,), solver=solver, random_state=0, shuffle=False,
                  learning_rate_init=0.01, tol=0, n_iter_no_change=1000)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        full = cnet.MLPClassifier(max_iter=5, **params).fit(X_train, y_train)
    part = cnet.MLPClassifier(**params)
    for _ in range(5):
        part.partial_fit(X_train, y_train, classes=[0, 1])
    for a, b in zip(full.coefs_, part.coefs_):
        np.testing.assert_allclose(a, b, rtol=1e-12)


def test_early_stopping_restores_the_best_weights():
    X_train, X_test, y_train, y_test = _split(load_digits, 0)
    clf = cnet.MLPClassifier(hidden_layer_sizes=(32,), early_stopping=True, max_iter=200,
                             n_iter_no_change=5, random_state=0).fit(X_train, y_train)
    assert clf.n_iter_ < 200
    assert len(clf.validation_scores_) == clf.n_iter_
    assert clf.best_validation_score_ == max(clf.validation_scores_)


@pytest.mark.parametrize("backend", ["cython", "numpy"])
def test_multiclass_probabilities_and_string_labels(backend):
    X_train, X_test, y_train, _ = _split(load_digits, 1)
    names = np.array(list("abcdefghij"))
    clf = cnet.MLPClassifier(hidden_layer_sizes=(16,), max_iter=20, random_state=0,
                             backend=backend)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf.fit(X_train, names[y_train])
    proba = clf.predict_proba(X_test)
    assert clf.out_activation_ == "softmax" and proba.shape == (len(X_test), 10)
    np.testing.assert_allclose(proba.sum(axis=1), 1, rtol=1e-12)
    np.testing.assert_array_equal(clf.predict(X_test), names[np.argmax(proba, axis=1)])


@pytest.mark.parametrize("solver", ["adam", "sgd", "lbfgs"])
def test_backends_agree_on_a_fit(solver):
    X_train, X_test, y_train, _ = _split(load_breast_cancer, 2)
    fits = []
    for backend in ("cython", "numpy"):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            fits.append(cnet.MLPClassifier(hidden_layer_sizes=(8, 4), max_iter=30,
                                           solver=solver, random_state=0,
                                           backend=backend).fit(X_train, y_train))
    np.testing.assert_allclose(fits[0].predict_proba(X_test), fits[1].predict_proba(X_test),
                               rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(fits[0].loss_curve_, fits[1].loss_curve_, rtol=1e-10)


def test_sample_weight_equals_repeated_samples_and_class_weight_is_a_weight():
    # Independent expectation: integer weights behave as repeated rows (one full batch,
    # plain SGD, no shuffling, so both runs take the same steps).
    X, y = load_breast_cancer(return_X_y=True)
    X = StandardScaler().fit_transform(X)[:80]
    y = y[:80]
    w = np.random.default_rng(0).integers(1, 4, len(X))
    params = dict(hidden_layer_sizes=(6,), solver="sgd", momentum=0.0, shuffle=False,
                  max_iter=20, learning_rate_init=0.05, random_state=0, tol=0,
                  n_iter_no_change=1000)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        weighted = cnet.MLPClassifier(**params).fit(X, y, sample_weight=w)
        repeated = cnet.MLPClassifier(**params).fit(np.repeat(X, w, axis=0), np.repeat(y, w))
        by_class = cnet.MLPClassifier(class_weight={0: 3.0, 1: 1.0}, **params).fit(X, y)
        explicit = cnet.MLPClassifier(**params).fit(X, y, sample_weight=np.where(y == 0, 3, 1))
    for a, b in zip(weighted.coefs_, repeated.coefs_):
        np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-13)
    for a, b in zip(by_class.coefs_, explicit.coefs_):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("bad,match", [
    (np.ones(3), "one weight per sample"), (-np.ones(80), "non-negative"),
    (np.zeros(80), "sums to zero"), (np.full(80, np.nan), "finite")])
def test_bad_sample_weights(bad, match):
    X, y = load_breast_cancer(return_X_y=True)
    with pytest.raises(ValueError, match=match):
        cnet.MLPClassifier(max_iter=1).fit(X[:80], y[:80], sample_weight=bad)


def test_eval_set_records_the_validation_loss_each_epoch():
    from sklearn.metrics import log_loss, mean_squared_error
    X_train, X_test, y_train, y_test = _split(load_digits, 3)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf = cnet.MLPClassifier((16,), max_iter=15, random_state=0).fit(
            X_train, y_train, eval_set=(X_test, y_test))
    assert len(clf.validation_loss_curve_) == len(clf.loss_curve_) == 15
    # Independent: scikit-learn's log_loss of the final model on the validation set.
    expected = log_loss(y_test, clf.predict_proba(X_test), labels=clf.classes_)
    assert clf.validation_loss_curve_[-1] == pytest.approx(expected, rel=1e-9)
    X_train, X_test, y_train, y_test = _split(load_diabetes, 3)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        reg = cnet.MLPRegressor(hidden_layer_sizes=(8,), max_iter=5, random_state=0).fit(
            X_train, y_train / 100, eval_set=(X_test, y_test / 100))
    # Half the mean squared error: the regressor's loss.
    expected = 0.5 * mean_squared_error(y_test / 100, reg.predict(X_test))
    assert reg.validation_loss_curve_[-1] == pytest.approx(expected, rel=1e-9)


def test_early_stopping_on_a_given_validation_set():
    X_train, X_test, y_train, y_test = _split(load_digits, 4)
    clf = cnet.MLPClassifier((32,), early_stopping=True, n_iter_no_change=3, max_iter=200,
                             random_state=0).fit(X_train, y_train, eval_set=(X_test, y_test))
    assert clf.n_iter_ < 200 and len(clf.validation_scores_) == clf.n_iter_
    # The restored weights are the best epoch's: their accuracy on the set is the best score.
    assert clf.score(X_test, y_test) == pytest.approx(clf.best_validation_score_)


def test_eval_set_is_checked():
    X_train, X_test, y_train, y_test = _split(load_digits, 5)
    with pytest.raises(ValueError, match="eval_set must be"):
        cnet.MLPClassifier(max_iter=1).fit(X_train, y_train, eval_set=X_test)
    with pytest.raises(ValueError, match="features"):
        cnet.MLPClassifier(max_iter=1).fit(X_train, y_train, eval_set=(X_test[:, :5], y_test))


@pytest.mark.parametrize("backend", ["cython", "numpy"])
def test_dropout_trains_differently_and_is_off_at_predict(backend):
    X_train, X_test, y_train, _ = _split(load_digits, 6)
    params = dict(hidden_layer_sizes=(32,), max_iter=10, random_state=0, backend=backend)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        plain = cnet.MLPClassifier(**params).fit(X_train, y_train)
        dropped = cnet.MLPClassifier(dropout=0.5, **params).fit(X_train, y_train)
    assert not np.allclose(plain.coefs_[0], dropped.coefs_[0])
    # Predictions are deterministic and use every unit (no mask, no rescaling).
    np.testing.assert_array_equal(dropped.predict_proba(X_test), dropped.predict_proba(X_test))
    hidden = np.maximum(X_test @ dropped.coefs_[0] + dropped.intercepts_[0], 0)
    logits = hidden @ dropped.coefs_[1] + dropped.intercepts_[1]
    expected = np.exp(logits - logits.max(axis=1, keepdims=True))
    expected /= expected.sum(axis=1, keepdims=True)
    np.testing.assert_allclose(dropped.predict_proba(X_test), expected, rtol=1e-10)


def test_lbfgs_reports_iterations_losses_and_limits_as_scikit_learn():
    X_train, _, y_train, _ = _split(load_breast_cancer, 0)
    params = dict(hidden_layer_sizes=(16,), solver="lbfgs", random_state=0)
    ours = cnet.MLPClassifier(max_iter=500, **params).fit(X_train, y_train)
    theirs = skl.MLPClassifier(max_iter=500, **params).fit(X_train, y_train)
    # One loss per iteration, the last one the objective at the returned weights (L2 in).
    assert len(ours.loss_curve_) == ours.n_iter_ and ours.loss_ == pytest.approx(
        ours.loss_curve_[-1], rel=1e-12)
    assert ours.loss_ == pytest.approx(theirs.loss_, abs=0.02)
    for limit in [dict(max_iter=3), dict(max_iter=500, max_fun=4)]:
        with pytest.warns(ConvergenceWarning):
            short = cnet.MLPClassifier(**limit, **params).fit(X_train, y_train)
        assert short.n_iter_ <= limit["max_iter"]


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_lbfgs_sample_weight_equals_repeated_samples(dtype):
    X_train, _, y_train, _ = _split(load_breast_cancer, 3)
    X_train, y_train = X_train[:120].astype(dtype), y_train[:120]
    repeats = np.random.default_rng(0).integers(1, 4, len(X_train))
    params = dict(hidden_layer_sizes=(6,), solver="lbfgs", max_iter=40, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        weighted = cnet.MLPClassifier(**params).fit(X_train, y_train, sample_weight=repeats)
        repeated = cnet.MLPClassifier(**params).fit(np.repeat(X_train, repeats, axis=0),
                                                    np.repeat(y_train, repeats))
    assert weighted.coefs_[0].dtype == dtype
    rtol = 1e-7 if dtype == np.float64 else 2e-2
    np.testing.assert_allclose(weighted.predict_proba(X_train), repeated.predict_proba(X_train),
                               rtol=rtol, atol=rtol)


def test_lbfgs_warm_start_continues_from_the_last_weights():
    X_train, _, y_train, _ = _split(load_digits, 0)
    params = dict(hidden_layer_sizes=(16,), solver="lbfgs", random_state=0, max_iter=20)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf = cnet.MLPClassifier(warm_start=True, **params).fit(X_train, y_train)
        first = clf.loss_
        clf.fit(X_train, y_train)
    assert clf.loss_ < first


@pytest.mark.parametrize("class_weight,match", [
    ({0: np.nan, 1: 1.0}, "finite and non-negative"), ({0: -1.0, 1: 2.0}, "non-negative"),
    ({0: np.inf, 1: 1.0}, "finite"), ({0: 1.0, 5: 1.0}, "not among the classes"),
    ({0: 0.0, 1: 0.0}, "zero for every class"), ("balance", "'balanced'")])
def test_bad_class_weights_are_refused_before_training(class_weight, match):
    # Before, NaN gave a false "diverged" and -1 trained by gradient ascent on class 0.
    X, y = load_breast_cancer(return_X_y=True)
    with pytest.raises(ValueError, match=match):
        cnet.MLPClassifier(max_iter=1, class_weight=class_weight).fit(X[:80], y[:80])


def test_class_weight_times_sample_weight_that_overflows_is_refused():
    X, y = load_breast_cancer(return_X_y=True)
    with pytest.raises(ValueError, match="not finite"):
        cnet.MLPClassifier(max_iter=1, class_weight={0: 1e300, 1: 1.0}).fit(
            X[:80], y[:80], sample_weight=np.full(80, 1e300))


@pytest.mark.parametrize("solver", ["sgd", "adam"])
def test_zero_weight_batches_are_skipped_not_a_divergence(solver):
    X, y = load_breast_cancer(return_X_y=True)
    X = StandardScaler().fit_transform(X)[:120]
    y = y[:120]
    # A block of zero weights that is one whole batch (no shuffling): the expectation is the
    # fit on the data without those rows, which takes the same steps.
    w = np.ones(120)
    w[40:80] = 0
    params = dict(hidden_layer_sizes=(6,), solver=solver, batch_size=40, shuffle=False,
                  max_iter=15, random_state=0, learning_rate_init=0.01)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        warnings.simplefilter("error", cnet.engine.DivergenceWarning)
        weighted = cnet.MLPClassifier(**params).fit(X, y, sample_weight=w)
        reduced = cnet.MLPClassifier(**params).fit(X[w > 0], y[w > 0])
    assert weighted.n_iter_ == reduced.n_iter_ == 15
    for a, b in zip(weighted.coefs_, reduced.coefs_):
        np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-13)
    np.testing.assert_allclose(weighted.loss_curve_, reduced.loss_curve_, rtol=1e-10)
    # One class weighing nothing, in small shuffled batches: many batches weigh zero.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        warnings.simplefilter("error", cnet.engine.DivergenceWarning)
        clf = cnet.MLPClassifier(hidden_layer_sizes=(6,), solver=solver, batch_size=2,
                                 max_iter=5, random_state=0, class_weight={0: 0, 1: 1}
                                 ).fit(X, y)
    assert clf.n_iter_ == 5 and np.isfinite(clf.loss_curve_).all()


@pytest.mark.parametrize("Model", [cnet.MLPClassifier, cnet.MLPRegressor])
def test_lbfgs_refuses_dropout(Model):
    # Before, dropout was silently ignored: dropout=0.9 trained the same model as 0.
    X, y = load_breast_cancer(return_X_y=True)
    with pytest.raises(ValueError, match="lbfgs.*dropout|dropout.*lbfgs"):
        Model(solver="lbfgs", dropout=0.5, max_iter=2).fit(X[:50], y[:50])
