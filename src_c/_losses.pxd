# Binary cross-entropy on logits, with the gradient with respect to the logits.
#
# With p = sigmoid(z), the loss -[y log p + (1 - y) log(1 - p)] equals
# log(1 + exp(-|z|)) + max(z, 0) - y z, which stays finite however far z saturates, and its
# derivative is p - y: the sigmoid and the loss are differentiated together, never apart.
#
# z is laid out outputs x samples (row stride m); the targets have their own strides so the
# training loop can read them in the user's samples x outputs order without a transposed copy.

from cython cimport floating
from libc.math cimport fabs
from libc.math cimport log1p, log1pf

from _exp cimport exp_nonpositive


cdef inline double binary_cross_entropy_sum(const floating* z, const floating* y,
                                            Py_ssize_t outputs, Py_ssize_t m,
                                            Py_ssize_t y_output_stride,
                                            Py_ssize_t y_sample_stride) noexcept nogil:
    cdef Py_ssize_t o, j
    cdef double total = 0
    cdef floating zz, t
    for o in range(outputs):
        for j in range(m):
            zz = z[o * m + j]
            t = y[o * y_output_stride + j * y_sample_stride]
            total += _bce_term(zz, t)
    return total


cdef inline floating _bce_term(floating z, floating y) noexcept nogil:
    cdef floating e = exp_nonpositive(-fabs(z))
    if floating is float:
        return log1pf(e) + (z if z > 0 else 0) - y * z
    else:
        return log1p(e) + (z if z > 0 else 0) - y * z


cdef inline floating _bce_gradient_term(floating z, floating y, floating scale) noexcept nogil:
    cdef floating e = exp_nonpositive(-fabs(z))
    return ((1 if z >= 0 else e) / (1 + e) - y) * scale


cdef inline double binary_cross_entropy_gradient(floating* z, const floating* y,
                                                 Py_ssize_t outputs, Py_ssize_t m,
                                                 Py_ssize_t y_output_stride,
                                                 Py_ssize_t y_sample_stride,
                                                 floating scale, bint want_loss) noexcept nogil:
    """Overwrite logits z with scale * (sigmoid(z) - y); return the summed loss if asked.

    The loss is summed before z is overwritten, in a loop of its own: the gradient loop then
    has no branch or libm call left in it and vectorizes.
    """
    cdef Py_ssize_t o, j
    cdef double total = 0
    cdef floating* row
    if want_loss:
        total = binary_cross_entropy_sum(z, y, outputs, m, y_output_stride, y_sample_stride)
    for o in range(outputs):
        row = z + o * m
        for j in range(m):
            row[j] = _bce_gradient_term(row[j], y[o * y_output_stride + j * y_sample_stride],
                                        scale)
    return total
