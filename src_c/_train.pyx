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

from cnet import _blas_threads, registry

from cython cimport floating
from libc.math cimport INFINITY, NAN
from libc.stdint cimport int64_t, uint64_t, uintptr_t
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
from _gemm cimport (GEMM_SKINNY_MIN_LOOP, fill_zero, gemm, gemm_get_one_thread_split,
                    gemm_layer_may_use_threads, gemm_set_one_thread_split, gemm_skinny,
                    gemm_small, gemm_uses_blas)
from _sparse cimport CSR_BAD_INDEX, csr_matmul, csr_problem, csr_transpose_matmul_add, transpose
cimport _losses
from _losses cimport Output, output_activation, output_gradient
from _narrow cimport LANES, NARROW_BLOCK_BYTES, NARROW_MAX_BLOCK, NARROW_MAX_WIDTH, narrow_block
from _skinny cimport (SKINNY_BLOCK_BYTES, SKINNY_MAX_BLOCK, SKINNY_MAX_IO, SKINNY_MIN_BLOCK,
                      SKINNY_MIN_WIDTH, skinny_block)
from _updates cimport (add_l2_gradient, add_values, adam_update, momentum_update, row_sums,
                      sgd_update)
from libc.math cimport pow, sqrt

FLOAT32 = np.dtype(np.float32)
FLOAT64 = np.dtype(np.float64)

# Sizes, codes and pointers of the spec (cnet/spec.py), made once at every entry point by
# _network, _matrix and train_epochs' own set-up; below them, the loops only do arithmetic.

cdef struct Net:
    const Py_ssize_t* layers
    Py_ssize_t n_layers
    Py_ssize_t n_params
    Activation activation
    Output output
    double loss_parameter
    bint keeps_input            # training keeps the hidden pre-activations (pre, below)
    Py_ssize_t total_units      # units in every layer after the input
    Py_ssize_t hidden_units     # units in the hidden layers
    Py_ssize_t widest_hidden    # the widest hidden layer (0 if none)


cdef struct Input:
    # A dense X (C-contiguous rows, indptr NULL) or a CSR X's three arrays.
    const void* x
    const Py_ssize_t* indices
    const Py_ssize_t* indptr
    Py_ssize_t n
    Py_ssize_t n_features


cdef struct Batch:
    # Samples start .. start + m of an epoch. x is the batch's first value (samples x
    # features with row stride ldx, or features x samples if by_feature), or a CSR's data:
    # then the batch is rows[0..m), or rows start .. start + m where rows is NULL.
    const void* x
    Py_ssize_t ldx
    bint by_feature
    const Py_ssize_t* indices
    const Py_ssize_t* indptr
    const Py_ssize_t* rows
    Py_ssize_t start
    Py_ssize_t m
    const void* y               # samples x outputs
    const void* w               # the batch's sample weights, or NULL
    double weight_sum
    Py_ssize_t epoch            # for the dropout masks


cdef struct Work:
    void* acts                  # every layer after the input, (units, m) each
    void* scratch               # scratch_rows x m (see _scratch_rows)
    void* pre                   # the hidden layers' pre-activations, or NULL (keeps_input)
    double dropout
    uint64_t dropout_seed
    bint one_sample             # prediction of single samples: vector-matrix products
    # The fused narrow step (_narrow.pxd) when block > 0: samples per block; acts, scratch
    # and pre are then sized for one block, and block_x, block_y, block_w hold a block's
    # input (features x samples), targets and weights where they must be copied (a short
    # block's padding, an input stored samples x features).
    Py_ssize_t block
    void* block_x
    void* block_y
    void* block_w
    # The cache-blocked step (_blocked_batch_step) when rows_block > 0: a batch of at least
    # 2 * rows_block samples goes through the layer-by-layer step in blocks of rows_block to
    # 2 * rows_block samples; acts, scratch and pre are then sized for the largest block, and
    # block_grads holds one block's gradient (n_params values).
    Py_ssize_t rows_block
    void* block_grads
    # The fused step of skinny networks (_skinny.pxd) when skinny_block > 0: samples per
    # block; acts, scratch and pre are then sized for one block, and skinny_w holds W2
    # transposed, its gradient (outputs x hidden each) and skinny_block ones.
    Py_ssize_t skinny_block
    void* skinny_w


# cnet.optimizer.FIELDS_DTYPE, field for field: what the optimizer object describes to the
# loop (its registry code, hyperparameters and schedule) and what the loop updates in place
# (the rate, the step count).
cdef packed struct OptimizerFields:
    int64_t code
    int64_t schedule
    int64_t step_count
    int64_t nesterov
    double learning_rate
    double learning_rate_init
    double power_t
    double lr_floor
    double momentum
    double beta_1
    double beta_2
    double epsilon


# cnet.spec.PROGRESS_DTYPE, field for field: what the rules between epochs carry from call
# to call.
cdef packed struct ProgressFields:
    int64_t epoch
    double samples_seen
    double best_loss
    double best_score
    int64_t no_improvement




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


cdef bint _blas_loop_started(const Net* net, Py_ssize_t m) except -1:
    """Tell cnet._blas_threads that a loop over batches of m samples starts, if any of its
    products may use BLAS threads (every product of layer k has work layers[k] *
    layers[k + 1] * m); returns whether it told, to pass to _blas_loop_finished."""
    cdef Py_ssize_t k
    for k in range(net.n_layers - 1):
        if gemm_layer_may_use_threads(net.layers[k], net.layers[k + 1], m):
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



cdef SignalPoll* _inner_poll(SignalPoll* poll, const Net* net, Py_ssize_t m) noexcept:
    """poll, for batches of m samples long enough to need a look inside them; else NULL.

    A batch of less than WORK_PER_POLL / 8 multiply-adds ends well within
    SIGNAL_CHECK_SECONDS, so the look between batches suffices, and the small networks'
    batches (a few microseconds) pay no clock reads between their layers."""
    cdef Py_ssize_t k, work = 0
    for k in range(net.n_layers - 1):
        work += net.layers[k] * net.layers[k + 1]
        if work >= WORK_PER_POLL // 8 // m + 1:
            return poll
    return NULL


# --- the forward pass: training, evaluation and prediction ----------------------------------

cdef floating* _forward(const Net* net, const floating* params, const Batch* b, Work* work,
                        SignalPoll* poll) noexcept nogil:
    """The network over the m samples of b: each layer's values in work.acts, (units, m) each,
    the hidden ones activated (and, with work.dropout > 0, through their dropout masks), the
    last one the output pre-activations (logits). Returns the logits, or NULL when a signal
    handler raised (poll.raised set; see _batch_step).

    Where work.pre is not NULL, each hidden layer's pre-activation is kept there too, laid
    out as in acts. With work.one_sample (prediction, m = 1, dense X), each layer is one row
    times the weights: for one sample the (units, samples) and (samples, units) layouts are
    the same vector, and BLAS's call costs more than that contiguous loop.

    Products larger than WORK_PER_POLL multiply-adds are split along the samples, with a
    look for signals between the pieces and between the layers (poll, unless NULL).
    """
    cdef Py_ssize_t k, n_in, n_out, off = 0, act_off = 0, j0, mc, piece, m = b.m
    cdef Py_ssize_t last = net.n_layers - 2
    cdef const floating* w
    cdef const floating* x = <const floating*>b.x
    cdef floating* acts = <floating*>work.acts
    cdef floating* scratch = <floating*>work.scratch
    cdef floating* pre = <floating*>work.pre
    cdef floating* z = acts
    cdef bint sparse = b.indptr != NULL
    for k in range(net.n_layers - 1):
        n_in = net.layers[k]
        n_out = net.layers[k + 1]
        w = params + off
        z = acts + act_off
        if work.one_sample:
            gemm_small(False, False, 1, n_out, n_in, 1, x if k == 0 else z - n_in, n_in, w,
                       n_out, False, z, n_out)
        else:
            piece = _piece(m, n_in * n_out)
            j0 = 0
            while j0 < m:
                mc = min(piece, m - j0)
                if k == 0 and sparse:
                    # Samples x units first, then the (units, samples) layout; scratch is
                    # free until the loss.
                    csr_matmul(x, b.indices, b.indptr, b.rows + j0 if b.rows != NULL else NULL,
                               b.start + j0, mc, w, n_out, scratch + j0 * n_out)
                elif k == 0:
                    gemm(True, not b.by_feature, n_out, mc, n_in, 1, w, n_out,
                         x + (j0 if b.by_feature else j0 * b.ldx), b.ldx, False, z + j0, m)
                else:
                    gemm(True, False, n_out, mc, n_in, 1, w, n_out, z - n_in * m + j0, m,
                         False, z + j0, m)
                if _poll_signals(poll):
                    return NULL
                j0 += mc
            if k == 0 and sparse:
                transpose(scratch, m, n_out, z)
        _activations.bias_activation(z, w + n_in * n_out, n_out, m,
                                     net.activation if k < last else _activations.IDENTITY,
                                     pre + act_off if pre != NULL and k < last else NULL)
        if work.dropout > 0 and k < last:
            dropout_forward(z, n_out * m, work.dropout,
                            dropout_counter(work.dropout_seed, b.epoch, b.start, k))
        off += n_in * n_out + n_out
        act_off += n_out * m
    return z


