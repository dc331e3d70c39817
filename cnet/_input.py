"""What the front ends share between the user's arrays and the engine: the form validated X
and y take, and the two-class outputs' form.

The compiled loop reads a dense X as a C-contiguous array and a sparse X as CSR, in the
parameters' dtype. scikit-learn's ``validate_data`` checks values and shapes; this module
settles the layout, so that a sparse X stays sparse (CSC becomes CSR, never dense), and checks
a sparse X's structure before anything converts it (:func:`check_sparse_structure`).

Each call validates once: arrays already valid reach a fit or a prediction without
scikit-learn's checks (:func:`training_input`, :func:`prediction_input`), which cost more than
a small network's work, and a classifier's targets are typed once
(:func:`classification_targets`), their answer reused by the label encoding.
"""
import math
import warnings

import numpy as np
import scipy.sparse as sp

from cnet._caller import stacklevel

# Sparse formats the front ends accept; validate_data converts others to the first.
SPARSE_FORMATS = ["csr", "csc"]


def as_training_input(X, dtype):
    """Dense X as a C-contiguous array, sparse X as CSR with summed duplicates, of ``dtype``.

    Parameters
    ----------
    X : ndarray or scipy.sparse matrix or array
    dtype : dtype
        float32 or float64, the parameters' dtype.

    Returns
    -------
    ndarray or scipy.sparse CSR matrix or array
    """
    if sp.issparse(X):
        X = X.tocsr().astype(dtype, copy=False)
        if not X.has_canonical_format:
            # Sorted, duplicate-free rows give the same sums in every backend.
            X = X.copy()
            X.sum_duplicates()
        return X
    return np.ascontiguousarray(X, dtype=dtype)


def _already_valid(X, dtypes, n_features):
    """Whether X is an array in the form ``validate_data`` would give: 2-D, C-contiguous, of
    one of ``dtypes``, at least one row and column (``n_features`` of them, unless None),
    finite."""
    return (type(X) is np.ndarray and X.ndim == 2 and X.dtype in dtypes
            and X.flags.c_contiguous and X.shape[0] > 0 and X.shape[1] > 0
            and (n_features is None or X.shape[1] == n_features) and _all_finite(X))


def _all_finite(X):
    """Whether every value of float array X is finite."""
    if X.size <= 32:
        # The few rows of a live prediction: a loop over Python floats is a quarter of
        # numpy's elementwise pass, its temporary and its reduction.
        return all(map(math.isfinite, X.ravel().tolist()))
    return bool(np.isfinite(X).all())


def training_input(estimator, X, y, *, reset, dtype, y_kinds, **check_params):
    """X and y validated for ``estimator``'s fit, X in the form the engine reads.

    Arrays already in the form validation would give (X as :func:`prediction_input` takes it,
    y a finite 1-D array of one of ``y_kinds``, as long as X, no feature names to compare or
    forget) are returned as they are, ``n_features_in_`` set on ``reset``: scikit-learn's
    ``validate_data`` costs as much as a small network's epoch. Anything else goes through
    ``validate_data`` once, whose errors name the problem.

    Parameters
    ----------
    estimator : BaseEstimator
        The front end being fitted.
    X, y : object
        What the user passed.
    reset : bool
        A first fit (``n_features_in_`` is set) rather than a continued one (checked).
    dtype : dtype or list of dtype
        The dtypes X may keep (the first is converted to otherwise).
    y_kinds : str
        The numpy dtype kinds a y may have to skip validation (``"biuf"``, plus ``"U"``
        for a classifier).
    **check_params
        ``validate_data``'s other arguments, for inputs that are not already valid.

    Returns
    -------
    X : ndarray or scipy.sparse CSR matrix
    y : ndarray
    """
    dtypes = dtype if isinstance(dtype, list) else [dtype]
    n_features = None if reset else getattr(estimator, "n_features_in_", -1)
    if (_already_valid(X, dtypes, n_features) and not hasattr(estimator, "feature_names_in_")
            and type(y) is np.ndarray and y.ndim == 1 and y.shape[0] == X.shape[0]
            and y.dtype.kind in y_kinds and (y.dtype.kind != "f" or np.isfinite(y).all())):
        if reset:
            estimator.n_features_in_ = X.shape[1]
        return X, y
    # Imported here: the kernels and the twin import this module, and need no scikit-learn.
    from sklearn.utils.validation import validate_data
    check_sparse_structure(X)
    X, y = validate_data(estimator, X, y, reset=reset, accept_sparse=SPARSE_FORMATS,
                         dtype=dtype, order="C", **check_params)
    return as_training_input(X, X.dtype), y


