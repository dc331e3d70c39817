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

This module imports nothing of the models: each model class registers itself with
:func:`register_model` where it is defined, and :func:`load` finds it by the name the file
records. Importing ``cnet`` imports every model, so the registry is full whenever ``load`` runs.
"""
import json
import math
import numbers
import os
import stat

import numpy as np
from sklearn.preprocessing import LabelBinarizer

from cnet._atomic import atomic_write
from cnet._npz_reader import BoundedArchive, short_list
from cnet.optimizer import StochasticOptimizer

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
    """Gives a model ``save(path)``."""

    def save(self, path):
        """Write the fitted model to ``path``; :func:`cnet.load` reads it back.

        Parameters
        ----------
        path : str or path-like
            The file to write (``.npz``: numeric arrays and a JSON header, no pickles).
            It is replaced whole or not at all; see :func:`cnet.persistence.save`.
        """
        save(self, path)


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


def _storable_labels(labels, what):
    """Labels as an array of numbers or fixed-width strings (never objects, never pickled)."""
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


def _fitted_state(model):
    """Arrays and JSON scalars that make up a fitted model, by model kind."""
    if type(model).__name__ == "NeuralNet":   # the test load makes on the file's class name
        model._packed_params()
        arrays = {"params": model._params_flat}
        scalars = {"layers": [int(u) for u in model._layers], "n_iter_": model.n_iter_,
                   "loss_": model.loss_, "shuffle_seed": model._shuffle_seed}
    else:
        optimizer = getattr(model, "_optimizer", None)
        state = (optimizer.state if optimizer is not None
                 else np.zeros((2, model._packed().size), dtype=model.coefs_[0].dtype))
        arrays = {"params": model._packed(), "optimizer_state": state}
        best_loss = getattr(model, "best_loss_", None)
        scalars = {"layers": [int(u) for u in model._layers], "n_iter_": model.n_iter_,
                   "loss_curve_": [float(v) for v in model.loss_curve_], "t_": model.t_,
                   "best_loss_": None if best_loss is None else float(best_loss),
                   "seed": model._seed,
                   "steps": optimizer.step_count if optimizer is not None else 0,
                   "epochs_seen": model._epochs_seen,
                   "learning_rate_now": (optimizer.learning_rate if optimizer is not None
                                         else float(model.learning_rate_init)),
                   "has_optimizer": optimizer is not None,
                   "out_activation": model.out_activation_}
        if hasattr(model, "_label_binarizer"):
            scalars["label_type"] = model._label_binarizer.y_type_
    if hasattr(model, "classes_"):
        arrays["classes"] = _storable_labels(model.classes_, "class labels")
    scalars["n_features_in_"] = int(model.n_features_in_)
    scalars["batch_size_used"] = getattr(model, "_batch_size", None)
    if getattr(model, "feature_names_", None) is not None:
        arrays["feature_names"] = np.asarray(model.feature_names_, dtype=str)
    if getattr(model, "feature_names_in_", None) is not None:
        # scikit-learn's column names of a DataFrame: predict compares them after loading too.
        arrays["feature_names_in"] = np.asarray(model.feature_names_in_, dtype=str)
    return arrays, scalars


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
    arrays, scalars = _fitted_state(model)
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
    fitted = _Fields(header["fitted"], "fitted")
    layers = fitted.layers()
    declared = _declared_arrays(header, cls.__name__, layers, fitted)
    members = archive.names - {"header"}
    if members != set(declared):
        extra, missing = sorted(members - set(declared)), sorted(set(declared) - members)
        raise ValueError(f"the arrays do not match the header's: "
                         + "; ".join(filter(None, [extra and f"not declared {short_list(extra)}",
                                                   missing and f"missing {short_list(missing)}"])))
    model = _model(cls, header)
    arrays = {name: archive.read(name, dtype, shape)
              for name, (shape, dtype) in declared.items()}
    _check_values(arrays, fitted)
    model.n_features_in_ = layers[0]
    batch = fitted.get("batch_size_used", "int", low=1, default=None, none=True)
    if batch is not None:
        model._batch_size = batch
    if "classes" in arrays:
        model.classes_ = arrays["classes"]
    if "feature_names" in arrays:
        model.feature_names_ = [str(v) for v in arrays["feature_names"]]
    if "feature_names_in" in arrays:
        model.feature_names_in_ = np.asarray(arrays["feature_names_in"].tolist(), dtype=object)
    if header["class"] == "NeuralNet":
        model._layers = np.asarray(layers, dtype=np.intp)
        model._set_params_flat(arrays["params"])
        model._shuffle_seed = fitted.get("shuffle_seed", "int", low=0)
        model.n_iter_ = fitted.get("n_iter_", "int", low=0)
        model.loss_ = fitted.get("loss_", "losses")
        return model
    _restore_mlp(model, np.asarray(layers, dtype=np.intp), arrays, fitted)
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


def _declared_arrays(header, kind, layers, fitted):
    """``{name: (shape, dtype)}`` of the arrays the file must hold, as the header declares them
    and as the architecture implies; every disagreement is refused."""
    n_params = sum(a * b + b for a, b in zip(layers[:-1], layers[1:]))
    n_features, n_outputs = layers[0], layers[-1]
    if fitted.get("n_features_in_", "int", low=1) != n_features:
        raise ValueError(f"n_features_in_ {fitted.mapping['n_features_in_']} is not the "
                         f"first layer's {n_features} units")
    implied = {"params": ((n_params,), "f"), "classes": (None, "biufU"),
               "feature_names": ((n_features,), "U"), "feature_names_in": ((n_features,), "U")}
    required = {"params"}
    if kind == "NeuralNet":
        if n_outputs != 1:
            raise ValueError(f"a NeuralNet has one output unit; layers end in {n_outputs}")
        required.add("classes")
        implied["classes"] = ((2,), "biufU")
    else:
        required.add("optimizer_state")
        implied["optimizer_state"] = ((2, n_params), "f")
        if kind == "MLPClassifier":
            required.add("classes")
            label_type = fitted.get("label_type", "str")
            counts = {"binary": (1, 2), "multiclass": (n_outputs,),
                      "multilabel-indicator": (n_outputs,)}
            if label_type not in counts:
                raise ValueError(f"label_type {label_type!r:.40} is not one of {list(counts)}")
            if label_type == "binary" and n_outputs != 1:
                raise ValueError(f"binary labels have one output unit; the network has "
                                 f"{n_outputs}")
            implied["classes"] = (counts[label_type], "biufU")
        else:
            implied.pop("classes")
    declared = header["arrays"]
    unknown = sorted(set(declared) - set(implied))
    missing = sorted(required - set(declared))
    if unknown or missing:
        raise ValueError(f"the arrays do not match a {kind}'s: "
                         + "; ".join(filter(None, [unknown and f"unknown {short_list(unknown)}",
                                                   missing and f"missing {short_list(missing)}"])))
    result = {}
    for name, entry in declared.items():
        if not (isinstance(entry, list) and len(entry) == 2 and isinstance(entry[0], list)
                and all(_is_int(d) and 0 <= d <= MAX_INT for d in entry[0])
                and isinstance(entry[1], str)):
            raise ValueError(f"the header's entry for array {name!r} is {entry!r:.60}, not "
                             f"[shape, dtype]")
        shape, dtype_str = tuple(entry[0]), entry[1]
        want_shape, kinds = implied[name]
        dtype = _plain_dtype(dtype_str)
        if dtype is None or dtype.kind not in kinds:
            raise ValueError(f"array {name!r} has dtype {dtype_str!r:.20} in the header; a "
                             f"{kind} stores {name} as {_KIND_NAMES[kinds]}")
        if dtype.kind == "f" and dtype.name != header["dtype"]:
            raise ValueError(f"array {name!r} is {dtype.name}, the header says the model is "
                             f"{header['dtype']}")
        if name == "classes":
            if len(shape) != 1 or shape[0] not in want_shape:
                raise ValueError(f"{shape[0] if len(shape) == 1 else shape} classes do not fit "
                                 f"{n_outputs} output unit(s) of a {kind}")
        elif shape != want_shape:
            raise ValueError(f"array {name!r} of shape {list(shape)} does not fit layers "
                             f"{layers!s:.60} (they need {list(want_shape)})")
        result[name] = (shape, dtype)
    return result


_KIND_NAMES = {"f": "float32 or float64", "biufU": "numbers or strings", "U": "strings"}


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
    """The model class built from the header's parameters, checked as ``fit`` checks them."""
    try:
        params = {key: _from_json(value) for key, value in header["params"].items()}
        model = cls(**params)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"the saved parameters do not fit {cls.__name__}: "
                         f"{str(exc)[:200]}") from None
    layers = header["fitted"]["layers"]
    try:
        checked = model._check_hyperparameters()
        hidden = ([int(u) for u in checked[1:-1]] if cls.__name__ == "NeuralNet"
                  else model._hidden_sizes())
        _check_common_parameters(model, header["dtype"])
    except (TypeError, ValueError, OverflowError) as exc:   # Overflow: an int64 array of sizes
        raise ValueError(f"a saved parameter is invalid: {str(exc)[:200]}") from None
    if hidden != layers[1:-1] or (cls.__name__ == "NeuralNet"
                                  and [int(u) for u in checked] != layers):
        raise ValueError(f"the saved parameters ask for hidden layers {hidden}; the fitted "
                         f"layers are {layers}")
    return model


