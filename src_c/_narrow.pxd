# The training step of a narrow network (every layer at most NARROW_MAX_WIDTH units), one
# block of samples at a time.
#
# The generic step (_train.pyx) goes layer by layer over the whole batch: each layer is one
# product, then one pass for its bias and activation, then, on the way back, a pass for the
# derivative and products for the gradients, every pass storing a layer's values and the next
# loading them again. For a layer of a few units that traffic and the calls cost more than
# the arithmetic. Here the whole network runs forward and backward over a block of samples
# whose every layer fits in L1, with no call and no pass that is not arithmetic: each loop
# runs along a block's samples, which gcc vectorizes, and reads and writes L1 only.
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
from _gemm cimport dot, dot4
from _losses cimport Output, output_gradient
from _updates cimport row_sums

cdef enum:
    # The widest layer the fused step takes: beyond it, a layer's product is large enough for
    # the generic step's products (hand-written or BLAS) to run at full speed.
    NARROW_MAX_WIDTH = 32
    # Samples per vector step: two AVX2 registers of doubles, one of floats.
    LANES = 8
    # A block's layers are sized to stay within about this many bytes (half of L1).
    NARROW_BLOCK_BYTES = 16384
    NARROW_MAX_BLOCK = 256


cdef inline floating _sum(const floating* a, Py_ssize_t n) noexcept nogil:
    """sum a[j] over n values, in the eight lanes of the bias gradient's row sums."""
    cdef floating total
    row_sums(a, 1, n, &total)
    return total


cdef inline void _combine(const floating* w, Py_ssize_t stride, Py_ssize_t n_in,
                          const floating* a, Py_ssize_t lda, Py_ssize_t bp,
                          floating* out) noexcept nogil:
    """out[j] = sum_i w[i * stride] a[i * lda + j] over bp samples j (n_in >= 1 terms).

    Eight samples at a time in eight named sums: gcc packs them into vector registers, which
    hold them across the whole sum over i (a sum in memory would be loaded and stored again
    for every term, and the store-to-load chain would set the pace)."""
    cdef Py_ssize_t i, jc
    cdef floating wi, s0, s1, s2, s3, s4, s5, s6, s7
    cdef const floating* ai
    for jc in range(0, bp, 8):
        wi = w[0]
        ai = a + jc
        s0 = wi * ai[0]
        s1 = wi * ai[1]
        s2 = wi * ai[2]
        s3 = wi * ai[3]
        s4 = wi * ai[4]
        s5 = wi * ai[5]
        s6 = wi * ai[6]
        s7 = wi * ai[7]
        for i in range(1, n_in):
            wi = w[i * stride]
            ai = a + i * lda + jc
            s0 += wi * ai[0]
            s1 += wi * ai[1]
            s2 += wi * ai[2]
            s3 += wi * ai[3]
            s4 += wi * ai[4]
            s5 += wi * ai[5]
            s6 += wi * ai[6]
            s7 += wi * ai[7]
        out[jc] = s0
        out[jc + 1] = s1
        out[jc + 2] = s2
        out[jc + 3] = s3
        out[jc + 4] = s4
        out[jc + 5] = s5
        out[jc + 6] = s6
        out[jc + 7] = s7


cdef inline void narrow_forward(const Py_ssize_t* layers, Py_ssize_t n_layers,
                                Activation activation, const floating* params,
                                const floating* x, Py_ssize_t ldx, Py_ssize_t bp,
                                floating* acts, floating* pre) noexcept nogil:
    """Every layer's values for the bp samples of a block: x is features x samples (row
    stride ldx); acts gets each layer after the input, (units, bp), the hidden ones
    activated, the last the logits; pre (unless NULL) the hidden pre-activations."""
    cdef Py_ssize_t k, o, n_in, n_out, lda = ldx, off = 0
    cdef Py_ssize_t last = n_layers - 2
    cdef const floating* a_in = x
    cdef const floating* w
    cdef floating* z = acts
    cdef floating* p = pre
    for k in range(n_layers - 1):
        n_in = layers[k]
        n_out = layers[k + 1]
        w = params + off
        for o in range(n_out):
            # The bias after the sum, as the generic step and the twin add it.
            if k < last and p != NULL:
                _combine(w + o, n_out, n_in, a_in, lda, bp, p + o * bp)
                activate(p + o * bp, w[n_in * n_out + o], z + o * bp, bp, activation)
                # pre holds the input of the activation: the bias added too.
                activate(p + o * bp, w[n_in * n_out + o], p + o * bp, bp, IDENTITY)
            else:
                _combine(w + o, n_out, n_in, a_in, lda, bp, z + o * bp)
                activate(z + o * bp, w[n_in * n_out + o], z + o * bp, bp,
                         activation if k < last else IDENTITY)
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
    cdef Py_ssize_t k, i, o, q, n_in, n_out, lda
    cdef floating four[4]
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
        # Four dot products per pass (dot4), along the longer of the two sides.
        if n_out >= n_in:
            for i in range(n_in):
                o = 0
                while o + 4 <= n_out:
                    dot4(a_prev + i * lda, delta + o * bp, bp, bp, four)
                    for q in range(4):
                        g[i * n_out + o + q] += four[q]
                    o += 4
                while o < n_out:
                    g[i * n_out + o] += dot(a_prev + i * lda, delta + o * bp, bp)
                    o += 1
        else:
            for o in range(n_out):
                i = 0
                while i + 4 <= n_in:
                    dot4(delta + o * bp, a_prev + i * lda, lda, bp, four)
                    for q in range(4):
                        g[(i + q) * n_out + o] += four[q]
                    i += 4
                while i < n_in:
                    g[i * n_out + o] += dot(a_prev + i * lda, delta + o * bp, bp)
                    i += 1
        for o in range(n_out):
            g[n_in * n_out + o] += _sum(delta + o * bp, bp)
        if k > 0:
            # The error for the layer below, through the weights (row i of W), times the
            # derivative of its activation: written over its values, which nothing reads
            # any more. work is free after the loss.
            d_prev = acts + act_off - n_in * bp
            pre_off -= n_in * bp
            for i in range(n_in):
                _combine(wt + i * n_out, 1, n_out, delta, bp, bp, work)
                activation_backward(work, d_prev + i * bp,
                                    pre + pre_off + i * bp if pre != NULL else NULL,
                                    bp, activation)
    return loss
