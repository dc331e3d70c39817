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

A scikit-learn ``Pipeline`` ending in a cnet model is the file of that model plus the
header's ``pipeline`` object and the steps' ``step<i>.*`` arrays (format 3): the steps are
:mod:`cnet._pipeline_file`'s, checked and read the same way, no pickle either.

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
:func:`check_labels`, :func:`storable_labels`, and :class:`SaveMixin`'s input state (the
first two, and :class:`ArraySpec`, are defined in :mod:`cnet._state_fields`, which the
pipeline steps read their states with too).
"""
import contextlib
import json
import numbers
import os
import stat

import numpy as np

from cnet import _pipeline_file
from cnet._atomic import atomic_write
from cnet._npz_reader import BoundedArchive, short_list
from cnet._state_fields import (KIND_NAMES, MAX_INT, ArraySpec, StateFields,  # noqa: F401
                                check_finite, finite, from_json, is_int, is_number, jsonable,
                                native_copy)

FORMAT = "cnet-model"
# Version 2 added feature_names_in (a DataFrame's column names), dict parameters
# (class_weight) and object labels saved as strings. Version 1 files load as before; a
# version 1 reader refuses version 2 files rather than drop the column names unnoticed.
# Version 3 added pipelines: the header's pipeline object and the steps' step<i>.* arrays. A
# file without a pipeline is still written as version 2; a version 2 reader refuses version 3
# files rather than load the model without the scaler before it.
FORMAT_VERSION = 3
# The header holds parameters and loss curves: 4 MiB is a curve of about 200,000 epochs.
MAX_HEADER_BYTES = 4 * 2**20
# JSON lists and objects cost about 60 bytes each once parsed; a header has a few dozen.
MAX_HEADER_CONTAINERS = 10_000

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
        kinds = "f" if spec.kinds == "F" else spec.kinds
        if array_dtype.kind not in kinds or array_dtype.itemsize == 0:
            raise ValueError(f"array {name!r} has dtype {array_dtype.str!r:.20}{where}; a "
                             f"{owner} stores {name} as {KIND_NAMES[spec.kinds]}")
        if spec.kinds == "F" and array_dtype.name not in ("float32", "float64"):
            raise ValueError(f"array {name!r} is {array_dtype.name}; a {owner} stores {name} "
                             f"as {KIND_NAMES['F']}")
        if spec.kinds == "f":
            # Class labels may be floats of another width; the parameters and what the
            # optimizer keeps of them are all of the model's one dtype.
            if array_dtype.name not in ("float32", "float64"):
                raise ValueError(f"array {name!r} is {array_dtype.name}; a {owner} stores "
                                 f"{name} as {KIND_NAMES['f']}")
            dtype = dtype or array_dtype.name
            if array_dtype.name != dtype:
                raise ValueError(f"array {name!r} is {array_dtype.name}, {said} {dtype}")
        if shape not in [tuple(s) for s in spec.shapes]:
            if spec.misfit is not None:
                raise ValueError(spec.misfit(shape))
            raise ValueError(f"array {name!r} of shape {list(shape)} does not fit layers "
                             f"{layers!s:.60} (they need {list(spec.shapes[0])})")


def check_labels(classes):
    """ValueError unless the class labels are finite, sorted and distinct."""
    if classes.dtype.kind == "f" and not np.isfinite(classes).all():
        raise ValueError("the class labels contain NaN or infinity")
    if not (classes[1:] > classes[:-1]).all():
        # Labels are kept sorted and distinct; relabelled classes would name the wrong
        # output units.
        raise ValueError("the class labels are not sorted and distinct")


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


def save(model, path, metadata=None):
    """Write a fitted cnet model, or a scikit-learn ``Pipeline`` ending in one, to ``path``.

    Parameters
    ----------
    model : NeuralNet, MLPClassifier, MLPRegressor or sklearn.pipeline.Pipeline
        A fitted model, or a fitted pipeline whose last step is one and whose steps before
        it are any of ``SimpleImputer`` (numeric), ``StandardScaler``, ``MinMaxScaler``, a
        ``ColumnTransformer`` of ``OneHotEncoder`` s (and of those steps), or
        ``"passthrough"``; step names, parameters and fitted numbers are kept, the
        pipeline's ``memory`` is not.
    path : str or path-like
        Where to write, exactly this name (``.npz`` is customary). The file is written
        beside it and renamed over it once complete, so ``path`` holds either its old
        content or the whole new model, even if the process is killed while saving.
    metadata : dict, optional
        A small JSON-able dict stored in the header (string keys; values None, booleans,
        numbers, strings, lists of those, or dicts of those): what trained the model, a
        score... :func:`read_info` returns it, and :func:`load` sets it as the loaded
        object's ``cnet_metadata_``.

    Raises
    ------
    TypeError
        If ``model`` is not a cnet model or a pipeline of the steps above (the message names
        the first step that is not), or ``path`` not a str or path-like.
    ValueError
        If the model is not fitted, holds something the file cannot (a ``RandomState``
        as ``random_state``, object class labels), or ``metadata`` is not as above; nothing
        is written then.
    OSError
        If the file cannot be written (disk full, no permission, ...); ``path`` is left
        as it was and no temporary file remains.
    """
    pipeline, arrays = None, {}
    if _is_pipeline(model):
        model, pipeline, arrays = _pipeline_file.pipeline_state(model, _is_model)
    elif not _is_model(model):
        raise TypeError(f"cannot save a {type(model).__name__}; cnet saves "
                        f"{sorted(_MODEL_CLASSES)} and scikit-learn Pipelines ending in one")
    if not hasattr(model, "n_features_in_"):
        raise ValueError("the model is not fitted; fit it before saving")
    if metadata is not None:
        check_metadata(metadata)
    state = model._get_state()
    arrays.update((k, v) for k, v in state.items() if isinstance(v, np.ndarray))
    scalars = {k: v for k, v in state.items() if not isinstance(v, np.ndarray)}
    header = {
        # A file without a pipeline stays version 2, which older cnet reads.
        "format": FORMAT, "format_version": FORMAT_VERSION if pipeline else 2,
        "class": type(model).__name__,
        "params": {k: jsonable(k, v) for k, v in model.get_params().items()},
        "dtype": arrays["params"].dtype.name,
        "arrays": {k: [list(v.shape), v.dtype.str] for k, v in arrays.items()},
        "fitted": scalars,
    }
    if pipeline is not None:
        header["pipeline"] = pipeline
    if metadata is not None:
        header["metadata"] = metadata
    raw = json.dumps(header, allow_nan=False).encode("utf-8")
    if len(raw) > MAX_HEADER_BYTES:
        raise ValueError(f"the model's header takes {len(raw)} bytes, more than "
                         f"{MAX_HEADER_BYTES} (a loss curve of 200,000 epochs, or metadata)")
    arrays["header"] = np.frombuffer(raw, dtype=np.uint8)
    # Everything that can fail on the model's side has; now the file, whole or not at all.
    # numpy is given a file object, as it would append .npz to a name.
    with atomic_write(path) as file:
        np.savez(file, **arrays)


def _is_model(model):
    return _MODEL_CLASSES.get(type(model).__name__) is type(model)


def _is_pipeline(model):
    """Whether ``model`` is a scikit-learn Pipeline (without importing scikit-learn)."""
    cls = type(model)
    return cls.__name__ == "Pipeline" and cls.__module__ == "sklearn.pipeline"


def check_metadata(metadata):
    """ValueError unless ``metadata`` is a dict a model file's header may hold.

    Parameters
    ----------
    metadata : object
        String keys (at most 200 characters); values None, booleans, integers of 64 bits,
        finite floats, strings, lists of those, or dicts (string keys) of those and lists.
    """
    if not isinstance(metadata, dict):
        raise ValueError(f"metadata must be a dict, not {type(metadata).__name__}")
    _check_metadata_value(metadata, "metadata", 0)


def _check_metadata_value(value, where, depth):
    if value is None or isinstance(value, (bool, str)):
        return
    if is_int(value):
        if not -MAX_INT - 1 <= value <= MAX_INT:
            raise ValueError(f"{where} is an integer beyond 64 bits")
        return
    if isinstance(value, float):
        if not finite(value):
            raise ValueError(f"{where} is {value}, not a finite number")
        return
    if isinstance(value, list) and depth < 3:
        for index, item in enumerate(value):
            if isinstance(item, (list, dict)) and depth >= 2:
                raise ValueError(f"{where}[{index}] is nested too deeply")
            _check_metadata_value(item, f"{where}[{index}]", depth + 1)
        return
    if isinstance(value, dict) and depth < 2:
        for key, item in value.items():
            if not (isinstance(key, str) and len(key) <= 200):
                raise ValueError(f"{where} has a key {key!r:.40}: keys are strings of at "
                                 f"most 200 characters")
            _check_metadata_value(item, f"{where}[{key!r:.40}]", depth + 1)
        return
    raise ValueError(f"{where} is a {type(value).__name__}: metadata holds None, booleans, "
                     f"numbers, strings, lists of them and dicts of those, nested one level")


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
    NeuralNet, MLPClassifier, MLPRegressor or sklearn.pipeline.Pipeline
        The fitted model (or pipeline, its steps rebuilt from their stored numbers),
        predicting exactly as the one saved; with ``cnet_metadata_`` set to the metadata
        given to :func:`save`, if any.

    Raises
    ------
    ValueError
        If the file is missing, empty, truncated, damaged, not a cnet model, inconsistent
        with its header or with the model kind, or written by a newer cnet; the message
        names the problem.
    """
    return _read(path, _load)


