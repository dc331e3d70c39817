# Reductions and parameter updates on raw contiguous buffers.

from cython cimport floating


cdef inline void row_sums(const floating* x, Py_ssize_t rows, Py_ssize_t cols,
                          floating* out) noexcept nogil:
    # The bias gradient: each unit's row summed over the samples. Eight accumulators keep
    # four vector addition chains in flight.
    cdef Py_ssize_t r, c, n8 = cols - cols % 8
    cdef floating s0, s1, s2, s3, s4, s5, s6, s7
    cdef const floating* row
    for r in range(rows):
        row = x + r * cols
        s0 = s1 = s2 = s3 = s4 = s5 = s6 = s7 = 0
        for c in range(0, n8, 8):
            s0 += row[c]
            s1 += row[c + 1]
            s2 += row[c + 2]
            s3 += row[c + 3]
            s4 += row[c + 4]
            s5 += row[c + 5]
            s6 += row[c + 6]
            s7 += row[c + 7]
        for c in range(n8, cols):
            s0 += row[c]
        out[r] = ((s0 + s1) + (s2 + s3)) + ((s4 + s5) + (s6 + s7))


cdef inline void sgd_update(floating* param, const floating* grad, floating learning_rate,
                            Py_ssize_t n) noexcept nogil:
    cdef Py_ssize_t i
    for i in range(n):
        param[i] -= learning_rate * grad[i]
