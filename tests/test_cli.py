"""The cnet command line trains a sound model: a scaled Pipeline, scored on held-out rows,
saved and predicted with; its errors are one line and an exit status."""
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
from sklearn.datasets import load_iris, load_wine
from sklearn.pipeline import Pipeline

import cnet
from _cli_runs import (column, command, env, one_line_error, read_rows, run, write_csv,
                       write_wine)
from cnet.cli import main


@pytest.fixture
def iris_csv(tmp_path):
    X, y = load_iris(return_X_y=True)
    names = np.array(["setosa", "versicolor", "virginica"])[y]
    path = write_csv(tmp_path / "iris.csv", ["sl", "sw", "pl", "pw", "species"],
                     [[*map(float, row), name] for row, name in zip(X, names)])
    return path, names


@pytest.fixture
def wine_csv(tmp_path):
    return write_wine(tmp_path / "wine.csv")


def _held_out(out):
    line = next(l for l in out.splitlines() if l.startswith("held-out"))
    return float(line.split(":")[1].split()[0])


def test_wine_with_no_options_reaches_095_held_out_through_the_command(wine_csv, tmp_path):
    # The first command, run as the user runs it. Before: no scaler, 54% on the
    # training rows, no held-out score.
    result = run("train", wine_csv.name, "--target", "label", cwd=tmp_path)
    assert result.returncode == 0 and result.stderr == "", result.stderr
    assert _held_out(result.stdout) >= 0.95, result.stdout
    assert "held-out accuracy" in result.stdout and "on 36 rows" in result.stdout
    assert "converged" in result.stdout and "epochs run:" in result.stdout
    assert "not refit on all rows" in result.stdout
    model = cnet.load(tmp_path / "model.npz")
    assert isinstance(model, Pipeline)
    assert [name for name, _ in model.steps] == ["scale", "mlp"]
    assert list(model.feature_names_in_) == load_wine().feature_names


def test_the_readme_example_reaches_095_held_out(wine_csv, tmp_path, capsys):
    out = tmp_path / "m.npz"
    assert main(["train", str(wine_csv), "--target", "label", "--hidden", "8,4", "--epochs",
                 "300", "--out", str(out)]) == 0
    text = capsys.readouterr().out
    assert _held_out(text) >= 0.95, text
    model = cnet.load(out)
    assert [int(u) for u in model[-1]._layers] == [13, 8, 4, 3]


def test_the_saved_model_is_the_one_scored_on_the_held_out_rows(wine_csv, tmp_path, capsys):
    # Kept from the training split, not refit: the printed score is the file's model's score
    # on the rows the split held out (recomputed here with scikit-learn's splitter).
    from sklearn.model_selection import train_test_split
    out = tmp_path / "m.npz"
    assert main(["train", str(wine_csv), "--target", "label", "--seed", "3",
                 "--out", str(out)]) == 0
    printed = _held_out(capsys.readouterr().out)
    X, y = load_wine(return_X_y=True, as_frame=True)
    _, X_test, _, y_test = train_test_split(X, y, test_size=0.2, random_state=3, stratify=y)
    model = cnet.load(out)
    assert model.score(X_test, y_test) == pytest.approx(printed, abs=5e-5)
    assert model.cnet_metadata_["refit_on_all_rows"] is False
    assert model.cnet_metadata_["held_out_rows"] == 36


def test_test_size_zero_trains_on_every_row(wine_csv, tmp_path, capsys):
    out = tmp_path / "m.npz"
    assert main(["train", str(wine_csv), "--target", "label", "--test-size", "0",
                 "--out", str(out)]) == 0
    text = capsys.readouterr().out
    assert "held-out score: none" in text and "trained on all 178 rows" in text


def test_train_then_predict_round_trip_keeps_string_labels(iris_csv, tmp_path, capsys):
    path, names = iris_csv
    model = tmp_path / "m.npz"
    assert main(["train", str(path), "--target", "species", "--hidden", "16,8",
                 "--out", str(model)]) == 0
    text = capsys.readouterr().out
    assert "3 classes (setosa, versicolor, virginica)" in text and "(text labels)" in text
    out = tmp_path / "pred.csv"
    assert main(["predict", str(model), str(path), "--out", str(out)]) == 0
    rows = read_rows(out)
    assert rows[0] == ["prediction"]
    assert (column(rows) == names).mean() > 0.95


