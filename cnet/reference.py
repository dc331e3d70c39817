"""The numpy twin: every kernel and the whole training step in plain numpy.

This module is the oracle of the tests and the ``backend="numpy"`` of the models. It has the
same functions, with the same names and signatures, as the compiled code (``cnet.kernels`` for
the kernels, ``cnet._train`` for the training loop), and it never imports the compiled code.

Layout, as in the first of the two tutorials cnet grows from: the values of a layer are stored
one row per unit and one column per sample, ``Z.shape == (units, n_samples)``. Weights are
stored ``(n_in, n_out)`` as in the second, so a layer computes ``Z = W.T @ A + b[:, None]``.
"""
import functools

import numpy as np
import scipy.sparse as sp
import scipy.special

from cnet import registry
from cnet._input import check_sparse_structure
from cnet._layout import unpack


def _into(out, value):
    if out is None:
        return value
    out[...] = value
    return out


# --- kernels ---------------------------------------------------------------------------------

def matmul(a, b, out=None, trans_a=False, trans_b=False):
    """``op(a) @ op(b)``, where ``op`` transposes its operand when asked."""
    return _into(out, (a.T if trans_a else a) @ (b.T if trans_b else b))


def sparse_matmul(x, b, out=None):
    """``x @ b`` for a scipy.sparse ``x`` and a dense ``b``, by scipy's own product."""
    return _into(out, np.asarray(x @ b))


def sparse_transpose_matmul(x, g, out=None):
    """``x.T @ g`` for a scipy.sparse ``x`` and a dense ``g``, by scipy's own product."""
    return _into(out, np.asarray(x.T @ g))


def bias_add(z, bias, out=None):
    """Add ``bias[r]`` to row ``r`` of ``z`` (one row per unit)."""
    return _into(out, z + bias[:, None])


def relu(z, out=None):
    """``max(z, 0)``."""
    return _into(out, np.maximum(z, 0))


def relu_backward(grad, a, out=None):
    """Gradient through relu, given the gradient of its output and the output ``a``."""
    return _into(out, grad * (a > 0))


def sigmoid(z, out=None):
    """``1 / (1 + exp(-z))``, computed from ``exp(-|z|)`` so it never overflows."""
    e = np.exp(-np.abs(z))
    return _into(out, np.where(z >= 0, 1, e) / (1 + e))


def sigmoid_backward(grad, a, out=None):
    """Gradient through sigmoid, given the gradient of its output and the output ``a``."""
    return _into(out, grad * (a * (1 - a)))


def tanh(z, out=None):
    """Hyperbolic tangent."""
    return _into(out, np.tanh(z))


def tanh_backward(grad, a, out=None):
    """Gradient through tanh, given its output ``a``: tanh' = 1 - tanh**2."""
    return _into(out, grad * (1 - a * a))


def leaky_relu(z, out=None):
    """``z`` where positive, ``0.01 * z`` elsewhere."""
    return _into(out, np.where(z > 0, z, 0.01 * z))


def leaky_relu_backward(grad, a, out=None):
    """Gradient through leaky_relu, given its output ``a`` (positive where its input was)."""
    return _into(out, grad * np.where(a > 0, 1.0, 0.01).astype(grad.dtype))


def elu(z, out=None):
    """``z`` where positive, ``exp(z) - 1`` elsewhere (alpha = 1)."""
    return _into(out, np.where(z > 0, z, np.expm1(np.minimum(z, 0))))


def elu_backward(grad, a, out=None):
    """Gradient through elu, given its output ``a``: 1 where positive, ``a + 1`` elsewhere."""
    return _into(out, grad * np.where(a > 0, 1.0, a + 1.0))


def _normal_cdf(z):
    # Python floats keep float32 data in float32 (a numpy float64 scalar would not).
    return 0.5 * (1 + scipy.special.erf(z * 0.7071067811865476))


def gelu(z, out=None):
    """``z * Phi(z)``, Phi the standard normal CDF (the exact, erf form)."""
    return _into(out, z * _normal_cdf(z))


def gelu_backward(grad, z, out=None):
    """Gradient through gelu, given its input ``z``: ``Phi(z) + z * phi(z)``."""
    density = np.exp(-(z * z) / 2) * 0.3989422804014327
    return _into(out, grad * (_normal_cdf(z) + z * density))


def silu(z, out=None):
    """``z * sigmoid(z)`` (swish with beta = 1)."""
    return _into(out, z * sigmoid(z))


def silu_backward(grad, z, out=None):
    """Gradient through silu, given its input ``z``: ``s * (1 + z * (1 - s))``, s = sigmoid(z)."""
    s = sigmoid(z)
    return _into(out, grad * (s * (1 + z * (1 - s))))


def softmax(z, out=None):
    """Softmax of each column (sample); the column maximum is subtracted so exp never overflows."""
    e = np.exp(z - z.max(axis=0))
    return _into(out, e / e.sum(axis=0))


