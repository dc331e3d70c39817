"""Models on disk: a portable ``.npz`` file that loads without executing anything.

The file is a numpy ``.npz`` archive of plain numeric (or fixed-width string) arrays: the flat
parameter vector, the optimizer's state, the class labels, the feature names, and ``header``,
a JSON document stored as bytes with the format name and version, the model's class, its
constructor parameters and its fitted scalars. No object arrays, no pickles, no code.

A file may come from anyone, so :func:`load` trusts nothing in it: the archive is read through
:class:`cnet._npz_reader.BoundedArchive` (every size bounded before it is allocated), the
header first and alone; the header's every field is checked for type and range, its
architecture decides which members must exist and each one's shape and dtype, and only then
are those members read. The model's parameters are re-validated by the model's own checks.
Whatever is wrong gives a ``ValueError`` naming it.

This module knows the file, not the models: each model class registers itself with
:func:`register_model` where it is defined, and :func:`load` finds it by the name the file
records. ``import cnet`` leaves the models' modules to their first use, and ``cnet.load``
imports them all before it reads, so the registry is full whenever it runs.
What a model's file holds is the model's to say, through three methods:

- ``_get_state()``: the fitted state as named plain values, numpy arrays (stored as members of
  the archive) and JSON values (stored in the header's ``fitted`` object); ``params``, the
  flat parameter vector, is one of them in every model.
- ``_state_arrays(fields)``: the arrays a state must hold, as ``{name: ArraySpec}``, given its
  JSON values read through a :class:`StateFields` (so that :func:`load` checks each member's
  shape and dtype before reading it).
- ``_set_state(state)``: the model restored from such values, each one checked.

The checks a state's values share, whatever the model, are here: :class:`StateFields` (types
and ranges of the JSON values), :func:`check_state_arrays`, :func:`check_finite`,
:func:`check_labels`, :func:`storable_labels`, and :class:`SaveMixin`'s input state.
"""
import contextlib
import json
import math
import numbers
import os
import stat
from typing import Callable, NamedTuple, Optional

import numpy as np

from cnet._atomic import atomic_write
from cnet._npz_reader import BoundedArchive, short_list

FORMAT = "cnet-model"
# Version 2 added feature_names_in (a DataFrame's column names), dict parameters
# (class_weight) and object labels saved as strings. Version 1 files load as before; a
# version 1 reader refuses version 2 files rather than drop the column names unnoticed.
FORMAT_VERSION = 2
# The header holds parameters and loss curves: 4 MiB is a curve of about 200,000 epochs.
MAX_HEADER_BYTES = 4 * 2**20
# JSON lists and objects cost about 60 bytes each once parsed; a header has a few dozen.
MAX_HEADER_CONTAINERS = 10_000
# Seeds, counters and sizes reach compiled code as 64-bit integers.
MAX_INT = 2**63 - 1

# Class name -> class, of every model a file may hold; filled by register_model.
_MODEL_CLASSES = {}


def register_model(cls):
    """Class decorator: let :func:`save` write ``cls`` and :func:`load` rebuild it by name.

    Only the decorated class is registered, not its subclasses: a file names a class, and
    a subclass defined elsewhere may not be importable where the file is loaded.

    Parameters
    ----------
    cls : type
        A model class with ``get_params`` and a constructor taking those parameters.

    Returns
    -------
    type
        ``cls`` itself.
    """
    known = _MODEL_CLASSES.get(cls.__name__)
    if known is not None and known is not cls:
        # Files name the class only: two classes of one name would make load ambiguous.
        raise ValueError(f"a model class named {cls.__name__!r} is already registered "
                         f"({known.__module__}.{known.__qualname__})")
    _MODEL_CLASSES[cls.__name__] = cls
    return cls


