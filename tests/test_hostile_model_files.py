"""Model files from strangers: memory bombs, tampered headers, inconsistent models.

Each file here is one an attacker (or a damaged disk) could hand to ``cnet.load``. The outcome
must be a ``ValueError`` naming the problem, never another exception, a crash, a huge
allocation or a model that predicts something else. Peak memory is measured with tracemalloc
(numpy reports its allocations to it); ``scripts/load_bounds.py`` prints time and RSS of the
same files.
"""
import io
import json
import tracemalloc
import warnings
import zipfile

import numpy as np
import pytest
from hostile_files import (archive, big_endian, bomb_archive, header_of, many_members,
                           members_of, npy_bytes, npy_header, with_array, with_header)
from sklearn.datasets import make_moons, make_regression
from sklearn.exceptions import ConvergenceWarning

import cnet

# Beyond the model's own arrays (a few KB here), what loading any of these may allocate.
PEAK_BYTES = 100 * 2**20


def _fit(model, X, y):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return model.fit(X, y)


X, y = make_moons(80, noise=0.2, random_state=0)
Xm = np.c_[X, X[:, :1] * X[:, 1:]]
ym = (np.arange(80) % 3)
Xr, yr = make_regression(80, 3, random_state=0)
MODELS = {
    "binary": (_fit(cnet.MLPClassifier((5,), max_iter=3, random_state=0), X, y), X),
    "multiclass": (_fit(cnet.MLPClassifier((5,), max_iter=3, random_state=0), Xm, ym), Xm),
    "regressor": (_fit(cnet.MLPRegressor(hidden_layer_sizes=(5,), max_iter=3, random_state=0),
                       Xr, yr / 100), Xr),
    "poisson": (_fit(cnet.MLPRegressor(loss="poisson", hidden_layer_sizes=(5,), max_iter=3,
                                       random_state=0), Xr, np.abs(yr) / 100), Xr),
    "neuralnet": (_fit(cnet.NeuralNet(layers=[2, 4, 1], iterations=3, random_state=0), X,
                       np.array(["no", "yes"])[y]), X),
}


def _file_bytes(kind, tmp_path):
    path = tmp_path / f"{kind}.npz"
    MODELS[kind][0].save(path)
    return path.read_bytes()


