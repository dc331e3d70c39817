# The compiled kernels, one Python-callable function per kernel, over typed memoryviews; the
# hidden activations and output/loss pairs have one for all (their codes and names come from
# cnet.registry).
#
# These are the raw entry points: they check shapes, then run the nogil cores declared in the
# .pxd files beside this one (the same cores the training loop in _train.pyx chains). Outputs
# are passed in, never allocated here; cnet/kernels.py adds dtype handling, allocation and the
# checks for finite values, and is what users call.
#
# Layout: a layer's values are (units, samples); weights are (n_in, n_out).

import numpy as np

from cython cimport floating
from libc.math cimport INFINITY
from libc.stdint cimport uint64_t, uintptr_t
from libc.string cimport memcpy

cimport _activations
cimport _dropout
cimport _exp
cimport _gemm
cimport _log
cimport _losses
cimport _sparse
cimport _updates

from cnet import registry


cdef extern from *:
    """
    /* The x86-64 microarchitecture level this CPU and its operating system support: 4 for
       x86-64-v4 (AVX-512), 3 for x86-64-v3 (AVX2, FMA), else 1. The compilers' builtins read
       CPUID and check that the OS saves the wide registers (XGETBV). Other architectures
       and compilers answer 1: only the baseline is built there. */
    #if (defined(__x86_64__) || defined(_M_X64)) && defined(__GNUC__)
    static int cnet_cpu_level(void) {
        __builtin_cpu_init();
        int v3 = __builtin_cpu_supports("avx") && __builtin_cpu_supports("avx2")
                 && __builtin_cpu_supports("fma")
                 && __builtin_cpu_supports("bmi") && __builtin_cpu_supports("bmi2");
        int v4 = v3 && __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw")
                 && __builtin_cpu_supports("avx512cd") && __builtin_cpu_supports("avx512dq")
                 && __builtin_cpu_supports("avx512vl");
        return v4 ? 4 : (v3 ? 3 : 1);
    }
    #else
    static int cnet_cpu_level(void) { return 1; }
    #endif
    """
    int cnet_cpu_level() nogil


def cpu_level():
    """The x86-64 level of this CPU: 4 (x86-64-v4, AVX-512), 3 (x86-64-v3, AVX2 and FMA) or 1
    (anything else, other architectures included)."""
    return cnet_cpu_level()


cdef _check_same_size(Py_ssize_t got, Py_ssize_t expected, str name):
    if got != expected:
        raise ValueError(f"{name} has {got} elements, expected {expected}")


cdef _check_nonempty(Py_ssize_t size, str name):
    # Every entry point takes the address of its first element.
    if size == 0:
        raise ValueError(f"{name} is empty")


cdef _check_apart(const void* out, Py_ssize_t out_bytes, const void* other,
                  Py_ssize_t other_bytes, str out_name, str other_name, bint may_be_same=False):
    # The loops write out while they still read the inputs and assume nothing overlaps, so an
    # overlapping out gives a wrong result silently. Element-wise loops (may_be_same) read
    # each element before writing it, so out may be exactly that input, but not a shifted
    # view of it.
    cdef uintptr_t o = <uintptr_t>out, p = <uintptr_t>other
    if may_be_same and o == p and out_bytes == other_bytes:
        return
    if o < p + <uintptr_t>other_bytes and p < o + <uintptr_t>out_bytes:
        raise ValueError(f"{out_name} shares memory with {other_name}; pass a separate array")


cdef _check_blas_size(Py_ssize_t n, str name):
    # cython_blas takes C ints.
    if n >= 2 ** 31:
        raise ValueError(f"{name} dimension {n} is too large for BLAS (>= 2**31)")