def _binary_cross_entropy_terms(logits, y):
    # -[y log p + (1 - y) log(1 - p)] with p = sigmoid(z), rewritten as
    # log(1 + exp(-|z|)) + max(z, 0) - y z, which stays finite when p saturates at 0 or 1.
    return np.log1p(np.exp(-np.abs(logits))) + np.maximum(logits, 0) - y * logits


def binary_cross_entropy(logits, y):
    """Mean over samples (columns) of the cross-entropy of ``sigmoid(logits)`` against ``y``.

    Computed from the logits, so it stays finite when the probabilities saturate.
    """
    return float(_binary_cross_entropy_terms(logits, y).sum() / logits.shape[1])


def binary_cross_entropy_grad(logits, y, out=None):
    """Gradient of the mean loss with respect to the logits: ``(sigmoid(z) - y) / n_samples``."""
    return _into(out, (sigmoid(logits) - y) / logits.shape[1])


def _softmax_cross_entropy_terms(logits, y):
    # log softmax by a log-sum-exp shifted by each column's maximum, so exp never overflows.
    shifted = logits - logits.max(axis=0)
    return -y * (shifted - np.log(np.exp(shifted).sum(axis=0)))


def softmax_cross_entropy(logits, y):
    """Mean over samples of ``-sum_o y_o log softmax(logits)_o``, via a stable log-sum-exp."""
    return float(_softmax_cross_entropy_terms(logits, y).sum() / logits.shape[1])


def softmax_cross_entropy_grad(logits, y, out=None):
    """Gradient of the mean loss with respect to the logits: ``(softmax - y) / n_samples``."""
    return _into(out, (softmax(logits) - y) / logits.shape[1])


def _squared_error_terms(pred, y):
    return 0.5 * (pred - y) ** 2


def squared_error(pred, y):
    """Half the squared error summed over outputs, averaged over samples."""
    return float(_squared_error_terms(pred, y).sum() / pred.shape[1])


def squared_error_grad(pred, y, out=None):
    """Gradient of :func:`squared_error`: ``(pred - y) / n_samples``."""
    return _into(out, (pred - y) / pred.shape[1])


def _huber_delta(delta):
    # As the compiled kernels check it; a Python float keeps float32 data in float32.
    if not (isinstance(delta, (int, float, np.number)) and not isinstance(delta, bool)
            and np.isfinite(delta) and delta > 0):
        raise ValueError(f"delta must be a positive finite number, got {delta!r}")
    return float(delta)


def _huber_loss_terms(pred, y, delta=1.0):
    delta = _huber_delta(delta)
    residual = pred - y
    size = np.abs(residual)
    return np.where(size <= delta, 0.5 * residual * residual, delta * (size - 0.5 * delta))


def huber_loss(pred, y, delta=1.0):
    """Huber loss: half the squared error within ``delta``, ``delta * (|pred - y| - delta / 2)``
    beyond, summed over outputs, averaged over samples."""
    return float(_huber_loss_terms(pred, y, delta).sum() / pred.shape[1])


def huber_loss_grad(pred, y, out=None, delta=1.0):
    """Gradient of :func:`huber_loss`: ``clip(pred - y, -delta, delta) / n_samples``."""
    delta = _huber_delta(delta)
    return _into(out, np.clip(pred - y, -delta, delta) / pred.shape[1])


def _absolute_error_terms(pred, y):
    return np.abs(pred - y)


def absolute_error(pred, y):
    """Absolute error summed over outputs, averaged over samples."""
    return float(_absolute_error_terms(pred, y).sum() / pred.shape[1])


def absolute_error_grad(pred, y, out=None):
    """Gradient of :func:`absolute_error`: ``sign(pred - y) / n_samples``, 0 where equal."""
    return _into(out, np.sign(pred - y) / pred.shape[1])


def _poisson_loss_terms(logits, y):
    # The deviance y log(y / mu) - y + mu with mu = exp(z), written in z: the log of mu is
    # never taken, and y log y is 0 where y is.
    ylogy = np.where(y > 0, y * np.log(np.where(y > 0, y, 1)), 0)
    return np.exp(logits) - y * logits + ylogy - y


def poisson_loss(logits, y):
    """Poisson deviance of ``exp(logits)`` against ``y``, summed over outputs, averaged over
    samples."""
    return float(_poisson_loss_terms(logits, y).sum() / logits.shape[1])


def poisson_loss_grad(logits, y, out=None):
    """Gradient of :func:`poisson_loss` with respect to the logits: ``(exp(z) - y) / n_samples``."""
    return _into(out, (np.exp(logits) - y) / logits.shape[1])


def bias_grad(dz, out=None):
    """Gradient of a bias: the layer's gradient summed over the samples."""
    return _into(out, dz.sum(axis=1))


def sgd_update(param, grad, learning_rate):
    """``param -= learning_rate * grad``, in place; returns ``param``."""
    param -= learning_rate * grad
    return param


