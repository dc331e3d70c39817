"""The typed pieces a model file's state is read with: what an array must be
(:class:`ArraySpec`), a state's JSON values read field by field with their types and ranges
checked (:class:`StateFields`), parameters to and from JSON, and the checks shared by every
kind of state. :mod:`cnet.persistence` (the file) and :mod:`cnet._pipeline_file` (the
scikit-learn steps before a model) both read states with them.
"""
import math
import numbers
from typing import Callable, NamedTuple, Optional

import numpy as np

from cnet._npz_reader import short_list

# Seeds, counters and sizes reach compiled code as 64-bit integers.
MAX_INT = 2**63 - 1


class ArraySpec(NamedTuple):
    """What one array of a model's state must be.

    ``shapes`` lists the shapes allowed; ``kinds`` the dtype kinds (``"f"``: float32 or
    float64, the model's own dtype, shared by every ``"f"`` array; ``"F"``: float32 or
    float64, whichever the array is, as a scikit-learn transformer keeps its statistics;
    ``"biuf"``: numbers; ``"biufU"``: numbers or strings; ``"U"``: strings); ``misfit(shape)``, if given, words the error for a shape not
    allowed.
    """

    shapes: list
    kinds: str
    required: bool = True
    misfit: Optional[Callable] = None


KIND_NAMES = {"f": "float32 or float64", "F": "float32 or float64", "biuf": "numbers",
              "biufU": "numbers or strings", "U": "strings"}


def check_finite(array, what):
    """ValueError naming ``what`` if ``array`` holds NaN or infinity."""
    if not np.isfinite(array).all():
        raise ValueError(f"the {what} contain NaN or infinity")


def native_copy(array):
    """A C-ordered copy in native byte order: a restored model owns its arrays."""
    return np.array(array, dtype=array.dtype.newbyteorder("="), order="C")


def jsonable(name, value):
    """A constructor parameter as JSON, or a clear error for what JSON cannot hold."""
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, numbers.Integral):
        return int(value)
    if isinstance(value, numbers.Real):
        return float(value)
    if isinstance(value, tuple):   # JSON has no tuples; keep the difference visible
        return {"tuple": [jsonable(name, v) for v in value]}
    if isinstance(value, list):
        return [jsonable(name, v) for v in value]
    if isinstance(value, dict):   # class_weight: JSON keys are strings only, labels may not be
        return {"dict": [[jsonable(name, k), jsonable(name, v)] for k, v in value.items()]}
    if isinstance(value, type) or isinstance(value, np.dtype):
        return np.dtype(value).name
    raise ValueError(f"cannot save parameter {name}={value!r}: only numbers, strings, "
                     f"None and lists and dicts of them are stored (a RandomState instance, "
                     f"for one, is not)")


def from_json(value, depth=0):
    """Undo the tuple and dict encodings of :func:`jsonable`, refusing anything else."""
    if depth > 4:
        raise ValueError("nested too deeply")
    if isinstance(value, list):
        return [from_json(v, depth + 1) for v in value]
    if not isinstance(value, dict):
        return value
    if set(value) == {"tuple"} and isinstance(value["tuple"], list):
        return tuple(from_json(v, depth + 1) for v in value["tuple"])
    if set(value) == {"dict"} and isinstance(value["dict"], list):
        pairs = value["dict"]
        if not all(isinstance(p, list) and len(p) == 2 and is_label(p[0]) for p in pairs):
            raise ValueError("a dict must be a list of [label, value] pairs")
        return {k: from_json(v, depth + 1) for k, v in pairs}
    raise ValueError(f"an object with keys {short_list(value)} is neither a tuple nor a dict")


def is_label(value):
    return value is None or isinstance(value, (str, bool, int, float))


def is_int(value):
    return isinstance(value, int) and not isinstance(value, bool)


def is_number(value):
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def finite(value):
    """Whether a JSON number is finite as a float (an integer of 400 digits is not)."""
    try:
        return math.isfinite(value)
    except OverflowError:
        return False


class StateFields:
    """A model's state (the header's ``fitted`` object, and the arrays), read field by field
    with each value's type and range checked.

    Parameters
    ----------
    mapping : dict
        The state: JSON values (as the header holds them) and numpy arrays.
    where : str, default "fitted"
        Where the values are, for messages: ``"the header's fitted.n_iter_ is ..."``.
    """

    _KINDS = {
        "int": ("an integer in range", lambda v, low: is_int(v) and low <= v <= MAX_INT),
        "bool": ("true or false", lambda v, low: isinstance(v, bool)),
        "str": ("a string", lambda v, low: isinstance(v, str)),
        "positive": ("a finite number > 0",
                     lambda v, low: is_number(v) and finite(v) and v > 0),
        "loss": ("a number", lambda v, low: is_number(v)),
        # type(), not isinstance: bool is an int, and a curve may hold 100,000 values.
        "losses": ("a list of numbers",
                   lambda v, low: isinstance(v, list) and {type(x) for x in v} <= {int, float}),
    }

    def __init__(self, mapping, where="fitted"):
        self.mapping, self.where = mapping, where

    def get(self, key, kind, low=0, default=KeyError, none=False):
        """The value of ``key``, checked to be of ``kind``.

        Parameters
        ----------
        key : str
        kind : {"int", "bool", "str", "positive", "loss", "losses"}
            What the value must be; ``"int"`` also ``>= low``.
        low : int, default 0
        default : optional
            Returned when ``key`` is absent (older files lack some fields); without it, an
            absent key is an error.
        none : bool, default False
            Whether None is accepted.

        Returns
        -------
        The value, as stored.

        Raises
        ------
        ValueError
            Naming the field, if it is absent (and has no default) or not of ``kind``.
        """
        if key not in self.mapping:
            if default is KeyError:
                raise ValueError(f"the header's {self.where} has no {key!r}")
            return default
        value = self.mapping[key]
        description, check = self._KINDS[kind]
        if not ((none and value is None) or check(value, low)):
            raise ValueError(f"the header's {self.where}.{key} is {value!r:.40}, not "
                             f"{description}{' (>= %d)' % low if kind == 'int' else ''}")
        return value

    def layers(self):
        """The units of every layer, inputs first: at least 2 positive integers."""
        layers = self.mapping.get("layers")
        if not (isinstance(layers, list) and len(layers) >= 2
                and all(is_int(u) and 1 <= u <= MAX_INT for u in layers)):
            raise ValueError(f"the header's fitted.layers is {layers!r:.60}, not a list of at "
                             f"least 2 positive integers")
        return layers