def prediction_input(estimator, X, dtype):
    """X validated for a fitted ``estimator``'s prediction, in the form the engine reads.

    An array already in the form validation would give (C-contiguous, the parameters' dtype,
    the fitted width, finite, no feature names to compare) is returned as it is: scikit-learn's
    ``validate_data`` costs more than the network on a few samples. Anything else goes through
    ``validate_data`` (``reset=False``), whose errors name the problem (NaN, infinity, the
    number of features, the dtype, a 1-D array...).

    Parameters
    ----------
    estimator : BaseEstimator
        A fitted front end (``n_features_in_`` set by its fit).
    X : object
        What the user passed.
    dtype : dtype
        The parameters' dtype.

    Returns
    -------
    ndarray or scipy.sparse CSR matrix
    """
    if (_already_valid(X, [dtype], getattr(estimator, "n_features_in_", -1))
            and not hasattr(estimator, "feature_names_in_")):
        return X
    # Imported here: the kernels and the twin import this module, and need no scikit-learn.
    from sklearn.utils.validation import validate_data
    check_sparse_structure(X)
    X = validate_data(estimator, X, reset=False, accept_sparse=SPARSE_FORMATS, dtype=dtype,
                      order="C")
    return as_training_input(X, X.dtype)


# The target types a classifier takes (scikit-learn's check_classification_targets).
CLASSIFICATION_TARGETS = ("binary", "multiclass", "multiclass-multioutput",
                          "multilabel-indicator", "multilabel-sequences")


def classification_targets(y, with_index=False):
    """The target type, the sorted labels and each sample's label index of classification
    targets ``y``, checked as scikit-learn's ``check_classification_targets`` checks them.

    ``y`` is what ``validate_data`` returned. A 1-D array of integers, booleans or strings is
    typed by its number of labels, as ``type_of_target`` would type it, without calling it;
    anything else (floats, objects, 2-D targets) calls ``type_of_target`` once. Either way
    this is the one look at the targets a fit makes: the label encoding reuses its answer.

    Parameters
    ----------
    y : ndarray or scipy.sparse matrix
        Validated targets.
    with_index : bool, default False
        Also find each sample's label index (numpy's ``unique`` then sorts twice as much).

    Returns
    -------
    y_type : str
        ``type_of_target``'s name for ``y``.
    classes : ndarray
        The labels, sorted (``unique_labels``'s answer); for a label indicator matrix, the
        column indices.
    index : ndarray of intp or None
        Each sample's position in ``classes``; None for 2-D targets or without
        ``with_index``.

    Raises
    ------
    ValueError
        For regression targets (scikit-learn's "Unknown label type" message), several
        outputs of several classes each, and labels that mix strings and numbers.
    """
    from sklearn.utils.multiclass import type_of_target
    if isinstance(y, np.ndarray) and y.ndim == 1 and y.dtype.kind in "biuU" and y.size:
        y_type = None
    else:
        y_type = type_of_target(y, input_name="y")
        if y_type not in CLASSIFICATION_TARGETS:
            raise ValueError(f"Unknown label type: {y_type}. Maybe you are trying to fit a "
                             f"classifier, which expects discrete classes on a regression "
                             f"target with continuous values.")
        if "multioutput" in y_type:
            # LabelBinarizer's message: one label per sample per output is not encoded.
            raise ValueError("Multioutput target data is not supported with label "
                             "binarization")
        if y.ndim != 1:
            return y_type, np.arange(y.shape[1]), None
    if y.dtype.kind == "O":
        labels = set(y.tolist())
        if len({isinstance(label, str) for label in labels}) > 1:
            raise ValueError("Mix of label input types (string and number)")
        classes = np.asarray(sorted(labels))
        index = np.searchsorted(classes, y) if with_index else None
    else:
        if with_index:
            classes, index = np.unique(y, return_inverse=True)
        else:
            classes, index = np.unique(y), None
        if classes.dtype.kind == "U":
            # unique_labels' strings are as wide as the longest label, not as y's dtype.
            classes = np.asarray(classes.tolist())
    if y_type is None:
        y_type = "binary" if len(classes) <= 2 else "multiclass"
    if y_type == "multiclass" and y.shape[0] > 20 and len(classes) > round(0.5 * y.shape[0]):
        warnings.warn("The number of unique classes is greater than 50% of the number of "
                      "samples. `y` could represent a regression problem, not a "
                      "classification problem.", UserWarning, stacklevel=stacklevel())
    return y_type, classes, None if index is None else index.reshape(-1)


def two_class_probabilities(p):
    """``[1 - p, p]`` side by side, from the positive class's probabilities ``(n, 1)``
    (np.hstack's checks cost a tenth of a one-row prediction)."""
    return np.concatenate((1 - p, p), axis=1)