class SaveMixin:
    """Gives a model ``save(path)``, and the part of its state every model shares: what it
    was fitted on (scikit-learn's ``n_features_in_`` and ``feature_names_in_``, the CLI's
    ``feature_names_``)."""

    def save(self, path):
        """Write the fitted model to ``path``; :func:`cnet.load` reads it back.

        Parameters
        ----------
        path : str or path-like
            The file to write (``.npz``: numeric arrays and a JSON header, no pickles).
            It is replaced whole or not at all; see :func:`cnet.persistence.save`.
        """
        save(self, path)

    def _input_state(self):
        """The inputs' part of ``_get_state()``."""
        state = {"n_features_in_": int(self.n_features_in_)}
        if getattr(self, "feature_names_", None) is not None:
            state["feature_names"] = np.asarray(self.feature_names_, dtype=str)
        if getattr(self, "feature_names_in_", None) is not None:
            # scikit-learn's column names of a DataFrame: predict compares them after loading.
            state["feature_names_in"] = np.asarray(self.feature_names_in_, dtype=str)
        return state

    @staticmethod
    def _input_arrays(n_features):
        """The inputs' part of ``_state_arrays()``: the optional feature names."""
        return {"feature_names": ArraySpec([(n_features,)], "U", required=False),
                "feature_names_in": ArraySpec([(n_features,)], "U", required=False)}

    def _set_input_state(self, fields, layers):
        """Restore what ``_input_state`` gave; ``fields`` reads the state (checked arrays)."""
        n_features = fields.get("n_features_in_", "int", low=1)
        if n_features != layers[0]:
            raise ValueError(f"n_features_in_ {n_features} is not the first layer's "
                             f"{layers[0]} units")
        self.n_features_in_ = n_features
        for name in ("feature_names_", "feature_names_in_"):
            self.__dict__.pop(name, None)
        if "feature_names" in fields.mapping:
            self.feature_names_ = [str(v) for v in fields.mapping["feature_names"]]
        if "feature_names_in" in fields.mapping:
            self.feature_names_in_ = np.asarray(fields.mapping["feature_names_in"].tolist(),
                                                dtype=object)

    @contextlib.contextmanager
    def _all_or_nothing(self):
        """Undo every attribute change of the block if it raises: a state refused halfway
        leaves the model as it was, not half restored."""
        before = dict(self.__dict__)
        try:
            yield
        except BaseException:
            self.__dict__.clear()
            self.__dict__.update(before)
            raise


class ArraySpec(NamedTuple):
    """What one array of a model's state must be.

    ``shapes`` lists the shapes allowed; ``kinds`` the dtype kinds (``"f"``: float32 or
    float64, the model's own dtype, shared by every ``"f"`` array; ``"biufU"``: numbers or
    strings; ``"U"``: strings); ``misfit(shape)``, if given, words the error for a shape not
    allowed.
    """

    shapes: list
    kinds: str
    required: bool = True
    misfit: Optional[Callable] = None


_KIND_NAMES = {"f": "float32 or float64", "biufU": "numbers or strings", "U": "strings"}


def check_state_arrays(state, layout, owner, layers):
    """Check the arrays of a state against the model's ``_state_arrays``.

    Parameters
    ----------
    state : dict
        A model's state; its numpy arrays are checked, its other values are not.
    layout : dict of {str: ArraySpec}
        What the model's ``_state_arrays`` asks for.
    owner : str
        The model's class name, for messages.
    layers : list of int
        The state's layers, for messages.

    Raises
    ------
    ValueError
        Naming the first array missing, unknown, or of a shape or dtype not allowed.
    """
    for name in layout:
        if name in state and not isinstance(state[name], np.ndarray):
            # A header's fitted object may name an array it does not hold.
            raise ValueError(f"the state's {name!r} is a {type(state[name]).__name__}, not an "
                             f"array")
    found = {name: (tuple(value.shape), value.dtype) for name, value in state.items()
             if isinstance(value, np.ndarray)}
    _check_layout(found, layout, owner, layers)


