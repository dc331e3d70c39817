"""The commands around training: sample-data, info, predict --proba and pipes, train --plot,
export; and the command's own start-up errors."""
import importlib.util
import subprocess
import sys
import types

import numpy as np
import pytest

import cnet
from _cli_runs import command, env, one_line_error, read_rows, run
from cnet.cli import main

CULTIVARS = ["Barbera", "Barolo", "Grignolino"]


@pytest.fixture
def wine_model(tmp_path, capsys, monkeypatch):
    """The sample table in tmp_path and a model trained on it, as the README does."""
    monkeypatch.chdir(tmp_path)
    assert main(["sample-data"]) == 0
    assert main(["train", "wine.csv", "--target", "cultivar", "--out", "model.npz"]) == 0
    capsys.readouterr()
    return tmp_path / "model.npz"


def test_sample_data_is_the_wine_table_with_cultivar_names(tmp_path, capsys, monkeypatch):
    from sklearn.datasets import load_wine
    monkeypatch.chdir(tmp_path)
    assert main(["sample-data"]) == 0
    rows = read_rows(tmp_path / "wine.csv")
    data = load_wine()
    assert rows[0] == [*data.feature_names, "cultivar"]
    np.testing.assert_array_equal(np.array([r[:-1] for r in rows[1:]], dtype=float), data.data)
    names = np.array(["Barolo", "Grignolino", "Barbera"])[data.target]
    assert [r[-1] for r in rows[1:]] == names.tolist()
    # Again: the same file is left as it is; another file of that name is not overwritten.
    assert main(["sample-data"]) == 0 and "already" in capsys.readouterr().out
    (tmp_path / "other.csv").write_text("mine\n")
    assert main(["sample-data", "--out", "other.csv"]) == 2
    assert "exists" in capsys.readouterr().err
    assert (tmp_path / "other.csv").read_text() == "mine\n"


def test_info_describes_the_pipeline(wine_model, capsys):
    assert main(["info", str(wine_model)]) == 0
    text = capsys.readouterr().out
    assert "kind: Pipeline: scale (StandardScaler) -> mlp (MLPClassifier)" in text
    assert "layers: 13 -> 16 -> 3 (relu hidden, softmax output)" in text
    assert f"classes: {', '.join(CULTIVARS)}" in text
    assert "features (13): alcohol, malic_acid," in text
    model = cnet.load(wine_model)
    assert f"training loss: {model[-1].loss_curve_[-1]:.6g} after {model[-1].n_iter_} " \
           f"epochs" in text
    assert f"held-out accuracy: {model.cnet_metadata_['held_out_score']:.4f} on 36 rows" in text
    assert "not refit on all rows" in text
    assert f"CPU build in use: {cnet._cpu.active()}" in text
    assert main(["info", "missing.npz"]) == 2
    assert "cannot load the model" in capsys.readouterr().err


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_info_of_a_model_saved_from_python(tmp_path, capsys):
    from sklearn.datasets import make_moons
    X, y = make_moons(100, random_state=0)
    net = cnet.MLPRegressor(hidden_layer_sizes=(5,), max_iter=20, random_state=0).fit(X, y)
    net.save(tmp_path / "r.npz")
    assert main(["info", str(tmp_path / "r.npz")]) == 0
    text = capsys.readouterr().out
    assert "kind: MLPRegressor" in text and "layers: 2 -> 5 -> 1" in text
    assert "features: 2 (no column names stored)" in text and "classes" not in text