def _refused(tmp_path, data, match):
    """Load ``data`` written to a file: a ValueError matching ``match``, within PEAK_BYTES."""
    path = tmp_path / "hostile.npz"
    path.write_bytes(data)
    tracemalloc.start()
    try:
        with pytest.raises(ValueError, match=match) as caught:
            cnet.load(path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < PEAK_BYTES, f"loading took {peak / 2**20:.0f} MiB"
    assert len(str(caught.value)) < 500, "the message should be short"
    return caught.value


def _predicts_as_saved(kind, loaded):
    model, Xk = MODELS[kind]
    np.testing.assert_array_equal(loaded.predict(Xk), model.predict(Xk))
    if hasattr(model, "predict_proba"):
        np.testing.assert_array_equal(loaded.predict_proba(Xk), model.predict_proba(Xk))


# --- 9: memory bombs ---------------------------------------------------------------------------

def test_an_undeclared_deflate_bomb_member_is_refused_before_it_is_inflated(tmp_path):
    members = members_of(_file_bytes("binary", tmp_path))
    data = bomb_archive(members, "junk.npy", npy_header((2**24,), "<f8"), 2**27)
    assert len(data) < 2**20   # 128 MiB of zeros in under 1 MiB (scripts/load_bounds.py: 1 GiB)
    _refused(tmp_path, data, "claim .* bytes uncompressed")


def test_a_declared_member_inflating_past_the_file_is_refused(tmp_path):
    # params of the right length for layers the header was changed to, but 80 MB of zeros
    members = members_of(_file_bytes("binary", tmp_path))
    header = header_of(members)
    layers = [2, 2_500_000, 1]
    header["fitted"]["layers"] = layers
    header["params"]["hidden_layer_sizes"] = {"tuple": [layers[1]]}
    n = 4 * layers[1] + 1
    header["arrays"]["params"] = [[n], "<f8"]
    header["arrays"]["optimizer_state"] = [[2, n], "<f8"]
    members = [(name, d) for name, d in with_header(members, header) if name != "params.npy"]
    data = bomb_archive(members, "params.npy", npy_header((n,), "<f8"), 8 * n)
    _refused(tmp_path, data, "claim .* bytes uncompressed")


def test_a_huge_declared_classes_array_is_refused_by_the_architecture(tmp_path):
    members = members_of(_file_bytes("binary", tmp_path))
    header = header_of(members)
    header["arrays"]["classes"] = [[10**9], "<i8"]
    _refused(tmp_path, archive(with_header(members, header)),
             "1000000000 classes do not fit 1 output unit")
    header["arrays"]["classes"] = [[10**30], "<i8"]   # beyond any integer type
    _refused(tmp_path, archive(with_header(members, header)), "not \\[shape, dtype\\]")


def test_a_huge_classes_member_is_refused_before_it_is_read(tmp_path):
    members = [(n, d) for n, d in members_of(_file_bytes("binary", tmp_path))
               if n != "classes.npy"]
    data = bomb_archive(members, "classes.npy", npy_header((2**22,), "<i8"), 2**25)
    _refused(tmp_path, data, "member 'classes' takes .* bytes uncompressed")


def test_a_huge_zip_directory_is_refused_without_parsing_it(tmp_path):
    members = members_of(_file_bytes("binary", tmp_path))
    _refused(tmp_path, many_members(members, 2_000), "its zip directory takes .* bytes")


def test_a_huge_header_is_refused(tmp_path):
    members = members_of(_file_bytes("binary", tmp_path))
    header = header_of(members)
    header["fitted"]["loss_curve_"] = [0.5] * 1_500_000   # 7.5 MB of JSON
    _refused(tmp_path, archive(with_header(members, header)),
             "member 'header' takes .* bytes uncompressed")
    header["fitted"]["loss_curve_"] = [[]] * 20_000   # 60 kB, but 20,000 lists to build
    _refused(tmp_path, archive(with_header(members, header)), "more than 10000 lists")


def test_an_npy_header_of_a_huge_array_in_a_small_member_is_refused(tmp_path):
    members = members_of(_file_bytes("binary", tmp_path))
    lying = npy_header((2**40,), "<f8") + b"\0" * 64
    members = [(n, lying if n == "params.npy" else d) for n, d in members]
    _refused(tmp_path, archive(members), "params")


# --- 10: tampered headers and things that are not model files ---------------------------------

def test_not_model_files_give_a_clear_value_error(tmp_path):
    cases = {
        "plain.npy": (npy_bytes(np.ones(3)), "single .npy array"),
        "empty.npz": (b"", "empty"),
        "text.npz": (b"hello, this is not a zip file at all" * 10, "no zip directory"),
        "zip-of-text.npz": (archive([("readme.txt", b"hi")]), "not .npy arrays"),
        "zip-no-header.npz": (archive([("params.npy", npy_bytes(np.ones(3)))]), "no header"),
    }
    for name, (data, match) in cases.items():
        path = tmp_path / name
        path.write_bytes(data)
        with pytest.raises(ValueError, match=match):
            cnet.load(path)
    with pytest.raises(ValueError, match="is a directory"):
        cnet.load(tmp_path)
    with pytest.raises(ValueError, match="No such file"):
        cnet.load(tmp_path / "missing.npz")
    with pytest.raises(ValueError, match="not a regular file"):
        cnet.load("/dev/zero")


def _header_mutations():
    """(description, change(header), message) for tampered headers."""
    def setter(path, value):
        def change(header):
            target = header
            for key in path[:-1]:
                target = target[key]
            target[path[-1]] = value
        return change

    def deleter(path):
        def change(header):
            target = header
            for key in path[:-1]:
                target = target[key]
            del target[path[-1]]
        return change

    return [
        ("nested parameter", setter(("params", "alpha"), [[[[[[1]]]]]]), "nested too deeply"),
        ("huge integer", setter(("fitted", "n_iter_"), 10**40), "fitted.n_iter_ .* not an int"),
        ("negative count", setter(("fitted", "t_"), -5), "fitted.t_ .* not an int"),
        ("float count", setter(("fitted", "steps"), 2.5), "fitted.steps .* not an int"),
        ("infinite rate", setter(("fitted", "learning_rate_now"), float("inf")),
         "learning_rate_now .* not a finite number"),
        ("rate beyond floats", setter(("fitted", "learning_rate_now"), 10**400),
         "learning_rate_now .* not a finite number"),
        ("weight beyond floats", setter(("params", "class_weight"), {"dict": [[0, 10**400]]}),
         "class_weight's weights"),
        ("NaN", setter(("fitted", "best_loss_"), float("nan")), "holds NaN"),
        ("string layers", setter(("fitted", "layers"), "2,5,1"), "fitted.layers"),
        ("object layers", setter(("fitted", "layers"), [{"a": 1}, 2]), "fitted.layers"),
        ("zero layer", setter(("fitted", "layers"), [2, 0, 1]), "fitted.layers"),
        ("no layers", deleter(("fitted", "layers")), "fitted.layers"),
        ("no fitted", deleter(("fitted",)), "fitted is None, not a JSON object"),
        ("fitted list", setter(("fitted",), []), "fitted is \\[\\], not a JSON object"),
        ("params list", setter(("params",), [1]), "params is \\[1\\], not a JSON object"),
        ("arrays string", setter(("arrays",), "x"), "arrays is 'x'"),
        ("array entry", setter(("arrays", "params"), 5), "entry for array 'params'"),
        ("array dtype", setter(("arrays", "params"), [[58], "O"]), "dtype 'O'"),
        ("array dtype int", setter(("arrays", "params"), [[58], "<i8"]), "dtype '<i8'"),
        ("structured dtype", setter(("arrays", "params"), [[58], [["a", "<f8"]]]),
         "entry for array 'params'"),
        ("version string", setter(("format_version",), "1"), "format_version"),
        ("version bool", setter(("format_version",), True), "format_version"),
        ("version zero", setter(("format_version",), 0), "format_version"),
        ("class list", setter(("class",), ["MLPClassifier"]), "unknown model class"),
        ("class missing", deleter(("class",)), "unknown model class"),
        ("dtype", setter(("dtype",), "float16"), "not float32 or float64"),
        ("dtype list", setter(("dtype",), []), "dtype is \\[\\]"),
        ("unknown tuple object", setter(("params", "hidden_layer_sizes"), {"x": 1}),
         "neither a tuple nor a dict"),
        ("bad dict encoding", setter(("params", "class_weight"), {"dict": [[[0], 1]]}),
         "label, value"),
        ("label type", setter(("fitted", "label_type"), 3), "label_type"),
        ("label type name", setter(("fitted", "label_type"), "continuous"), "label_type"),
        ("seed", setter(("fitted", "seed"), "0"), "fitted.seed"),
        ("loss curve", setter(("fitted", "loss_curve_"), {"a": 1}), "loss_curve_"),
        ("loss values", setter(("fitted", "loss_curve_"), [0.1, "x"]), "loss_curve_"),
        ("has optimizer", setter(("fitted", "has_optimizer"), "yes"), "has_optimizer"),
        ("features", setter(("fitted", "n_features_in_"), 3), "n_features_in_ 3"),
        ("batch", setter(("fitted", "batch_size_used"), 0), "batch_size_used"),
        ("out activation type", setter(("fitted", "out_activation"), 1), "out_activation"),
    ]


@pytest.mark.parametrize("what,change,match", _header_mutations(),
                         ids=[m[0] for m in _header_mutations()])
def test_tampered_header_fields_give_a_value_error_naming_them(what, change, match, tmp_path):
    members = members_of(_file_bytes("binary", tmp_path))
    header = header_of(members)
    change(header)
    _refused(tmp_path, archive(with_header(members, header)), match)


def test_a_header_that_is_not_utf8_json_is_refused(tmp_path):
    members = members_of(_file_bytes("binary", tmp_path))
    for raw, match in [(b"\xff\xfe{}", "header is damaged"), (b"{\"format\": ", "damaged"),
                       (b"[]", "not a cnet model file"), (b"null", "not a cnet model file"),
                       (b"1" * 5000, "damaged"),   # longer than Python converts to an int
                       (b"[" * 5000 + b"]" * 5000, "damaged"),   # deeper than the parser goes
                       (b"[" * 900 + b"]" * 900, "not a cnet model file")]:
        _refused(tmp_path, archive(with_header(members, raw)), match)
    as_floats = [(n, npy_bytes(np.ones(3)) if n == "header.npy" else d) for n, d in members]
    _refused(tmp_path, archive(as_floats), "'header' has dtype float64")
    as_matrix = [(n, npy_bytes(np.zeros((2, 2), np.uint8)) if n == "header.npy" else d)
                 for n, d in members]
    _refused(tmp_path, archive(as_matrix), "'header' has shape \\(2, 2\\)")


def test_zip_level_damage_is_a_value_error(tmp_path):
    data = _file_bytes("binary", tmp_path)
    members = members_of(data)
    encrypted = bytearray(data)
    # The general-purpose flag of every central directory entry: bit 0 means encrypted.
    at = encrypted.find(b"PK\x01\x02")
    encrypted[at + 8] |= 1
    _refused(tmp_path, bytes(encrypted), "encrypted")
    bzip = bytearray(data)
    bzip[at + 10] = 12   # the compression method: bzip2
    _refused(tmp_path, bytes(bzip), "compressed with method 12")
    flipped = bytearray(data)
    flipped[data.find(b"params.npy") + 200] ^= 0x40   # a byte of the parameters: CRC fails
    _refused(tmp_path, bytes(flipped), "member 'params' is damaged")
    # Bytes after the zip directory are an archive comment to zipfile: the model is intact.
    path = tmp_path / "trailing.npz"
    path.write_bytes(archive(members) + b"trailing")
    _predicts_as_saved("binary", cnet.load(path))


# --- 11: files inconsistent with themselves or with the model kind -----------------------------

def test_relabelled_classes_are_refused(tmp_path):
    members = members_of(_file_bytes("multiclass", tmp_path))
    for classes, match in [(np.array([2, 1, 0]), "not sorted and distinct"),
                           (np.array([0, 0, 1]), "not sorted and distinct"),
                           (np.array([0, 1]), "2 classes do not fit 3 output unit"),
                           (np.array([0, 1, 2, 3]), "4 classes do not fit 3 output unit"),
                           (np.array([0.0, np.nan, 1.0]), "NaN"),
                           (np.array([[0, 1, 2]]), "classes do not fit")]:
        _refused(tmp_path, archive(with_array(members, "classes", classes)), match)


def test_an_output_activation_that_does_not_fit_the_estimator_is_refused(tmp_path):
    for kind, wrong in [("binary", "softmax"), ("multiclass", "logistic"),
                        ("regressor", "exp"), ("poisson", "identity"), ("binary", "relu")]:
        members = members_of(_file_bytes(kind, tmp_path))
        header = header_of(members)
        header["fitted"]["out_activation"] = wrong
        _refused(tmp_path, archive(with_header(members, header)),
                 f"out_activation '{wrong}' does not fit")


def test_a_label_type_that_does_not_fit_the_outputs_is_refused(tmp_path):
    members = members_of(_file_bytes("binary", tmp_path))
    header = header_of(members)
    header["fitted"]["label_type"] = "multiclass"
    _refused(tmp_path, archive(with_header(members, header)), "do not fit 1 output unit")
    members = members_of(_file_bytes("multiclass", tmp_path))
    header = header_of(members)
    header["fitted"]["label_type"] = "binary"
    _refused(tmp_path, archive(with_header(members, header)), "binary labels have one output")


def test_duplicate_members_are_refused(tmp_path):
    members = members_of(_file_bytes("binary", tmp_path))
    params = dict(members)["params.npy"]
    other = npy_bytes(np.zeros_like(np.load(io.BytesIO(params))))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)   # zipfile: "Duplicate name"
        data = archive(members + [("params.npy", other)])
    _refused(tmp_path, data, "appear twice: 'params.npy'")