cdef (Py_ssize_t, Py_ssize_t, Py_ssize_t) _matmul_dims(
        const floating[:, ::1] a, const floating[:, ::1] b, floating[:, ::1] out,
        bint trans_a, bint trans_b) except *:
    cdef Py_ssize_t m = a.shape[1] if trans_a else a.shape[0]
    cdef Py_ssize_t k = a.shape[0] if trans_a else a.shape[1]
    cdef Py_ssize_t k_b = b.shape[1] if trans_b else b.shape[0]
    cdef Py_ssize_t n = b.shape[0] if trans_b else b.shape[1]
    if k != k_b:
        raise ValueError(f"matmul: inner dimensions differ ({k} and {k_b})")
    if out.shape[0] != m or out.shape[1] != n:
        raise ValueError(f"matmul: out has shape ({out.shape[0]}, {out.shape[1]}), "
                         f"expected ({m}, {n})")
    if m == 0 or n == 0 or k == 0:
        raise ValueError("matmul: empty operand")
    for dim, name in ((m, "row"), (n, "column"), (k, "inner")):
        _check_blas_size(dim, name)
    _check_apart(&out[0, 0], m * n * sizeof(floating), &a[0, 0], m * k * sizeof(floating),
                 "out", "a")
    _check_apart(&out[0, 0], m * n * sizeof(floating), &b[0, 0], k * n * sizeof(floating),
                 "out", "b")
    return m, n, k


def matmul(const floating[:, ::1] a, const floating[:, ::1] b, floating[:, ::1] out,
           bint trans_a=False, bint trans_b=False, double alpha=1, bint accumulate=False):
    """out = alpha op(a) @ op(b) (+ out, with accumulate), where op transposes when trans_a /
    trans_b is set; the path (:func:`matmul_path`) as the training loop takes it."""
    m, n, k = _matmul_dims(a, b, out, trans_a, trans_b)
    with nogil:
        _gemm.gemm(trans_a, trans_b, m, n, k, <floating>alpha, &a[0, 0], a.shape[1], &b[0, 0],
                   b.shape[1], accumulate, &out[0, 0], out.shape[1])


def matmul_small(const floating[:, ::1] a, const floating[:, ::1] b, floating[:, ::1] out,
                 bint trans_a=False, bint trans_b=False, double alpha=1,
                 bint accumulate=False):
    """:func:`matmul` on the hand-written path whatever the size (for tests and benchmarks)."""
    m, n, k = _matmul_dims(a, b, out, trans_a, trans_b)
    with nogil:
        _gemm.gemm_small(trans_a, trans_b, m, n, k, <floating>alpha, &a[0, 0], a.shape[1],
                         &b[0, 0], b.shape[1], accumulate, &out[0, 0], out.shape[1])


def matmul_blas(const floating[:, ::1] a, const floating[:, ::1] b, floating[:, ::1] out,
                bint trans_a=False, bint trans_b=False, double alpha=1,
                bint accumulate=False):
    """:func:`matmul` through one BLAS call whatever the size (for tests and benchmarks)."""
    m, n, k = _matmul_dims(a, b, out, trans_a, trans_b)
    with nogil:
        _gemm.gemm_blas(trans_a, trans_b, m, n, k, <floating>alpha, &a[0, 0], a.shape[1],
                        &b[0, 0], b.shape[1], accumulate, &out[0, 0], out.shape[1])


def matmul_uses_blas(Py_ssize_t m, Py_ssize_t n, Py_ssize_t k, bint trans_a=False,
                     bint trans_b=False):
    """Whether an op(A) (m x k) @ op(B) (k x n) product goes to BLAS rather than the
    hand-written loops (see :func:`matmul_path`)."""
    return _gemm.gemm_uses_blas(trans_a, trans_b, m, n, k)


GEMM_PATHS = ("small", "blas one call", "blas split", "blas threads")


def matmul_path(Py_ssize_t m, Py_ssize_t n, Py_ssize_t k, bint trans_a=False,
                bint trans_b=False):
    """How :func:`matmul` and the training loop compute an op(A) (m x k) @ op(B) (k x n)
    product, op transposing where trans_a / trans_b is set.

    One of :data:`GEMM_PATHS`: the hand-written loops (small products, and skinny ones of
    any size, which depend on the form); one BLAS call small enough that OpenBLAS keeps it
    on the calling thread; BLAS calls on blocks of the product, each kept on the calling
    thread; or one BLAS call with the threads OpenBLAS is allowed.
    """
    if m < 1 or n < 1 or k < 1:
        raise ValueError(f"matmul_path: dimensions must be positive, got {m}, {n}, {k}")
    return GEMM_PATHS[<int>_gemm.gemm_path(trans_a, trans_b, m, n, k)]