@pytest.mark.parametrize("score", ["n/a", None, [1, 2], True])
def test_info_of_a_file_with_metadata_of_any_json_kind(tmp_path, capsys, score):
    # cnet.save takes any JSON metadata: names cnet train uses may hold anything else there.
    from sklearn.datasets import make_moons
    X, y = make_moons(100, random_state=0)
    net = cnet.MLPClassifier(hidden_layer_sizes=(3,), max_iter=5, random_state=0)
    with pytest.warns(Warning):
        net.fit(X, y)
    cnet.save(net, tmp_path / "m.npz", metadata={"held_out_score": score,
                                                 "training_rows": {"a": 1}})
    assert main(["info", str(tmp_path / "m.npz")]) == 0
    assert "kind: MLPClassifier" in capsys.readouterr().out


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_predict_with_a_model_fitted_on_a_dataframe_from_python(tmp_path, capsys):
    # The columns are found by name, and handed over as a DataFrame: no feature-name warning.
    import pandas as pd
    from sklearn.datasets import load_iris
    frame = load_iris(as_frame=True).frame
    X, y = frame.drop(columns="target"), frame["target"]
    net = cnet.MLPClassifier(hidden_layer_sizes=(8,), max_iter=300, random_state=0).fit(X, y)
    net.save(tmp_path / "m.npz")
    frame[list(reversed(frame.columns))].to_csv(tmp_path / "d.csv", index=False)
    assert main(["predict", str(tmp_path / "m.npz"), str(tmp_path / "d.csv")]) == 0
    captured = capsys.readouterr()
    assert captured.err == ""
    predicted = read_rows(captured.out)
    assert [int(r[0]) for r in predicted[1:]] == net.predict(X).tolist()


def test_predict_proba_has_one_column_per_class_named_by_it(wine_model, capsys):
    import pandas as pd
    assert main(["predict", str(wine_model), "wine.csv", "--proba"]) == 0
    rows = read_rows(capsys.readouterr().out)
    assert rows[0] == CULTIVARS
    table = pd.read_csv("wine.csv")
    expected = cnet.load(wine_model).predict_proba(table.drop(columns="cultivar"))
    np.testing.assert_allclose(np.array(rows[1:], dtype=float), expected, rtol=1e-15)
    assert main(["predict", str(wine_model), "wine.csv", "--proba", "--out", "p.csv"]) == 0
    assert read_rows(wine_model.parent / "p.csv")[0] == CULTIVARS


def test_predict_proba_of_a_regressor_is_refused(tmp_path, capsys):
    from _cli_runs import write_csv
    rng = np.random.default_rng(0)
    X = rng.standard_normal((50, 2))
    path = write_csv(tmp_path / "r.csv", ["a", "b", "y"], [[*x, x.sum()] for x in X])
    assert main(["train", str(path), "--target", "y", "--epochs", "5",
                 "--out", str(tmp_path / "r.npz")]) == 0
    capsys.readouterr()
    assert main(["predict", str(tmp_path / "r.npz"), str(path), "--proba"]) == 2
    assert "--proba needs a classifier; this model is a MLPRegressor" in capsys.readouterr().err


def test_predict_into_a_closed_pipe_exits_quietly(wine_model):
    # `cnet predict ... | head -1`, through a real shell pipe. Before: a BrokenPipeError
    # traceback. The table is made long enough that the writer outlives head.
    rows = (wine_model.parent / "wine.csv").read_text().splitlines()
    (wine_model.parent / "long.csv").write_text("\n".join(rows + rows[1:] * 300) + "\n")
    line = " ".join(f"'{a}'" for a in command("predict", "model.npz", "long.csv"))
    result = subprocess.run(f"{line} | head -1; echo \"status ${{PIPESTATUS[0]}}\"",
                            shell=True, executable="/bin/bash", capture_output=True, text=True,
                            cwd=wine_model.parent, env=env(), timeout=300)
    assert result.stderr == ""
    lines = result.stdout.splitlines()
    assert lines[0] == "prediction"
    assert lines[1] in ("status 0", "status 141"), lines


