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
from _updates cimport row_sums

cdef enum Activation:
    IDENTITY = 0
    RELU = 1
    SIGMOID = 2
    TANH = 3
    LEAKY_RELU = 4
    ELU = 5
    GELU = 6
    SILU = 7

cdef enum:
    # leaky_relu(z) = z for z > 0, LEAKY_SLOPE * z otherwise.
    LEAKY_SLOPE_PERCENT = 1


# --- each activation: its value, and its derivative from its output a (or its input z) --------
# <floating> literals throughout: Cython writes a bare 1 as 1.0, a double, which would compute
# float32 data in double and disagree with numpy where float32 overflows. The derivatives
# return 0/1 from a float select, not a bool-to-float conversion, so their loops vectorize,
# and the gradient is a product with them, so inf and NaN in it behave as in numpy.

cdef inline floating sigmoid_scalar(floating z) noexcept nogil:
    # exp of a non-positive number only, so no overflow at z = +-1000.
    cdef floating e = exp_nonpositive(minus_abs(z))
    return (<floating>1 if z >= 0 else e) / (<floating>1 + e)


cdef inline floating sigmoid_derivative(floating a) noexcept nogil:
    return a * (<floating>1 - a)


cdef inline floating relu_scalar(floating z) noexcept nogil:
    # Written so that NaN passes through, like np.maximum(z, 0).
    return 0 if z <= 0 else z


cdef inline floating relu_derivative(floating a) noexcept nogil:
    return <floating>1 if a > 0 else <floating>0


cdef inline floating tanh_scalar(floating z) noexcept nogil:
    if floating is float:
        return tanhf(z)
    else:
        return libm_tanh(z)


cdef inline floating tanh_derivative(floating a) noexcept nogil:
    return <floating>1 - a * a


cdef inline floating leaky_relu_scalar(floating z) noexcept nogil:
    # NaN > 0 is false, and slope * NaN is NaN, as in numpy.
    return z if z > 0 else z * (<floating>LEAKY_SLOPE_PERCENT / 100)


cdef inline floating leaky_relu_derivative(floating a) noexcept nogil:
    # a > 0 exactly where z > 0, since the slope is positive.
    return <floating>1 if a > 0 else <floating>LEAKY_SLOPE_PERCENT / 100


from libc.math cimport expm1 as libm_expm1, expm1f


cdef inline floating elu_scalar(floating z) noexcept nogil:
    # expm1(z) at and below 0 (alpha = 1, PyTorch's default): exp(z) - 1 would lose the
    # digits of a small z (float32: 1% at z = -1e-6). NaN > 0 is false and expm1(NaN) is NaN.
    if floating is float:
        return z if z > 0 else expm1f(z)
    else:
        return z if z > 0 else libm_expm1(z)


cdef inline floating elu_derivative(floating a) noexcept nogil:
    # From the output: 1 where z > 0 (there a > 0), exp(z) = a + 1 elsewhere.
    return <floating>1 if a > 0 else a + <floating>1


from libc.math cimport erf as libm_erf, erff


cdef inline floating normal_cdf(floating z) noexcept nogil:
    if floating is float:
        return <float>0.5 * (<float>1 + erff(z * <float>0.7071067811865476))
    else:
        return 0.5 * (1 + libm_erf(z * 0.7071067811865476))


cdef inline floating gelu_scalar(floating z) noexcept nogil:
    # The exact form z Phi(z) through erf, PyTorch's default (not its tanh approximation).
    return z * normal_cdf(z)


cdef inline floating gelu_derivative(floating z) noexcept nogil:
    # Phi(z) + z phi(z), from the input: the output does not determine z (gelu is not
    # monotonic below 0). -z**2 / 2 is never positive, so the vectorizing exp takes it.
    return normal_cdf(z) + z * exp_nonpositive(-(z * z) / 2) * <floating>0.3989422804014327


cdef inline floating silu_scalar(floating z) noexcept nogil:
    return z * sigmoid_scalar(z)


cdef inline floating silu_derivative(floating z) noexcept nogil:
    # s (1 + z (1 - s)) with s = sigmoid(z), from the input (silu is not monotonic below 0).
    cdef floating s = sigmoid_scalar(z)
    return s * (<floating>1 + z * (<floating>1 - s))


