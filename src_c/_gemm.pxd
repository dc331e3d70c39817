# Matrix multiply on raw row-major buffers: C = alpha op(A) @ op(B) + beta C, with op the
# identity or the transpose and beta 0 or 1. beta = 1, alpha = -learning_rate lets the training
# loop apply a gradient step to the weights inside the product that computes the gradient.
#
# Two paths. Small products run hand-written loops, because a BLAS call costs about a
# microsecond before it does any work, which is more than the whole product of the seed
# network's layers. Above GEMM_BLAS_MIN_WORK multiply-adds the product goes to BLAS through
# scipy.linalg.cython_blas, unless it is skinny (gemm_skinny): a short inner dimension, a
# single row or column of C. Such a product does a few multiply-adds per element it reads or
# writes, so it runs at the speed of memory whatever computes it, and BLAS adds its copies of
# A and B into panels (40% of the time of the [2, H, 1] networks' products) and, above
# OpenBLAS's one-thread bound, threads that a busy machine makes wait; the loops stream it
# once on the calling thread at any size. Which forms and dimensions count as skinny depends
# on the loops: they run along rows of C (NN, TN, TT) or along k (NT). The crossovers were
# measured with benchmarks/gemm_crossover.py, and depend on the shape and form alone.
#
# BLAS threads (item "a busy machine" of the README's "When things go wrong"). OpenBLAS runs a
# product on the calling thread when m * n * k is at most 65536 * GEMM_MULTITHREAD_THRESHOLD
# (4 by default: OPENBLAS_ONE_THREAD_WORK) and on all its threads above. Products a little above
# that bound are where a second thread does not pay: on a quiet machine it gains little, and
# when the other cores are busy the threads spin waiting for each other (a digits10 fit took
# 3.6x longer). So products below GEMM_PARALLEL_MIN_WORK are split into blocks of rows (or
# columns) of C, each within the bound: they stay on the calling thread without touching
# OpenBLAS's thread count, which is process-wide. Only the rows or columns of C are split,
# never the inner dimension; OpenBLAS may still compute small blocks with kernels that round
# differently from those of the whole product (last bits; digits10's products in float64 are
# bitwise one call). The split depends on the shape alone, so a fit stays reproducible.
# Larger products use the threads OpenBLAS is allowed
# (threadpoolctl's limits); cnet/_blas_threads.py holds it at one thread while several cnet
# loops run or the machine is busy.
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
    # OpenBLAS's own bound for running a product on the calling thread, in a default build
    # (scipy's 0.3.30 wheel keeps products up to 491520 on one thread; others may use 262144).
    OPENBLAS_ONE_THREAD_WORK = 262144
    # At and above this work a product may use OpenBLAS's threads; below it, the split into
    # blocks costs at most 16 BLAS calls. Where a second core pays is to be measured on a quiet
    # machine with benchmarks/gemm_crossover.py --threads: on the shared 2-core machine of
    # 3 December 2026 (load average 7) two threads lost on every product up to 4M
    # multiply-adds, by 30x to 300x, and won only now and then above (1.5x to 5x at 8M-17M).
    GEMM_PARALLEL_MIN_WORK = 4194304
    # Skinny products, which the hand-written loops compute whatever their size (see
    # gemm_skinny): an inner dimension at most this in the row-update forms (NN, TN, TT)...
    GEMM_SKINNY_K = 4
    # ...and the loops' long dimension (rows of C there, k in NT) at least this: over 16
    # elements they lost to BLAS by 1.2-2x (benchmarks/gemm_crossover.py, skinny table).
    GEMM_SKINNY_MIN_LOOP = 64
    # Elements (float64; twice as many float32) of the panel into which TT copies a block of
    # B's columns: half a 32 KiB L1 cache.
    GEMM_TT_PANEL = 2048


cdef extern from *:
    """
    /* Whether gemm splits products below GEMM_PARALLEL_MIN_WORK to keep them on the calling
       thread. One flag per compiled module; only benchmarks and tests turn it off, to compare
       with OpenBLAS choosing alone. */
    static int cnet_gemm_one_thread_split = 1;
    static void cnet_gemm_set_one_thread_split(int on) { cnet_gemm_one_thread_split = on; }
    static int cnet_gemm_get_one_thread_split(void) { return cnet_gemm_one_thread_split; }
    """
    void gemm_set_one_thread_split "cnet_gemm_set_one_thread_split"(int on) noexcept nogil
    int gemm_get_one_thread_split "cnet_gemm_get_one_thread_split"() noexcept nogil


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


