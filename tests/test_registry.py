"""The registry is the one list: every entry has its compiled kernel, its numpy twin, a
gradient-check row and a training-equivalence row, the estimators accept its name, the README
shows it; and every compiled entry point has its twin's parameters (a thinc-style consistency
test over the two backends)."""
import inspect
import warnings
from pathlib import Path

import numpy as np
import pytest
from sklearn.exceptions import ConvergenceWarning

import cnet
import registry_rows
import test_gradients
import test_kernels
import test_training
from cnet import _cpu, _docs, kernels, reference, registry

README = Path(__file__).resolve().parent.parent / "README.md"

# The training loop's entry points, compiled (cnet._train) and twin (cnet.reference).
TRAINING_ENTRY_POINTS = ("train_epochs", "loss_and_gradient", "forward", "epoch_order")


def _parameters(function):
    """What a caller sees of a function: each parameter's name, kind and default."""
    return [(p.name, p.kind, p.default) for p in inspect.signature(function).parameters.values()]


# --- the registry itself ---------------------------------------------------------------------

@pytest.mark.parametrize("table", [registry.ACTIVATIONS, registry.OUTPUT_LOSSES,
                                   registry.OPTIMIZERS], ids=["activations", "outputs",
                                                              "optimizers"])
def test_names_and_codes_are_unique_and_keyed_by_name(table):
    assert all(name == entry.name for name, entry in table.items())
    codes = [entry.code for entry in table.values()]
    # The compiled enums are dense from 0: a gap or a repeat is a typo.
    assert sorted(codes) == list(range(len(codes)))


def test_activation_entries_are_well_formed():
    names = [n for e in registry.ACTIVATIONS.values() for n in (e.name, *e.aliases)]
    assert len(names) == len(set(names)), "an alias names two activations"
    for entry in registry.ACTIVATIONS.values():
        assert entry.backward_reads in ("output", "input"), entry
        assert entry.formula and entry.derivative, entry
        assert entry.init_gain > 0, entry
        assert registry.activation(entry.name) is entry
        assert all(registry.activation(alias) is entry for alias in entry.aliases)
    with pytest.raises(ValueError, match="activation must be one of"):
        registry.activation("softplus_that_is_not_there")


def test_output_entries_are_well_formed():
    for entry in registry.OUTPUT_LOSSES.values():
        assert entry.task in ("classification", "regression"), entry
        assert entry.targets in ("binary", "one_hot", "real", "counts"), entry
        assert entry.formula and entry.loss and entry.loss_kernel, entry
    kernels_named = [e.loss_kernel for e in registry.OUTPUT_LOSSES.values()]
    assert len(kernels_named) == len(set(kernels_named))
    assert set(registry.regression_losses()) == {
        e.loss for e in registry.OUTPUT_LOSSES.values() if e.task == "regression"}


# --- every entry has a compiled kernel and a twin --------------------------------------------

