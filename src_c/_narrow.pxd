# The training step of a narrow network (every layer at most NARROW_MAX_WIDTH units), one
# block of samples at a time.
#
# The generic step (_train.pyx) goes layer by layer over the whole batch: each layer is one
# product, then one pass for its bias and activation, then, on the way back, a pass for the
# derivative and products for the gradients, every pass storing a layer's values and the next
# loading them again. For a layer of a few units that traffic and the calls cost more than
# the arithmetic. Here the whole network runs forward and backward over a block of samples
# whose every layer fits in L1, and each unit's value is computed eight samples at a time in
# a small local array that gcc keeps in vector registers: the bias, the activation and (on
# the way back) the derivative are applied there, before the store.
#
# Layout: as in the generic step, (units, samples), a block's row stride its padded length bp
# (a multiple of LANES). Sums over samples (the weight and bias gradients) run in LANES
# independent partial sums, folded in a fixed tree: the compiler vectorizes them without
# -ffast-math and the result is the same on every run. The caller adds each block's sums to
# the gradient in block order, so the gradient does not depend on anything but the shapes.
#
# Samples past the end of a short block (padding lanes) copy the block's last sample, so
# their values are finite whenever the real ones are, and weigh 0 in the loss: their error,
# and with it their share of every gradient, is exactly 0.

from cython cimport floating

from _activations cimport Activation, IDENTITY, activate, activation_backward
from _losses cimport Output, output_gradient

cdef enum:
    # The widest layer the fused step takes: beyond it, a layer's product is large enough for
    # the generic step's products (hand-written or BLAS) to run at full speed.
    NARROW_MAX_WIDTH = 32
    # Samples per vector step: two AVX2 registers of doubles, one of floats.
    LANES = 8
    # A block's layers are sized to stay within about this many bytes (half of L1).
    NARROW_BLOCK_BYTES = 16384
    NARROW_MAX_BLOCK = 256


cdef inline floating _fold(const floating* s) noexcept nogil:
    return ((s[0] + s[1]) + (s[2] + s[3])) + ((s[4] + s[5]) + (s[6] + s[7]))


cdef inline void narrow_forward(const Py_ssize_t* layers, Py_ssize_t n_layers,
                                Activation activation, const floating* params,
                                const floating* x, Py_ssize_t ldx, Py_ssize_t bp,
                                floating* acts, floating* pre) noexcept nogil:
    """Every layer's values for the bp samples of a block: x is features x samples (row
    stride ldx); acts gets each layer after the input, (units, bp), the hidden ones
    activated, the last the logits; pre (unless NULL) the hidden pre-activations."""
    cdef Py_ssize_t k, i, o, c, jc, l, n_in, n_out, lda = ldx, off = 0
    cdef Py_ssize_t last = n_layers - 2
    cdef const floating* a_in = x
    cdef const floating* w
    cdef floating* z = acts
    cdef floating* p = pre
    cdef floating wi, bo
    cdef floating s[LANES]
    for k in range(n_layers - 1):
        n_in = layers[k]
        n_out = layers[k + 1]
        w = params + off
        for o in range(n_out):
            bo = w[n_in * n_out + o]
            for c in range(bp // LANES):
                jc = c * LANES
                for l in range(LANES):
                    s[l] = 0
                for i in range(n_in):
                    wi = w[i * n_out + o]
                    for l in range(LANES):
                        s[l] += wi * a_in[i * lda + jc + l]
                # The bias after the sum, as the generic step and the twin add it.
                for l in range(LANES):
                    s[l] = s[l] + bo
                if k < last:
                    if p != NULL:
                        for l in range(LANES):
                            p[o * bp + jc + l] = s[l]
                    activate(s, 0, z + o * bp + jc, LANES, activation)
                else:
                    for l in range(LANES):
                        z[o * bp + jc + l] = s[l]
        off += n_in * n_out + n_out
        a_in = z
        lda = bp
        z += n_out * bp
        if p != NULL and k < last:
            p += n_out * bp


cdef inline double narrow_block(const Py_ssize_t* layers, Py_ssize_t n_layers,
                                Activation activation, Output output,
                                floating loss_parameter, const floating* params,
                                floating* grads, const floating* x, Py_ssize_t ldx,
                                const floating* y, const floating* w, floating scale,
                                bint want_loss, Py_ssize_t bp, floating* acts,
                                floating* pre, floating* work) noexcept nogil:
    """Forward and backward over one block of bp samples (a multiple of LANES): adds the
    block's gradient to grads (same layout as params) and returns its summed loss if asked.

    x is the block's input, features x samples with row stride ldx; y its targets, samples x
    outputs; w its sample weights (NULL: all 1); scale 1 / the batch's weight sum. acts and
    pre (NULL unless the activation's backward reads its input) hold the block's layers, as
    narrow_forward fills them; work holds 3 * bp values (the softmax loss's sums)."""
    cdef Py_ssize_t k, i, o, c, jc, l, n_in, n_out, lda
    cdef Py_ssize_t n_params = 0, hidden = 0, total = 0
    for k in range(n_layers - 1):
        n_params += layers[k] * layers[k + 1] + layers[k + 1]
        total += layers[k + 1]
    hidden = total - layers[n_layers - 1]
    narrow_forward(layers, n_layers, activation, params, x, ldx, bp, acts, pre)
    n_out = layers[n_layers - 1]
    cdef Py_ssize_t off = n_params, act_off = total * bp, pre_off = hidden * bp
    cdef floating* delta = acts + act_off - n_out * bp
    cdef double loss = output_gradient(output, delta, y, n_out, bp, 1, n_out, scale,
                                       want_loss, work, w, loss_parameter)
    cdef const floating* wt
    cdef floating* g
    cdef const floating* a_prev
    cdef floating* d_prev
    cdef floating wi
    cdef floating s[LANES]
    for k in range(n_layers - 2, -1, -1):
        n_in = layers[k]
        n_out = layers[k + 1]
        off -= n_in * n_out + n_out
        act_off -= n_out * bp
        delta = acts + act_off
        wt = params + off
        g = grads + off
        if k > 0:
            a_prev = acts + act_off - n_in * bp
            lda = bp
        else:
            a_prev = x
            lda = ldx
        # The weight and bias gradients, from the layer below's values before they are
        # overwritten by its error.
        for i in range(n_in):
            for o in range(n_out):
                for l in range(LANES):
                    s[l] = 0
                for c in range(bp // LANES):
                    jc = c * LANES
                    for l in range(LANES):
                        s[l] += a_prev[i * lda + jc + l] * delta[o * bp + jc + l]
                g[i * n_out + o] += _fold(s)
        for o in range(n_out):
            for l in range(LANES):
                s[l] = 0
            for c in range(bp // LANES):
                jc = c * LANES
                for l in range(LANES):
                    s[l] += delta[o * bp + jc + l]
            g[n_in * n_out + o] += _fold(s)
        if k > 0:
            # The error for the layer below, through the weights, times the derivative of
            # its activation: written over its values, which nothing reads any more.
            d_prev = acts + act_off - n_in * bp
            pre_off -= n_in * bp
            for i in range(n_in):
                for c in range(bp // LANES):
                    jc = c * LANES
                    for l in range(LANES):
                        s[l] = 0
                    for o in range(n_out):
                        wi = wt[i * n_out + o]
                        for l in range(LANES):
                            s[l] += wi * delta[o * bp + jc + l]
                    activation_backward(s, d_prev + i * bp + jc,
                                        pre + pre_off + i * bp + jc if pre != NULL else NULL,
                                        LANES, activation)
    return loss