def set_one_thread_split(bint on):
    """Turn the split of mid-sized products (the "blas split" path) on or off in this module;
    returns the previous setting. For benchmarks and tests that compare with OpenBLAS
    choosing its threads alone."""
    previous = bool(_gemm.gemm_get_one_thread_split())
    _gemm.gemm_set_one_thread_split(on)
    return previous


cdef _check_csr_out(const floating[::1] data, const Py_ssize_t[::1] indices,
                    const Py_ssize_t[::1] indptr, const floating[:, ::1] dense, str dense_name,
                    floating[:, ::1] out):
    # After _check_csr and the shape checks: every view is non-empty.
    cdef Py_ssize_t out_bytes = out.shape[0] * out.shape[1] * sizeof(floating)
    _check_apart(&out[0, 0], out_bytes, &data[0], data.shape[0] * sizeof(floating), "out",
                 "data")
    _check_apart(&out[0, 0], out_bytes, &indices[0], indices.shape[0] * sizeof(Py_ssize_t),
                 "out", "indices")
    _check_apart(&out[0, 0], out_bytes, &indptr[0], indptr.shape[0] * sizeof(Py_ssize_t),
                 "out", "indptr")
    _check_apart(&out[0, 0], out_bytes, &dense[0, 0],
                 dense.shape[0] * dense.shape[1] * sizeof(floating), "out", dense_name)


cdef _check_csr(const Py_ssize_t[::1] indices, const Py_ssize_t[::1] indptr, Py_ssize_t nnz,
                Py_ssize_t n_rows, Py_ssize_t n_cols):
    if indptr.shape[0] != n_rows + 1:
        raise ValueError(f"indptr has {indptr.shape[0]} entries, {n_rows} rows need "
                         f"{n_rows + 1}")
    if indices.shape[0] != nnz or nnz == 0:
        raise ValueError(f"indices has {indices.shape[0]} entries, data {nnz}; both need at "
                         f"least one")
    cdef int problem = _sparse.csr_problem(&indices[0], &indptr[0], n_rows, n_cols, nnz)
    if problem == _sparse.CSR_BAD_INDEX:
        raise ValueError(f"indices has entries outside [0, {n_cols})")
    if problem:
        raise ValueError("indptr is not a valid CSR row pointer")


def sparse_matmul(const floating[::1] data, const Py_ssize_t[::1] indices,
                  const Py_ssize_t[::1] indptr, const floating[:, ::1] b, floating[:, ::1] out):
    """out = X @ b for the CSR matrix X = (data, indices, indptr) of out.shape[0] rows and
    b.shape[0] columns."""
    _check_nonempty(b.shape[0] * b.shape[1], "b")
    _check_nonempty(out.shape[0], "out")
    if out.shape[1] != b.shape[1]:
        raise ValueError(f"out has {out.shape[1]} columns, b has {b.shape[1]}")
    _check_csr(indices, indptr, data.shape[0], out.shape[0], b.shape[0])
    _check_csr_out(data, indices, indptr, b, "b", out)
    with nogil:
        _sparse.csr_matmul(&data[0], &indices[0], &indptr[0], NULL, 0, out.shape[0], &b[0, 0],
                           b.shape[1], &out[0, 0])


def sparse_transpose_matmul(const floating[::1] data, const Py_ssize_t[::1] indices,
                            const Py_ssize_t[::1] indptr, const floating[:, ::1] g,
                            floating[:, ::1] out):
    """out = X.T @ g for the CSR matrix X = (data, indices, indptr) of g.shape[0] rows and
    out.shape[0] columns."""
    _check_nonempty(g.shape[0] * g.shape[1], "g")
    _check_nonempty(out.shape[0], "out")
    if out.shape[1] != g.shape[1]:
        raise ValueError(f"out has {out.shape[1]} columns, g has {g.shape[1]}")
    _check_csr(indices, indptr, data.shape[0], g.shape[0], out.shape[0])
    _check_csr_out(data, indices, indptr, g, "g", out)
    with nogil:
        _gemm.fill_zero(&out[0, 0], out.shape[0] * out.shape[1])
        _sparse.csr_transpose_matmul_add(&data[0], &indices[0], &indptr[0], NULL, 0,
                                         g.shape[0], &g[0, 0], g.shape[1], 1, &out[0, 0])