def momentum_update(param, grad, velocity, learning_rate, momentum, nesterov=False):
    """One step of SGD with momentum, in place on ``param`` and ``velocity``; returns ``param``.

    ``velocity = momentum * velocity - learning_rate * grad``, then ``param += velocity``, or
    with Nesterov's look-ahead ``param += momentum * velocity - learning_rate * grad``.
    """
    velocity[...] = momentum * velocity - learning_rate * grad
    if nesterov:
        param += momentum * velocity - learning_rate * grad
    else:
        param += velocity
    return param


def adam_update(param, grad, first_moment, second_moment, step_size, beta_1, beta_2, epsilon):
    """One Adam step, in place on ``param`` and both moments; returns ``param``.

    ``step_size`` is the learning rate with both bias corrections folded in:
    ``lr * sqrt(1 - beta_2**t) / (1 - beta_1**t)`` at step t.
    """
    first_moment[...] = beta_1 * first_moment + (1 - beta_1) * grad
    second_moment[...] = beta_2 * second_moment + (1 - beta_2) * (grad * grad)
    param -= step_size * first_moment / (np.sqrt(second_moment) + epsilon)
    return param


def identity(z, out=None):
    """The identity, for linear layers."""
    return _into(out, z)


def identity_backward(grad, a, out=None):
    """Gradient through the identity: ``grad`` itself."""
    return _into(out, grad)


def exp(z, out=None):
    """The exponential: the Poisson pair's output activation (a log link)."""
    return _into(out, np.exp(z))


# --- the tables, read through cnet.registry ----------------------------------------------------
#
# Found by name: registry activation ``name`` has ``name`` and ``name_backward`` here; an
# output/loss pair has its output activation (a registry activation by name or alias, or the
# function of that name here: softmax, exp), ``loss_kernel``, ``loss_kernel_grad`` and the
# per-element ``_loss_kernel_terms``. A new registry entry needs its functions here and nothing
# else.

def _twin(name):
    return globals()[name]


def activation_functions(name):
    """The twin's ``(forward, backward)`` of a hidden activation, by its name or an alias."""
    entry = registry.activation(name)
    return _twin(entry.name), _twin(f"{entry.name}_backward")


def output_functions(output, parameter=None):
    """The twin's ``(output activation, mean loss, loss gradient)`` of an output/loss pair,
    with the loss's parameter (a network's ``loss_parameter``) bound where it has one.

    The loss's gradient through the activation is taken as one (for the cross-entropies and
    the squared error ``(activation(z) - y) / n_samples``), so backprop starts from there.
    """
    entry = registry.output_loss(output)
    name = entry.output_activation
    activate = (activation_functions(name)[0] if name in registry.activation_names()
                else _twin(name))
    return (activate, _with_parameter(entry, _twin(entry.loss_kernel), parameter),
            _with_parameter(entry, _twin(f"{entry.loss_kernel}_grad"), parameter))


def _with_parameter(entry, function, parameter):
    if entry.parameter is None or parameter is None:
        return function
    return functools.partial(function, **{entry.parameter: parameter})


def _loss_terms(output, parameter=None):
    """Each element's loss term of an output/loss pair, ``(outputs, samples)``."""
    entry = registry.output_loss(output)
    return _with_parameter(entry, _twin(f"_{entry.loss_kernel}_terms"), parameter)


# --- counter-based randomness (shared with the compiled loop, bit for bit) ---------------------

def _splitmix64(counter):
    """splitmix64 of uint64 counters (wrapping arithmetic), the hash behind shuffles and masks."""
    with np.errstate(over="ignore"):
        x = np.asarray(counter, dtype=np.uint64) + np.uint64(0x9E3779B97F4A7C15)
        x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        return x ^ (x >> np.uint64(31))


def dropout_mask(shape, rate, counter, dtype=np.float64):
    """Inverted-dropout mask: ``1 / (1 - rate)`` where an element is kept, 0 where dropped.

    Element e (in C order) is kept when ``splitmix64(counter + e)``, as a 53-bit fraction of
    one, is at least ``rate``.
    """
    n = int(np.prod(shape))
    with np.errstate(over="ignore"):
        u = (_splitmix64(np.uint64(counter) + np.arange(n, dtype=np.uint64)) >> np.uint64(11)
             ).astype(np.float64) * (1.0 / 9007199254740992.0)
    scale = np.asarray(1 / (1 - rate), dtype=dtype)
    return np.where(u >= rate, scale, np.zeros((), dtype=dtype)).reshape(shape)


def dropout_counter(seed, epoch, batch_start, layer):
    """Where the mask counters of one hidden layer in one batch start (as in the loop)."""
    with np.errstate(over="ignore"):
        return (np.uint64(seed) + np.uint64(epoch) * np.uint64(0x9E3779B97F4A7C15)
                + np.uint64(batch_start) * np.uint64(0xD1B54A32D192ED03)
                + np.uint64(layer) * np.uint64(0x8CB92BA72F3D8DD7))


