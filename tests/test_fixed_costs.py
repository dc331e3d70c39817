"""The fixed costs of a call: one validation per fit and per prediction, counted (scikit-learn's
checks wrapped, every module's reference to them), a NeuralNet prediction on the estimators'
fast path with its packed parameters reused until the weights change, and an ``import cnet``
that leaves scikit-learn for later.

The timings themselves are benchmarks/fixed_costs.py's: tests count calls, never time them.
"""
import copy
import os
import pickle
import subprocess
import sys
import textwrap
import warnings
from pathlib import Path

import numpy as np
import pytest
import scipy.sparse as sp
import sklearn.base
import sklearn.utils.multiclass
import sklearn.utils.validation
from sklearn.datasets import make_moons
from sklearn.exceptions import ConvergenceWarning
from sklearn.preprocessing import LabelBinarizer

import cnet

X, Y = make_moons(240, noise=0.2, random_state=0)
ROOT = Path(cnet.__file__).resolve().parent.parent


class Counted:
    """Count the calls of a scikit-learn function, wherever it is called from: every module
    that holds a reference to it (``from ... import check_array``) gets the counting wrapper.
    Calls made while ``inside`` says so are not counted (check_array's inside type_of_target,
    which are that one look at the targets)."""

    def __init__(self, monkeypatch, function, inside=lambda: False):
        self.calls = []
        self.depth = 0
        original = function

        def counting(*args, **kwargs):
            if not inside():
                self.calls.append((args, kwargs))
            self.depth += 1
            try:
                return original(*args, **kwargs)
            finally:
                self.depth -= 1

        for module in list(sys.modules.values()):
            for name, value in list(getattr(module, "__dict__", {}).items()):
                if value is original:
                    monkeypatch.setattr(module, name, counting)

    def __len__(self):
        return len(self.calls)


@pytest.fixture
def counters(monkeypatch):
    """Counters of check_array, type_of_target, LabelBinarizer.fit and _validate_params."""
    typing = Counted(monkeypatch, sklearn.utils.multiclass.type_of_target)
    counts = {"type_of_target": typing,
              "check_array": Counted(monkeypatch, sklearn.utils.validation.check_array,
                                     inside=lambda: typing.depth > 0)}
    for name, owner, attribute in [("LabelBinarizer.fit", LabelBinarizer, "fit"),
                                   ("_validate_params", sklearn.base.BaseEstimator,
                                    "_validate_params")]:
        calls = []
        original = getattr(owner, attribute)

        def counting(self, *args, _original=original, _calls=calls, **kwargs):
            _calls.append(type(self).__name__)
            return _original(self, *args, **kwargs)

        monkeypatch.setattr(owner, attribute, counting)
        counts[name] = calls
    return counts


def reset(counters):
    for counter in counters.values():
        (counter.calls if isinstance(counter, Counted) else counter).clear()


def quiet_fit(model, X, y):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return model.fit(X, y)


# --- one validation per fit ---------------------------------------------------------------

# Labels whose type only type_of_target can tell (floats), and labels typed by their count.
LABELS = {"int": Y, "float": Y.astype(float), "str": np.array(["no", "yes"])[Y]}


@pytest.mark.parametrize("labels", sorted(LABELS))
@pytest.mark.parametrize("as_list", [False, True], ids=["arrays", "lists"])
def test_a_classifier_fit_validates_X_and_y_once_and_types_y_once(counters, labels, as_list):
    y = LABELS[labels]
    X_in, y_in = (X.tolist(), y.tolist()) if as_list else (X, y)
    model = cnet.MLPClassifier((5,), max_iter=1, random_state=0)
    quiet_fit(model, X_in, y_in)
    # Today's main: 14 check_array, 5 type_of_target, a LabelBinarizer fitted (and its
    # parameters validated) in every fit.
    assert len(counters["check_array"]) <= 2            # X once, y once (lists only)
    assert len(counters["type_of_target"]) <= 1
    assert counters["LabelBinarizer.fit"] == []
    assert counters["_validate_params"] == ["MLPClassifier"]    # the contract: kept
    if as_list:
        names = [kwargs.get("input_name") for _, kwargs in counters["check_array"].calls]
        assert names == ["X", "y"]
    # The encoding is the binarizer's, classes and all.
    binarizer = LabelBinarizer().fit(y)
    np.testing.assert_array_equal(model.classes_, binarizer.classes_)
    assert model.classes_.dtype == binarizer.classes_.dtype
    assert model._label_binarizer.y_type_ == binarizer.y_type_
    np.testing.assert_array_equal(model._encode_targets(y, np.float64, "binary"),
                                  binarizer.transform(y))


