"""Each model saves and restores its own state; ``cnet.persistence`` keeps only the file.

A model's ``_get_state()`` gives named plain values (arrays and JSON values), its
``_set_state(state)`` restores them with every value checked, and ``persistence.py`` stores
them without knowing what they are: no private attribute of a model, no class name and no
activation, output or solver name is written in it.
"""
import ast
import json
import warnings
from pathlib import Path

import numpy as np
import pytest
from sklearn.datasets import make_moons, make_regression
from sklearn.exceptions import ConvergenceWarning

import cnet
from cnet import persistence, registry

X, y = make_moons(120, noise=0.2, random_state=0)
Xr, yr = make_regression(100, 4, n_targets=2, random_state=0)
ym = np.arange(120) % 3


def _fit(model, X, y):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return model.fit(X, y)


MODELS = {
    "neuralnet": (_fit(cnet.NeuralNet(layers=[2, 5, 1], iterations=20, random_state=0), X,
                       np.array(["no", "yes"])[y]), X),
    "binary-sgd": (_fit(cnet.MLPClassifier((6,), solver="sgd", max_iter=8, random_state=0),
                        X, y), X),
    "multiclass-adam": (_fit(cnet.MLPClassifier((6, 4), max_iter=8, random_state=0), X, ym),
                        X),
    "multilabel": (_fit(cnet.MLPClassifier((6,), max_iter=8, random_state=0), X,
                        np.stack([y, ym == 1], axis=1).astype(int)), X),
    "lbfgs": (_fit(cnet.MLPClassifier((6,), solver="lbfgs", max_iter=8, random_state=0), X, y),
              X),
    "early-stopping": (_fit(cnet.MLPClassifier((6,), solver="sgd", early_stopping=True,
                                               max_iter=8, random_state=0), X, y), X),
    "regressor": (_fit(cnet.MLPRegressor(hidden_layer_sizes=(6,), max_iter=8, random_state=0),
                       Xr, yr / 100), Xr),
    "poisson-float32": (_fit(cnet.MLPRegressor(loss="poisson", hidden_layer_sizes=(6,),
                                               max_iter=8, random_state=0, dtype="float32"),
                             Xr, np.abs(yr[:, 0]) / 100), Xr),
}


def _outputs(model, X):
    return model.predict_proba(X) if hasattr(model, "predict_proba") else model.predict(X)


def _params(model):
    return model._params_flat if isinstance(model, cnet.NeuralNet) else model._packed()


@pytest.mark.parametrize("kind", sorted(MODELS))
def test_a_state_restores_a_model_that_predicts_identically(kind):
    model, Xk = MODELS[kind]
    restored = type(model)(**model.get_params())
    restored._set_state(model._get_state())
    np.testing.assert_array_equal(_outputs(restored, Xk), _outputs(model, Xk))
    np.testing.assert_array_equal(restored.predict(Xk), model.predict(Xk))
    assert restored.summary() == model.summary()
    # The restored model owns its arrays: training one must not move the other.
    assert not np.shares_memory(_params(restored), _params(model))


@pytest.mark.parametrize("kind", sorted(MODELS))
def test_a_state_holds_only_what_the_file_format_can_hold(kind):
    state = MODELS[kind][0]._get_state()
    for name, value in state.items():
        if isinstance(value, np.ndarray):
            assert value.dtype.kind in "biufU", name   # no objects: nothing is pickled
        else:
            # JSON values, unchanged by a round trip through the header's text.
            assert json.loads(json.dumps(value)) == value, name


# The header's fitted values and the archive's arrays of format 2, as today's files hold them:
# a model's state may grow, but these names are what older readers look up.
FORMAT_2 = {
    "NeuralNet": ({"layers", "n_iter_", "loss_", "shuffle_seed", "n_features_in_",
                   "batch_size_used"}, {"params", "classes"}),
    "MLPClassifier": ({"layers", "n_iter_", "loss_curve_", "t_", "best_loss_", "seed", "steps",
                       "epochs_seen", "learning_rate_now", "has_optimizer", "out_activation",
                       "label_type", "n_features_in_", "batch_size_used"},
                      {"params", "optimizer_state", "classes"}),
    "MLPRegressor": ({"layers", "n_iter_", "loss_curve_", "t_", "best_loss_", "seed", "steps",
                      "epochs_seen", "learning_rate_now", "has_optimizer", "out_activation",
                      "n_features_in_", "batch_size_used"}, {"params", "optimizer_state"}),
}