def _check_layout(found, layout, owner, layers, dtype=None, where=""):
    """``found`` (``{name: (shape, dtype)}``) against ``layout``; ``dtype`` is the model's,
    if known (else that of the first float array)."""
    unknown = sorted(set(found) - set(layout))
    missing = sorted(name for name, spec in layout.items()
                     if spec.required and name not in found)
    if unknown or missing:
        raise ValueError(f"the arrays do not match a {owner}'s: "
                         + "; ".join(filter(None, [unknown and f"unknown {short_list(unknown)}",
                                                   missing and f"missing {short_list(missing)}"])))
    said = "the header says the model is" if dtype else "the other arrays are"
    for name, (shape, array_dtype) in found.items():
        spec = layout[name]
        if array_dtype.kind not in spec.kinds or array_dtype.itemsize == 0:
            raise ValueError(f"array {name!r} has dtype {array_dtype.str!r:.20}{where}; a "
                             f"{owner} stores {name} as {_KIND_NAMES[spec.kinds]}")
        if spec.kinds == "f":
            # Class labels may be floats of another width; the parameters and what the
            # optimizer keeps of them are all of the model's one dtype.
            if array_dtype.name not in ("float32", "float64"):
                raise ValueError(f"array {name!r} is {array_dtype.name}; a {owner} stores "
                                 f"{name} as {_KIND_NAMES['f']}")
            dtype = dtype or array_dtype.name
            if array_dtype.name != dtype:
                raise ValueError(f"array {name!r} is {array_dtype.name}, {said} {dtype}")
        if shape not in [tuple(s) for s in spec.shapes]:
            if spec.misfit is not None:
                raise ValueError(spec.misfit(shape))
            raise ValueError(f"array {name!r} of shape {list(shape)} does not fit layers "
                             f"{layers!s:.60} (they need {list(spec.shapes[0])})")


def check_finite(array, what):
    """ValueError naming ``what`` if ``array`` holds NaN or infinity."""
    if not np.isfinite(array).all():
        raise ValueError(f"the {what} contain NaN or infinity")


def check_labels(classes):
    """ValueError unless the class labels are finite, sorted and distinct."""
    if classes.dtype.kind == "f" and not np.isfinite(classes).all():
        raise ValueError("the class labels contain NaN or infinity")
    if not (classes[1:] > classes[:-1]).all():
        # Labels are kept sorted and distinct; relabelled classes would name the wrong
        # output units.
        raise ValueError("the class labels are not sorted and distinct")


def native_copy(array):
    """A C-ordered copy in native byte order: a restored model owns its arrays."""
    return np.array(array, dtype=array.dtype.newbyteorder("="), order="C")


def _jsonable(name, value):
    """A constructor parameter as JSON, or a clear error for what JSON cannot hold."""
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, numbers.Integral):
        return int(value)
    if isinstance(value, numbers.Real):
        return float(value)
    if isinstance(value, tuple):   # JSON has no tuples; keep the difference visible
        return {"tuple": [_jsonable(name, v) for v in value]}
    if isinstance(value, list):
        return [_jsonable(name, v) for v in value]
    if isinstance(value, dict):   # class_weight: JSON keys are strings only, labels may not be
        return {"dict": [[_jsonable(name, k), _jsonable(name, v)] for k, v in value.items()]}
    if isinstance(value, type) or isinstance(value, np.dtype):
        return np.dtype(value).name
    raise ValueError(f"cannot save parameter {name}={value!r}: only numbers, strings, "
                     f"None and lists and dicts of them are stored (a RandomState instance, "
                     f"for one, is not)")