def test_undeclared_and_missing_members_are_refused(tmp_path):
    members = members_of(_file_bytes("binary", tmp_path))
    _refused(tmp_path, archive(members + [("extra.npy", npy_bytes(np.ones(2)))]),
             "not declared 'extra'")
    _refused(tmp_path, archive([m for m in members if m[0] != "classes.npy"]),
             "missing 'classes'")
    header = header_of(members)
    header["arrays"]["secret"] = [[2], "<f8"]
    _refused(tmp_path, archive(with_header(members, header)), "unknown 'secret'")
    del header["arrays"]["secret"], header["arrays"]["optimizer_state"]
    _refused(tmp_path, archive(with_header(members, header)), "missing 'optimizer_state'")
    members = members_of(_file_bytes("regressor", tmp_path))
    _refused(tmp_path, archive(with_array(members, "classes", np.array([0, 1]))),
             "unknown 'classes'")


@pytest.mark.parametrize("kind,key,value,match", [
    ("binary", "alpha", -1.0, "The 'alpha' parameter of MLPClassifier must be a float"),
    ("binary", "activation", "evil", "The 'activation' parameter of MLPClassifier must be"),
    ("binary", "solver", "newton", "The 'solver' parameter of MLPClassifier must be"),
    ("binary", "dropout", 1.5, "The 'dropout' parameter of MLPClassifier must be"),
    ("binary", "backend", "os.system", "backend"),
    ("binary", "hidden_layer_sizes", {"tuple": [7]}, "hidden layers \\[7\\]"),
    ("binary", "hidden_layer_sizes", {"tuple": [5, 5]}, "hidden layers \\[5, 5\\]"),
    ("binary", "random_state", "seed", "The 'random_state' parameter of MLPClassifier"),
    ("binary", "random_state", [1, 2], "The 'random_state' parameter of MLPClassifier"),
    ("binary", "class_weight", {"dict": [[0, -1], [1, 2]]}, "class_weight's weights"),
    ("binary", "class_weight", "heavy", "The 'class_weight' parameter of MLPClassifier"),
    ("binary", "dtype", "float32", "dtype='float32' but the parameters are float64"),
    ("binary", "no_such_parameter", 1, "do not fit MLPClassifier"),
    ("regressor", "loss", "hinge", "The 'loss' parameter of MLPRegressor must be"),
    ("neuralnet", "layers", [2, 5, 1], "hidden layers \\[5\\]"),
    ("neuralnet", "layers", [2, 4, 2], "layers\\[-1\\] must be 1"),
    ("neuralnet", "layers", [2, 2**63, 1], "Python int too large"),
    ("neuralnet", "learning_rate", -1, "The 'learning_rate' parameter of NeuralNet must be"),
    ("neuralnet", "activation", "evil", "The 'activation' parameter of NeuralNet must be"),
])
def test_parameters_the_estimator_would_refuse_are_refused(kind, key, value, match, tmp_path):
    members = members_of(_file_bytes(kind, tmp_path))
    header = header_of(members)
    header["params"][key] = value
    _refused(tmp_path, archive(with_header(members, header)), match)