def bias_add(const floating[:, ::1] z, const floating[::1] bias, floating[:, ::1] out):
    """out[r, c] = z[r, c] + bias[r]."""
    _check_nonempty(z.shape[0] * z.shape[1], "z")
    _check_same_size(bias.shape[0], z.shape[0], "bias")
    if out.shape[0] != z.shape[0] or out.shape[1] != z.shape[1]:
        raise ValueError("bias_add: out must have the shape of z")
    _check_same_or_apart2(z, out, "z")
    _check_apart(&out[0, 0], out.shape[0] * out.shape[1] * sizeof(floating), &bias[0],
                 bias.shape[0] * sizeof(floating), "out", "bias")
    with nogil:
        _activations.bias_add(&z[0, 0], &bias[0], &out[0, 0], z.shape[0], z.shape[1])


# --- hidden activations and output/loss pairs: one entry point each, for every entry ---------
#
# Every hidden activation of cnet.registry runs through activation_forward and
# activation_backward, which dispatch on the entry's code through the enum dispatch of
# _activations.pxd (the training loop's own), and every output/loss pair through output_loss
# and output_loss_grad, which dispatch through _losses.output_gradient: a new registry entry
# needs no entry point here. The per-name functions (relu, relu_backward, squared_error, ...)
# are made from the registry at the end of this module.

_ACTIVATIONS = {entry.code: entry for entry in registry.ACTIVATIONS.values()}
_OUTPUT_LOSSES = {entry.code: entry for entry in registry.OUTPUT_LOSSES.values()}


cdef object _entry(dict table, int code, str what):
    # The dispatches fall through to their last branch on a code they do not know: another
    # function's values, silently.
    entry = table.get(code)
    if entry is None:
        raise ValueError(f"{what} code must be one of {sorted(table)}, got {code}")
    return entry


cdef _check_parameter(entry, double parameter):
    # A loss's parameter (huber's delta) reaches the loop as a bound: NaN, zero or negative
    # would give a wrong loss and gradient silently.
    if entry.parameter is not None and not (0 < parameter < INFINITY):
        raise ValueError(f"{entry.parameter} must be a positive finite number, got "
                         f"{parameter}")


cdef inline bint _same(const void* p, const void* q) noexcept nogil:
    return p == q


cdef void _activate(int code, const floating[::1] z, floating[::1] out) noexcept:
    # The loop's forward dispatch with a zero bias: z + 0 is z (but for the sign of a zero,
    # which no activation tells apart).
    with nogil:
        _activations.activate(&z[0], 0, &out[0], z.shape[0], <_activations.Activation>code)


def activation_forward(int code, const floating[::1] z, floating[::1] out):
    """out = the hidden activation numbered ``code`` in cnet.registry, of z."""
    _entry(_ACTIVATIONS, code, "activation")
    _check_nonempty(z.shape[0], "z")
    _check_same_size(out.shape[0], z.shape[0], "out")
    _check_same_or_apart1(z, out, "z")
    _activate(code, z, out)