@pytest.mark.parametrize("kind", sorted(MODELS))
def test_the_file_holds_format_2s_fields(kind, tmp_path):
    model = MODELS[kind][0]
    model.save(tmp_path / "m.npz")
    with np.load(tmp_path / "m.npz", allow_pickle=False) as f:
        header = json.loads(f["header"].tobytes())
        files = set(f.files) - {"header"}
    fitted, arrays = FORMAT_2[type(model).__name__]
    assert header["format_version"] == 2
    assert set(header["fitted"]) == fitted
    assert files == arrays == set(header["arrays"])


def test_a_restored_estimator_starts_its_records_as_a_first_fit_does(tmp_path):
    model = MODELS["early-stopping"][0]
    model.save(tmp_path / "m.npz")
    loaded = cnet.load(tmp_path / "m.npz")
    # scikit-learn's start of an early-stopping fit: no scores yet, no best score, the
    # training loss not tracked; the loss curve itself is kept.
    assert loaded.validation_scores_ == [] and loaded.validation_loss_curve_ == []
    assert loaded.best_validation_score_ == -np.inf and loaded.best_loss_ is None
    assert loaded._no_improvement_count == 0
    assert loaded.loss_curve_ == model.loss_curve_ and loaded.loss_ == model.loss_curve_[-1]
    for best, W in zip(loaded._best_coefs, loaded.coefs_):
        np.testing.assert_array_equal(best, W)
    sgd = MODELS["binary-sgd"][0]
    sgd.save(tmp_path / "s.npz")
    assert cnet.load(tmp_path / "s.npz").best_loss_ == sgd.best_loss_ == min(sgd.loss_curve_)


def test_the_optimizer_comes_back_as_it_was(tmp_path):
    model = MODELS["multiclass-adam"][0]
    model.save(tmp_path / "m.npz")
    loaded = cnet.load(tmp_path / "m.npz")
    assert loaded._optimizer.step_count == model._optimizer.step_count > 0
    assert loaded._optimizer.learning_rate == model._optimizer.learning_rate
    np.testing.assert_array_equal(loaded._optimizer.state, model._optimizer.state)
    MODELS["lbfgs"][0].save(tmp_path / "l.npz")
    assert not hasattr(cnet.load(tmp_path / "l.npz"), "_optimizer")


def test_float_labels_of_a_float32_model_are_saved_and_loaded(tmp_path):
    # The labels stay float64 while the parameters are float32: the header's dtype is the
    # parameters', not the labels'.
    for model in [cnet.MLPClassifier((4,), max_iter=3, random_state=0),
                  cnet.NeuralNet(layers=[2, 3, 1], iterations=3, random_state=0)]:
        model = _fit(model, X.astype(np.float32), y.astype(float))
        assert model.classes_.dtype == np.float64
        model.save(tmp_path / "m.npz")
        loaded = cnet.load(tmp_path / "m.npz")
        np.testing.assert_array_equal(loaded.classes_, model.classes_)
        np.testing.assert_array_equal(loaded.predict_proba(X), model.predict_proba(X))


# --- _set_state checks what it is given ---------------------------------------------------------

def _changed(kind, **changes):
    state = dict(MODELS[kind][0]._get_state())
    for key, value in changes.items():
        if value is None:
            del state[key]
        else:
            state[key] = value
    return state