def test_non_finite_parameters_are_refused(tmp_path):
    members = members_of(_file_bytes("binary", tmp_path))
    params = np.load(io.BytesIO(dict(members)["params.npy"]))
    state = np.load(io.BytesIO(dict(members)["optimizer_state.npy"]))
    bad = params.copy()
    bad[3] = np.nan
    _refused(tmp_path, archive(with_array(members, "params", bad)), "parameters contain NaN")
    bad = state.copy()
    bad[1, 0] = np.inf
    _refused(tmp_path, archive(with_array(members, "optimizer_state", bad)),
             "optimizer state contain")


@pytest.mark.parametrize("kind", sorted(MODELS))
def test_a_big_endian_file_loads_in_native_order_and_predicts_identically(kind, tmp_path):
    members = big_endian(members_of(_file_bytes(kind, tmp_path)))
    assert any(">f" in str(v) for v in header_of(members)["arrays"].values())
    path = tmp_path / "big.npz"
    path.write_bytes(archive(members))
    loaded = cnet.load(path)
    if hasattr(loaded, "classes_"):
        assert loaded.classes_.dtype.isnative
    _predicts_as_saved(kind, loaded)
    if kind != "neuralnet":
        assert all(W.dtype.isnative for W in loaded.coefs_)
        assert loaded._optimizer.state.dtype.isnative


