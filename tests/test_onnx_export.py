"""ONNX export (cnet.onnx_export, ``to_onnx``), checked by running the exported graph in
onnxruntime against cnet's own ``predict`` and ``predict_proba``.

Tolerances, ``|onnxruntime - cnet| <= atol + rtol * |cnet|``: float32 graphs 1e-6 + 1e-5
(onnxruntime's Gemm sums in another order than cnet's kernels); float64 graphs 1e-12 + 1e-10,
except gelu's, which keep float32's: onnxruntime has no double Erf kernel, so the graph takes
erf in float32.

Labels must be equal except at ties, rows where cnet's own numbers leave the decision within
the tolerance: a probability within it of 0.5 (one logistic unit, multi-label indicators), or
two largest probabilities within twice of it of each other (softmax). There, either side is
a right answer of the graph; the tests count such rows and require the others to agree.
"""
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import scipy.sparse as sp
from sklearn.datasets import make_classification, make_regression
from sklearn.exceptions import NotFittedError
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

import cnet
from cnet import registry

_REASON = 'ONNX export needs the onnx extra: pip install "cnet-mlp[onnx]"'
onnx = pytest.importorskip("onnx", reason=_REASON)
ort = pytest.importorskip("onnxruntime", reason=_REASON)
skl2onnx = pytest.importorskip("skl2onnx", reason=_REASON)

from cnet.onnx_export import export_onnx  # noqa: E402  (needs the extra)

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")

TOLERANCE = {np.float32: (1e-6, 1e-5), np.float64: (1e-12, 1e-10)}
ACTIVATIONS = sorted(registry.ACTIVATIONS)
REGRESSION_LOSSES = sorted(registry.regression_losses())
OUTPUTS = ["binary", "multiclass", "multilabel", "neural_net",
           *[f"regression:{loss}" for loss in REGRESSION_LOSSES], "regression:2_outputs"]


def tolerance(dtype, activation):
    return TOLERANCE[np.float32 if activation == "gelu" else dtype]


def session(proto):
    return ort.InferenceSession(proto.SerializeToString(), providers=["CPUExecutionProvider"])


def run(proto, X):
    sess = session(proto)
    return dict(zip([o.name for o in sess.get_outputs()],
                    sess.run(None, {"X": np.ascontiguousarray(X)})))


def classification_data(n_classes=3, seed=0):
    X, y = make_classification(48, 5, n_informative=4, n_redundant=0, n_classes=n_classes,
                               random_state=seed)
    return X, y


def fitted(output, activation, dtype):
    """A small model of each kind, trained a few epochs in ``dtype``; with its X."""
    X, y = classification_data()
    X = X.astype(dtype)
    small = dict(hidden_layer_sizes=(6, 4), activation=activation, max_iter=15, dtype=dtype,
                 random_state=0)
    if output == "binary":
        return cnet.MLPClassifier(**small).fit(X, y % 2), X
    if output == "multiclass":
        return cnet.MLPClassifier(**small).fit(X, y), X
    if output == "multilabel":
        Y = np.stack([y == 0, y == 1, X[:, 0] > 0], axis=1).astype(int)
        return cnet.MLPClassifier(**small).fit(X, Y), X
    if output == "neural_net":
        return cnet.NeuralNet([5, 6, 4, 1], learning_rate=0.05, iterations=20,
                              activation=activation, random_state=0).fit(X, y % 2), X
    loss = output.split(":")[1]
    Xr, yr = make_regression(48, 5, n_targets=2, random_state=0)
    Xr, yr = Xr.astype(dtype), yr / 100
    if loss == "2_outputs":
        return cnet.MLPRegressor(**small).fit(Xr, yr), Xr
    target = np.abs(yr[:, 0]) if registry.regression_losses()[loss].targets == "counts" \
        else yr[:, 0]
    return cnet.MLPRegressor(loss, **small).fit(Xr, target), Xr


