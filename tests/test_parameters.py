"""Hyperparameters are checked in scikit-learn's one style by every front end.

``MLPClassifier``, ``MLPRegressor`` and ``NeuralNet`` declare ``_parameter_constraints``; a bad
value gets scikit-learn's ``InvalidParameterError`` and its standard message. The accepted
names come from ``cnet.registry``, so a new registry entry is accepted (and trained, by the
tables below) with no change to the front ends or to these tests.
"""
import re
import warnings

import numpy as np
import pytest
import sklearn
import sklearn.neural_network
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils._param_validation import InvalidParameterError, make_constraint
from sklearn.utils.estimator_checks import check_param_validation

from cnet import MLPClassifier, MLPRegressor, NeuralNet, registry

FRONT_ENDS = [MLPClassifier, MLPRegressor, NeuralNet]
SKLEARN_TWIN = {MLPClassifier: sklearn.neural_network.MLPClassifier,
                MLPRegressor: sklearn.neural_network.MLPRegressor}
# The names scikit-learn's constraints list; cnet's lists are the registry's, which hold more.
NAMED = {"activation", "solver", "loss"}

rng = np.random.default_rng(0)
X = rng.standard_normal((30, 2))
y = (X[:, 0] + X[:, 1] > 0).astype(int)


def _fit(estimator, y_=y):
    with warnings.catch_warnings():
        # Short fits, on purpose: only whether the parameters are accepted matters here.
        warnings.simplefilter("ignore", ConvergenceWarning)
        return estimator.fit(X, y_)


def _short(cls, **params):
    """An estimator of ``cls`` that trains in a few milliseconds, with ``params``."""
    small = (dict(layers=[2, 3, 1], iterations=2) if cls is NeuralNet
             else dict(hidden_layer_sizes=(3,), max_iter=2))
    return cls(**{**small, **params})


@pytest.mark.parametrize("cls", FRONT_ENDS)
def test_scikit_learns_own_check_finds_every_parameter_validated(cls):
    # scikit-learn's check: every constructor parameter has a constraint, and a value of a
    # wrong type, or of the right type outside the constraint, raises InvalidParameterError
    # with the standard message from fit and from partial_fit, before anything else runs.
    check_param_validation(cls.__name__, cls())


@pytest.mark.parametrize("make,message", [
    (lambda: NeuralNet(learning_rate="x"),
     "The 'learning_rate' parameter of NeuralNet must be a float in the range (0.0, inf). "
     "Got 'x' instead."),
    (lambda: MLPClassifier(alpha="x"),
     "The 'alpha' parameter of MLPClassifier must be a float in the range [0.0, inf). "
     "Got 'x' instead."),
    (lambda: MLPRegressor(dropout=1.0),
     "The 'dropout' parameter of MLPRegressor must be a float in the range [0.0, 1.0). "
     "Got 1.0 instead."),
    (lambda: NeuralNet(iterations=2.5),
     "The 'iterations' parameter of NeuralNet must be an int in the range [0, inf). "
     "Got 2.5 instead."),
])
def test_a_bad_value_gets_scikit_learns_error_and_message(make, message):
    with pytest.raises(InvalidParameterError, match=re.escape(message)) as caught:
        make().fit(X, y)
    # A ValueError and a TypeError both, as scikit-learn's, so older `except`s still catch it.
    assert isinstance(caught.value, ValueError) and isinstance(caught.value, TypeError)


def _comparable(constraint):
    """A constraint as something equal for equal constraints: the str of a set of options
    depends on the set's order, which hashing of strings changes from run to run."""
    constraint = make_constraint(constraint)
    options = getattr(constraint, "options", None)
    return (type(constraint).__name__, frozenset(options)) if options is not None \
        else str(constraint)


@pytest.mark.parametrize("cls", [MLPClassifier, MLPRegressor])
def test_shared_parameters_have_scikit_learns_constraints(cls):
    ours, theirs = cls._parameter_constraints, SKLEARN_TWIN[cls]._parameter_constraints
    assert set(theirs) <= set(ours)
    for name in set(theirs) - NAMED:
        assert [_comparable(c) for c in ours[name]] == [_comparable(c) for c in theirs[name]], name
    for name in NAMED & set(theirs):
        # scikit-learn's names are all accepted.
        (their_names,) = [c.options for c in theirs[name]]
        (our_names,) = [c.options for c in ours[name]]
        assert their_names <= our_names, name


@pytest.mark.parametrize("cls,name,expected", [
    (MLPClassifier, "activation", set(registry.activation_names())),
    (MLPRegressor, "activation", set(registry.activation_names())),
    (NeuralNet, "activation", set(registry.activation_names())),
    (MLPClassifier, "solver", {*registry.OPTIMIZERS, "lbfgs"}),
    (MLPRegressor, "loss", set(registry.regression_losses())),
])
def test_accepted_names_are_the_registrys(cls, name, expected):
    (constraint,) = cls._parameter_constraints[name]
    assert constraint.options == expected


@pytest.mark.parametrize("name", registry.activation_names())
def test_every_registry_activation_trains_in_the_mlps(name):
    for cls in (MLPClassifier, MLPRegressor):
        model = _fit(_short(cls, activation=name, random_state=0))
        assert all(np.isfinite(W).all() for W in model.coefs_), (cls, name)


@pytest.mark.parametrize("name", sorted(registry.ACTIVATIONS))
def test_every_registry_activation_trains_in_neural_net(name):
    net = _fit(_short(NeuralNet, activation=name, random_state=0))
    assert np.isfinite(net.predict_proba(X)).all()