def test_train_plot_draws_the_loss_curve(wine_model, capsys):
    pytest.importorskip("matplotlib", reason="--plot needs matplotlib (the plot extra)")
    assert main(["train", "wine.csv", "--target", "cultivar", "--plot", "loss.png",
                 "--out", "m2.npz"]) == 0
    assert "loss curve drawn in loss.png" in capsys.readouterr().out
    png = (wine_model.parent / "loss.png").read_bytes()
    assert png.startswith(b"\x89PNG") and len(png) > 5000
    assert main(["train", "wine.csv", "--target", "cultivar", "--plot", "no/such/dir/l.png",
                 "--out", "m3.npz"]) == 2
    assert "the folder" in capsys.readouterr().err
    assert main(["train", "wine.csv", "--target", "cultivar", "--plot", "loss.xyz",
                 "--out", "m3.npz"]) == 2
    err = capsys.readouterr().err
    assert "matplotlib writes" in err and "png" in err and "not xyz" in err, err
    assert not (wine_model.parent / "m3.npz").exists()     # refused before training


def test_train_plot_without_matplotlib_is_one_line(wine_model, capsys, monkeypatch):
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name == "matplotlib" else real(name, *a))
    assert main(["train", "wine.csv", "--target", "cultivar", "--plot", "loss.png"]) == 2
    err = capsys.readouterr().err
    assert err == 'cnet train: error: --plot needs matplotlib: pip install "cnet-mlp[plot]"\n'


def test_export_calls_the_onnx_exporter(wine_model, capsys, monkeypatch):
    # The wiring: export loads the file and hands the model to cnet.onnx_export.export_onnx
    # (the exporter's own tests check its graphs against onnxruntime).
    calls = []
    module = types.ModuleType("cnet.onnx_export")
    module.export_onnx = lambda model, path: calls.append((model, path))
    monkeypatch.setitem(sys.modules, "cnet.onnx_export", module)
    assert main(["export", str(wine_model), "model.onnx"]) == 0
    assert "wrote model.onnx" in capsys.readouterr().out
    (model, path), = calls
    assert path == "model.onnx" and [n for n, _ in model.steps] == ["scale", "mlp"]

    def missing(model, path):
        raise ImportError('ONNX export needs onnx: pip install "cnet-mlp[onnx]"')
    module.export_onnx = missing
    assert main(["export", str(wine_model), "model.onnx"]) == 2
    assert capsys.readouterr().err == ('cnet export: error: ONNX export needs onnx: pip '
                                       'install "cnet-mlp[onnx]"\n')
    monkeypatch.setitem(sys.modules, "cnet.onnx_export", None)    # the module is absent
    assert main(["export", str(wine_model), "model.onnx"]) == 2
    assert 'pip install "cnet-mlp[onnx]"' in capsys.readouterr().err


def test_export_writes_onnx_that_onnxruntime_runs_like_predict_proba(wine_model, capsys):
    pytest.importorskip("onnxruntime", reason="export needs the onnx extra")
    if importlib.util.find_spec("cnet.onnx_export") is None:
        pytest.skip("this cnet has no ONNX exporter (cnet.onnx_export)")
    import onnxruntime as ort
    import pandas as pd
    assert main(["export", str(wine_model), "model.onnx"]) == 0, capsys.readouterr().err
    session = ort.InferenceSession("model.onnx", providers=["CPUExecutionProvider"])
    X = pd.read_csv("wine.csv").drop(columns="cultivar")
    inputs = session.get_inputs()
    feed = ({inputs[0].name: X.to_numpy(np.float32)} if len(inputs) == 1 else
            {i.name: X[[i.name]].to_numpy(np.float32) for i in inputs})
    outputs = session.run(None, feed)
    model = cnet.load(wine_model)
    assert list(outputs[0]) == list(model.predict(X))


def test_unknown_cnet_cpu_is_one_line(tmp_path):
    result = run("info", "model.npz", cwd=tmp_path, CNET_CPU="sse9")
    assert result.returncode == 2 and one_line_error(result), result.stderr
    assert "CNET_CPU must be one of ['baseline', 'avx2', 'avx512'], got 'sse9'" in result.stderr
