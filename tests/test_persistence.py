"""Models on disk: identical predictions after a round trip, and clear errors for bad files."""
import json
import warnings
from pathlib import Path

import numpy as np
import pytest
from sklearn.datasets import load_digits, make_moons, make_regression
from sklearn.exceptions import ConvergenceWarning

import cnet


def _models():
    X, y = make_moons(200, noise=0.2, random_state=0)
    Xd, yd = load_digits(return_X_y=True)
    Xd, yd = Xd[:300] / 16, yd[:300]
    Xr, yr = make_regression(150, 5, n_targets=2, random_state=0)
    labels = np.array(["no", "yes"])[y]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return [
            (cnet.NeuralNet(layers=[2, 6, 1], iterations=50, learning_rate=0.1,
                            random_state=0).fit(X, labels), X),
            (cnet.NeuralNet(layers=[2, 4, 1], iterations=20,
                            random_state=0).fit(X.astype(np.float32), y), X),
            (cnet.MLPClassifier((16,), max_iter=20, random_state=0).fit(Xd, yd), Xd),
            (cnet.MLPClassifier((8,), max_iter=10, solver="sgd",
                                random_state=0).fit(X, labels), X),
            (cnet.MLPClassifier((8,), max_iter=10, random_state=0).fit(
                Xd, np.stack([yd > 4, yd % 2 == 0], axis=1).astype(int)), Xd),
            (cnet.MLPRegressor(hidden_layer_sizes=(8,), max_iter=10,
                               random_state=0).fit(Xr, yr / 100), Xr),
            (cnet.MLPRegressor(hidden_layer_sizes=(8,), max_iter=10, random_state=0,
                               dtype="float32").fit(Xr, yr[:, 0] / 100), Xr),
        ]


MODELS = _models()


@pytest.mark.parametrize("model,X", MODELS, ids=lambda m: type(m).__name__)
def test_round_trip_predicts_identically(model, X, tmp_path):
    path = tmp_path / "model.npz"
    model.save(path)
    loaded = cnet.load(path)
    assert type(loaded) is type(model) and loaded.get_params() == model.get_params()
    np.testing.assert_array_equal(loaded.predict(X), model.predict(X))
    assert loaded.summary() == model.summary()
    if hasattr(model, "predict_proba"):
        np.testing.assert_array_equal(loaded.predict_proba(X), model.predict_proba(X))


