"""The cnet command line: train and predict on CSV files, with clear errors."""
import csv
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from sklearn.datasets import load_iris

import cnet
from cnet.cli import main


def _write_csv(path, header, rows):
    with open(path, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(header)
        writer.writerows(rows)


@pytest.fixture
def iris_csv(tmp_path):
    X, y = load_iris(return_X_y=True)
    names = np.array(["setosa", "versicolor", "virginica"])[y]
    path = tmp_path / "iris.csv"
    _write_csv(path, ["sl", "sw", "pl", "pw", "species"],
               [[*map(float, row), name] for row, name in zip(X, names)])
    return path, names


def test_train_then_predict_round_trip(iris_csv, tmp_path, capsys):
    path, names = iris_csv
    model = tmp_path / "m.npz"
    assert main(["train", str(path), "--target", "species", "--hidden", "16,8",
                 "--epochs", "300", "--learning-rate", "0.01", "--out", str(model)]) == 0
    assert "MLPClassifier [4, 16, 8, 3]" in capsys.readouterr().out
    out = tmp_path / "pred.csv"
    assert main(["predict", str(model), str(path), "--out", str(out)]) == 0
    with open(out) as f:
        rows = list(csv.reader(f))
    assert rows[0] == ["prediction"]
    predicted = np.array([r[0] for r in rows[1:]])
    assert (predicted == names).mean() > 0.9


def test_regression_target_and_stdout(tmp_path, capsys):
    rng = np.random.default_rng(0)
    X = rng.standard_normal((100, 3))
    y = X @ [1.5, -2.0, 0.5]
    path = tmp_path / "r.csv"
    _write_csv(path, ["a", "b", "c", "y"], np.column_stack([X, y]).tolist())
    model = tmp_path / "r.npz"
    assert main(["train", str(path), "--target", "y", "--epochs", "50",
                 "--out", str(model)]) == 0
    assert "MLPRegressor" in capsys.readouterr().out
    assert main(["predict", str(model), str(path), "--target", "y"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "prediction" and len(lines) == 101
    float(lines[1])


@pytest.mark.parametrize("args,message", [
    (["--target", "colour"], "no column 'colour'"),
    (["--target", "species", "--hidden", "8,x"], "--hidden must be"),
    (["--target", "species", "--task", "regress"], "not numeric"),
])
def test_train_errors_are_one_clear_line(iris_csv, tmp_path, capsys, args, message):
    path, _ = iris_csv
    assert main(["train", str(path), *args, "--out", str(tmp_path / "m.npz")]) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1


def test_predict_errors(iris_csv, tmp_path, capsys):
    path, _ = iris_csv
    bad = tmp_path / "bad.csv"
    _write_csv(bad, ["sl", "sw", "pl", "pw"], [["1", "2", "x", "4"]])
    model = tmp_path / "m.npz"
    main(["train", str(path), "--target", "species", "--epochs", "5", "--out", str(model)])
    capsys.readouterr()
    assert main(["predict", str(model), str(bad)]) == 2
    assert "line 2, column 'pl': 'x' is not a number" in capsys.readouterr().err
    _write_csv(bad, ["sl", "sw", "pw"], [["1", "2", "4"]])
    assert main(["predict", str(model), str(bad)]) == 2
    assert "lacks the column(s) the model was trained on: pl" in capsys.readouterr().err
    assert main(["predict", str(path), str(path)]) == 2     # a CSV is not a model
    assert "cannot load the model" in capsys.readouterr().err


def test_console_script_entry_point_exits_with_status_2_on_error(tmp_path):
    env = {**os.environ, "PYTHONPATH": str(Path(cnet.__file__).parent.parent)}
    result = subprocess.run([sys.executable, "-c", "import sys, cnet.cli; "
                             "sys.exit(cnet.cli.main(['predict', 'nope.npz', 'nope.csv']))"],
                            capture_output=True, text=True, cwd=tmp_path, env=env)
    assert result.returncode == 2 and "cannot load the model" in result.stderr


def test_bench_runs_a_small_comparison(tmp_path, capsys):
    out = tmp_path / "bench.json"
    # The compiled peers' compilation would take longer than the rest; test_bench.py has them.
    assert main(["bench", "--quick", "--workloads", "seed", "--dtypes", "float64",
                 "--peers", "cnet,numpy,sklearn", "--json", str(out)]) == 0
    text = capsys.readouterr().out
    assert "seed" in text and "µs (/cnet)" in text and out.exists()


def test_bench_help_names_the_command(capsys):
    with pytest.raises(SystemExit):
        main(["bench", "--help"])
    assert "usage: cnet bench" in capsys.readouterr().out
