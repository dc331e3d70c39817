# The training loop: whole epochs of forward, backward and update, with no Python inside.
#
# Parameters live in one flat buffer, layer after layer: W1 (n_in x n_out, row-major), b1, W2,
# b2, ... A gradient buffer has the same layout. The SGD step is taken inside the backward
# pass: each weight matrix is updated by the same matrix product that computes its gradient,
# which saves writing the gradient out and reading it back.
#
# Layer values are stored (units, samples), one row per unit, so that the element-wise loops
# and most matmul loops run along the samples. The input batch stays in the user's
# (samples, features) order and the first layer reads it transposed: no copy of X is made
# unless the rows are shuffled. A sparse X (CSR) is read through its stored entries only
# (_sparse.pxd); a shuffled batch is a list of row numbers, so a sparse X is never copied.
#
# Workspaces are allocated once per call, before the GIL is released; nothing is allocated
# per epoch or per batch. Each hidden layer's activations are overwritten in place by their
# gradient on the way back, so the workspace is one array per layer plus one scratch array.
#
# cnet/reference.py holds the same computation in numpy; the tests hold the two equal.

import numpy as np
from scipy.sparse import issparse

from cnet import _blas_threads

from cython cimport floating
from libc.math cimport INFINITY, NAN
from libc.stdint cimport uint64_t, uintptr_t
from cpython.pyport cimport PY_SSIZE_T_MAX
# The raw allocator: safe without the GIL like malloc, and seen by tracemalloc, so the
# benchmark's peak-memory report covers the loop's workspaces too.
from cpython.mem cimport PyMem_RawFree, PyMem_RawMalloc
from libc.stdlib cimport qsort
from libc.string cimport memcpy
from posix.time cimport CLOCK_MONOTONIC, clock_gettime, timespec
from cpython.exc cimport PyErr_CheckSignals

cimport _activations
from _activations cimport Activation
from _dropout cimport dropout_backward, dropout_counter, dropout_forward, splitmix64
from _gemm cimport (fill_zero, gemm, gemm_get_one_thread_split, gemm_may_use_threads,
                    gemm_set_one_thread_split, gemm_small, gemm_uses_blas)
from _sparse cimport CSR_BAD_INDEX, csr_matmul, csr_problem, csr_transpose_matmul_add, transpose
cimport _losses
from _losses cimport Output, output_activation, output_gradient
from _updates cimport add_l2_gradient, adam_update, momentum_update, row_sums, sgd_update
from libc.math cimport pow

ACTIVATIONS = {
    "identity": _activations.IDENTITY,
    "relu": _activations.RELU,
    "sigmoid": _activations.SIGMOID,
    "tanh": _activations.TANH,
    "leaky_relu": _activations.LEAKY_RELU,
}
# Output activations, each trained with its matching loss: binary cross-entropy, categorical
# cross-entropy, squared error and the Poisson deviance.
OUTPUTS = {"logistic": _losses.LOGISTIC, "softmax": _losses.SOFTMAX, "identity": _losses.SQUARED,
           "exp": _losses.POISSON}
SOLVERS = ("sgd", "adam")


cdef struct SortKey:
    uint64_t key
    Py_ssize_t index


cdef int _compare_keys(const void* a, const void* b) noexcept nogil:
    cdef const SortKey* x = <const SortKey*>a
    cdef const SortKey* y = <const SortKey*>b
    if x.key != y.key:
        return -1 if x.key < y.key else 1
    return -1 if x.index < y.index else (1 if x.index > y.index else 0)


cdef void _epoch_order(SortKey* keys, Py_ssize_t n, uint64_t seed,
                       Py_ssize_t epoch) noexcept nogil:
    # The samples sorted by their keys: the permutation np.argsort(keys, kind="stable") gives.
    # splitmix64 is a counter-based hash, so the key of sample i in epoch e depends on
    # (seed, e, i) alone and the numpy twin computes the same keys.
    cdef Py_ssize_t i
    cdef uint64_t base = seed + <uint64_t>epoch * <uint64_t>n
    for i in range(n):
        keys[i].key = splitmix64(base + <uint64_t>i)
        keys[i].index = i
    qsort(keys, n, sizeof(SortKey), _compare_keys)


def epoch_order(uint64_t seed, Py_ssize_t epoch, Py_ssize_t n):
    """The order in which epoch `epoch` visits n samples when shuffling (for the tests)."""
    if n < 0 or n > PY_SSIZE_T_MAX // <Py_ssize_t>sizeof(SortKey):
        raise ValueError(f"n must be a non-negative sample count, got {n}")
    cdef SortKey* keys = <SortKey*>PyMem_RawMalloc(max(n, 1) * sizeof(SortKey))
    if keys == NULL:
        raise MemoryError()
    try:
        _epoch_order(keys, n, seed, epoch)
        return np.array([keys[i].index for i in range(n)], dtype=np.intp)
    finally:
        PyMem_RawFree(keys)


cdef bint _blas_loop_started(const Py_ssize_t[::1] layers, Py_ssize_t m) except -1:
    """Tell cnet._blas_threads that a loop over batches of m samples starts, if any of its
    products may use BLAS threads (every product of layer k has work layers[k] *
    layers[k + 1] * m); returns whether it told, to pass to _blas_loop_finished."""
    cdef Py_ssize_t k
    for k in range(layers.shape[0] - 1):
        if gemm_may_use_threads(layers[k + 1], m, layers[k]):
            _blas_threads.loop_started()
            return True
    return False


cdef _blas_loop_finished(bint started):
    if started:
        _blas_threads.loop_finished()


def set_one_thread_split(bint on):
    """Turn the split of mid-sized products off or on in the training loop (see _gemm.pxd);
    returns the previous setting. For benchmarks and tests only."""
    previous = bool(gemm_get_one_thread_split())
    gemm_set_one_thread_split(on)
    return previous


# Ctrl-C inside a batch. A product bigger than WORK_PER_POLL multiply-adds is split along the
# batch's samples into pieces of about that much work, and the loop looks for signals between
# the pieces and between the layers: a full batch of a large data set takes seconds, and a
# look only between batches would keep Ctrl-C waiting that long. A piece keeps at least
# MIN_PIECE samples: each BLAS call packs the weights again, and a vector multiply-add costs
# so little next to that copy that fewer samples make a full batch measurably slower (64
# samples: 1.1x on one core, 2-3x with OpenBLAS's threads on a busy machine). A product below
# the bound is one piece, computed as it always was.
cdef enum:
    WORK_PER_POLL = 1 << 25
    MIN_PIECE = 1024


cdef double SIGNAL_CHECK_SECONDS = 0.005


cdef struct SignalPoll:
    double last         # when signals were last looked for
    bint raised         # a signal handler raised: its error is pending, the batch abandoned


cdef extern from "Python.h":
    # Declared again without an exception check: in a noexcept nogil function the error a
    # handler raises must stay pending (for _signal_outcome), not be printed and dropped.
    int _check_signals_raw "PyErr_CheckSignals" () noexcept


cdef inline double _seconds() noexcept nogil:
    cdef timespec now
    clock_gettime(CLOCK_MONOTONIC, &now)
    return now.tv_sec + 1e-9 * now.tv_nsec


cdef bint _poll_signals(SignalPoll* poll) noexcept nogil:
    """Run pending signal handlers if SIGNAL_CHECK_SECONDS have passed since the last look
    (the GIL is taken only then); True when one raised and the batch must be abandoned."""
    if poll == NULL:
        return False
    if not poll.raised and _seconds() - poll.last >= SIGNAL_CHECK_SECONDS:
        with gil:
            if _check_signals_raw() < 0:
                poll.raised = True
        poll.last = _seconds()
    return poll.raised


cdef int _raise_pending() except -1:
    # The error a signal handler raised inside a batch is still set: returning -1 from an
    # "except -1" function makes the caller raise it.
    return -1


cdef int _signal_outcome(SignalPoll* poll) except -1:
    """With the GIL: 1 if a KeyboardInterrupt is pending or raised now, 0 if no handler
    raised; any other error a handler raised propagates."""
    cdef bint raised = poll.raised
    poll.raised = False
    try:
        if raised:
            _raise_pending()
        PyErr_CheckSignals()
    except KeyboardInterrupt:
        return 1
    finally:
        poll.last = _seconds()
    return 0


