"""cnet's compiled kernels, as users call them.

Every function here checks its arguments (dtype, dimensions, shapes, finite values), allocates
the output if none is given, and runs the Cython kernel of the same name in ``cnet._kernels``
(the build for this CPU, see :mod:`cnet._cpu`) with the GIL released. ``cnet.reference`` has a
numpy function of the same name and signature for each one; the tests hold the two equal.

The hidden activations (``relu``, ``relu_backward``, ...) and the output layers' losses
(``squared_error``, ``squared_error_grad``, ...) are made from :mod:`cnet.registry`, one pair
per entry, so that a new entry has its kernels here with no change to this module.

Layout: a layer's values are ``(units, n_samples)``; weights are ``(n_in, n_out)``.

Examples
--------
>>> import numpy as np
>>> from cnet import kernels
>>> kernels.matmul(np.eye(2), np.array([[1.0, 2.0], [3.0, 4.0]]))
array([[1., 2.],
       [3., 4.]])
>>> kernels.relu(np.array([-1.0, 0.5]))
array([0. , 0.5])
"""
import inspect

import numpy as np
import scipy.sparse as sp

from cnet import _cpu, registry
from cnet._input import check_sparse_structure


def _compiled():
    """The compiled kernels of the variant in use (see :mod:`cnet._cpu`)."""
    return _cpu.module("_kernels")


def _float_dtype(*arrays):
    """The float dtype the kernels run in for these real arrays (float32 or float64)."""
    dtype = np.result_type(*arrays)
    if dtype.kind != "f":
        return np.dtype(np.float64)
    return np.dtype(np.float32) if dtype.itemsize <= 4 else np.dtype(np.float64)


def _inputs(names, values, ndims):
    """Convert the named inputs to one contiguous float dtype, checking each."""
    arrays = []
    for name, value, ndim in zip(names, values, ndims):
        try:
            a = np.asarray(value)
        except Exception as exc:  # ragged lists and the like
            raise TypeError(f"{name} is not an array: {exc}") from None
        if a.dtype.kind not in "biuf":
            raise TypeError(f"{name} must be a real numeric array, got dtype {a.dtype}")
        if ndim is not None and a.ndim != ndim:
            raise ValueError(f"{name} must be {ndim}-D, got {a.ndim}-D with shape {a.shape}")
        if a.size == 0:
            raise ValueError(f"{name} is empty (shape {a.shape})")
        if not np.isfinite(a).all():
            raise ValueError(f"{name} contains NaN or infinity")
        arrays.append(a)
    dtype = _float_dtype(*arrays)
    return [np.ascontiguousarray(a, dtype=dtype) for a in arrays]


def _output(out, shape, dtype, name="out", inputs=()):
    """A C-contiguous, writable array of the given shape and dtype: ``out`` or a new one.

    ``out`` may not share memory with ``inputs``: the kernels write while they still read.
    """
    if out is None:
        return np.empty(shape, dtype=dtype)
    if not isinstance(out, np.ndarray):
        raise TypeError(f"{name} must be a numpy array, got {type(out).__name__}")
    if out.shape != tuple(shape):
        raise ValueError(f"{name} has shape {out.shape}, expected {tuple(shape)}")
    if out.dtype != dtype:
        raise TypeError(f"{name} has dtype {out.dtype}, expected {dtype}")
    if not out.flags.c_contiguous or not out.flags.writeable:
        raise ValueError(f"{name} must be C-contiguous and writable")
    if any(np.shares_memory(out, a) for a in inputs):
        raise ValueError(f"{name} shares memory with an input; pass a separate array")
    return out


def matmul(a, b, out=None, trans_a=False, trans_b=False):
    """Matrix product ``op(a) @ op(b)``.

    Small products run hand-written loops; larger ones call BLAS (see
    :func:`cnet._kernels.matmul_uses_blas`).

    Parameters
    ----------
    a, b : array_like, 2-D
        Operands; float32 stays float32, other real dtypes compute in float64.
    out : ndarray, optional
        C-contiguous array of the result's shape and dtype to write into.
    trans_a, trans_b : bool, default False
        Use the transpose of ``a`` / ``b``.

    Returns
    -------
    ndarray
        The product, of shape ``(op(a).shape[0], op(b).shape[1])``.
    """
    a, b = _inputs(("a", "b"), (a, b), (2, 2))
    m, k = a.shape[::-1] if trans_a else a.shape
    k_b, n = b.shape[::-1] if trans_b else b.shape
    if k != k_b:
        raise ValueError(f"matmul: inner dimensions differ: op(a) is {(m, k)}, op(b) is {(k_b, n)}")
    out = _output(out, (m, n), a.dtype, inputs=(a, b))
    _compiled().matmul(a, b, out, bool(trans_a), bool(trans_b))
    return out


