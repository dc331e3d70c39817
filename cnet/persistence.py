"""Models on disk: a portable ``.npz`` file that loads without executing anything.

The file is a numpy ``.npz`` archive of plain numeric (or fixed-width string) arrays: the flat
parameter vector, the optimizer's state, the class labels, and ``header``, a JSON document
stored as bytes with the format name and version, the model's class, its constructor
parameters and its fitted scalars. It is read with ``allow_pickle=False``: no object arrays,
no pickles, no code. Every array is checked against the header before a model is built.

This module imports nothing of the models: each model class registers itself with
:func:`register_model` where it is defined, and :func:`load` finds it by the name the file
records. Importing ``cnet`` imports every model, so the registry is full whenever ``load`` runs.
"""
import json
import numbers
import zipfile

import numpy as np
from sklearn.preprocessing import LabelBinarizer

from cnet._atomic import atomic_write
from cnet._layout import n_parameters
from cnet.optimizer import StochasticOptimizer

FORMAT = "cnet-model"
FORMAT_VERSION = 1

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
    if isinstance(value, type) or isinstance(value, np.dtype):
        return np.dtype(value).name
    raise ValueError(f"cannot save parameter {name}={value!r}: only numbers, strings, "
                     f"None and lists of them are stored (a RandomState instance, for one, "
                     f"is not)")


def _from_json(value):
    """Undo the tuple encoding of :func:`_jsonable`."""
    if isinstance(value, dict) and set(value) == {"tuple"}:
        return tuple(_from_json(v) for v in value["tuple"])
    if isinstance(value, list):
        return [_from_json(v) for v in value]
    return value


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
        classes = np.asarray(model.classes_)
        if classes.dtype.kind not in "biufU":
            raise ValueError(f"cannot save class labels of dtype {classes.dtype}: numbers "
                             f"and strings only")
        arrays["classes"] = classes
    scalars["n_features_in_"] = int(model.n_features_in_)
    scalars["batch_size_used"] = getattr(model, "_batch_size", None)
    if getattr(model, "feature_names_", None) is not None:
        arrays["feature_names"] = np.asarray(model.feature_names_, dtype=str)
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


