"""Whole training: the compiled loop equals its numpy twin, and it learns the seed problem."""
import numpy as np
import pytest

import cnet
import registry_rows
from cnet import _train, engine, reference
from cnet._layout import n_parameters
from cnet.spec import Network, Progress

from _specs import specs

# Every table here runs on each compiled build this CPU supports (conftest.cpu_variant).
pytestmark = pytest.mark.usefixtures("cpu_variant")

# Relative agreement of the two backends after 500 epochs (the bar).
TRAIN_RTOL = {np.float64: 1e-10, np.float32: 1e-4}


def _targets(X, outputs, output, dtype):
    """A learnable target for each kind of output layer."""
    score = X[:, :1] * X[:, -1:] + np.arange(outputs) * X[:, :1]
    return registry_rows.learnable_targets(score, outputs, output, dtype)


def _train_both(layers, activation, dtype, batch_size, shuffle, loss_every=7, epochs=500,
                output="logistic", learning_rate=0.05, weighted=False, **optimizer):
    rng = np.random.default_rng(0)
    X = rng.standard_normal((150, layers[0])).astype(dtype)
    Y = _targets(X, layers[-1], output, dtype)
    layers = np.asarray(layers, dtype=np.intp)
    start = (rng.standard_normal(n_parameters(layers)) * 0.5).astype(dtype)
    results = {}
    for backend in ("cython", "numpy"):
        params = start.copy()
        weights = (np.random.default_rng(4).random(len(X)) * 2).astype(dtype) if weighted else None
        losses = engine.train(backend, params, *specs(
            layers, activation, output, dtype, **optimizer, learning_rate=learning_rate,
            sample_weight=weights, batch_size=batch_size, shuffle=shuffle, seed=2**63 + 5,
            loss_every=loss_every), X, Y, epochs, Progress(3)).losses
        results[backend] = params, np.array(losses)
    return results


def _relative_error(a, b):
    return np.max(np.abs(a - b)) / np.max(np.abs(b))


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("batch_size,shuffle", [(150, False), (32, True), (40, False), (1, True)])
@pytest.mark.parametrize("layers,activation,output", [
    ([2, 5, 1], "relu", "logistic"), ([3, 8, 4, 1], "relu", "logistic"),
    ([2, 6, 1], "sigmoid", "logistic"), ([3, 7, 4], "tanh", "softmax"),
    ([3, 6, 5, 2], "leaky_relu", "identity"), ([2, 4, 3], "identity", "logistic"),
    ([3, 6, 2], "tanh", "exp")])
def test_cython_loop_equals_numpy_twin(layers, activation, output, batch_size, shuffle, dtype):
    # With one sample per step an epoch is 150 steps, and the two backends' rounding
    # differences grow exponentially over thousands of noisy steps (measured on the regression
    # case: 1e-15 after 1,500 steps, 1e-11 after 3,000, 1e-8 after 6,000), so that case runs
    # fewer epochs.
    epochs = 500 if batch_size > 1 else (20 if dtype == np.float64 else 10)
    res = _train_both(layers, activation, dtype, batch_size, shuffle, epochs=epochs,
                      output=output)
    (p_c, l_c), (p_n, l_n) = res["cython"], res["numpy"]
    assert p_c.dtype == dtype
    # Epochs 3, 4, ... record when their number is a multiple of loss_every = 7.
    assert len(l_c) == len(l_n) == sum(1 for e in range(3, 3 + epochs) if e % 7 == 0)
    assert _relative_error(p_c, p_n) < TRAIN_RTOL[dtype]
    np.testing.assert_allclose(l_c, l_n, rtol=TRAIN_RTOL[dtype])
    assert not np.allclose(p_c, 0)


# One row per registry entry, so that a new hidden activation or output/loss pair is held to its
# twin by itself: a few epochs, one full batch and shuffled small ones, both dtypes.
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("batch_size,shuffle", [(150, False), (32, True)])
@pytest.mark.parametrize("activation", registry_rows.ACTIVATIONS)
def test_cython_loop_equals_numpy_twin_for_every_activation(activation, batch_size, shuffle,
                                                            dtype):
    res = _train_both([3, 7, 5, 2], activation, dtype, batch_size, shuffle, epochs=30,
                      output="softmax")
    (p_c, l_c), (p_n, l_n) = res["cython"], res["numpy"]
    assert _relative_error(p_c, p_n) < TRAIN_RTOL[dtype]
    np.testing.assert_allclose(l_c, l_n, rtol=TRAIN_RTOL[dtype])
    assert np.isfinite(l_c).all() and not np.allclose(p_c, 0)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("batch_size,shuffle", [(150, False), (32, True)])
