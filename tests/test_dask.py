"""cnet on dask: grid search through joblib's dask backend, dask-ml's Incremental and
ParallelPostFit, models pickled to workers, model files exchanged between workers, and two
fits at once on a threaded worker.

A two-process LocalCluster on 127.0.0.1 serves the module. Every wait on the cluster has a
timeout, and every test has pytest-timeout's limit besides, so that a hang anyway fails that
test, with a traceback, and the run goes on, rather than CI sitting until its own time limit.
"""
import sys
import threading
import warnings

# Plain imports, not importorskip: the test extra installs dask, and a missing install
# should fail CI rather than skip the module quietly.
import cloudpickle
import dask.array as da
import distributed
import joblib
import numpy as np
import pytest
# Imported, not just used through its marker: without the plugin the limits below would do
# nothing but warn, and a hang would again hold CI.
import pytest_timeout  # noqa: F401
from dask_ml import wrappers
from sklearn.datasets import make_classification
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import GridSearchCV, train_test_split
from threadpoolctl import threadpool_limits

import cnet

TIMEOUT = 60          # seconds for any one wait on the cluster
BARRIER_TIMEOUT = 30  # seconds; under TIMEOUT, so that a result carries the barrier's error
# Seconds for any one test, its fixtures' setup and teardown included: the first test starts
# the cluster and the last stops it. Each takes under 5 s on an idle 2-core machine; the rest
# is for a loaded CI runner. pytest-timeout's default method on POSIX, SIGALRM, fails just
# that test.
pytestmark = pytest.mark.timeout(120)


@pytest.fixture(scope="module")
def client():
    """A Client on two single-threaded worker processes, made the default scheduler."""
    # Functions defined here run on the workers, which cannot import this test module
    # (tests/ is not on their path): ship them by value.
    cloudpickle.register_pickle_by_value(sys.modules[__name__])
    try:
        with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                      host="127.0.0.1", dashboard_address="127.0.0.1:0",
                                      death_timeout=TIMEOUT) as cluster, \
                distributed.Client(cluster, timeout=TIMEOUT) as client:
            client.wait_for_workers(2, timeout=TIMEOUT)
            yield client
    finally:
        cloudpickle.unregister_pickle_by_value(sys.modules[__name__])


@pytest.fixture(scope="module")
def data():
    """A 20-feature binary problem, float32, split 5000 / 1000."""
    X, y = make_classification(6000, 20, n_informative=10, random_state=0)
    return train_test_split(X.astype(np.float32), y, test_size=1000, random_state=0)


@pytest.fixture(scope="module")
def fitted(data):
    X_train, _, y_train, _ = data
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return cnet.MLPClassifier(hidden_layer_sizes=(16,), max_iter=20,
                                  random_state=0).fit(X_train, y_train)