def dropout_seed(seed):
    """The masks' seed derived from the shuffling seed."""
    return _splitmix64(np.uint64(seed) ^ np.uint64(0x5851F42D4C957F2D))


def _batch_masks(values_shapes, dtype, rate, seed, epoch, batch_start):
    return [dropout_mask(shape, rate, dropout_counter(seed, epoch, batch_start, k), dtype)
            for k, shape in enumerate(values_shapes)]


# --- the network -----------------------------------------------------------------------------

def _layer_product(W, A):
    """``W.T @ A``: a layer's pre-activation before the bias, from its input ``A`` (units x
    samples). A sparse input (the transpose of a sparse X) goes through the sparse product."""
    if sp.issparse(A):
        return sparse_matmul(A.T, W).T
    return matmul(W, A, trans_a=True)


def forward_pass(weights, biases, activation, X, masks=None, pre=None):
    """Forward through the network.

    Returns the list of layer values ``[X.T, A1, A2, ...]`` up to the last hidden layer, and
    the output logits; every entry is ``(units, n_samples)``. With dropout ``masks`` (one per
    hidden layer), each hidden layer's value is its activation times its mask. X may be
    scipy.sparse; ``X.T`` is then sparse too. ``pre``, if a list, receives each hidden
    layer's pre-activation (for activations whose backward reads its input).
    """
    act, _ = activation_functions(activation)
    A = X.T
    values = [A]
    for k, (W, b) in enumerate(zip(weights[:-1], biases[:-1])):
        Z = bias_add(_layer_product(W, A), b)
        if pre is not None:
            pre.append(Z)
        A = act(Z)
        if masks is not None:
            A = A * masks[k]
        values.append(A)
    logits = bias_add(_layer_product(weights[-1], A), biases[-1])
    return values, logits


def sample_losses(output, logits, Y, loss_parameter=None):
    """Each sample's loss (summed over outputs), for weighted means: shape (n_samples,)."""
    return _loss_terms(output, loss_parameter)(logits, Y.T).sum(axis=0)


def backward_pass(weights, values, logits, Y, activation, output, sample_factor=None,
                  masks=None, dropout=0.0, pre=None, loss_parameter=None):
    """Gradients of the mean loss, from the output back to the first layer.

    ``sample_factor`` (one value per sample) scales each sample's share of the gradient:
    ``w_j * n_samples / sum(w)`` turns the mean into the weighted mean. With dropout
    ``masks``, the gradient passes through each mask on its way to the activation, whose
    output is the kept value times ``1 - dropout``.

    The chain rule carries ``dZ`` (the gradient of a layer's pre-activation) backwards through
    the layer's *weights* ``W``, not through their gradient ``dW`` as the first tutorial did,
    and through the derivative of the activation actually used (the second tutorial used
    tanh's for relu, and dZ2's place held Z2). Means divide by the number of samples. An
    activation whose backward reads its input (``backward_reads == "input"`` in
    cnet.registry) gets the pre-activations ``pre`` (from :func:`forward_pass`) instead of
    the outputs. ``loss_parameter`` is the loss's own, for a loss that has one.
    """
    _, act_backward = activation_functions(activation)
    _, _, loss_grad = output_functions(output, loss_parameter)
    dZ = loss_grad(logits, Y.T)
    if sample_factor is not None:
        dZ = dZ * sample_factor
    grad_w, grad_b = [None] * len(weights), [None] * len(weights)
    for k in range(len(weights) - 1, -1, -1):
        A_prev = values[k]
        grad_w[k] = (sparse_transpose_matmul(A_prev.T, dZ.T) if sp.issparse(A_prev)
                     else matmul(A_prev, dZ, trans_b=True))
        grad_b[k] = bias_grad(dZ)
        if k > 0:
            dA = matmul(weights[k], dZ)
            if masks is not None:
                dA = dA * masks[k - 1]
                A_prev = np.where(masks[k - 1] != 0, A_prev * (1 - dropout), 0).astype(
                    A_prev.dtype)
            dZ = act_backward(dA, A_prev if pre is None else pre[k - 1])
    return grad_w, grad_b


def epoch_order(seed, epoch, n):
    """The order in which epoch ``epoch`` visits ``n`` samples when shuffling.

    Each sample gets a key ``splitmix64(seed + epoch * n + i)`` (arithmetic modulo 2**64) and
    the samples are sorted by key. The compiled loop computes the same keys.
    """
    with np.errstate(over="ignore"):
        counter = (np.uint64(seed) + np.uint64(epoch) * np.uint64(n)
                   + np.arange(n, dtype=np.uint64))
    return np.argsort(_splitmix64(counter), kind="stable")


