# Products of a sparse input with dense weights, for the first layer of a network whose X is
# a CSR matrix (text features, one-hot columns): only the stored entries are read, and X is
# never made dense.
#
# X is given by its CSR arrays (data, indices, indptr) and the rows a batch takes: rows[j] is
# the j-th sample of the batch, or, where rows is NULL, sample first_row + j. Indices are
# Py_ssize_t; the entry points convert scipy's int32 indices once per call.
#
# Both products run along contiguous rows of the dense operand: the forward product adds
# data[p] * W[indices[p], :] into the sample's output row, four stored entries at a time; the
# weight gradient adds data[p] * G[j, :] into row indices[p] of the gradient.
#
# Callers guarantee valid arrays (csr_problem below) and shapes: nothing here checks.

from cython cimport floating
from _gemm cimport combine1, combine2, combine4

cdef enum:
    CSR_OK = 0
    CSR_BAD_INDPTR = 1      # indptr does not start at 0, decreases, or overruns the data
    CSR_BAD_INDEX = 2       # a column index is negative or not below the column count


cdef inline int csr_problem(const Py_ssize_t* indices, const Py_ssize_t* indptr,
                            Py_ssize_t n_rows, Py_ssize_t n_cols,
                            Py_ssize_t nnz) noexcept nogil:
    # The products index W and the gradient by indices[p] for p below indptr[n_rows] without
    # bounds checks, so every such index is checked here once per call.
    cdef Py_ssize_t r, p
    if indptr[0] != 0 or indptr[n_rows] > nnz:
        return CSR_BAD_INDPTR
    for r in range(n_rows):
        if indptr[r + 1] < indptr[r]:
            return CSR_BAD_INDPTR
    for p in range(indptr[n_rows]):
        if indices[p] < 0 or indices[p] >= n_cols:
            return CSR_BAD_INDEX
    return CSR_OK


cdef inline void csr_matmul(const floating* data, const Py_ssize_t* indices,
                            const Py_ssize_t* indptr, const Py_ssize_t* rows,
                            Py_ssize_t first_row, Py_ssize_t m, const floating* b,
                            Py_ssize_t k, floating* out) noexcept nogil:
    # out (m x k, row-major) = X[batch rows] @ b, b (n_cols x k, row-major).
    cdef Py_ssize_t j, r, p, end, c
    cdef floating* o
    for j in range(m):
        r = rows[j] if rows != NULL else first_row + j
        o = out + j * k
        for c in range(k):
            o[c] = 0
        p = indptr[r]
        end = indptr[r + 1]
        while p + 4 <= end:
            combine4(data[p], b + indices[p] * k, data[p + 1], b + indices[p + 1] * k,
                     data[p + 2], b + indices[p + 2] * k, data[p + 3], b + indices[p + 3] * k,
                     o, k, True)
            p += 4
        if p + 2 <= end:
            combine2(data[p], b + indices[p] * k, data[p + 1], b + indices[p + 1] * k, o, k,
                     True)
            p += 2
        if p < end:
            combine1(data[p], b + indices[p] * k, o, k, True)


cdef inline void csr_transpose_matmul_add(const floating* data, const Py_ssize_t* indices,
                                          const Py_ssize_t* indptr, const Py_ssize_t* rows,
                                          Py_ssize_t first_row, Py_ssize_t m,
                                          const floating* g, Py_ssize_t k, floating alpha,
                                          floating* out) noexcept nogil:
    # out (n_cols x k) += alpha * X[batch rows].T @ g, g (m x k, row-major). Only the rows of
    # out that the batch's stored entries name are touched.
    cdef Py_ssize_t j, r, p
    for j in range(m):
        r = rows[j] if rows != NULL else first_row + j
        for p in range(indptr[r], indptr[r + 1]):
            combine1(alpha * data[p], g + j * k, out + indices[p] * k, k, True)


cdef inline void transpose(const floating* a, Py_ssize_t rows, Py_ssize_t cols,
                           floating* out) noexcept nogil:
    # out (cols x rows) = a.T, a (rows x cols), both row-major.
    cdef Py_ssize_t i, j
    for i in range(rows):
        for j in range(cols):
            out[j * rows + i] = a[i * cols + j]