def read_info(path):
    """What a model file holds, read from its header without building the model.

    Parameters
    ----------
    path : str, path-like or binary file object
        A file written by :func:`save`.

    Returns
    -------
    dict
        ``format_version``; ``kind``: ``"Pipeline"`` or the model's class; ``estimator``: the
        model's class; ``steps``: ``[(name, class), ...]`` of a pipeline, the model last
        (``[]`` for a plain model); ``dtype``; ``layers``: units per layer, inputs first;
        ``classes``: a list, or None for a regressor; ``feature_names``: the column names
        the file was fitted on (the pipeline's first step's, else the model's), or None;
        ``n_iter``, ``loss`` (the last of the loss curve), ``best_loss``: as the model
        recorded them, or None;
        ``metadata``: what :func:`save` was given, or None.

    Raises
    ------
    ValueError
        If the file is not a cnet model file (as :func:`load` would say); a file whose
        header reads well but whose arrays are damaged may pass here and fail in
        :func:`load`.
    """
    return _read(path, _info)


def _read(path, reader):
    """``reader(archive)`` of the model file at path, its ValueErrors naming the file."""
    file, shown = _open(path)
    try:
        try:
            archive = BoundedArchive(file)
        except ValueError as exc:
            raise ValueError(f"{shown} is not a readable cnet model file: {exc}") from None
        try:
            return reader(archive)
        except ValueError as exc:
            raise ValueError(f"{shown}: {exc}") from None
    finally:
        if file is not path:
            file.close()