def _from_json(value, depth=0):
    """Undo the tuple and dict encodings of :func:`_jsonable`, refusing anything else."""
    if depth > 4:
        raise ValueError("nested too deeply")
    if isinstance(value, list):
        return [_from_json(v, depth + 1) for v in value]
    if not isinstance(value, dict):
        return value
    if set(value) == {"tuple"} and isinstance(value["tuple"], list):
        return tuple(_from_json(v, depth + 1) for v in value["tuple"])
    if set(value) == {"dict"} and isinstance(value["dict"], list):
        pairs = value["dict"]
        if not all(isinstance(p, list) and len(p) == 2 and _is_label(p[0]) for p in pairs):
            raise ValueError("a dict must be a list of [label, value] pairs")
        return {k: _from_json(v, depth + 1) for k, v in pairs}
    raise ValueError(f"an object with keys {short_list(value)} is neither a tuple nor a dict")


def _is_label(value):
    return value is None or isinstance(value, (str, bool, int, float))


def storable_labels(labels, what):
    """Labels as a state may hold them: numbers or fixed-width strings, never objects.

    Parameters
    ----------
    labels : array-like
        Class labels; an object array of Python strings or integers (what pandas gives) is
        converted.
    what : str
        What they are, for the message.

    Returns
    -------
    ndarray

    Raises
    ------
    ValueError
        If they are of another dtype: the file stores no objects (nothing is pickled).
    """
    labels = np.asarray(labels)
    if labels.dtype.kind in "biufU":
        return labels
    if labels.dtype.kind == "O" and labels.ndim == 1:
        # What pandas gives: Python strings (or ints) in an object array.
        if all(isinstance(v, str) for v in labels):
            return labels.astype(str)
        if all(isinstance(v, numbers.Integral) and not isinstance(v, bool) for v in labels):
            return labels.astype(np.int64)
    raise ValueError(f"cannot save {what} of dtype {labels.dtype}: numbers and strings only")


def save(model, path):
    """Write a fitted cnet model to ``path`` (a ``.npz`` file).

    Parameters
    ----------
    model : NeuralNet, MLPClassifier or MLPRegressor
        A fitted model.
    path : str or path-like
        Where to write, exactly this name (``.npz`` is customary). The file is written
        beside it and renamed over it once complete, so ``path`` holds either its old
        content or the whole new model, even if the process is killed while saving.

    Raises
    ------
    TypeError
        If ``model`` is not a cnet model, or ``path`` not a str or path-like.
    ValueError
        If the model is not fitted or holds something the file cannot (a ``RandomState``
        as ``random_state``, object class labels); nothing is written then.
    OSError
        If the file cannot be written (disk full, no permission, ...); ``path`` is left
        as it was and no temporary file remains.
    """
    if _MODEL_CLASSES.get(type(model).__name__) is not type(model):
        raise TypeError(f"cannot save a {type(model).__name__}; cnet saves "
                        f"{sorted(_MODEL_CLASSES)}")
    if not hasattr(model, "n_features_in_"):
        raise ValueError("the model is not fitted; fit it before saving")
    state = model._get_state()
    arrays = {k: v for k, v in state.items() if isinstance(v, np.ndarray)}
    scalars = {k: v for k, v in state.items() if not isinstance(v, np.ndarray)}
    header = {
        "format": FORMAT, "format_version": FORMAT_VERSION, "class": type(model).__name__,
        "params": {k: _jsonable(k, v) for k, v in model.get_params().items()},
        "dtype": arrays["params"].dtype.name,
        "arrays": {k: [list(v.shape), v.dtype.str] for k, v in arrays.items()},
        "fitted": scalars,
    }
    arrays["header"] = np.frombuffer(json.dumps(header).encode("utf-8"), dtype=np.uint8)
    # Everything that can fail on the model's side has; now the file, whole or not at all.
    # numpy is given a file object, as it would append .npz to a name.
    with atomic_write(path) as file:
        np.savez(file, **arrays)