def _sparse_and_dense(x, dense, dense_name):
    """Sparse ``x`` as canonical-enough CSR arrays and ``dense`` as a C-contiguous 2-D array,
    both in one float dtype, each checked."""
    if not sp.issparse(x):
        raise TypeError(f"x must be a scipy.sparse matrix or array, got {type(x).__name__}")
    if x.ndim != 2:
        raise ValueError(f"x must be 2-D, got shape {x.shape}")
    if x.dtype.kind not in "biuf":
        raise TypeError(f"x must be real numeric, got dtype {x.dtype}")
    # Before tocsr: scipy's conversions trust the arrays they convert.
    check_sparse_structure(x, "x")
    (dense,) = _inputs((dense_name,), (dense,), (2,))
    dtype = _float_dtype(x.data, dense)
    x = x.tocsr().astype(dtype, copy=False)
    parts = (np.ascontiguousarray(x.data), np.ascontiguousarray(x.indices, dtype=np.intp),
             np.ascontiguousarray(x.indptr, dtype=np.intp))
    return x, parts, np.ascontiguousarray(dense, dtype=dtype)


def sparse_matmul(x, b, out=None):
    """Product ``x @ b`` of a sparse matrix and a dense one, reading only x's stored entries.

    Parameters
    ----------
    x : scipy.sparse matrix or array of shape (n, k)
        Any format (CSR is used as it is, others are converted); float32 stays float32,
        other real dtypes compute in float64.
    b : array_like of shape (k, p)
    out : ndarray of shape (n, p), optional

    Returns
    -------
    ndarray of shape (n, p)
    """
    x, parts, b = _sparse_and_dense(x, b, "b")
    if x.shape[1] != b.shape[0]:
        raise ValueError(f"sparse_matmul: x is {x.shape}, b is {b.shape}")
    out = _output(out, (x.shape[0], b.shape[1]), b.dtype, inputs=(b, *parts))
    if x.nnz == 0:
        out[...] = 0
    else:
        _compiled().sparse_matmul(*parts, b, out)
    return out


def sparse_transpose_matmul(x, g, out=None):
    """Product ``x.T @ g`` of a sparse matrix's transpose and a dense matrix: the weight
    gradient of a layer whose input is sparse.

    Parameters
    ----------
    x : scipy.sparse matrix or array of shape (n, k)
    g : array_like of shape (n, p)
    out : ndarray of shape (k, p), optional

    Returns
    -------
    ndarray of shape (k, p)
    """
    x, parts, g = _sparse_and_dense(x, g, "g")
    if x.shape[0] != g.shape[0]:
        raise ValueError(f"sparse_transpose_matmul: x is {x.shape}, g is {g.shape}")
    out = _output(out, (x.shape[1], g.shape[1]), g.dtype, inputs=(g, *parts))
    if x.nnz == 0:
        out[...] = 0
    else:
        _compiled().sparse_transpose_matmul(*parts, g, out)
    return out


def bias_add(z, bias, out=None):
    """Add ``bias[r]`` to every sample in row ``r`` of ``z``.

    Parameters
    ----------
    z : array_like of shape (units, n_samples)
    bias : array_like of shape (units,)
    out : ndarray, optional

    Returns
    -------
    ndarray of shape (units, n_samples)
    """
    z, bias = _inputs(("z", "bias"), (z, bias), (2, 1))
    if bias.shape[0] != z.shape[0]:
        raise ValueError(f"bias has {bias.shape[0]} entries, z has {z.shape[0]} rows")
    out = _output(out, z.shape, z.dtype, inputs=(bias,))
    _compiled().bias_add(z, bias, out)
    return out


def _elementwise(kernel, names, values, out):
    """Run ``kernel(*flat inputs, flat out)`` on the checked inputs; ``out`` may be the first
    input, not the others."""
    arrays = _inputs(names, values, [None] * len(values))
    shape = arrays[0].shape
    for name, a in zip(names[1:], arrays[1:]):
        if a.shape != shape:
            raise ValueError(f"{name} has shape {a.shape}, {names[0]} has {shape}")
    # Element-wise kernels may write over their first input, but not over the others.
    out = _output(out, shape, arrays[0].dtype, inputs=arrays[1:])
    kernel(*[a.reshape(-1) for a in arrays], out.reshape(-1))
    return out