def test_regression_target_prints_r2_and_predicts_numbers(tmp_path, capsys):
    rng = np.random.default_rng(0)
    X = rng.standard_normal((300, 3))
    y = X @ [1.5, -2.0, 0.5] + 0.01 * rng.standard_normal(300)
    path = write_csv(tmp_path / "r.csv", ["a", "b", "c", "y"], np.column_stack([X, y]).tolist())
    model = tmp_path / "r.npz"
    assert main(["train", str(path), "--target", "y", "--out", str(model)]) == 0
    text = capsys.readouterr().out
    assert "regression (numbers)" in text and "held-out R²" in text
    assert _held_out(text) > 0.9, text
    assert main(["predict", str(model), str(path), "--target", "y"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "prediction" and len(lines) == 301
    # The file's model, as the library predicts (independently of the CSV writer).
    expected = cnet.load(model).predict(
        __import__("pandas").read_csv(path)[["a", "b", "c"]])
    np.testing.assert_allclose([float(v) for v in lines[1:]], expected, rtol=1e-12)


def test_task_is_overridable(tmp_path, capsys):
    # Integers 0..4 are classes by default; --task regress makes them a quantity.
    rng = np.random.default_rng(1)
    X = rng.standard_normal((200, 2))
    y = np.clip(np.round(X[:, 0] * 2 + 2), 0, 4).astype(int)
    path = write_csv(tmp_path / "t.csv", ["a", "b", "y"], [[*x, v] for x, v in zip(X, y)])
    assert main(["train", str(path), "--target", "y", "--out", str(tmp_path / "c.npz")]) == 0
    assert "classification (at most 20 distinct integers)" in capsys.readouterr().out
    assert main(["train", str(path), "--target", "y", "--task", "regress",
                 "--out", str(tmp_path / "r.npz")]) == 0
    assert "regression (--task)" in capsys.readouterr().out
    assert type(cnet.load(tmp_path / "r.npz")[-1]).__name__ == "MLPRegressor"


def test_convergence_warning_is_one_line_and_says_not_converged(wine_csv, tmp_path, capsys):
    assert main(["train", str(wine_csv), "--target", "label", "--epochs", "3",
                 "--out", str(tmp_path / "m.npz")]) == 0
    captured = capsys.readouterr()
    warned = [l for l in captured.out.splitlines() if l.startswith("warning:")]
    assert len(warned) == 1 and "Maximum iterations (3) reached" in warned[0]
    assert "epochs run: 3 of 3, not converged" in captured.out
    assert captured.err == ""


def test_early_stopping_says_why_it_stopped(wine_csv, tmp_path, capsys):
    assert main(["train", str(wine_csv), "--target", "label", "--early-stopping",
                 "--out", str(tmp_path / "m.npz")]) == 0
    text = capsys.readouterr().out
    assert "stopped early: the validation score did not improve" in text, text


@pytest.mark.parametrize("args,message", [
    (["--epochs", "0"], "--epochs: The 'max_iter' parameter"),
    (["--learning-rate", "-1"], "--learning-rate: The 'learning_rate_init' parameter"),
    (["--hidden", "0"], "--hidden:"),
    (["--hidden", "8,,4"], "--hidden must be comma-separated integers"),
    (["--hidden", "8,x"], "--hidden must be comma-separated integers"),
    (["--batch-size", "0"], "--batch-size: The 'batch_size' parameter"),
    (["--activation", "swish2"], "--activation:"),
    (["--test-size", "1.5"], "--test-size must be at least 0 and below 1"),
    (["--target", "colour"], "has no column(s) 'colour'"),
    (["--task", "regress"], "holds text, which cannot be regressed"),
    (["--drop", "nope"], "has no column(s) 'nope' (named by --drop)"),
    (["--drop", "species"], "--drop names the target column"),
])
def test_train_errors_are_one_clear_line(iris_csv, tmp_path, capsys, args, message):
    path, _ = iris_csv
    argv = ["train", str(path), "--target", "species", *args, "--out", str(tmp_path / "m.npz")]
    if "--target" in args:
        argv[3:5] = []
    assert main(argv) == 2
    captured = capsys.readouterr()
    assert message in captured.err and captured.err.count("\n") == 1, captured.err
    assert captured.err.startswith("cnet train: error: ")
    assert not (tmp_path / "m.npz").exists()


def test_an_unwritable_out_is_refused_before_training(iris_csv, tmp_path, capsys):
    path, _ = iris_csv
    for out, message in [(tmp_path, "is a directory"), (tmp_path / "no" / "m.npz",
                                                        "does not exist")]:
        assert main(["train", str(path), "--target", "species", "--out", str(out)]) == 2
        captured = capsys.readouterr()
        assert message in captured.err and captured.out == ""    # nothing trained


def test_small_tables_need_no_batch_size_and_undefined_scores_are_said(tmp_path, capsys):
    path = write_csv(tmp_path / "tiny.csv", ["a", "y"], [[1, 1.5], [2, 2.5], [3, 3.5]])
    assert main(["train", str(path), "--target", "y", "--out", str(tmp_path / "m.npz")]) == 0
    captured = capsys.readouterr()
    assert "warning" not in captured.out and captured.err == ""
    assert "held-out R²: undefined on 1 row" in captured.out


def test_scikit_learn_parameter_errors_through_the_command(iris_csv, tmp_path):
    path, _ = iris_csv
    # One error of scikit-learn's validation, one of argparse's (the rest run in-process above).
    for args in (["--learning-rate", "-1"], ["--epochs", "x"]):
        result = run("train", path, "--target", "species", *args, cwd=tmp_path)
        assert result.returncode == 2 and one_line_error(result), (args, result.stderr)


def test_predict_errors(iris_csv, tmp_path, capsys):
    path, _ = iris_csv
    bad = write_csv(tmp_path / "bad.csv", ["sl", "sw", "pl", "pw"], [["1", "2", "x", "4"]])
    model = tmp_path / "m.npz"
    main(["train", str(path), "--target", "species", "--epochs", "5", "--out", str(model)])
    capsys.readouterr()
    assert main(["predict", str(model), str(bad)]) == 2
    assert "line 2, column 'pl': 'x' is not a number" in capsys.readouterr().err
    write_csv(bad, ["sl", "sw", "pw"], [["1", "2", "4"]])
    assert main(["predict", str(model), str(bad)]) == 2
    assert "has no column(s) 'pl'" in capsys.readouterr().err
    write_csv(bad, ["sl", "sw", "pl", "pw"], [["1", "2", "", "4"]])
    assert main(["predict", str(model), str(bad)]) == 2
    assert "line 2, column 'pl': missing value" in capsys.readouterr().err
    assert main(["predict", str(path), str(path)]) == 2     # a CSV is not a model
    assert "cannot load the model" in capsys.readouterr().err
    assert main(["predict", str(tmp_path / "r.npz"), str(path)]) == 2
    assert "cannot load the model" in capsys.readouterr().err


def test_help_shows_every_option_with_its_default(capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["train", "--help"])
    assert exit_.value.code == 0
    text = " ".join(capsys.readouterr().out.split())
    for option, default in [("--hidden", "16"), ("--epochs", "300"),
                            ("--learning-rate", "0.003"), ("--solver", "adam"),
                            ("--batch-size", "32, or every training row when there are fewer"),
                            ("--seed", "0"), ("--test-size", "0.2"),
                            ("--na", "error"), ("--activation", "relu"), ("--alpha", "0.0001"),
                            ("--out", "model.npz")]:
        assert option in text and f"(default: {default})" in text, option
    assert "not refit on all rows" in text
    for sub in ("predict", "info", "export", "sample-data", "demo"):
        with pytest.raises(SystemExit):
            main([sub, "--help"])
        assert "usage: cnet " + sub in capsys.readouterr().out


def test_version_and_usage_errors(tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["--version"])
    assert exit_.value.code == 0 and capsys.readouterr().out.strip() == f"cnet {cnet.__version__}"
    for args in (["train"], ["frobnicate"], ["predict", "m.npz", "d.csv", "--bogus"]):
        with pytest.raises(SystemExit) as exit_:
            main(args)
        err = capsys.readouterr().err
        assert exit_.value.code == 2 and err.count("\n") == 1 and "--help" in err, err
    result = run("frobnicate", cwd=tmp_path)
    assert result.returncode == 2 and one_line_error(result), result.stderr


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
    return subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=env(), cwd=tmp_path)


def test_ctrl_c_during_train_leaves_out_untouched_and_exits_130(tmp_path):
    # Before, the half-trained model was saved over --out, "trained ... saved" printed and
    # the status was 0.
    rng = np.random.default_rng(0)
    X = rng.standard_normal((30000, 8))
    # Random labels: the network memorises them slowly, so the fit is still improving (far
    # from its stopping rule) when the signal comes, however fast the machine is. (3,000
    # rows were memorised as far as they would be, and the fit over, within the second.)
    labels = rng.integers(0, 2, len(X))
    write_csv(tmp_path / "data.csv", [f"x{j}" for j in range(8)] + ["y"],
              [[*row, label] for row, label in zip(X, labels)])
    (tmp_path / "model.npz").write_bytes(b"the previous model")
    proc = subprocess.Popen(command("train", "data.csv", "--target", "y", "--hidden", "64,64",
                                    "--epochs", "1000000"),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=env(), cwd=tmp_path)
    # The first line is printed once the table is read, just before fit.
    assert proc.stdout.readline().startswith("data.csv: 30000 rows")
    time.sleep(1.0)
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