def assert_close(got, expected, atol, rtol):
    np.testing.assert_allclose(got, expected, atol=atol, rtol=rtol)


def ties(model, X, atol, rtol):
    """Rows whose decision cnet's own numbers leave within the tolerance (see the module
    docstring)."""
    proba = model.predict_proba(X).astype(np.float64)
    margin = atol + rtol * proba
    final = model[-1] if isinstance(model, Pipeline) else model
    if getattr(final, "out_activation_", "logistic") == "softmax":
        order = np.sort(proba, axis=1)
        return order[:, -1] - order[:, -2] <= 2 * margin.max(axis=1)
    positive = proba[:, 1:] if proba.shape[1] == 2 else proba
    return (np.abs(positive - 0.5) <= margin[:, -positive.shape[1]:]).any(axis=1)


def assert_labels_equal(model, X, labels, atol, rtol):
    expected = model.predict(X)
    tied = ties(model, X, atol, rtol)
    assert np.asarray(labels).shape == np.asarray(expected).shape
    assert tied.sum() <= 2, f"{tied.sum()} tied rows: the data make too many to check"
    np.testing.assert_array_equal(np.asarray(labels)[~tied], np.asarray(expected)[~tied])


# --- parity: every activation x output x dtype ------------------------------------------------

@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("output", OUTPUTS)
@pytest.mark.parametrize("activation", ACTIVATIONS)
def test_onnxruntime_matches_predict_and_predict_proba(activation, output, dtype):
    model, X = fitted(output, activation, dtype)
    proto = model.to_onnx(dtype=dtype, zipmap=False)
    onnx.checker.check_model(proto, full_check=True)
    got = run(proto, X)
    atol, rtol = tolerance(dtype, activation)
    if output.startswith("regression"):
        assert list(got) == ["variable"]
        assert got["variable"].dtype == dtype
        expected = model.predict(X)
        assert_close(got["variable"], expected.reshape(len(X), -1), atol, rtol)
        return
    assert list(got) == ["label", "probabilities"]
    assert got["probabilities"].dtype == dtype
    assert_close(got["probabilities"], model.predict_proba(X), atol, rtol)
    assert_labels_equal(model, X, got["label"], atol, rtol)


@pytest.mark.parametrize("alias", ["logistic", "swish"])
def test_activation_aliases_export_as_their_activation(alias):
    X, y = classification_data()
    model = cnet.MLPClassifier((5,), activation=alias, max_iter=10, random_state=0).fit(X, y)
    got = run(model.to_onnx(zipmap=False), X.astype(np.float32))
    assert_close(got["probabilities"], model.predict_proba(X), *TOLERANCE[np.float32])


def test_leaky_relu_keeps_cnets_slope_on_negative_inputs():
    # One layer with weight 1 and bias 0: the output is the activation of the input itself,
    # so the slope is seen directly (against the numpy twin, not the compiled code).
    model = cnet.MLPRegressor(hidden_layer_sizes=(1,), activation="leaky_relu", max_iter=1,
                              random_state=0)
    X = np.linspace(-5, 5, 11).reshape(-1, 1)
    model.fit(X, X.ravel())
    model.coefs_[0][...] = 1.0
    model.coefs_[1][...] = 1.0
    model.intercepts_[0][...] = 0.0
    model.intercepts_[1][...] = 0.0
    for dtype in (np.float32, np.float64):
        got = run(model.to_onnx(dtype=dtype), X.astype(dtype))["variable"].ravel()
        assert_close(got, cnet.reference.leaky_relu(X.ravel()), *TOLERANCE[dtype])
        assert got[0] == pytest.approx(-0.05, rel=1e-6)


def test_float32_model_exported_as_float64_computes_in_float64():
    model, X = fitted("multiclass", "tanh", np.float32)
    proto = model.to_onnx(dtype=np.float64, zipmap=False)
    got = run(proto, X.astype(np.float64))
    assert got["probabilities"].dtype == np.float64
    # The graph computes in float64 from the float32 weights; cnet in float32.
    assert_close(got["probabilities"], model.predict_proba(X), *TOLERANCE[np.float32])


