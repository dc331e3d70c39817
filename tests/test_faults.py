"""Faults during training: divergence and Ctrl-C leave a usable model and say so."""
import os
import signal
import subprocess
import sys
import textwrap
import time
import warnings
from pathlib import Path

import numpy as np
import pytest

import cnet
from cnet import engine
from cnet._layout import n_parameters


@pytest.mark.parametrize("backend", ["cython", "numpy"])
def test_loop_stops_at_the_diverging_epoch_with_the_last_whole_parameters(backend):
    rng = np.random.default_rng(0)
    X = rng.standard_normal((60, 3)) * 1e100
    Y = (X[:, :1] > 0).astype(float)
    layers = np.array([3, 4, 1], dtype=np.intp)
    params = rng.standard_normal(n_parameters(layers))
    start = params.copy()
    result = engine.train(backend, params, layers, "relu", "logistic", X, Y,
                          learning_rate=1e250, batch_size=20, shuffle=True, seed=1,
                          first_epoch=0, n_epochs=10, loss_every=1)
    assert not result.interrupted and result.epochs_done < 10
    assert len(result.losses) == result.epochs_done
    assert np.isfinite(params).all()
    if result.epochs_done == 0:
        np.testing.assert_array_equal(params, start)


def test_both_backends_stop_at_the_same_epoch():
    rng = np.random.default_rng(1)
    X = rng.standard_normal((40, 2))
    Y = (X[:, :1] > 0).astype(float)
    layers = np.array([2, 8, 1], dtype=np.intp)
    start = rng.standard_normal(n_parameters(layers))
    outcomes = []
    for backend in ("cython", "numpy"):
        params = start.copy()
        result = engine.train(backend, params, layers, "relu", "identity", X, Y * 1e5,
                              learning_rate=0.5, batch_size=40, shuffle=False, seed=0,
                              first_epoch=0, n_epochs=200, loss_every=1)
        outcomes.append((result.epochs_done, params))
    assert outcomes[0][0] == outcomes[1][0] < 200
    np.testing.assert_allclose(outcomes[0][1], outcomes[1][1], rtol=1e-10)


def test_estimators_stop_on_divergence_and_keep_finite_parameters():
    # As in scikit-learn, fit raises its "non-finite parameter weights" error; cnet also
    # says at which epoch, and the model keeps the last whole epoch, so it still predicts.
    rng = np.random.default_rng(2)
    X = rng.standard_normal((50, 3))
    y = X[:, 0] * 1e200
    reg = cnet.MLPRegressor(hidden_layer_sizes=(4,), solver="sgd", learning_rate_init=10.0,
                            max_iter=20, random_state=0)
    with pytest.warns(engine.DivergenceWarning, match="diverged at epoch"):
        with pytest.raises(ValueError, match="Solver produced non-finite parameter weights"):
            reg.fit(X, y)
    assert np.isfinite(reg.predict(X)).all()


def test_divergence_with_early_stopping_scores_nan_and_restores_the_best_epoch():
    rng = np.random.default_rng(2)
    X = rng.standard_normal((100, 3))
    y = X[:, 0] * 1e150
    reg = cnet.MLPRegressor(hidden_layer_sizes=(4,), solver="sgd", learning_rate_init=1e-3,
                            max_iter=50, early_stopping=True, random_state=0)
    with pytest.warns(engine.DivergenceWarning):
        reg.fit(X, y)
    assert np.isnan(reg.validation_scores_[-1])
    assert all(np.isfinite(W).all() for W in reg.coefs_)


CTRL_C_SCRIPT = textwrap.dedent("""
    import sys, time, warnings
    import numpy as np
    import cnet
    X = np.random.default_rng(0).standard_normal((2000, 20))
    y = X[:, 0] > 0
    net = cnet.NeuralNet(layers=[20, 64, 64, 1], iterations=10**7, learning_rate=0.01,
                         loss_every=0, random_state=0)
    print("fitting", flush=True)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        net.fit(X, y)
    print(f"returned {time.monotonic():.6f}", flush=True)
    print("warned:", [str(w.message) for w in caught], flush=True)
    print("epochs", net.n_iter_, "finite", bool(np.isfinite(net.predict_proba(X)).all()),
          flush=True)
""")


def test_ctrl_c_returns_quickly_with_a_usable_model(tmp_path):
    script = tmp_path / "fit.py"
    script.write_text(CTRL_C_SCRIPT)
    env = {**os.environ, "PYTHONPATH": str(Path(cnet.__file__).parent.parent)}
    proc = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=env, cwd=tmp_path)
    assert proc.stdout.readline().strip() == "fitting"
    time.sleep(1.0)                                 # well inside the fit
    sent = time.monotonic()
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    returned = float(out.split("returned ")[1].split()[0])
    # The loop looks for signals every 5 ms; 0.5 s leaves room for a busy machine.
    assert returned - sent < 0.5, returned - sent
    assert "Training interrupted by user" in out
    epochs = int(out.split("epochs ")[1].split()[0])
    assert epochs > 0 and "finite True" in out


def test_predict_never_returns_nan_silently():
    X = np.ones((3, 2))
    net = cnet.NeuralNet(layers=[2, 3, 1], iterations=1, random_state=0).fit(X, [0, 1, 0])
    net.params["W1"][...] = 1e300          # finite, but the forward pass meets inf - inf
    net.params["W2"][...] = [[1e300], [-1e300], [1e300]]
    with pytest.raises(ValueError, match="NaN or infinite for 3 of 3 samples"):
        net.predict(X)