def _check_common_parameters(model, dtype):
    state = model.random_state
    if not (state is None or (_is_int(state) and 0 <= state < 2**32)):
        raise ValueError(f"random_state must be None or an int in [0, 2**32), got {state!r:.40}")
    class_weight = getattr(model, "class_weight", None)
    if isinstance(class_weight, dict):
        if not all(_is_number(w) and _finite(w) and w >= 0 for w in class_weight.values()):
            raise ValueError("class_weight's weights must be finite and non-negative")
    elif class_weight not in (None, "balanced"):
        raise ValueError(f"class_weight must be None, 'balanced' or a dict, got "
                         f"{class_weight!r:.40}")
    wanted = getattr(model, "dtype", None)
    if wanted is not None and np.dtype(wanted).name != dtype:
        raise ValueError(f"dtype={wanted!r} but the parameters are {dtype}")


def _check_values(arrays, fitted):
    """What the shapes cannot say: finite parameters, labels sorted and distinct."""
    for name in ("params", "optimizer_state"):
        if name in arrays and not np.isfinite(arrays[name]).all():
            raise ValueError(f"the {'parameters' if name == 'params' else 'optimizer state'} "
                             f"contain NaN or infinity")
    classes = arrays.get("classes")
    if classes is not None:
        if classes.dtype.kind == "f" and not np.isfinite(classes).all():
            raise ValueError("the class labels contain NaN or infinity")
        if not (classes[1:] > classes[:-1]).all():
            # Labels are kept sorted and distinct; relabelled classes would name the wrong
            # output units.
            raise ValueError("the class labels are not sorted and distinct")
        if (fitted.mapping.get("label_type") == "multilabel-indicator"
                and not np.array_equal(classes, np.arange(len(classes)))):
            raise ValueError("multi-label classes must be 0, 1, ... one per output unit")


