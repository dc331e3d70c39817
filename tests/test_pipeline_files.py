"""Pipelines in model files: a scikit-learn Pipeline of imputers, scalers and one-hot encoders
ending in a cnet model saves without pickle and loads as a Pipeline that transforms and
predicts bitwise as the saved one.

The expectation is always the saved pipeline itself (scikit-learn's own transform on the
same rows), compared exactly: the file holds the fitted numbers, not a refit.
"""
import io
import json
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import load_wine, make_regression
from sklearn.exceptions import ConvergenceWarning
from sklearn.impute import SimpleImputer
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import MinMaxScaler, StandardScaler

import cnet
from cnet import persistence

DATA = Path(__file__).parent / "data"


def _fit(pipeline, X, y):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return pipeline.fit(X, y)


def _wine(dtype=np.float64):
    X, y = load_wine(return_X_y=True)
    X = X.astype(dtype)
    X[::7, 3] = np.nan   # missing values for the imputer
    return X, np.array(["barolo", "grignolino", "barbera"])[y]


def _round_trip(pipeline, tmp_path, **kwargs):
    path = tmp_path / "pipeline.npz"
    persistence.save(pipeline, path, **kwargs)
    return cnet.load(path)


def _same_outputs(saved, loaded, X):
    """Every output of the pipeline, and of each transforming prefix, bitwise equal."""
    assert type(loaded) is Pipeline
    assert [name for name, _ in loaded.steps] == [name for name, _ in saved.steps]
    for end in range(1, len(saved.steps)):
        got, want = loaded[:end].transform(X), saved[:end].transform(X)
        assert got.dtype == want.dtype
        if want.dtype == object:   # numbers from an object array: NaN is NaN as a float
            got, want = got.astype(float), want.astype(float)
        np.testing.assert_array_equal(got, want)
    np.testing.assert_array_equal(loaded.predict(X), saved.predict(X))
    if hasattr(saved, "predict_proba"):
        np.testing.assert_array_equal(loaded.predict_proba(X), saved.predict_proba(X))


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_an_imputer_and_scalers_before_a_classifier_with_string_labels(dtype, tmp_path):
    X, y = _wine(dtype)
    saved = _fit(Pipeline([("impute", SimpleImputer()), ("minmax", MinMaxScaler()),
                           ("scale", StandardScaler()),
                           ("mlp", cnet.MLPClassifier((8,), max_iter=40, random_state=0,
                                                      dtype=dtype))]), X, y)
    loaded = _round_trip(saved, tmp_path)
    _same_outputs(saved, loaded, X)
    assert np.isnan(X).any()   # NaN rows went through the loaded imputer
    assert loaded.classes_.tolist() == ["barbera", "barolo", "grignolino"]
    for name in ("impute", "minmax", "scale"):
        for key, value in vars(saved.named_steps[name]).items():
            if key.endswith("_") and not key.startswith("_"):
                got = getattr(loaded.named_steps[name], key)
                if isinstance(value, np.ndarray):
                    np.testing.assert_array_equal(got, value.astype(got.dtype))
                    assert got.dtype == value.dtype or value.dtype == object
                else:
                    assert got == value, key
        assert loaded.named_steps[name].get_params() == saved.named_steps[name].get_params()


@pytest.mark.parametrize("strategy,fill", [("mean", None), ("median", None),
                                           ("most_frequent", None), ("constant", -1.5)])
def test_every_imputer_strategy_before_a_regressor(strategy, fill, tmp_path):
    X, y = make_regression(80, 4, random_state=0)
    X[::5, 1] = np.nan
    X[::3, 2] = np.nan
    saved = _fit(Pipeline([("impute", SimpleImputer(strategy=strategy, fill_value=fill)),
                           ("scale", StandardScaler(with_mean=False)),
                           ("mlp", cnet.MLPRegressor(hidden_layer_sizes=(6,), max_iter=30,
                                                     random_state=0))]), X, y / 100)
    _same_outputs(saved, _round_trip(saved, tmp_path), X)


def test_a_column_without_values_is_dropped_by_the_loaded_imputer_too(tmp_path):
    X, y = make_regression(40, 3, random_state=0)
    X[:, 1] = np.nan
    saved = _fit(Pipeline([("impute", SimpleImputer()),
                           ("mlp", cnet.MLPRegressor(hidden_layer_sizes=(3,), max_iter=5,
                                                     random_state=0))]), X, y)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)   # "Skipping features without any ..."
        loaded = _round_trip(saved, tmp_path)
        assert loaded[:1].transform(X).shape == (40, 2)
        _same_outputs(saved, loaded, X)