def load(path):
    """Read a model written by :func:`save` (or a model's ``save`` method).

    The file may come from anyone: nothing in it is executed, and nothing is allocated before
    its size is checked against what the header's architecture implies (see
    :mod:`cnet._npz_reader` for the bounds).

    Parameters
    ----------
    path : str, path-like or binary file object
        A file object must be open for reading and seekable.

    Returns
    -------
    NeuralNet, MLPClassifier or MLPRegressor
        The fitted model, predicting exactly as the one saved.

    Raises
    ------
    ValueError
        If the file is missing, empty, truncated, damaged, not a cnet model, inconsistent
        with its header or with the model kind, or written by a newer cnet; the message
        names the problem.
    """
    file, shown = _open(path)
    try:
        try:
            archive = BoundedArchive(file)
        except ValueError as exc:
            raise ValueError(f"{shown} is not a readable cnet model file: {exc}") from None
        try:
            return _load(archive)
        except ValueError as exc:
            raise ValueError(f"{shown}: {exc}") from None
    finally:
        if file is not path:
            file.close()


def _open(path):
    """The file to read and the name to show in messages."""
    if hasattr(path, "read") and hasattr(path, "seek"):
        return path, getattr(path, "name", "the model file")
    try:
        shown = os.fsdecode(os.fspath(path))
    except TypeError:
        raise TypeError(f"path must be a file name (str or path-like) or a binary file open "
                        f"for reading, got {type(path).__name__}") from None
    try:
        mode = os.stat(shown).st_mode
        if stat.S_ISDIR(mode):
            raise ValueError(f"{shown} is a directory, not a cnet model file")
        if not stat.S_ISREG(mode):
            raise ValueError(f"{shown} is not a regular file (a device or pipe), not a cnet "
                             f"model file")
        return open(shown, "rb"), shown
    except OSError as exc:
        raise ValueError(f"{shown} is not a readable cnet model file: "
                         f"{exc.strerror or exc}") from None


def _load(archive):
    header = _read_header(archive)
    cls = _MODEL_CLASSES[header["class"]]
    model = _model(cls, header)
    fitted = StateFields(header["fitted"])
    layout = model._state_arrays(fitted)
    declared = _declared_arrays(header, layout, cls.__name__, fitted.layers())
    members = archive.names - {"header"}
    if members != set(declared):
        extra, missing = sorted(members - set(declared)), sorted(set(declared) - members)
        raise ValueError("the arrays do not match the header's: "
                         + "; ".join(filter(None, [extra and f"not declared {short_list(extra)}",
                                                   missing and f"missing {short_list(missing)}"])))
    arrays = {name: archive.read(name, dtype, shape)
              for name, (shape, dtype) in declared.items()}
    model._set_state({**header["fitted"], **arrays})
    return model


def _read_header(archive):
    """The JSON header, parsed within bounds, its top-level fields checked."""
    if "header" not in archive.names:
        raise ValueError("it is not a cnet model file: it has no header")
    raw = archive.read("header", np.uint8, max_count=MAX_HEADER_BYTES).tobytes()
    if raw.count(b"[") + raw.count(b"{") > MAX_HEADER_CONTAINERS:
        raise ValueError(f"the model header holds more than {MAX_HEADER_CONTAINERS} lists and "
                         f"objects")
    try:
        header = json.loads(raw.decode("utf-8"), parse_constant=_json_constant)
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        # ValueError covers bad JSON, NaN and integers longer than Python parses.
        raise ValueError(f"the model header is damaged: {str(exc)[:200]}") from None
    if not isinstance(header, dict) or header.get("format") != FORMAT:
        raise ValueError("it is not a cnet model file (the header names no cnet format)")
    version = header.get("format_version")
    if not _is_int(version) or version < 1:
        raise ValueError(f"the header's format_version is {version!r:.40}, not a version")
    if version > FORMAT_VERSION:
        raise ValueError(f"it was written in model format version {version}, newer than this "
                         f"cnet reads ({FORMAT_VERSION}); upgrade cnet to load it")
    name = header.get("class")
    if not isinstance(name, str) or name not in _MODEL_CLASSES:
        raise ValueError(f"unknown model class {name!r:.60}; cnet loads "
                         f"{sorted(_MODEL_CLASSES)}")
    for key, kind in [("params", dict), ("fitted", dict), ("arrays", dict), ("dtype", str)]:
        if not isinstance(header.get(key), kind):
            raise ValueError(f"the header's {key} is {header.get(key)!r:.40}, not a "
                             f"{'JSON object' if kind is dict else 'string'}")
    if header["dtype"] not in ("float32", "float64"):
        raise ValueError(f"the header's dtype is {header['dtype']!r:.40}, not float32 or "
                         f"float64")
    return header