# --- the two dispatches: one branch per activation each ------------------------------------------

cdef inline void activate(const floating* z, floating b, floating* out, Py_ssize_t n,
                          Activation activation) noexcept nogil:
    # out = activation(z + b) over n values; out may be z. One loop per activation, so that
    # each vectorizes on its own.
    cdef Py_ssize_t i
    if activation == RELU:
        for i in range(n):
            out[i] = relu_scalar(z[i] + b)
    elif activation == SIGMOID:
        for i in range(n):
            out[i] = sigmoid_scalar(z[i] + b)
    elif activation == TANH:
        for i in range(n):
            out[i] = tanh_scalar(z[i] + b)
    elif activation == LEAKY_RELU:
        for i in range(n):
            out[i] = leaky_relu_scalar(z[i] + b)
    elif activation == ELU:
        for i in range(n):
            out[i] = elu_scalar(z[i] + b)
    elif activation == GELU:
        for i in range(n):
            out[i] = gelu_scalar(z[i] + b)
    elif activation == SILU:
        for i in range(n):
            out[i] = silu_scalar(z[i] + b)
    else:
        for i in range(n):
            out[i] = z[i] + b


cdef inline void activation_backward(const floating* grad, floating* a, const floating* z,
                                     Py_ssize_t n, Activation activation) noexcept nogil:
    # Overwrites the activation's output a with the gradient of its input. z is the input
    # where the loop keeps it (activations whose backward reads it), else NULL.
    cdef Py_ssize_t i
    if activation == RELU:
        for i in range(n):
            a[i] = grad[i] * relu_derivative(a[i])
    elif activation == SIGMOID:
        for i in range(n):
            a[i] = grad[i] * sigmoid_derivative(a[i])
    elif activation == TANH:
        for i in range(n):
            a[i] = grad[i] * tanh_derivative(a[i])
    elif activation == LEAKY_RELU:
        for i in range(n):
            a[i] = grad[i] * leaky_relu_derivative(a[i])
    elif activation == ELU:
        for i in range(n):
            a[i] = grad[i] * elu_derivative(a[i])
    elif activation == GELU:
        for i in range(n):
            a[i] = grad[i] * gelu_derivative(z[i])
    elif activation == SILU:
        for i in range(n):
            a[i] = grad[i] * silu_derivative(z[i])
    else:
        for i in range(n):
            a[i] = grad[i]


# --- the layers' passes, built on the dispatches -------------------------------------------------


cdef inline void activation_backward_row_sums(const floating* grad, floating* a,
                                              const floating* z, Py_ssize_t rows,
                                              Py_ssize_t cols, Activation activation,
                                              floating* sums) noexcept nogil:
    # activation_backward over a (rows, cols) layer, and each row's sum of the result (the
    # layer's bias gradient, as row_sums computes it) taken while the row is still in L1:
    # summed later, after the next layer's products, every row came back from L2.
    cdef Py_ssize_t r
    for r in range(rows):
        activation_backward(grad + r * cols, a + r * cols,
                            z + r * cols if z != NULL else NULL, cols, activation)
        row_sums(a + r * cols, 1, cols, sums + r)

cdef inline void bias_add(const floating* z, const floating* bias, floating* out,
                          Py_ssize_t rows, Py_ssize_t cols) noexcept nogil:
    cdef Py_ssize_t r, c
    cdef floating b
    for r in range(rows):
        b = bias[r]
        for c in range(cols):
            out[r * cols + c] = z[r * cols + c] + b


cdef inline void bias_activation(floating* z, const floating* bias, Py_ssize_t rows,
                                 Py_ssize_t cols, Activation activation,
                                 floating* pre) noexcept nogil:
    # Bias and activation in one pass over z, in place: the training loop's forward step.
    # With pre (not NULL), z + bias is kept there first, for a backward pass that reads it.
    cdef Py_ssize_t r
    if pre != NULL:
        bias_add(z, bias, pre, rows, cols)
        activate(pre, 0, z, rows * cols, activation)
        return
    for r in range(rows):
        activate(z + r * cols, bias[r], z + r * cols, cols, activation)