def activation_backward(int code, const floating[::1] grad, const floating[::1] x,
                        floating[::1] out):
    """out = the gradient through the hidden activation numbered ``code`` in cnet.registry,
    given the gradient of its output and x: its output a, or its input z where the entry's
    ``backward_reads`` is "input"."""
    entry = _entry(_ACTIVATIONS, code, "activation")
    cdef bint reads_input = entry.backward_reads == "input"
    x_name = "z" if reads_input else "a"
    _check_nonempty(grad.shape[0], "grad")
    _check_same_size(x.shape[0], grad.shape[0], x_name)
    _check_same_size(out.shape[0], grad.shape[0], "out")
    _check_same_or_apart1(grad, out, "grad")
    _check_same_or_apart1(x, out, x_name)
    cdef Py_ssize_t n = grad.shape[0]
    # activation_backward overwrites the activation's output a with the gradient. That a is
    # out, unless out is grad, which it still reads after a has been copied in. An entry that
    # reads its input z never reads a, only writes it element by element: out may be either.
    cdef floating[::1] a = out
    if not reads_input and _same(&out[0], &grad[0]) and not _same(&out[0], &x[0]):
        a = np.empty(n, dtype=np.float32 if floating is float else np.float64)
    with nogil:
        if not reads_input and not _same(&a[0], &x[0]):
            memcpy(&a[0], &x[0], n * sizeof(floating))
        _activations.activation_backward(&grad[0], &a[0], &x[0] if reads_input else NULL, n,
                                         <_activations.Activation>code)
        if not _same(&a[0], &out[0]):
            memcpy(&out[0], &a[0], n * sizeof(floating))


def output_loss(int code, const floating[:, ::1] logits, const floating[:, ::1] y,
                double parameter=1):
    """Mean over samples (columns) of the loss of the output/loss pair numbered ``code`` in
    cnet.registry, summed over outputs (rows), from the output pre-activations; parameter is
    the loss's own (cnet.registry's OutputLoss.parameter), for a loss that has one."""
    entry = _entry(_OUTPUT_LOSSES, code, "output")
    _check_parameter(entry, parameter)
    _check_pair(logits, y, entry.loss_kernel)
    # output_gradient writes the gradient over its input: it gets a copy.
    z = np.array(logits)
    work = np.empty(3 * logits.shape[1], dtype=z.dtype)
    cdef floating[:, ::1] zv = z
    cdef floating[::1] w = work
    cdef double total
    with nogil:
        total = _losses.output_gradient(<_losses.Output>code, &zv[0, 0], &y[0, 0], zv.shape[0],
                                        zv.shape[1], y.shape[1], 1, 1, True, &w[0], NULL,
                                        <floating>parameter)
    return total / logits.shape[1]


def output_loss_grad(int code, const floating[:, ::1] logits, const floating[:, ::1] y,
                     floating[:, ::1] out, double parameter=1):
    """out = the gradient of :func:`output_loss` with respect to the output pre-activations:
    (activation(logits) - y) / n_samples for the cross-entropies and the squared error."""
    entry = _entry(_OUTPUT_LOSSES, code, "output")
    _check_parameter(entry, parameter)
    name = f"{entry.loss_kernel}_grad"
    _check_pair(logits, y, name)
    _check_pair(logits, out, f"{name} (out)")
    _check_targets_apart(logits, y, out)
    work = np.empty(3 * logits.shape[1], dtype=np.asarray(out).dtype)
    cdef floating[::1] w = work
    out[...] = logits
    with nogil:
        _losses.output_gradient(<_losses.Output>code, &out[0, 0], &y[0, 0], out.shape[0],
                                out.shape[1], y.shape[1], 1, 1 / <floating>out.shape[1], False,
                                &w[0], NULL, <floating>parameter)


cdef _check_pair(const floating[:, ::1] z, const floating[:, ::1] y, str name):
    if y.shape[0] != z.shape[0] or y.shape[1] != z.shape[1]:
        raise ValueError(f"{name}: y must have the shape of the outputs")
    _check_nonempty(z.shape[0] * z.shape[1], name)


cdef _check_same_or_apart1(const floating[::1] x, floating[::1] out, str name):
    # Called after the size checks: both views are non-empty and of one length.
    _check_apart(&out[0], out.shape[0] * sizeof(floating), &x[0],
                 x.shape[0] * sizeof(floating), "out", name, True)


cdef _check_same_or_apart2(const floating[:, ::1] x, floating[:, ::1] out, str name):
    _check_apart(&out[0, 0], out.shape[0] * out.shape[1] * sizeof(floating), &x[0, 0],
                 x.shape[0] * x.shape[1] * sizeof(floating), "out", name, True)