def _entry_values(X, sample_weight=None, dropout=0.0, x_name="X"):
    """X as the entry points compute with it, after the value checks the compiled entry
    points make before their loops (``_matrix``, ``_weight_sum`` and ``_check_dropout`` in
    ``_train.pyx``): the same inputs are refused with the same errors, so the two backends'
    tables stay equal.

    X's values (a sparse X's stored entries) must be finite; ``sample_weight``, if given,
    finite and non-negative with a positive sum; ``dropout`` in [0, 1). A dense X comes back
    as a plain ndarray, whose shape is that of its data.
    """
    if sp.issparse(X):
        check_sparse_structure(X, x_name)
        values = X.data[:X.indptr[-1]] if hasattr(X, "indptr") else X.data
    else:
        X = values = np.asarray(X)
    if not np.isfinite(values).all():
        raise ValueError(f"{x_name} contains NaN or infinity")
    if sample_weight is not None:
        weights = np.asarray(sample_weight)
        if not (weights >= 0).all() or not np.isfinite(weights.sum(dtype=np.float64)):
            raise ValueError("sample_weight must be finite and non-negative")
        if weights.sum(dtype=np.float64) == 0:
            raise ValueError("sample_weight sums to zero: no sample would be learnt from")
    if not 0 <= dropout < 1:
        raise ValueError(f"dropout must be in [0, 1), got {dropout}")
    return X


def _check_sizes(params, network, n_features, n_outputs, what="Y"):
    """The size checks the compiled entry points make of the spec against the arrays
    (``_network`` in ``_train.pyx``), with the same errors."""
    if params.dtype != network.dtype:
        raise TypeError(f"the parameters are {params.dtype}, the network {network.dtype}")
    sizes = [int(u) for u in network.layers]
    total = sum(a * b + b for a, b in zip(sizes[:-1], sizes[1:]))
    if params.size != total:
        raise ValueError(f"params has {params.size} elements, layers {sizes} need {total}")
    if n_features != sizes[0]:
        raise ValueError(f"X has {n_features} features, but layers[0] is {sizes[0]}")
    if n_outputs != sizes[-1]:
        raise ValueError(f"{what} has {n_outputs} columns, but the last layer has "
                         f"{sizes[-1]} units")


def _check_apart(written, read):
    """Raise ValueError if an array an entry point writes may share memory with another it
    writes or reads (name -> array, None for absent): the compiled entry points refuse such
    overlaps (``_check_apart`` in ``_train.pyx``) with the same errors."""
    written = [(k, v) for k, v in written.items() if v is not None]
    read = [(k, v) for k, v in read.items() if v is not None]
    for i, (name, array) in enumerate(written):
        for other, other_array in written[i + 1:] + read:
            parts = ([other_array.data, other_array.indices, other_array.indptr]
                     if sp.issparse(other_array) else [other_array])
            if any(np.asarray(array).size and np.asarray(part).size
                   and np.may_share_memory(array, part) for part in parts):
                raise ValueError(f"{name} shares memory with {other}; pass separate arrays")


def _weighted_loss(network, logits, Y, sample_weight):
    """The mean loss of the logits against Y, weighted if sample_weight is given."""
    if sample_weight is None:
        _, loss, _ = output_functions(network.output, network.loss_parameter)
        return loss(logits, Y.T)
    return float(np.average(sample_losses(network.output, logits, Y, network.loss_parameter),
                            weights=sample_weight))


def _gradients(network, weights, biases, X, Y, factor, masks, dropout):
    """Forward and backward over one batch: the logits and the gradients (lists like
    weights and biases). ``factor`` (per sample) weights the mean; see backward_pass."""
    pre = [] if network.keeps_input else None
    values, logits = forward_pass(weights, biases, network.activation, X, masks, pre)
    grad_w, grad_b = backward_pass(weights, values, logits, Y, network.activation,
                                   network.output, factor, masks, dropout, pre,
                                   network.loss_parameter)
    return logits, grad_w, grad_b


def loss_and_gradient(params, network, X, Y, grad, sample_weight=None, dropout=0.0,
                      dropout_seed=0, alpha=0.0):
    """Mean loss over all samples of X at ``params`` of ``network`` (a cnet.spec.Network),
    weighted if sample_weight is given; its gradient is written into ``grad``. With dropout,
    the masks are those of epoch 0's first batch under ``dropout_seed``. ``alpha`` adds the
    L2 penalty ``0.5 * alpha * sum(W**2) / sum(w)`` (``sum(w)`` is n without weights) and
    its gradient."""
    X = _entry_values(X, sample_weight, dropout)
    _check_sizes(params, network, X.shape[1], Y.shape[1])
    if Y.shape[0] != X.shape[0] or X.shape[0] == 0:
        raise ValueError("X and Y need the same, non-zero number of rows")
    if grad.shape != params.shape:
        raise ValueError("grad must have the size of params")
    _check_apart({"grad": grad}, {"X": X, "params": params, "Y": Y, "layers": network.layers,
                                  "sample_weight": sample_weight})
    weights, biases = unpack(params, network.layers)
    masks = None
    if dropout > 0:
        masks = _batch_masks([(W.shape[1], X.shape[0]) for W in weights[:-1]], params.dtype,
                             dropout, dropout_seed, 0, 0)
    factor = None
    if sample_weight is not None:
        factor = sample_weight * (X.shape[0] / sample_weight.sum())
    logits, grad_w, grad_b = _gradients(network, weights, biases, X, Y, factor, masks,
                                        dropout)
    gw, gb = unpack(grad, network.layers)
    for dst, src in zip(gw + gb, grad_w + grad_b):
        dst[...] = src
    weight_sum = X.shape[0] if sample_weight is None else float(sample_weight.sum())
    penalty = 0.0
    if alpha != 0:
        for W, dW in zip(weights, gw):
            dW += (alpha / weight_sum) * W
        penalty = 0.5 * alpha * sum(float((W * W).sum()) for W in weights) / weight_sum
    return _weighted_loss(network, logits, Y, sample_weight) + penalty