cdef extern from *:
    """
    #include <string.h>
    /* Four dot products of one row x with rows y0..y3, in one pass over x: each summed as
       dot() below sums it (eight lanes, the remainder into lane 0, the same folding tree),
       so a product gives the same numbers whichever of the two computes it. One dot product
       is one chain of dependent additions, which leaves the adder waiting on its latency;
       four chains keep it busy. Written with GCC's vector types (also clang's) because the
       compiler left the same code in scalar variables unvectorized. */
    /* The eight lanes as whole machine vectors: 256-bit where the build has AVX, else
       128-bit (GCC handles a vector wider than the target's through memory). */
    #ifdef __AVX__
    typedef double cnet_vd __attribute__((vector_size(32)));
    typedef float cnet_vf __attribute__((vector_size(32)));
    #define CNET_VD_PER_8 2
    #define CNET_VF_PER_8 1
    #else
    typedef double cnet_vd __attribute__((vector_size(16)));
    typedef float cnet_vf __attribute__((vector_size(16)));
    #define CNET_VD_PER_8 4
    #define CNET_VF_PER_8 2
    #endif
    #define CNET_FOLD8(l) (((l[0] + l[1]) + (l[2] + l[3])) + ((l[4] + l[5]) + (l[6] + l[7])))
    #define CNET_DOT4(NAME, T, V, NV)                                                    \
    static inline void NAME(const T* x, const T* y0, const T* y1, const T* y2,          \
                            const T* y3, Py_ssize_t n, T* out) {                         \
        const int w = 8 / NV;                                                            \
        V s0[NV], s1[NV], s2[NV], s3[NV], u, v;                                         \
        T l0[8], l1[8], l2[8], l3[8];                                                    \
        Py_ssize_t i, n8 = n - n % 8;                                                    \
        int h;                                                                           \
        for (h = 0; h < NV; h++) {                                                       \
            s0[h] = (V){0}; s1[h] = (V){0}; s2[h] = (V){0}; s3[h] = (V){0};             \
        }                                                                                \
        for (i = 0; i < n8; i += 8) {                                                    \
            for (h = 0; h < NV; h++) {                                                   \
                memcpy(&u, x + i + h * w, sizeof u);                                     \
                memcpy(&v, y0 + i + h * w, sizeof v); s0[h] += u * v;                    \
                memcpy(&v, y1 + i + h * w, sizeof v); s1[h] += u * v;                    \
                memcpy(&v, y2 + i + h * w, sizeof v); s2[h] += u * v;                    \
                memcpy(&v, y3 + i + h * w, sizeof v); s3[h] += u * v;                    \
            }                                                                            \
        }                                                                                \
        memcpy(l0, s0, sizeof l0); memcpy(l1, s1, sizeof l1);                            \
        memcpy(l2, s2, sizeof l2); memcpy(l3, s3, sizeof l3);                            \
        for (i = n8; i < n; i++) {                                                       \
            l0[0] += x[i] * y0[i]; l1[0] += x[i] * y1[i];                                \
            l2[0] += x[i] * y2[i]; l3[0] += x[i] * y3[i];                                \
        }                                                                                \
        out[0] = CNET_FOLD8(l0); out[1] = CNET_FOLD8(l1);                                \
        out[2] = CNET_FOLD8(l2); out[3] = CNET_FOLD8(l3);                                \
    }
    CNET_DOT4(cnet_dot4_double, double, cnet_vd, CNET_VD_PER_8)
    CNET_DOT4(cnet_dot4_float, float, cnet_vf, CNET_VF_PER_8)
    """
    void dot4_double "cnet_dot4_double"(const double* x, const double* y0, const double* y1,
                                        const double* y2, const double* y3, Py_ssize_t n,
                                        double* out) noexcept nogil
    void dot4_float "cnet_dot4_float"(const float* x, const float* y0, const float* y1,
                                      const float* y2, const float* y3, Py_ssize_t n,
                                      float* out) noexcept nogil


