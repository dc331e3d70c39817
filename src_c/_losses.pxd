# The output layers' losses and their gradients with respect to the output pre-activations.
#
# Binary cross-entropy on logits:
#
# With p = sigmoid(z), the loss -[y log p + (1 - y) log(1 - p)] equals
# log(1 + exp(-|z|)) + max(z, 0) - y z, which stays finite however far z saturates, and its
# derivative is p - y: the sigmoid and the loss are differentiated together, never apart.
#
# z is laid out outputs x samples (row stride m); the targets have their own strides so the
# training loop can read them in the user's samples x outputs order without a transposed copy.

from cython cimport floating
from libc.math cimport exp, expf, log, logf

from _activations cimport sigmoid_scalar

from _exp cimport exp_nonpositive, minus_abs
from _log cimport log1p_unit


cdef inline double binary_cross_entropy_sum(const floating* z, const floating* y,
                                            Py_ssize_t outputs, Py_ssize_t m,
                                            Py_ssize_t y_output_stride,
                                            Py_ssize_t y_sample_stride,
                                            const floating* weights=NULL) noexcept nogil:
    # The loss summed over outputs and samples, sample j weighted by weights[j] if given.
    # Eight partial sums, sample j going to sum j % 8: independent chains that the compiler
    # keeps in vector lanes without -ffast-math, since no sum is reordered; the result is the
    # same on every run and every CPU.
    cdef Py_ssize_t o, j, k, m8 = m - m % 8
    cdef double total = 0
    cdef double s[8]
    cdef const floating* zr
    cdef const floating* yr
    for o in range(outputs):
        zr = z + o * m
        yr = y + o * y_output_stride
        for k in range(8):
            s[k] = 0
        if weights == NULL and y_sample_stride == 1:
            for j in range(0, m8, 8):
                for k in range(8):
                    s[k] += _bce_term(zr[j + k], yr[j + k])
        elif weights == NULL:
            for j in range(0, m8, 8):
                for k in range(8):
                    s[k] += _bce_term(zr[j + k], yr[(j + k) * y_sample_stride])
        else:
            for j in range(0, m8, 8):
                for k in range(8):
                    s[k] += _bce_term(zr[j + k], yr[(j + k) * y_sample_stride]) * weights[j + k]
        for j in range(m8, m):
            s[j - m8] += (_bce_term(zr[j], yr[j * y_sample_stride])
                          * (weights[j] if weights != NULL else 1))
        total += ((s[0] + s[1]) + (s[2] + s[3])) + ((s[4] + s[5]) + (s[6] + s[7]))
    return total


cdef inline floating _bce_term(floating z, floating y) noexcept nogil:
    cdef floating e = exp_nonpositive(minus_abs(z))
    return log1p_unit(e) + (z if z > 0 else 0) - y * z


cdef inline floating _bce_gradient_term(floating z, floating y, floating scale) noexcept nogil:
    cdef floating e = exp_nonpositive(minus_abs(z))
    return ((<floating>1 if z >= 0 else e) / (<floating>1 + e) - y) * scale


cdef inline void _bce_loss_and_gradient8(floating* z, const floating* y, Py_ssize_t y_stride,
                                         const floating* w, floating scale,
                                         double* s) noexcept nogil:
    # Eight samples: s[k] += sample k's loss term, z[k] <- its gradient. One exp serves both
    # (the loss's log(1 + e) and the gradient's sigmoid), and the eight lanes are independent,
    # so the compiler keeps them in vector registers.
    cdef Py_ssize_t k
    cdef floating zk, yk, e, wk
    for k in range(8):
        zk = z[k]
        yk = y[k * y_stride]
        wk = w[k] if w != NULL else 1
        e = exp_nonpositive(minus_abs(zk))
        s[k] += (log1p_unit(e) + (zk if zk > 0 else 0) - yk * zk) * wk
        z[k] = ((<floating>1 if zk >= 0 else e) / (<floating>1 + e) - yk) * (scale * wk)