def test_sparse_trained_model_takes_dense_input():
    X, y = classification_data()
    X[np.abs(X) < 0.8] = 0
    model = cnet.MLPClassifier((6,), max_iter=20, random_state=0).fit(sp.csr_matrix(X), y)
    got = run(model.to_onnx(zipmap=False), X.astype(np.float32))
    assert_close(got["probabilities"], model.predict_proba(sp.csr_matrix(X)),
                 *TOLERANCE[np.float32])
    assert_labels_equal(model, X, got["label"], *TOLERANCE[np.float32])


# --- outputs: ZipMap, labels ----------------------------------------------------------------

@pytest.mark.parametrize("classes", [np.array(["ant", "bee", "cat"]), np.array([3, 7, 10]),
                                     np.array(["no", "yes"]), np.array([-1, 1]),
                                     np.array([0.0, 1.0, 2.0])],
                         ids=["str", "int", "str_binary", "int_binary", "whole_floats"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_zipmap_gives_dicts_keyed_by_class(classes, dtype):
    X, y = classification_data(len(classes))
    y = classes[y]
    model = cnet.MLPClassifier((5,), max_iter=20, random_state=0, dtype=dtype).fit(X, y)
    proto = model.to_onnx(dtype=dtype)
    onnx.checker.check_model(proto, full_check=True)
    got = run(proto, X.astype(dtype))
    assert list(got) == ["output_label", "output_probability"]
    label, dicts = got["output_label"], got["output_probability"]
    keys = classes.tolist() if classes.dtype.kind == "U" else classes.astype(int).tolist()
    assert isinstance(dicts, list) and len(dicts) == len(X)
    assert all(list(d) == keys for d in dicts)
    # ZipMap's values are float32 whatever the graph's dtype.
    assert_close(np.array([list(d.values()) for d in dicts]), model.predict_proba(X),
                 *TOLERANCE[np.float32])
    assert label.dtype.kind == ("O" if classes.dtype.kind == "U" else "i")
    assert_labels_equal(model, X, label.astype(classes.dtype), *TOLERANCE[np.float32])


def test_neural_net_with_object_labels_gives_strings():
    # A pandas column of strings: NeuralNet keeps its object dtype.
    X, y = classification_data(2)
    labels = np.array(["no", "yes"], dtype=object)[y]
    net = cnet.NeuralNet([5, 4, 1], learning_rate=0.05, iterations=30, random_state=0)
    net.fit(X, labels)
    got = run(net.to_onnx(), X.astype(np.float32))
    assert all(list(d) == ["no", "yes"] for d in got["output_probability"])
    assert_labels_equal(net, X, got["output_label"], *TOLERANCE[np.float32])


def test_zipmap_false_gives_label_and_probability_tensors():
    X, y = classification_data()
    labels = np.array(["ant", "bee", "cat"])[y]
    model = cnet.MLPClassifier((5,), max_iter=20, random_state=0).fit(X, labels)
    sess = session(model.to_onnx(zipmap=False))
    outputs = {o.name: o.type for o in sess.get_outputs()}
    assert outputs == {"label": "tensor(string)", "probabilities": "tensor(float)"}
    label, proba = sess.run(None, {"X": X.astype(np.float32)})
    assert proba.shape == (len(X), 3) and label.shape == (len(X),)


def test_multilabel_labels_are_indicators_and_zipmap_keys_label_indices():
    model, X = fitted("multilabel", "relu", np.float32)
    got = run(model.to_onnx(), X)
    assert got["output_label"].shape == (len(X), 3)
    assert all(list(d) == [0, 1, 2] for d in got["output_probability"])
    assert_close(np.array([list(d.values()) for d in got["output_probability"]]),
                 model.predict_proba(X), *TOLERANCE[np.float32])


def test_outputs_match_skl2onnxs_for_scikit_learns_mlp():
    # The same names, types and ranks as skl2onnx gives scikit-learn's MLPClassifier, so
    # serving code written for it reads cnet's model unchanged.
    from sklearn.neural_network import MLPClassifier
    X, y = classification_data()
    labels = np.array(["ant", "bee", "cat"])[y]
    ours = cnet.MLPClassifier((5,), max_iter=5, random_state=0).fit(X, labels)
    theirs = MLPClassifier((5,), max_iter=5, random_state=0).fit(X, labels)
    for zipmap in (True, False):
        a = session(ours.to_onnx(zipmap=zipmap))
        b = session(skl2onnx.to_onnx(theirs, X[:1].astype(np.float32),
                                     options={"zipmap": zipmap}))
        for side in ("get_inputs", "get_outputs"):
            assert [(o.name, o.type, len(o.shape)) for o in getattr(a, side)()] == \
                [(o.name, o.type, len(o.shape)) for o in getattr(b, side)()]


# --- pipelines through skl2onnx -------------------------------------------------------------

@pytest.mark.parametrize("zipmap", [True, False])
def test_skl2onnx_exports_a_pipeline_with_a_scaler(zipmap):
    X, y = classification_data()
    X = X * [1, 10, 100, 0.1, 1000]
    pipe = Pipeline([("scale", StandardScaler()),
                     ("mlp", cnet.MLPClassifier((6,), max_iter=30, random_state=0))]).fit(X, y)
    proto = skl2onnx.to_onnx(pipe, X[:1].astype(np.float32), options={"zipmap": zipmap})
    onnx.checker.check_model(proto, full_check=True)
    label, proba = session(proto).run(None, {"X": X.astype(np.float32)})
    if zipmap:
        proba = np.array([list(d.values()) for d in proba])
    # The scaler runs in float32 in the graph, in float64 in scikit-learn.
    assert_close(proba, pipe.predict_proba(X), 1e-5, 1e-4)
    assert_labels_equal(pipe, X, label, 1e-5, 1e-4)


_PIPELINE_SCRIPT = """
import numpy as np
from sklearn.datasets import load_iris
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler
{imports}
X, y = load_iris(return_X_y=True)
pipe = Pipeline([("scale", StandardScaler()),
                 ("mlp", MLPClassifier((4,), max_iter=5, random_state=0))]).fit(X, y)
model = skl2onnx.to_onnx(pipe, X[:1].astype(np.float32))
print(sorted(o.name for o in model.graph.output))
"""


@pytest.mark.parametrize("imports", ["from cnet import MLPClassifier\nimport skl2onnx",
                                     "import skl2onnx\nfrom cnet import MLPClassifier"],
                         ids=["cnet_first", "skl2onnx_first"])
def test_skl2onnx_knows_cnets_models_whichever_is_imported_first(imports, tmp_path):
    # A fresh interpreter: this one has imported both already. No import of cnet.onnx_export.
    env = {**os.environ, "PYTHONPATH": str(Path(cnet.__file__).parent.parent)}
    result = subprocess.run([sys.executable, "-W", "ignore", "-c",
                             _PIPELINE_SCRIPT.format(imports=imports)],
                            capture_output=True, text=True, env=env, cwd=tmp_path, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip() == "['output_label', 'output_probability']"


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_export_onnx_takes_pipelines_of_regressors_and_net(dtype):
    Xr, yr = make_regression(48, 5, random_state=0)
    # onnxruntime's Imputer has no double kernel: the float64 pipeline goes without.
    impute = [("impute", SimpleImputer())] if dtype == np.float32 else []
    if impute:
        Xr[::7, 1] = np.nan
    reg = Pipeline([*impute, ("scale", StandardScaler()),
                    ("mlp", cnet.MLPRegressor("poisson", (6,), max_iter=30,
                                              random_state=0))]).fit(Xr, np.abs(yr) / 100)
    got = run(export_onnx(reg, dtype=dtype), Xr.astype(dtype))
    atol, rtol = (1e-5, 1e-4) if dtype == np.float32 else (1e-12, 1e-10)
    assert_close(got["variable"].ravel(), reg.predict(Xr), atol, rtol)

    X, y = classification_data(2)
    net = Pipeline([("scale", StandardScaler()),
                    ("net", cnet.NeuralNet([5, 4, 1], iterations=30, activation="gelu"))])
    net.fit(X, y)
    got = run(export_onnx(net, dtype=dtype, zipmap=False), X.astype(dtype))
    assert_close(got["probabilities"], net.predict_proba(X), 1e-5, 1e-4)


def test_skl2onnx_options_nocl_and_columns():
    X, y = classification_data()
    model = cnet.MLPClassifier((5,), max_iter=10, random_state=0).fit(
        X, np.array(["ant", "bee", "cat"])[y])
    X32 = X.astype(np.float32)
    nocl = run(skl2onnx.to_onnx(model, X32[:1], options={"nocl": True, "zipmap": False}), X32)
    np.testing.assert_array_equal(model.classes_[nocl["label"]], model.predict(X))
    columns = run(skl2onnx.to_onnx(model, X32[:1], options={"zipmap": "columns"}), X32)
    assert_close(np.stack([columns[f"s{c}"] for c in model.classes_], axis=1),
                 model.predict_proba(X), *TOLERANCE[np.float32])


# --- files, loading, options ----------------------------------------------------------------

def test_path_writes_the_model_and_a_loaded_file_exports_the_same(tmp_path):
    model, X = fitted("multiclass", "silu", np.float32)
    target = tmp_path / "model.onnx"
    proto = model.to_onnx(target)
    assert onnx.load(target) == proto
    model.save(tmp_path / "model.npz")
    again = cnet.export_onnx(cnet.load(tmp_path / "model.npz"), tmp_path / "again.onnx")
    a, b = run(proto, X), run(again, X)
    np.testing.assert_array_equal(a["output_label"], b["output_label"])


@pytest.mark.parametrize("target_opset, version", [(13, 13), ({"": 15, "ai.onnx.ml": 1}, 15),
                                                   (None, 17)])
def test_target_opset(target_opset, version):
    model, X = fitted("binary", "elu", np.float32)
    proto = model.to_onnx(target_opset=target_opset, zipmap=False)
    assert {o.domain: o.version for o in proto.opset_import}[""] == version
    onnx.checker.check_model(proto, full_check=True)
    assert_close(run(proto, X)["probabilities"], model.predict_proba(X),
                 *TOLERANCE[np.float32])


@pytest.mark.parametrize("kwargs, message", [
    ({"dtype": np.int32}, "dtype must be"), ({"dtype": "float16"}, "dtype must be"),
    ({"zipmap": "yes"}, "zipmap must be"), ({"target_opset": 5}, "target_opset must be"),
    ({"target_opset": {"": 17, "com.example": 1}}, "target_opset must be"),
    ({"target_opset": {"": 17, "ai.onnx.ml": 0}}, "target_opset must be"),
    ({"target_opset": 17.0}, "target_opset must be"),
])
def test_bad_options_raise_value_error(kwargs, message):
    model, _ = fitted("binary", "relu", np.float32)
    with pytest.raises(ValueError, match=message):
        model.to_onnx(**kwargs)


def test_bad_models_raise():
    with pytest.raises(NotFittedError):
        cnet.MLPClassifier().to_onnx()
    with pytest.raises(NotFittedError):
        cnet.NeuralNet().to_onnx()
    X, y = classification_data()
    with pytest.raises(TypeError, match="cnet MLPClassifier"):
        export_onnx(LogisticRegression().fit(X, y))
    with pytest.raises(TypeError, match="must end in a cnet model"):
        export_onnx(Pipeline([("lr", LogisticRegression())]).fit(X, y))
    # A step skl2onnx has no converter for: its error, as one ValueError.
    from sklearn.preprocessing import FunctionTransformer
    odd = Pipeline([("odd", FunctionTransformer(np.log1p)),
                    ("mlp", cnet.MLPClassifier((3,), max_iter=5))]).fit(np.abs(X), y)
    with pytest.raises(ValueError, match="skl2onnx cannot export this pipeline"):
        export_onnx(odd)
    # cnet trains on no such labels (scikit-learn calls them continuous); a model whose
    # classes were set by hand may have them.
    model = cnet.MLPClassifier((3,), max_iter=5).fit(X, y)
    model.classes_ = np.array([0.5, 1.5, 2.5])
    for zipmap in (True, False):
        with pytest.raises(ValueError, match="integers or strings"):
            model.to_onnx(zipmap=zipmap)


def test_missing_onnx_says_how_to_install(monkeypatch):
    model, _ = fitted("binary", "relu", np.float32)
    monkeypatch.setitem(sys.modules, "onnx", None)    # import onnx now raises ImportError
    with pytest.raises(ImportError, match=r'pip install "cnet-mlp\[onnx\]"'):
        model.to_onnx()


def test_pipeline_with_encoded_text_columns_takes_one_input_per_column():
    # The command line's pipeline for a table with a text column: one-hot encoding beside
    # the numbers, imputation, scaling, the model.
    pd = pytest.importorskip("pandas", reason="the DataFrame pipeline needs pandas")
    from sklearn.compose import ColumnTransformer
    from sklearn.preprocessing import OneHotEncoder
    rng = np.random.RandomState(0)
    frame = pd.DataFrame({"a": rng.randn(40), "colour": rng.choice(["red", "green", "blue"], 40),
                          "b c": rng.randn(40)})
    labels = np.where(frame["a"] + (frame["colour"] == "red") > 0.3, "hi", "lo")
    encode = ColumnTransformer([("onehot", OneHotEncoder(handle_unknown="ignore",
                                                         sparse_output=False), ["colour"])],
                               remainder="passthrough", sparse_threshold=0)
    pipe = Pipeline([("encode", encode), ("impute", SimpleImputer()),
                     ("scale", StandardScaler()),
                     ("mlp", cnet.MLPClassifier((4,), max_iter=50, random_state=0))])
    pipe.fit(frame, labels)
    sess = session(export_onnx(pipe, zipmap=False))
    inputs = [(i.name, i.type) for i in sess.get_inputs()]
    assert inputs == [("a", "tensor(float)"), ("colour", "tensor(string)"),
                      ("b_c", "tensor(float)")]
    feed = {name: frame[column].to_numpy().astype(object if kind == "tensor(string)"
                                                  else np.float32).reshape(-1, 1)
            for (name, kind), column in zip(inputs, frame.columns)}
    label, proba = sess.run(None, feed)
    assert_close(proba, pipe.predict_proba(frame), 1e-5, 1e-4)
    assert_labels_equal(pipe, frame, label, 1e-5, 1e-4)


def test_a_registration_skl2onnx_refuses_warns_instead_of_breaking_its_import(monkeypatch):
    # The registration runs inside the user's own `import skl2onnx` (when cnet was imported
    # first): a skl2onnx whose API refuses it must not make that import fail.
    from cnet import _onnx_skl2onnx

    def refuse(classes):
        raise TypeError("update_registered_converter() got an unexpected keyword 'options'")

    monkeypatch.setattr(_onnx_skl2onnx, "register", refuse)
    monkeypatch.setattr(_onnx_skl2onnx, "_waiting", [cnet.MLPClassifier])
    with pytest.warns(RuntimeWarning, match="could not register"):
        _onnx_skl2onnx._register_waiting()
    assert _onnx_skl2onnx._waiting == [cnet.MLPClassifier]   # export_onnx tries again
