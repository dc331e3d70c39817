"""The training spec (cnet.spec, cnet.epoch_rules, cnet.optimizer): names and ranges are
refused once, when it is made; what the compiled loop reads of it by name (the optimizer's
fields, the progress) means the same on both sides; the entry points stay narrow."""
import inspect
import pickle

import numpy as np
import pytest

from cnet import _train, engine, reference, registry
from cnet import optimizer as optimizers
from cnet._layout import n_parameters
from cnet.epoch_rules import PROGRESS_DTYPE
from cnet.spec import Network, Progress, Stopping, Training, Validation

from _specs import specs


@pytest.mark.parametrize("make,error,match", [
    (lambda: Network([2, 3, 1], "softplus", "logistic"), ValueError, "activation must be one"),
    (lambda: Network([2, 3, 1], "relu", "hinge"), ValueError, "output must be one"),
    (lambda: Network([2], "relu", "logistic"), ValueError, "at least 2 entries"),
    (lambda: Network([2, 0, 1], "relu", "logistic"), ValueError, "at least one unit"),
    (lambda: Network([2, 2**31, 1], "relu", "logistic"), ValueError, "too large for BLAS"),
    (lambda: Network([2, 1.5, 1], "relu", "logistic"), TypeError, "integers"),
    (lambda: Network([2, 3, 1], "relu", "logistic", dtype=np.int32), TypeError, "dtype"),
    (lambda: Network([2, 3, 1], "relu", "logistic", loss_parameter=0.0), ValueError,
     "loss_parameter"),
    (lambda: Network([2, 3, 1], "relu", "logistic", loss_parameter=np.inf), ValueError,
     "loss_parameter"),
    (lambda: Network([2, 3, 1], "relu", "logistic", loss_parameter="1"), TypeError,
     "loss_parameter"),
    (lambda: specs([2, 3, 1], "relu", "logistic", batch_size=0), ValueError, "batch_size"),
    (lambda: specs([2, 3, 1], "relu", "logistic", batch_size=2.0), TypeError, "batch_size"),
    (lambda: specs([2, 3, 1], "relu", "logistic", batch_size=2, seed=-1), ValueError, "seed"),
    (lambda: specs([2, 3, 1], "relu", "logistic", batch_size=2, seed=2**64), ValueError,
     "seed"),
    (lambda: specs([2, 3, 1], "relu", "logistic", batch_size=2, loss_every=-1), ValueError,
     "loss_every"),
    (lambda: specs([2, 3, 1], "relu", "logistic", batch_size=2, alpha=-1.0), ValueError,
     "alpha"),
    (lambda: specs([2, 3, 1], "relu", "logistic", batch_size=2, alpha=np.nan), ValueError,
     "alpha"),
    (lambda: specs([2, 3, 1], "relu", "logistic", batch_size=2, dropout=1.0), ValueError,
     "dropout"),
    (lambda: Training(object(), batch_size=1), TypeError, "optimizer must be"),
    (lambda: Training(optimizers.SGD(3, np.float64), batch_size=1, stopping="loss"),
     TypeError, "stopping must be"),
    (lambda: Stopping("loss", tol=-1.0), ValueError, "tol"),
    (lambda: Stopping("loss", n_iter_no_change=0), ValueError, "n_iter_no_change"),
    (lambda: Validation([[1.0]], [[1.0]]), TypeError, "numpy array"),
    (lambda: optimizers.make("rmsprop", 3, np.float64, 0.1), ValueError, "solver must be one"),
    (lambda: optimizers.make("adam", 3, np.float64, 0.1, momentum=0.9), TypeError, "momentum"),
    (lambda: optimizers.make("sgd", 3, np.float64, 0.0), ValueError, "learning_rate_init"),
    (lambda: optimizers.make("sgd", 3, np.float64, 0.1, momentum=1.5), ValueError,
     "momentum"),
    (lambda: optimizers.make("sgd", 3, np.float64, 0.1, nesterov=1), TypeError, "nesterov"),
    (lambda: optimizers.make("adam", 3, np.float64, 0.1, beta_1=1.0), ValueError, "beta_1"),
    (lambda: optimizers.make("adam", 3, np.float64, 0.1, epsilon=0.0), ValueError, "epsilon"),
])
def test_the_spec_refuses_bad_names_and_ranges_when_it_is_made(make, error, match):
    with pytest.raises(error, match=match):
        make()


