"""The cnet command line: train and predict on CSV files, with clear errors."""
import csv
import os
import signal
import subprocess
import sys
import time
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


def _run_child(code, tmp_path):
    env = {**os.environ, "PYTHONPATH": str(Path(cnet.__file__).parent.parent)}
    return subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=env, cwd=tmp_path)


def test_ctrl_c_during_train_leaves_out_untouched_and_exits_130(tmp_path):
    # Before, the half-trained model was saved over --out, "trained ... saved" printed and
    # the status was 0.
    rng = np.random.default_rng(0)
    X = rng.standard_normal((3000, 8))
    # Random labels: the network memorises them slowly, so the fit is still improving (far
    # from its stopping rule) when the signal comes, however fast the machine is.
    labels = rng.integers(0, 2, len(X))
    _write_csv(tmp_path / "data.csv", [f"x{j}" for j in range(8)] + ["y"],
               [[*row, label] for row, label in zip(X, labels)])
    (tmp_path / "model.npz").write_bytes(b"the previous model")
    proc = _run_child("import sys, cnet.cli; print('ready', flush=True); sys.exit(cnet.cli.main("
                      "['train', 'data.csv', '--target', 'y', '--hidden', '64,64', "
                      "'--epochs', '1000000', '--out', 'model.npz']))", tmp_path)
    assert proc.stdout.readline().strip() == "ready"
    time.sleep(1.5)                     # reading 3,000 rows is quick: well inside the fit
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, (out, err)
    assert out == "" and err.count("\n") == 1 and "interrupted" in err, err
    assert "Traceback" not in err
    assert (tmp_path / "model.npz").read_bytes() == b"the previous model"


def test_ctrl_c_during_predict_leaves_out_untouched_and_exits_130(iris_csv, tmp_path):
    path, _ = iris_csv
    model = tmp_path / "m.npz"
    assert main(["train", str(path), "--target", "species", "--epochs", "5",
                 "--out", str(model)]) == 0
    (tmp_path / "pred.csv").write_text("old predictions\n")
    # Ctrl-C lands inside predict: raised there, in a child, so that nothing can escape
    # into the test session.
    proc = _run_child(
        "import sys, cnet, cnet.mlp\n"
        "def interrupted(self, X):\n"
        "    raise KeyboardInterrupt\n"
        "cnet.mlp.MLPClassifier.predict = interrupted\n"
        "import cnet.cli\n"
        f"sys.exit(cnet.cli.main(['predict', {str(model)!r}, {str(path)!r}, "
        "'--target', 'species', '--out', 'pred.csv']))", tmp_path)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, (out, err)
    assert err == "cnet predict: interrupted\n"
    assert (tmp_path / "pred.csv").read_text() == "old predictions\n"
