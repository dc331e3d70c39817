"""Every warning a user's call to a front end can get names the user's line, not cnet's.

Each test calls ``fit`` or ``partial_fit`` directly from this file and checks that every
warning of the kind expected has ``filename == __file__``: the place a user reads first, and
what ``warnings.filterwarnings(module=...)`` matches. The interrupt warnings need a Ctrl-C,
sent to a child process whose script checks its own ``__file__`` the same way.
"""
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
from sklearn.exceptions import ConvergenceWarning, DataConversionWarning

import cnet
from cnet import MLPClassifier, MLPRegressor, NeuralNet, engine

MLPS = [MLPClassifier, MLPRegressor]
rng = np.random.default_rng(2)
X = rng.standard_normal((50, 3))
y = (X[:, 0] > 0).astype(int)
# Inputs this large make a step of learning rate 10 overflow within a few epochs.
X_HUGE = X * 1e150


class _Recorded:
    """The warnings of one category recorded inside the ``with`` block."""

    def __init__(self, category):
        self.category = category

    def __enter__(self):
        self._context = warnings.catch_warnings(record=True)
        self._caught = self._context.__enter__()
        warnings.simplefilter("always")
        return self

    def __exit__(self, *exc):
        self._context.__exit__(*exc)
        self.warnings = [w for w in self._caught if issubclass(w.category, self.category)]
        # An error the test expects (pytest.raises inside) has been handled by then; any
        # other propagates.
        return False

    def assert_all_here(self):
        assert self.warnings, f"no {self.category.__name__} was given"
        for w in self.warnings:
            assert w.filename == __file__, (f"{self.category.__name__} names "
                                            f"{w.filename}:{w.lineno}: {w.message}")


@pytest.mark.parametrize("cls", MLPS)
@pytest.mark.parametrize("verbose", [False, True])
def test_maximum_iterations_convergence_warning(cls, verbose, capsys):
    with _Recorded(ConvergenceWarning) as recorded:
        cls(hidden_layer_sizes=(3,), max_iter=2, verbose=verbose).fit(X, y)
    recorded.assert_all_here()


@pytest.mark.parametrize("cls", MLPS)
def test_lbfgs_convergence_warning(cls):
    with _Recorded(ConvergenceWarning) as recorded:
        cls(hidden_layer_sizes=(3,), solver="lbfgs", max_iter=1).fit(X, y)
    recorded.assert_all_here()


@pytest.mark.parametrize("cls", MLPS)
def test_batch_size_clipping_warning_from_fit(cls):
    with _Recorded(UserWarning) as recorded:
        cls(hidden_layer_sizes=(3,), batch_size=len(X) + 1, max_iter=2).fit(X, y)
    recorded.warnings = [w for w in recorded.warnings if "clipped" in str(w.message)]
    recorded.assert_all_here()


def test_batch_size_clipping_warning_from_partial_fit():
    with _Recorded(UserWarning) as recorded:
        MLPClassifier(hidden_layer_sizes=(3,), batch_size=len(X) + 1).partial_fit(
            X, y, classes=[0, 1])
        MLPRegressor(hidden_layer_sizes=(3,), batch_size=len(X) + 1).partial_fit(X, y)
    recorded.warnings = [w for w in recorded.warnings if "clipped" in str(w.message)]
    assert len(recorded.warnings) == 2
    recorded.assert_all_here()


@pytest.mark.parametrize("cls", MLPS)
def test_column_vector_y_warning_from_fit_and_partial_fit(cls):
    with _Recorded(DataConversionWarning) as recorded:
        cls(hidden_layer_sizes=(3,), max_iter=2).fit(X, y.reshape(-1, 1))
        if cls is MLPClassifier:
            cls(hidden_layer_sizes=(3,)).partial_fit(X, y.reshape(-1, 1), classes=[0, 1])
        else:
            cls(hidden_layer_sizes=(3,)).partial_fit(X, y.reshape(-1, 1))
    assert len(recorded.warnings) == 2
    recorded.assert_all_here()


@pytest.mark.parametrize("cls", MLPS)
def test_divergence_warning_from_fit(cls):
    model = cls(hidden_layer_sizes=(4,), solver="sgd", learning_rate_init=10.0, max_iter=20,
                random_state=0)
    with _Recorded(engine.DivergenceWarning) as recorded:
        # As scikit-learn, fit then raises: the warning says at which epoch.
        with pytest.raises(ValueError, match="non-finite parameter weights"):
            model.fit(X_HUGE, y)
    recorded.assert_all_here()