def test_deflated_and_fortran_order_members_still_load(tmp_path):
    # Files re-packed by other tools: compressed members, column-major arrays.
    members = members_of(_file_bytes("binary", tmp_path))
    state = np.load(io.BytesIO(dict(members)["optimizer_state.npy"]))
    members = [(n, npy_bytes(np.asfortranarray(state)) if n == "optimizer_state.npy" else d)
               for n, d in members]
    path = tmp_path / "repacked.npz"
    path.write_bytes(archive(members, zipfile.ZIP_DEFLATED))
    loaded = cnet.load(path)
    _predicts_as_saved("binary", loaded)
    np.testing.assert_array_equal(loaded._optimizer.state, state)


WRONG_VALUES = [None, True, "x", [], {}, -1, 10**400, 1e308 * 10, [[1]]]


@pytest.mark.parametrize("kind", ["binary", "regressor", "neuralnet"])
def test_every_header_field_of_every_wrong_type_is_refused_or_harmless(kind, tmp_path):
    # Either a ValueError, or a field that does not matter to predictions (verbose, tol...):
    # then the model loads with the saved arrays and predicts as the saved model given the
    # loaded parameters would.
    import copy
    model, Xk = MODELS[kind]
    members = members_of(_file_bytes(kind, tmp_path))
    header = header_of(members)
    fields = [(key,) for key in header] + [(part, key) for part in ("params", "fitted")
                                           for key in header[part]]
    loaded_fields = set()
    for path in fields:
        for value in WRONG_VALUES:
            changed = json.loads(json.dumps(header))
            target = changed
            for key in path[:-1]:
                target = target[key]
            target[path[-1]] = value
            data = archive(with_header(members, json.dumps(changed).encode()))
            try:
                loaded = cnet.load(io.BytesIO(data))
            except ValueError:
                continue
            loaded_fields.add(path)
            assert all(np.array_equal(a, b) for a, b in zip(_arrays(loaded), _arrays(model)))
            reference = copy.deepcopy(model).set_params(**loaded.get_params())
            np.testing.assert_array_equal(loaded.predict(Xk), reference.predict(Xk))
    # These decide what the arrays mean: none of the values above is valid for them.
    decisive = {("format",), ("format_version",), ("class",), ("params",), ("fitted",),
                ("arrays",), ("dtype",), ("fitted", "layers"), ("fitted", "n_features_in_"),
                ("fitted", "out_activation"), ("fitted", "label_type"),
                ("params", "activation"), ("params", "hidden_layer_sizes"),
                ("params", "layers"), ("params", "loss")}
    assert not loaded_fields & decisive, loaded_fields & decisive