def test_grid_search_on_the_cluster_equals_the_search_in_memory(client, data):
    X, _, y, _ = data
    X, y = X[:1500], y[:1500]
    grid = {"alpha": [1e-4, 1e-1], "hidden_layer_sizes": [(4,), (16,)]}
    estimator = cnet.MLPClassifier(max_iter=15, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        # The workers run BLAS on one thread; so does the search in memory, lest a matrix
        # product split its sums differently and the scores differ in their last bits.
        with threadpool_limits(1):
            in_memory = GridSearchCV(estimator, grid, cv=3, n_jobs=1).fit(X, y)
        with distributed.get_task_stream(client) as stream:
            with joblib.parallel_backend("dask"):
                on_dask = GridSearchCV(estimator, grid, cv=3, n_jobs=-1).fit(X, y)
    assert len(stream.data) > 0, "the search did not run on the cluster"
    assert on_dask.best_params_ == in_memory.best_params_
    for key in ["mean_test_score"] + [f"split{i}_test_score" for i in range(3)]:
        np.testing.assert_array_equal(on_dask.cv_results_[key], in_memory.cv_results_[key])
    # The scores must tell the candidates apart, or equal results would prove nothing.
    assert len(set(in_memory.cv_results_["mean_test_score"])) > 1


def test_incremental_over_many_blocks_trains_as_well_as_fit_in_memory(client, data):
    # 10 passes over 20 blocks of 250 rows, batches of 50: the same number of Adam steps
    # over the same samples as 10 epochs of fit. The steps differ (batches never cross a
    # block, blocks come in a shuffled order), so the two models differ; on 1000 test rows
    # an accuracy near 0.93 has a standard error of about 0.008, and 0.03 allows for both
    # models' noise. Measured over four seeds the gap was at most 0.006.
    X_train, X_test, y_train, y_test = data
    settings = dict(hidden_layer_sizes=(32,), batch_size=50, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        in_memory = cnet.MLPClassifier(max_iter=10, n_iter_no_change=11, **settings)
        in_memory.fit(X_train, y_train)
    X = da.from_array(X_train, chunks=(250, 20))
    y = da.from_array(y_train, chunks=250)
    assert X.numblocks[0] == 20
    incremental = wrappers.Incremental(cnet.MLPClassifier(**settings), random_state=0)
    with distributed.get_task_stream(client) as stream:
        for _ in range(10):
            incremental.partial_fit(X, y, classes=[0, 1])
    assert len(stream.data) >= 200, "the blocks were not trained on the cluster"
    assert incremental.estimator_.coefs_[0].dtype == np.float32   # trained in float32
    memory_accuracy = in_memory.score(X_test, y_test)
    incremental_accuracy = incremental.score(X_test, y_test)
    assert memory_accuracy > 0.9
    assert abs(incremental_accuracy - memory_accuracy) <= 0.03


def test_incremental_is_partial_fit_block_by_block(client, data):
    # In order (no block shuffling), Incremental must be exactly a loop of partial_fit over
    # the blocks: each block's step runs on whichever worker holds it, so the model and its
    # optimizer state travel between processes by pickle, and must lose nothing. The blocks
    # are sorted by class, so each holds one class only, as dask-ml may hand them over.
    X_train, _, y_train, _ = data
    order = np.argsort(y_train[:2000], kind="stable")
    X_sorted, y_sorted = X_train[:2000][order], y_train[:2000][order]
    settings = dict(hidden_layer_sizes=(8,), batch_size=100, random_state=0)
    X = da.from_array(X_sorted, chunks=(200, 20))
    y = da.from_array(y_sorted, chunks=200)
    blocks = np.split(y_sorted, 10)
    assert sum(len(np.unique(block)) == 1 for block in blocks) >= 9
    assert len(np.unique(y_sorted)) == 2
    incremental = wrappers.Incremental(cnet.MLPClassifier(**settings), shuffle_blocks=False)
    incremental.fit(X, y, classes=[0, 1])
    loop = cnet.MLPClassifier(**settings)
    # The workers run BLAS on one thread; so does the loop, lest a product split differently.
    with threadpool_limits(1):
        for start in range(0, 2000, 200):
            loop.partial_fit(X_sorted[start:start + 200], y_sorted[start:start + 200],
                             classes=[0, 1])
    for ours, theirs in zip(incremental.estimator_.coefs_ + incremental.estimator_.intercepts_,
                            loop.coefs_ + loop.intercepts_):
        np.testing.assert_array_equal(ours, theirs)
    assert incremental.estimator_.t_ == loop.t_ == 2000


def test_parallel_post_fit_predicts_as_in_memory(client, data, fitted):
    _, X_test, _, _ = data
    X = da.from_array(X_test, chunks=(150, 20))    # uneven: 6 blocks of 150 and one of 100
    model = wrappers.ParallelPostFit(fitted)
    labels = client.compute(model.predict(X)).result(timeout=TIMEOUT)
    proba = client.compute(model.predict_proba(X)).result(timeout=TIMEOUT)
    # Each block is one predict_proba call on a worker: bitwise the same call in memory, on
    # one BLAS thread as on the worker.
    with threadpool_limits(1):
        np.testing.assert_array_equal(labels, fitted.predict(X_test))
        blockwise = np.vstack([fitted.predict_proba(X_test[i:i + 150])
                               for i in range(0, len(X_test), 150)])
    np.testing.assert_array_equal(proba, blockwise)
    # Against one call on all rows, the last bits may differ: how many rows a call holds
    # decides which matrix product (hand-written or BLAS, and BLAS's blocking) sums a row's
    # dot products, as in scikit-learn's MLP. The model is float32: a few of its ulps.
    np.testing.assert_allclose(proba, fitted.predict_proba(X_test), rtol=0, atol=1e-6)


def _predict_proba(model, X):
    return model.predict_proba(X)


def test_a_model_pickled_to_a_worker_predicts_identically(client, data, fitted):
    _, X_test, _, _ = data
    model = client.scatter(fitted, broadcast=True)
    with threadpool_limits(1):   # as on the workers
        in_memory = fitted.predict_proba(X_test)
    for worker in client.scheduler_info()["workers"]:
        remote = client.submit(_predict_proba, model, X_test, workers=[worker],
                               allow_other_workers=False, pure=False)
        np.testing.assert_array_equal(remote.result(timeout=TIMEOUT), in_memory)


def _fit_and_save(X, y, path):
    model = cnet.MLPClassifier(hidden_layer_sizes=(8,), max_iter=5, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model.fit(X, y)
    model.save(path)
    return model.predict_proba(X)


def _load_and_predict(path, X):
    return cnet.load(path).predict_proba(X)


def test_model_file_is_an_exchange_format_between_workers(client, data, tmp_path):
    X_train, _, y_train, _ = data
    first, second = sorted(client.scheduler_info()["workers"])
    path = str(tmp_path / "model.npz")
    saved = client.submit(_fit_and_save, X_train[:500], y_train[:500], path,
                          workers=[first], allow_other_workers=False)
    on_first = saved.result(timeout=TIMEOUT)
    loaded = client.submit(_load_and_predict, path, X_train[:500], workers=[second],
                           allow_other_workers=False)
    np.testing.assert_array_equal(loaded.result(timeout=TIMEOUT), on_first)
    with threadpool_limits(1):   # as on the workers
        np.testing.assert_array_equal(cnet.load(path).predict_proba(X_train[:500]), on_first)
    assert len(np.unique(on_first.round(6))) > 2    # a model that learnt something


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_partial_fit_takes_what_dask_ml_passes(dtype):
    # dask-ml hands each block over as it is: the classes on every call, the array's dtype,
    # and blocks that may hold one class only (or start with one).
    X, y = make_classification(400, 5, n_classes=3, n_informative=3, random_state=0)
    X = X.astype(dtype)
    model = cnet.MLPClassifier(hidden_layer_sizes=(8,), random_state=0)
    model.partial_fit(X[y == 2], y[y == 2], classes=[0, 1, 2])
    assert model.coefs_[0].dtype == dtype
    model.partial_fit(X[y == 0], y[y == 0], classes=np.array([0, 1, 2]))
    for _ in range(100):
        model.partial_fit(X, y, classes=[0, 1, 2])
    np.testing.assert_array_equal(model.classes_, [0, 1, 2])
    assert model.predict_proba(X).shape == (400, 3)
    assert model.score(X, y) > 0.7     # 100 epochs of fit reach 0.76, chance is 0.33
    with pytest.raises(ValueError, match="classes"):
        cnet.MLPClassifier().partial_fit(X, y)


# Set by the threaded test. With processes=False the worker's threads run the task in this
# process and share this barrier: a task pickled by reference finds this module's, and one
# pickled by value (see client) would fail on the lock rather than carry a copy of it.
_both_started = None


def _fit_once_both_started(seed):
    try:
        _both_started.wait()
    except threading.BrokenBarrierError:
        raise AssertionError("the two fits did not run at once: one waited "
                             f"{BARRIER_TIMEOUT} s for the other to start") from None
    return _seeded_fit(seed)


def _seeded_fit(seed):
    # Small layers: the hand-written products, whose sums do not depend on threads.
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((400, 6))
    y = X[:, 0] * X[:, 1] > 0
    net = cnet.NeuralNet(layers=[6, 12, 8, 1], iterations=1500, learning_rate=0.05,
                         batch_size=32, random_state=seed, loss_every=0).fit(X, y)
    return net._params_flat.copy()


def test_two_fits_on_a_threaded_worker_run_at_once_and_equal_fits_in_sequence():
    # Throughput is measured by benchmarks/dask_threads.py, not asserted here: timings on a
    # shared machine make flaky tests. What must hold is that the two tasks really ran in
    # the worker's two threads at the same time, each fitting only once the other had
    # started, and that sharing the process changed nothing.
    global _both_started
    sequential = [_seeded_fit(seed) for seed in (1, 2)]
    _both_started = threading.Barrier(2, timeout=BARRIER_TIMEOUT)
    try:
        # processes=False: the scheduler and worker live in this process and talk in memory.
        with distributed.LocalCluster(n_workers=1, threads_per_worker=2, processes=False,
                                      dashboard_address="127.0.0.1:0") as cluster, \
                distributed.Client(cluster, set_as_default=False,
                                   timeout=TIMEOUT) as threaded:
            futures = threaded.map(_fit_once_both_started, [1, 2], pure=False)
            params1, params2 = [f.result(timeout=TIMEOUT) for f in futures]
    finally:
        _both_started = None
    np.testing.assert_array_equal(params1, sequential[0])
    np.testing.assert_array_equal(params2, sequential[1])