@pytest.mark.parametrize("entry", [e for e in registry.ACTIVATIONS.values() if e.aliases])
def test_an_alias_trains_the_same_network_as_cnets_name(entry):
    # The alias is a name only: same initial weights (scikit-learn's Glorot factor for
    # "logistic" applies to "sigmoid" too), same training.
    by_name = _fit(_short(MLPClassifier, activation=entry.name, random_state=0))
    for alias in entry.aliases:
        by_alias = _fit(_short(MLPClassifier, activation=alias, random_state=0))
        for a, b in zip(by_name.coefs_ + by_name.intercepts_,
                        by_alias.coefs_ + by_alias.intercepts_):
            np.testing.assert_array_equal(a, b)


def test_sigmoid_gets_scikit_learns_glorot_factor_for_logistic():
    # scikit-learn draws logistic networks' initial weights from a narrower range (factor 2,
    # not 6): the first weights drawn, before any epoch, lie within that range.
    clf = MLPClassifier(hidden_layer_sizes=(50,), activation="sigmoid", max_iter=1,
                        learning_rate_init=1e-12, random_state=0)
    _fit(clf)
    bound = np.sqrt(2.0 / (2 + 50))
    assert np.abs(clf.coefs_[0]).max() <= bound * (1 + 1e-6)
    assert np.abs(clf.coefs_[0]).max() > bound * 0.9


@pytest.mark.parametrize("name", sorted(registry.regression_losses()))
def test_every_registry_regression_loss_trains(name):
    reg = _fit(_short(MLPRegressor, loss=name, random_state=0), np.abs(X[:, 0]))
    assert np.isfinite(reg.predict(X)).all()


@pytest.mark.parametrize("make,match", [
    # What constraints cannot say keeps a ValueError of its own.
    (lambda: MLPClassifier(hidden_layer_sizes=(3, 0)), "hidden_layer_sizes must be positive"),
    (lambda: MLPClassifier(hidden_layer_sizes=[3, True]), "hidden_layer_sizes must be positive"),
    (lambda: MLPClassifier(solver="lbfgs", dropout=0.5), "solver='lbfgs' does not support"),
    (lambda: MLPClassifier(backend="gpu"), "backend must be one of"),
    (lambda: NeuralNet(layers=[2, 3, 2]), r"layers\[-1\] must be 1"),
    (lambda: NeuralNet(layers=[2]), "at least 2 positive integers"),
    (lambda: NeuralNet(backend="gpu"), "backend must be one of"),
    # Integers past what float64 and int64 hold: a ValueError, not an OverflowError.
    (lambda: MLPClassifier(learning_rate_init=10**400), "'learning_rate_init' .* float64"),
    (lambda: NeuralNet(learning_rate=10**400), "'learning_rate' .* float64"),
    (lambda: MLPRegressor(max_iter=2**64), "'max_iter' .* int64"),
    (lambda: NeuralNet(iterations=2**64), "'iterations' .* int64"),
])
def test_what_constraints_cannot_say_gets_a_clear_value_error(make, match):
    with pytest.raises(ValueError, match=match):
        make().fit(X, y)


@pytest.mark.parametrize("dtype", [None, "float32", "float64", np.float32, np.float64,
                                   np.dtype("float32"), np.dtype("float64")])
def test_dtype_accepts_each_spelling_of_the_two_float_types(dtype):
    clf = _fit(_short(MLPClassifier, dtype=dtype))
    assert clf.coefs_[0].dtype == (np.float64 if dtype is None else np.dtype(dtype))


@pytest.mark.parametrize("dtype", ["f4", np.float16, "int64", int])
def test_dtype_refuses_other_types(dtype):
    with pytest.raises(InvalidParameterError, match="The 'dtype' parameter of MLPClassifier"):
        _short(MLPClassifier, dtype=dtype).fit(X, y)


def test_n_iter_no_change_may_be_infinite():
    clf = _fit(_short(MLPClassifier, n_iter_no_change=np.inf))
    assert clf.n_iter_ == 2


def test_class_weight_takes_a_dict_a_list_or_balanced():
    for weights in [None, "balanced", {0: 1.0, 1: 2.0}]:
        _fit(_short(MLPClassifier, class_weight=weights))
    with pytest.raises(InvalidParameterError, match="The 'class_weight' parameter"):
        _short(MLPClassifier, class_weight="heavy").fit(X, y)


def test_partial_fit_checks_parameters_before_asking_for_classes():
    with pytest.raises(InvalidParameterError, match="The 'alpha' parameter"):
        MLPClassifier(alpha=-1.0).partial_fit(X, y)


def test_a_parameter_set_between_partial_fits_is_checked():
    clf = _short(MLPClassifier).partial_fit(X, y, classes=[0, 1])
    clf.set_params(learning_rate_init=-1.0)
    with pytest.raises(InvalidParameterError, match="The 'learning_rate_init' parameter"):
        clf.partial_fit(X, y)


@pytest.mark.parametrize("make", [lambda: MLPClassifier(alpha="x"),
                                  lambda: NeuralNet(learning_rate="x")])
def test_skipping_scikit_learns_validation_does_not_skip_cnets(make):
    # The values reach compiled loops: they are checked whatever scikit-learn's config says.
    with sklearn.config_context(skip_parameter_validation=True):
        with pytest.raises(InvalidParameterError):
            make().fit(X, y)