def check_sparse_structure(X, name="X"):
    """Raise ValueError unless sparse ``X``'s arrays describe a valid matrix of its shape.

    A scipy.sparse matrix built with the raw constructor, or whose arrays were changed after,
    is only lightly checked by scipy, and its conversions (``tocsr`` from CSC,
    ``sum_duplicates``) run unchecked C++ that reads and writes out of bounds on bad indices.
    So this runs before any conversion, on the format X arrives in: what scipy's
    ``check_format(full_check=True)`` checks, without its side effects (it prunes and recasts
    the user's arrays), and that the stored values are finite. Anything that is not sparse is
    left to ``validate_data``.

    Parameters
    ----------
    X : object
        Checked if it is a scipy.sparse matrix or array.
    name : str, default "X"
        What the error messages call it.

    Raises
    ------
    ValueError
        Naming the first problem found.
    """
    if not sp.issparse(X):
        return
    shape = _sparse_shape(X, name)
    if X.format in ("csr", "csc", "bsr"):
        _check_compressed(X, shape, name)
    elif X.format == "coo":
        _check_coordinates(X, shape, name)
    else:
        # LIL, DOK and DIA keep their entries in Python objects or dense diagonals, and
        # reach COO through numpy code that checks as it goes: check the entries there.
        try:
            coo = X.tocoo()
        except Exception as exc:
            raise ValueError(f"{name} is not a valid {X.format.upper()} matrix: {exc}") from None
        _check_coordinates(coo, shape, name)


def _sparse_shape(X, name):
    try:
        shape = tuple(int(d) for d in X.shape)
    except (TypeError, ValueError):
        raise ValueError(f"{name} has an invalid shape {X.shape!r}") from None
    if len(shape) != 2 or min(shape) < 0:
        raise ValueError(f"{name} must be a 2-D sparse matrix, got shape {shape}")
    return shape


def _index_array(X, attribute, name):
    array = getattr(X, attribute)
    if not isinstance(array, np.ndarray) or array.ndim != 1 or array.dtype.kind not in "iu":
        raise ValueError(f"{name}.{attribute} must be a 1-D integer array")
    return array


def _check_values(data, count, name):
    values = data[:count]
    if values.dtype.kind in "fc" and not np.isfinite(values).all():
        raise ValueError(f"{name} contains NaN or infinity among its stored values")


def _check_in_range(index, bound, what, name):
    # Only the stored entries are read, so index may be empty.
    if index.size and (index.min() < 0 or index.max() >= bound):
        raise ValueError(f"{name}.{what} has entries outside [0, {bound})")


def _check_compressed(X, shape, name):
    """CSR, CSC or BSR: the row (column) pointer, the indices it spans and their data."""
    indptr = _index_array(X, "indptr", name)
    indices = _index_array(X, "indices", name)
    data = X.data
    if not isinstance(data, np.ndarray):
        raise ValueError(f"{name}.data must be a numpy array")
    block = (1, 1)
    if X.format == "bsr":
        if data.ndim != 3:
            raise ValueError(f"{name}.data of a BSR matrix must be 3-D (blocks)")
        block = data.shape[1:]
        if min(block) < 1 or shape[0] % block[0] or shape[1] % block[1]:
            raise ValueError(f"{name} has blocks of shape {block}, which do not tile its "
                             f"shape {shape}")
    elif data.ndim != 1:
        raise ValueError(f"{name}.data must be 1-D")
    rows, cols = shape[0] // block[0], shape[1] // block[1]
    major, minor = (cols, rows) if X.format == "csc" else (rows, cols)
    if indptr.shape[0] != major + 1:
        raise ValueError(f"{name}.indptr has {indptr.shape[0]} entries, a {X.format.upper()} "
                         f"matrix of shape {shape} needs {major + 1}")
    if indices.shape[0] != data.shape[0]:
        raise ValueError(f"{name}.indices has {indices.shape[0]} entries, {name}.data "
                         f"{data.shape[0]}")
    if indptr[0] != 0 or (indptr[1:] < indptr[:-1]).any() or indptr[-1] > data.shape[0]:
        raise ValueError(f"{name}.indptr is not a valid index pointer (it must start at 0, "
                         f"never decrease and end at most at len({name}.data) = "
                         f"{data.shape[0]})")
    count = int(indptr[-1])
    _check_in_range(indices[:count], minor, "indices", name)
    _check_values(data, count, name)


def _check_coordinates(X, shape, name):
    """COO: one row and one column index per stored value, each inside the shape."""
    coords = getattr(X, "coords", None)
    if coords is None or len(coords) != 2:
        raise ValueError(f"{name} must have two coordinate arrays (row, col)")
    data = X.data
    if not isinstance(data, np.ndarray) or data.ndim != 1:
        raise ValueError(f"{name}.data must be a 1-D numpy array")
    for what, index, bound in zip(("row", "col"), coords, shape):
        if (not isinstance(index, np.ndarray) or index.ndim != 1
                or index.dtype.kind not in "iu"):
            raise ValueError(f"{name}.{what} must be a 1-D integer array")
        if index.shape[0] != data.shape[0]:
            raise ValueError(f"{name}.{what} has {index.shape[0]} entries, {name}.data "
                             f"{data.shape[0]}")
        _check_in_range(index, bound, what, name)
    _check_values(data, data.shape[0], name)