def test_training_continues_after_loading_as_in_memory(tmp_path):
    X, y = make_moons(200, noise=0.2, random_state=1)
    params = dict(hidden_layer_sizes=(8,), max_iter=5, warm_start=True, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model = cnet.MLPClassifier(**params).fit(X, y)
        model.save(tmp_path / "m.npz")
        loaded = cnet.load(tmp_path / "m.npz")
        model.fit(X, y)
        loaded.fit(X, y)   # weights, Adam's moments and step count all came back
    for a, b in zip(model.coefs_, loaded.coefs_):
        np.testing.assert_array_equal(a, b)


@pytest.fixture
def saved(tmp_path):
    path = tmp_path / "model.npz"
    MODELS[2][0].save(path)
    return path


def test_truncated_files_give_a_clear_error(saved, tmp_path):
    data = saved.read_bytes()
    for tenth in range(10):
        cut = tmp_path / f"cut{tenth}.npz"
        cut.write_bytes(data[:len(data) * tenth // 10])
        with pytest.raises(ValueError, match="not a readable cnet model|not a cnet model"):
            cnet.load(cut)


def _rewrite(path, change):
    """Rewrite the archive at path with change(arrays, header) applied."""
    with np.load(path, allow_pickle=False) as f:
        arrays = {k: f[k] for k in f.files}
    header = json.loads(arrays.pop("header").tobytes())
    change(arrays, header)
    arrays["header"] = np.frombuffer(json.dumps(header).encode(), dtype=np.uint8)
    with open(path, "wb") as file:
        np.savez(file, **arrays)


@pytest.mark.parametrize("change,match", [
    (lambda a, h: h.update(format_version=99), "newer than this cnet"),
    (lambda a, h: h.update(format="something"), "not a cnet model"),
    (lambda a, h: a.update(params=a["params"][:-1]), "header says"),
    (lambda a, h: (a.update(params=a["params"][:-1]),
                   h["arrays"].update(params=[[a["params"].size], a["params"].dtype.str])),
     "does not fit layers"),
    (lambda a, h: h["params"].update(no_such_parameter=1), "do not fit"),
    (lambda a, h: h.update({"class": "os.system"}), "unknown model class"),
    (lambda a, h: a.update(extra=np.zeros(3)), "do not match"),
])
def test_tampered_files_give_a_clear_error(saved, change, match):
    _rewrite(saved, change)
    with pytest.raises(ValueError, match=match):
        cnet.load(saved)


def test_pickled_arrays_are_refused_and_never_unpickled(saved, tmp_path):
    class Boom:
        def __reduce__(self):
            return (pytest.fail, ("unpickled a stranger's object",))
    with np.load(saved, allow_pickle=False) as f:
        arrays = {k: f[k] for k in f.files}
    arrays["classes"] = np.array([Boom()], dtype=object)
    evil = tmp_path / "evil.npz"
    with open(evil, "wb") as file:
        np.savez(file, **arrays)
    with pytest.raises(ValueError, match="'classes' has dtype object"):
        cnet.load(evil)


def test_not_a_model_and_unfitted(tmp_path):
    with pytest.raises(ValueError, match="not fitted"):
        cnet.MLPClassifier().save(tmp_path / "never-written.npz")
    with pytest.raises(ValueError, match="not a readable cnet model"):
        cnet.load(__file__)   # a Python file, not an archive
    plain = tmp_path / "plain.npz"
    np.savez(plain, W1=np.ones(3))
    with pytest.raises(ValueError, match="no header"):
        cnet.load(plain)


def test_only_registered_model_classes_are_saved(tmp_path):
    class Mine(cnet.MLPClassifier):   # a subclass may not be importable where it is loaded
        pass
    X, y = make_moons(50, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model = Mine((4,), max_iter=2).fit(X, y)
    with pytest.raises(TypeError, match=r"cannot save a Mine; cnet saves \['MLPClassifier', "
                                        r"'MLPRegressor', 'NeuralNet'\]"):
        model.save(tmp_path / "mine.npz")
    assert not (tmp_path / "mine.npz").exists()


def test_a_second_class_of_a_registered_name_is_refused():
    from cnet.persistence import register_model

    class MLPClassifier(cnet.MLPClassifier):   # same name, another class: files would be ambiguous
        pass
    with pytest.raises(ValueError, match="'MLPClassifier' is already registered"):
        register_model(MLPClassifier)
    assert register_model(cnet.MLPClassifier) is cnet.MLPClassifier   # re-registering is fine


# --- what save must accept, and what a round trip must keep ------------------------------------

@pytest.mark.parametrize("labels,class_weight", [
    (np.array([0, 1]), {0: 1.0, 1: 3}),
    (np.array(["no", "yes"]), {"no": 0.5, "yes": 2.0}),
    (np.array(["no", "yes"], dtype=object), {"no": 1, "yes": 4}),
], ids=["int labels", "string labels", "object labels"])
def test_class_weight_dicts_are_saved_and_loaded(labels, class_weight, tmp_path):
    X, y = make_moons(100, noise=0.2, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model = cnet.MLPClassifier((6,), max_iter=5, random_state=0,
                                   class_weight=class_weight).fit(X, labels[y])
    model.save(tmp_path / "m.npz")
    loaded = cnet.load(tmp_path / "m.npz")
    assert loaded.class_weight == class_weight
    assert [type(k) for k in loaded.class_weight] == [type(k) for k in class_weight]
    np.testing.assert_array_equal(loaded.predict(X), model.predict(X))
    np.testing.assert_array_equal(loaded.predict_proba(X), model.predict_proba(X))


def test_neural_net_on_string_labels_in_an_object_array_is_saved(tmp_path):
    pd = pytest.importorskip("pandas")
    X, y = make_moons(100, noise=0.2, random_state=0)
    labels = pd.Series(np.array(["blue", "red"])[y], dtype=object)   # what pandas gives
    net = cnet.NeuralNet(layers=[2, 4, 1], iterations=20, random_state=0).fit(X, labels)
    assert net.classes_.dtype == object
    net.save(tmp_path / "n.npz")
    loaded = cnet.load(tmp_path / "n.npz")
    assert loaded.classes_.tolist() == ["blue", "red"]
    assert loaded.predict(X).tolist() == net.predict(X).tolist()
    np.testing.assert_array_equal(loaded.predict_proba(X), net.predict_proba(X))


@pytest.mark.parametrize("make", [
    lambda: cnet.MLPClassifier((8,), max_iter=20, random_state=0),
    lambda: cnet.MLPRegressor(hidden_layer_sizes=(8,), max_iter=20, random_state=0),
    lambda: cnet.NeuralNet(layers=[13, 4, 1], iterations=20, random_state=0),
], ids=["MLPClassifier", "MLPRegressor", "NeuralNet"])
def test_feature_names_are_kept_and_checked_after_loading(make, tmp_path):
    pd = pytest.importorskip("pandas")
    from sklearn.datasets import load_wine
    wine = load_wine(as_frame=True)
    X = (wine.data - wine.data.mean()) / wine.data.std()
    y = wine.target if not isinstance(make(), cnet.NeuralNet) else (wine.target > 0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model = make().fit(X, y.astype(float) if isinstance(make(), cnet.MLPRegressor) else y)
    reordered = X[X.columns[::-1]]
    with pytest.raises(ValueError, match="feature names should match") as before:
        model.predict(reordered)
    model.save(tmp_path / "m.npz")
    loaded = cnet.load(tmp_path / "m.npz")
    np.testing.assert_array_equal(loaded.feature_names_in_, model.feature_names_in_)
    assert loaded.feature_names_in_.dtype == object
    with pytest.raises(ValueError, match="feature names should match") as after:
        loaded.predict(reordered)
    assert str(after.value) == str(before.value)
    with warnings.catch_warnings():
        warnings.simplefilter("error")   # no "X does not have valid feature names" either
        np.testing.assert_array_equal(loaded.predict(X), model.predict(X))


DATA = Path(__file__).parent / "data"


@pytest.mark.parametrize("name", ["MLPClassifier", "MLPRegressor", "NeuralNet"])
def test_files_of_format_1_still_load(name):
    # Written by cnet's save before format 2 (feature_names_in, dict parameters); the
    # expected outputs were computed by the model that wrote them.
    expected = np.load(DATA / "format1_expected.npz")
    loaded = cnet.load(DATA / f"format1_{name.lower()}.npz")
    assert type(loaded).__name__ == name
    got = loaded.predict(expected["X"]) if name == "MLPRegressor" else loaded.predict_proba(
        expected["X"])
    # The expected outputs came from one compiled build; another (AVX2, AVX-512: FMA) may round
    # the last bit differently, so equal to float64 rounding, not bitwise.
    np.testing.assert_allclose(got, expected[name], rtol=1e-12, atol=1e-15)


def test_a_version_1_reader_is_told_to_upgrade_by_new_files(saved):
    # Format 2 files may hold feature names a version 1 reader would drop without a word.
    with np.load(saved, allow_pickle=False) as f:
        assert json.loads(f["header"].tobytes())["format_version"] == 2