def train_epochs(params, network, training, X, Y, progress, n_epochs):
    """Train for ``n_epochs`` epochs, updating ``params`` in place (see ``cnet._train``).

    Each batch: forward, backward, the L2 penalty's gradient ``alpha * W / batch_size`` added
    to every weight gradient, then one step of ``training.optimizer``. The loss of epoch e,
    recorded when ``e % loss_every == 0`` (NaN otherwise), is the mean over its batches of
    the loss each batch had before its step.

    With sample weights, a batch's loss, gradient and L2 term divide by the batch's weight
    sum instead of its size. A batch whose weights sum to zero is skipped: no step, no Adam
    step counted, and it is left out of the epoch's loss (NaN if no batch counted).

    Returns ``(losses, val_losses, val_scores, epochs_done, interrupted, stopped)``. An epoch
    that leaves a parameter NaN or infinite, or a KeyboardInterrupt, stops training with the
    parameters and optimizer state of the last whole epoch. The rules of cnet.epoch_rules
    and the optimizer's schedule apply after every whole epoch; ``progress`` carries their
    state, and ``stopped`` says whether they ended training.
    """
    X = _entry_values(X, training.sample_weight, training.dropout)
    _check_sizes(params, network, X.shape[1], Y.shape[1])
    if Y.shape[0] != X.shape[0]:
        raise ValueError(f"X has {X.shape[0]} rows but Y has {Y.shape[0]}")
    if X.shape[0] == 0:
        raise ValueError("X has no rows")
    optimizer, stopping, validation = training.optimizer, training.stopping, training.validation
    state = optimizer.state
    if state.shape != (2, params.size):
        raise ValueError(f"the optimizer's state must have shape (2, {params.size})")
    if training.sample_weight is not None and len(training.sample_weight) != X.shape[0]:
        raise ValueError(f"sample_weight has {len(training.sample_weight)} entries, X has "
                         f"{X.shape[0]} rows")
    if validation is not None:
        _entry_values(validation.X, x_name="validation.X")
        if validation.X.shape[0] == 0:
            raise ValueError("validation.X has no rows")
        _check_sizes(params, network, validation.X.shape[1], Y.shape[1])
        if validation.Y.shape != (validation.X.shape[0], Y.shape[1]):
            raise ValueError(f"validation.Y must have shape ({validation.X.shape[0]}, "
                             f"{Y.shape[1]}), got {validation.Y.shape}")
    scored = stopping.on == "score"
    fused = optimizer.steps_in_backward and training.alpha == 0
    _check_apart(
        {"params": params, "optimizer.state": None if fused else state,
         "stopping.best_params": stopping.best_params if scored else None},
        {"X": X, "Y": Y, "layers": network.layers, "sample_weight": training.sample_weight,
         **({} if validation is None else {
             "validation.X": validation.X, "validation.Y": validation.Y,
             "validation.sample_weight": validation.sample_weight})})
    n = X.shape[0]
    losses = np.full(n_epochs, np.nan)
    val_losses = None if validation is None else np.full(n_epochs, np.nan)
    val_scores = np.full(n_epochs, np.nan) if scored else None
    first, done = progress.epoch, 0
    outcome = (False, False)
    for e in range(n_epochs):
        saved = (params.copy(), state.copy(), optimizer.step_count)
        epoch = first + e
        try:
            total, counted = _epoch(params, network, training, X, Y, epoch)
        except KeyboardInterrupt:
            _restore(params, optimizer, saved)
            outcome = (True, False)
            break
        recorded = training.loss_every > 0 and epoch % training.loss_every == 0
        if not np.isfinite(params).all() or (recorded and not np.isfinite(total)):
            _restore(params, optimizer, saved)
            break
        # NaN, not a divergence, where no batch had weight (only a raw call can get here).
        losses[e] = total / counted if recorded and counted > 0 else np.nan
        done += 1
        if _apply_rules(params, network, training, progress, losses[e],
                        (val_losses, val_scores, e), n):
            outcome = (False, True)
            break
    progress.epoch = first + done
    return (losses, val_losses, val_scores, done) + outcome