cdef inline double binary_cross_entropy_gradient(floating* z, const floating* y,
                                                 Py_ssize_t outputs, Py_ssize_t m,
                                                 Py_ssize_t y_output_stride,
                                                 Py_ssize_t y_sample_stride,
                                                 floating scale, bint want_loss,
                                                 const floating* weights) noexcept nogil:
    """Overwrite logits z with scale * w_j * (sigmoid(z) - y); return the summed loss if asked.

    Without weights (NULL) every w_j is 1. With the loss, each block of eight samples adds
    its terms to eight partial sums, in the order binary_cross_entropy_sum uses, and writes
    their gradients in the same pass; without it, the gradient loop alone.
    """
    cdef Py_ssize_t o, j, m8 = m - m % 8
    cdef double total = 0
    cdef double s[8]
    cdef floating* row
    cdef const floating* yr
    for o in range(outputs):
        row = z + o * m
        yr = y + o * y_output_stride
        if want_loss:
            for j in range(8):
                s[j] = 0
            # Specialised on the common layouts: the loop body then has no branch left.
            if weights == NULL and y_sample_stride == 1:
                for j in range(0, m8, 8):
                    _bce_loss_and_gradient8(row + j, yr + j, 1, NULL, scale, s)
            elif weights == NULL:
                for j in range(0, m8, 8):
                    _bce_loss_and_gradient8(row + j, yr + j * y_sample_stride,
                                            y_sample_stride, NULL, scale, s)
            else:
                for j in range(0, m8, 8):
                    _bce_loss_and_gradient8(row + j, yr + j * y_sample_stride,
                                            y_sample_stride, weights + j, scale, s)
            for j in range(m8, m):
                s[j - m8] += (_bce_term(row[j], yr[j * y_sample_stride])
                              * (weights[j] if weights != NULL else 1))
                row[j] = _bce_gradient_term(row[j], yr[j * y_sample_stride],
                                            scale * (weights[j] if weights != NULL else 1))
            total += ((s[0] + s[1]) + (s[2] + s[3])) + ((s[4] + s[5]) + (s[6] + s[7]))
        elif weights == NULL:
            for j in range(m):
                row[j] = _bce_gradient_term(row[j], yr[j * y_sample_stride], scale)
        else:
            for j in range(m):
                row[j] = _bce_gradient_term(row[j], yr[j * y_sample_stride],
                                            scale * weights[j])
    return total


# --- softmax + categorical cross-entropy ------------------------------------------------------
#
# For each sample (a column of z), p = softmax(z) and the loss is -sum_o y_o log p_o. With
# c = max_o z_o and s = sum_o exp(z_o - c) (every exponent <= 0, so no overflow), log p_o =
# z_o - c - log s. The gradient with respect to z is p - y.

