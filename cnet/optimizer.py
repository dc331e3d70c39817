"""The stochastic optimizers, one small class per entry of ``cnet.registry.OPTIMIZERS``.

Each object owns what scikit-learn's ``SGDOptimizer`` and ``AdamOptimizer`` own: its
hyperparameters, its running state (the velocity, or Adam's two moments, and Adam's step
count) and the current learning rate, so that ``model._optimizer.learning_rate`` reads as it
does there. It describes its schedule (``constant``, ``invscaling``, ``adaptive``) to the
compiled loop, which changes the rate between epochs itself, with no Python per epoch, and
steps it through slot ``code`` of its table of update functions.

The values the loop reads and updates live in ``fields``, one record of ``FIELDS_DTYPE``,
which the compiled loop reads as its ``OptimizerFields`` struct (``src_c/_train.pyx``) and
the numpy twin by name: the two must list the same fields in the same order.
"""
import numpy as np

from cnet import registry
from cnet._frozen import real as _real

# Below this the adaptive schedule stops lowering the rate and training stops instead.
ADAPTIVE_FLOOR = 1e-6

# How the rate changes between epochs; a schedule's number is its index here (the loop's
# SCHEDULE_* codes).
SCHEDULES = ("constant", "invscaling", "adaptive")

FIELDS_DTYPE = np.dtype([
    ("code", np.int64),               # the registry entry's code: the loop's update slot
    ("schedule", np.int64),           # index in SCHEDULES
    ("step_count", np.int64),         # steps taken (Adam's bias corrections depend on it)
    ("nesterov", np.int64),           # SGD: Nesterov's momentum (0 or 1)
    ("learning_rate", np.float64),    # the rate of the next epoch
    ("learning_rate_init", np.float64),
    ("power_t", np.float64),          # invscaling's exponent
    ("lr_floor", np.float64),         # adaptive: at or below this, stop instead of lowering
    ("momentum", np.float64),         # SGD
    ("beta_1", np.float64),           # Adam
    ("beta_2", np.float64),
    ("epsilon", np.float64),
])


class Optimizer:
    """What every optimizer has: its registry entry, ``fields`` and ``state``.

    Parameters
    ----------
    n_parameters : int
        Length of the flat parameter vector.
    dtype : dtype
        The parameters' dtype; the running state has the same.
    learning_rate_init : float
        The first epoch's rate, > 0.

    Attributes
    ----------
    state : ndarray of shape (2, n_parameters)
        Row 0 the velocity (SGD) or first moment (Adam), row 1 Adam's second moment; the
        compiled loop updates it in place.
    fields : ndarray of FIELDS_DTYPE, shape (1,)
        The values the loop reads and updates (see the module docstring).
    """

    name = None         # the registry entry's name, set by each subclass

    def __init__(self, n_parameters, dtype, learning_rate_init):
        self.entry = registry.optimizer(self.name)
        self.fields = np.zeros(1, dtype=FIELDS_DTYPE)
        self.fields["code"] = self.entry.code
        self.fields["lr_floor"] = ADAPTIVE_FLOOR
        self.learning_rate_init = learning_rate_init
        self.learning_rate = self.learning_rate_init
        self.state = np.zeros((2, int(n_parameters)), dtype=dtype)

    def _field(name):
        def get(self):
            return self.fields[name][0].item()

        def put(self, value):
            self.fields[name] = value
        return property(get, put)

    step_count = _field("step_count")
    learning_rate = _field("learning_rate")

    @property
    def learning_rate_init(self):
        return self.fields["learning_rate_init"][0].item()

    @learning_rate_init.setter
    def learning_rate_init(self, value):
        self.fields["learning_rate_init"] = _real("learning_rate_init", value, 0,
                                                  low_open=True)

    @property
    def schedule(self):
        return SCHEDULES[self.fields["schedule"][0]]

    @property
    def power_t(self):
        return self.fields["power_t"][0].item()

    @property
    def steps_in_backward(self):
        """Whether the step is ``params -= learning_rate * gradient`` with no state: the loop
        then takes it inside the backward pass (when nothing else, like an L2 term, must be
        added to the gradient first)."""
        return False

    def set_hyperparameters(self, **values):
        """Set hyperparameters by name (each subclass's own), checked as the constructor
        checks them."""
        for name, value in values.items():
            if name not in self.HYPERPARAMETERS:
                raise TypeError(f"{type(self).__name__} has no hyperparameter {name!r}")
            setattr(self, name, value)
        return self