@pytest.mark.parametrize("output", registry_rows.OUTPUTS)
def test_cython_loop_equals_numpy_twin_for_every_output(output, batch_size, shuffle, dtype):
    res = _train_both([3, 6, 3], "tanh", dtype, batch_size, shuffle, epochs=30, output=output)
    (p_c, l_c), (p_n, l_n) = res["cython"], res["numpy"]
    assert _relative_error(p_c, p_n) < TRAIN_RTOL[dtype]
    np.testing.assert_allclose(l_c, l_n, rtol=TRAIN_RTOL[dtype])
    assert np.isfinite(l_c).all() and not np.allclose(p_c, 0)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("batch_size,shuffle", [(150, False), (32, True), (40, False)])
def test_cython_loop_equals_numpy_twin_when_blas_reads_x(batch_size, shuffle, dtype):
    # 100 inputs and 64 units: the first layer's products go to BLAS, which reads X (or the
    # shuffled batch gathered from it) in place, samples x features.
    from cnet import _kernels
    assert _kernels.matmul_uses_blas(64, 32, 100)
    res = _train_both([100, 64, 1], "relu", dtype, batch_size, shuffle, epochs=200,
                      learning_rate=0.01)
    (p_c, l_c), (p_n, l_n) = res["cython"], res["numpy"]
    assert _relative_error(p_c, p_n) < TRAIN_RTOL[dtype]
    np.testing.assert_allclose(l_c, l_n, rtol=TRAIN_RTOL[dtype])


def test_shuffle_order_is_shared_and_a_permutation():
    for seed, epoch, n in [(0, 0, 10), (2**64 - 1, 7, 1000), (12345, 10**9, 257)]:
        order = _train.epoch_order(seed, epoch, n)
        np.testing.assert_array_equal(order, reference.epoch_order(seed, epoch, n))
        np.testing.assert_array_equal(np.sort(order), np.arange(n))
    assert not np.array_equal(_train.epoch_order(1, 0, 100), _train.epoch_order(1, 1, 100))


def test_seed_workload_reaches_80_percent(moons):
    X_train, X_val, y_train, y_val = moons
    net = cnet.NeuralNet(layers=[2, 5, 1], learning_rate=0.003, iterations=20000,
                         loss_every=1000, random_state=0).fit(X_train, y_train)
    assert net.score(X_val, y_val) >= 0.80
    assert len(net.loss_) == 20 and net.loss_[-1] < net.loss_[0]


@pytest.mark.parametrize("backend", ["cython", "numpy"])
def test_predict_proba_matches_the_twin_forward(moons, backend):
    X_train, X_val, y_train, _ = moons
    net = cnet.NeuralNet(layers=[2, 8, 4, 1], iterations=50, learning_rate=0.1,
                         random_state=1, backend=backend).fit(X_train, y_train)
    weights = [net.params[f"W{k}"] for k in (1, 2, 3)]
    biases = [net.params[f"b{k}"] for k in (1, 2, 3)]
    _, logits = reference.forward_pass(weights, biases, "relu", X_val)
    expected = 1 / (1 + np.exp(-logits[0]))
    proba = net.predict_proba(X_val)
    np.testing.assert_allclose(proba[:, 1], expected, rtol=1e-12)
    np.testing.assert_allclose(proba.sum(axis=1), 1)
    np.testing.assert_array_equal(net.predict(X_val), (expected > 0.5).astype(int))


def test_predict_in_chunks_equals_the_twin():
    # The compiled forward pass works through rows 1024 at a time: every row, the chunk
    # boundaries and the partial last chunk included, must match the twin's single pass.
    rng = np.random.default_rng(0)
    X = rng.standard_normal((2500, 3))
    net = cnet.NeuralNet(layers=[3, 4, 1], iterations=1, random_state=0).fit(X, X[:, 0] > 0)
    expected = np.empty((2500, 1))
    reference.forward(net._params_flat, Network(net._layers, "relu", "logistic"), X, expected)
    np.testing.assert_allclose(net.predict_proba(X)[:, 1], expected[:, 0], rtol=1e-13)