@pytest.mark.parametrize("make", [
    lambda: cnet.MLPRegressor(hidden_layer_sizes=(5,), max_iter=1, random_state=0),
    lambda: cnet.MLPClassifier((5,), max_iter=1, random_state=0, warm_start=True),
    lambda: cnet.NeuralNet(iterations=1, random_state=0),
], ids=["MLPRegressor", "warm MLPClassifier", "NeuralNet"])
def test_every_fit_validates_once(counters, make):
    model = make()
    y = Y.astype(float)
    quiet_fit(model, X, y)
    reset(counters)
    quiet_fit(model, X.tolist(), y.tolist())     # lists: validated (warm start: again)
    assert len(counters["check_array"]) <= 2
    assert len(counters["type_of_target"]) <= 1
    assert counters["LabelBinarizer.fit"] == []
    assert counters["_validate_params"] == [type(model).__name__]


def test_multiclass_and_multilabel_targets_are_encoded_as_the_binarizer_encodes(counters):
    y3 = np.arange(len(X)) % 3
    multilabel = np.column_stack([Y, 1 - Y, y3 == 2]).astype(int)
    for y in (y3, np.array(list("abc"))[y3], multilabel, sp.csr_matrix(multilabel)):
        reset(counters)
        model = quiet_fit(cnet.MLPClassifier((5,), max_iter=1, random_state=0), X, y)
        assert len(counters["type_of_target"]) <= 1
        binarizer = LabelBinarizer().fit(y)
        np.testing.assert_array_equal(model.classes_, binarizer.classes_)
        assert model._label_binarizer.y_type_ == binarizer.y_type_
        assert model._label_binarizer.sparse_input_ == binarizer.sparse_input_
        y_valid = y.toarray() if sp.issparse(y) else y
        np.testing.assert_array_equal(
            model._encode_targets(y_valid, np.float64, binarizer.y_type_),
            binarizer.transform(y))
        # A batch with a subset of the classes (partial_fit) is encoded by all of them.
        subset = y[:10][np.asarray(y_valid[:10] != y_valid[0]).any(axis=-1) if y_valid.ndim > 1
                        else np.asarray(y_valid[:10] == y_valid[0])]
        subset_valid = subset.toarray() if sp.issparse(subset) else subset
        kind = sklearn.utils.multiclass.type_of_target(subset)
        np.testing.assert_array_equal(model._encode_targets(subset_valid, np.float64, kind),
                                      binarizer.transform(subset))


# Today's main's errors.
@pytest.mark.parametrize("y, error, message", [
    (Y + 0.5, ValueError, "Unknown label type: continuous"),
    (np.array([1, "a"] * 120, dtype=object), ValueError, "Unknown label type: unknown"),
    (np.array(["a", 1] * 120, dtype=object), TypeError, "'<' not supported"),
    (np.column_stack([Y, Y * 2]), ValueError, "Multioutput target data is not supported"),
])
def test_bad_targets_keep_their_errors(y, error, message):
    with pytest.raises(error, match=message):
        cnet.MLPClassifier((5,), max_iter=1).fit(X, y)
    if y.ndim == 1:
        with pytest.raises(error, match=message):
            cnet.NeuralNet(iterations=1).fit(X, y)


def test_many_classes_still_warn_as_scikit_learn_warns():
    y = np.arange(len(X)) % 200
    with pytest.warns(UserWarning, match="number of unique classes is greater than 50%"):
        quiet_fit(cnet.MLPClassifier((5,), max_iter=1), X, y)


# --- one-row predictions ------------------------------------------------------------------