def _info(archive):
    header = _read_header(archive, registered=False)
    fitted = StateFields(header["fitted"])
    layers = fitted.layers()
    steps, first_names = [], None
    if "pipeline" in header:
        pipeline = _pipeline_file.PipelineReader(header["pipeline"])
        steps = [(name, kind) for name, kind, _, _ in pipeline.steps]
        steps.append((pipeline.name, header["class"]))
        first_names = _pipeline_file.member(0, "feature_names_in") if pipeline.steps else None

    def small_array(name, kinds):
        """A 1-D member of at most 2**16 items, read if the header declares it."""
        entry = header["arrays"].get(name)
        if not (isinstance(entry, list) and len(entry) == 2 and isinstance(entry[0], list)
                and len(entry[0]) == 1 and is_int(entry[0][0])
                and 0 <= entry[0][0] <= 2**16 and isinstance(entry[1], str)):
            return None
        dtype = _plain_dtype(entry[1])
        if dtype is None or dtype.kind not in kinds or name not in archive.names:
            return None
        return archive.read(name, dtype, tuple(entry[0])).tolist()

    names = None
    for name in (first_names, "feature_names_in", "feature_names"):
        if name is not None and names is None:
            names = small_array(name, "U")
    classes = small_array("classes", "biufU")

    def number(key):
        value = header["fitted"].get(key)
        return value if is_number(value) else None

    curve = header["fitted"].get("loss_curve_")
    loss = curve[-1] if isinstance(curve, list) and curve and is_number(curve[-1]) else None

    return {"format_version": header["format_version"],
            "kind": "Pipeline" if steps else header["class"], "estimator": header["class"],
            "steps": steps, "dtype": header["dtype"], "layers": layers, "classes": classes,
            "feature_names": names, "n_iter": number("n_iter_"), "loss": loss,
            "best_loss": number("best_loss_"), "metadata": header.get("metadata")}


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
    layout = model_layout = model._state_arrays(fitted)
    pipeline = None
    if "pipeline" in header:
        pipeline = _pipeline_file.PipelineReader(header["pipeline"])
        steps_layout = pipeline.layout()
        if set(steps_layout) & set(layout):
            raise ValueError("the pipeline's arrays and the model's share names")
        layout = {**layout, **steps_layout}
    owner = cls.__name__ if pipeline is None else f"{cls.__name__} pipeline"
    declared = _declared_arrays(header, layout, owner, fitted.layers())
    members = archive.names - {"header"}
    if members != set(declared):
        extra, missing = sorted(members - set(declared)), sorted(set(declared) - members)
        raise ValueError("the arrays do not match the header's: "
                         + "; ".join(filter(None, [extra and f"not declared {short_list(extra)}",
                                                   missing and f"missing {short_list(missing)}"])))
    arrays = {name: archive.read(name, dtype, shape)
              for name, (shape, dtype) in declared.items()}
    model_arrays = {name: value for name, value in arrays.items() if name in model_layout}
    model._set_state({**header["fitted"], **model_arrays})
    result = model
    if pipeline is not None:
        result = pipeline.build({name: value for name, value in arrays.items()
                                 if name not in model_arrays}, model)
    if "metadata" in header:
        result.cnet_metadata_ = header["metadata"]
    return result


