# Reductions and parameter updates on raw contiguous buffers: the optimizers' steps.

from cython cimport floating
from libc.math cimport sqrt, sqrtf


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


cdef inline void add_values(floating* total, const floating* part, Py_ssize_t n) noexcept nogil:
    # One block's gradient into the batch's (the cache-blocked step).
    cdef Py_ssize_t i
    for i in range(n):
        total[i] += part[i]


cdef inline void sgd_update(floating* param, const floating* grad, floating learning_rate,
                            Py_ssize_t n) noexcept nogil:
    cdef Py_ssize_t i
    for i in range(n):
        param[i] -= learning_rate * grad[i]


cdef inline void momentum_update(floating* param, const floating* grad, floating* velocity,
                                 floating learning_rate, floating momentum, bint nesterov,
                                 Py_ssize_t n) noexcept nogil:
    # velocity <- momentum * velocity - lr * grad; the step is the velocity, or with Nesterov's
    # look-ahead momentum * velocity - lr * grad (scikit-learn's formulation).
    cdef Py_ssize_t i
    cdef floating v
    for i in range(n):
        v = momentum * velocity[i] - learning_rate * grad[i]
        velocity[i] = v
        param[i] += (momentum * v - learning_rate * grad[i]) if nesterov else v


cdef inline void adam_update(floating* param, const floating* grad, floating* first_moment,
                             floating* second_moment, floating step_size, floating beta_1,
                             floating beta_2, floating epsilon, Py_ssize_t n) noexcept nogil:
    # step_size is the learning rate with the bias corrections of both moments folded in.
    cdef Py_ssize_t i
    cdef floating g, m1, m2, root
    for i in range(n):
        g = grad[i]
        m1 = beta_1 * first_moment[i] + (<floating>1 - beta_1) * g
        m2 = beta_2 * second_moment[i] + (<floating>1 - beta_2) * (g * g)
        first_moment[i] = m1
        second_moment[i] = m2
        # In the dtype of the data, as numpy computes it.
        root = sqrtf(m2) if floating is float else sqrt(m2)
        param[i] -= step_size * m1 / (root + epsilon)


cdef inline double add_l2_gradient(floating* grad, const floating* weights, floating coef,
                                   Py_ssize_t n, bint want_norm) noexcept nogil:
    # grad += coef * weights; returns sum(weights ** 2) if asked (for the penalty's loss).
    cdef Py_ssize_t i
    cdef double total = 0
    for i in range(n):
        grad[i] += coef * weights[i]
    if want_norm:
        for i in range(n):
            total += weights[i] * weights[i]
    return total