@pytest.mark.parametrize("activation", registry_rows.ACTIVATIONS)
def test_every_activation_has_its_kernels_and_twins(activation):
    entry = registry.activation(activation)
    raw = _cpu.module("_kernels")
    for name in (activation, f"{activation}_backward"):
        assert name in kernels.__all__
        assert callable(getattr(raw, name)), f"cnet._kernels lacks {name}"
        assert callable(getattr(reference, name)), f"cnet.reference lacks {name}"
    x = "z" if entry.backward_reads == "input" else "a"
    assert [p[0] for p in _parameters(getattr(reference, f"{activation}_backward"))] == \
        ["grad", x, "out"]
    assert reference.activation_functions(activation) == (
        getattr(reference, activation), getattr(reference, f"{activation}_backward"))
    # The compiled code dispatches on the entry's code: a code its enum dispatch does not know
    # falls through to another function, which a probe against the twin shows.
    z = np.linspace(-3, 3, 25)
    grad = np.cos(z)
    np.testing.assert_allclose(getattr(kernels, activation)(z), getattr(reference, activation)(z),
                               rtol=1e-12, atol=1e-15)
    other = z if entry.backward_reads == "input" else getattr(reference, activation)(z)
    np.testing.assert_allclose(getattr(kernels, f"{activation}_backward")(grad, other),
                               getattr(reference, f"{activation}_backward")(grad, other),
                               rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("output", registry_rows.OUTPUTS)
def test_every_output_loss_pair_has_its_kernels_and_twins(output):
    entry = registry.output_loss(output)
    raw = _cpu.module("_kernels")
    for name in (entry.loss_kernel, f"{entry.loss_kernel}_grad"):
        assert name in kernels.__all__
        assert callable(getattr(raw, name)), f"cnet._kernels lacks {name}"
        assert callable(getattr(reference, name)), f"cnet.reference lacks {name}"
    assert callable(getattr(reference, f"_{entry.loss_kernel}_terms"))
    activate, loss, loss_grad = reference.output_functions(output)
    assert (loss, loss_grad) == (getattr(reference, entry.loss_kernel),
                                 getattr(reference, f"{entry.loss_kernel}_grad"))
    rng = np.random.default_rng(0)
    z = rng.standard_normal((3, 8))
    y = np.ascontiguousarray(registry_rows.targets(rng, 8, 3, output).T)
    assert activate(z).shape == z.shape
    assert getattr(kernels, entry.loss_kernel)(z, y) == pytest.approx(loss(z, y), rel=1e-12)
    np.testing.assert_allclose(getattr(kernels, f"{entry.loss_kernel}_grad")(z, y),
                               loss_grad(z, y), rtol=1e-12, atol=1e-15)
    # The per-sample terms the weighted losses use add up to the mean loss.
    assert reference.sample_losses(output, z, y.T).mean() == pytest.approx(loss(z, y),
                                                                           rel=1e-12)


@pytest.mark.parametrize("entry_point,code", [("activation_forward", -1),
                                              ("activation_forward", 10**6),
                                              ("activation_backward", 10**6),
                                              ("output_loss", 10**6),
                                              ("output_loss_grad", -1)])
def test_generic_raw_entry_points_refuse_a_code_the_registry_does_not_have(entry_point, code):
    raw = _cpu.module("_kernels")
    z = np.ones((2, 3))
    args = {"activation_forward": (z.ravel(), np.empty(6)),
            "activation_backward": (z.ravel(), z.ravel(), np.empty(6)),
            "output_loss": (z, z), "output_loss_grad": (z, z, np.empty((2, 3)))}[entry_point]
    with pytest.raises(ValueError, match="code must be one of"):
        getattr(raw, entry_point)(code, *args)


# --- every compiled entry point has its twin's parameters ------------------------------------

@pytest.mark.parametrize("name", kernels.__all__)
def test_every_kernel_has_its_twins_parameters(name):
    assert _parameters(getattr(kernels, name)) == _parameters(getattr(reference, name))


@pytest.mark.parametrize("name", TRAINING_ENTRY_POINTS)
def test_every_training_entry_point_has_its_twins_parameters(name):
    # Written over whatever the two modules define, so that it holds through changes of the
    # signatures: the compiled functions give their signatures (Cython 3 binds them by
    # default), and a default of 0 equals one of 0.0.
    compiled = getattr(_cpu.module("_train"), name)
    assert _parameters(compiled) == _parameters(getattr(reference, name))


def test_every_public_function_of_the_loop_has_a_twin_with_its_parameters():
    train = _cpu.module("_train")
    shared = [n for n in dir(train) if not n.startswith("_") and hasattr(reference, n)
              and inspect.isroutine(getattr(train, n))]
    assert set(TRAINING_ENTRY_POINTS) <= set(shared)
    for name in shared:
        assert _parameters(getattr(train, name)) == _parameters(getattr(reference, name)), name


def test_the_parameter_comparison_can_fail():
    def twin(params, layers, X, out=None):
        pass

    def renamed(params, layers, x, out=None):
        pass

    def other_default(params, layers, X, out=0.5):
        pass

    assert _parameters(twin) != _parameters(renamed)
    assert _parameters(twin) != _parameters(other_default)


# --- every entry has a row in the gradient check and the equivalence tables --------------------

def _rows(test, argname):
    """The values ``test`` is parametrized with for ``argname``."""
    values = []
    for mark in getattr(test, "pytestmark", []):
        if mark.name != "parametrize":
            continue
        names = [n.strip() for n in (mark.args[0].split(",") if isinstance(mark.args[0], str)
                                     else mark.args[0])]
        if argname in names:
            for row in mark.args[1]:
                row = getattr(row, "values", row)     # pytest.param
                values.append(row[names.index(argname)] if len(names) > 1 else row)
    return values


@pytest.mark.parametrize("test,argname,entries", [
    (test_gradients.test_gradient_matches_central_differences, "activation",
     registry_rows.ACTIVATIONS),
    (test_gradients.test_gradient_matches_central_differences, "output",
     registry_rows.OUTPUTS),
    (test_training.test_cython_loop_equals_numpy_twin_for_every_activation, "activation",
     registry_rows.ACTIVATIONS),
    (test_training.test_cython_loop_equals_numpy_twin_for_every_output, "output",
     registry_rows.OUTPUTS),
    (test_kernels.test_kernel_matches_twin, "name",
     registry_rows.FORWARDS + registry_rows.BACKWARDS + registry_rows.LOSSES
     + registry_rows.GRADS),
    (test_kernels.test_activation_backward_matches_finite_differences, "activation",
     registry_rows.ACTIVATIONS),
    (test_kernels.test_loss_grad_is_the_derivative_of_the_loss, "output",
     registry_rows.OUTPUTS),
], ids=lambda v: getattr(v, "__name__", None) if callable(v) else
    (v if isinstance(v, str) else None))
def test_every_entry_has_a_row(test, argname, entries):
    rows = _rows(test, argname)
    missing = [entry for entry in entries if entry not in rows]
    assert not missing, f"{test.__name__} has no row for {missing}"


def test_row_collection_sees_parametrize_marks():
    @pytest.mark.parametrize("a,b", [(1, "x"), pytest.param(2, "y")])
    @pytest.mark.parametrize("c", ["only"])
    def probe(a, b, c):
        pass

    assert _rows(probe, "b") == ["x", "y"]
    assert _rows(probe, "c") == ["only"]
    assert _rows(probe, "d") == []


def test_every_registry_activation_is_a_name_the_tests_use():
    assert registry_rows.ACTIVATIONS == list(registry.ACTIVATIONS)
    assert registry_rows.OUTPUTS == list(registry.OUTPUT_LOSSES)


# --- the estimators accept every entry ---------------------------------------------------------

def _fit_quietly(model, X, y):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return model.fit(X, y)


def _scikit_learn_name(entry):
    # The aliases list scikit-learn's name first.
    return entry.aliases[0] if entry.aliases else entry.name


@pytest.mark.parametrize("activation", registry_rows.ACTIVATIONS)
def test_the_estimators_accept_every_activation(activation):
    rng = np.random.default_rng(0)
    X = rng.standard_normal((30, 3))
    name = _scikit_learn_name(registry.activation(activation))
    clf = _fit_quietly(cnet.MLPClassifier(hidden_layer_sizes=(4,), activation=name,
                                          max_iter=3, random_state=0), X, X[:, 0] > 0)
    assert clf.predict_proba(X).shape == (30, 2)
    reg = _fit_quietly(cnet.MLPRegressor(hidden_layer_sizes=(4,), activation=name, max_iter=3,
                                         random_state=0), X, X[:, 0])
    assert np.isfinite(reg.predict(X)).all()


@pytest.mark.parametrize("loss", sorted(registry.regression_losses()))
def test_the_regressor_accepts_every_regression_loss(loss):
    rng = np.random.default_rng(0)
    X = rng.standard_normal((30, 3))
    entry = registry.regression_losses()[loss]
    y = registry_rows.learnable_targets(X[:, :1], 1, entry.name)[:, 0]
    reg = _fit_quietly(cnet.MLPRegressor(hidden_layer_sizes=(4,), loss=loss, max_iter=3,
                                         random_state=0), X, y)
    assert reg.out_activation_ == entry.output_activation
    assert np.isfinite(reg.predict(X)).all()


@pytest.mark.parametrize("activation", registry.activation_names())
def test_neural_net_accepts_every_activation(activation):
    rng = np.random.default_rng(0)
    X = rng.standard_normal((30, 2))
    net = cnet.NeuralNet(layers=(2, 4, 1), activation=activation, iterations=2)
    _fit_quietly(net, X, (X[:, 0] > 0).astype(int))


# --- the docs table ----------------------------------------------------------------------------

def test_the_docs_tables_list_every_entry():
    text = _docs.markdown_tables()
    for entry in registry.ACTIVATIONS.values():
        assert f"| `{entry.name}` |" in text
    for entry in registry.OUTPUT_LOSSES.values():
        assert f"| `{entry.output_activation}` | `{entry.loss}` |" in text
    for entry in registry.OPTIMIZERS.values():
        assert f"| `{entry.name}` |" in text


def test_the_readme_holds_the_registry_tables():
    # Printed by `python -m cnet._docs`; a new registry entry fails this until it is pasted.
    assert _docs.markdown_tables() in README.read_text(encoding="utf-8"), (
        "README.md's tables differ from the registry's: paste `python -m cnet._docs`")