def _json_constant(name):
    if name == "NaN":
        raise ValueError("the header holds NaN")
    return float(name)   # Infinity: a best loss before any epoch is one


def _declared_arrays(header, layout, kind, layers):
    """``{name: (shape, dtype)}`` of the arrays the file must hold, as the header declares them
    and as the model's ``layout`` of its state implies; every disagreement is refused."""
    declared = header["arrays"]
    found = {}
    for name, entry in declared.items():
        if not (isinstance(entry, list) and len(entry) == 2 and isinstance(entry[0], list)
                and all(_is_int(d) and 0 <= d <= MAX_INT for d in entry[0])
                and isinstance(entry[1], str)):
            raise ValueError(f"the header's entry for array {name!r} is {entry!r:.60}, not "
                             f"[shape, dtype]")
        dtype = _plain_dtype(entry[1])
        if dtype is None and name in layout:
            raise ValueError(f"array {name!r} has dtype {entry[1]!r:.20} in the header; a "
                             f"{kind} stores {name} as {_KIND_NAMES[layout[name].kinds]}")
        found[name] = (tuple(entry[0]), dtype or np.dtype("V"))
    _check_layout(found, layout, kind, layers, header["dtype"], where=" in the header")
    return found


def _plain_dtype(text):
    """The dtype a header names, if it is a plain number or string type, else None."""
    if (len(text) < 3 or len(text) > 8 or text[0] not in "<>|=" or text[1] not in "biufU"
            or not text[2:].isdigit()):
        return None
    try:
        dtype = np.dtype(text)
    except TypeError:
        return None
    return dtype if dtype.itemsize > 0 else None


def _model(cls, header):
    """The model class built from the header's parameters; those the file itself constrains
    are checked (the rest the model's ``_set_state`` checks as ``fit`` checks them)."""
    try:
        params = {key: _from_json(value) for key, value in header["params"].items()}
        model = cls(**params)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"the saved parameters do not fit {cls.__name__}: "
                         f"{str(exc)[:200]}") from None
    try:
        _check_common_parameters(model)
    except (TypeError, ValueError, OverflowError) as exc:
        raise ValueError(f"a saved parameter is invalid: {str(exc)[:200]}") from None
    return model


def _check_common_parameters(model):
    """What the model's own checks let through but a file must not hold: a class weight
    dict's weights must be finite, non-negative numbers (random_state and the kind of
    class_weight the model's parameter constraints check, with scikit-learn's messages)."""
    class_weight = getattr(model, "class_weight", None)
    if isinstance(class_weight, dict):
        if not all(_is_number(w) and _finite(w) and w >= 0 for w in class_weight.values()):
            raise ValueError("class_weight's weights must be finite and non-negative")


def _is_int(value):
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value):
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _finite(value):
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
        "int": ("an integer in range", lambda v, low: _is_int(v) and low <= v <= MAX_INT),
        "bool": ("true or false", lambda v, low: isinstance(v, bool)),
        "str": ("a string", lambda v, low: isinstance(v, str)),
        "positive": ("a finite number > 0",
                     lambda v, low: _is_number(v) and _finite(v) and v > 0),
        "loss": ("a number", lambda v, low: _is_number(v)),
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
                and all(_is_int(u) and 1 <= u <= MAX_INT for u in layers)):
            raise ValueError(f"the header's fitted.layers is {layers!r:.60}, not a list of at "
                             f"least 2 positive integers")
        return layers
