"""What a cnet network is built from, named once: hidden activations, output/loss pairs and
optimizers.

Every layer of the stack reads these tables: the estimators and ``NeuralNet`` take their
accepted names from them, the engine turns a name into the compiled code's number,
``cnet.kernels`` makes its Python-callable wrappers from them, persistence checks a file's
names against them, the docs table is printed from them and the tests parametrize over them.
Adding an entry is: its compiled kernel (``src_c/_activations.pxd`` or ``src_c/_losses.pxd``),
its numpy twin (``cnet/reference.py``) and one line here.

This module imports nothing of cnet's, so that every other module may import it. The twins
and wrappers are found by name: activation ``name`` has ``reference.name`` and
``reference.name_backward`` (and ``kernels`` the same), an output/loss pair has
``reference.<loss_kernel>`` and ``reference.<loss_kernel>_grad``. ``tests/test_registry.py``
holds every entry to that.
"""
from typing import NamedTuple, Optional


class Activation(NamedTuple):
    """A hidden-layer activation."""

    name: str                 # cnet's name, and the kernels' (name, name_backward)
    code: int                 # its number in the Activation enum of src_c/_activations.pxd
    backward_reads: str       # what name_backward takes besides grad: "output" (a) or "input" (z)
    init_gain: float          # NeuralNet's initial weight variance is gain / n_in
    formula: str              # for the docs table and the kernels' docstrings
    aliases: tuple = ()       # other accepted names (scikit-learn's first)
    # The factor name_backward multiplies grad by, written in what it reads (a or z): for the
    # docs table and the kernels' docstrings.
    derivative: str = ""


class OutputLoss(NamedTuple):
    """An output activation trained with its loss: the gradient through the pair is taken as
    one (for the cross-entropies and squared error, ``activation(z) - y``)."""

    name: str                 # the engine's name for the pair
    code: int                 # its number in the Output enum of src_c/_losses.pxd
    output_activation: str    # what predict applies to the last layer (out_activation_)
    loss: str                 # the estimators' name for the loss (MLPRegressor(loss=...))
    loss_kernel: str          # kernels.loss_kernel and kernels.loss_kernel_grad
    task: str                 # "classification" or "regression"
    formula: str              # for the docs table
    # The loss's one hyperparameter, if it has one: the kernels' keyword (and the twins'),
    # and, prefixed with the loss's name, the estimator's (MLPRegressor(huber_delta=...)).
    parameter: Optional[str] = None
    # The targets the loss takes: "binary" (0 or 1), "one_hot" (one 1 per sample), "real" or
    # "counts" (non-negative). The kernels refuse negative counts; the tests draw targets of
    # this kind.
    targets: str = "real"
    parameter_default: float = 1.0


class Optimizer(NamedTuple):
    """A stochastic optimizer: the object that owns its hyperparameters and state lives in
    cnet.optimizer; the compiled loop steps it through slot ``code``."""

    name: str
    code: int
    formula: str


ACTIVATIONS = {entry.name: entry for entry in [
    Activation("identity", 0, "output", 1.0, "z", derivative="1"),
    Activation("relu", 1, "output", 2.0, "max(z, 0)", derivative="a > 0"),
    Activation("sigmoid", 2, "output", 1.0, "1 / (1 + exp(-z))", aliases=("logistic",),
               derivative="a (1 - a)"),
    Activation("tanh", 3, "output", 1.0, "tanh(z)", derivative="1 - a**2"),
    Activation("leaky_relu", 4, "output", 2.0, "z if z > 0 else 0.01 z",
               derivative="1 if a > 0 else 0.01"),
    Activation("elu", 5, "output", 2.0, "z if z > 0 else exp(z) - 1",
               derivative="1 if a > 0 else a + 1"),
    Activation("gelu", 6, "input", 2.0, "z Phi(z), Phi the normal CDF (exact, erf)",
               derivative="Phi(z) + z phi(z)"),
    Activation("silu", 7, "input", 2.0, "z / (1 + exp(-z))", aliases=("swish",),
               derivative="s (1 + z (1 - s)), s = sigmoid(z)"),
]}

OUTPUT_LOSSES = {entry.name: entry for entry in [
    OutputLoss("logistic", 0, "logistic", "log_loss", "binary_cross_entropy", "classification",
               "sigmoid units, binary cross-entropy (two classes, multi-label)",
               targets="binary"),
    OutputLoss("softmax", 1, "softmax", "log_loss", "softmax_cross_entropy", "classification",
               "softmax, categorical cross-entropy (several classes)", targets="one_hot"),
    OutputLoss("identity", 2, "identity", "squared_error", "squared_error", "regression",
               "linear units, half the squared error"),
    OutputLoss("exp", 3, "exp", "poisson", "poisson_loss", "regression",
               "exp units (log link), half the Poisson deviance (counts)", targets="counts"),
    OutputLoss("huber", 4, "identity", "huber", "huber_loss", "regression",
               "linear units, Huber loss: half the squared error within delta, linear beyond",
               parameter="delta"),
    OutputLoss("absolute_error", 5, "identity", "absolute_error", "absolute_error",
               "regression", "linear units, absolute error (fits the conditional median)"),
]}

OPTIMIZERS = {entry.name: entry for entry in [
    Optimizer("sgd", 0, "SGD with momentum (Nesterov's if asked), scikit-learn's rules"),
    Optimizer("adam", 1, "Adam, scikit-learn's rules"),
]}


def activation(name):
    """The entry of a hidden activation by cnet's name or an alias; ValueError if unknown."""
    for entry in ACTIVATIONS.values():
        if name == entry.name or name in entry.aliases:
            return entry
    raise ValueError(f"activation must be one of {activation_names()}, got {name!r}")


def activation_names():
    """Every accepted activation name: cnet's names and the aliases."""
    return sorted({n for e in ACTIVATIONS.values() for n in (e.name, *e.aliases)})


def output_loss(name):
    """The entry of an output/loss pair by the engine's name; ValueError if unknown."""
    if name not in OUTPUT_LOSSES:
        raise ValueError(f"output must be one of {sorted(OUTPUT_LOSSES)}, got {name!r}")
    return OUTPUT_LOSSES[name]


def regression_losses():
    """The regressor's loss names, each with its output/loss pair."""
    return {e.loss: e for e in OUTPUT_LOSSES.values() if e.task == "regression"}


def estimator_parameter(entry):
    """The estimator's name for an output/loss pair's parameter (``huber_delta``), or None."""
    return None if entry.parameter is None else f"{entry.loss}_{entry.parameter}"


def optimizer(name):
    """The entry of a stochastic optimizer; ValueError if unknown."""
    if name not in OPTIMIZERS:
        raise ValueError(f"solver must be one of {sorted(OPTIMIZERS)}, got {name!r}")
    return OPTIMIZERS[name]