@pytest.mark.parametrize("kind,changes,match", [
    ("binary-sgd", {"params": None}, "missing 'params'"),
    ("binary-sgd", {"params": np.zeros(5)}, "does not fit layers"),
    ("binary-sgd", {"params": np.zeros(25, dtype=np.int64)}, "stores params as float"),
    ("binary-sgd", {"optimizer_state": np.full((2, 25), np.nan)}, "optimizer state contain"),
    ("binary-sgd", {"optimizer_state": np.zeros((2, 25), np.float32)},
     "'optimizer_state' is float32, the other arrays are float64"),
    ("binary-sgd", {"classes": np.array([1, 0])}, "not sorted and distinct"),
    ("binary-sgd", {"classes": [0, 1]}, "'classes' is a list, not an array"),
    ("binary-sgd", {"out_activation": "softmax"}, "out_activation 'softmax' does not fit"),
    ("binary-sgd", {"n_iter_": -1}, "fitted.n_iter_ .* not an integer"),
    ("binary-sgd", {"layers": [2, 7, 1]}, "hidden layers \\[6\\]"),
    ("regressor", {"classes": np.array([0, 1])}, "unknown 'classes'"),
    ("neuralnet", {"params": np.full(21, np.inf)}, "parameters contain"),
    ("neuralnet", {"loss_": "low"}, "fitted.loss_"),
    ("neuralnet", {"feature_names_in": ["a", "b"]}, "not an array"),
    ("neuralnet", {"n_features_in_": 3}, "n_features_in_ 3"),
])
def test_a_bad_state_is_refused_naming_the_value(kind, changes, match):
    model = MODELS[kind][0]
    fresh = type(model)(**model.get_params())
    with pytest.raises(ValueError, match=match):
        fresh._set_state(_changed(kind, **changes))


@pytest.mark.parametrize("kind,changes", [
    ("binary-sgd", {"out_activation": "softmax"}),   # refused after the labels are restored
    ("neuralnet", {"n_iter_": -1}),                  # refused after the weights are restored
])
def test_a_refused_state_leaves_the_model_as_it_was(kind, changes):
    model, Xk = MODELS[kind]
    other = type(model)(**model.get_params())
    other = _fit(other, Xk, np.array(["b", "c"])[y] if kind == "neuralnet" else 5 + y)
    before = _outputs(other, Xk), other.predict(Xk), set(vars(other))
    with pytest.raises(ValueError):
        other._set_state(_changed(kind, **changes))
    np.testing.assert_array_equal(_outputs(other, Xk), before[0])
    np.testing.assert_array_equal(other.predict(Xk), before[1])
    assert set(vars(other)) == before[2]


def test_a_header_that_names_an_array_as_a_json_value_is_refused(tmp_path):
    model = MODELS["neuralnet"][0]
    model.save(tmp_path / "m.npz")
    with np.load(tmp_path / "m.npz", allow_pickle=False) as f:
        arrays = {k: f[k] for k in f.files}
    header = json.loads(arrays.pop("header").tobytes())
    header["fitted"]["feature_names_in"] = ["x0", "x1"]   # names without the array
    arrays["header"] = np.frombuffer(json.dumps(header).encode(), dtype=np.uint8)
    with open(tmp_path / "m.npz", "wb") as file:
        np.savez(file, **arrays)
    with pytest.raises(ValueError, match="'feature_names_in' is a list, not an array"):
        cnet.load(tmp_path / "m.npz")


# --- persistence.py knows the file, not the models --------------------------------------------

SOURCE = Path(persistence.__file__).read_text(encoding="utf-8")
# The three methods through which persistence asks a model for its state.
PROTOCOL = {"_get_state", "_state_arrays", "_set_state"}


def test_persistence_names_no_private_attribute_of_a_model():
    tree = ast.parse(SOURCE)
    # What persistence.py defines itself (its functions, classes and their attributes).
    own = {node.name for node in ast.walk(tree)
           if isinstance(node, (ast.FunctionDef, ast.ClassDef))}
    own |= {target.id for node in ast.walk(tree) if isinstance(node, ast.Assign)
            for target in node.targets if isinstance(target, ast.Name)}
    private = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and node.attr.startswith("_"):
            private.add(node.attr)
        if (isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
                and node.func.id in ("getattr", "hasattr", "setattr") and len(node.args) > 1
                and isinstance(node.args[1], ast.Constant)
                and str(node.args[1].value).startswith("_")):
            private.add(node.args[1].value)
    dunder = {name for name in private if name.startswith("__") and name.endswith("__")}
    assert private - dunder - own - PROTOCOL == set()


def test_persistence_names_no_model_class_and_no_registry_name():
    names = {"NeuralNet", "MLPClassifier", "MLPRegressor", *registry.activation_names(),
             *registry.OUTPUT_LOSSES, *registry.OPTIMIZERS, "lbfgs",
             *(e.output_activation for e in registry.OUTPUT_LOSSES.values()),
             *(e.loss for e in registry.OUTPUT_LOSSES.values())}
    literals = {node.value for node in ast.walk(ast.parse(SOURCE))
                if isinstance(node, ast.Constant) and isinstance(node.value, str)}
    assert literals & names == set()