def test_dataframe_column_names_and_metadata_are_kept(tmp_path):
    X, y = _wine()
    frame = pd.DataFrame(np.nan_to_num(X), columns=[f"c{i}" for i in range(13)])
    saved = _fit(Pipeline([("scale", StandardScaler()),
                           ("mlp", cnet.NeuralNet(layers=[13, 5, 1], iterations=20,
                                                  random_state=0))]),
                 frame, y == "barolo")
    metadata = {"trained_by": "cnet train", "score": 0.97, "rows": 178,
                "options": {"hidden": [5], "scaled": True, "note": None}}
    loaded = _round_trip(saved, tmp_path, metadata=metadata)
    _same_outputs(saved, loaded, frame)
    np.testing.assert_array_equal(loaded.feature_names_in_, saved.feature_names_in_)
    assert loaded.feature_names_in_.dtype == object
    assert loaded.cnet_metadata_ == metadata
    info = persistence.read_info(tmp_path / "pipeline.npz")
    assert info["kind"] == "Pipeline" and info["estimator"] == "NeuralNet"
    assert info["steps"] == [("scale", "StandardScaler"), ("mlp", "NeuralNet")]
    assert info["feature_names"] == [f"c{i}" for i in range(13)]
    assert info["layers"] == [13, 5, 1] and info["metadata"] == metadata
    assert info["format_version"] == persistence.FORMAT_VERSION
    with pytest.raises(ValueError, match="column names|feature names"):
        loaded.predict(frame.rename(columns={"c0": "other"}))


def test_read_info_of_a_plain_model(tmp_path):
    X, y = _wine()
    model = _fit(cnet.MLPClassifier((4,), max_iter=5, random_state=0), np.nan_to_num(X), y)
    persistence.save(model, tmp_path / "m.npz", metadata={"a": 1})
    info = persistence.read_info(tmp_path / "m.npz")
    assert info["kind"] == "MLPClassifier" and info["steps"] == []
    assert info["classes"] == sorted(set(y)) and info["layers"] == [13, 4, 3]
    assert info["n_iter"] == 5 and info["loss"] == model.loss_curve_[-1]
    assert info["metadata"] == {"a": 1} and info["format_version"] == 2
    assert cnet.load(tmp_path / "m.npz").cnet_metadata_ == {"a": 1}
    assert not hasattr(cnet.load(_saved(model, tmp_path)), "cnet_metadata_")


def _saved(model, tmp_path):
    path = tmp_path / "plain.npz"
    persistence.save(model, path)
    return path


@pytest.mark.parametrize("metadata,match", [
    ([1], "must be a dict"),
    ({"a": float("nan")}, "not a finite number"),
    ({"a": np.float64(1.0)}, None),   # a float subclass: accepted
    ({"a": {"b": {"c": 1}}}, "nested"),
    ({1: "x"}, "keys are strings"),
    ({"a": object()}, "is a object"),
    ({"a": 2**70}, "beyond 64 bits"),
    ({"a": "x" * (5 * 2**20)}, "more than"),
])
def test_metadata_that_a_header_cannot_hold_is_refused_before_writing(metadata, match,
                                                                      tmp_path):
    X, y = _wine()
    model = _fit(cnet.MLPClassifier((3,), max_iter=2, random_state=0), np.nan_to_num(X), y)
    path = tmp_path / "m.npz"
    if match is None:
        persistence.save(model, path, metadata=metadata)
        assert cnet.load(path).cnet_metadata_ == {"a": 1.0}
        return
    with pytest.raises(ValueError, match=match):
        persistence.save(model, path, metadata=metadata)
    assert not path.exists()


def test_unsupported_steps_are_refused_naming_them(tmp_path):
    from sklearn.decomposition import PCA
    from sklearn.linear_model import LogisticRegression
    X, y = _wine()
    X = np.nan_to_num(X)
    path = tmp_path / "m.npz"
    pca = _fit(Pipeline([("pca", PCA(3)), ("mlp", cnet.MLPClassifier((3,), max_iter=2))]), X, y)
    with pytest.raises(TypeError, match="step 'pca' \\(PCA\\)"):
        persistence.save(pca, path)
    other = _fit(Pipeline([("scale", StandardScaler()), ("lr", LogisticRegression())]), X, y)
    with pytest.raises(TypeError, match="ending in LogisticRegression"):
        persistence.save(other, path)
    unfitted = Pipeline([("scale", StandardScaler()), ("mlp", cnet.MLPClassifier())])
    with pytest.raises(ValueError, match="not fitted"):
        persistence.save(unfitted, path)
    indicator = _fit(Pipeline([("impute", SimpleImputer(add_indicator=True)),
                               ("mlp", cnet.MLPClassifier((3,), max_iter=2))]), X, y)
    with pytest.raises(TypeError, match="add_indicator"):
        persistence.save(indicator, path)
    with pytest.raises(TypeError, match="cannot save a dict"):
        persistence.save({}, path)
    assert not path.exists()


