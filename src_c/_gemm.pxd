# Matrix multiply on raw row-major buffers: C = alpha op(A) @ op(B) + beta C, with op the
# identity or the transpose and beta 0 or 1. beta = 1, alpha = -learning_rate lets the training
# loop apply a gradient step to the weights inside the product that computes the gradient.
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
    # M * N * K at and above which BLAS is faster than the hand-written loops. Measured on a
    # 2-core AVX-512 x86-64 (benchmarks/gemm_crossover.py): OpenBLAS dispatches wide vector
    # kernels at run time while the portable loops are SSE2, so BLAS wins early.
    GEMM_BLAS_MIN_WORK = 4096


cdef inline bint gemm_uses_blas(Py_ssize_t m, Py_ssize_t n, Py_ssize_t k) noexcept nogil:
    return m * n * k >= GEMM_BLAS_MIN_WORK


cdef inline floating dot(const floating* x, const floating* y, Py_ssize_t n) noexcept nogil:
    # Eight accumulators: gcc pairs them into four vector registers, enough independent
    # addition chains to hide the adder's latency.
    cdef floating s0 = 0, s1 = 0, s2 = 0, s3 = 0, s4 = 0, s5 = 0, s6 = 0, s7 = 0
    cdef Py_ssize_t i, n8 = n - n % 8
    for i in range(0, n8, 8):
        s0 += x[i] * y[i]
        s1 += x[i + 1] * y[i + 1]
        s2 += x[i + 2] * y[i + 2]
        s3 += x[i + 3] * y[i + 3]
        s4 += x[i + 4] * y[i + 4]
        s5 += x[i + 5] * y[i + 5]
        s6 += x[i + 6] * y[i + 6]
        s7 += x[i + 7] * y[i + 7]
    for i in range(n8, n):
        s0 += x[i] * y[i]
    return ((s0 + s1) + (s2 + s3)) + ((s4 + s5) + (s6 + s7))


cdef inline void combine4(floating a0, const floating* x0, floating a1, const floating* x1,
                          floating a2, const floating* x2, floating a3, const floating* x3,
                          floating* y, Py_ssize_t n, bint accumulate) noexcept nogil:
    # y (+)= a0 x0 + a1 x1 + a2 x2 + a3 x3: four row updates for one read and write of y.
    cdef Py_ssize_t j
    if accumulate:
        for j in range(n):
            y[j] += (a0 * x0[j] + a1 * x1[j]) + (a2 * x2[j] + a3 * x3[j])
    else:
        for j in range(n):
            y[j] = (a0 * x0[j] + a1 * x1[j]) + (a2 * x2[j] + a3 * x3[j])


cdef inline void combine2(floating a0, const floating* x0, floating a1, const floating* x1,
                          floating* y, Py_ssize_t n, bint accumulate) noexcept nogil:
    cdef Py_ssize_t j
    if accumulate:
        for j in range(n):
            y[j] += a0 * x0[j] + a1 * x1[j]
    else:
        for j in range(n):
            y[j] = a0 * x0[j] + a1 * x1[j]


cdef inline void combine1(floating a0, const floating* x0, floating* y, Py_ssize_t n,
                          bint accumulate) noexcept nogil:
    cdef Py_ssize_t j
    if accumulate:
        for j in range(n):
            y[j] += a0 * x0[j]
    else:
        for j in range(n):
            y[j] = a0 * x0[j]