def fitted_models():
    y = Y.astype(float)
    return [quiet_fit(cnet.NeuralNet(layers=[2, 5, 1], iterations=50, learning_rate=0.05,
                                     random_state=0), X, Y),
            quiet_fit(cnet.MLPClassifier((5,), max_iter=5, random_state=0), X, Y),
            quiet_fit(cnet.MLPRegressor(hidden_layer_sizes=(5,), max_iter=5, random_state=0),
                      X, y)]


def predictions(model, X):
    return model.predict_proba(X) if hasattr(model, "predict_proba") else model.predict(X)


@pytest.mark.parametrize("index", [0, 1, 2], ids=["NeuralNet", "MLPClassifier", "MLPRegressor"])
def test_a_valid_row_skips_validation_and_equals_the_validated_path(counters, index):
    model = fitted_models()[index]
    reset(counters)
    row = np.ascontiguousarray(X[:1])
    fast = predictions(model, row)
    assert len(counters["check_array"]) == 0
    # The validated path: the same numbers, bitwise.
    for slow in (row.tolist(), np.asfortranarray(X[:2])[:1], np.repeat(row, 2, axis=1)[:, ::2]):
        np.testing.assert_array_equal(predictions(model, slow), fast)
    assert len(counters["check_array"]) == 3


def neural_net_proba(params, X):
    """The [2, 5, 1] relu network's probabilities, in numpy, from a params dict."""
    hidden = np.maximum(X @ params["W1"] + params["b1"], 0)
    p = 1 / (1 + np.exp(-(hidden @ params["W2"] + params["b2"])))
    return np.column_stack([1 - p[:, 0], p[:, 0]])


def test_neural_net_predictions_follow_its_weights_by_every_route(tmp_path):
    net = fitted_models()[0]
    rows = np.ascontiguousarray(X[:7])

    def check(model):
        expected = neural_net_proba({k: np.asarray(v) for k, v in model.params.items()}, rows)
        np.testing.assert_allclose(model.predict_proba(rows), expected, rtol=1e-12,
                                   atol=1e-15)
        for k in range(len(rows)):
            # One row at a time: the same numbers up to rounding (one row and several may
            # take different product kernels).
            np.testing.assert_allclose(model.predict_proba(rows[k:k + 1]),
                                       model.predict_proba(rows)[k:k + 1], rtol=1e-13)

    check(net)
    before = net.predict_proba(rows)
    net.params["b2"][...] += 1.0                          # in place, into a view
    check(net)
    assert not np.array_equal(net.predict_proba(rows), before)
    net.params["W1"] = net.params["W1"] * -1.0            # a new array for a key
    check(net)
    net.params["W1"][...] *= 2.0                          # and into the new array, in place
    check(net)
    net.params = {k: v.copy() + 0.25 for k, v in net.params.items()}   # a new dict
    check(net)
    with pytest.raises(ValueError, match=r"params\['W2'\] contains NaN"):
        net.params["W2"] = np.full((5, 1), np.nan)
        net.predict_proba(rows)
    with pytest.raises(ValueError, match=r"params\['W2'\] must have shape \(5, 1\)"):
        net.params["W2"] = np.zeros((4, 1))
        net.predict_proba(rows)
    net.params["W2"] = np.ones((5, 1))
    check(net)

    copied = pickle.loads(pickle.dumps(net))             # the copy's arrays are its own
    copied.params["b1"][...] -= 0.5
    check(copied)
    deep = copy.deepcopy(net)
    deep.params["b1"][...] += 0.5
    check(deep)
    check(net)                                            # untouched by its copies

    refit = quiet_fit(net.set_params(activation="relu", random_state=1), X, Y)
    check(refit)
    warm = quiet_fit(net.set_params(warm_start=True, iterations=5), X, Y)
    check(warm)
    path = tmp_path / "net.npz"
    net.save(path)
    loaded = cnet.load(path)
    np.testing.assert_array_equal(loaded.predict_proba(rows), net.predict_proba(rows))
    loaded.params["W1"][...] = 0.0
    check(loaded)