def test_cnet_save_is_persistence_save(tmp_path):
    X, y = _wine()
    saved = _fit(Pipeline([("impute", SimpleImputer()), ("mlp", cnet.MLPClassifier(
        (3,), max_iter=2, random_state=0))]), X, y)
    cnet.save(saved, tmp_path / "m.npz")
    _same_outputs(saved, cnet.load(tmp_path / "m.npz"), X)


def test_a_version_2_reader_would_refuse_a_pipeline_file(tmp_path):
    # The version is what keeps an older cnet from loading the model without its scaler.
    X, y = _wine()
    saved = _fit(Pipeline([("impute", SimpleImputer()), ("mlp", cnet.MLPClassifier(
        (3,), max_iter=2, random_state=0))]), X, y)
    persistence.save(saved, tmp_path / "m.npz")
    with np.load(tmp_path / "m.npz", allow_pickle=False) as archive:
        header = json.loads(archive["header"].tobytes())
    assert header["format_version"] == 3 > 2
    header["format_version"] = 2
    import hostile_files as hf
    members = hf.with_header(hf.members_of((tmp_path / "m.npz").read_bytes()), header)
    with pytest.raises(ValueError, match="pipeline, which format version 2 does not"):
        cnet.load(io.BytesIO(hf.archive(members)))


def _table(n=150, seed=0):
    """Strings, integers and floats with gaps, as a CSV gives them."""
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame({"colour": rng.choice(["red", "green", "blue"], n),
                          "size": rng.normal(size=n), "grade": rng.choice([1, 2, 5], n),
                          "weight": rng.normal(size=n)})
    frame.loc[::9, "size"] = np.nan
    return frame, np.where(frame["weight"] + (frame["colour"] == "red") > 0.5, "hi", "lo")


def _encoding_pipeline(sparse, handle_unknown="ignore", drop=None, estimator=None):
    from sklearn.compose import ColumnTransformer
    from sklearn.preprocessing import OneHotEncoder
    encode = ColumnTransformer(
        [("onehot", OneHotEncoder(handle_unknown=handle_unknown, sparse_output=sparse,
                                  drop=drop), ["colour", "grade"]),
         ("num", StandardScaler(), ["weight"])],
        remainder="passthrough", sparse_threshold=0.8)
    return Pipeline([("encode", encode), ("impute", SimpleImputer(strategy="median")),
                     ("scale", StandardScaler(with_mean=not sparse)),
                     ("mlp", estimator or cnet.MLPClassifier((6,), max_iter=40,
                                                             random_state=0))])


def _dense(x):
    return x.toarray() if hasattr(x, "toarray") else x


@pytest.mark.parametrize("sparse,drop", [(False, None), (True, None), (False, "if_binary"),
                                         (False, "first")])
def test_one_hot_columns_and_unknown_categories(sparse, drop, tmp_path):
    frame, y = _table()
    saved = _fit(_encoding_pipeline(sparse, drop=drop), frame, y)
    loaded = _round_trip(saved, tmp_path)
    unseen = frame.copy()
    unseen.loc[:4, "colour"] = "purple"    # handle_unknown="ignore": all zeros
    unseen.loc[5:9, "grade"] = 7
    for X in (frame, unseen, frame.iloc[::-1, ::-1]):   # columns found by name
        for end in (1, 2, 3):
            got, want = loaded[:end].transform(X), saved[:end].transform(X)
            assert type(got) is type(want)
            np.testing.assert_array_equal(_dense(got), _dense(want))
        np.testing.assert_array_equal(loaded.predict_proba(X), saved.predict_proba(X))
        np.testing.assert_array_equal(loaded.predict(X), saved.predict(X))
    encoder = loaded.named_steps["encode"]
    want = saved.named_steps["encode"]
    assert encoder.sparse_output_ == want.sparse_output_
    assert encoder.output_indices_ == want.output_indices_
    for got, expected in zip(encoder.named_transformers_["onehot"].categories_,
                             want.named_transformers_["onehot"].categories_):
        assert got.dtype == expected.dtype
        np.testing.assert_array_equal(got, expected)
    assert repr(encoder) == repr(want)
    np.testing.assert_array_equal(encoder.get_feature_names_out(), want.get_feature_names_out())
    np.testing.assert_array_equal(loaded.feature_names_in_, frame.columns)