cdef _check_targets_apart(const floating[:, ::1] z, const floating[:, ::1] y,
                          floating[:, ::1] out):
    # The loss gradients copy z into out, then read y while they write out.
    cdef Py_ssize_t size = out.shape[0] * out.shape[1] * sizeof(floating)
    _check_same_or_apart2(z, out, "the outputs")
    _check_apart(&out[0, 0], size, &y[0, 0], size, "out", "y")


cdef _check_updates_apart(floating[::1] param, const floating[::1] grad, first, second,
                          str first_name, str second_name):
    # The updates write param and the optimizer state while reading the gradient and each
    # other, element by element but in an order the formulas do not promise: nothing may
    # overlap. Called after the size checks: every view is non-empty and as long as param.
    cdef Py_ssize_t size = param.shape[0] * sizeof(floating)
    buffers = [("param", param), ("grad", grad)]
    if first is not None:
        buffers.append((first_name, first))
    if second is not None:
        buffers.append((second_name, second))
    cdef Py_ssize_t i, j
    cdef const floating[::1] u, v
    for i in range(len(buffers)):
        for j in range(i + 1, len(buffers)):
            u = buffers[i][1]
            v = buffers[j][1]
            _check_apart(&u[0], size, &v[0], size, buffers[i][0], buffers[j][0])


def softmax(const floating[:, ::1] z, floating[:, ::1] out):
    """out[:, j] = softmax(z[:, j]) for every sample (column) j."""
    _check_pair(z, out, "softmax (out)")
    _check_same_or_apart2(z, out, "z")
    work = np.empty(2 * z.shape[1], dtype=np.asarray(z).dtype)
    cdef floating[::1] w = work
    out[...] = z
    with nogil:
        _losses.softmax_columns(&out[0, 0], out.shape[0], out.shape[1], &w[0])


def bias_grad(const floating[:, ::1] dz, floating[::1] out):
    """out[r] = sum over samples of dz[r, :]."""
    _check_nonempty(dz.shape[0] * dz.shape[1], "dz")
    _check_same_size(out.shape[0], dz.shape[0], "out")
    _check_apart(&out[0], out.shape[0] * sizeof(floating), &dz[0, 0],
                 dz.shape[0] * dz.shape[1] * sizeof(floating), "out", "dz")
    with nogil:
        _updates.row_sums(&dz[0, 0], dz.shape[0], dz.shape[1], &out[0])


def momentum_update(floating[::1] param, const floating[::1] grad, floating[::1] velocity,
                    double learning_rate, double momentum, bint nesterov=False):
    """One SGD step with (Nesterov) momentum, in place on param and velocity."""
    _check_nonempty(param.shape[0], "param")
    _check_same_size(grad.shape[0], param.shape[0], "grad")
    _check_same_size(velocity.shape[0], param.shape[0], "velocity")
    _check_updates_apart(param, grad, velocity, None, "velocity", None)
    with nogil:
        _updates.momentum_update(&param[0], &grad[0], &velocity[0], <floating>learning_rate,
                                 <floating>momentum, nesterov, param.shape[0])


def adam_update(floating[::1] param, const floating[::1] grad, floating[::1] first_moment,
                floating[::1] second_moment, double step_size, double beta_1, double beta_2,
                double epsilon):
    """One Adam step, in place on param and both moments."""
    _check_nonempty(param.shape[0], "param")
    _check_same_size(grad.shape[0], param.shape[0], "grad")
    _check_same_size(first_moment.shape[0], param.shape[0], "first_moment")
    _check_same_size(second_moment.shape[0], param.shape[0], "second_moment")
    _check_updates_apart(param, grad, first_moment, second_moment, "first_moment",
                         "second_moment")
    with nogil:
        _updates.adam_update(&param[0], &grad[0], &first_moment[0], &second_moment[0],
                             <floating>step_size, <floating>beta_1, <floating>beta_2,
                             <floating>epsilon, param.shape[0])


def sgd_update(floating[::1] param, const floating[::1] grad, double learning_rate):
    """param -= learning_rate * grad, in place."""
    _check_nonempty(param.shape[0], "param")
    _check_same_size(grad.shape[0], param.shape[0], "grad")
    _check_updates_apart(param, grad, None, None, None, None)
    with nogil:
        _updates.sgd_update(&param[0], &grad[0], <floating>learning_rate, param.shape[0])