def test_divergence_warning_with_early_stopping():
    model = MLPRegressor(hidden_layer_sizes=(4,), solver="sgd", learning_rate_init=10.0,
                         max_iter=20, early_stopping=True, random_state=0)
    with _Recorded(engine.DivergenceWarning) as recorded:
        model.fit(X_HUGE, y)
    recorded.assert_all_here()


@pytest.mark.parametrize("cls", MLPS)
def test_divergence_warning_from_partial_fit(cls):
    model = cls(hidden_layer_sizes=(4,), solver="sgd", learning_rate_init=10.0,
                random_state=0)
    extra = dict(classes=[0, 1]) if cls is MLPClassifier else {}
    with _Recorded(engine.DivergenceWarning) as recorded:
        with pytest.raises(ValueError, match="non-finite parameter weights"):
            for _ in range(20):
                model.partial_fit(X_HUGE, y, **extra)
    recorded.assert_all_here()


@pytest.mark.parametrize("verbose", [0, 1])
def test_divergence_warning_from_neural_net(verbose, capsys):
    net = NeuralNet(layers=[3, 4, 1], learning_rate=10.0, iterations=20, random_state=0,
                    verbose=verbose)
    with _Recorded(engine.DivergenceWarning) as recorded:
        net.fit(X_HUGE, y)
    recorded.assert_all_here()


# Each fit runs until the parent sends Ctrl-C; the script checks its warnings' file itself.
CTRL_C_SCRIPT = textwrap.dedent("""
    import warnings
    import numpy as np
    import cnet
    from cnet import engine
    # The front ends are imported on first use; import them (and scikit-learn) before the
    # first fit, so that the interrupt a second into it lands in the fit, not the import.
    from cnet import MLPClassifier, NeuralNet
    rng = np.random.default_rng(0)
    X = rng.standard_normal((2000, 20))
    # Random labels: none of the fits can stop by itself within seconds (L-BFGS's relative
    # reduction test, which cnet cannot turn off, ends an easy problem within a second).
    # Small sizes: each evaluation takes milliseconds.
    y = rng.integers(0, 2, len(X))
    fits = {
        "NeuralNet": lambda: cnet.NeuralNet(layers=[20, 64, 1], iterations=10**7,
                                            learning_rate=0.01, loss_every=0,
                                            random_state=0).fit(X, y),
        "sgd": lambda: cnet.MLPClassifier(hidden_layer_sizes=(64,), solver="sgd",
                                          max_iter=10**7, n_iter_no_change=np.inf,
                                          random_state=0).fit(X, y),
        "lbfgs": lambda: cnet.MLPClassifier(hidden_layer_sizes=(64,), solver="lbfgs",
                                            max_iter=10**7, max_fun=10**7, tol=0,
                                            random_state=0).fit(X, y),
    }
    for name, fit in fits.items():
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            print("fitting", name, flush=True)
            fit()
        places = [w.filename == __file__ for w in caught
                  if issubclass(w.category, engine.InterruptedWarning)]
        print("interrupted", name, len(places), all(places), flush=True)
""")


def test_interrupted_warnings_name_the_callers_file(tmp_path):
    script = tmp_path / "user_script.py"
    script.write_text(CTRL_C_SCRIPT)
    env = {**os.environ, "PYTHONPATH": str(Path(cnet.__file__).parent.parent)}
    proc = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=env, cwd=tmp_path)
    try:
        reports = []
        for name in ("NeuralNet", "sgd", "lbfgs"):
            assert proc.stdout.readline().split() == ["fitting", name]
            time.sleep(1.0)     # well inside the fit; signals are looked for every few ms
            proc.send_signal(signal.SIGINT)
            reports.append(proc.stdout.readline().split())
        out, err = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert proc.returncode == 0, err
    assert reports == [["interrupted", name, "1", "True"]
                       for name in ("NeuralNet", "sgd", "lbfgs")], (reports, err)


def test_stacklevel_skips_every_frame_inside_cnet():
    from cnet._caller import stacklevel     # here: the other tests run on builds without it
    # Three nested functions compiled as if they were a cnet module: the warning the
    # innermost gives names this file, where the outermost was called.
    inside = os.path.join(os.path.dirname(cnet.__file__), "_made_for_this_test.py")
    source = textwrap.dedent("""
        import warnings
        def inner(stacklevel):
            warnings.warn("from inside", UserWarning, stacklevel=stacklevel())
        def middle(stacklevel):
            inner(stacklevel)
        def outer(stacklevel):
            middle(stacklevel)
    """)
    namespace = {}
    exec(compile(source, inside, "exec"), namespace)
    with _Recorded(UserWarning) as recorded:
        namespace["outer"](stacklevel)
    recorded.assert_all_here()
    assert recorded.warnings[0].lineno == sys._getframe().f_lineno - 2
