"""Every script in examples/ runs, quickly, and gets the result it describes."""
import importlib.util
from pathlib import Path

import matplotlib
import pytest
# Imported, not just used through its marker: without the plugin the limit below would do
# nothing but warn.
import pytest_timeout  # noqa: F401
from sklearn.datasets import make_moons

import cnet

matplotlib.use("Agg")

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def _load(name):
    spec = importlib.util.spec_from_file_location(name, EXAMPLES / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_every_example_is_tested():
    tested = {"moons_tutorial", "thirteen_features", "digits", "regression", "speed",
              "dask_scaleout"}
    assert {p.stem for p in EXAMPLES.glob("*.py")} == tested


def test_moons_tutorial(tmp_path, capsys):
    accuracy = _load("moons_tutorial").main(["--out", str(tmp_path)])
    assert accuracy >= 0.8
    assert (tmp_path / "moons_boundary.png").stat().st_size > 1000
    assert (tmp_path / "moons_loss.png").stat().st_size > 1000
    printed = capsys.readouterr().out
    # The tutorial's quantities, each beside its formula.
    for line in ["Z1 (3, 5)", "A1 (3, 5)", "Z2 (3, 1)", "A2 (3, 1)", "dW1 (2, 5)", "db1 (5,)",
                 "dW2 (5, 1)", "db2 (1,)"]:
        assert line in printed
    assert "Finite differences" in printed


def test_moons_tutorial_gradient_check_can_tell_a_wrong_gradient():
    tutorial = _load("moons_tutorial")
    X, y = make_moons(60, noise=0.2, random_state=1)
    net = cnet.NeuralNet(layers=[2, 5, 1], activation="tanh", learning_rate=0.1,
                         iterations=200, random_state=0).fit(X, y)
    _, grads = net.gradients(X, y)
    # Central differences agree with the true gradient to ~1e-8 relative; a gradient off by
    # 1% (as a gradient of the wrong formula would be, and more) is told apart.
    assert tutorial.gradient_check(net, X, y, grads) < 1e-6
    wrong = {name: value * 1.01 for name, value in grads.items()}
    assert tutorial.gradient_check(net, X, y, wrong) > 1e-3


def test_thirteen_features():
    assert _load("thirteen_features").main() >= 0.9


def test_digits(tmp_path):
    assert _load("digits").main(["--out", str(tmp_path)]) >= 0.9
    assert (tmp_path / "digits_loss.png").exists()


def test_regression():
    scores = _load("regression").main()
    assert abs(scores["cnet"] - scores["scikit-learn"]) < 0.1


def test_speed():
    times = _load("speed").main(epochs=200)
    assert set(times) == {"cnet (Cython)", "cnet (numpy twin)", "scikit-learn"}
    assert all(t > 0 for t in times.values())


# A cluster that hangs must fail this test, with a traceback, not hold CI until its time
# limit. Under 30 s on an idle 2-core machine; the rest is for a loaded CI runner.
@pytest.mark.timeout(300)
def test_dask_scaleout():
    results = _load("dask_scaleout").main()
    assert results["search"] > 0.9
    assert results["incremental"] > 0.95
    assert results["post_fit"] > 0.95
    assert results["post_fit_equal"]