cdef inline void dot4(const floating* x, const floating* y, Py_ssize_t ldy, Py_ssize_t n,
                      floating* out) noexcept nogil:
    """out[q] = dot(x, y + q * ldy, n) for q in 0..3."""
    if floating is double:
        dot4_double(x, y, y + ldy, y + 2 * ldy, y + 3 * ldy, n, out)
    else:
        dot4_float(x, y, y + ldy, y + 2 * ldy, y + 3 * ldy, n, out)


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
    cdef Py_ssize_t i, j, p, q, j0, jb, jb_max
    cdef floating four[4]
    cdef floating* c_row
    # TT's panel: the size of an L1 cache's half in float64, so that it stays there while
    # every row of C reads it.
    cdef double panel_space[GEMM_TT_PANEL]
    cdef floating* panel = <floating*>panel_space
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
            j = 0
            while j + 4 <= n:
                dot4(a + i * lda, b + j * ldb, ldb, k, four)
                for q in range(4):
                    c[i * ldc + j + q] = (c[i * ldc + j + q] if accumulate else 0) + (
                        alpha * four[q])
                j += 4
            while j < n:
                c[i * ldc + j] = (c[i * ldc + j] if accumulate else 0) + alpha * dot(
                    a + i * lda, b + j * ldb, k)
                j += 1
    elif k <= GEMM_TT_PANEL // 16:
        # TT: C[i, j] = sum_p A[p, i] * B[j, p], B's columns strided. A block of them is
        # copied into a contiguous k x jb panel, then each row of C is updated from it as in
        # TN: the strided reads happen once per block instead of once per row of C.
        jb_max = GEMM_TT_PANEL // k
        j0 = 0
        while j0 < n:
            jb = min(jb_max, n - j0)
            for j in range(jb):
                for p in range(k):
                    panel[p * jb + j] = b[(j0 + j) * ldb + p]
            for i in range(m):
                row_combination(a + i, lda, panel, jb, k, alpha, c + i * ldc + j0, jb,
                                accumulate)
            j0 += jb
    elif k <= n:
        # TT with a long inner dimension: the row update along j, stride ldb, when it is the
        # longer loop...
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


cdef enum GemmPath:
    # How gemm computes a product of a given size (see the top of this file).
    GEMM_SMALL = 0           # the hand-written loops
    GEMM_BLAS_ONE_CALL = 1   # one BLAS call, which OpenBLAS keeps on the calling thread
    GEMM_BLAS_SPLIT = 2      # BLAS calls on blocks of C, each kept on the calling thread
    GEMM_BLAS_THREADS = 3    # one BLAS call with the threads OpenBLAS is allowed


cdef inline Py_ssize_t split_step(Py_ssize_t n, Py_ssize_t k) noexcept nogil:
    # Rows of C (of n columns, inner dimension k) per block such that a block's work stays
    # within OpenBLAS's one-thread bound, a multiple of 16; 0 if 16 rows exceed it. Blocks
    # that start on a multiple of every kernel unroll (OpenBLAS's are 2 to 16 rows) cut C
    # where its own tiles do, so no element moves to an edge kernel that sums differently
    # (blocks of 26 rows changed last bits in float64).
    cdef Py_ssize_t rows = OPENBLAS_ONE_THREAD_WORK // (n * k)
    return rows - rows % 16


cdef inline bint gemm_skinny(bint trans_a, bint trans_b, Py_ssize_t m, Py_ssize_t n,
                             Py_ssize_t k) noexcept nogil:
    # Products in which BLAS has nothing to reuse: each element of A or of B enters a few
    # multiply-adds only, so the product runs at the speed of memory, and OpenBLAS's copies
    # of A and B into panels (and its threads) cost more than they save. The hand-written
    # loops stream them once, one-threaded, at any size.
    if trans_b and not trans_a:
        # NT, dot products along k: C one or two columns (matrix-vector products), or one or
        # two rows (B read twice, as BLAS reads it once plus its copy).
        return k >= GEMM_SKINNY_MIN_LOOP and (n <= 2 or m <= 2)
    # NN, TN, TT, row updates along the rows of C: a short inner dimension (a few passes
    # over C; TT copies B's block once), or one or two rows of C (one combined pass over B
    # each).
    return n >= GEMM_SKINNY_MIN_LOOP and (k <= GEMM_SKINNY_K or (m <= 2 and not trans_b))