def _logits_and_targets(outputs, y):
    outputs, y = _inputs(("outputs", "y"), (outputs, y), (2, 2))
    if y.shape != outputs.shape:
        raise ValueError(f"y has shape {y.shape}, the outputs have shape {outputs.shape}")
    return outputs, y


# --- hidden activations and output/loss pairs, made from cnet.registry --------------------------
#
# For every hidden activation ``name`` of the registry: ``name(z, out=None)`` and
# ``name_backward(grad, a, out=None)`` (``grad, z`` for an entry whose backward reads its
# input); for every output/loss pair: ``loss_kernel(logits, y)`` and
# ``loss_kernel_grad(logits, y, out=None)`` (``pred`` for a loss on an identity output). Each
# runs the one compiled entry point of its kind with the entry's code.

_FORWARD_DOC = """{title}: ``{formula}``, element-wise.

Parameters
----------
z : array_like
    float32 stays float32, other real dtypes compute in float64.
out : ndarray, optional
    C-contiguous array of the shape and dtype of the result to write into; may be ``z``.

Returns
-------
ndarray of the shape of ``z``
"""

_BACKWARD_DOC = """Gradient through {name}: ``grad * ({derivative})``.

Parameters
----------
grad : array_like
    Gradient of the loss with respect to {name}'s output.
{x} : array_like
    {name}'s {x_is}.
out : ndarray, optional
    C-contiguous array of the shape and dtype of the result to write into; may be ``grad``.

Returns
-------
ndarray
    Gradient with respect to {name}'s input.
"""

_LOSS_DOC = """Loss of the ``{name}`` output layer ({formula}), summed over outputs and
averaged over samples.

Parameters
----------
{z} : array_like of shape (n_outputs, n_samples)
    The output layer's pre-activations.
y : array_like of shape (n_outputs, n_samples)
    Targets{targets}.

Returns
-------
float
"""

_LOSS_GRAD_DOC = """Gradient of :func:`{loss_kernel}` with respect to ``{z}``.

Parameters
----------
{z} : array_like of shape (n_outputs, n_samples)
y : array_like of shape (n_outputs, n_samples)
    Targets{targets}.
out : ndarray, optional

Returns
-------
ndarray of shape (n_outputs, n_samples)
"""

_TARGETS = {"binary": " in [0, 1]", "one_hot": ": probabilities per sample (one-hot for class "
            "labels)", "real": "", "counts": ", non-negative (counts or rates)"}


def _named(function, name, doc):
    function.__name__ = function.__qualname__ = name
    function.__doc__ = doc
    return function


def _activation_kernels(entry):
    """``{name: function}`` for one registry activation: its forward and its backward."""
    code = entry.code

    def forward(z, out=None):
        return _elementwise(lambda *arrays: _compiled().activation_forward(code, *arrays),
                            ("z",), (z,), out)

    def backward_from_output(grad, a, out=None):
        return _elementwise(lambda *arrays: _compiled().activation_backward(code, *arrays),
                            ("grad", "a"), (grad, a), out)

    def backward_from_input(grad, z, out=None):
        return _elementwise(lambda *arrays: _compiled().activation_backward(code, *arrays),
                            ("grad", "z"), (grad, z), out)

    reads_input = entry.backward_reads == "input"
    backward = backward_from_input if reads_input else backward_from_output
    title = entry.name.replace("_", " ").capitalize()
    return {
        entry.name: _named(forward, entry.name,
                           _FORWARD_DOC.format(title=title, formula=entry.formula)),
        f"{entry.name}_backward": _named(
            backward, f"{entry.name}_backward",
            _BACKWARD_DOC.format(name=entry.name, derivative=entry.derivative,
                                 x="z" if reads_input else "a",
                                 x_is="input" if reads_input else "output")),
    }