def _apply_rules(params, network, training, progress, loss, record, n):
    """The rules after an epoch (see cnet.epoch_rules) and the optimizer's schedule;
    ``record`` is (val_losses, val_scores, e): where epoch e's validation loss and score go.
    Updates ``progress`` and the optimizer's rate in place; returns whether training stops."""
    optimizer, stopping, validation = training.optimizer, training.stopping, training.validation
    val_losses, val_scores, e = record
    progress.samples_seen += n
    if validation is not None:
        val_losses[e], score = evaluate(params, network, validation,
                                        validation.score if stopping.on == "score" else "none")
    if stopping.on == "score":
        val_scores[e] = score
        # A NaN score fails "score < best + tol", so it resets the count, and never becomes
        # the best: as in scikit-learn.
        progress.no_improvement = (progress.no_improvement + 1
                                   if score < progress.best_score + stopping.tol else 0)
        if score > progress.best_score:
            progress.best_score = score
            stopping.best_params[...] = params
    elif stopping.on == "loss":
        progress.no_improvement = (progress.no_improvement + 1
                                   if loss > progress.best_loss - stopping.tol else 0)
        progress.best_loss = min(progress.best_loss, loss)
    fields = optimizer.fields
    if optimizer.schedule == "invscaling":
        optimizer.learning_rate = (fields["learning_rate_init"][0]
                                   / (progress.samples_seen + 1) ** fields["power_t"][0])
    if stopping.on != "none" and progress.no_improvement > stopping.n_iter_no_change:
        if optimizer.schedule == "adaptive" and optimizer.learning_rate > fields["lr_floor"][0]:
            optimizer.learning_rate = optimizer.learning_rate / 5
            progress.no_improvement = 0
        else:
            return True
    return False


def evaluate(params, network, validation, score):
    """Mean loss (weighted, no L2 term) and score (one of cnet.epoch_rules.SCORES) of the
    network on a validation set (cnet.epoch_rules.Validation), as the compiled loop's rules
    compute them; the score is NaN where an output is not finite."""
    weights, biases = unpack(params, network.layers)
    X, Y, sample_weight = validation.X, validation.Y, validation.sample_weight
    _, logits = forward_pass(weights, biases, network.activation, X)
    val_loss = _weighted_loss(network, logits, Y, sample_weight)
    if score == "none":
        return val_loss, np.nan
    out_activation, _, _ = output_functions(network.output)
    with np.errstate(all="ignore"):
        out = out_activation(logits).T
    w = np.ones(X.shape[0]) if sample_weight is None else sample_weight.astype(np.float64)
    # An overflowed logit scores NaN, as forward gives NaN outputs for it.
    if not (np.isfinite(out).all() and np.isfinite(logits).all()):
        return val_loss, np.nan
    if score == "neg_log_loss":
        return val_loss, -val_loss
    if score == "neg_mse":
        squares = (w[:, None] * (Y - out).astype(np.float64) ** 2).sum(axis=0)
        return val_loss, float(-squares.sum() / (w.sum() * Y.shape[1]))
    if score == "r2":
        ss_tot = validation.ss_tot
        ss_res = (w[:, None] * (Y - out).astype(np.float64) ** 2).sum(axis=0)
        r2 = np.where((ss_tot != 0) & (ss_res != 0), 1 - ss_res / np.where(ss_tot, ss_tot, 1),
                      np.where(ss_res == 0, 1.0, 0.0))
        return val_loss, float(r2.mean())
    if score == "accuracy_argmax":
        right = np.argmax(out, axis=1) == np.argmax(Y, axis=1)
    elif score == "accuracy_threshold":
        right = ((out > 0.5) == (Y > 0.5)).all(axis=1)
    else:
        right = np.ones(X.shape[0], dtype=bool)
    return val_loss, float((w * right).sum() / w.sum())


def _restore(params, optimizer, saved):
    params[...] = saved[0]
    optimizer.state[...] = saved[1]
    optimizer.step_count = saved[2]


# --- the optimizers' steps: _<name>_step for each cnet.registry.OPTIMIZERS entry --------------

def _sgd_step(optimizer, params, grads):
    """SGD with momentum (Nesterov's if asked), or plain SGD; state row 0 is the velocity."""
    if optimizer.momentum != 0:
        momentum_update(params, grads, optimizer.state[0], optimizer.learning_rate,
                        optimizer.momentum, optimizer.nesterov)
    else:
        sgd_update(params, grads, optimizer.learning_rate)


def _adam_step(optimizer, params, grads):
    """Adam; state rows 0 and 1 are the moments. Counts the step."""
    optimizer.step_count += 1
    t = optimizer.step_count
    step_size = (optimizer.learning_rate * np.sqrt(1 - optimizer.beta_2 ** t)
                 / (1 - optimizer.beta_1 ** t))
    adam_update(params, grads, optimizer.state[0], optimizer.state[1], step_size,
                optimizer.beta_1, optimizer.beta_2, optimizer.epsilon)


