"""Read-only spec objects and the checks their constructors share (cnet.spec,
cnet.epoch_rules, cnet.optimizer): each names the parameter and the range it breaks."""
import numbers

import numpy as np


class Frozen:
    """Attributes set in __init__ only: a checked spec stays checked."""

    __slots__ = ()

    def __setattr__(self, name, value):
        raise AttributeError(f"{type(self).__name__} is read-only; make a new one")

    def _set(self, **values):
        for name, value in values.items():
            object.__setattr__(self, name, value)

    def __repr__(self):
        shown = ", ".join(f"{k}={getattr(self, k)!r}" for k in self.__slots__
                          if not k.endswith("_code"))
        return f"{type(self).__name__}({shown})"


def integer(name, value, low, high=None):
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an integer, got {type(value).__name__}")
    if value < low or (high is not None and value >= high):
        bound = f"in [{low}, {high})" if high is not None else f">= {low}"
        raise ValueError(f"{name} must be {bound}, got {value}")
    return int(value)


def real(name, value, low, high=np.inf, high_open=False, low_open=False):
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a real number, got {type(value).__name__}")
    value = float(value)
    ok = (value > low if low_open else value >= low) and (
        value < high if high_open else value <= high)
    if not ok or np.isnan(value):
        raise ValueError(f"{name} must be in {'(' if low_open else '['}{low}, {high}"
                         f"{')' if high_open else ']'}, got {value!r}")
    return value
