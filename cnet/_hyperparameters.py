"""The front ends' one way of checking hyperparameters: scikit-learn's constraints, then the
machine's limits the constraints do not know.

``MLPClassifier``, ``MLPRegressor`` and ``NeuralNet`` declare ``_parameter_constraints`` as
scikit-learn's estimators do, so that a bad value gets scikit-learn's ``InvalidParameterError``
(a ``ValueError`` and a ``TypeError``) with its standard message. Python's integers are
unbounded, though: ``Interval(Real, 0, None)`` accepts ``10**400``, which no float64 holds,
and ``Interval(Integral, 1, None)`` accepts integers past int64, which the compiled loop
takes. Those get a ValueError here rather than an OverflowError deep in a fit.
"""
from numbers import Integral, Real

import numpy as np
from sklearn.utils._param_validation import Interval

_INT64_MAX = int(np.iinfo(np.int64).max)
# Class -> its numeric parameters, see _numeric_parameters.
_NUMERIC = {}


def validate(estimator):
    """Check ``estimator``'s hyperparameters against its ``_parameter_constraints``.

    Validation runs even under ``sklearn.set_config(skip_parameter_validation=True)``: the
    values reach compiled loops, and it costs a fraction of a millisecond per fit.

    Parameters
    ----------
    estimator : BaseEstimator
        A cnet front end.

    Raises
    ------
    sklearn.utils._param_validation.InvalidParameterError
        A value outside its constraints (scikit-learn's message).
    ValueError
        An integer that no float64 (for a real-valued parameter) or int64 (for an integer
        one) holds.
    """
    estimator._validate_params()
    for name, real, integral, boolean in _numeric_parameters(type(estimator)):
        value = getattr(estimator, name)
        if isinstance(value, bool) and real and not boolean:
            # scikit-learn's Interval(Real, ...) takes True as 1.0; a flag where a number
            # belongs is a mistake (or a tampered model file), not a rate of 1.
            raise ValueError(f"The {name!r} parameter of {type(estimator).__name__} must be "
                             f"a number, not a bool. Got {value!r} instead.")
        if not isinstance(value, Integral) or isinstance(value, bool):
            continue
        if real:
            try:
                float(value)
            except OverflowError:
                raise ValueError(f"The {name!r} parameter of {type(estimator).__name__} must "
                                 f"fit in a float64. Got an integer of {int(value).bit_length()}"
                                 f" bits instead.") from None
        elif integral and abs(int(value)) > _INT64_MAX:
            raise ValueError(f"The {name!r} parameter of {type(estimator).__name__} must fit "
                             f"in an int64. Got an integer of {int(value).bit_length()} bits "
                             f"instead.")


def _numeric_parameters(cls):
    """``(name, real, integral, boolean)`` of each parameter of ``cls`` that has an Interval
    constraint: whether one is real-valued, one integer-valued, and whether a flag is
    allowed too. Read once per class, not on every fit (the constraints are the class's)."""
    found = _NUMERIC.get(cls)
    if found is None:
        found = []
        for name, constraints in cls._parameter_constraints.items():
            kinds = {c.type for c in constraints if isinstance(c, Interval)}
            if kinds:
                found.append((name, Real in kinds, Integral in kinds, "boolean" in constraints))
        found = _NUMERIC[cls] = tuple(found)
    return found