def test_a_spec_is_read_only_and_resolves_aliases_through_the_registry():
    network = Network([2, 3, 1], "logistic", "logistic")
    assert network.activation == "sigmoid"
    assert network.activation_code == registry.activation("sigmoid").code
    assert network.output_code == registry.output_loss("logistic").code
    with pytest.raises(AttributeError, match="read-only"):
        network.activation = "relu"
    with pytest.raises(ValueError):
        network.layers[0] = 5
    copy = pickle.loads(pickle.dumps(network))
    assert copy.activation == "sigmoid" and list(copy.layers) == [2, 3, 1]
    _, training = specs([2, 3, 1], "relu", "logistic", batch_size=3)
    with pytest.raises(AttributeError, match="read-only"):
        training.batch_size = 0


@pytest.mark.parametrize("name", sorted(registry.ACTIVATIONS))
def test_the_network_keeps_pre_activations_where_the_registry_says(name):
    entry = registry.ACTIVATIONS[name]
    assert Network([2, 3, 1], name, "logistic").keeps_input == (entry.backward_reads == "input")


@pytest.mark.parametrize("name", sorted(registry.OPTIMIZERS))
def test_every_registry_optimizer_has_a_class_a_compiled_slot_and_a_twin_step(name):
    optimizer = optimizers.make(name, 5, np.float64, 0.01)
    assert optimizer.name == name and optimizer.fields["code"][0] == registry.OPTIMIZERS[
        name].code
    assert callable(getattr(reference, f"_{name}_step"))
    # The compiled loop has an update in slot `code`: a short training run steps it, and
    # agrees with the twin.
    rng = np.random.default_rng(0)
    X, Y = rng.standard_normal((12, 2)), (rng.random((12, 1)) > 0.5).astype(float)
    start = rng.standard_normal(n_parameters([2, 3, 1]))
    results = []
    for backend in ("cython", "numpy"):
        params = start.copy()
        network, training = specs([2, 3, 1], "tanh", "logistic", solver=name, batch_size=4,
                                  learning_rate=0.05, alpha=1e-3)
        engine.train(backend, params, network, training, X, Y, 3)
        results.append((params, training.optimizer.fields.copy()))
    np.testing.assert_allclose(results[0][0], results[1][0], rtol=1e-12)
    assert not np.allclose(results[0][0], start)
    assert results[0][1].tolist() == results[1][1].tolist()


def test_the_loop_reads_and_writes_progress_and_optimizer_fields_by_name():
    # Both sides name the same fields in the same order (the compiled loop's packed structs
    # against cnet.epoch_rules.PROGRESS_DTYPE and cnet.optimizer.FIELDS_DTYPE): after an
    # invscaling run that stops on the loss, every field holds what the twin computes.
    rng = np.random.default_rng(1)
    X, Y = rng.standard_normal((30, 3)), (rng.random((30, 1)) > 0.5).astype(float)
    start = rng.standard_normal(n_parameters([3, 4, 1])) * 0.5
    outcomes = []
    for backend in ("cython", "numpy"):
        params = start.copy()
        progress = Progress(7, samples_seen=100, best_loss=0.2, no_improvement=1)
        network, training = specs([3, 4, 1], "relu", "logistic", schedule="invscaling",
                                  learning_rate=0.5, momentum=0.9, batch_size=8,
                                  stopping=Stopping("loss", tol=10.0, n_iter_no_change=3))
        result = engine.train(backend, params, network, training, X, Y, 20, progress)
        outcomes.append((result, progress.fields.copy(), training.optimizer.fields.copy()))
    (r_c, p_c, o_c), (r_n, p_n, o_n) = outcomes
    assert r_c.stopped and r_n.stopped and r_c.epochs_done == r_n.epochs_done == 3
    assert p_c["epoch"][0] == 7 + 3 and p_c["samples_seen"][0] == 100 + 3 * 30
    assert p_c["no_improvement"][0] == 4 and p_c["best_loss"][0] == 0.2
    assert o_c["learning_rate"][0] == pytest.approx(0.5 / (100 + 90 + 1) ** 0.5, rel=1e-12)
    for name in PROGRESS_DTYPE.names:
        assert p_c[name][0] == pytest.approx(p_n[name][0], rel=1e-12), name
    for name in optimizers.FIELDS_DTYPE.names:
        assert o_c[name][0] == pytest.approx(o_n[name][0], rel=1e-12), name


@pytest.mark.parametrize("function", [engine.train, _train.train_epochs,
                                      reference.train_epochs, reference._epoch])
def test_the_training_entry_points_take_at_most_eight_parameters(function):
    assert len(inspect.signature(function).parameters) <= 8


@pytest.mark.parametrize("name", ["train_epochs", "loss_and_gradient", "forward",
                                  "forward_layers"])
def test_the_compiled_entry_points_and_their_twins_take_the_same_parameters(name):
    compiled = inspect.signature(getattr(_train, name)).parameters
    twin = inspect.signature(getattr(reference, name)).parameters
    assert [(p.name, repr(p.default)) for p in compiled.values()] == [
        (p.name, repr(p.default)) for p in twin.values()]