def _arrays(model):
    if hasattr(model, "coefs_"):
        return [*model.coefs_, *model.intercepts_, np.asarray(getattr(model, "classes_", []))]
    return [model._params_flat, model.classes_]


# --- 12: pipelines: the steps' numbers and the header's pipeline object ------------------------

def _pipelines():
    import pandas as pd
    from sklearn.compose import ColumnTransformer
    from sklearn.impute import SimpleImputer
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import MinMaxScaler, OneHotEncoder, StandardScaler
    Xn = Xm.copy()
    Xn[::5, 1] = np.nan
    frame = pd.DataFrame({"colour": np.array(["red", "green", "blue"])[ym],
                          "grade": (np.arange(80) % 4) * 10, "x": X[:, 0], "y": X[:, 1]})
    scaled = Pipeline([("impute", SimpleImputer()), ("minmax", MinMaxScaler()),
                       ("scale", StandardScaler()),
                       ("mlp", cnet.MLPClassifier((5,), max_iter=3, random_state=0))])
    encoded = Pipeline([("encode", ColumnTransformer(
        [("onehot", OneHotEncoder(handle_unknown="ignore", sparse_output=False),
          ["colour", "grade"])], remainder="passthrough")), ("scale", StandardScaler()),
        ("mlp", cnet.MLPClassifier((5,), max_iter=3, random_state=0))])
    return {"scaled": (_fit(scaled, Xn, ym), Xn), "encoded": (_fit(encoded, frame, y), frame)}


PIPELINES = _pipelines()


def _pipeline_members(kind, tmp_path):
    path = tmp_path / f"{kind}.npz"
    cnet.save(PIPELINES[kind][0], path)
    return members_of(path.read_bytes())


def _array_of(members, name):
    return np.load(io.BytesIO(dict(members)[f"{name}.npy"]))


def test_a_pipeline_file_loads_as_saved(tmp_path):
    for kind, (saved, Xk) in PIPELINES.items():
        loaded = cnet.load(io.BytesIO(archive(_pipeline_members(kind, tmp_path))))
        np.testing.assert_array_equal(loaded.predict_proba(Xk), saved.predict_proba(Xk))


@pytest.mark.parametrize("name,change,match", [
    ("step2.scale_", lambda a: np.where(np.arange(a.size) == 1, 0.0, a), "scale_ holds values <= 0"),
    ("step2.scale_", lambda a: -a, "scale_ holds values <= 0"),
    ("step2.mean_", lambda a: np.where(np.arange(a.size) == 0, np.nan, a), "mean_ values contain NaN"),
    ("step2.var_", lambda a: -a, "var_ holds negative"),
    ("step1.scale_", lambda a: a * 0, "scale_ holds values <= 0"),
    ("step1.min_", lambda a: a + np.inf, "min_ values contain NaN or inf"),
    ("step0.statistics_", lambda a: a + np.inf, "statistics_ hold infinity"),
    ("step0.statistics_", lambda a: a.astype(np.float16), "statistics_. is float16"),
    ("step0.statistics_", lambda a: a.astype(np.int64), "statistics_.* dtype '<i8'"),
    ("step0.statistics_", lambda a: a.astype(str), "statistics_.* dtype '<U"),
    ("step0.statistics_", lambda a: a[:2], "statistics_' of shape \\[2\\]"),
    ("step2.scale_", lambda a: a.reshape(1, -1), "scale_' of shape \\[1, 3\\]"),
])
def test_tampered_step_arrays_are_refused_naming_them(name, change, match, tmp_path):
    members = _pipeline_members("scaled", tmp_path)
    changed = change(_array_of(members, name))
    _refused(tmp_path, archive(with_array(members, name, changed)), match)


