# Activation functions and their backward passes on raw contiguous buffers.
#
# Layout: a layer's values are stored one row per unit and one column per sample, so the loops
# below run along a row of samples, the long contiguous dimension.
#
# The backward passes take the activation's *output* a: every derivative of today's activations
# can be written in terms of a (relu: a > 0, sigmoid: a (1 - a)), so the training loop keeps one
# array per layer and overwrites it with the gradient once it is no longer needed. An activation
# whose derivative needs its input z (cnet.registry: backward_reads == "input") gets z as well:
# the loop then keeps each hidden layer's pre-activation (bias_activation's pre) for the way
# back, and only then.
#
# NaN propagates as it does in numpy (np.maximum, products), so the compiled kernels and the
# numpy twin agree on every input.

from cython cimport floating
from libc.math cimport tanh as libm_tanh, tanhf

from _exp cimport exp_nonpositive, minus_abs

cdef enum Activation:
    IDENTITY = 0
    RELU = 1
    SIGMOID = 2
    TANH = 3
    LEAKY_RELU = 4

cdef enum:
    # leaky_relu(z) = z for z > 0, LEAKY_SLOPE * z otherwise.
    LEAKY_SLOPE_PERCENT = 1


cdef inline floating sigmoid_scalar(floating z) noexcept nogil:
    # exp of a non-positive number only, so no overflow at z = +-1000.
    cdef floating e = exp_nonpositive(minus_abs(z))
    # <floating> literals: Cython writes a bare 1 as 1.0, a double, which would compute
    # float32 data in double and disagree with numpy where float32 overflows.
    return (<floating>1 if z >= 0 else e) / (<floating>1 + e)


cdef inline floating relu_scalar(floating z) noexcept nogil:
    # Written so that NaN passes through, like np.maximum(z, 0).
    return 0 if z <= 0 else z


cdef inline floating tanh_scalar(floating z) noexcept nogil:
    if floating is float:
        return tanhf(z)
    else:
        return libm_tanh(z)


cdef inline floating leaky_relu_scalar(floating z) noexcept nogil:
    # NaN > 0 is false, and slope * NaN is NaN, as in numpy.
    return z if z > 0 else z * (<floating>LEAKY_SLOPE_PERCENT / 100)


cdef inline void relu(const floating* z, floating* out, Py_ssize_t n) noexcept nogil:
    cdef Py_ssize_t i
    for i in range(n):
        out[i] = relu_scalar(z[i])


cdef inline void relu_backward(const floating* grad, const floating* a, floating* out,
                               Py_ssize_t n) noexcept nogil:
    # A product with 0 or 1, not a select, so that inf and NaN in grad behave as in numpy; the
    # 0/1 comes from a float select (not a bool-to-float conversion) so the loop vectorizes.
    cdef Py_ssize_t i
    for i in range(n):
        out[i] = grad[i] * (<floating>1 if a[i] > 0 else <floating>0)


cdef inline void sigmoid(const floating* z, floating* out, Py_ssize_t n) noexcept nogil:
    cdef Py_ssize_t i
    for i in range(n):
        out[i] = sigmoid_scalar(z[i])


cdef inline void sigmoid_backward(const floating* grad, const floating* a, floating* out,
                                  Py_ssize_t n) noexcept nogil:
    cdef Py_ssize_t i
    for i in range(n):
        out[i] = grad[i] * (a[i] * (<floating>1 - a[i]))


cdef inline void tanh(const floating* z, floating* out, Py_ssize_t n) noexcept nogil:
    cdef Py_ssize_t i
    for i in range(n):
        out[i] = tanh_scalar(z[i])


cdef inline void tanh_backward(const floating* grad, const floating* a, floating* out,
                               Py_ssize_t n) noexcept nogil:
    cdef Py_ssize_t i
    for i in range(n):
        out[i] = grad[i] * (<floating>1 - a[i] * a[i])


cdef inline void leaky_relu(const floating* z, floating* out, Py_ssize_t n) noexcept nogil:
    cdef Py_ssize_t i
    for i in range(n):
        out[i] = leaky_relu_scalar(z[i])


cdef inline void leaky_relu_backward(const floating* grad, const floating* a, floating* out,
                                     Py_ssize_t n) noexcept nogil:
    # a > 0 exactly where z > 0, since the slope is positive.
    cdef Py_ssize_t i
    cdef floating slope = <floating>LEAKY_SLOPE_PERCENT / 100
    for i in range(n):
        out[i] = grad[i] * (<floating>1 if a[i] > 0 else slope)


cdef inline void bias_add(const floating* z, const floating* bias, floating* out,
                          Py_ssize_t rows, Py_ssize_t cols) noexcept nogil:
    cdef Py_ssize_t r, c
    cdef floating b
    for r in range(rows):
        b = bias[r]
        for c in range(cols):
            out[r * cols + c] = z[r * cols + c] + b


cdef inline void activation_forward(const floating* z, floating* out, Py_ssize_t n,
                                     Activation activation) noexcept nogil:
    cdef Py_ssize_t i
    if activation == RELU:
        relu(z, out, n)
    elif activation == SIGMOID:
        sigmoid(z, out, n)
    elif activation == TANH:
        tanh(z, out, n)
    elif activation == LEAKY_RELU:
        leaky_relu(z, out, n)
    else:
        for i in range(n):
            out[i] = z[i]


cdef inline void bias_activation(floating* z, const floating* bias, Py_ssize_t rows,
                                 Py_ssize_t cols, Activation activation,
                                 floating* pre) noexcept nogil:
    # Bias and activation in one pass over z, in place: the training loop's forward step.
    # With pre (not NULL), z + bias is kept there first, for a backward pass that reads it.
    cdef Py_ssize_t r, c
    cdef floating b
    cdef floating* row
    if pre != NULL:
        bias_add(z, bias, pre, rows, cols)
        activation_forward(pre, z, rows * cols, activation)
        return
    for r in range(rows):
        b = bias[r]
        row = z + r * cols
        if activation == RELU:
            for c in range(cols):
                row[c] = relu_scalar(row[c] + b)
        elif activation == SIGMOID:
            for c in range(cols):
                row[c] = sigmoid_scalar(row[c] + b)
        elif activation == TANH:
            for c in range(cols):
                row[c] = tanh_scalar(row[c] + b)
        elif activation == LEAKY_RELU:
            for c in range(cols):
                row[c] = leaky_relu_scalar(row[c] + b)
        else:
            for c in range(cols):
                row[c] = row[c] + b


cdef inline void activation_backward(const floating* grad, floating* a, const floating* z,
                                     Py_ssize_t n, Activation activation) noexcept nogil:
    # Overwrites the activation a with the gradient of the pre-activation. z is the
    # pre-activation where the loop keeps it (activations that read their input), else NULL.
    cdef Py_ssize_t i
    if activation == RELU:
        relu_backward(grad, a, a, n)
    elif activation == SIGMOID:
        sigmoid_backward(grad, a, a, n)
    elif activation == TANH:
        tanh_backward(grad, a, a, n)
    elif activation == LEAKY_RELU:
        leaky_relu_backward(grad, a, a, n)
    else:
        for i in range(n):
            a[i] = grad[i]