def _read_header(archive, registered=True):
    """The JSON header, parsed within bounds, its top-level fields checked; the model class
    it names must be ``registered`` (read_info asks only for a name)."""
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
    if not is_int(version) or version < 1:
        raise ValueError(f"the header's format_version is {version!r:.40}, not a version")
    if version > FORMAT_VERSION:
        raise ValueError(f"it was written in model format version {version}, newer than this "
                         f"cnet reads ({FORMAT_VERSION}); upgrade cnet to load it")
    name = header.get("class")
    if not isinstance(name, str) or registered and name not in _MODEL_CLASSES:
        raise ValueError(f"unknown model class {name!r:.60}; cnet loads "
                         f"{sorted(_MODEL_CLASSES)}")
    if "pipeline" in header and version < 3:
        raise ValueError(f"the header holds a pipeline, which format version {version} does "
                         f"not")
    if "metadata" in header:
        check_metadata(header["metadata"])
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
                and all(is_int(d) and 0 <= d <= MAX_INT for d in entry[0])
                and isinstance(entry[1], str)):
            raise ValueError(f"the header's entry for array {name!r} is {entry!r:.60}, not "
                             f"[shape, dtype]")
        dtype = _plain_dtype(entry[1])
        if dtype is None and name in layout:
            raise ValueError(f"array {name!r} has dtype {entry[1]!r:.20} in the header; a "
                             f"{kind} stores {name} as {KIND_NAMES[layout[name].kinds]}")
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
        params = {key: from_json(value) for key, value in header["params"].items()}
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
        if not all(is_number(w) and finite(w) and w >= 0 for w in class_weight.values()):
            raise ValueError("class_weight's weights must be finite and non-negative")