def _read(path):
    try:
        with np.load(path, allow_pickle=False) as archive:
            arrays = {name: archive[name] for name in archive.files}
    except (zipfile.BadZipFile, EOFError, OSError, ValueError) as exc:
        raise ValueError(f"{path} is not a readable cnet model file (truncated or not an "
                         f".npz archive): {exc}") from None
    if "header" not in arrays or arrays["header"].dtype != np.uint8:
        raise ValueError(f"{path} is not a cnet model file: it has no header")
    try:
        header = json.loads(arrays.pop("header").tobytes().decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValueError(f"{path}: the model header is damaged: {exc}") from None
    if not isinstance(header, dict) or header.get("format") != FORMAT:
        raise ValueError(f"{path} is not a cnet model file")
    version = header.get("format_version")
    if not isinstance(version, int) or version > FORMAT_VERSION:
        raise ValueError(f"{path} was written in model format version {version}, newer than "
                         f"this cnet reads ({FORMAT_VERSION}); upgrade cnet to load it")
    declared = header.get("arrays", {})
    if set(declared) != set(arrays):
        raise ValueError(f"{path}: the arrays {sorted(arrays)} do not match the header's "
                         f"{sorted(declared)}")
    for name, (shape, dtype) in declared.items():
        if list(arrays[name].shape) != shape or arrays[name].dtype.str != dtype:
            raise ValueError(f"{path}: array {name!r} has shape {arrays[name].shape} and "
                             f"dtype {arrays[name].dtype}, the header says {shape} {dtype}")
    return header, arrays


def load(path):
    """Read a model written by :func:`save` (or a model's ``save`` method).

    Parameters
    ----------
    path : str or path-like

    Returns
    -------
    NeuralNet, MLPClassifier or MLPRegressor
        The fitted model, predicting exactly as the one saved.

    Raises
    ------
    ValueError
        If the file is truncated, damaged, not a cnet model, inconsistent with its header,
        or written by a newer cnet.
    """
    header, arrays = _read(path)
    if header.get("class") not in _MODEL_CLASSES:
        raise ValueError(f"{path}: unknown model class {header.get('class')!r}")
    fitted = header["fitted"]
    layers = np.asarray(fitted["layers"], dtype=np.intp)
    params = arrays["params"]
    if params.ndim != 1 or params.size != n_parameters(layers) or params.dtype.kind != "f":
        raise ValueError(f"{path}: {params.size} parameters do not fit layers "
                         f"{fitted['layers']}")
    if not np.isfinite(params).all():
        raise ValueError(f"{path}: the parameters contain NaN or infinity")
    try:
        model = _MODEL_CLASSES[header["class"]](**{k: _from_json(v)
                                                   for k, v in header["params"].items()})
    except TypeError as exc:
        raise ValueError(f"{path}: the saved parameters do not fit "
                         f"{header['class']}: {exc}") from None
    model.n_features_in_ = fitted["n_features_in_"]
    if fitted.get("batch_size_used") is not None:
        model._batch_size = fitted["batch_size_used"]
    if "classes" in arrays:
        model.classes_ = arrays["classes"]
    if "feature_names" in arrays:
        model.feature_names_ = [str(v) for v in arrays["feature_names"]]
    if header["class"] == "NeuralNet":
        model._layers = layers
        model._set_params_flat(params.copy())
        model._shuffle_seed = fitted["shuffle_seed"]
        model.n_iter_ = fitted["n_iter_"]
        model.loss_ = list(fitted["loss_"])
        return model
    _restore_mlp(model, layers, params, arrays, fitted)
    return model


def _restore_mlp(model, layers, params, arrays, fitted):
    model.n_layers_ = len(layers)
    model.n_outputs_ = int(layers[-1])
    model._expose(params.copy(), layers)
    state = arrays.get("optimizer_state")
    if state is None or state.shape != (2, params.size):
        raise ValueError("the optimizer state does not fit the parameters")
    # Files of format 1 written before the optimizer had an object of its own always carried
    # its state.
    if fitted.get("has_optimizer", True) and model.solver in ("sgd", "adam"):
        optimizer = StochasticOptimizer(model.solver, params.size, params.dtype,
                                        model.learning_rate_init, model.learning_rate,
                                        model.power_t)
        optimizer.state[...] = state
        optimizer.step_count = fitted["steps"]
        optimizer.learning_rate = fitted["learning_rate_now"]
        model._optimizer = optimizer
    for attr, key in [("_seed", "seed"), ("_epochs_seen", "epochs_seen"),
                      ("out_activation_", "out_activation"), ("n_iter_", "n_iter_"),
                      ("t_", "t_")]:
        setattr(model, attr, fitted[key])
    model.loss_curve_ = list(fitted["loss_curve_"])
    model.validation_loss_curve_ = []
    model.loss_ = model.loss_curve_[-1] if model.loss_curve_ else None
    stochastic = model.solver in ("sgd", "adam")
    model.best_loss_ = (None if model.early_stopping or not stochastic
                        else fitted["best_loss_"])
    model._no_improvement_count = 0
    model.validation_scores_ = [] if model.early_stopping and stochastic else None
    model.best_validation_score_ = -np.inf if model.early_stopping and stochastic else None
    model._best_coefs = [W.copy() for W in model.coefs_]
    model._best_intercepts = [b.copy() for b in model.intercepts_]
    if "label_type" in fitted:
        binarizer = LabelBinarizer()
        if fitted["label_type"] == "multilabel-indicator":
            binarizer.fit(np.eye(len(model.classes_), dtype=int))
        else:
            binarizer.fit(model.classes_)
        model._label_binarizer = binarizer