cdef inline double softmax_cross_entropy_gradient(floating* z, const floating* y,
                                                  Py_ssize_t outputs, Py_ssize_t m,
                                                  Py_ssize_t y_output_stride,
                                                  Py_ssize_t y_sample_stride,
                                                  floating scale, bint want_loss,
                                                  floating* work,
                                                  const floating* weights=NULL) noexcept nogil:
    """Overwrite logits z with scale * w_j * (softmax(z) - y); return the summed loss if asked.

    work holds 3 * m values (column maxima, sums of exponentials, sums of targets).
    """
    cdef Py_ssize_t o, j, m8 = m - m % 8
    cdef double s[8]
    cdef floating e
    cdef floating* col_max = work
    cdef floating* col_sum = work + m
    cdef floating* y_sum = work + 2 * m
    cdef floating* row
    for j in range(m):
        col_max[j] = z[j]
    for o in range(1, outputs):
        row = z + o * m
        for j in range(m):
            col_max[j] = row[j] if row[j] > col_max[j] else col_max[j]
    if want_loss:
        # Eight partial sums, sample j going to sum j % 8, as in binary_cross_entropy_sum:
        # one running double total made every term wait for the previous one (a fifth of the
        # batch step's own time on digits10).
        for j in range(8):
            s[j] = 0
        for j in range(m):
            y_sum[j] = 0
        for o in range(outputs):
            _softmax_target_terms(z + o * m, y + o * y_output_stride, y_sample_stride, col_max,
                                  weights, y_sum, m, s)
    for j in range(m):
        col_sum[j] = 0
    for o in range(outputs):
        row = z + o * m
        for j in range(m):
            e = exp_nonpositive(row[j] - col_max[j])
            row[j] = e
            col_sum[j] += e
    if want_loss:
        for j in range(m8):
            s[j % 8] += y_sum[j] * log(col_sum[j])
        for j in range(m8, m):
            s[j - m8] += y_sum[j] * log(col_sum[j])
    for j in range(m):
        col_sum[j] = <floating>1 / col_sum[j]
    # y_sum is free again: it holds each sample's factor on the gradient.
    for j in range(m):
        y_sum[j] = scale * (weights[j] if weights != NULL else 1)
    for o in range(outputs):
        row = z + o * m
        for j in range(m):
            row[j] = (row[j] * col_sum[j]
                      - y[o * y_output_stride + j * y_sample_stride]) * y_sum[j]
    if not want_loss:
        return 0
    return ((s[0] + s[1]) + (s[2] + s[3])) + ((s[4] + s[5]) + (s[6] + s[7]))


cdef inline void _softmax_target_terms(const floating* row, const floating* y,
                                       Py_ssize_t y_sample_stride, const floating* col_max,
                                       const floating* weights, floating* y_sum,
                                       Py_ssize_t m, double* s) noexcept nogil:
    # One output's terms of the loss: s[j % 8] += t_j (max_j - z_j), y_sum[j] += t_j, with
    # t_j the target weighted by the sample's weight (which rides on its targets). Split on
    # weights so that the eight-sample body has no branch left and stays in vector lanes.
    cdef Py_ssize_t j, k, m8 = m - m % 8
    cdef floating t
    if weights == NULL:
        for j in range(0, m8, 8):
            for k in range(8):
                t = y[(j + k) * y_sample_stride]
                s[k] += t * (col_max[j + k] - row[j + k])
                y_sum[j + k] += t
    else:
        for j in range(0, m8, 8):
            for k in range(8):
                t = y[(j + k) * y_sample_stride] * weights[j + k]
                s[k] += t * (col_max[j + k] - row[j + k])
                y_sum[j + k] += t
    for j in range(m8, m):
        t = y[j * y_sample_stride]
        if weights != NULL:
            t = t * weights[j]
        s[j - m8] += t * (col_max[j] - row[j])
        y_sum[j] += t


cdef inline void softmax_columns(floating* z, Py_ssize_t outputs, Py_ssize_t m,
                                 floating* work) noexcept nogil:
    """Overwrite z (outputs x samples) with the softmax of each column; work holds 2 * m."""
    cdef Py_ssize_t o, j
    cdef floating* col_max = work
    cdef floating* col_sum = work + m
    cdef floating* row
    for j in range(m):
        col_max[j] = z[j]
        col_sum[j] = 0
    for o in range(1, outputs):
        row = z + o * m
        for j in range(m):
            col_max[j] = row[j] if row[j] > col_max[j] else col_max[j]
    for o in range(outputs):
        row = z + o * m
        for j in range(m):
            row[j] = exp_nonpositive(row[j] - col_max[j])
            col_sum[j] += row[j]
    for j in range(m):
        col_sum[j] = <floating>1 / col_sum[j]
    for o in range(outputs):
        row = z + o * m
        for j in range(m):
            row[j] = row[j] * col_sum[j]


# --- identity output + squared error ----------------------------------------------------------
#
# The loss is half the squared error summed over outputs, averaged over samples; its gradient
# with respect to the output is (z - y) / n_samples.