cdef void _rows_batch(const Input* data, Py_ssize_t start, Py_ssize_t m, Batch* b,
                      const floating* like) noexcept nogil:
    """b: rows start .. start + m of data, in order, with no targets (evaluation and
    prediction; like only picks the dtype)."""
    b.indices = data.indices
    b.indptr = data.indptr
    b.x = data.x if data.indptr != NULL else <const floating*>data.x + start * data.n_features
    b.ldx = data.n_features
    b.by_feature = False
    b.rows = NULL
    b.start = start
    b.m = m
    b.epoch = 0


# --- one training step ----------------------------------------------------------------------

# The fused step for narrow networks (_narrow.pxd), chosen by the shapes alone (so that a fit
# is reproducible): every layer at most NARROW_MAX_WIDTH units, a dense X, no dropout.
# set_narrow_path turns it off, so that the tests can run one fit through both steps.
cdef bint _narrow_path_on = True


def set_narrow_path(bint on):
    """Turn the fused step for narrow networks off or on (see _narrow.pxd); returns the
    previous setting. For benchmarks and tests only."""
    global _narrow_path_on
    previous = _narrow_path_on
    _narrow_path_on = on
    return previous


cdef Py_ssize_t _narrow_block(const Net* net, bint sparse, double dropout,
                              Py_ssize_t itemsize) noexcept:
    """Samples per block of the fused narrow step for this network, or 0 where the generic
    step runs: a sparse X (its products read stored entries only), dropout (its masks are
    drawn per layer over the whole batch), or a layer wider than NARROW_MAX_WIDTH."""
    cdef Py_ssize_t k, per_sample
    if not _narrow_path_on or sparse or dropout > 0:
        return 0
    for k in range(net.n_layers):
        if net.layers[k] > NARROW_MAX_WIDTH:
            return 0
    # The block's input copy, every layer, the kept pre-activations: within
    # NARROW_BLOCK_BYTES, a whole number of LANES.
    per_sample = (net.layers[0] + net.total_units
                  + (net.hidden_units if net.keeps_input else 0)) * itemsize
    return max(<Py_ssize_t>LANES,
               min(<Py_ssize_t>NARROW_MAX_BLOCK,
                   NARROW_BLOCK_BYTES // per_sample // LANES * LANES))


def narrow_block_size(network, bint sparse=False, double dropout=0.0):
    """Samples per block of the fused narrow step that training network (a cnet.spec.Network)
    on a dense or sparse X, with that dropout, takes; 0 where the generic step runs. For
    tests and benchmarks."""
    dtype = np.dtype(network.dtype)
    sizes = [int(u) for u in network.layers]
    # No negative index: the module is compiled without wraparound.
    cdef _Layers spec = _network(network, sum(a * b + b for a, b in zip(sizes, sizes[1:])),
                                 sizes[0], sizes[len(sizes) - 1], dtype)
    return _narrow_block(&spec.net, sparse, dropout, dtype.itemsize)


# The fused step for skinny networks (_skinny.pxd), chosen by the shapes alone, after the
# narrow one; set_skinny_path turns it off, so that the tests can run one fit both ways.
cdef bint _skinny_path_on = True


def set_skinny_path(bint on):
    """Turn the fused step for skinny networks off or on (see _skinny.pxd); returns the
    previous setting. For tests and benchmarks."""
    global _skinny_path_on
    previous = _skinny_path_on
    _skinny_path_on = on
    return previous


cdef Py_ssize_t _skinny_block(const Net* net, bint sparse, double dropout,
                              Py_ssize_t itemsize) noexcept:
    """Samples per block of the fused skinny step for this network, or 0 where it does not
    run: more than one hidden layer, an input or output layer wider than SKINNY_MAX_IO, a
    hidden layer narrower than SKINNY_MIN_WIDTH, a sparse X or dropout (as for the narrow
    step)."""
    if not _skinny_path_on or sparse or dropout > 0 or net.n_layers != 3:
        return 0
    if (net.layers[0] > SKINNY_MAX_IO or net.layers[2] > SKINNY_MAX_IO
            or net.layers[1] < SKINNY_MIN_WIDTH):
        return 0
    cdef Py_ssize_t per_sample = net.layers[1] * itemsize * (2 if net.keeps_input else 1)
    return max(<Py_ssize_t>SKINNY_MIN_BLOCK,
               min(<Py_ssize_t>SKINNY_MAX_BLOCK, SKINNY_BLOCK_BYTES // per_sample))


def skinny_block_size(network, bint sparse=False, double dropout=0.0):
    """Samples per block of the fused skinny step that training network (a
    cnet.spec.Network) on a dense or sparse X, with that dropout, takes; 0 where it does
    not (the narrow step's networks included). For tests and benchmarks."""
    dtype = np.dtype(network.dtype)
    sizes = [int(u) for u in network.layers]
    cdef _Layers spec = _network(network, sum(a * b + b for a, b in zip(sizes, sizes[1:])),
                                 sizes[0], sizes[len(sizes) - 1], dtype)
    if _narrow_block(&spec.net, sparse, dropout, dtype.itemsize) > 0:
        return 0
    return _skinny_block(&spec.net, sparse, dropout, dtype.itemsize)


cdef double _skinny_batch_step(const Net* net, floating* params, floating* grads,
                               floating learning_rate, const Batch* b, Work* work,
                               bint want_loss, SignalPoll* poll) noexcept nogil:
    """_batch_step for a network the fused skinny step takes (work.skinny_block > 0; a dense
    X): the gradient of the batch, block after block, then the step if learning_rate != 0."""
    cdef Py_ssize_t n_in = net.layers[0], hidden = net.layers[1], n_out = net.layers[2]
    cdef Py_ssize_t m = b.m, j0, mb, o, u
    cdef Py_ssize_t w2_off = (n_in + 1) * hidden
    cdef Py_ssize_t ss = 1 if b.by_feature else b.ldx
    cdef Py_ssize_t fs = b.ldx if b.by_feature else 1
    cdef const floating* x = <const floating*>b.x
    cdef const floating* y = <const floating*>b.y
    cdef const floating* w = <const floating*>b.w
    cdef floating* w2t = <floating*>work.skinny_w
    cdef floating* gw2t = w2t + n_out * hidden
    cdef floating* ones = gw2t + n_out * hidden
    cdef floating scale = <floating>1 / <floating>b.weight_sum
    cdef double loss = 0
    fill_zero(grads, net.n_params)
    fill_zero(gw2t, n_out * hidden)
    for u in range(hidden):
        for o in range(n_out):
            w2t[o * hidden + u] = params[w2_off + u * n_out + o]
    j0 = 0
    while j0 < m:
        mb = min(work.skinny_block, m - j0)
        loss += skinny_block(n_in, hidden, n_out, net.activation, net.output,
                             <floating>net.loss_parameter, params, grads, w2t, gw2t,
                             x + j0 * ss, ss, fs, y + j0 * n_out,
                             w + j0 if w != NULL else NULL, scale, want_loss, mb,
                             <floating*>work.acts, <floating*>work.pre,
                             <floating*>work.scratch, <floating*>work.block_x, ones)
        j0 += mb
        if _poll_signals(poll):
            return NAN
    for u in range(hidden):
        for o in range(n_out):
            grads[w2_off + u * n_out + o] = gw2t[o * hidden + u]
    if learning_rate != 0:
        sgd_update(params, grads, learning_rate, net.n_params)
    return loss


# The cache-blocked step (_blocked_batch_step). A network whose every product is skinny
# (gemm_skinny: [2, 500, 1], say) runs at the speed of memory: each layer-by-layer pass over a
# batch of thousands of samples reads or writes its hidden layer, megabytes that do not stay
# in cache from one pass to the next. In blocks whose layers fit in L2 the same passes run
# from cache, for the price of a gradient sum per block. Only for such networks: a product
# BLAS computes packs its operands once per call, so smaller blocks would pack them more often.
cdef enum:
    # A block's layers (values, scratch rows, kept pre-activations) within about this many
    # bytes (a block holds up to twice rows_block samples): a quarter to half of the L2 cache
    # of the CPUs measured (512 KiB per core).
    CACHE_BLOCK_BYTES = 131072

cdef bint _cache_blocking_on = True


def set_cache_blocking(bint on):
    """Turn the cache-blocked step off or on (see _cache_block); returns the previous
    setting. For tests and benchmarks."""
    global _cache_blocking_on
    previous = _cache_blocking_on
    _cache_blocking_on = on
    return previous


cdef Py_ssize_t _cache_block(const Net* net, Py_ssize_t m, bint sparse, double dropout,
                             bint by_feature, Py_ssize_t itemsize) noexcept:
    """rows_block of the cache-blocked step for batches of up to m samples, or 0 where the
    layer-by-layer step runs: batches whose layers fit the cache anyway, a sparse X or
    dropout (their batches are not cut into blocks), or any product not skinny at a block's
    size (an input read samples x features, by_feature False, makes the first layer's
    gradient a strided one)."""
    cdef Py_ssize_t k, n_in, n_out, rows, per_sample
    if not _cache_blocking_on or sparse or dropout > 0:
        return 0
    per_sample = (net.total_units + _scratch_rows(net, False)
                  + (net.hidden_units if net.keeps_input else 0)) * itemsize
    rows = max(<Py_ssize_t>GEMM_SKINNY_MIN_LOOP, CACHE_BLOCK_BYTES // per_sample // LANES * LANES)
    if m < 2 * rows:
        return 0
    # The skinny tests hold for any longer loop too, so every block (rows_block or more
    # samples) takes the loops checked here.
    for k in range(net.n_layers - 1):
        n_in = net.layers[k]
        n_out = net.layers[k + 1]
        if k == 0:
            if not (gemm_skinny(True, not by_feature, n_out, rows, n_in)
                    and gemm_skinny(not by_feature, True, n_in, n_out, rows)):
                return 0
        elif not (gemm_skinny(True, False, n_out, rows, n_in)
                  and gemm_skinny(False, False, n_in, rows, n_out)
                  and gemm_skinny(False, True, n_in, n_out, rows)):
            return 0
    return rows


def cache_block_rows(network, Py_ssize_t m, bint by_feature=True, bint sparse=False,
                     double dropout=0.0):
    """rows_block of the cache-blocked step for a network (a cnet.spec.Network) trained on
    batches of m samples, or 0 where it does not run. For tests and benchmarks."""
    dtype = np.dtype(network.dtype)
    sizes = [int(u) for u in network.layers]
    cdef _Layers spec = _network(network, sum(a * b + b for a, b in zip(sizes, sizes[1:])),
                                 sizes[0], sizes[len(sizes) - 1], dtype)
    if (_narrow_block(&spec.net, sparse, dropout, dtype.itemsize) > 0
            or _skinny_block(&spec.net, sparse, dropout, dtype.itemsize) > 0):
        return 0
    return _cache_block(&spec.net, m, sparse, dropout, by_feature, dtype.itemsize)


cdef double _narrow_batch_step(const Net* net, floating* params, floating* grads,
                               floating learning_rate, const Batch* b, Work* work,
                               bint want_loss, SignalPoll* poll) noexcept nogil:
    """_batch_step for a network the fused step takes (work.block > 0; a dense X): the
    gradient of the batch, block after block, then the step if learning_rate != 0."""
    cdef Py_ssize_t n_in = net.layers[0], n_out = net.layers[net.n_layers - 1]
    cdef Py_ssize_t m = b.m, j0, mb, bp, j, f, o, ldx, src
    cdef const floating* x = <const floating*>b.x
    cdef const floating* y = <const floating*>b.y
    cdef const floating* w = <const floating*>b.w
    cdef floating* bx = <floating*>work.block_x
    cdef floating* by = <floating*>work.block_y
    cdef floating* bw = <floating*>work.block_w
    cdef const floating* xk
    cdef const floating* yk
    cdef const floating* wk
    cdef floating scale = <floating>1 / <floating>b.weight_sum
    cdef double loss = 0
    fill_zero(grads, net.n_params)
    j0 = 0
    while j0 < m:
        mb = min(work.block, m - j0)
        bp = (mb + LANES - 1) // LANES * LANES
        if b.by_feature and bp == mb:
            xk = x + j0
            ldx = b.ldx
        else:
            for f in range(n_in):
                for j in range(bp):
                    # Padding lanes repeat the last sample.
                    src = j0 + min(j, mb - 1)
                    bx[f * bp + j] = (x[f * b.ldx + src] if b.by_feature
                                      else x[src * b.ldx + f])
            xk = bx
            ldx = bp
        if bp == mb:
            yk = y + j0 * n_out
            wk = w + j0 if w != NULL else NULL
        else:
            for j in range(bp):
                src = j0 + min(j, mb - 1)
                for o in range(n_out):
                    by[j * n_out + o] = y[src * n_out + o]
                bw[j] = (w[src] if w != NULL else 1) if j < mb else 0
            yk = by
            wk = bw
        loss += narrow_block(net.layers, net.n_layers, net.activation, net.output,
                             <floating>net.loss_parameter, params, grads, xk, ldx, yk, wk,
                             scale, want_loss, bp, <floating*>work.acts,
                             <floating*>work.pre, <floating*>work.scratch)
        j0 += mb
        if _poll_signals(poll):
            return NAN
    if learning_rate != 0:
        sgd_update(params, grads, learning_rate, net.n_params)
    return loss


cdef double _layered_batch_step(const Net* net, floating* params, floating* grads,
                                floating learning_rate, const Batch* b, Work* work,
                                bint want_loss, SignalPoll* poll) noexcept nogil:
    """_batch_step layer by layer over the whole batch (see _batch_step for the loss).

    With learning_rate = 0 the gradient is written into grads. Otherwise the gradient step
    params -= learning_rate * gradient is taken in place, layer by layer on the way back: each
    weight matrix is updated by the product that computes its gradient (beta = 1), after the
    product that carries the error through the old weights to the layer below.

    With work.dropout > 0, each hidden layer's output goes through inverted dropout; the
    masks come from (dropout_seed, epoch, batch start, layer) and are drawn again on the way
    back.

    Signals are looked for between layers and between the pieces of large products (poll,
    unless NULL): when a handler raises, the batch is abandoned half done (params and grads
    then hold partial values) and NaN is returned with poll.raised set.
    """
    cdef floating* z = _forward(net, params, b, work, poll)
    if z == NULL:
        return NAN
    cdef Py_ssize_t k, n_in, n_out = net.layers[net.n_layers - 1], j0, mc, piece, m = b.m
    cdef Py_ssize_t off = net.n_params, act_off = net.total_units * m
    cdef floating* w
    cdef floating* bias_grad
    cdef floating* a_prev
    cdef floating* target
    cdef floating* scratch = <floating*>work.scratch
    cdef floating* pre = <floating*>work.pre
    cdef const floating* x = <const floating*>b.x
    cdef floating alpha
    cdef double loss
    cdef bint step = learning_rate != 0
    cdef bint sparse = b.indptr != NULL
    cdef bint bias_grad_ready = False
    # z holds the output pre-activations, outputs x samples; y is samples x outputs. The
    # scratch array is free until the backward pass needs it.
    loss = output_gradient(net.output, z, <const floating*>b.y, n_out, m, 1, n_out,
                           <floating>1 / <floating>b.weight_sum, want_loss, scratch,
                           <const floating*>b.w, <floating>net.loss_parameter)
    for k in range(net.n_layers - 2, -1, -1):
        n_in = net.layers[k]
        n_out = net.layers[k + 1]
        off -= n_in * n_out + n_out
        act_off -= n_out * m
        w = params + off
        z = <floating*>work.acts + act_off     # now the gradient of this layer's pre-activation
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
                csr_transpose_matmul_add(x, b.indices, b.indptr,
                                         b.rows + j0 if b.rows != NULL else NULL,
                                         b.start + j0, mc, scratch + j0 * n_out, n_out,
                                         alpha, target)
            elif k == 0:
                gemm(not b.by_feature, True, n_in, n_out, mc, alpha,
                     x + (j0 if b.by_feature else j0 * b.ldx), b.ldx, z + j0, m,
                     step or j0 > 0, target, n_out)
            else:
                gemm(False, True, n_in, n_out, mc, alpha, a_prev + j0, m, z + j0, m,
                     step or j0 > 0, target, n_out)
            if _poll_signals(poll):
                return NAN
            j0 += mc
        bias_grad = grads + off + n_in * n_out
        if not bias_grad_ready:
            row_sums(z, n_out, m, bias_grad)
        if step:
            sgd_update(w + n_in * n_out, bias_grad, learning_rate, n_out)
        if k > 0:
            if work.dropout > 0:
                dropout_backward(scratch, a_prev, n_in * m, work.dropout,
                                 dropout_counter(work.dropout_seed, b.epoch, b.start, k - 1))
            # The layer below's bias gradient (its biases sit just before this layer's
            # weights) is summed row by row as its gradient is written.
            _activations.activation_backward_row_sums(
                scratch, a_prev, pre + act_off - n_in * m if pre != NULL else NULL, n_in, m,
                net.activation, grads + off - n_in)
            bias_grad_ready = True
    return loss


cdef double _blocked_batch_step(const Net* net, floating* params, floating* grads,
                                floating learning_rate, const Batch* b, Work* work,
                                bint want_loss, SignalPoll* poll) noexcept nogil:
    """_batch_step for a batch of at least 2 * work.rows_block samples (a dense X): the
    layer-by-layer step over blocks of consecutive samples, the gradients added up, then the
    step if learning_rate != 0.

    The blocks split the batch as evenly as whole samples allow, rows_block to 2 * rows_block
    each, so that every block's products stay on the loops _cache_block checked. The sum
    over samples then goes block by block, in an order fixed by the batch size alone."""
    cdef Py_ssize_t m = b.m, n_out = net.layers[net.n_layers - 1], n_params = net.n_params
    cdef Py_ssize_t n_blocks = m // work.rows_block, base, extra, i, j0 = 0, mb
    cdef floating* part = <floating*>work.block_grads
    cdef double loss = 0
    cdef Batch sub = b[0]
    base = m // n_blocks
    extra = m % n_blocks
    for i in range(n_blocks):
        mb = base + (1 if i < extra else 0)
        sub.m = mb
        sub.start = b.start + j0
        sub.x = <const floating*>b.x + (j0 if b.by_feature else j0 * b.ldx)
        sub.y = <const floating*>b.y + j0 * n_out
        sub.w = <const floating*>b.w + j0 if b.w != NULL else NULL
        loss += _layered_batch_step(net, params, grads if i == 0 else part, 0, &sub, work,
                                    want_loss, poll)
        if poll != NULL and poll.raised:
            return NAN
        if i > 0:
            add_values(grads, part, n_params)
        j0 += mb
    if learning_rate != 0:
        sgd_update(params, grads, learning_rate, n_params)
    return loss


cdef double _batch_step(const Net* net, floating* params, floating* grads,
                        floating learning_rate, const Batch* b, Work* work, bint want_loss,
                        SignalPoll* poll) noexcept nogil:
    """Forward and backward over the batch b; returns the summed loss if asked.

    The loss is the weighted mean over the batch: sample j's terms are weighted by
    b.w[j] (1 where b.w is NULL) and divided by b.weight_sum, their sum; what is returned is
    the weighted sum, before that division.

    With learning_rate = 0 the gradient is written into grads. Otherwise the gradient step
    params -= learning_rate * gradient is taken (by the layer-by-layer step, inside its
    backward pass), and grads holds the bias gradients at least.

    Four ways, chosen by the shapes alone: the fused step of narrow networks (work.block
    > 0), that of skinny ones (work.skinny_block > 0), the cache-blocked one (work.rows_block > 0, for batches of at least twice that),
    and the layer-by-layer step over the whole batch (_layered_batch_step, which describes
    dropout and signals).
    """
    if work.block > 0:
        return _narrow_batch_step(net, params, grads, learning_rate, b, work, want_loss,
                                  poll)
    if work.skinny_block > 0:
        return _skinny_batch_step(net, params, grads, learning_rate, b, work, want_loss,
                                  poll)
    if work.rows_block > 0 and b.m >= 2 * work.rows_block:
        return _blocked_batch_step(net, params, grads, learning_rate, b, work, want_loss,
                                   poll)
    return _layered_batch_step(net, params, grads, learning_rate, b, work, want_loss, poll)


# --- the optimizers: one update function per registry entry, called through a pointer ------
#
# The loop calls them through a pointer, so that gcc compiles each on its own: inlined into
# the training loop, gcc judged the update loops rarely run and left them scalar (Adam then
# cost ~3 ns per parameter, against ~0.3 vectorized). Slot i of the tables holds the update
# of the cnet.registry.OPTIMIZERS entry whose code is i.

cdef void _sgd_step(floating* params, const floating* grads, floating* state, Py_ssize_t n,
                    OptimizerFields* opt) noexcept nogil:
    """SGD with momentum (Nesterov's if asked), or plain SGD: state is the velocity."""
    if opt.momentum != 0:
        momentum_update(params, grads, state, <floating>opt.learning_rate,
                        <floating>opt.momentum, opt.nesterov != 0, n)
    else:
        sgd_update(params, grads, <floating>opt.learning_rate, n)


cdef void _adam_step(floating* params, const floating* grads, floating* state, Py_ssize_t n,
                     OptimizerFields* opt) noexcept nogil:
    """Adam: state holds the two moments, one after the other; counts the step."""
    opt.step_count += 1
    # sqrt, as the twin: Cython's ** 0.5 on a double is a complex power (cpow and complex
    # division on every batch), in case the base were negative, which it never is here.
    cdef floating step_size = <floating>(opt.learning_rate
                                         * sqrt(1 - pow(opt.beta_2, opt.step_count))
                                         / (1 - pow(opt.beta_1, opt.step_count)))
    adam_update(params, grads, state, state + n, step_size, <floating>opt.beta_1,
                <floating>opt.beta_2, <floating>opt.epsilon, n)


ctypedef void (*step_float_t)(float*, const float*, float*, Py_ssize_t,
                              OptimizerFields*) noexcept nogil
ctypedef void (*step_double_t)(double*, const double*, double*, Py_ssize_t,
                               OptimizerFields*) noexcept nogil

cdef enum:
    OPTIMIZER_SLOTS = 8

cdef step_float_t STEP_FLOAT[OPTIMIZER_SLOTS]
cdef step_double_t STEP_DOUBLE[OPTIMIZER_SLOTS]


cdef _fill_slot(str name, step_float_t step_float, step_double_t step_double):
    # Set when the module is imported, so the compiler cannot see through them and inline.
    cdef int code = registry.optimizer(name).code
    if not 0 <= code < OPTIMIZER_SLOTS:
        raise ImportError(f"optimizer {name!r} has code {code}, the loop {OPTIMIZER_SLOTS} "
                          f"slots")
    STEP_FLOAT[code] = step_float
    STEP_DOUBLE[code] = step_double


_fill_slot("sgd", _sgd_step[float], _sgd_step[double])
_fill_slot("adam", _adam_step[float], _adam_step[double])


cdef double _l2_gradient(const Net* net, const floating* params, floating* grads,
                         floating coef, bint want_norm) noexcept nogil:
    """Add coef * W to every weight gradient (biases are not penalised); return sum W**2."""
    cdef Py_ssize_t k, off = 0, n_w
    cdef double total = 0
    for k in range(net.n_layers - 1):
        n_w = net.layers[k] * net.layers[k + 1]
        total += add_l2_gradient(grads + off, params + off, coef, n_w, want_norm)
        off += n_w + net.layers[k + 1]
    return total


# --- the entry points' checks and set-up ----------------------------------------------------

cdef class _Layers:
    """The network part of the spec as the loops read it: net, its pointers into the layers
    array held here (kept alive as long as this object)."""
    cdef Net net
    cdef const Py_ssize_t[::1] layers


cdef _Layers _network(network, Py_ssize_t n_params, Py_ssize_t n_features,
                      Py_ssize_t n_outputs, dtype):
    """The Net of a cnet.spec.Network, for parameters of n_params values of dtype, inputs
    of n_features and targets (or outputs) of n_outputs columns; ValueError or TypeError if
    they do not fit. Names and codes were checked when the Network was made; the sizes are
    checked here, where the arrays are, since the loops index by them unchecked."""
    cdef _Layers spec = _Layers.__new__(_Layers)
    cdef Net* net = &spec.net
    # numpy's dtypes of the builtin types are singletons: a quick test for the usual case.
    if network.dtype is not dtype and np.dtype(network.dtype) != np.dtype(dtype):
        raise TypeError(f"the parameters are {np.dtype(dtype)}, the network "
                        f"{np.dtype(network.dtype)}")
    spec.layers = network.layers
    cdef const Py_ssize_t[::1] layers = spec.layers
    cdef Py_ssize_t k, n_layers = layers.shape[0]
    if n_layers < 2:
        raise ValueError("layers needs at least 2 entries (inputs and outputs)")
    for k in range(n_layers):
        if layers[k] < 1:
            raise ValueError(f"layers[{k}] = {layers[k]}: every layer needs at least one unit")
        if layers[k] >= 2 ** 31:
            raise ValueError(f"layers[{k}] = {layers[k]} is too large for BLAS")
    # Each layer is below 2**31, so each term is below 2**62; the sum is computed in C while
    # it stays below 2**62 (the common case, cheap for one-sample predictions) and in Python
    # integers otherwise, where it must not wrap around.
    cdef Py_ssize_t expected = 0
    cdef bint fits = True
    for k in range(n_layers - 1):
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
    if n_outputs != layers[n_layers - 1]:
        raise ValueError(f"Y has {n_outputs} columns, but the last layer has "
                         f"{layers[n_layers - 1]} units")
    net.layers = &layers[0]
    net.n_layers = n_layers
    net.n_params = n_params
    net.activation = <Activation><int>network.activation_code
    net.output = <Output><int>network.output_code
    net.loss_parameter = network.loss_parameter
    net.keeps_input = network.keeps_input
    net.total_units = 0
    net.widest_hidden = 0
    for k in range(1, n_layers):
        net.total_units += layers[k]
        if k < n_layers - 1:
            net.widest_hidden = max(net.widest_hidden, layers[k])
    net.hidden_units = net.total_units - layers[n_layers - 1]
    return spec


cdef inline Py_ssize_t _scratch_rows(const Net* net, bint sparse) noexcept nogil:
    """Rows of scratch: the widest hidden layer, or 3 for the softmax loss's per-sample sums,
    whichever is more (and the first layer after the input, which a sparse X's products pass
    through scratch)."""
    cdef Py_ssize_t rows = max(net.widest_hidden, 3)
    return max(rows, net.layers[1]) if sparse else rows


cdef class _Workspace:
    """The loops' workspaces for batches of up to m samples (see _workspace): work points
    into the arrays held here."""
    cdef Work work
    cdef object arrays


cdef _Workspace _workspace(const Net* net, Py_ssize_t m, bint sparse, bint keep_pre,
                           double dropout, uint64_t dropout_seed, dtype,
                           Py_ssize_t block=0, Py_ssize_t rows_block=0,
                           Py_ssize_t skinny_block=0):
    """Every layer's values, the scratch rows and (keep_pre: training an activation whose
    backward reads its input) the hidden pre-activations, for m samples; allocated once per
    call, before the loops. With block > 0 (the fused narrow step, _narrow_block), for one
    block of that many samples instead, and the block's copies of its input and targets;
    with rows_block > 0 (the cache-blocked step, _cache_block), for its largest block, and
    a block's gradient; with skinny_block > 0 (the fused skinny step, _skinny_block), for
    one block, and the step's copy of W2, its gradient and the ones."""
    cdef _Workspace space = _Workspace.__new__(_Workspace)
    if block > 0:
        m = block
    elif skinny_block > 0:
        m = skinny_block
    elif rows_block > 0:
        m = min(m, 2 * rows_block - 1)
    acts = np.empty(net.total_units * m, dtype=dtype)
    scratch = np.empty(_scratch_rows(net, sparse) * m, dtype=dtype)
    pre = np.empty(net.hidden_units * m, dtype=dtype) if keep_pre else None
    block_x = np.zeros(net.layers[0] * block if block > 0 else
                       (4 * SKINNY_MAX_IO if skinny_block > 0 else 1), dtype=dtype)
    block_y = np.empty(net.layers[net.n_layers - 1] * block if block > 0 else 1, dtype=dtype)
    block_w = np.empty(max(block, 1), dtype=dtype)
    block_grads = np.empty(net.n_params if rows_block > 0 else 1, dtype=dtype)
    skinny_w = np.ones(2 * net.layers[1] * net.layers[net.n_layers - 1] + skinny_block
                       if skinny_block > 0 else 1, dtype=dtype)
    space.arrays = (acts, scratch, pre, block_x, block_y, block_w, block_grads, skinny_w)
    space.work.skinny_block = skinny_block
    space.work.skinny_w = <void*><uintptr_t>skinny_w.ctypes.data
    space.work.block = block
    space.work.rows_block = rows_block
    space.work.block_grads = <void*><uintptr_t>block_grads.ctypes.data
    space.work.block_x = <void*><uintptr_t>block_x.ctypes.data
    space.work.block_y = <void*><uintptr_t>block_y.ctypes.data
    space.work.block_w = <void*><uintptr_t>block_w.ctypes.data
    space.work.acts = <void*><uintptr_t>acts.ctypes.data
    space.work.scratch = <void*><uintptr_t>scratch.ctypes.data
    space.work.pre = <void*><uintptr_t>pre.ctypes.data if keep_pre else NULL
    space.work.dropout = dropout
    space.work.dropout_seed = dropout_seed
    space.work.one_sample = False
    return space


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


cdef bint _all_finite(const floating* x, Py_ssize_t n) noexcept nogil:
    # x - x is 0 for every finite x and NaN for NaN and infinities.
    cdef Py_ssize_t i
    cdef floating acc = 0
    for i in range(n):
        acc += x[i] - x[i]
    return acc == 0


cdef class _Matrix:
    """An X (dense or CSR) as the loops read it: data, its pointers into the arrays held
    here, and spans, the memory it occupies (for _check_apart)."""
    cdef Input data
    cdef object arrays
    cdef list spans


cdef _Matrix _matrix(X, const floating[::1] like, str name):
    """X checked for the loops: a C-contiguous ndarray or a scipy.sparse CSR matrix of the
    dtype of like, its structure valid (_csr_arrays), its values (a sparse X's stored
    entries) finite. Sizes come from the buffers: an object's .shape may say anything.
    cnet.reference._entry_values makes the same value checks with the same errors."""
    dtype = FLOAT32 if floating is float else FLOAT64
    cdef _Matrix mat = _Matrix.__new__(_Matrix)
    cdef const floating[:, ::1] dense
    cdef const floating[::1] data
    cdef const Py_ssize_t[::1] indices, indptr
    cdef Py_ssize_t n_values
    cdef bint finite
    if issparse(X):
        mat.arrays = _csr_arrays(X, dtype)
        data, indices, indptr = mat.arrays[:3]
        mat.data.x = &data[0]
        mat.data.indices = &indices[0]
        mat.data.indptr = &indptr[0]
        mat.data.n, mat.data.n_features = mat.arrays[3], mat.arrays[4]
        n_values = indptr[mat.data.n]
        mat.spans = [
            _span(f"{name}.data", &data[0], data.shape[0] * sizeof(floating)),
            _span(f"{name}.indices", &indices[0], indices.shape[0] * sizeof(Py_ssize_t)),
            _span(f"{name}.indptr", &indptr[0], indptr.shape[0] * sizeof(Py_ssize_t))]
    else:
        if not isinstance(X, np.ndarray):
            raise TypeError(f"{name} must be a numpy array or a scipy.sparse CSR matrix, got "
                            f"{type(X).__name__}")
        if X.dtype != dtype:
            raise TypeError(f"{name} has dtype {X.dtype}, the parameters {np.dtype(dtype)}")
        dense = X
        mat.arrays = X
        mat.data.n, mat.data.n_features = dense.shape[0], dense.shape[1]
        n_values = dense.shape[0] * dense.shape[1]
        mat.data.x = &dense[0, 0] if n_values else NULL
        mat.data.indices = mat.data.indptr = NULL
        mat.spans = [_span(name, mat.data.x, n_values * sizeof(floating))]
    with nogil:
        finite = _all_finite(<const floating*>mat.data.x, n_values)
    if not finite:
        raise ValueError(f"{name} contains NaN or infinity")
    return mat


cdef double _weight_sum(const floating* w, Py_ssize_t n, str name) except? -1:
    """The sum of the n weights w, checked: finite and non-negative with a positive sum."""
    cdef Py_ssize_t i
    cdef double total = 0
    for i in range(n):
        # Also false for NaN; an infinite weight leaves the sum infinite.
        if not w[i] >= 0:
            raise ValueError(f"{name} must be finite and non-negative")
        total += w[i]
    if not total - total == 0:
        raise ValueError(f"{name} must be finite and non-negative")
    if total == 0:
        raise ValueError(f"{name} sums to zero: no sample would be learnt from")
    return total


cdef _check_dropout(double dropout):
    if not 0 <= dropout < 1:
        raise ValueError(f"dropout must be in [0, 1), got {dropout}")


# --- evaluation on a validation set ---------------------------------------------------------

# The stopping rules and scores of cnet.spec (STOP_ON, SCORES), by index, and the schedules
# of cnet.optimizer (SCHEDULES).
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
    SCORE_NEG_LOG_LOSS = 5
    SCORE_NEG_MSE = 6


cdef void _evaluate(const Net* net, const floating* params, const Input* data,
                    const floating* y, const floating* w, Py_ssize_t chunk, Work* work,
                    floating* copy, int score_kind, const double* ss_tot, double* ss_res,
                    double* loss, double* score) noexcept nogil:
    """The mean loss (weighted, no L2 term) and the score of the network on a validation set.

    The score is accuracy (weighted) or R² averaged over outputs, as scikit-learn's score
    methods compute them from predict, or scikit-learn's neg_log_loss (minus the loss: the
    classifiers' loss is its log loss) or neg_mean_squared_error (the squared residuals
    averaged over samples, weighted, and outputs); NaN if an output is not finite. ss_tot
    holds R²'s weighted total sum of squares of each output, ss_res room for as many sums.
    """
    cdef Py_ssize_t n_out = net.layers[net.n_layers - 1], n = data.n, start, m, j, o
    cdef Py_ssize_t best, truth
    cdef double total = 0, correct = 0, weight_sum = 0, wj, d, r2
    cdef bint finite = True, right
    cdef floating* z
    cdef floating* scratch = <floating*>work.scratch
    cdef const floating* yrow
    cdef Batch b
    for o in range(n_out):
        ss_res[o] = 0
    start = 0
    while start < n:
        m = min(chunk, n - start)
        _rows_batch(data, start, m, &b, params)
        z = _forward(net, params, &b, work, NULL)
        memcpy(copy, z, n_out * m * sizeof(floating))
        total += output_gradient(net.output, copy, y + start * n_out, n_out, m, 1, n_out, 1,
                                 True, scratch, w + start if w != NULL else NULL,
                                 <floating>net.loss_parameter)
        if score_kind != SCORE_NONE:
            # An overflowed logit makes the score NaN, as it makes forward's outputs NaN:
            # early stopping never keeps a model that predict would refuse.
            for j in range(n_out * m):
                if not (z[j] - z[j] == 0):
                    finite = False
            output_activation(net.output, z, n_out, m, scratch)
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
                elif score_kind != SCORE_NEG_LOG_LOSS:
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
    elif score_kind == SCORE_NEG_LOG_LOSS:
        score[0] = -loss[0]
    elif score_kind == SCORE_NEG_MSE:
        r2 = 0
        for o in range(n_out):
            r2 += ss_res[o]
        score[0] = -r2 / (weight_sum * n_out)
    else:
        score[0] = correct / weight_sum


cdef class _ValidationSet:
    """A validation set as the loop's rules read it (see _validation_set): the pointers into
    the arrays held here."""
    cdef _Matrix x
    cdef object arrays
    cdef const void* y
    cdef const void* w
    cdef void* copy
    cdef const double* ss_tot
    cdef double* ss_res
    cdef Py_ssize_t chunk
    cdef Work work


cdef _ValidationSet _validation_set(validation, network, const floating[::1] params,
                                    Py_ssize_t n_outputs, list read):
    """A cnet.epoch_rules.Validation checked against the network and the training targets'
    n_outputs columns, with the workspaces of its evaluation (chunks of up to 1024 rows);
    the memory it reads is added to read."""
    dtype = FLOAT32 if floating is float else FLOAT64
    cdef _ValidationSet val = _ValidationSet.__new__(_ValidationSet)
    val.x = _matrix(validation.X, params, "validation.X")
    cdef Py_ssize_t n = val.x.data.n
    if n == 0:
        raise ValueError("validation.X has no rows")
    cdef _Layers spec = _network(network, params.shape[0], val.x.data.n_features, n_outputs,
                                 dtype)
    cdef const floating[:, ::1] Y = validation.Y
    if Y.shape[0] != n or Y.shape[1] != n_outputs:
        raise ValueError(f"validation.Y must have shape ({n}, {n_outputs}), "
                         f"got ({Y.shape[0]}, {Y.shape[1]})")
    read += val.x.spans + [_span("validation.Y", &Y[0, 0], n * n_outputs * sizeof(floating))]
    cdef const floating[::1] w
    val.w = NULL
    if validation.sample_weight is not None:
        w = validation.sample_weight
        if w.shape[0] != n:
            raise ValueError(f"validation.sample_weight has {w.shape[0]} entries, "
                             f"validation.X {n} rows")
        val.w = &w[0]
        read.append(_span("validation.sample_weight", val.w, n * sizeof(floating)))
    cdef double[::1] ss_res = np.empty(n_outputs, dtype=np.float64)
    cdef double[::1] ss_tot = (np.zeros(n_outputs, dtype=np.float64)
                               if validation.ss_tot is None else validation.ss_tot)
    if ss_tot.shape[0] != n_outputs:
        raise ValueError(f"validation.ss_tot must hold {n_outputs} values")
    val.chunk = min(n, 1024)
    cdef _Workspace space = _workspace(&spec.net, val.chunk, val.x.data.indptr != NULL,
                                       False, 0, 0, dtype)
    cdef floating[::1] copy = np.empty(n_outputs * val.chunk, dtype=dtype)
    val.arrays = (Y, validation.sample_weight, ss_tot, ss_res, space, copy)
    val.y = &Y[0, 0]
    val.ss_tot = &ss_tot[0]
    val.ss_res = &ss_res[0]
    val.copy = &copy[0]
    val.work = space.work
    return val


cdef bint _apply_rules(ProgressFields* prog, OptimizerFields* opt, int stop_on, double tol,
                       double patience, Py_ssize_t n, double loss, double score,
                       bint* best) noexcept nogil:
    """The rules after an epoch of n samples whose training loss and validation score were
    loss and score (cnet.epoch_rules), and the optimizer's schedule: prog and opt's rate are
    updated; best says whether the score is the best so far (the caller keeps the
    parameters). Returns whether training stops. cnet.reference._apply_rules is its twin."""
    best[0] = False
    prog.samples_seen += n
    if stop_on == STOP_ON_SCORE:
        # A NaN score (diverging outputs) fails "score < best + tol", so it resets the
        # count, and never becomes the best: as in scikit-learn.
        prog.no_improvement = prog.no_improvement + 1 if score < prog.best_score + tol else 0
        if score > prog.best_score:
            prog.best_score = score
            best[0] = True
    elif stop_on == STOP_ON_LOSS:
        prog.no_improvement = prog.no_improvement + 1 if loss > prog.best_loss - tol else 0
        if loss < prog.best_loss:
            prog.best_loss = loss
    if opt.schedule == SCHEDULE_INVSCALING:
        opt.learning_rate = opt.learning_rate_init / pow(prog.samples_seen + 1, opt.power_t)
    if stop_on != STOP_NONE and prog.no_improvement > patience:
        if opt.schedule == SCHEDULE_ADAPTIVE and opt.learning_rate > opt.lr_floor:
            opt.learning_rate = opt.learning_rate / 5
            prog.no_improvement = 0
        else:
            return True
    return False


# --- the entry points -----------------------------------------------------------------------

def train_epochs(floating[::1] params, network, training, X, const floating[:, ::1] Y,
                 progress, Py_ssize_t n_epochs):
    """Train for n_epochs epochs, updating params in place.

    network (cnet.spec.Network) is what is trained, training (cnet.spec.Training) how: its
    optimizer's state, step count and learning rate are updated in place, and progress
    (cnet.spec.Progress) carries the epoch counter and the stopping rules' state in and out.
    X is a C-contiguous array or a scipy.sparse CSR matrix, of the dtype of params.

    Returns (losses, val_losses, val_scores, epochs_done, interrupted, stopped): per epoch
    asked, its loss (NaN where not recorded), its validation loss and score (None without a
    validation set, or the score when not stopping on it; NaN where not computed); the
    number of whole epochs trained; whether a KeyboardInterrupt stopped training, and
    whether the stopping rules did. Training also stops early when an epoch leaves a
    parameter NaN or infinite (divergence). Either way the parameters (and optimizer state)
    are those at the end of the last whole epoch.

    Epoch e (counted on from progress.epoch) records the mean loss over its batches, each
    taken before that batch's update, when e % loss_every == 0. With shuffle and more than
    one batch, epoch e visits the samples in epoch_order(seed, e, n).

    After each epoch the optimizer's schedule (invscaling, adaptive) and the stopping rules
    (training.stopping, on the training loss or the validation score) apply, as in
    scikit-learn; training.alpha adds the L2 penalty 0.5 * alpha * sum(W**2) / batch_size
    to each batch's loss.

    With sample weights, each batch's loss, gradient and L2 term are divided by the batch's
    weight sum instead of its size (scikit-learn's convention); the epoch's loss is still the
    mean of the batch losses weighted by batch size. A batch whose weights sum to zero (which
    scikit-learn leaves undefined: 0 / 0) is skipped: no step, no Adam step counted, and it
    is left out of the epoch's loss (NaN if no batch counted).

    Ctrl-C is looked for every few ms, inside long batches too (see WORK_PER_POLL); an
    interrupted epoch is abandoned whole.

    Dropout drops each hidden unit's output with that probability in training (inverted
    dropout: kept outputs are scaled by 1 / (1 - dropout)); masks derive from the seed.
    """
    dtype = FLOAT32 if floating is float else FLOAT64
    cdef _Matrix x_mat = _matrix(X, params, "X")
    cdef Input x_in = x_mat.data
    cdef bint sparse = x_in.indptr != NULL
    cdef Py_ssize_t n = x_in.n, n_features = x_in.n_features, n_outputs = Y.shape[1]
    cdef _Layers spec = _network(network, params.shape[0], n_features, n_outputs, dtype)
    cdef Net* net = &spec.net
    if Y.shape[0] != n:
        raise ValueError(f"X has {n} rows but Y has {Y.shape[0]}")
    if n == 0:
        raise ValueError("X has no rows")
    if n_epochs < 0:
        raise ValueError(f"n_epochs must be non-negative, got {n_epochs}")
    cdef Py_ssize_t n_params = params.shape[0]
    # The values the spec checked when it was made are read once here.
    optimizer = training.optimizer
    stopping = training.stopping
    validation = training.validation
    cdef Py_ssize_t loss_every = training.loss_every
    cdef uint64_t seed = training.seed
    cdef double alpha = training.alpha
    cdef double dropout = training.dropout
    _check_dropout(dropout)
    cdef OptimizerFields[::1] opt_fields = optimizer.fields
    cdef OptimizerFields opt = opt_fields[0]
    if not (0 <= opt.code < OPTIMIZER_SLOTS and STEP_FLOAT[opt.code] != NULL):
        raise ValueError(f"the optimizer's code {opt.code} has no update in the loop")
    cdef step_float_t step_float = STEP_FLOAT[opt.code]
    cdef step_double_t step_double = STEP_DOUBLE[opt.code]
    cdef ProgressFields[::1] prog_fields = progress.fields
    cdef ProgressFields prog = prog_fields[0]
    # A stateless step (plain SGD) is taken inside the backward pass; the rest need the
    # gradient first.
    cdef bint fused_step = optimizer.steps_in_backward and alpha == 0
    cdef floating[:, ::1] state = optimizer.state
    # The view's shape, not state's: an object's .shape may say anything.
    if state.shape[0] != 2 or state.shape[1] != n_params:
        raise ValueError(f"the optimizer's state must have shape (2, {n_params})")

    cdef Py_ssize_t m_max = min(<Py_ssize_t>training.batch_size, n)
    if m_max >= 2 ** 31:
        raise ValueError(f"a batch of {m_max} rows is too large for BLAS (>= 2**31)")
    cdef bint shuffling = training.shuffle and m_max < n
    cdef floating[::1] grads = np.empty_like(params)
    cdef Py_ssize_t block = _narrow_block(net, sparse, dropout, sizeof(floating))
    # When the first layer's products run on the hand-written path (or the fused narrow
    # step), its loops read the input along samples: a features x samples copy of X (small,
    # since the layer is) makes those reads contiguous. BLAS reads X as it is, and a wide X
    # is not copied.
    cdef bint by_feature = not sparse and (
        block > 0 or not gemm_uses_blas(True, False, net.layers[1], m_max, n_features))
    cdef Py_ssize_t skinny = 0 if block > 0 else _skinny_block(net, sparse, dropout,
                                                                sizeof(floating))
    cdef Py_ssize_t rows_block = 0 if block > 0 or skinny > 0 else _cache_block(
        net, m_max, sparse, dropout, by_feature, sizeof(floating))
    # The masks' seed, apart from the shuffling's.
    cdef _Workspace space = _workspace(net, m_max, sparse, net.keeps_input, dropout,
                                       splitmix64(seed ^ <uint64_t>0x5851F42D4C957F2D), dtype,
                                       block, rows_block, skinny)
    cdef const floating[:, ::1] Xd = np.empty((1, 1), dtype=dtype) if sparse else X
    cdef const floating[:, ::1] XT = (
        np.ascontiguousarray(np.asarray(Xd).T) if by_feature and not shuffling
        else np.empty((1, 1), dtype=dtype))
    batch_shape = (n_features, m_max) if by_feature else (m_max, n_features)
    cdef floating[:, ::1] x_batch = np.empty(
        batch_shape if shuffling and not sparse else (1, 1), dtype=dtype)
    # A sparse batch is named by its rows, never gathered.
    cdef Py_ssize_t[::1] batch_rows = np.empty(m_max if shuffling and sparse else 1,
                                               dtype=np.intp)
    cdef floating[:, ::1] y_batch = np.empty((m_max if shuffling else 1, n_outputs), dtype=dtype)
    cdef const floating[::1] sw
    cdef floating[::1] w_batch = np.empty(m_max if shuffling else 1, dtype=dtype)
    cdef bint weighted = training.sample_weight is not None
    if weighted:
        sw = training.sample_weight
        if sw.shape[0] != n:
            raise ValueError(f"sample_weight has {sw.shape[0]} entries, X has {n} rows")
        _weight_sum(&sw[0], n, "sample_weight")

    # The rules between epochs and the validation set they may score.
    cdef int stop_on = stopping.on_code
    cdef double tol = stopping.tol, patience = stopping.n_iter_no_change
    cdef int score_kind = SCORE_NONE if stop_on != STOP_ON_SCORE else validation.score_code
    cdef floating[::1] best_params
    cdef double vloss = 0, vscore = 0
    losses = np.full(n_epochs, np.nan)
    val_losses = np.full(n_epochs, np.nan) if validation is not None else None
    val_scores = np.full(n_epochs, np.nan) if stop_on == STOP_ON_SCORE else None
    cdef double[::1] losses_v = losses
    cdef double[::1] val_losses_v, val_scores_v
    written = [_span("params", &params[0], n_params * sizeof(floating))]
    if not fused_step:
        written.append(_span("optimizer.state", &state[0, 0], 2 * n_params * sizeof(floating)))
    read = x_mat.spans + [_span("Y", &Y[0, 0], n * n_outputs * sizeof(floating)),
                          _span("layers", net.layers, net.n_layers * sizeof(Py_ssize_t))]
    if weighted:
        read.append(_span("sample_weight", &sw[0], n * sizeof(floating)))
    cdef _ValidationSet val = None
    cdef Input* v_data = NULL
    if validation is not None:
        val = _validation_set(validation, network, params, n_outputs, read)
        v_data = &val.x.data
        val_losses_v = val_losses
    if stop_on == STOP_ON_SCORE:
        val_scores_v = val_scores
        best_params = stopping.best_params
        if best_params.shape[0] != n_params:
            raise ValueError("stopping.best_params must have the size of params")
        written.append(_span("stopping.best_params", &best_params[0],
                             n_params * sizeof(floating)))
    _check_apart(written, read)

    cdef SortKey* order = NULL
    # The state at the start of the epoch under way: restored if the epoch ends with
    # non-finite parameters or is interrupted, so the model keeps the last whole epoch.
    cdef floating[::1] saved_params = np.empty_like(params)
    cdef floating[:, ::1] saved_state = np.empty_like(state)
    cdef int64_t saved_steps = opt.step_count
    cdef Py_ssize_t epochs_done = 0
    cdef bint interrupted = False, checking = False, stopped = False
    cdef SignalPoll poll
    poll.last = _seconds()
    poll.raised = False
    cdef SignalPoll* inner_poll = _inner_poll(&poll, net, m_max)

    cdef Py_ssize_t e, epoch, start, m, j, f, row, counted
    cdef bint want_loss, best = False
    cdef double total
    cdef floating batch_loss, weight_sum
    cdef Batch b
    b.indices = x_in.indices
    b.indptr = x_in.indptr
    # Registered after every check: a refused call leaves no loop counted as running.
    cdef bint blas_started = _blas_loop_started(net, m_max)
    try:
        # Allocated inside the try, after every check: a rejected call leaks nothing.
        if shuffling:
            order = <SortKey*>PyMem_RawMalloc(n * sizeof(SortKey))
            if order == NULL:
                raise MemoryError()
        with nogil:
            for e in range(n_epochs):
                memcpy(&saved_params[0], &params[0], n_params * sizeof(floating))
                if not fused_step:
                    memcpy(&saved_state[0, 0], &state[0, 0], 2 * n_params * sizeof(floating))
                saved_steps = opt.step_count
                epoch = prog.epoch + e
                b.epoch = epoch
                want_loss = loss_every > 0 and epoch % loss_every == 0
                if shuffling:
                    _epoch_order(order, n, seed, epoch)
                total = 0
                counted = 0
                start = 0
                while start < n:
                    m = min(m_max, n - start)
                    b.start = start
                    b.m = m
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
                        b.w = &w_batch[0] if weighted else NULL
                        b.x = x_in.x if sparse else &x_batch[0, 0]
                        b.rows = &batch_rows[0] if sparse else NULL
                        b.ldx = m_max if by_feature else n_features
                        b.y = &y_batch[0, 0]
                    else:
                        if sparse:
                            b.x = x_in.x
                        else:
                            b.x = &XT[0, start] if by_feature else &Xd[start, 0]
                        b.rows = NULL
                        b.ldx = n if by_feature else n_features
                        b.y = &Y[start, 0]
                        b.w = &sw[start] if weighted else NULL
                    b.by_feature = by_feature
                    weight_sum = m
                    if weighted:
                        weight_sum = 0
                        for j in range(m):
                            weight_sum = weight_sum + (<const floating*>b.w)[j]
                    b.weight_sum = weight_sum
                    # A batch whose weights sum to zero holds nothing to learn from (its
                    # weighted mean is 0 / 0): it is skipped whole, no step and no Adam step
                    # counted, and the epoch's loss is the mean over the batches that count.
                    if weight_sum > 0:
                        batch_loss = _batch_step(net, &params[0], &grads[0],
                                                 <floating>opt.learning_rate if fused_step
                                                 else 0, &b, &space.work, want_loss,
                                                 inner_poll)
                        if poll.raised:
                            break
                        # The epoch adds up the batch means times the batch sizes.
                        total += batch_loss * (m / weight_sum)
                        counted += m
                        if not fused_step:
                            if alpha != 0:
                                total += 0.5 * alpha * (m / weight_sum) * _l2_gradient(
                                    net, &params[0], &grads[0],
                                    <floating>(alpha / weight_sum), want_loss)
                            if floating is float:
                                step_float(&params[0], &grads[0], &state[0, 0], n_params, &opt)
                            else:
                                step_double(&params[0], &grads[0], &state[0, 0], n_params,
                                            &opt)
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
                        memcpy(&state[0, 0], &saved_state[0, 0], 2 * n_params * sizeof(floating))
                    opt.step_count = saved_steps
                    break
                # NaN, not a divergence, if no batch had weight (the entry checks refuse
                # weights that are all zero, so only a raw call can get here).
                losses_v[e] = total / counted if want_loss and counted > 0 else NAN
                epochs_done += 1
                if v_data != NULL:
                    _evaluate(net, &params[0], v_data, <const floating*>val.y,
                              <const floating*>val.w, val.chunk, &val.work,
                              <floating*>val.copy, score_kind, val.ss_tot, val.ss_res, &vloss,
                              &vscore)
                    val_losses_v[e] = vloss
                if stop_on == STOP_ON_SCORE:
                    val_scores_v[e] = vscore
                stopped = _apply_rules(&prog, &opt, stop_on, tol, patience, n, losses_v[e],
                                       vscore, &best)
                if best:
                    memcpy(&best_params[0], &params[0], n_params * sizeof(floating))
                if stopped:
                    break
    finally:
        _blas_loop_finished(blas_started)
        if checking:
            # A signal handler raised something other than KeyboardInterrupt: that error
            # propagates, and the model still holds whole epochs only.
            memcpy(&params[0], &saved_params[0], n_params * sizeof(floating))
        PyMem_RawFree(order)
    prog.epoch += epochs_done
    prog_fields[0] = prog
    opt_fields[0] = opt
    return losses, val_losses, val_scores, epochs_done, interrupted, stopped


def loss_and_gradient(const floating[::1] params, network, X, const floating[:, ::1] Y,
                      floating[::1] grad, sample_weight=None, double dropout=0.0,
                      uint64_t dropout_seed=0, double alpha=0.0):
    """Mean loss over all samples of X at params (weighted, if sample_weight is given) of the
    network (a cnet.spec.Network); its gradient is written into grad. With dropout, the masks
    are those of epoch 0's first batch under dropout_seed: fixed, so the loss is a smooth
    function of params.

    alpha adds the L2 penalty 0.5 * alpha * sum(W**2) / (the weight sum, or n) to the loss,
    and its gradient to grad: the objective that lbfgs minimizes. X is a C-contiguous array
    or a scipy.sparse CSR matrix, of the dtype of params."""
    dtype = FLOAT32 if floating is float else FLOAT64
    cdef _Matrix x_mat = _matrix(X, params, "X")
    cdef Input x_in = x_mat.data
    cdef Py_ssize_t n = x_in.n
    cdef _Layers spec = _network(network, params.shape[0], x_in.n_features, Y.shape[1], dtype)
    cdef Net* net = &spec.net
    if Y.shape[0] != n or n == 0:
        raise ValueError("X and Y need the same, non-zero number of rows")
    if n >= 2 ** 31:
        raise ValueError(f"{n} rows are too many for one BLAS product (>= 2**31)")
    if grad.shape[0] != params.shape[0]:
        raise ValueError("grad must have the size of params")
    _check_dropout(dropout)
    cdef Py_ssize_t block = _narrow_block(net, x_in.indptr != NULL, dropout, sizeof(floating))
    cdef _Workspace space = _workspace(
        net, n, x_in.indptr != NULL, net.keeps_input, dropout, dropout_seed, dtype, block, 0,
        0 if block > 0 else _skinny_block(net, x_in.indptr != NULL, dropout, sizeof(floating)))
    cdef double total
    cdef const floating[::1] sw
    cdef Batch b
    b.x = x_in.x
    b.ldx = x_in.n_features
    b.by_feature = False
    b.indices = x_in.indices
    b.indptr = x_in.indptr
    b.rows = NULL
    b.start = 0
    b.m = n
    b.y = &Y[0, 0]
    b.w = NULL
    b.weight_sum = n
    b.epoch = 0
    if sample_weight is not None:
        sw = sample_weight
        if sw.shape[0] != n:
            raise ValueError(f"sample_weight has {sw.shape[0]} entries, X has {n} rows")
        b.w = &sw[0]
        b.weight_sum = _weight_sum(&sw[0], n, "sample_weight")
        # The weight sum in the parameters' dtype, as the loop divides by it.
        b.weight_sum = <floating>np.sum(np.asarray(sw))
    read = x_mat.spans + [
        _span("params", &params[0], params.shape[0] * sizeof(floating)),
        _span("Y", &Y[0, 0], n * Y.shape[1] * sizeof(floating)),
        _span("layers", net.layers, net.n_layers * sizeof(Py_ssize_t))]
    if b.w != NULL:
        read.append(_span("sample_weight", b.w, n * sizeof(floating)))
    _check_apart([_span("grad", &grad[0], grad.shape[0] * sizeof(floating))], read)
    # One call may cover a large data set (lbfgs evaluates the whole of it): Ctrl-C is looked
    # for inside, and raises here as KeyboardInterrupt, leaving grad partly written.
    cdef SignalPoll poll
    poll.last = _seconds()
    poll.raised = False
    cdef SignalPoll* inner_poll = _inner_poll(&poll, net, n)
    cdef bint blas_started = _blas_loop_started(net, n)
    try:
        with nogil:
            # With learning rate 0 the step writes grad and leaves params alone, so the cast
            # away from const is safe.
            total = _batch_step(net, <floating*>&params[0], &grad[0], 0, &b, &space.work,
                                True, inner_poll)
            if alpha != 0 and not poll.raised:
                total += 0.5 * alpha * _l2_gradient(net, &params[0], &grad[0],
                                                    <floating>(alpha / <floating>b.weight_sum),
                                                    True)
        if poll.raised:
            # Raised inside the try, so that the finally clause runs with the error put
            # aside (Python code must not run while an error is set).
            _raise_pending()
    finally:
        _blas_loop_finished(blas_started)
    return total / <floating>b.weight_sum


# Below this many samples, forward takes them one at a time (Work.one_sample).
cdef enum:
    FEW_SAMPLES = 4


def forward(const floating[::1] params, network, X, floating[:, ::1] out):
    """Write the outputs of the network (a cnet.spec.Network) after its output activation,
    samples x outputs, into out, and return how many samples have an output that is not
    finite (0 in the usual case: the caller needs no pass of its own over out to know).

    X is a C-contiguous array or a scipy.sparse CSR matrix, of the dtype of params. A sample
    whose logits are not finite (the parameters overflow on it) gets NaN outputs."""
    dtype = FLOAT32 if floating is float else FLOAT64
    cdef _Matrix x_mat = _matrix(X, params, "X")
    cdef Input x_in = x_mat.data
    cdef Py_ssize_t n = x_in.n
    cdef _Layers spec = _network(network, params.shape[0], x_in.n_features, out.shape[1],
                                 dtype)
    cdef Net* net = &spec.net
    if out.shape[0] != n:
        raise ValueError(f"out has {out.shape[0]} rows, X has {n}")
    if n == 0:
        return 0
    read = x_mat.spans + [
        _span("params", &params[0], params.shape[0] * sizeof(floating)),
        _span("layers", net.layers, net.n_layers * sizeof(Py_ssize_t))]
    _check_apart([_span("out", &out[0, 0], n * out.shape[1] * sizeof(floating))], read)
    # Rows go through in chunks so that the workspace stays small whatever n is. It is one
    # raw allocation: numpy arrays would cost more than the network on a single sample.
    cdef bint sparse = x_in.indptr != NULL
    cdef Py_ssize_t chunk = min(n, 1024)
    cdef Py_ssize_t scratch_rows = _scratch_rows(net, sparse)
    cdef floating* workspace = <floating*>PyMem_RawMalloc(
        (net.total_units + scratch_rows + 1) * chunk * sizeof(floating))
    if workspace == NULL:
        raise MemoryError()
    cdef Work work
    work.acts = workspace
    work.scratch = workspace + net.total_units * chunk
    work.pre = NULL
    work.dropout = 0
    work.dropout_seed = 0
    work.one_sample = not sparse and n < FEW_SAMPLES
    work.block = 0
    work.rows_block = 0
    work.skinny_block = 0
    cdef bint blas_started = False
    cdef Py_ssize_t not_finite
    try:
        blas_started = _blas_loop_started(net, chunk)
        with nogil:
            not_finite = _predict_chunks(net, &params[0], &x_in,
                                         1 if work.one_sample else chunk, &work,
                                         workspace + (net.total_units + scratch_rows) * chunk,
                                         out)
    finally:
        _blas_loop_finished(blas_started)
        PyMem_RawFree(workspace)
    return not_finite


cdef Py_ssize_t _predict_chunks(const Net* net, const floating* params, const Input* data,
                                Py_ssize_t chunk, Work* work, floating* logit_check,
                                floating[:, ::1] out) noexcept nogil:
    """forward's loop over chunks of rows (logit_check: room for chunk values); returns how
    many rows of out hold a value that is not finite."""
    cdef Py_ssize_t start, m, j, o, n_out = net.layers[net.n_layers - 1]
    cdef Py_ssize_t not_finite = 0
    cdef floating* z
    cdef floating row_check
    cdef Batch b
    start = 0
    while start < data.n:
        m = min(chunk, data.n - start)
        _rows_batch(data, start, m, &b, params)
        z = _forward(net, params, &b, work, NULL)
        # A logit that overflowed (parameters too large for X) may still map to a finite
        # probability, or not, depending on the order of the sums (FMA or not): the
        # sample's outputs become NaN either way, so the caller sees the overflow.
        for j in range(m):
            logit_check[j] = 0
        for o in range(n_out):
            for j in range(m):
                logit_check[j] += z[o * m + j] - z[o * m + j]
        output_activation(net.output, z, n_out, m, <floating*>work.scratch)
        for j in range(m):
            # The outputs too: an exp output overflows where its logit did not.
            row_check = logit_check[j]
            for o in range(n_out):
                out[start + j, o] = z[o * m + j] if logit_check[j] == 0 else NAN
                row_check += z[o * m + j] - z[o * m + j]
            if row_check != 0:
                not_finite += 1
        start += m
    return not_finite


def forward_layers(const floating[::1] params, network, X, floating[::1] pre,
                   floating[::1] acts):
    """Every layer of the network (a cnet.spec.Network) over all of X, kept: each layer's
    pre-activation (the product plus the bias) into pre and its activation into acts, the
    output layer's through the output activation. Both are laid out as the loop keeps its
    layers, layer after layer, each (units, samples) row-major; each holds n_samples times
    the units after the input. The arithmetic is the prediction's; nothing is checked for
    NaN or infinity in what it writes.

    X is a C-contiguous array or a scipy.sparse CSR matrix, of the dtype of params."""
    dtype = FLOAT32 if floating is float else FLOAT64
    cdef _Matrix x_mat = _matrix(X, params, "X")
    cdef Input x_in = x_mat.data
    cdef Py_ssize_t n = x_in.n
    sizes = network.layers
    cdef _Layers spec = _network(network, params.shape[0], x_in.n_features,
                                 sizes[len(sizes) - 1] if len(sizes) else 0, dtype)
    cdef Net* net = &spec.net
    cdef Py_ssize_t n_out = net.layers[net.n_layers - 1]
    # In Python integers: units times samples must not wrap around before it is compared.
    expected = int(net.total_units) * int(n)
    if pre.shape[0] != expected or acts.shape[0] != expected:
        raise ValueError(f"pre and acts need {expected} values each ({n} samples of "
                         f"{net.total_units} units), got {pre.shape[0]} and {acts.shape[0]}")
    if n == 0:
        return
    if n >= 2 ** 31:
        raise ValueError(f"{n} rows are too many for one BLAS product (>= 2**31)")
    read = x_mat.spans + [
        _span("params", &params[0], params.shape[0] * sizeof(floating)),
        _span("layers", net.layers, net.n_layers * sizeof(Py_ssize_t))]
    _check_apart([_span("pre", &pre[0], pre.shape[0] * sizeof(floating)),
                  _span("acts", &acts[0], acts.shape[0] * sizeof(floating))], read)
    cdef bint sparse = x_in.indptr != NULL
    scratch = np.empty(_scratch_rows(net, sparse) * n, dtype=dtype)
    cdef floating[::1] scratch_view = scratch
    cdef Work work
    work.acts = &acts[0]
    work.scratch = &scratch_view[0]
    # _forward keeps the hidden layers' pre-activations where their activations are in acts;
    # the output layer's (the logits) is copied there before the output activation.
    work.pre = &pre[0]
    work.dropout = 0
    work.dropout_seed = 0
    work.one_sample = False
    work.block = 0
    cdef floating* z
    cdef Batch b
    cdef bint blas_started = _blas_loop_started(net, n)
    try:
        with nogil:
            _rows_batch(&x_in, 0, n, &b, &params[0])
            # No signal polling inside, as for forward (a Ctrl-C is raised when the pass
            # returns): a second caller of _forward with a poll made gcc stop inlining it
            # into the training step, whose seed epoch then took 1.2-1.3x as long.
            z = _forward(net, &params[0], &b, &work, NULL)
            memcpy(&pre[0] + net.hidden_units * n, z, n_out * n * sizeof(floating))
            output_activation(net.output, z, n_out, n, &scratch_view[0])
    finally:
        _blas_loop_finished(blas_started)