ROW = X[:1]
BAD_ROWS = [
    (np.array([[np.nan, 0.0]]), ValueError, "Input X contains NaN"),
    (np.array([[np.inf, 0.0]]), ValueError, "Input X contains infinity"),
    (np.zeros((1, 3)), ValueError, "X has 3 features, but .* is expecting 2 features"),
    (ROW[0], ValueError, "Expected a 2-dimensional container|Expected 2D array"),
    (np.zeros((0, 2)), ValueError, "0 sample"),
    (np.array([["a", "b"]]), ValueError, "could not convert|convert"),
    (ROW.astype(complex), ValueError, "Complex data not supported"),
    (sp.csr_matrix((np.array([1.0]), np.array([5]), np.array([0, 1])), shape=(1, 2)),
     ValueError, "indices has entries outside"),
]


@pytest.mark.parametrize("row, error, message", BAD_ROWS,
                         ids=["nan", "inf", "n_features", "1-D", "empty", "strings", "complex",
                              "bad sparse"])
def test_bad_rows_keep_their_errors(row, error, message):
    for model in fitted_models():
        predict = model.predict_proba if hasattr(model, "predict_proba") else model.predict
        with pytest.raises(error, match=message):
            predict(row)


def test_an_unfitted_model_still_says_so():
    from sklearn.exceptions import NotFittedError
    for model in (cnet.NeuralNet(), cnet.MLPClassifier(), cnet.MLPRegressor()):
        predict = model.predict_proba if hasattr(model, "predict_proba") else model.predict
        with pytest.raises(NotFittedError):
            predict(ROW)


# --- import cnet ------------------------------------------------------------------------

def run_fresh(code):
    """Run ``code`` in a fresh interpreter importing this cnet; its stdout."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(
        [str(ROOT), *filter(None, [os.environ.get("PYTHONPATH")])])}
    done = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], env=env,
                          capture_output=True, text=True, timeout=300, cwd=str(ROOT))
    assert done.returncode == 0, done.stderr
    return done.stdout


# Modules an estimator needs and a bare ``import cnet`` must not load. (scipy itself is
# loaded: the compiled kernels call its BLAS through scipy.linalg.cython_blas.)
HEAVY = ["sklearn", "sklearn.base", "sklearn.utils.validation", "sklearn.neural_network",
         "pandas", "cnet.mlp", "cnet.neural_net", "cnet.kernels", "cnet.reference"]


def test_import_cnet_leaves_scikit_learn_until_an_estimator_is_used():
    out = run_fresh(f"""
        import sys
        import cnet
        print(sorted(m for m in {HEAVY!r} if m in sys.modules))
        print(sorted(cnet.__all__) == sorted(set(cnet.__all__) & set(dir(cnet))))
        model = cnet.MLPClassifier((3,), max_iter=2, random_state=0)
        print(type(model).__module__, "sklearn.base" in sys.modules)
        from cnet import MLPRegressor, NeuralNet, kernels, reference
        print(cnet.MLPRegressor is MLPRegressor, cnet.NeuralNet is NeuralNet,
              kernels.__name__, reference.__name__)
    """).splitlines()
    assert out[0] == "[]"
    assert out[1] == "True"
    assert out[2] == "cnet.mlp True"
    assert out[3] == "True True cnet.kernels cnet.reference"


def test_unknown_names_are_still_attribute_errors():
    with pytest.raises(AttributeError, match="no attribute 'MLPClassifer'"):
        cnet.MLPClassifer
    assert not hasattr(cnet, "not_a_name")


def test_a_fresh_process_loads_and_unpickles_every_model_kind(tmp_path):
    files = []
    for k, model in enumerate(fitted_models()):
        path = tmp_path / f"model{k}.npz"
        model.save(path)
        pickled = tmp_path / f"model{k}.pkl"
        pickled.write_bytes(pickle.dumps(model))
        expected = tmp_path / f"expected{k}.npy"
        np.save(expected, predictions(model, X[:5]))
        files.append((str(path), str(pickled), str(expected)))
    out = run_fresh(f"""
        import pickle, sys
        import numpy as np
        import cnet
        for path, pickled, expected in {files!r}:
            for model in (cnet.load(path), pickle.loads(open(pickled, "rb").read())):
                predict = getattr(model, "predict_proba", model.predict)
                print(type(model).__name__,
                      np.array_equal(predict({X[:5].tolist()!r}), np.load(expected)))
    """).split()
    assert out == ["NeuralNet", "True"] * 2 + ["MLPClassifier", "True"] * 2 + \
        ["MLPRegressor", "True"] * 2