def _loss_kernels(entry):
    """``{name: function}`` for one registry output/loss pair: its loss and its gradient."""
    code = entry.code

    def checked(outputs, y):
        outputs, y = _logits_and_targets(outputs, y)
        if entry.targets == "counts" and (y < 0).any():
            raise ValueError(f"y must be non-negative for the {entry.loss.capitalize()} loss "
                             f"(counts or rates)")
        return outputs, y

    def parameter_of(value):
        if not (isinstance(value, (int, float, np.number)) and not isinstance(value, bool)
                and np.isfinite(value) and value > 0):
            raise ValueError(f"{entry.parameter} must be a positive finite number, got "
                             f"{value!r}")
        return float(value)

    # A loss on an identity output names its input pred, the others logits, as the twins
    # do; a loss with a parameter takes it last, by its registry name (huber: delta=1.0).
    z = "pred" if entry.output_activation == "identity" else "logits"
    plain = inspect.Parameter.POSITIONAL_OR_KEYWORD
    extra = [] if entry.parameter is None else [
        inspect.Parameter(entry.parameter, plain, default=entry.parameter_default)]
    loss_signature = inspect.Signature(
        [inspect.Parameter(z, plain), inspect.Parameter("y", plain)] + extra)
    grad_signature = inspect.Signature(
        [inspect.Parameter(z, plain), inspect.Parameter("y", plain),
         inspect.Parameter("out", plain, default=None)] + extra)

    def arguments(signature, args, kwargs):
        bound = signature.bind(*args, **kwargs)
        bound.apply_defaults()
        values = bound.arguments
        parameter = (entry.parameter_default if entry.parameter is None
                     else parameter_of(values[entry.parameter]))
        return (*checked(values[z], values["y"]), values.get("out"), parameter)

    def loss(*args, **kwargs):
        outputs, y, _, parameter = arguments(loss_signature, args, kwargs)
        return _compiled().output_loss(code, outputs, y, parameter)

    def loss_grad(*args, **kwargs):
        outputs, y, out, parameter = arguments(grad_signature, args, kwargs)
        out = _output(out, outputs.shape, outputs.dtype, inputs=(y,))
        _compiled().output_loss_grad(code, outputs, y, out, parameter)
        return out

    loss.__signature__ = loss_signature
    loss_grad.__signature__ = grad_signature

    targets = _TARGETS.get(entry.targets, "")
    name = entry.loss_kernel
    return {
        name: _named(loss, name, _LOSS_DOC.format(name=entry.name, formula=entry.formula, z=z,
                                                  targets=targets)),
        f"{name}_grad": _named(loss_grad, f"{name}_grad",
                               _LOSS_GRAD_DOC.format(loss_kernel=name, z=z, targets=targets)),
    }


_ACTIVATION_KERNELS = {name: function for entry in registry.ACTIVATIONS.values()
                       for name, function in _activation_kernels(entry).items()}
_LOSS_KERNELS = {name: function for entry in registry.OUTPUT_LOSSES.values()
                 for name, function in _loss_kernels(entry).items()}
globals().update(_ACTIVATION_KERNELS)
globals().update(_LOSS_KERNELS)


def softmax(z, out=None):
    """Softmax over the units of every sample: each column of ``z`` maps to probabilities.

    Parameters
    ----------
    z : array_like of shape (n_outputs, n_samples)
    out : ndarray, optional

    Returns
    -------
    ndarray of shape (n_outputs, n_samples)
        Non-negative, each column summing to 1; computed without overflow.
    """
    (z,) = _inputs(("z",), (z,), (2,))
    out = _output(out, z.shape, z.dtype)
    _compiled().softmax(z, out)
    return out


def bias_grad(dz, out=None):
    """Gradient of a layer's bias: ``dz`` summed over the samples.

    Parameters
    ----------
    dz : array_like of shape (units, n_samples)
        Gradient with respect to the layer's pre-activation.
    out : ndarray, optional

    Returns
    -------
    ndarray of shape (units,)
    """
    (dz,) = _inputs(("dz",), (dz,), (2,))
    out = _output(out, (dz.shape[0],), dz.dtype)
    _compiled().bias_grad(dz, out)
    return out


def _in_place(name, array, like=None):
    """Check an array that a kernel updates in place: float, C-contiguous, writable."""
    if not isinstance(array, np.ndarray) or array.dtype not in (np.float32, np.float64):
        raise TypeError(f"{name} must be a float32 or float64 numpy array (it is updated in "
                        f"place)")
    if like is not None and (array.shape != like.shape or array.dtype != like.dtype):
        raise ValueError(f"{name} has shape {array.shape} and dtype {array.dtype}, param has "
                         f"{like.shape} and {like.dtype}")
    _output(array, array.shape, array.dtype, name=name)
    return array.reshape(-1)


def _gradient_for(param, grad):
    (grad,) = _inputs(("grad",), (grad,), (param.ndim,))
    if grad.shape != param.shape:
        raise ValueError(f"grad has shape {grad.shape}, param has {param.shape}")
    return grad.astype(param.dtype, copy=False).reshape(-1)


def _check_finite(**values):
    for name, value in values.items():
        if isinstance(value, bool) or not isinstance(value, (int, float, np.number)):
            raise TypeError(f"{name} must be a real number, got {value!r}")
        if not np.isfinite(value):
            raise ValueError(f"{name} must be finite, got {value}")


