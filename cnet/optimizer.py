"""The state a stochastic solver carries from epoch to epoch.

The compiled loop takes its steps with the learning rate and the running state kept here (the
velocity, or Adam's two moments, and Adam's step count) and updates them in place; what
changes between epochs (the ``invscaling`` decay, the ``adaptive`` rate's division by 5, the
decision to stop) it decides itself, by the rules of cnet.epoch_rules. The object keeps the
meaning scikit-learn's ``SGDOptimizer`` and ``AdamOptimizer`` give it, so that
``model._optimizer.learning_rate`` reads as it does there.
"""
import numpy as np

# Below this the adaptive schedule stops lowering the rate and training stops instead (passed
# to the loop's rules as lr_floor).
ADAPTIVE_FLOOR = 1e-6


class StochasticOptimizer:
    """Learning rate, schedule and running state of the ``"sgd"`` or ``"adam"`` solver.

    Parameters
    ----------
    solver : {"sgd", "adam"}
    n_parameters : int
        Length of the flat parameter vector.
    dtype : dtype
        The parameters' dtype; the running state has the same.
    learning_rate_init : float
    schedule : {"constant", "invscaling", "adaptive"}
        How the rate changes between epochs (``"sgd"`` only).
    power_t : float
        Exponent of ``invscaling``.

    Attributes
    ----------
    learning_rate : float
        The rate of the next epoch.
    state : ndarray of shape (2, n_parameters)
        Row 0 the velocity (SGD) or first moment (Adam), row 1 Adam's second moment; the
        compiled loop updates it in place.
    step_count : int
        Adam's steps so far (its bias corrections depend on it).
    """

    def __init__(self, solver, n_parameters, dtype, learning_rate_init, schedule="constant",
                 power_t=0.5):
        self.solver = solver
        self.learning_rate_init = float(learning_rate_init)
        self.learning_rate = float(learning_rate_init)
        self.schedule = schedule if solver == "sgd" else "constant"
        self.power_t = power_t
        self.state = np.zeros((2, n_parameters), dtype=dtype)
        self.step_count = 0
