# Reductions and parameter updates on raw contiguous buffers.

from cython cimport floating


cdef inline void row_sums(const floating* x, Py_ssize_t rows, Py_ssize_t cols,
                          floating* out) noexcept nogil:
    # The bias gradient: each unit's row summed over the samples, four accumulators wide.
    cdef Py_ssize_t r, c
    cdef floating s0, s1, s2, s3
    cdef const floating* row
    for r in range(rows):
        row = x + r * cols
        s0 = s1 = s2 = s3 = 0
        c = 0
        while c + 4 <= cols:
            s0 += row[c]
            s1 += row[c + 1]
            s2 += row[c + 2]
            s3 += row[c + 3]
            c += 4
        while c < cols:
            s0 += row[c]
            c += 1
        out[r] = (s0 + s1) + (s2 + s3)


cdef inline void sgd_update(floating* param, const floating* grad, floating learning_rate,
                            Py_ssize_t n) noexcept nogil:
    cdef Py_ssize_t i
    for i in range(n):
        param[i] -= learning_rate * grad[i]