def _restore_mlp(model, layers, arrays, fitted):
    params = arrays["params"]
    model.n_layers_ = len(layers)
    model.n_outputs_ = int(layers[-1])
    model._expose(params, layers)
    # Files of format 1 written before the optimizer had an object of its own always carried
    # its state.
    if fitted.get("has_optimizer", "bool", default=True) and model.solver in ("sgd", "adam"):
        optimizer = StochasticOptimizer(model.solver, params.size, params.dtype,
                                        model.learning_rate_init, model.learning_rate,
                                        model.power_t)
        optimizer.state[...] = arrays["optimizer_state"]
        optimizer.step_count = fitted.get("steps", "int", low=0)
        optimizer.learning_rate = fitted.get("learning_rate_now", "positive")
        model._optimizer = optimizer
    model._seed = fitted.get("seed", "int", low=0)
    model._epochs_seen = fitted.get("epochs_seen", "int", low=0)
    model.out_activation_ = fitted.get("out_activation", "str")
    model.n_iter_ = fitted.get("n_iter_", "int", low=0)
    model.t_ = fitted.get("t_", "int", low=0)
    model.loss_curve_ = fitted.get("loss_curve_", "losses")
    model.validation_loss_curve_ = []
    model.loss_ = model.loss_curve_[-1] if model.loss_curve_ else None
    stochastic = model.solver in ("sgd", "adam")
    best_loss = fitted.get("best_loss_", "loss", default=None, none=True)
    model.best_loss_ = None if model.early_stopping or not stochastic else best_loss
    model._no_improvement_count = 0
    model.validation_scores_ = [] if model.early_stopping and stochastic else None
    model.best_validation_score_ = -np.inf if model.early_stopping and stochastic else None
    model._best_coefs = [W.copy() for W in model.coefs_]
    model._best_intercepts = [b.copy() for b in model.intercepts_]
    if "classes" in arrays:
        binarizer = LabelBinarizer()
        if fitted.get("label_type", "str") == "multilabel-indicator":
            binarizer.fit(np.eye(len(model.classes_), dtype=int))
        else:
            binarizer.fit(model.classes_)
        model._label_binarizer = binarizer
    if model.out_activation_ != model._output_activation():
        # The output layer is decided by the estimator, its loss and its labels.
        raise ValueError(f"out_activation {model.out_activation_!r:.40} does not fit this "
                         f"{type(model).__name__} (it needs {model._output_activation()!r})")


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


class _Fields:
    """One JSON object of the header, read field by field with the type and range checked."""

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

    def __init__(self, mapping, where):
        self.mapping, self.where = mapping, where

    def get(self, key, kind, low=0, default=KeyError, none=False):
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
        layers = self.mapping.get("layers")
        if not (isinstance(layers, list) and len(layers) >= 2
                and all(_is_int(u) and 1 <= u <= MAX_INT for u in layers)):
            raise ValueError(f"the header's fitted.layers is {layers!r:.60}, not a list of at "
                             f"least 2 positive integers")
        return layers