cdef inline double squared_error_gradient(floating* z, const floating* y, Py_ssize_t outputs,
                                          Py_ssize_t m, Py_ssize_t y_output_stride,
                                          Py_ssize_t y_sample_stride, floating scale,
                                          bint want_loss,
                                          const floating* weights=NULL) noexcept nogil:
    cdef Py_ssize_t o, j
    cdef double total = 0
    cdef floating d, w
    cdef floating* row
    for o in range(outputs):
        row = z + o * m
        for j in range(m):
            d = row[j] - y[o * y_output_stride + j * y_sample_stride]
            w = weights[j] if weights != NULL else 1
            if want_loss:
                total += 0.5 * d * d * w
            row[j] = d * scale * w
    return total


# --- identity output + Huber loss ---------------------------------------------------------------
#
# Half the squared error where |z - y| <= delta, delta (|z - y| - delta / 2) beyond: PyTorch's
# HuberLoss, summed over outputs and averaged over samples like the squared error (which it
# equals for a delta larger than every residual). Its gradient is z - y clipped to
# [-delta, delta], divided by n_samples.

cdef inline double huber_gradient(floating* z, const floating* y, Py_ssize_t outputs,
                                  Py_ssize_t m, Py_ssize_t y_output_stride,
                                  Py_ssize_t y_sample_stride, floating scale, bint want_loss,
                                  const floating* weights, floating delta) noexcept nogil:
    cdef Py_ssize_t o, j
    cdef double total = 0
    cdef floating d, w
    cdef bint inside
    cdef floating* row
    for o in range(outputs):
        row = z + o * m
        for j in range(m):
            d = row[j] - y[o * y_output_stride + j * y_sample_stride]
            w = weights[j] if weights != NULL else 1
            # NaN is neither above delta nor below -delta: it stays inside and passes through.
            inside = not (d > delta or d < -delta)
            if want_loss:
                total += (<floating>0.5 * d * d if inside
                          else delta * ((d if d > 0 else -d) - <floating>0.5 * delta)) * w
            row[j] = (d if inside else (delta if d > 0 else -delta)) * scale * w
    return total


# --- identity output + absolute error ------------------------------------------------------------
#
# |z - y| summed over outputs, averaged over samples (PyTorch's L1Loss for one output). Its
# gradient is sign(z - y) / n_samples, taken as 0 where z = y (a subgradient, as PyTorch's).

cdef inline double absolute_error_gradient(floating* z, const floating* y, Py_ssize_t outputs,
                                           Py_ssize_t m, Py_ssize_t y_output_stride,
                                           Py_ssize_t y_sample_stride, floating scale,
                                           bint want_loss, const floating* weights) noexcept nogil:
    cdef Py_ssize_t o, j
    cdef double total = 0
    cdef floating d, w
    cdef floating* row
    for o in range(outputs):
        row = z + o * m
        for j in range(m):
            d = row[j] - y[o * y_output_stride + j * y_sample_stride]
            w = weights[j] if weights != NULL else 1
            if want_loss:
                total += (d if d > 0 else -d) * w
            # d * 0 keeps 0 at 0 and NaN at NaN, where a comparison would give 0 for both.
            row[j] = (<floating>1 if d > 0 else (<floating>-1 if d < 0 else d * 0)) * scale * w
    return total


# --- exponential output + Poisson deviance ----------------------------------------------------
#
# For counts: the output is mu = exp(z) (the log link) and the loss is the Poisson deviance
# y log(y / mu) - y + mu (half of it, as scikit-learn's MLP counts it). In terms of z that is
# exp(z) - y z + y log y - y, whose derivative is exp(z) - y: the exponential and the deviance
# are differentiated together, like the other pairs. y log y is 0 at y = 0.

cdef inline floating _exp_any(floating z) noexcept nogil:
    if floating is float:
        return expf(z)
    else:
        return exp(z)