def test_a_step_statistic_stored_as_objects_is_refused_before_it_is_read(tmp_path):
    members = _pipeline_members("scaled", tmp_path)
    header = header_of(members)
    header["arrays"]["step2.mean_"] = [[3], "|O"]
    _refused(tmp_path, archive(with_header(members, header)), "mean_' has dtype '\\|O'")
    lying = npy_header((3,), "O") + b"\0" * 24
    members = [(n, lying if n == "step2.mean_.npy" else d) for n, d in members]
    _refused(tmp_path, archive(members), "'step2.mean_' has dtype object")


def test_categories_that_are_not_what_an_encoder_keeps_are_refused(tmp_path):
    members = _pipeline_members("encoded", tmp_path)
    for name, categories, match in [
            ("step0.t0.categories0", np.array(["red", "blue", "red"]), "not distinct"),
            ("step0.t0.categories1", np.array([30, 20, 10, 0]), "not sorted and distinct"),
            ("step0.t0.categories1", np.array([0.0, np.nan, 2.0, 3.0]), "NaN"),
            ("step0.t0.categories1", np.array([0, 10]), "categories1' of shape \\[2\\]"),
            ("step0.t0.categories1", np.array([[0, 10, 20, 30]]), "shape \\[1, 4\\]"),
            ("step0.t0.categories1", np.array([True, False, True, False]), "booleans")]:
        _refused(tmp_path, archive(with_array(members, name, categories)), match)


def test_huge_declared_step_arrays_are_refused_before_they_are_read(tmp_path):
    members = _pipeline_members("encoded", tmp_path)
    header = header_of(members)
    header["pipeline"]["steps"][0]["fitted"]["transformers"][0]["fitted"]["n_categories"] = [
        3, 10**9]
    header["arrays"]["step0.t0.categories1"] = [[10**9], "<U8"]
    _refused(tmp_path, archive(with_header(members, header)),
             "member 'step0.t0.categories1' takes .* bytes uncompressed")
    members = _pipeline_members("scaled", tmp_path)
    data = bomb_archive([m for m in members if m[0] != "step2.mean_.npy"], "step2.mean_.npy",
                        npy_header((3,), "<f8"), 2**27)
    _refused(tmp_path, data, "claim .* bytes uncompressed")


def test_a_header_declaring_a_billion_columns_is_refused(tmp_path):
    members = _pipeline_members("scaled", tmp_path)
    header = header_of(members)
    for step in header["pipeline"]["steps"]:
        step["fitted"]["n_features_in_"] = 10**9
    _refused(tmp_path, archive(with_header(members, header)),
             "'step0.statistics_' of shape \\[3\\] does not fit")
    # Without arrays that would have to hold them: the column names are dropped, only the
    # number is left, and the encoder would be rebuilt on rows that wide.
    members = [m for m in _pipeline_members("encoded", tmp_path)
               if m[0] != "step0.feature_names_in.npy"]
    header = header_of(members)
    del header["arrays"]["step0.feature_names_in"]
    header["pipeline"]["steps"][0]["fitted"]["n_features_in_"] = 10**9
    _refused(tmp_path, archive(with_header(members, header)), "rebuilding it takes")


def test_steps_that_disagree_on_the_number_of_columns_are_refused(tmp_path):
    members = _pipeline_members("scaled", tmp_path)
    # The last scaler made to take 2 columns, its arrays to match.
    header = header_of(members)
    header["pipeline"]["steps"][2]["fitted"]["n_features_in_"] = 2
    for key in ("mean_", "var_", "scale_"):
        header["arrays"][f"step2.{key}"] = [[2], "<f8"]
    changed = [(n, npy_bytes(np.ones(2)) if n.startswith("step2.") else d)
               for n, d in with_header(members, header)]
    _refused(tmp_path, archive(changed), "step 'scale' takes 2 columns, the step before gives 3")
    members = _pipeline_members("encoded", tmp_path)
    header = header_of(members)
    header["pipeline"]["steps"][0]["fitted"]["transformers"][0]["columns"] = [0]
    _refused(tmp_path, archive(with_header(members, header)), "takes 2 columns, it is given 1")


