# Matrix multiply on raw row-major buffers: C = op(A) @ op(B), op = identity or transpose.
#
# Two paths. Small products run hand-written loops, because a BLAS call costs about a
# microsecond before it does any work, which is more than the whole product of the seed
# network's layers. Above GEMM_BLAS_MIN_WORK multiply-adds the product goes to BLAS through
# scipy.linalg.cython_blas. The crossover was measured with benchmarks/gemm_crossover.py.
#
# Each hand-written variant keeps its innermost loop on a contiguous row, so that the compiler
# vectorizes it: NN and TN are row updates C[i, :] += a * B[k, :]; NT is a dot product of two
# rows; TT is strided and only used with a short inner dimension (the network's input layer).
#
# Callers guarantee the shapes: the functions here check nothing.

from cython cimport floating
from scipy.linalg.cython_blas cimport dgemm, sgemm

cdef enum:
    # M * N * K at and above which BLAS is faster than the hand-written loops (2-core x86-64).
    GEMM_BLAS_MIN_WORK = 32768


cdef inline bint gemm_uses_blas(Py_ssize_t m, Py_ssize_t n, Py_ssize_t k) noexcept nogil:
    return m * n * k >= GEMM_BLAS_MIN_WORK


cdef inline floating dot(const floating* x, const floating* y, Py_ssize_t n) noexcept nogil:
    # Four accumulators break the dependency chain of the additions.
    cdef floating s0 = 0, s1 = 0, s2 = 0, s3 = 0
    cdef Py_ssize_t i = 0
    while i + 4 <= n:
        s0 += x[i] * y[i]
        s1 += x[i + 1] * y[i + 1]
        s2 += x[i + 2] * y[i + 2]
        s3 += x[i + 3] * y[i + 3]
        i += 4
    while i < n:
        s0 += x[i] * y[i]
        i += 1
    return (s0 + s1) + (s2 + s3)


cdef inline void axpy(floating a, const floating* x, floating* y, Py_ssize_t n) noexcept nogil:
    cdef Py_ssize_t j
    for j in range(n):
        y[j] += a * x[j]


cdef inline void axpy_strided(floating a, const floating* x, Py_ssize_t incx,
                              floating* y, Py_ssize_t n) noexcept nogil:
    cdef Py_ssize_t j
    for j in range(n):
        y[j] += a * x[j * incx]


cdef inline floating dot_strided(const floating* x, Py_ssize_t incx, const floating* y,
                                 Py_ssize_t n) noexcept nogil:
    cdef floating s0 = 0, s1 = 0
    cdef Py_ssize_t i = 0
    while i + 2 <= n:
        s0 += x[i * incx] * y[i]
        s1 += x[(i + 1) * incx] * y[i + 1]
        i += 2
    if i < n:
        s0 += x[i * incx] * y[i]
    return s0 + s1


cdef inline void fill_zero(floating* x, Py_ssize_t n) noexcept nogil:
    cdef Py_ssize_t j
    for j in range(n):
        x[j] = 0


cdef inline void gemm_small(bint trans_a, bint trans_b, Py_ssize_t m, Py_ssize_t n, Py_ssize_t k,
                            const floating* a, Py_ssize_t lda,
                            const floating* b, Py_ssize_t ldb,
                            floating* c, Py_ssize_t ldc) noexcept nogil:
    cdef Py_ssize_t i, j, p
    cdef floating* c_row
    if not trans_b:
        # NN: A is m x k; TN: A is k x m. Either way C[i, :] = sum_p op(A)[i, p] * B[p, :].
        for i in range(m):
            c_row = c + i * ldc
            fill_zero(c_row, n)
            for p in range(k):
                axpy(a[p * lda + i] if trans_a else a[i * lda + p], b + p * ldb, c_row, n)
    elif not trans_a:
        # NT: C[i, j] is the dot product of row i of A and row j of B.
        for i in range(m):
            for j in range(n):
                c[i * ldc + j] = dot(a + i * lda, b + j * ldb, k)
    elif k <= n:
        # TT: C[i, j] = sum_p A[p, i] * B[j, p]. With a short inner dimension (the input layer's
        # forward pass) the row update along j, stride ldb, is the long loop...
        for i in range(m):
            c_row = c + i * ldc
            fill_zero(c_row, n)
            for p in range(k):
                axpy_strided(a[p * lda + i], b + p, ldb, c_row, n)
    else:
        # ...and with a long one (the input layer's weight gradient) the sum over p is.
        for i in range(m):
            for j in range(n):
                c[i * ldc + j] = dot_strided(a + i, lda, b + j * ldb, k)


cdef inline void gemm_blas(bint trans_a, bint trans_b, Py_ssize_t m, Py_ssize_t n, Py_ssize_t k,
                           const floating* a, Py_ssize_t lda,
                           const floating* b, Py_ssize_t ldb,
                           floating* c, Py_ssize_t ldc) noexcept nogil:
    # BLAS is column-major: a row-major matrix reads as its transpose there, so the row-major
    # C = op(A) op(B) is computed as the column-major C^T = op(B)^T op(A)^T.
    cdef char ta = b'T' if trans_b else b'N'
    cdef char tb = b'T' if trans_a else b'N'
    cdef int im = <int>n, in_ = <int>m, ik = <int>k
    cdef int ilda = <int>ldb, ildb = <int>lda, ildc = <int>ldc
    cdef floating one = 1, zero = 0
    if floating is double:
        dgemm(&ta, &tb, &im, &in_, &ik, &one, <double*>b, &ilda, <double*>a, &ildb,
              &zero, c, &ildc)
    else:
        sgemm(&ta, &tb, &im, &in_, &ik, &one, <float*>b, &ilda, <float*>a, &ildb,
              &zero, c, &ildc)


cdef inline void gemm(bint trans_a, bint trans_b, Py_ssize_t m, Py_ssize_t n, Py_ssize_t k,
                      const floating* a, Py_ssize_t lda,
                      const floating* b, Py_ssize_t ldb,
                      floating* c, Py_ssize_t ldc) noexcept nogil:
    if gemm_uses_blas(m, n, k):
        gemm_blas(trans_a, trans_b, m, n, k, a, lda, b, ldb, c, ldc)
    else:
        gemm_small(trans_a, trans_b, m, n, k, a, lda, b, ldb, c, ldc)