def _epoch(params, network, training, X, Y, epoch):
    """Epoch ``epoch`` of :func:`train_epochs`; returns the summed batch losses and the
    samples in the batches that counted.

    A batch whose weights sum to zero holds nothing to learn from (its weighted mean is
    0 / 0): it is skipped whole, no step and no Adam step counted, and the epoch's loss is
    the mean over the batches that count."""
    weights, biases = unpack(params, network.layers)
    step = globals()[f"_{training.optimizer.name}_step"]
    sample_weight, dropout, alpha = training.sample_weight, training.dropout, training.alpha
    n = X.shape[0]
    size = min(training.batch_size, n)
    record = training.loss_every > 0 and epoch % training.loss_every == 0
    order = epoch_order(training.seed, epoch, n) if training.shuffle and size < n else None
    total = 0.0
    counted = 0
    for start in range(0, n, size):
        rows = slice(start, start + size) if order is None else order[start:start + size]
        Xb, Yb = X[rows], Y[rows]
        m = Xb.shape[0]
        wb = None if sample_weight is None else sample_weight[rows]
        weight_sum = m if wb is None else float(wb.sum())
        if not weight_sum > 0:
            continue
        counted += m
        masks = None
        if dropout > 0:
            masks = _batch_masks([(W.shape[1], m) for W in weights[:-1]], params.dtype,
                                 dropout, dropout_seed(training.seed), epoch, start)
        factor = None if wb is None else wb * (m / weight_sum)
        logits, grad_w, grad_b = _gradients(network, weights, biases, Xb, Yb, factor, masks,
                                            dropout)
        if record:
            batch_loss = _weighted_loss(network, logits, Yb, wb)
            penalty = 0.5 * alpha * sum(float((W * W).sum()) for W in weights) / weight_sum
            total += (batch_loss + penalty) * m
        for W, dW in zip(weights, grad_w):
            dW += (alpha / weight_sum) * W
        grads = np.concatenate([g.ravel() for pair in zip(grad_w, grad_b) for g in pair])
        step(training.optimizer, params, grads)
    return total, counted


def forward(params, network, X, out):
    """Write the outputs of ``network`` (a cnet.spec.Network) after its output activation,
    samples x outputs, into out, and return how many samples have an output that is not
    finite.

    A sample whose logits are not finite (the parameters overflow on it) gets NaN outputs."""
    X = _entry_values(X)
    _check_sizes(params, network, X.shape[1], out.shape[1])
    if out.shape[0] != X.shape[0]:
        raise ValueError(f"out has {out.shape[0]} rows, X has {X.shape[0]}")
    _check_apart({"out": out}, {"X": X, "params": params, "layers": network.layers})
    weights, biases = unpack(params, network.layers)
    _, logits = forward_pass(weights, biases, network.activation, X)
    out_activation, _, _ = output_functions(network.output)
    out[...] = out_activation(logits).T
    # Samples whose logits overflowed get NaN outputs, whatever the activation makes of them.
    out[~np.isfinite(logits).all(axis=0)] = np.nan
    return int(np.sum(~np.isfinite(out).all(axis=1)))


def forward_layers(params, network, X, pre, acts):
    """Every layer of ``network`` (a cnet.spec.Network) over all of X, kept: each layer's
    pre-activation into ``pre`` and its activation into ``acts``, the output layer's through
    the output activation (see ``cnet._train.forward_layers``).

    Both are flat, laid out layer after layer, each layer ``(units, n_samples)`` row-major,
    as :func:`forward_pass` returns its values; each holds ``n_samples`` times the units
    after the input. Nothing is checked for NaN or infinity in what is written."""
    X = _entry_values(X)
    # The compiled entry point's typed arguments refuse other dtypes: so does its twin.
    for name, array in (("X", X), ("pre", pre), ("acts", acts)):
        if array.dtype != params.dtype:
            raise TypeError(f"{name} has dtype {array.dtype}, the parameters {params.dtype}")
    _check_sizes(params, network, X.shape[1], int(network.layers[-1]))
    units = [int(u) for u in network.layers[1:]]
    expected = sum(units) * X.shape[0]
    if pre.shape[0] != expected or acts.shape[0] != expected:
        raise ValueError(f"pre and acts need {expected} values each ({X.shape[0]} samples of "
                         f"{sum(units)} units), got {pre.shape[0]} and {acts.shape[0]}")
    if X.shape[0] == 0:
        return
    _check_apart({"pre": pre, "acts": acts},
                 {"X": X, "params": params, "layers": network.layers})
    weights, biases = unpack(params, network.layers)
    hidden_pre = []
    values, logits = forward_pass(weights, biases, network.activation, X, pre=hidden_pre)
    out_activation, _, _ = output_functions(network.output)
    start = 0
    for Z, A in zip(hidden_pre + [logits], values[1:] + [out_activation(logits)]):
        pre[start:start + Z.size] = Z.ravel()
        acts[start:start + A.size] = A.ravel()
        start += Z.size
