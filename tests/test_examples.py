"""Every script in examples/ runs, quickly, and gets the result it describes."""
import faulthandler
import importlib.util
from pathlib import Path

import matplotlib
import pytest

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


def test_moons_tutorial(tmp_path):
    accuracy = _load("moons_tutorial").main(["--out", str(tmp_path)])
    assert accuracy >= 0.8
    assert (tmp_path / "moons_boundary.png").stat().st_size > 1000
    assert (tmp_path / "moons_loss.png").stat().st_size > 1000


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


def test_dask_scaleout():
    # A cluster that hangs must fail the run, not hold CI until its time limit.
    faulthandler.dump_traceback_later(300, exit=True)
    try:
        results = _load("dask_scaleout").main()
    finally:
        faulthandler.cancel_dump_traceback_later()
    assert results["search"] > 0.9
    assert results["incremental"] > 0.95
    assert results["post_fit"] > 0.95
    assert results["post_fit_equal"]