def exp_nonpositive(const floating[::1] x, floating[::1] out):
    """out = exp(x) for x <= 0 by cnet's vectorizable exp (for its accuracy test).

    Positive x gives meaningless values: the training loop never passes any.
    """
    cdef Py_ssize_t i
    _check_same_size(out.shape[0], x.shape[0], "out")
    if x.shape[0]:
        _check_same_or_apart1(x, out, "x")
    with nogil:
        for i in range(x.shape[0]):
            out[i] = _exp.exp_nonpositive(x[i])


def log1p_unit(const floating[::1] x, floating[::1] out):
    """out = log(1 + x) for 0 <= x <= 1 by cnet's vectorizable log1p (for its accuracy test).

    x outside [0, 1] gives meaningless values: the loss loops never pass any.
    """
    cdef Py_ssize_t i
    _check_same_size(out.shape[0], x.shape[0], "out")
    if x.shape[0]:
        _check_same_or_apart1(x, out, "x")
    with nogil:
        for i in range(x.shape[0]):
            out[i] = _log.log1p_unit(x[i])


def dropout_mask(floating[::1] out, double rate, uint64_t counter):
    """out[e] = 1 / (1 - rate) where element e is kept, 0 where dropped (counter-based)."""
    if not 0 <= rate < 1:
        raise ValueError(f"rate must be in [0, 1), got {rate}")
    _check_nonempty(out.shape[0], "out")
    with nogil:
        _dropout.dropout_mask(&out[0], out.shape[0], rate, counter)


# --- the per-name entry points, made from the registry ----------------------------------------
#
# relu(z, out), relu_backward(grad, a, out), ..., squared_error(pred, y),
# squared_error_grad(pred, y, out), ...: the generic entry points above with the entry's code
# bound, under the names cnet.kernels and cnet.reference use. A loss on an identity output
# names its input pred, the others logits, as the kernels always have.

def _activation_entry_points(code):
    def forward(z, out):
        return activation_forward(code, z, out)

    def backward_from_output(grad, a, out):
        return activation_backward(code, grad, a, out)

    def backward_from_input(grad, z, out):
        return activation_backward(code, grad, z, out)

    return forward, backward_from_output, backward_from_input


def _loss_entry_points(code):
    def loss(logits, y):
        return output_loss(code, logits, y)

    def loss_grad(logits, y, out):
        return output_loss_grad(code, logits, y, out)

    def pred_loss(pred, y):
        return output_loss(code, pred, y)

    def pred_loss_grad(pred, y, out):
        return output_loss_grad(code, pred, y, out)

    return loss, loss_grad, pred_loss, pred_loss_grad


def _named(function, name, doc):
    function.__name__ = function.__qualname__ = name
    function.__doc__ = doc
    return function


def _make_named_entry_points():
    made = {}
    for entry in registry.ACTIVATIONS.values():
        forward, from_output, from_input = _activation_entry_points(entry.code)
        reads = "z" if entry.backward_reads == "input" else "a"
        made[entry.name] = _named(forward, entry.name, f"out = {entry.formula}.")
        made[f"{entry.name}_backward"] = _named(
            from_input if reads == "z" else from_output, f"{entry.name}_backward",
            f"out = grad * ({entry.derivative}), the gradient through {entry.name} given {reads}.")
    for entry in registry.OUTPUT_LOSSES.values():
        loss, loss_grad, pred_loss, pred_loss_grad = _loss_entry_points(entry.code)
        if entry.output_activation == "identity":
            loss, loss_grad = pred_loss, pred_loss_grad
        made[entry.loss_kernel] = _named(
            loss, entry.loss_kernel, f"Mean over samples (columns) of {entry.formula}.")
        made[f"{entry.loss_kernel}_grad"] = _named(
            loss_grad, f"{entry.loss_kernel}_grad",
            f"out = the gradient of {entry.loss_kernel} with respect to the outputs.")
    return made


globals().update(_make_named_entry_points())