cdef inline Py_ssize_t _piece(Py_ssize_t m, Py_ssize_t per_sample) noexcept nogil:
    """Samples per piece of a product costing per_sample multiply-adds per sample."""
    return min(m, max(<Py_ssize_t>MIN_PIECE, WORK_PER_POLL // max(per_sample, 1)))


cdef SignalPoll* _inner_poll(SignalPoll* poll, const Py_ssize_t[::1] layers,
                             Py_ssize_t m) noexcept:
    """poll, for batches of m samples long enough to need a look inside them; else NULL.

    A batch of less than WORK_PER_POLL / 8 multiply-adds ends well within
    SIGNAL_CHECK_SECONDS, so the look between batches suffices, and the small networks'
    batches (a few microseconds) pay no clock reads between their layers."""
    cdef Py_ssize_t k, work = 0
    for k in range(layers.shape[0] - 1):
        work += layers[k] * layers[k + 1]
        if work >= WORK_PER_POLL // 8 // m + 1:
            return poll
    return NULL


cdef double _batch_step(const Py_ssize_t* layers, Py_ssize_t n_layers,
                        Activation activation, Output output, floating* params, floating* grads,
                        floating learning_rate,
                        const floating* x, Py_ssize_t ldx, bint x_by_feature,
                        const Py_ssize_t* x_indices, const Py_ssize_t* x_indptr,
                        const Py_ssize_t* x_rows, const floating* y, const floating* weights, floating weight_sum,
                        Py_ssize_t m, floating* acts, floating* scratch,
                        bint want_loss, double dropout, uint64_t dropout_seed,
                        Py_ssize_t epoch, Py_ssize_t batch_start,
                        SignalPoll* poll) noexcept nogil:
    """Forward and backward over m samples; returns the summed loss if asked.

    The loss is the weighted mean over the batch: sample j's terms are weighted by
    weights[j] (1 where weights is NULL) and divided by weight_sum, their sum; what is
    returned is the weighted sum, before that division.

    With learning_rate = 0 the gradient is written into grads. Otherwise the gradient step
    params -= learning_rate * gradient is taken in place, layer by layer on the way back: each
    weight matrix is updated by the product that computes its gradient (beta = 1), after the
    product that carries the error through the old weights to the layer below.

    The batch x is samples x features with row stride ldx, or, if x_by_feature, features x
    samples with row stride ldx. If x_indptr is not NULL, X is sparse: x, x_indices and
    x_indptr are its CSR arrays, and the batch is rows x_rows[0..m) (or, where x_rows is NULL,
    rows batch_start..batch_start + m).

    With dropout > 0, each hidden layer's output goes through inverted dropout; the masks
    come from (dropout_seed, epoch, batch_start, layer) and are drawn again on the way back.

    Signals are looked for between layers and between the pieces of large products (poll,
    unless NULL): when a handler raises, the batch is abandoned half done (params and grads
    then hold partial values) and NaN is returned with poll.raised set.
    """
    cdef Py_ssize_t k, n_in = 0, n_out = 0, off = 0, act_off = 0, i, j0, mc, piece
    cdef floating* w
    cdef floating* bias_grad
    cdef floating* z = acts
    cdef floating* a_prev
    cdef floating* target
    cdef floating alpha
    cdef double loss
    cdef bint step = learning_rate != 0
    cdef bint sparse = x_indptr != NULL
    for k in range(n_layers - 1):
        n_in = layers[k]
        n_out = layers[k + 1]
        w = params + off
        z = acts + act_off
        piece = _piece(m, n_in * n_out)
        j0 = 0
        while j0 < m:
            mc = min(piece, m - j0)
            if k == 0 and sparse:
                # Samples x units first, then the (units, samples) layout; scratch is free
                # until the loss.
                csr_matmul(x, x_indices, x_indptr, x_rows + j0 if x_rows != NULL else NULL,
                           batch_start + j0, mc, w, n_out, scratch + j0 * n_out)
            elif k == 0:
                gemm(True, not x_by_feature, n_out, mc, n_in, 1, w, n_out,
                     x + (j0 if x_by_feature else j0 * ldx), ldx, False, z + j0, m)
            else:
                gemm(True, False, n_out, mc, n_in, 1, w, n_out, z - n_in * m + j0, m, False,
                     z + j0, m)
            if _poll_signals(poll):
                return NAN
            j0 += mc
        if k == 0 and sparse:
            transpose(scratch, m, n_out, z)
        _activations.bias_activation(z, w + n_in * n_out, n_out, m,
                                     activation if k < n_layers - 2 else _activations.IDENTITY)
        if dropout > 0 and k < n_layers - 2:
            dropout_forward(z, n_out * m, dropout,
                            dropout_counter(dropout_seed, epoch, batch_start, k))
        off += n_in * n_out + n_out
        act_off += n_out * m
    # z holds the output pre-activations, outputs x samples; y is samples x outputs. The
    # scratch array is free until the backward pass needs it.
    loss = output_gradient(output, z, y, n_out, m, 1, n_out, 1 / weight_sum, want_loss,
                           scratch, weights)
    for k in range(n_layers - 2, -1, -1):
        n_in = layers[k]
        n_out = layers[k + 1]
        off -= n_in * n_out + n_out
        act_off -= n_out * m
        w = params + off
        z = acts + act_off          # now the gradient of this layer's pre-activation
        a_prev = z - n_in * m
        piece = _piece(m, n_in * n_out)
        if k > 0:
            # The error for the layer below, through the weights before their update.
            j0 = 0
            while j0 < m:
                mc = min(piece, m - j0)
                gemm(False, False, n_in, mc, n_out, 1, w, n_out, z + j0, m, False,
                     scratch + j0, m)
                if _poll_signals(poll):
                    return NAN
                j0 += mc
        # The weight gradient sums over the samples: piece after piece into the same target,
        # the first piece starting from zero when a gradient (not a step) is written.
        target = w if step else grads + off
        alpha = -learning_rate if step else 1
        if k == 0 and sparse:
            # The gradient touches only the weight rows of features stored in the batch; a
            # gradient (not a step) is written whole, so it starts from zero.
            transpose(z, n_out, m, scratch)
            if not step:
                fill_zero(target, n_in * n_out)
        j0 = 0
        while j0 < m:
            mc = min(piece, m - j0)
            if k == 0 and sparse:
                csr_transpose_matmul_add(x, x_indices, x_indptr,
                                         x_rows + j0 if x_rows != NULL else NULL,
                                         batch_start + j0, mc, scratch + j0 * n_out, n_out,
                                         alpha, target)
            elif k == 0:
                gemm(not x_by_feature, True, n_in, n_out, mc, alpha,
                     x + (j0 if x_by_feature else j0 * ldx), ldx, z + j0, m,
                     step or j0 > 0, target, n_out)
            else:
                gemm(False, True, n_in, n_out, mc, alpha, a_prev + j0, m, z + j0, m,
                     step or j0 > 0, target, n_out)
            if _poll_signals(poll):
                return NAN
            j0 += mc
        bias_grad = grads + off + n_in * n_out
        row_sums(z, n_out, m, bias_grad)
        if step:
            sgd_update(w + n_in * n_out, bias_grad, learning_rate, n_out)
        if k > 0:
            if dropout > 0:
                dropout_backward(scratch, a_prev, n_in * m, dropout,
                                 dropout_counter(dropout_seed, epoch, batch_start, k - 1))
            _activations.activation_backward(scratch, a_prev, n_in * m, activation)
    return loss


cdef void _solver_step(bint adam, floating* params, const floating* grads, floating* first,
                       floating* second, floating rate, floating beta_1, floating beta_2,
                       floating epsilon, floating momentum, bint nesterov,
                       Py_ssize_t n) noexcept nogil:
    """One step of Adam (rate: the step size, bias corrections folded in), SGD with momentum
    or plain SGD (rate: the learning rate) from the gradient in grads.

    The loop calls it through a pointer (below), so that gcc compiles it on its own: inlined
    into the training loop, gcc judged the update loops rarely run and left them scalar (Adam
    then cost ~3 ns per parameter, against ~0.3 vectorized).
    """
    if adam:
        adam_update(params, grads, first, second, rate, beta_1, beta_2, epsilon, n)
    elif momentum != 0:
        momentum_update(params, grads, first, rate, momentum, nesterov, n)
    else:
        sgd_update(params, grads, rate, n)


ctypedef void (*solver_step_float_t)(bint, float*, const float*, float*, float*, float, float,
                                    float, float, float, bint, Py_ssize_t) noexcept nogil
ctypedef void (*solver_step_double_t)(bint, double*, const double*, double*, double*, double,
                                     double, double, double, double, bint,
                                     Py_ssize_t) noexcept nogil
# Set when the module is imported, so the compiler cannot see through them and inline.
cdef solver_step_float_t solver_step_float = _solver_step[float]
cdef solver_step_double_t solver_step_double = _solver_step[double]


cdef double _l2_gradient(const Py_ssize_t* layers, Py_ssize_t n_layers, const floating* params,
                        floating* grads, floating coef, bint want_norm) noexcept nogil:
    """Add coef * W to every weight gradient (biases are not penalised); return sum W**2."""
    cdef Py_ssize_t k, off = 0, n_w
    cdef double total = 0
    for k in range(n_layers - 1):
        n_w = layers[k] * layers[k + 1]
        total += add_l2_gradient(grads + off, params + off, coef, n_w, want_norm)
        off += n_w + layers[k + 1]
    return total


cdef _check_network(const Py_ssize_t[::1] layers, Py_ssize_t n_params,
                    Py_ssize_t n_features, Py_ssize_t n_outputs):
    if layers.shape[0] < 2:
        raise ValueError("layers needs at least 2 entries (inputs and outputs)")
    cdef Py_ssize_t k
    for k in range(layers.shape[0]):
        if layers[k] < 1:
            raise ValueError(f"layers[{k}] = {layers[k]}: every layer needs at least one unit")
        if layers[k] >= 2 ** 31:
            raise ValueError(f"layers[{k}] = {layers[k]} is too large for BLAS")
    # Each layer is below 2**31, so each term is below 2**62; the sum is computed in C while
    # it stays below 2**62 (the common case, cheap for one-sample predictions) and in Python
    # integers otherwise, where it must not wrap around.
    cdef Py_ssize_t expected = 0
    cdef bint fits = True
    for k in range(layers.shape[0] - 1):
        expected += layers[k] * layers[k + 1] + layers[k + 1]
        if expected >= (<Py_ssize_t>1) << 62:
            fits = False
            break
    if not fits or n_params != expected:
        sizes = [int(u) for u in layers]
        total = sum(a * b + b for a, b in zip(sizes[:len(sizes) - 1], sizes[1:]))
        if n_params != total:
            raise ValueError(f"params has {n_params} elements, layers {sizes} need {total}")
    if n_features != layers[0]:
        raise ValueError(f"X has {n_features} features, but layers[0] is {layers[0]}")
    if n_outputs != layers[layers.shape[0] - 1]:
        raise ValueError(f"Y has {n_outputs} columns, but the last layer has "
                         f"{layers[layers.shape[0] - 1]} units")


cdef Activation _activation_code(str activation) except *:
    try:
        return ACTIVATIONS[activation]
    except KeyError:
        raise ValueError(f"activation must be one of {sorted(ACTIVATIONS)}, "
                         f"got {activation!r}") from None


cdef Output _output_code(str output) except *:
    try:
        return OUTPUTS[output]
    except KeyError:
        raise ValueError(f"output must be one of {sorted(OUTPUTS)}, got {output!r}") from None


def _workspace_rows(const Py_ssize_t[::1] layers, bint sparse=False):
    """Units in all layers after the input, and rows of scratch: the widest hidden layer, or
    3 for the softmax loss's per-sample sums, whichever is more (and the first layer after
    the input, which a sparse X's products pass through scratch)."""
    sizes = list(layers)
    return sum(sizes[1:]), max(sizes[1:len(sizes) - 1] + [3] + ([sizes[1]] if sparse else []))


def _csr_arrays(X, dtype):
    """The CSR arrays of sparse X as the loops read them: data, and Py_ssize_t indices and
    indptr, each at least one element long, and X's row and column counts; checked, so the
    loops may index without bounds checks."""
    if X.format != "csr":
        raise TypeError(f"a sparse X must be CSR, got {X.format.upper()} (convert it with "
                        f"X.tocsr())")
    if X.dtype != dtype:
        raise TypeError(f"X has dtype {X.dtype}, the parameters {np.dtype(dtype)}")
    n_rows, n_cols = (int(d) for d in X.shape)
    if n_rows < 0 or n_cols < 0:
        raise ValueError(f"X has shape {X.shape}")
    data = np.ascontiguousarray(X.data)
    indices = np.ascontiguousarray(X.indices, dtype=np.intp)
    indptr = np.ascontiguousarray(X.indptr, dtype=np.intp)
    if indptr.ndim != 1 or indptr.shape[0] != n_rows + 1:
        raise ValueError(f"X.indptr has {indptr.shape[0]} entries, a CSR matrix of {n_rows} "
                         f"rows needs {n_rows + 1}")
    if data.ndim != 1 or indices.ndim != 1 or indices.shape[0] != data.shape[0]:
        raise ValueError(f"X.indices has {indices.shape[0]} entries, X.data {data.shape[0]}; "
                         f"both must be 1-D")
    cdef Py_ssize_t nnz = data.shape[0]
    if nnz == 0:
        # No stored entry is ever read; the loops only need addresses.
        data = np.zeros(1, dtype=dtype)
        indices = np.zeros(1, dtype=np.intp)
    cdef const Py_ssize_t[::1] ind = indices
    cdef const Py_ssize_t[::1] ptr = indptr
    cdef int problem = csr_problem(&ind[0], &ptr[0], n_rows, n_cols, nnz)
    if problem == CSR_BAD_INDEX:
        raise ValueError(f"X.indices has entries outside [0, {n_cols})")
    if problem:
        raise ValueError("X.indptr is not a valid CSR row pointer (it must start at 0, never "
                         "decrease and end at most at len(X.data))")
    return data, indices, indptr, n_rows, n_cols


cdef tuple _span(str name, const void* start, Py_ssize_t n_bytes):
    return name, <uintptr_t>start, n_bytes


cdef list _dense_spans(str name, const floating[:, ::1] dense):
    """The memory an entry point reads for a dense X."""
    return [_span(name, &dense[0, 0], dense.shape[0] * dense.shape[1] * sizeof(floating))]


cdef list _csr_spans(str name, const floating[::1] data, const Py_ssize_t[::1] indices,
                     const Py_ssize_t[::1] indptr):
    """The memory an entry point reads for a sparse X: its three CSR arrays."""
    return [_span(f"{name}.data", &data[0], data.shape[0] * sizeof(floating)),
            _span(f"{name}.indices", &indices[0], indices.shape[0] * sizeof(Py_ssize_t)),
            _span(f"{name}.indptr", &indptr[0], indptr.shape[0] * sizeof(Py_ssize_t))]


cdef _check_apart(list written, list read):
    """Raise ValueError if an array an entry point writes overlaps another it writes or reads
    (spans from _span). The loops write while they read and assume nothing overlaps: an
    overlap would give wrong results silently. cnet.reference._check_apart is its twin."""
    cdef Py_ssize_t i
    for i in range(len(written)):
        name, start, size = written[i]
        for other, other_start, other_size in written[i + 1:] + read:
            if size and other_size and start < other_start + other_size \
                    and other_start < start + size:
                raise ValueError(f"{name} shares memory with {other}; pass separate arrays")


def _dense_input(X, dtype):
    if not isinstance(X, np.ndarray):
        raise TypeError(f"X must be a numpy array or a scipy.sparse CSR matrix, got "
                        f"{type(X).__name__}")
    if X.dtype != dtype:
        raise TypeError(f"X has dtype {X.dtype}, the parameters {np.dtype(dtype)}")
    return X


cdef bint _all_finite(const floating* x, Py_ssize_t n) noexcept nogil:
    # x - x is 0 for every finite x and NaN for NaN and infinities.
    cdef Py_ssize_t i
    cdef floating acc = 0
    for i in range(n):
        acc += x[i] - x[i]
    return acc == 0


cdef _check_values(const floating* x, Py_ssize_t n_x, const floating* w, Py_ssize_t n_w,
                   double dropout, str x_name, str w_name):
    """The value checks of the raw entry points, made once before their loops (which never
    check): x's n_x values (a dense X, or a sparse X's stored entries) finite; the n_w
    weights w, if w is not NULL, finite and non-negative with a positive sum; dropout in
    [0, 1). cnet.reference._entry_values makes the same checks with the same errors."""
    cdef Py_ssize_t i
    cdef double total = 0
    cdef bint finite
    with nogil:
        finite = _all_finite(x, n_x)
    if not finite:
        raise ValueError(f"{x_name} contains NaN or infinity")
    if w != NULL:
        for i in range(n_w):
            # Also false for NaN; an infinite weight leaves the sum infinite.
            if not w[i] >= 0:
                raise ValueError(f"{w_name} must be finite and non-negative")
            total += w[i]
        if not total - total == 0:
            raise ValueError(f"{w_name} must be finite and non-negative")
        if total == 0:
            raise ValueError(f"{w_name} sums to zero: no sample would be learnt from")
    if not 0 <= dropout < 1:
        raise ValueError(f"dropout must be in [0, 1), got {dropout}")


def train_epochs(floating[::1] params, const Py_ssize_t[::1] layers, str activation,
                 str output, X, const floating[:, ::1] Y, double learning_rate,
                 Py_ssize_t batch_size, bint shuffle, uint64_t seed, Py_ssize_t first_epoch,
                 Py_ssize_t n_epochs, Py_ssize_t loss_every, double[::1] losses,
                 str solver="sgd", double momentum=0, bint nesterov=False, double beta_1=0.9,
                 double beta_2=0.999, double epsilon=1e-8, double alpha=0, state=None,
                 Py_ssize_t step_count=0, sample_weight=None, double dropout=0, rules=None):
    """Train for n_epochs epochs, updating params in place.

    Returns (step_count, epochs_done, interrupted, stopped): Adam's step counter, the number
    of whole epochs trained, whether a KeyboardInterrupt stopped training, and whether the
    rules did. Training also stops early when an epoch leaves a parameter NaN or infinite
    (divergence). Either way the parameters (and optimizer state) are those at the end of the
    last whole epoch.

    rules (a cnet.epoch_rules.EpochRules, or None for none) are applied after every epoch:
    the learning-rate schedule, the validation loss and score, and stopping when there has
    been no improvement for too long; rules.progress carries their state in and out.

    Epoch e (counted from first_epoch) records in losses[e - first_epoch] the mean loss over
    its batches, each taken before that batch's update, when e % loss_every == 0, and NaN
    otherwise. With shuffle and more than one batch, epoch e visits the samples in
    epoch_order(seed, e, n).

    solver "sgd" steps with momentum (Nesterov's if asked), "adam" with Adam; both as in
    scikit-learn. alpha adds the L2 penalty 0.5 * alpha * sum(W**2) / batch_size to each
    batch's loss. state, shape (2, n_params), holds the velocity (row 0) or Adam's moments
    and carries them from call to call; step_count is Adam's step counter t.

    With sample_weight (n non-negative values), each batch's loss, gradient and L2 term are
    divided by the batch's weight sum instead of its size (scikit-learn's convention); the
    epoch's loss is still the mean of the batch losses weighted by batch size. A batch whose
    weights sum to zero (which scikit-learn leaves undefined: 0 / 0) is skipped: no step, no
    Adam step counted, and it is left out of the epoch's loss (NaN if no batch counted).

    Ctrl-C is looked for every few ms, inside long batches too (see WORK_PER_POLL); an
    interrupted epoch is abandoned whole.

    dropout (in [0, 1)) drops each hidden unit's output with that probability in training
    (inverted dropout: kept outputs are scaled by 1 / (1 - dropout)); masks derive from seed.

    X is a C-contiguous array or a scipy.sparse CSR matrix, of the dtype of params.
    """
    cdef Activation act = _activation_code(activation)
    cdef Output out_kind = _output_code(output)
    dtype = np.float32 if floating is float else np.float64
    cdef bint sparse = issparse(X)
    cdef const floating[:, ::1] Xd
    cdef const floating[::1] x_data
    cdef const Py_ssize_t[::1] x_indices, x_indptr
    # Every size comes from the views: an object's .shape may say anything.
    cdef Py_ssize_t n, n_features, n_outputs = Y.shape[1]
    if sparse:
        x_data, x_indices, x_indptr, n, n_features = _csr_arrays(X, dtype)
        Xd = np.empty((1, 1), dtype=dtype)
    else:
        Xd = _dense_input(X, dtype)
        n, n_features = Xd.shape[0], Xd.shape[1]
    _check_network(layers, params.shape[0], n_features, n_outputs)
    if Y.shape[0] != n:
        raise ValueError(f"X has {n} rows but Y has {Y.shape[0]}")
    if n == 0:
        raise ValueError("X has no rows")
    if batch_size < 1:
        raise ValueError(f"batch_size must be at least 1, got {batch_size}")
    if n_epochs < 0 or loss_every < 0:
        raise ValueError("n_epochs and loss_every must be non-negative")
    if losses.shape[0] < n_epochs:
        raise ValueError(f"losses has room for {losses.shape[0]} epochs, not {n_epochs}")
    if solver not in SOLVERS:
        raise ValueError(f"solver must be one of {SOLVERS}, got {solver!r}")
    # The masks' seed, apart from the shuffling's.
    cdef uint64_t dropout_seed = splitmix64(seed ^ <uint64_t>0x5851F42D4C957F2D)
    cdef bint adam = solver == "adam"
    # Plain SGD takes its step inside the backward pass; the rest need the gradient first.
    cdef bint fused_step = not adam and momentum == 0 and alpha == 0
    cdef floating[:, ::1] moments
    if fused_step:
        moments = np.empty((2, 1), dtype=np.float32 if floating is float else np.float64)
    else:
        if state is not None:
            moments = state
        # The view's shape, not state's: an object's .shape may say anything.
        if state is None or moments.shape[0] != 2 or moments.shape[1] != params.shape[0]:
            raise ValueError(f"state must have shape (2, {params.shape[0]}) with solver "
                             f"{solver!r}, momentum {momentum}, alpha {alpha}")

    cdef Py_ssize_t m_max = min(batch_size, n)
    if m_max >= 2 ** 31:
        raise ValueError(f"a batch of {m_max} rows is too large for BLAS (>= 2**31)")
    cdef bint shuffling = shuffle and m_max < n
    total_units, scratch_rows = _workspace_rows(layers, sparse)
    cdef floating[::1] grads = np.empty_like(params)
    cdef floating[::1] acts = np.empty(total_units * m_max, dtype=dtype)
    cdef floating[::1] scratch = np.empty(scratch_rows * m_max, dtype=dtype)
    # When the first layer's products run on the hand-written path, its loops read the input
    # along samples: a features x samples copy of X (small, since the layer is) makes those
    # reads contiguous. BLAS reads X as it is, and a wide X is not copied.
    cdef bint by_feature = not sparse and not gemm_uses_blas(layers[1], m_max, n_features)
    cdef const floating[:, ::1] XT = (
        np.ascontiguousarray(np.asarray(Xd).T) if by_feature and not shuffling
        else np.empty((1, 1), dtype=dtype))
    batch_shape = (n_features, m_max) if by_feature else (m_max, n_features)
    cdef floating[:, ::1] x_batch = np.empty(
        batch_shape if shuffling and not sparse else (1, 1), dtype=dtype)
    # A sparse batch is named by its rows, never gathered.
    cdef Py_ssize_t[::1] batch_rows = np.empty(m_max if shuffling and sparse else 1,
                                               dtype=np.intp)
    cdef const Py_ssize_t* rows_p = NULL
    cdef const Py_ssize_t* indices_p = NULL
    cdef const Py_ssize_t* indptr_p = NULL
    if sparse:
        indices_p = &x_indices[0]
        indptr_p = &x_indptr[0]
    cdef floating[:, ::1] y_batch = np.empty((m_max if shuffling else 1, n_outputs), dtype=dtype)
    cdef const floating[::1] sw
    cdef floating[::1] w_batch = np.empty(m_max if shuffling else 1, dtype=dtype)
    cdef bint weighted = sample_weight is not None
    if weighted:
        sw = sample_weight
        if sw.shape[0] != n:
            raise ValueError(f"sample_weight has {sw.shape[0]} entries, X has {n} rows")
    _check_values(&x_data[0] if sparse else &Xd[0, 0],
                  x_indptr[n] if sparse else n * n_features,
                  &sw[0] if weighted else NULL, n, dropout, "X", "sample_weight")
    cdef SortKey* order = NULL

    # The state at the start of the epoch under way: restored if the epoch ends with
    # non-finite parameters or is interrupted, so the model keeps the last whole epoch.
    cdef floating[::1] saved_params = np.empty_like(params)
    cdef floating[:, ::1] saved_moments = np.empty_like(moments)
    cdef Py_ssize_t saved_steps = step_count, epochs_done = 0
    cdef bint interrupted = False, checking = False
    cdef SignalPoll poll
    poll.last = _seconds()
    poll.raised = False
    cdef SignalPoll* inner_poll = _inner_poll(&poll, layers, m_max)

    cdef Py_ssize_t e, epoch, start, m, j, f, row, ldx, counted
    cdef bint want_loss
    cdef double total
    cdef const floating* xp
    cdef const floating* yp
    cdef const floating* wp = NULL
    cdef floating weight_sum, batch_loss
    cdef floating lr = <floating>learning_rate

    # The epoch rules and the validation set they may score.
    cdef bint ruled = rules is not None, stopped = False, has_val = False, want_val_loss = False
    cdef bint val_sparse = False
    cdef int schedule = SCHEDULE_CONSTANT, stop_on = STOP_NONE, score_kind = SCORE_NONE
    cdef double lr_init = learning_rate, power_t = 0.5, lr_floor = 0, tol = 0
    cdef double patience = INFINITY, best_loss = INFINITY, best_score = -INFINITY
    cdef double no_improvement = 0, samples_seen = 0, vloss = 0, vscore = 0
    cdef double[::1] progress, val_losses, val_scores, ss_tot, ss_res
    cdef floating[::1] best_params
    cdef const floating[:, ::1] Xv
    cdef const floating[:, ::1] Yv
    cdef const floating[::1] wv, xv_data
    cdef const Py_ssize_t[::1] xv_indices, xv_indptr
    cdef Py_ssize_t n_val = 0, n_val_features = 0, chunk_v = 1, widest = 0
    cdef Py_ssize_t n_out_units = layers[layers.shape[0] - 1]
    cdef floating* vworkspace = NULL
    cdef floating* vbuffers[2]
    cdef const floating* wvp = NULL
    if ruled:
        progress = rules.progress
        if progress.shape[0] != 5:
            raise ValueError("rules.progress must hold 5 values (see cnet.epoch_rules)")
        schedule = _code(SCHEDULE_CODES, rules.schedule, "rules.schedule")
        stop_on = _code(STOP_CODES, rules.stop_on, "rules.stop_on")
        score_kind = _code(SCORE_CODES, rules.score, "rules.score")
        lr_init = rules.learning_rate_init
        power_t = rules.power_t
        lr_floor = rules.lr_floor
        tol = rules.tol
        patience = rules.n_iter_no_change
        best_loss, best_score = progress[1], progress[2]
        no_improvement, samples_seen = progress[3], progress[4]
        if stop_on == STOP_ON_LOSS and loss_every != 1:
            raise ValueError("rules.stop_on='loss' needs the loss of every epoch (loss_every=1)")
        has_val = rules.X_val is not None
        if has_val:
            val_sparse = issparse(rules.X_val)
            if val_sparse:
                xv_data, xv_indices, xv_indptr, n_val, n_val_features = _csr_arrays(
                    rules.X_val, dtype)
            else:
                Xv = _dense_input(rules.X_val, dtype)
                n_val, n_val_features = Xv.shape[0], Xv.shape[1]
            if n_val == 0:
                raise ValueError("rules.X_val has no rows")
            _check_network(layers, params.shape[0], n_val_features, n_outputs)
            Yv = rules.Y_val
            if Yv.shape[0] != n_val or Yv.shape[1] != n_outputs:
                raise ValueError(f"rules.Y_val must have shape ({n_val}, {n_outputs}), "
                                 f"got ({Yv.shape[0]}, {Yv.shape[1]})")
            if rules.w_val is not None:
                wv = rules.w_val
                if wv.shape[0] != n_val:
                    raise ValueError(f"rules.w_val has {wv.shape[0]} entries, X_val "
                                     f"{n_val} rows")
                wvp = &wv[0]
            _check_values(&xv_data[0] if val_sparse else &Xv[0, 0],
                          xv_indptr[n_val] if val_sparse else n_val * n_val_features,
                          NULL, 0, 0, "rules.X_val", "")
            want_val_loss = rules.val_losses is not None
            if want_val_loss:
                val_losses = rules.val_losses
                if val_losses.shape[0] < n_epochs:
                    raise ValueError("rules.val_losses has room for fewer epochs than asked")
            ss_res = np.empty(n_outputs, dtype=np.float64)
            if score_kind == SCORE_R2 and rules.ss_tot is None:
                raise ValueError("rules.score='r2' needs rules.ss_tot")
            ss_tot = (np.zeros(n_outputs, dtype=np.float64) if rules.ss_tot is None
                      else rules.ss_tot)
            if ss_tot.shape[0] != n_outputs:
                raise ValueError(f"rules.ss_tot must hold {n_outputs} values")
            chunk_v = min(n_val, 1024)
            for k in range(1, layers.shape[0]):
                widest = max(widest, layers[k])
        if stop_on == STOP_ON_SCORE:
            if not has_val or score_kind == SCORE_NONE:
                raise ValueError("rules.stop_on='score' needs rules.X_val and rules.score")
            val_scores = rules.val_scores
            best_params = rules.best_params
            if val_scores.shape[0] < n_epochs or best_params.shape[0] != params.shape[0]:
                raise ValueError("rules.val_scores needs room for the epochs and "
                                 "rules.best_params the size of params")
    cdef floating step_size
    cdef Py_ssize_t n_params = params.shape[0]
    written = [_span("params", &params[0], n_params * sizeof(floating)),
               _span("losses", &losses[0] if losses.shape[0] else NULL,
                     losses.shape[0] * sizeof(double))]
    if not fused_step:
        written.append(_span("state", &moments[0, 0], 2 * n_params * sizeof(floating)))
    read = (_csr_spans("X", x_data, x_indices, x_indptr) if sparse
            else _dense_spans("X", Xd))
    read += [
        _span("Y", &Y[0, 0], n * n_outputs * sizeof(floating)),
        _span("layers", &layers[0], layers.shape[0] * sizeof(Py_ssize_t))]
    if weighted:
        read.append(_span("sample_weight", &sw[0], n * sizeof(floating)))
    if ruled:
        written.append(_span("rules.progress", &progress[0], 5 * sizeof(double)))
        if want_val_loss:
            written.append(_span("rules.val_losses", &val_losses[0] if n_epochs else NULL,
                                 n_epochs * sizeof(double)))
        if stop_on == STOP_ON_SCORE:
            written.append(_span("rules.val_scores", &val_scores[0] if n_epochs else NULL,
                                 n_epochs * sizeof(double)))
            written.append(_span("rules.best_params", &best_params[0],
                                 n_params * sizeof(floating)))
        if has_val:
            read += (_csr_spans("rules.X_val", xv_data, xv_indices, xv_indptr) if val_sparse
                     else _dense_spans("rules.X_val", Xv))
            read.append(_span("rules.Y_val", &Yv[0, 0], n_val * n_outputs * sizeof(floating)))
            if wvp != NULL:
                read.append(_span("rules.w_val", wvp, n_val * sizeof(floating)))
    _check_apart(written, read)
    # Registered after every check: a refused call leaves no loop counted as running.
    cdef bint blas_started = _blas_loop_started(layers, m_max)
    try:
        # Allocated inside the try, after every check: a rejected call leaks nothing.
        if shuffling:
            order = <SortKey*>PyMem_RawMalloc(n * sizeof(SortKey))
            if order == NULL:
                raise MemoryError()
        if has_val:
            # Two layer buffers, a copy of the logits for the loss, and the losses' work rows.
            vworkspace = <floating*>PyMem_RawMalloc((2 * widest + n_out_units + 3) * chunk_v
                                           * sizeof(floating))
            if vworkspace == NULL:
                raise MemoryError()
            vbuffers[0] = vworkspace
            vbuffers[1] = vworkspace + widest * chunk_v
        with nogil:
            for e in range(n_epochs):
                memcpy(&saved_params[0], &params[0], n_params * sizeof(floating))
                if not fused_step:
                    memcpy(&saved_moments[0, 0], &moments[0, 0],
                           moments.shape[0] * moments.shape[1] * sizeof(floating))
                saved_steps = step_count
                epoch = first_epoch + e
                want_loss = loss_every > 0 and epoch % loss_every == 0
                if shuffling:
                    _epoch_order(order, n, seed, epoch)
                total = 0
                counted = 0
                start = 0
                while start < n:
                    m = min(m_max, n - start)
                    if shuffling:
                        for j in range(m):
                            row = order[start + j].index
                            if sparse:
                                batch_rows[j] = row
                            elif by_feature:
                                for f in range(n_features):
                                    x_batch[f, j] = Xd[row, f]
                            else:
                                memcpy(&x_batch[j, 0], &Xd[row, 0],
                                       n_features * sizeof(floating))
                            memcpy(&y_batch[j, 0], &Y[row, 0], n_outputs * sizeof(floating))
                            if weighted:
                                w_batch[j] = sw[row]
                        if weighted:
                            wp = &w_batch[0]
                        xp = &x_data[0] if sparse else &x_batch[0, 0]
                        rows_p = &batch_rows[0] if sparse else NULL
                        ldx = m_max if by_feature else n_features
                        yp = &y_batch[0, 0]
                    else:
                        if sparse:
                            xp = &x_data[0]
                        else:
                            xp = &XT[0, start] if by_feature else &Xd[start, 0]
                        ldx = n if by_feature else n_features
                        yp = &Y[start, 0]
                        if weighted:
                            wp = &sw[start]
                    weight_sum = m
                    if weighted:
                        weight_sum = 0
                        for j in range(m):
                            weight_sum = weight_sum + wp[j]
                    # A batch whose weights sum to zero holds nothing to learn from (its
                    # weighted mean is 0 / 0): it is skipped whole, no step and no Adam step
                    # counted, and the epoch's loss is the mean over the batches that count.
                    if weight_sum > 0:
                        batch_loss = _batch_step(&layers[0], layers.shape[0], act, out_kind,
                                                 &params[0], &grads[0],
                                                 lr if fused_step else 0, xp, ldx, by_feature,
                                                 indices_p, indptr_p, rows_p, yp, wp,
                                                 weight_sum, m, &acts[0], &scratch[0],
                                                 want_loss, dropout, dropout_seed, epoch,
                                                 start, inner_poll)
                        if poll.raised:
                            break
                        # The epoch adds up the batch means times the batch sizes.
                        total += batch_loss * (m / weight_sum)
                        counted += m
                        if not fused_step:
                            if alpha != 0:
                                total += 0.5 * alpha * (m / weight_sum) * _l2_gradient(
                                    &layers[0], layers.shape[0], &params[0], &grads[0],
                                    <floating>(alpha / weight_sum), want_loss)
                            if adam:
                                step_count += 1
                                step_size = <floating>(learning_rate
                                                       * (1 - pow(beta_2, step_count)) ** 0.5
                                                       / (1 - pow(beta_1, step_count)))
                            (solver_step_float if floating is float else solver_step_double)(
                                adam, &params[0], &grads[0], &moments[0, 0],
                                &moments[1, 0], step_size if adam else lr, <floating>beta_1,
                                <floating>beta_2, <floating>epsilon, <floating>momentum,
                                nesterov, n_params)
                    start += m
                    if _seconds() - poll.last >= SIGNAL_CHECK_SECONDS:
                        # Ctrl-C reaches Python only when it runs: look every few ms.
                        with gil:
                            checking = True
                            interrupted = _signal_outcome(&poll)
                            checking = False
                        if interrupted:
                            break
                if poll.raised:
                    # A handler raised inside the batch, which was abandoned.
                    with gil:
                        checking = True
                        interrupted = _signal_outcome(&poll)
                        checking = False
                # Diverged: a parameter, or the loss when it was computed, is NaN or infinite.
                if (interrupted or not _all_finite(&params[0], n_params)
                        or (want_loss and not (total - total == 0))):
                    # Back to the start of this epoch: the last parameters that were whole.
                    memcpy(&params[0], &saved_params[0], n_params * sizeof(floating))
                    if not fused_step:
                        memcpy(&moments[0, 0], &saved_moments[0, 0],
                               moments.shape[0] * moments.shape[1] * sizeof(floating))
                    step_count = saved_steps
                    break
                # NaN, not a divergence, if no batch had weight (the entry checks refuse
                # weights that are all zero, so only a raw call can get here).
                losses[e] = total / counted if want_loss and counted > 0 else NAN
                epochs_done += 1
                if not ruled:
                    continue
                samples_seen += n
                if has_val:
                    _evaluate(&params[0], &layers[0], layers.shape[0], act, out_kind,
                              val_sparse, &Xv[0, 0] if not val_sparse else NULL,
                              &xv_data[0] if val_sparse else NULL,
                              &xv_indices[0] if val_sparse else NULL,
                              &xv_indptr[0] if val_sparse else NULL, n_val, chunk_v,
                              vbuffers, vworkspace + 2 * widest * chunk_v,
                              vworkspace + (2 * widest + n_out_units) * chunk_v, &Yv[0, 0],
                              wvp, want_val_loss,
                              score_kind if stop_on == STOP_ON_SCORE else SCORE_NONE,
                              &ss_tot[0], &ss_res[0], &vloss, &vscore)
                    if want_val_loss:
                        val_losses[e] = vloss
                if stop_on == STOP_ON_SCORE:
                    val_scores[e] = vscore
                    # A NaN score (diverging outputs) fails "score < best + tol", so it
                    # resets the count, and never becomes the best: as in scikit-learn.
                    no_improvement = no_improvement + 1 if vscore < best_score + tol else 0
                    if vscore > best_score:
                        best_score = vscore
                        memcpy(&best_params[0], &params[0], n_params * sizeof(floating))
                elif stop_on == STOP_ON_LOSS:
                    no_improvement = (no_improvement + 1 if losses[e] > best_loss - tol
                                      else 0)
                    if losses[e] < best_loss:
                        best_loss = losses[e]
                if schedule == SCHEDULE_INVSCALING:
                    learning_rate = lr_init / pow(samples_seen + 1, power_t)
                    lr = <floating>learning_rate
                if stop_on != STOP_NONE and no_improvement > patience:
                    if schedule == SCHEDULE_ADAPTIVE and learning_rate > lr_floor:
                        learning_rate = learning_rate / 5
                        lr = <floating>learning_rate
                        no_improvement = 0
                    else:
                        stopped = True
                        break
    finally:
        _blas_loop_finished(blas_started)
        PyMem_RawFree(vworkspace)
        if checking:
            # A signal handler raised something other than KeyboardInterrupt: that error
            # propagates, and the model still holds whole epochs only.
            memcpy(&params[0], &saved_params[0], n_params * sizeof(floating))
        PyMem_RawFree(order)
    if ruled:
        progress[0] = learning_rate
        progress[1] = best_loss
        progress[2] = best_score
        progress[3] = no_improvement
        progress[4] = samples_seen
    return step_count, epochs_done, interrupted, stopped


cdef int _code(dict codes, name, str what) except -1:
    try:
        return codes[name]
    except KeyError:
        raise ValueError(f"{what} must be one of {sorted(codes)}, got {name!r}") from None


def loss_and_gradient(const floating[::1] params, const Py_ssize_t[::1] layers, str activation,
                      str output, X, const floating[:, ::1] Y,
                      floating[::1] grad, sample_weight=None, double dropout=0,
                      uint64_t dropout_seed=0, double alpha=0):
    """Mean loss over all samples of X at params (weighted, if sample_weight is given); its
    gradient is written into grad. With dropout, the masks are those of epoch 0's first
    batch under dropout_seed: fixed, so the loss is a smooth function of params.

    alpha adds the L2 penalty 0.5 * alpha * sum(W**2) / (the weight sum, or n) to the loss,
    and its gradient to grad: the objective that lbfgs minimizes. X is a C-contiguous array
    or a scipy.sparse CSR matrix, of the dtype of params."""
    cdef Activation act = _activation_code(activation)
    cdef Output out_kind = _output_code(output)
    dtype = np.float32 if floating is float else np.float64
    cdef bint sparse = issparse(X)
    cdef const floating[:, ::1] Xd
    cdef const floating[::1] x_data
    cdef const Py_ssize_t[::1] x_indices, x_indptr
    cdef const floating* xp = NULL
    cdef const Py_ssize_t* indices_p = NULL
    cdef const Py_ssize_t* indptr_p = NULL
    cdef Py_ssize_t n, n_features
    if sparse:
        x_data, x_indices, x_indptr, n, n_features = _csr_arrays(X, dtype)
        xp = &x_data[0]
        indices_p = &x_indices[0]
        indptr_p = &x_indptr[0]
    else:
        Xd = _dense_input(X, dtype)
        n, n_features = Xd.shape[0], Xd.shape[1]
    _check_network(layers, params.shape[0], n_features, Y.shape[1])
    if Y.shape[0] != n or n == 0:
        raise ValueError("X and Y need the same, non-zero number of rows")
    if n >= 2 ** 31:
        raise ValueError(f"{n} rows are too many for one BLAS product (>= 2**31)")
    if grad.shape[0] != params.shape[0]:
        raise ValueError("grad must have the size of params")
    if not sparse:
        xp = &Xd[0, 0]
    total_units, scratch_rows = _workspace_rows(layers, sparse)
    cdef floating[::1] acts = np.empty(total_units * n, dtype=dtype)
    cdef floating[::1] scratch = np.empty(scratch_rows * n, dtype=dtype)
    cdef double total
    cdef const floating[::1] sw
    cdef const floating* wp = NULL
    cdef floating weight_sum = n
    if sample_weight is not None:
        sw = sample_weight
        if sw.shape[0] != n:
            raise ValueError(f"sample_weight has {sw.shape[0]} entries, X has {n} rows")
        wp = &sw[0]
        weight_sum = np.sum(np.asarray(sw))
    _check_values(xp, x_indptr[n] if sparse else n * n_features, wp, n, dropout, "X",
                  "sample_weight")
    read = (_csr_spans("X", x_data, x_indices, x_indptr) if sparse
            else _dense_spans("X", Xd))
    read += [
        _span("params", &params[0], params.shape[0] * sizeof(floating)),
        _span("Y", &Y[0, 0], n * Y.shape[1] * sizeof(floating)),
        _span("layers", &layers[0], layers.shape[0] * sizeof(Py_ssize_t))]
    if wp != NULL:
        read.append(_span("sample_weight", wp, n * sizeof(floating)))
    _check_apart([_span("grad", &grad[0], grad.shape[0] * sizeof(floating))], read)
    # One call may cover a large data set (lbfgs evaluates the whole of it): Ctrl-C is looked
    # for inside, and raises here as KeyboardInterrupt, leaving grad partly written.
    cdef SignalPoll poll
    poll.last = _seconds()
    poll.raised = False
    cdef SignalPoll* inner_poll = _inner_poll(&poll, layers, n)
    cdef bint blas_started = _blas_loop_started(layers, n)
    try:
        with nogil:
            # With learning rate 0 the step writes grad and leaves params alone, so the cast
            # away from const is safe.
            total = _batch_step(&layers[0], layers.shape[0], act, out_kind,
                                <floating*>&params[0], &grad[0], 0, xp, n_features, False,
                                indices_p, indptr_p, NULL, &Y[0, 0], wp,
                                weight_sum, n, &acts[0], &scratch[0], True, dropout,
                                dropout_seed, 0, 0, inner_poll)
            if alpha != 0 and not poll.raised:
                total += 0.5 * alpha * _l2_gradient(&layers[0], layers.shape[0], &params[0],
                                                    &grad[0], <floating>(alpha / weight_sum),
                                                    True)
    finally:
        _blas_loop_finished(blas_started)
    if poll.raised:
        _raise_pending()
    return total / weight_sum


def forward(const floating[::1] params, const Py_ssize_t[::1] layers, str activation,
            str output, X, floating[:, ::1] out):
    """Write the network's outputs (after the output activation), samples x outputs, into out.

    X is a C-contiguous array or a scipy.sparse CSR matrix, of the dtype of params. A sample
    whose logits are not finite (the parameters overflow on it) gets NaN outputs."""
    cdef Activation act = _activation_code(activation)
    cdef Output out_kind = _output_code(output)
    dtype = np.float32 if floating is float else np.float64
    cdef bint sparse = issparse(X)
    cdef const floating[:, ::1] Xd
    cdef const floating[::1] x_data
    cdef const Py_ssize_t[::1] x_indices, x_indptr
    cdef Py_ssize_t n, n_features, n_layers = layers.shape[0]
    if sparse:
        x_data, x_indices, x_indptr, n, n_features = _csr_arrays(X, dtype)
    else:
        Xd = _dense_input(X, dtype)
        n, n_features = Xd.shape[0], Xd.shape[1]
    _check_network(layers, params.shape[0], n_features, out.shape[1])
    if out.shape[0] != n:
        raise ValueError(f"out has {out.shape[0]} rows, X has {n}")
    if n == 0:
        return
    _check_values(&x_data[0] if sparse else &Xd[0, 0], x_indptr[n] if sparse else n * n_features,
                  NULL, 0, 0, "X", "")
    read = (_csr_spans("X", x_data, x_indices, x_indptr) if sparse
            else _dense_spans("X", Xd))
    read += [_span("params", &params[0], params.shape[0] * sizeof(floating)),
             _span("layers", &layers[0], layers.shape[0] * sizeof(Py_ssize_t))]
    _check_apart([_span("out", &out[0, 0], n * out.shape[1] * sizeof(floating))], read)
    # Rows go through in chunks so that the workspace stays small whatever n is. It is one
    # raw allocation: numpy arrays would cost more than the network on a single sample.
    cdef Py_ssize_t chunk = min(n, 1024), widest = 0, k
    for k in range(1, n_layers):
        widest = max(widest, layers[k])
    cdef floating* workspace = <floating*>PyMem_RawMalloc(
        (2 * widest + 3) * chunk * sizeof(floating))
    if workspace == NULL:
        raise MemoryError()
    cdef bint blas_started = False
    try:
        blas_started = _blas_loop_started(layers, chunk)
        with nogil:
            _forward_chunks(&params[0], &layers[0], n_layers, act, out_kind, sparse,
                            &Xd[0, 0] if not sparse else NULL,
                            &x_data[0] if sparse else NULL,
                            &x_indices[0] if sparse else NULL,
                            &x_indptr[0] if sparse else NULL, n, chunk, widest, workspace,
                            out)
    finally:
        _blas_loop_finished(blas_started)
        PyMem_RawFree(workspace)


# Below this many samples, forward takes them one at a time: for one sample, a layer's values
# laid out (units, samples) and (samples, units) are the same vector, so each layer is one
# row times the weights, a contiguous vectorized loop; BLAS's call costs more than that.
cdef enum:
    FEW_SAMPLES = 4


cdef void _forward_one(const floating* params, const Py_ssize_t* layers, Py_ssize_t n_layers,
                       Activation act, Output out_kind, const floating* x, floating** buffers,
                       floating* work, floating* out) noexcept nogil:
    """forward for the one sample x (layers[0] values), its outputs written to out."""
    cdef Py_ssize_t k, o, n_in, n_out = 0, off = 0
    cdef const floating* a = x
    cdef floating* z = NULL
    cdef floating check = 0
    for k in range(n_layers - 1):
        n_in = layers[k]
        n_out = layers[k + 1]
        z = buffers[k % 2]
        gemm_small(False, False, 1, n_out, n_in, 1, a, n_in, params + off, n_out, False, z,
                   n_out)
        _activations.bias_activation(z, params + off + n_in * n_out, n_out, 1,
                                     act if k < n_layers - 2 else _activations.IDENTITY)
        off += n_in * n_out + n_out
        a = z
    for o in range(n_out):
        check += z[o] - z[o]      # NaN if a logit is not finite, as in _forward_chunks
    output_activation(out_kind, z, n_out, 1, work)
    for o in range(n_out):
        out[o] = z[o] if check == 0 else NAN


cdef floating* _chunk_logits(const floating* params, const Py_ssize_t* layers,
                             Py_ssize_t n_layers, Activation act, bint sparse,
                             const floating* x, const floating* x_data,
                             const Py_ssize_t* x_indices, const Py_ssize_t* x_indptr,
                             Py_ssize_t start, Py_ssize_t m, floating** buffers) noexcept nogil:
    """The logits (outputs x m) of rows start .. start + m of X, in one of the two buffers."""
    cdef Py_ssize_t k, n_in, n_out, off = 0
    cdef floating* z = NULL
    cdef const floating* w
    for k in range(n_layers - 1):
        n_in = layers[k]
        n_out = layers[k + 1]
        w = params + off
        z = buffers[k % 2]
        if k == 0 and sparse:
            # Samples x units in the other buffer, then transposed into this one.
            csr_matmul(x_data, x_indices, x_indptr, NULL, start, m, w, n_out, buffers[1])
            transpose(buffers[1], m, n_out, z)
        elif k == 0:
            gemm(True, True, n_out, m, n_in, 1, w, n_out, x + start * n_in, n_in, False, z, m)
        else:
            gemm(True, False, n_out, m, n_in, 1, w, n_out, buffers[(k + 1) % 2], m, False, z,
                 m)
        _activations.bias_activation(z, w + n_in * n_out, n_out, m,
                                     act if k < n_layers - 2 else _activations.IDENTITY)
        off += n_in * n_out + n_out
    return z


cdef void _forward_chunks(const floating* params, const Py_ssize_t* layers,
                          Py_ssize_t n_layers, Activation act, Output out_kind, bint sparse,
                          const floating* x, const floating* x_data,
                          const Py_ssize_t* x_indices, const Py_ssize_t* x_indptr,
                          Py_ssize_t n, Py_ssize_t chunk, Py_ssize_t widest,
                          floating* workspace, floating[:, ::1] out) noexcept nogil:
    """forward's loop over chunks of rows; workspace holds (2 * widest + 3) * chunk values."""
    cdef floating* buffers[2]
    buffers[0] = workspace
    buffers[1] = workspace + widest * chunk
    cdef floating* work = workspace + 2 * widest * chunk
    cdef floating* logit_check = work + 2 * chunk
    cdef Py_ssize_t start, m, j, o, n_out = layers[n_layers - 1]
    cdef floating* z
    if not sparse and n < FEW_SAMPLES:
        for j in range(n):
            _forward_one(params, layers, n_layers, act, out_kind, x + j * layers[0], buffers,
                         work, &out[j, 0])
        return
    start = 0
    while start < n:
        m = min(chunk, n - start)
        z = _chunk_logits(params, layers, n_layers, act, sparse, x, x_data, x_indices,
                          x_indptr, start, m, buffers)
        # A logit that overflowed (parameters too large for X) may still map to a finite
        # probability, or not, depending on the order of the sums (FMA or not): the
        # sample's outputs become NaN either way, so the caller sees the overflow.
        for j in range(m):
            logit_check[j] = 0
        for o in range(n_out):
            for j in range(m):
                logit_check[j] += z[o * m + j] - z[o * m + j]
        output_activation(out_kind, z, n_out, m, work)
        for j in range(m):
            for o in range(n_out):
                out[start + j, o] = z[o * m + j] if logit_check[j] == 0 else NAN
        start += m

# The epoch rules (cnet/epoch_rules.py), by code inside the loop.
cdef enum:
    SCHEDULE_CONSTANT = 0
    SCHEDULE_INVSCALING = 1
    SCHEDULE_ADAPTIVE = 2
    STOP_NONE = 0
    STOP_ON_LOSS = 1
    STOP_ON_SCORE = 2
    SCORE_NONE = 0
    SCORE_ARGMAX = 1
    SCORE_THRESHOLD = 2
    SCORE_ONE_CLASS = 3
    SCORE_R2 = 4

SCHEDULE_CODES = {"constant": SCHEDULE_CONSTANT, "invscaling": SCHEDULE_INVSCALING,
                  "adaptive": SCHEDULE_ADAPTIVE}
STOP_CODES = {"none": STOP_NONE, "loss": STOP_ON_LOSS, "score": STOP_ON_SCORE}
SCORE_CODES = {"none": SCORE_NONE, "accuracy_argmax": SCORE_ARGMAX,
               "accuracy_threshold": SCORE_THRESHOLD, "accuracy_one_class": SCORE_ONE_CLASS,
               "r2": SCORE_R2}


cdef void _evaluate(const floating* params, const Py_ssize_t* layers, Py_ssize_t n_layers,
                    Activation act, Output out_kind, bint sparse, const floating* x,
                    const floating* x_data, const Py_ssize_t* x_indices,
                    const Py_ssize_t* x_indptr, Py_ssize_t n, Py_ssize_t chunk,
                    floating** buffers, floating* copy, floating* work, const floating* y,
                    const floating* w, bint want_loss, int score_kind, const double* ss_tot,
                    double* ss_res, double* loss, double* score) noexcept nogil:
    """The mean loss (weighted, no L2 term) and the score of the network on a validation set.

    The score is accuracy (weighted) or R² averaged over outputs, as scikit-learn's score
    methods compute them from predict; NaN if an output is not finite. ss_tot holds R²'s
    weighted total sum of squares of each output, ss_res room for as many sums.
    """
    cdef Py_ssize_t n_out = layers[n_layers - 1], start, m, j, o, best, truth
    cdef double total = 0, correct = 0, weight_sum = 0, wj, d, r2
    cdef bint finite = True, right
    cdef floating* z
    cdef const floating* yrow
    for o in range(n_out):
        ss_res[o] = 0
    start = 0
    while start < n:
        m = min(chunk, n - start)
        z = _chunk_logits(params, layers, n_layers, act, sparse, x, x_data, x_indices,
                          x_indptr, start, m, buffers)
        if want_loss:
            memcpy(copy, z, n_out * m * sizeof(floating))
            total += output_gradient(out_kind, copy, y + start * n_out, n_out, m, 1, n_out, 1,
                                     True, work, w + start if w != NULL else NULL)
        if score_kind != SCORE_NONE:
            # An overflowed logit makes the score NaN, as it makes forward's outputs NaN:
            # early stopping never keeps a model that predict would refuse.
            for j in range(n_out * m):
                if not (z[j] - z[j] == 0):
                    finite = False
            output_activation(out_kind, z, n_out, m, work)
            for j in range(m):
                wj = w[start + j] if w != NULL else 1
                weight_sum += wj
                yrow = y + (start + j) * n_out
                for o in range(n_out):
                    if not (z[o * m + j] - z[o * m + j] == 0):
                        finite = False
                if score_kind == SCORE_ARGMAX:
                    # The first largest, as numpy's argmax picks.
                    best = 0
                    truth = 0
                    for o in range(1, n_out):
                        if z[o * m + j] > z[best * m + j]:
                            best = o
                        if yrow[o] > yrow[truth]:
                            truth = o
                    correct += wj if best == truth else 0
                elif score_kind == SCORE_THRESHOLD:
                    right = True
                    for o in range(n_out):
                        if (z[o * m + j] > 0.5) != (yrow[o] > 0.5):
                            right = False
                    correct += wj if right else 0
                elif score_kind == SCORE_ONE_CLASS:
                    correct += wj
                else:
                    for o in range(n_out):
                        d = yrow[o] - z[o * m + j]
                        ss_res[o] += wj * d * d
        start += m
    if w == NULL:
        weight_sum = n
    elif score_kind == SCORE_NONE:
        for j in range(n):
            weight_sum += w[j]
    loss[0] = total / weight_sum
    if score_kind == SCORE_NONE:
        score[0] = NAN
    elif not finite:
        score[0] = NAN
    elif score_kind == SCORE_R2:
        # scikit-learn's r2_score with force_finite: a constant target scores 1 where it is
        # predicted exactly and 0 otherwise.
        r2 = 0
        for o in range(n_out):
            if ss_tot[o] != 0 and ss_res[o] != 0:
                r2 += 1 - ss_res[o] / ss_tot[o]
            elif ss_res[o] == 0:
                r2 += 1
        score[0] = r2 / n_out
    else:
        score[0] = correct / weight_sum