@pytest.mark.parametrize("module", [_train, reference])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_forward_counts_the_samples_whose_outputs_are_not_finite(module, dtype):
    # The count lets the caller skip a pass of its own over the outputs; it must see both
    # ways an output stops being finite: a logit that overflows (rows 0 and 3, whose hidden
    # unit overflows), and an exp output that overflows on a finite logit (rows 1 and 2 of
    # the network whose logit is 1000). Independent check: numpy's isfinite of out.
    big = np.finfo(dtype).max / 10
    X = np.array([[big, 0], [0, 0], [1, 0], [-big, 0]], dtype=dtype)
    expected = {"logistic": 2, "identity": 2, "exp": 4}
    for output, (w2, b2) in [("logistic", (1, 0)), ("identity", (1, 0)), ("exp", (0, 1000))]:
        params = np.array([100, 0, 0, w2, b2], dtype=dtype)       # W1 (2, 1), b1, W2, b2
        network = Network([2, 1, 1], "identity", output, dtype=dtype)
        out = np.empty((4, 1), dtype=dtype)
        with np.errstate(all="ignore"):
            got = module.forward(params, network, X, out)
        assert got == int((~np.isfinite(out).all(axis=1)).sum()) == expected[output]
        assert module.forward(params, network, X[1:3] if output != "exp" else X[:0],
                              out[:2] if output != "exp" else out[:0]) == 0


def test_float32_stays_float32(moons):
    X_train, _, y_train, _ = moons
    net = cnet.NeuralNet(iterations=10, random_state=0).fit(X_train.astype(np.float32), y_train)
    assert all(p.dtype == np.float32 for p in net.params.values())
    assert net.predict_proba(X_train).dtype == np.float32


def test_random_state_makes_fits_reproducible(moons):
    X_train, _, y_train, _ = moons
    fit = lambda rs: cnet.NeuralNet(iterations=30, batch_size=16, random_state=rs).fit(  # noqa
        X_train, y_train).params["W1"]
    np.testing.assert_array_equal(fit(3), fit(3))
    assert not np.array_equal(fit(3), fit(4))


def test_initial_weights_have_the_documented_scale():
    X = np.random.default_rng(0).standard_normal((10, 400))
    net = cnet.NeuralNet(layers=[400, 300, 200, 1], iterations=0, random_state=0).fit(X, X[:, 0] > 0)
    assert np.std(net.params["W1"]) == pytest.approx(np.sqrt(2 / 400), rel=0.02)   # He, relu
    assert np.std(net.params["W2"]) == pytest.approx(np.sqrt(2 / 300), rel=0.02)
    assert np.std(net.params["W3"]) == pytest.approx(np.sqrt(1 / 200), rel=0.15)   # output
    assert not net.params["b1"].any()


def test_warm_start_continues_exactly(moons):
    X_train, _, y_train, _ = moons
    kw = dict(learning_rate=0.01, batch_size=50, random_state=0, loss_every=1)
    once = cnet.NeuralNet(iterations=40, **kw).fit(X_train, y_train)
    twice = cnet.NeuralNet(iterations=25, warm_start=True, **kw).fit(X_train, y_train)
    twice.set_params(iterations=15).fit(X_train, y_train)
    assert twice.n_iter_ == 40
    np.testing.assert_allclose(twice.params["W1"], once.params["W1"], rtol=1e-14)
    np.testing.assert_allclose(twice.loss_, once.loss_, rtol=1e-14)


def test_params_are_live_views(moons):
    X_train, X_val, y_train, _ = moons
    net = cnet.NeuralNet(iterations=5, random_state=0).fit(X_train, y_train)
    net.params["W2"][...] = 0
    net.params["b2"][...] = 3.0       # written in place: every probability is sigmoid(3)
    np.testing.assert_allclose(net.predict_proba(X_val)[:, 1], 1 / (1 + np.exp(-3.0)))
    net.params["b2"] = np.array([-3.0])   # a new array assigned to the key is used too
    np.testing.assert_allclose(net.predict_proba(X_val)[:, 1], 1 / (1 + np.exp(3.0)))


