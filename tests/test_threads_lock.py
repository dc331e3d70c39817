"""One model object used from several threads: its methods run one at a time, whole.

Two fits of one object from two threads used to mix (the classes of one fit with the output
layer of the other, n_iter_ twice max_iter), and partial_fit from two threads lost optimizer
steps. Each object now has its own re-entrant lock; different objects still train in
parallel.
"""
import copy
import pickle
import threading
import time
import warnings

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.exceptions import ConvergenceWarning

import cnet


def _in_threads(*jobs, timeout=120):
    """Run the jobs in threads started together; re-raise the first error."""
    barrier = threading.Barrier(len(jobs))
    errors = []

    def run(job):
        try:
            barrier.wait()
            job()
        except BaseException as exc:       # noqa: BLE001 - handed to the test
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(job,)) for job in jobs]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout)
        assert not t.is_alive(), "a thread is stuck (deadlock?)"
    if errors:
        raise errors[0]


def _two_problems():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((1000, 30))
    y_three = np.digitize(X[:, 0] + X[:, 1], [-0.5, 0.5])            # classes 0, 1, 2
    y_two = np.where(X[:, 2] > 0, 5, 6)                               # classes 5, 6
    return X, y_three, y_two


def _state(model):
    return (model.classes_.tolist(), model.n_iter_,
            [W.copy() for W in model.coefs_], [b.copy() for b in model.intercepts_])


def _same(a, b):
    return (a[0] == b[0] and a[1] == b[1]
            and all(np.array_equal(x, y) for x, y in zip(a[2] + a[3], b[2] + b[3]))
            and len(a[2]) == len(b[2]))


@pytest.mark.parametrize("solver", ["adam", "lbfgs"])
def test_two_threads_fitting_one_object_give_one_of_the_two_fits(solver):
    # Each fit is whole: the model is one of the two sequential fits, its classes, output
    # layer and n_iter_ together.
    X, y_three, y_two = _two_problems()
    params = dict(hidden_layer_sizes=(32,), solver=solver, max_iter=25, tol=0,
                  n_iter_no_change=10**6, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        expected = [_state(cnet.MLPClassifier(**params).fit(X, y)) for y in (y_three, y_two)]
        for _ in range(2):
            shared = cnet.MLPClassifier(**params)
            _in_threads(lambda: shared.fit(X, y_three), lambda: shared.fit(X, y_two))
            got = _state(shared)
            assert got[1] == 25
            assert _same(got, expected[0]) or _same(got, expected[1])


def test_two_threads_fitting_one_neural_net_give_one_of_the_two_fits():
    rng = np.random.default_rng(1)
    X = rng.standard_normal((3000, 20))
    ys = [X[:, 0] > 0, X[:, 1] > 0]
    params = dict(layers=[20, 64, 64, 1], iterations=40, learning_rate=0.05, batch_size=100,
                  random_state=0)
    expected = [cnet.NeuralNet(**params).fit(X, y) for y in ys]
    for _ in range(3):
        shared = cnet.NeuralNet(**params)
        _in_threads(*[lambda y=y: shared.fit(X, y) for y in ys])
        assert shared.n_iter_ == 40 and len(shared.loss_) == 40
        assert any(all(np.array_equal(shared.params[k], e.params[k]) for k in e.params)
                   and shared.loss_ == e.loss_ for e in expected)


@pytest.mark.parametrize("Model", [cnet.MLPClassifier, cnet.MLPRegressor])
def test_partial_fit_from_two_threads_counts_every_step(Model):
    rng = np.random.default_rng(2)
    X = rng.standard_normal((400, 40))
    y = (X[:, 0] > 0).astype(int)
    model = Model(hidden_layer_sizes=(128,), batch_size=400, random_state=0)
    kwargs = {"classes": [0, 1]} if Model is cnet.MLPClassifier else {}
    model.partial_fit(X, y, **kwargs)
    calls = 25

    def train():
        for _ in range(calls):
            model.partial_fit(X, y)

    _in_threads(train, train)
    # One batch per call: every call is one Adam step, and t_ counts every sample.
    assert model._optimizer.step_count == 1 + 2 * calls
    assert model.t_ == (1 + 2 * calls) * len(X)


def test_the_lock_is_reentrant_for_methods_called_inside_a_fit():
    # A fit that predicts on the way (as a scoring callable or a user's subclass may) must
    # not wait for itself.
    class Scoring(cnet.MLPClassifier):
        def fit(self, X, y):
            super().fit(X, y)
            self.train_score_ = self.score(X, y)
            return self

    from cnet._object_lock import serialized     # here: the module is new (checked on base)
    Scoring.fit = serialized(Scoring.fit)
    X, y, _ = _two_problems()
    model = Scoring(hidden_layer_sizes=(8,), max_iter=5, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        _in_threads(lambda: model.fit(X, y), timeout=60)
    assert 0 <= model.train_score_ <= 1


@pytest.mark.parametrize("make", [
    lambda: cnet.MLPClassifier(hidden_layer_sizes=(4,), max_iter=3, random_state=0),
    lambda: cnet.MLPRegressor(hidden_layer_sizes=(4,), max_iter=3, random_state=0),
    lambda: cnet.NeuralNet(layers=[30, 4, 1], iterations=3, random_state=0)])
def test_the_lock_is_made_lazily_and_left_out_of_copies(make):
    X, y, _ = _two_problems()
    y = y > 0
    model = make()
    assert "_object_lock" not in vars(model)         # not made by __init__ (clone's rules)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model.fit(X, y)
    lock = vars(model)["_object_lock"]
    for twin in (pickle.loads(pickle.dumps(model)), copy.deepcopy(model)):
        assert "_object_lock" not in vars(twin)
        np.testing.assert_array_equal(twin.predict(X), model.predict(X))
        assert vars(twin)["_object_lock"] is not lock      # a lock of its own, made on use
    assert "_object_lock" not in vars(clone(model))
    assert vars(model)["_object_lock"] is lock           # pickling left the original's


def test_different_objects_train_in_parallel():
    # A short fit started while a long one runs on another object ends first: the objects'
    # locks are their own, and the compiled loop runs without the GIL.
    X, y, _ = _two_problems()
    long_fit = cnet.NeuralNet(layers=[30, 128, 128, 1], iterations=150, random_state=0)
    short_fit = cnet.NeuralNet(layers=[30, 8, 1], iterations=5, random_state=0)
    ended = {}
    started = threading.Event()

    def run_long():
        started.set()
        long_fit.fit(X, y > 0)
        ended["long"] = time.monotonic()

    def run_short():
        started.wait()
        time.sleep(0.05)
        short_fit.fit(X, y > 0)
        ended["short"] = time.monotonic()

    _in_threads(run_long, run_short)
    assert ended["short"] < ended["long"]