cdef inline floating _xlogx(floating y) noexcept nogil:
    if y <= 0:
        return 0
    if floating is float:
        return y * logf(y)
    else:
        return y * log(y)


cdef inline double poisson_deviance_gradient(floating* z, const floating* y,
                                             Py_ssize_t outputs, Py_ssize_t m,
                                             Py_ssize_t y_output_stride,
                                             Py_ssize_t y_sample_stride, floating scale,
                                             bint want_loss,
                                             const floating* weights=NULL) noexcept nogil:
    """Overwrite z with scale * w_j * (exp(z) - y); return the summed deviance if asked."""
    cdef Py_ssize_t o, j
    cdef double total = 0
    cdef floating mu, t, w
    cdef floating* row
    for o in range(outputs):
        row = z + o * m
        for j in range(m):
            t = y[o * y_output_stride + j * y_sample_stride]
            mu = _exp_any(row[j])
            w = weights[j] if weights != NULL else 1
            if want_loss:
                total += (mu - t * row[j] + _xlogx(t) - t) * w
            row[j] = (mu - t) * scale * w
    return total


# --- output layers ------------------------------------------------------------------------------

cdef enum Output:
    LOGISTIC = 0    # sigmoid units, binary cross-entropy (binary or multi-label)
    SOFTMAX = 1     # softmax over the units, categorical cross-entropy (multi-class)
    SQUARED = 2     # identity units, squared error (regression)
    POISSON = 3     # exponential units, Poisson deviance (counts)
    HUBER = 4       # identity units, Huber loss (regression robust to outliers)
    ABSOLUTE = 5    # identity units, absolute error (the conditional median)


cdef inline double output_gradient(Output output, floating* z, const floating* y,
                                   Py_ssize_t outputs, Py_ssize_t m,
                                   Py_ssize_t y_output_stride, Py_ssize_t y_sample_stride,
                                   floating scale, bint want_loss,
                                   floating* work, const floating* weights,
                                   floating delta) noexcept nogil:
    """Overwrite the output pre-activations z with the loss gradient; return the summed loss.

    Each output activation is paired with the loss whose gradient through it is
    scale * w_j * (activation(z) - y), which is why the pair is differentiated as one.
    Sample j's loss is weighted by w_j = weights[j], or 1 where weights is NULL. delta is the
    network's loss_parameter, for a loss that has one (none of today's reads it).
    """
    if output == SOFTMAX:
        return softmax_cross_entropy_gradient(z, y, outputs, m, y_output_stride,
                                              y_sample_stride, scale, want_loss, work,
                                              weights)
    if output == SQUARED:
        return squared_error_gradient(z, y, outputs, m, y_output_stride, y_sample_stride,
                                      scale, want_loss, weights)
    if output == POISSON:
        return poisson_deviance_gradient(z, y, outputs, m, y_output_stride, y_sample_stride,
                                         scale, want_loss, weights)
    if output == ABSOLUTE:
        return absolute_error_gradient(z, y, outputs, m, y_output_stride, y_sample_stride,
                                       scale, want_loss, weights)
    if output == HUBER:
        return huber_gradient(z, y, outputs, m, y_output_stride, y_sample_stride, scale,
                              want_loss, weights, delta)
    return binary_cross_entropy_gradient(z, y, outputs, m, y_output_stride, y_sample_stride,
                                         scale, want_loss, weights)


cdef inline void output_activation(Output output, floating* z, Py_ssize_t outputs,
                                   Py_ssize_t m, floating* work) noexcept nogil:
    """Overwrite the output pre-activations z with the network's outputs."""
    cdef Py_ssize_t i
    if output == SOFTMAX:
        softmax_columns(z, outputs, m, work)
    elif output == LOGISTIC:
        for i in range(outputs * m):
            z[i] = sigmoid_scalar(z[i])
    elif output == POISSON:
        for i in range(outputs * m):
            z[i] = _exp_any(z[i])