def test_labels_of_any_two_classes_and_tutorial_shapes(moons):
    X_train, X_val, y_train, _ = moons
    names = np.array(["blue", "red"])[y_train]
    net = cnet.NeuralNet(iterations=200, learning_rate=0.1, random_state=0).fit(X_train, names)
    assert set(net.predict(X_val)) <= {"blue", "red"}
    row = cnet.NeuralNet(iterations=200, learning_rate=0.1, random_state=0).fit(
        X_train, y_train.reshape(1, -1))   # the first tutorial's (1, n) labels
    np.testing.assert_array_equal(net.params["W1"], row.params["W1"])


def test_loss_every_zero_records_nothing_and_trains_the_same(moons):
    X_train, _, y_train, _ = moons
    a = cnet.NeuralNet(iterations=30, loss_every=0, random_state=0).fit(X_train, y_train)
    b = cnet.NeuralNet(iterations=30, loss_every=1, random_state=0).fit(X_train, y_train)
    assert a.loss_ == [] and len(b.loss_) == 30
    np.testing.assert_array_equal(a.params["W1"], b.params["W1"])


def test_fit_under_a_blas_thread_limit():
    # Fitting inside threadpoolctl's limit works and gives the unlimited result up to
    # rounding (BLAS may split its sums differently with more threads).
    from threadpoolctl import threadpool_info, threadpool_limits
    rng = np.random.default_rng(0)
    X = rng.standard_normal((512, 100))
    y = X[:, 0] > 0
    make = lambda: cnet.NeuralNet(layers=[100, 64, 1], iterations=3, batch_size=128,  # noqa
                                  learning_rate=0.1, random_state=0)
    with threadpool_limits(limits=1, user_api="blas"):
        assert all(i["num_threads"] == 1 for i in threadpool_info() if i["user_api"] == "blas")
        one = make().fit(X, y).params["W1"].copy()
    many = make().fit(X, y).params["W1"]
    np.testing.assert_allclose(one, many, rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("optimizer", [
    dict(solver="sgd", momentum=0.9), dict(solver="sgd", momentum=0.9, nesterov=True),
    dict(solver="sgd", alpha=0.1), dict(solver="adam"), dict(solver="adam", alpha=0.01),
    dict(solver="sgd", momentum=0.5, alpha=0.01)], ids=str)
def test_cython_loop_equals_numpy_twin_with_each_optimizer(optimizer, dtype):
    # Adam divides by the root of its second moment, so for parameters whose gradient is
    # near zero (dead relu units) float32 rounding differences become full-size steps and the
    # two backends drift apart after ~100 epochs (measured: 4e-6 after 50, 2e-3 after 100);
    # float32 Adam is compared over 50 epochs, everything else over 300.
    epochs = 50 if dtype == np.float32 and optimizer["solver"] == "adam" else 300
    res = _train_both([3, 8, 4, 1], "relu", dtype, 32, True, epochs=epochs,
                      learning_rate=0.005, **optimizer)
    (p_c, l_c), (p_n, l_n) = res["cython"], res["numpy"]
    assert _relative_error(p_c, p_n) < TRAIN_RTOL[dtype]
    np.testing.assert_allclose(l_c, l_n, rtol=TRAIN_RTOL[dtype])


def test_optimizer_state_carries_across_calls():
    # Two calls of 50 epochs equal one of 100 when the state and step count are passed on.
    rng = np.random.default_rng(1)
    X = rng.standard_normal((64, 3))
    Y = (X[:, :1] > 0).astype(float)
    layers = np.array([3, 5, 1], dtype=np.intp)
    start = rng.standard_normal(n_parameters(layers)) * 0.5
    kw = dict(learning_rate=0.01, batch_size=16, shuffle=True, seed=3, loss_every=0,
              solver="adam", alpha=0.001)
    once = start.copy()
    engine.train("cython", once, *specs(layers, "relu", "logistic", **kw), X, Y, 100)
    # The optimizer object carries its moments and step count from call to call, the
    # progress the epoch counter.
    twice, progress = start.copy(), Progress()
    network, training = specs(layers, "relu", "logistic", **kw)
    engine.train("cython", twice, network, training, X, Y, 50, progress)
    assert training.optimizer.step_count == 50 * 4 and progress.epoch == 50
    engine.train("cython", twice, network, training, X, Y, 50, progress)
    np.testing.assert_allclose(twice, once, rtol=1e-13)


def test_params_views_stay_live_across_warm_fits_and_swaps(moons):
    X_train, X_val, y_train, _ = moons
    net = cnet.NeuralNet(layers=[2, 3, 3, 1], iterations=5, warm_start=True,
                         random_state=0).fit(X_train, y_train)
    held = net.params["W1"]
    net.fit(X_train, y_train)
    np.testing.assert_array_equal(held, net.params["W1"])   # the same memory, updated
    # Assigning one parameter's view to another's key copies the values, not the place.
    w2 = net.params["W2"].copy()
    net.params["W3"] = net.params["b2"].reshape(3, 1)
    net.predict(X_val)
    np.testing.assert_array_equal(net.params["W3"][:, 0], net.params["b2"])
    np.testing.assert_array_equal(net.params["W2"], w2)


def test_divergence_stops_with_a_warning_and_keeps_the_previous_parameters(moons):
    X_train, X_val, y_train, _ = moons
    net = cnet.NeuralNet(iterations=5, warm_start=True, random_state=0).fit(X_train, y_train)
    before = {k: v.copy() for k, v in net.params.items()}
    with pytest.warns(engine.DivergenceWarning, match="diverged at epoch 6"):
        net.set_params(learning_rate=1e300, iterations=50).fit(X_train * 1e150, y_train)
    for k, v in before.items():
        np.testing.assert_array_equal(net.params[k], v)
    assert net.n_iter_ == 5 and np.isfinite(net.predict_proba(X_val)).all()


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("batch_size,shuffle,optimizer", [
    (150, False, {}), (32, True, {}), (40, False, dict(solver="sgd", alpha=0.1)),
    (32, True, dict(solver="adam", alpha=0.01))], ids=str)
@pytest.mark.parametrize("output", registry_rows.OUTPUTS)
def test_cython_loop_equals_numpy_twin_with_sample_weights(output, batch_size, shuffle,
                                                           optimizer, dtype):
    # float32 Adam drifts after ~100 epochs (see the optimizer test above): 50 epochs here.
    epochs = 50 if dtype == np.float32 and optimizer.get("solver") == "adam" else 200
    res = _train_both([3, 6, 3], "relu", dtype, batch_size, shuffle, epochs=epochs,
                      output=output, learning_rate=0.01, weighted=True, **optimizer)
    (p_c, l_c), (p_n, l_n) = res["cython"], res["numpy"]
    assert _relative_error(p_c, p_n) < TRAIN_RTOL[dtype]
    np.testing.assert_allclose(l_c, l_n, rtol=TRAIN_RTOL[dtype])


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("batch_size,shuffle", [(150, False), (32, True)])
@pytest.mark.parametrize("activation", registry_rows.ACTIVATIONS)
def test_cython_loop_equals_numpy_twin_with_dropout(activation, batch_size, shuffle, dtype):
    res = _train_both([3, 8, 6, 1], activation, dtype, batch_size, shuffle, epochs=200,
                      learning_rate=0.02, dropout=0.3)
    (p_c, l_c), (p_n, l_n) = res["cython"], res["numpy"]
    assert _relative_error(p_c, p_n) < TRAIN_RTOL[dtype]
    np.testing.assert_allclose(l_c, l_n, rtol=TRAIN_RTOL[dtype])


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("backend", ["cython", "numpy"])
@pytest.mark.parametrize("optimizer", [{}, dict(solver="sgd", momentum=0.9, alpha=0.1),
                                       dict(solver="adam", alpha=0.01)], ids=str)
def test_a_batch_of_zero_weight_is_skipped_as_if_its_rows_were_absent(optimizer, backend,
                                                                        dtype):
    # Rows 40..79 weigh nothing and make up the second batch exactly (no shuffling): the
    # independent expectation is training on the data without those rows, which takes the
    # same steps. Before, that batch divided by zero and training "diverged" at epoch 0.
    rng = np.random.default_rng(3)
    X = rng.standard_normal((150, 3)).astype(dtype)
    Y = _targets(X, 2, "softmax", dtype)
    w = (rng.random(150) + 0.5).astype(dtype)
    w[40:80] = 0
    keep = w > 0
    layers = np.array([3, 6, 2], dtype=np.intp)
    start = (rng.standard_normal(n_parameters(layers)) * 0.5).astype(dtype)
    runs = []
    for X_run, Y_run, w_run in [(X, Y, w), (X[keep], Y[keep], w[keep])]:
        params = start.copy()
        network, training = specs(layers, "relu", "softmax", dtype, learning_rate=0.01,
                                  sample_weight=w_run, batch_size=40, shuffle=False, seed=7,
                                  loss_every=1, **optimizer)
        result = engine.train(backend, params, network, training, X_run, Y_run, 30)
        runs.append((params, result, training.optimizer.step_count))
    (p_w, r_w, t_w), (p_r, r_r, t_r) = runs
    assert r_w.epochs_done == 30 and not r_w.interrupted
    # Adam counts the steps taken: 3 batches with weight per epoch, not 4.
    assert t_w == t_r
    if optimizer.get("solver") == "adam":
        assert t_w == 3 * 30
    # Same steps on the same numbers; the sums only run in another order (the skipped
    # batch's rows stay in X), so float32 agrees to rounding.
    np.testing.assert_allclose(p_w, p_r, rtol=TRAIN_RTOL[dtype], atol=TRAIN_RTOL[dtype])
    np.testing.assert_allclose(r_w.losses, r_r.losses, rtol=TRAIN_RTOL[dtype])


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_zero_weight_batches_when_shuffled_the_twin_agrees(dtype):
    # One class weighs nothing and batches are 2 samples, shuffled: many batches weigh zero.
    rng = np.random.default_rng(5)
    X = rng.standard_normal((60, 3)).astype(dtype)
    Y = (X[:, :1] > 0).astype(dtype)
    w = np.where(Y[:, 0] > 0, 1.0, 0.0).astype(dtype)
    layers = np.array([3, 5, 1], dtype=np.intp)
    start = (rng.standard_normal(n_parameters(layers)) * 0.5).astype(dtype)
    results = {}
    for backend in ("cython", "numpy"):
        params = start.copy()
        network, training = specs(layers, "tanh", "logistic", dtype, solver="adam",
                                  learning_rate=0.01, sample_weight=w, batch_size=2,
                                  shuffle=True, seed=11, loss_every=1)
        result = engine.train(backend, params, network, training, X, Y, 20)
        assert result.epochs_done == 20 and np.isfinite(result.losses).all()
        results[backend] = params, result, training.optimizer.step_count
    (p_c, r_c, t_c), (p_n, r_n, t_n) = results["cython"], results["numpy"]
    assert t_c == t_n < 20 * 30
    assert _relative_error(p_c, p_n) < TRAIN_RTOL[dtype]
    np.testing.assert_allclose(r_c.losses, r_n.losses, rtol=TRAIN_RTOL[dtype])


def _as_if_reading_input(network):
    """network, marked as if its activation's backward read its input (registry
    backward_reads "input"): training then keeps each hidden layer's pre-activation and
    passes it back."""
    forged = object.__new__(Network)
    for name in Network.__slots__:
        object.__setattr__(forged, name, getattr(network, name))
    object.__setattr__(forged, "keeps_input", True)
    return forged


@pytest.mark.parametrize("backend", ["cython", "numpy"])
@pytest.mark.parametrize("activation", ["relu", "leaky_relu"])
def test_the_pre_activation_path_trains_as_the_output_path(backend, activation):
    # The path that gelu and silu take (the loop keeps the pre-activations), run on relu and
    # leaky_relu, whose input and output have the same sign: their backward gives the same
    # gradient from either, so training must not change.
    rng = np.random.default_rng(8)
    X = rng.standard_normal((50, 3))
    Y = _targets(X, 2, "softmax", np.float64)
    start = rng.standard_normal(n_parameters([3, 6, 5, 2])) * 0.5
    results = []
    for reads_input in (False, True):
        params = start.copy()
        network, training = specs([3, 6, 5, 2], activation, "softmax", learning_rate=0.05,
                                  solver="adam", batch_size=16, shuffle=True, seed=4,
                                  dropout=0.2)
        if reads_input:
            network = _as_if_reading_input(network)
        losses = engine.train(backend, params, network, training, X, Y, 20).losses
        grad = engine.loss_and_gradient(backend, params, network, X, Y)[1]
        results.append((params, losses, grad))
    for got, expected in zip(results[1], results[0]):
        np.testing.assert_array_equal(got, expected)