class SGD(Optimizer):
    """Stochastic gradient descent with momentum (Nesterov's if asked), scikit-learn's rules.

    Parameters
    ----------
    n_parameters, dtype, learning_rate_init
        See :class:`Optimizer`.
    schedule : {"constant", "invscaling", "adaptive"}
        How the rate changes between epochs.
    power_t : float
        Exponent of ``invscaling``: the rate is ``learning_rate_init / (t + 1) ** power_t``
        after each epoch, ``t`` the samples seen.
    momentum : float in [0, 1]
        0 is plain SGD.
    nesterov : bool
    """

    name = "sgd"
    HYPERPARAMETERS = ("momentum", "nesterov")
    # The scikit-learn estimators' names for them, and for the schedule this optimizer runs.
    ESTIMATOR_NAMES = {"momentum": "momentum", "nesterov": "nesterovs_momentum"}
    SCHEDULE_NAMES = {"schedule": "learning_rate", "power_t": "power_t"}

    def __init__(self, n_parameters, dtype, learning_rate_init=0.1, *, schedule="constant",
                 power_t=0.5, momentum=0.9, nesterov=True):
        super().__init__(n_parameters, dtype, learning_rate_init)
        if schedule not in SCHEDULES:
            raise ValueError(f"learning_rate must be one of {list(SCHEDULES)}, got "
                             f"{schedule!r}")
        self.fields["schedule"] = SCHEDULES.index(schedule)
        self.fields["power_t"] = _real("power_t", power_t, -np.inf)
        self.momentum = momentum
        self.nesterov = nesterov

    momentum = property(lambda self: self.fields["momentum"][0].item())

    @momentum.setter
    def momentum(self, value):
        self.fields["momentum"] = _real("momentum", value, 0, 1)

    @property
    def nesterov(self):
        return bool(self.fields["nesterov"][0])

    @nesterov.setter
    def nesterov(self, value):
        if not isinstance(value, (bool, np.bool_)):
            raise TypeError(f"nesterov must be a bool, got {type(value).__name__}")
        self.fields["nesterov"] = int(value)

    @property
    def steps_in_backward(self):
        return self.momentum == 0


class Adam(Optimizer):
    """Adam, scikit-learn's rules (a constant rate, bias-corrected moments).

    Parameters
    ----------
    n_parameters, dtype, learning_rate_init
        See :class:`Optimizer`.
    beta_1, beta_2 : float in [0, 1)
        Decay of the first and second moments.
    epsilon : float > 0
    """

    name = "adam"
    HYPERPARAMETERS = ("beta_1", "beta_2", "epsilon")
    ESTIMATOR_NAMES = {"beta_1": "beta_1", "beta_2": "beta_2", "epsilon": "epsilon"}
    SCHEDULE_NAMES = {}     # Adam's rate is constant, as in scikit-learn

    def __init__(self, n_parameters, dtype, learning_rate_init=0.001, *, beta_1=0.9,
                 beta_2=0.999, epsilon=1e-8):
        super().__init__(n_parameters, dtype, learning_rate_init)
        self.beta_1 = beta_1
        self.beta_2 = beta_2
        self.epsilon = epsilon

    def _beta(name):
        def get(self):
            return self.fields[name][0].item()

        def put(self, value):
            self.fields[name] = _real(name, value, 0, 1, high_open=True)
        return property(get, put)

    beta_1 = _beta("beta_1")
    beta_2 = _beta("beta_2")

    @property
    def epsilon(self):
        return self.fields["epsilon"][0].item()

    @epsilon.setter
    def epsilon(self, value):
        self.fields["epsilon"] = _real("epsilon", value, 0, low_open=True)


CLASSES = {cls.name: cls for cls in (SGD, Adam)}


def make(name, n_parameters, dtype, learning_rate_init, **hyperparameters):
    """The optimizer of registry entry ``name``, with its hyperparameters (see each class).

    Raises ValueError for a name the registry does not know, TypeError for a
    hyperparameter the optimizer does not take."""
    registry.optimizer(name)
    return CLASSES[name](n_parameters, dtype, learning_rate_init, **hyperparameters)