cdef inline GemmPath gemm_path(bint trans_a, bint trans_b, Py_ssize_t m, Py_ssize_t n,
                               Py_ssize_t k) noexcept nogil:
    # The shape and the form alone decide, so a fit stays reproducible.
    cdef Py_ssize_t work = m * n * k
    if work < GEMM_BLAS_MIN_WORK or gemm_skinny(trans_a, trans_b, m, n, k):
        return GEMM_SMALL
    if work <= OPENBLAS_ONE_THREAD_WORK:
        return GEMM_BLAS_ONE_CALL
    if (work < GEMM_PARALLEL_MIN_WORK and gemm_get_one_thread_split()
            and (split_step(n, k) > 0 or split_step(m, k) > 0)):
        return GEMM_BLAS_SPLIT
    return GEMM_BLAS_THREADS


cdef inline bint gemm_uses_blas(bint trans_a, bint trans_b, Py_ssize_t m, Py_ssize_t n,
                                Py_ssize_t k) noexcept nogil:
    return gemm_path(trans_a, trans_b, m, n, k) != GEMM_SMALL


cdef inline bint gemm_layer_may_use_threads(Py_ssize_t n_in, Py_ssize_t n_out,
                                            Py_ssize_t m) noexcept nogil:
    # Whether any product of a dense layer over m samples may: the forward one (TN, or TT
    # reading samples x features), the error to the layer below (NN) and the weight gradient
    # (NT, or TT).
    return (gemm_path(True, False, n_out, m, n_in) == GEMM_BLAS_THREADS
            or gemm_path(True, True, n_out, m, n_in) == GEMM_BLAS_THREADS
            or gemm_path(False, False, n_in, m, n_out) == GEMM_BLAS_THREADS
            or gemm_path(False, True, n_in, n_out, m) == GEMM_BLAS_THREADS
            or gemm_path(True, True, n_in, n_out, m) == GEMM_BLAS_THREADS)


cdef inline void gemm_blas_split(bint trans_a, bint trans_b, Py_ssize_t m, Py_ssize_t n,
                                 Py_ssize_t k, floating alpha, const floating* a, Py_ssize_t lda,
                                 const floating* b, Py_ssize_t ldb,
                                 bint accumulate, floating* c, Py_ssize_t ldc) noexcept nogil:
    # Blocks of rows of C (rows of op(A)) when a row fits the bound, else blocks of columns
    # (columns of op(B)); gemm_path guarantees one of them does.
    cdef Py_ssize_t step = split_step(n, k), start = 0
    if step > 0:
        while start < m:
            gemm_blas(trans_a, trans_b, min(step, m - start), n, k, alpha,
                      a + (start if trans_a else start * lda), lda, b, ldb, accumulate,
                      c + start * ldc, ldc)
            start += step
    else:
        step = split_step(m, k)
        while start < n:
            gemm_blas(trans_a, trans_b, m, min(step, n - start), k, alpha, a, lda,
                      b + (start * ldb if trans_b else start), ldb, accumulate, c + start, ldc)
            start += step


cdef inline void gemm(bint trans_a, bint trans_b, Py_ssize_t m, Py_ssize_t n, Py_ssize_t k,
                      floating alpha, const floating* a, Py_ssize_t lda,
                      const floating* b, Py_ssize_t ldb,
                      bint accumulate, floating* c, Py_ssize_t ldc) noexcept nogil:
    cdef GemmPath path = gemm_path(trans_a, trans_b, m, n, k)
    if path == GEMM_SMALL:
        gemm_small(trans_a, trans_b, m, n, k, alpha, a, lda, b, ldb, accumulate, c, ldc)
    elif path == GEMM_BLAS_SPLIT:
        gemm_blas_split(trans_a, trans_b, m, n, k, alpha, a, lda, b, ldb, accumulate, c, ldc)
    else:
        gemm_blas(trans_a, trans_b, m, n, k, alpha, a, lda, b, ldb, accumulate, c, ldc)
