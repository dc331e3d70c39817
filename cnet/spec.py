"""The training spec: which network is trained and how, checked once for both backends.

A :class:`Network` says what is computed (layer sizes, hidden activation, output/loss pair,
the loss's parameter, dtype); a :class:`Training` how it is trained (the optimizer object,
batches, shuffling, seed, dropout, L2 penalty, sample weights, when the loss is recorded, and
the rules applied between epochs: :class:`Stopping` and a :class:`Validation` set).
:class:`Progress` carries what those rules remember from call to call.

Names and ranges are checked here, in the constructors, with ValueError or TypeError naming
the problem; names and the compiled code's numbers come from :mod:`cnet.registry`. The
compiled loop (``cnet._train``) and its numpy twin (``cnet.reference``) take these objects
and check only what depends on the arrays they are given (sizes, dtypes, values, overlaps).
The objects are not changed after they are made (their attributes are read-only), so what was
checked stays true.
"""
import numpy as np

from cnet import registry
from cnet._frozen import Frozen, integer, real
from cnet.epoch_rules import Progress, Stopping, Validation
from cnet.optimizer import Optimizer

__all__ = ["Network", "Training", "Stopping", "Validation", "Progress"]


class Network(Frozen):
    """What the network computes.

    Parameters
    ----------
    layers : sequence of int
        Units per layer, inputs first; at least 2 entries, each in [1, 2**31).
    activation : str
        Hidden activation: a name or alias of ``cnet.registry.ACTIVATIONS``.
    output : str
        Output activation with its loss: a key of ``cnet.registry.OUTPUT_LOSSES``.
    loss_parameter : float, default 1.0
        The loss's parameter (e.g. huber's delta), finite and > 0; unused by losses without
        one.
    dtype : {numpy.float64, numpy.float32}
        The parameters' dtype.

    Attributes
    ----------
    layers : ndarray of intp (read-only)
    activation, output : str
        The registry's names (an alias resolved).
    activation_code, output_code : int
        The registry entries' codes, the compiled code's numbers.
    keeps_input : bool
        Whether the activation's backward reads its input, so training keeps each hidden
        layer's pre-activation.
    """

    __slots__ = ("layers", "activation", "output", "loss_parameter", "dtype",
                 "activation_code", "output_code", "keeps_input")

    # Networks made so far, by their arguments: a Network is read-only, so one object serves
    # every equal request, and a prediction of one sample (microseconds) does not pay for
    # the checks again.
    _made = {}

    def __new__(cls, layers, activation, output, *, loss_parameter=1.0, dtype=np.float64):
        try:
            fast = (isinstance(layers, np.ndarray) and layers.ndim == 1
                    and layers.dtype == np.intp)
            key = (layers.tobytes() if fast else tuple(int(u) for u in layers), activation,
                   output, type(loss_parameter), loss_parameter, dtype)
            made = cls._made.get(key)
        except (TypeError, ValueError):
            key = made = None
        if made is not None:
            return made
        network = super().__new__(cls)
        network._check(layers, activation, output, loss_parameter, dtype)
        if key is not None:
            if len(cls._made) >= 256:
                cls._made.clear()
            cls._made[key] = network
        return network

    def __reduce__(self):
        return _network, (self.layers.tolist(), self.activation, self.output,
                          self.loss_parameter, self.dtype.str)

    def _check(self, layers, activation, output, loss_parameter, dtype):
        sizes = np.asarray(layers)
        if sizes.ndim != 1 or sizes.shape[0] < 2:
            raise ValueError(f"layers needs at least 2 entries (inputs and outputs), got "
                             f"{layers!r}")
        if not (np.issubdtype(sizes.dtype, np.integer)
                or (np.issubdtype(sizes.dtype, np.floating)
                    and np.array_equal(sizes, np.round(sizes)))):
            raise TypeError(f"layers must hold integers, got {sizes.dtype}")
        for k, units in enumerate(sizes.tolist()):
            if units < 1:
                raise ValueError(f"layers[{k}] = {units}: every layer needs at least one unit")
            if units >= 2 ** 31:
                raise ValueError(f"layers[{k}] = {units} is too large for BLAS")
        sizes = np.array(sizes, dtype=np.intp)
        sizes.setflags(write=False)
        hidden = registry.activation(activation)
        pair = registry.output_loss(output)
        if np.dtype(dtype) not in (np.dtype(np.float32), np.dtype(np.float64)):
            raise TypeError(f"dtype must be float32 or float64, got {np.dtype(dtype)}")
        self._set(layers=sizes, activation=hidden.name, output=pair.name,
                  loss_parameter=real("loss_parameter", loss_parameter, 0, low_open=True,
                                      high_open=True),
                  dtype=np.dtype(dtype), activation_code=hidden.code, output_code=pair.code,
                  keeps_input=hidden.backward_reads == "input")


def _network(layers, activation, output, loss_parameter, dtype):
    """A Network from its pickled arguments."""
    return Network(layers, activation, output, loss_parameter=loss_parameter, dtype=dtype)


class Training(Frozen):
    """How the network is trained.

    Parameters
    ----------
    optimizer : cnet.optimizer.Optimizer
        Owns the learning rate, its schedule and the running state, which training updates.
    batch_size : int >= 1
        Samples per step; ``n_samples`` or more is full batch.
    shuffle : bool
        Visit the samples in a new order each epoch (only with more than one batch).
    seed : int in [0, 2**64)
        Seed of the shuffling orders and dropout masks.
    loss_every : int >= 0
        Record the loss of epochs whose number is a multiple of this; 0 records none.
    alpha : float >= 0
        L2 penalty ``0.5 * alpha * sum(W**2) / batch_size`` per batch.
    dropout : float in [0, 1)
        Inverted dropout on the hidden layers' outputs.
    sample_weight : ndarray of shape (n_samples,), optional
        Non-negative weights, dtype of the parameters; each batch's loss is their weighted
        mean.
    stopping : Stopping, optional
    validation : Validation, optional
    """

    __slots__ = ("optimizer", "batch_size", "shuffle", "seed", "loss_every", "alpha",
                 "dropout", "sample_weight", "stopping", "validation")

    def __init__(self, optimizer, *, batch_size, shuffle=False, seed=0, loss_every=1,
                 alpha=0.0, dropout=0.0, sample_weight=None, stopping=None, validation=None):
        if not isinstance(optimizer, Optimizer):
            raise TypeError(f"optimizer must be a cnet.optimizer.Optimizer, got "
                            f"{type(optimizer).__name__}")
        stopping = Stopping() if stopping is None else stopping
        if not isinstance(stopping, Stopping):
            raise TypeError("stopping must be a cnet.spec.Stopping")
        if validation is not None and not isinstance(validation, Validation):
            raise TypeError("validation must be a cnet.spec.Validation")
        loss_every = integer("loss_every", loss_every, 0)
        if stopping.on == "loss" and loss_every != 1:
            raise ValueError("stopping on the loss needs the loss of every epoch "
                             "(loss_every=1)")
        if stopping.on == "score" and (validation is None or validation.score == "none"):
            raise ValueError("stopping on the score needs a validation set with a score")
        # dropout's range is a value check of the entry points too (their raw callers).
        self._set(optimizer=optimizer, batch_size=integer("batch_size", batch_size, 1),
                  shuffle=bool(shuffle), seed=integer("seed", seed, 0, 2 ** 64),
                  loss_every=loss_every, alpha=real("alpha", alpha, 0, high_open=True),
                  dropout=real("dropout", dropout, 0, 1, high_open=True),
                  sample_weight=sample_weight, stopping=stopping, validation=validation)