def sgd_update(param, grad, learning_rate):
    """One gradient-descent step in place: ``param -= learning_rate * grad``.

    Parameters
    ----------
    param : ndarray
        C-contiguous, writable float32 or float64 array; updated in place.
    grad : array_like
        Gradient of the shape of ``param``.
    learning_rate : float

    Returns
    -------
    ndarray
        ``param``.
    """
    flat = _in_place("param", param)
    grad = _gradient_for(param, grad)
    _check_finite(learning_rate=learning_rate)
    _compiled().sgd_update(flat, grad, float(learning_rate))
    return param


def momentum_update(param, grad, velocity, learning_rate, momentum, nesterov=False):
    """One step of gradient descent with momentum, in place on ``param`` and ``velocity``.

    ``velocity = momentum * velocity - learning_rate * grad``; then ``param += velocity``, or,
    with ``nesterov``, ``param += momentum * velocity - learning_rate * grad``.

    Parameters
    ----------
    param : ndarray
        C-contiguous, writable float32 or float64 array; updated in place.
    grad : array_like
        Gradient of the shape of ``param``.
    velocity : ndarray
        The running velocity, like ``param``; updated in place.
    learning_rate, momentum : float
    nesterov : bool, default False

    Returns
    -------
    ndarray
        ``param``.
    """
    flat = _in_place("param", param)
    velocity_flat = _in_place("velocity", velocity, like=param)
    grad = _gradient_for(param, grad)
    _check_finite(learning_rate=learning_rate, momentum=momentum)
    _compiled().momentum_update(flat, grad, velocity_flat, float(learning_rate), float(momentum),
                             bool(nesterov))
    return param


def adam_update(param, grad, first_moment, second_moment, step_size, beta_1, beta_2, epsilon):
    """One Adam step, in place on ``param`` and both moment estimates.

    ``m = beta_1 m + (1 - beta_1) grad``, ``v = beta_2 v + (1 - beta_2) grad**2``, then
    ``param -= step_size * m / (sqrt(v) + epsilon)``.

    Parameters
    ----------
    param : ndarray
        C-contiguous, writable float32 or float64 array; updated in place.
    grad : array_like
        Gradient of the shape of ``param``.
    first_moment, second_moment : ndarray
        The running moment estimates, like ``param``; updated in place.
    step_size : float
        The learning rate with the bias corrections folded in, at step t:
        ``lr * sqrt(1 - beta_2**t) / (1 - beta_1**t)``.
    beta_1, beta_2, epsilon : float

    Returns
    -------
    ndarray
        ``param``.
    """
    flat = _in_place("param", param)
    m1 = _in_place("first_moment", first_moment, like=param)
    m2 = _in_place("second_moment", second_moment, like=param)
    grad = _gradient_for(param, grad)
    _check_finite(step_size=step_size, beta_1=beta_1, beta_2=beta_2, epsilon=epsilon)
    _compiled().adam_update(flat, grad, m1, m2, float(step_size), float(beta_1), float(beta_2),
                         float(epsilon))
    return param


def dropout_mask(shape, rate, counter, dtype=np.float64):
    """Inverted-dropout mask: ``1 / (1 - rate)`` where an element is kept, 0 where dropped.

    Element e (in C order) is kept when ``splitmix64(counter + e)``, as a 53-bit fraction of
    one, is at least ``rate``: the same mask for the same ``counter``, in both backends.

    Parameters
    ----------
    shape : int or tuple of int
    rate : float in [0, 1)
        Probability of dropping an element.
    counter : int in [0, 2**64)
        Where the element counters start.
    dtype : float32 or float64

    Returns
    -------
    ndarray of the given shape
    """
    _check_finite(rate=rate)
    if not 0 <= rate < 1:
        raise ValueError(f"rate must be in [0, 1), got {rate}")
    dtype = np.dtype(dtype)
    if dtype not in (np.float32, np.float64):
        raise TypeError(f"dtype must be float32 or float64, got {dtype}")
    if not isinstance(counter, (int, np.integer)) or not 0 <= counter < 2**64:
        raise ValueError(f"counter must be an integer in [0, 2**64), got {counter!r}")
    out = np.empty(shape, dtype=dtype)
    if out.size == 0:
        raise ValueError(f"shape {out.shape} is empty")
    _compiled().dropout_mask(out.reshape(-1), float(rate), int(counter))
    return out


__all__ = ["matmul", "sparse_matmul", "sparse_transpose_matmul", "bias_add",
           *_ACTIVATION_KERNELS, "softmax", *_LOSS_KERNELS, "bias_grad", "sgd_update",
           "momentum_update", "adam_update", "dropout_mask"]