cdef inline void row_combination(const floating* coef, Py_ssize_t coef_stride,
                                 const floating* rows, Py_ssize_t ld, Py_ssize_t k,
                                 floating alpha, floating* y, Py_ssize_t n,
                                 bint accumulate) noexcept nogil:
    # y (+)= alpha * sum_p coef[p * coef_stride] * rows[p * ld : p * ld + n], four rows at a
    # time; the first pass writes y unless accumulating, so y needs no zeroing.
    cdef Py_ssize_t p = 0
    while p + 4 <= k:
        combine4(alpha * coef[p * coef_stride], rows + p * ld,
                 alpha * coef[(p + 1) * coef_stride], rows + (p + 1) * ld,
                 alpha * coef[(p + 2) * coef_stride], rows + (p + 2) * ld,
                 alpha * coef[(p + 3) * coef_stride], rows + (p + 3) * ld, y, n, accumulate)
        accumulate = True
        p += 4
    if p + 2 <= k:
        combine2(alpha * coef[p * coef_stride], rows + p * ld,
                 alpha * coef[(p + 1) * coef_stride], rows + (p + 1) * ld, y, n, accumulate)
        accumulate = True
        p += 2
    if p < k:
        combine1(alpha * coef[p * coef_stride], rows + p * ld, y, n, accumulate)


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
                            floating alpha, const floating* a, Py_ssize_t lda,
                            const floating* b, Py_ssize_t ldb,
                            bint accumulate, floating* c, Py_ssize_t ldc) noexcept nogil:
    # accumulate: beta = 1 (add to C), else beta = 0 (overwrite C).
    cdef Py_ssize_t i, j, p
    cdef floating* c_row
    if not trans_b:
        # NN: A is m x k; TN: A is k x m. Either way C[i, :] (+)= sum_p op(A)[i, p] B[p, :].
        for i in range(m):
            if trans_a:
                row_combination(a + i, lda, b, ldb, k, alpha, c + i * ldc, n, accumulate)
            else:
                row_combination(a + i * lda, 1, b, ldb, k, alpha, c + i * ldc, n, accumulate)
    elif not trans_a:
        # NT: C[i, j] is the dot product of row i of A and row j of B.
        for i in range(m):
            for j in range(n):
                c[i * ldc + j] = (c[i * ldc + j] if accumulate else 0) + alpha * dot(
                    a + i * lda, b + j * ldb, k)
    elif k <= n:
        # TT: C[i, j] = sum_p A[p, i] * B[j, p]. With a short inner dimension the row update
        # along j, stride ldb, is the long loop...
        for i in range(m):
            c_row = c + i * ldc
            if not accumulate:
                fill_zero(c_row, n)
            for p in range(k):
                axpy_strided(alpha * a[p * lda + i], b + p, ldb, c_row, n)
    else:
        # ...and with a long one the sum over p is.
        for i in range(m):
            for j in range(n):
                c[i * ldc + j] = (c[i * ldc + j] if accumulate else 0) + alpha * dot_strided(
                    a + i, lda, b + j * ldb, k)


cdef inline void gemm_blas(bint trans_a, bint trans_b, Py_ssize_t m, Py_ssize_t n, Py_ssize_t k,
                           floating alpha, const floating* a, Py_ssize_t lda,
                           const floating* b, Py_ssize_t ldb,
                           bint accumulate, floating* c, Py_ssize_t ldc) noexcept nogil:
    # BLAS is column-major: a row-major matrix reads as its transpose there, so the row-major
    # C = op(A) op(B) is computed as the column-major C^T = op(B)^T op(A)^T.
    cdef char ta = b'T' if trans_b else b'N'
    cdef char tb = b'T' if trans_a else b'N'
    cdef int im = <int>n, in_ = <int>m, ik = <int>k
    cdef int ilda = <int>ldb, ildb = <int>lda, ildc = <int>ldc
    cdef floating beta = 1 if accumulate else 0
    if floating is double:
        dgemm(&ta, &tb, &im, &in_, &ik, &alpha, <double*>b, &ilda, <double*>a, &ildb,
              &beta, c, &ildc)
    else:
        sgemm(&ta, &tb, &im, &in_, &ik, &alpha, <float*>b, &ilda, <float*>a, &ildb,
              &beta, c, &ildc)


cdef inline void gemm(bint trans_a, bint trans_b, Py_ssize_t m, Py_ssize_t n, Py_ssize_t k,
                      floating alpha, const floating* a, Py_ssize_t lda,
                      const floating* b, Py_ssize_t ldb,
                      bint accumulate, floating* c, Py_ssize_t ldc) noexcept nogil:
    if gemm_uses_blas(m, n, k):
        gemm_blas(trans_a, trans_b, m, n, k, alpha, a, lda, b, ldb, accumulate, c, ldc)
    else:
        gemm_small(trans_a, trans_b, m, n, k, alpha, a, lda, b, ldb, accumulate, c, ldc)