def _pipeline_mutations():
    def steps(index, *path, value):
        def change(header):
            target = header["pipeline"]["steps"][index]
            for key in path[:-1]:
                target = target[key]
            target[path[-1]] = value
        return change

    def inner(*path, value):
        return steps(0, "fitted", "transformers", 0, *path, value=value)

    return [
        ("pipeline list", "scaled", lambda h: h.update(pipeline=[1]), "not an object"),
        ("steps string", "scaled", lambda h: h["pipeline"].update(steps="x"), "not an object"),
        ("verbose", "scaled", lambda h: h["pipeline"].update(params={"verbose": 1}),
         "pipeline.params"),
        ("memory", "scaled", lambda h: h["pipeline"].update(params={"memory": "/tmp"}),
         "pipeline.params"),
        ("name", "scaled", lambda h: h["pipeline"].update(name=3), "pipeline.name"),
        ("step name", "scaled", steps(0, "name", value=None), "not a named step"),
        ("step name clash", "scaled", steps(1, "name", value="impute"), "refused by scikit"),
        ("step name dunder", "scaled", steps(1, "name", value="a__b"), "refused by scikit"),
        ("pickled class", "scaled", steps(0, "class", value="PCA"), "class is 'PCA'"),
        ("class list", "scaled", steps(0, "class", value=["SimpleImputer"]), "class is"),
        ("extra param", "scaled", steps(2, "params", "memory", value=1), "params are not"),
        ("strategy", "scaled", steps(0, "params", "strategy", value="os.system"),
         "The 'strategy' parameter of SimpleImputer"),
        ("indicator", "scaled", steps(0, "params", "add_indicator", value=True),
         "add_indicator"),
        ("missing values", "scaled", steps(0, "params", "missing_values", value="NA"),
         "missing_values"),
        ("fill dtype", "scaled", steps(0, "fitted", "fill_dtype", value="object"),
         "fill_dtype"),
        ("range", "scaled", steps(1, "params", "feature_range", value={"tuple": [1, 0]}),
         "feature_range"),
        ("range huge", "scaled", steps(1, "params", "feature_range",
                                       value={"tuple": [0, 10**400]}), "feature_range"),
        ("samples", "scaled", steps(2, "fitted", "n_samples_seen_", value=-1),
         "n_samples_seen_"),
        ("features", "scaled", steps(2, "fitted", "n_features_in_", value="3"),
         "n_features_in_"),
        ("n_jobs", "encoded", steps(0, "params", "n_jobs", value=10**6), "n_jobs"),
        ("remainder", "encoded", steps(0, "params", "remainder", value="StandardScaler"),
         "remainder"),
        ("columns", "encoded", inner("columns", value=[0, 9]), "columns"),
        ("columns repeated", "encoded", inner("columns", value=[0, 0]), "columns"),
        ("inner class", "encoded", inner("class", value="FunctionTransformer"),
         "class is 'FunctionTransformer'"),
        ("inner dtype", "encoded", inner("params", "dtype", value="object"), "dtype"),
        ("inner categories", "encoded", inner("params", "categories", value=[["a"]]),
         "categories"),
        ("n_categories", "encoded", inner("fitted", "n_categories", value=[3]),
         "n_categories"),
        ("sparse output", "encoded", steps(0, "fitted", "sparse_output_", value="no"),
         "sparse_output_"),
        ("transformers", "encoded", steps(0, "fitted", "transformers", value={}),
         "transformers is not a list"),
        ("metadata", "scaled", lambda h: h.update(metadata=[1, 2]), "metadata must be a dict"),
        ("metadata deep", "scaled", lambda h: h.update(metadata={"a": {"b": {"c": {}}}}),
         "nested"),
    ]


@pytest.mark.parametrize("what,kind,change,match", _pipeline_mutations(),
                         ids=[m[0] for m in _pipeline_mutations()])
def test_tampered_pipeline_headers_give_a_value_error_naming_the_field(what, kind, change, match,
                                                                       tmp_path):
    members = _pipeline_members(kind, tmp_path)
    header = header_of(members)
    change(header)
    _refused(tmp_path, archive(with_header(members, header)), match)


@pytest.mark.parametrize("kind", sorted(PIPELINES))
def test_a_big_endian_pipeline_file_loads_and_predicts_identically(kind, tmp_path):
    saved, Xk = PIPELINES[kind]
    members = big_endian(_pipeline_members(kind, tmp_path))
    loaded = cnet.load(io.BytesIO(archive(members)))
    np.testing.assert_array_equal(loaded.predict_proba(Xk), saved.predict_proba(Xk))
    assert all(getattr(step, "scale_", np.ones(1)).dtype.isnative for _, step in loaded.steps[:-1])