def test_an_unknown_category_is_refused_as_the_saved_encoder_refuses_it(tmp_path):
    frame, y = _table()
    saved = _fit(_encoding_pipeline(False, handle_unknown="error"), frame, y)
    loaded = _round_trip(saved, tmp_path)
    unseen = frame.copy()
    unseen.loc[0, "colour"] = "purple"
    for pipeline in (saved, loaded):
        with pytest.raises(ValueError, match="unknown categor"):
            pipeline.predict(unseen)


def test_one_hot_columns_before_a_regressor_fitted_on_an_array(tmp_path):
    from sklearn.compose import ColumnTransformer
    from sklearn.preprocessing import OneHotEncoder
    frame, _ = _table()
    X = frame.to_numpy(dtype=object)   # no column names: columns by number
    y = frame["weight"].to_numpy() * 2
    saved = _fit(Pipeline([("encode", ColumnTransformer(
        [("onehot", OneHotEncoder(handle_unknown="ignore", categories=[
            ["red", "green", "blue", "white"]]), [0]), ("drop", "drop", [2])],
        remainder="passthrough")), ("impute", SimpleImputer()),
        ("mlp", cnet.MLPRegressor(hidden_layer_sizes=(4,), max_iter=30, random_state=0))]),
        X, y)
    loaded = _round_trip(saved, tmp_path)
    _same_outputs(saved, loaded, X)
    encoder = loaded.named_steps["encode"].named_transformers_["onehot"]
    assert encoder.categories_[0].tolist() == ["red", "green", "blue", "white"]
    assert encoder.categories == [["red", "green", "blue", "white"]] or \
        [c.tolist() for c in encoder.categories] == [["red", "green", "blue", "white"]]


def test_encoder_states_the_file_cannot_hold_are_refused(tmp_path):
    from sklearn.compose import ColumnTransformer
    from sklearn.preprocessing import FunctionTransformer, OneHotEncoder
    frame, y = _table()
    path = tmp_path / "m.npz"
    gaps = frame.copy()
    gaps.loc[0, "colour"] = None
    cases = [
        (gaps, OneHotEncoder(), "colour", ValueError, "missing values"),
        (frame, OneHotEncoder(min_frequency=5), "colour", TypeError, "infrequent"),
        (frame, FunctionTransformer(), "weight", TypeError, "FunctionTransformer"),
    ]
    for X, inner, column, error, match in cases:
        saved = _fit(Pipeline([("encode", ColumnTransformer([("inner", inner, [column])])),
                               ("mlp", cnet.MLPClassifier((3,), max_iter=2))]), X, y)
        with pytest.raises(error, match=match):
            persistence.save(saved, path)
        assert not path.exists()
    remainder = _fit(Pipeline([("encode", ColumnTransformer(
        [("onehot", OneHotEncoder(), ["colour"])], remainder=StandardScaler())),
        ("impute", SimpleImputer()), ("mlp", cnet.MLPClassifier((3,), max_iter=2))]), frame, y)
    with pytest.raises(TypeError, match="remainder"):
        persistence.save(remainder, path)


@pytest.mark.parametrize("name", ["MLPClassifier", "MLPRegressor", "NeuralNet"])
def test_files_of_format_2_written_before_pipelines_still_load(name):
    # Written by the cnet before format 3 (string labels, class_weight, DataFrame column
    # names, float32); the expected outputs were computed by the model that wrote them.
    expected = np.load(DATA / "format2_expected.npz")
    loaded = cnet.load(DATA / f"format2_{name.lower()}.npz")
    assert type(loaded).__name__ == name
    X = expected["X"]
    if name == "MLPClassifier":
        X = pd.DataFrame(X, columns=["alpha", "beta", "gamma"])
        assert loaded.classes_.tolist() == ["maybe", "no", "yes"]
        got = loaded.predict_proba(X)
    elif name == "NeuralNet":
        got = loaded.predict_proba(pd.DataFrame(X, columns=["alpha", "beta", "gamma"]).astype(
            np.float32))
    else:
        got = loaded.predict(X)
    # One compiled build wrote them; another (AVX2, AVX-512: FMA) may round the last bit
    # differently: equal to the dtype's rounding, not bitwise.
    rtol = 1e-5 if name == "NeuralNet" else 1e-12
    np.testing.assert_allclose(got, expected[name.lower()], rtol=rtol, atol=rtol * 1e-3)
    assert persistence.read_info(DATA / f"format2_{name.lower()}.npz")["format_version"] == 2
