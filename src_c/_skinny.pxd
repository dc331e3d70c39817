# The training step of a skinny network: one hidden layer wider than the fused narrow step
# takes (_narrow.pxd), between an input and an output of a few units ([2, 500, 1], say), one
# block of samples at a time.
#
# Every product of such a network is skinny (_gemm.pxd): each value of the hidden layer enters
# a few multiply-adds only. The layer-by-layer step therefore runs at the speed of the memory
# that holds the hidden layer, and, laid out (units, samples), its passes run along a block's
# samples, rows too short for the vector loops once the block fits in cache. Here a block's
# hidden layer is laid out (samples, units): every loop runs along the hidden units, a long
# contiguous row, and the whole block stays in L1 or L2 from the forward pass to the weight
# gradients.
#
# The products become row combinations (_gemm.row_combination): a sample's hidden row is its
# inputs' combination of the rows of W1 (and b1, which follows W1 in the parameters); the
# error it gets back is its outputs' errors' combination of the rows of W2 transposed; and
# the gradients of W1, b1 and W2 are combinations of the block's rows, four samples for one
# read and write of a gradient row. Sums over samples therefore go in a fixed order: the
# result depends on the shapes alone, and needs no -ffast-math.

from cython cimport floating
from libc.string cimport memcpy

from _activations cimport Activation, activate, activation_backward
from _gemm cimport dot, dot4, row_combination
from _losses cimport Output, output_gradient
from _updates cimport row_sums

cdef enum:
    # The widest input and output layers the step takes: with more, the products are no
    # longer skinny (gemm_skinny), and the layer-by-layer step's products do better.
    SKINNY_MAX_IO = 4
    # Below this many hidden units the rows are too short for the per-sample loops, and the
    # layer-by-layer step (cache-blocked where the batch is large) is faster: at 50 units by
    # 1.1-1.2x, at 100 units 1.05-1.2x slower than this step (AVX2, both dtypes).
    SKINNY_MIN_WIDTH = 96
    # A block's hidden rows (and pre-activations) within about this many bytes, its error
    # rows as many again: the whole block in L1 (32 KiB) and L2. 8 to 32 KiB measured alike.
    SKINNY_BLOCK_BYTES = 16384
    SKINNY_MIN_BLOCK = 4
    SKINNY_MAX_BLOCK = 256


cdef inline void _input_combination(const floating* c, const floating* w, Py_ssize_t n_in,
                                    Py_ssize_t hidden, floating* out) noexcept nogil:
    """out = sum_i c[i] w[i * hidden:(i + 1) * hidden] + w[n_in * hidden:] (W1's rows, then
    b1) in one pass, for n_in <= SKINNY_MAX_IO."""
    cdef Py_ssize_t j
    cdef const floating* b = w + n_in * hidden
    cdef floating c0 = c[0], c1, c2, c3
    if n_in == 1:
        for j in range(hidden):
            out[j] = c0 * w[j] + b[j]
    elif n_in == 2:
        c1 = c[1]
        for j in range(hidden):
            out[j] = (c0 * w[j] + c1 * w[hidden + j]) + b[j]
    elif n_in == 3:
        c1 = c[1]
        c2 = c[2]
        for j in range(hidden):
            out[j] = ((c0 * w[j] + c1 * w[hidden + j]) + c2 * w[2 * hidden + j]) + b[j]
    else:
        c1 = c[1]
        c2 = c[2]
        c3 = c[3]
        for j in range(hidden):
            out[j] = ((c0 * w[j] + c1 * w[hidden + j])
                      + (c2 * w[2 * hidden + j] + c3 * w[3 * hidden + j])) + b[j]


cdef extern from *:
    """
    /* W1's and b1's gradient rows (grads, then grads + n_in * hidden) += four samples' error
       rows g, g + hidden, ... combined with their inputs c[q * 4 + i] (and 1 for b1), summed
       as _gemm's row_combination sums four rows, in one pass: each error row is read once
       for every gradient row. One loop per input count, each vectorized: the rows are
       distinct parts of two distinct buffers (the block's errors, the gradient), which ivdep
       tells the compiler, since it would not vectorize for fear of their overlapping. */
    #define CNET_GRAD_TERM(r, q) (((r[0] * e0 + r[1] * e1) + (r[2] * e2 + r[3] * e3)))
    #define CNET_INPUT_GRADIENT4(NAME, T)                                                 \
    static inline void NAME(const T* c, const T* g, Py_ssize_t hidden, Py_ssize_t n_in,  \
                            T* grads) {                                                   \
        const T* g1 = g + hidden; const T* g2 = g1 + hidden; const T* g3 = g2 + hidden;   \
        T* w0 = grads; T* w1 = grads + hidden; T* w2 = w1 + hidden; T* w3 = w2 + hidden;  \
        T* gb = grads + n_in * hidden;                                                    \
        T k0[4], k1[4], k2[4], k3[4];                                                     \
        Py_ssize_t j; int q;                                                              \
        for (q = 0; q < 4; q++) {                                                         \
            k0[q] = c[q * 4]; k1[q] = c[q * 4 + 1];                                       \
            k2[q] = c[q * 4 + 2]; k3[q] = c[q * 4 + 3];                                   \
        }                                                                                 \
        if (n_in == 1) {                                                                  \
            _Pragma("GCC ivdep")                                                          \
            for (j = 0; j < hidden; j++) {                                                \
                T e0 = g[j], e1 = g1[j], e2 = g2[j], e3 = g3[j];                          \
                w0[j] += CNET_GRAD_TERM(k0, q); gb[j] += (e0 + e1) + (e2 + e3);           \
            }                                                                             \
        } else if (n_in == 2) {                                                           \
            _Pragma("GCC ivdep")                                                          \
            for (j = 0; j < hidden; j++) {                                                \
                T e0 = g[j], e1 = g1[j], e2 = g2[j], e3 = g3[j];                          \
                w0[j] += CNET_GRAD_TERM(k0, q); w1[j] += CNET_GRAD_TERM(k1, q);           \
                gb[j] += (e0 + e1) + (e2 + e3);                                           \
            }                                                                             \
        } else if (n_in == 3) {                                                           \
            _Pragma("GCC ivdep")                                                          \
            for (j = 0; j < hidden; j++) {                                                \
                T e0 = g[j], e1 = g1[j], e2 = g2[j], e3 = g3[j];                          \
                w0[j] += CNET_GRAD_TERM(k0, q); w1[j] += CNET_GRAD_TERM(k1, q);           \
                w2[j] += CNET_GRAD_TERM(k2, q); gb[j] += (e0 + e1) + (e2 + e3);           \
            }                                                                             \
        } else {                                                                          \
            _Pragma("GCC ivdep")                                                          \
            for (j = 0; j < hidden; j++) {                                                \
                T e0 = g[j], e1 = g1[j], e2 = g2[j], e3 = g3[j];                          \
                w0[j] += CNET_GRAD_TERM(k0, q); w1[j] += CNET_GRAD_TERM(k1, q);           \
                w2[j] += CNET_GRAD_TERM(k2, q); w3[j] += CNET_GRAD_TERM(k3, q);           \
                gb[j] += (e0 + e1) + (e2 + e3);                                           \
            }                                                                             \
        }                                                                                 \
    }
    CNET_INPUT_GRADIENT4(cnet_input_gradient4_double, double)
    CNET_INPUT_GRADIENT4(cnet_input_gradient4_float, float)
    """
    void input_gradient4_double "cnet_input_gradient4_double"(
        const double* c, const double* g, Py_ssize_t hidden, Py_ssize_t n_in,
        double* grads) noexcept nogil
    void input_gradient4_float "cnet_input_gradient4_float"(
        const float* c, const float* g, Py_ssize_t hidden, Py_ssize_t n_in,
        float* grads) noexcept nogil


cdef inline void _input_gradient4(const floating* c, const floating* g, Py_ssize_t hidden,
                                  Py_ssize_t n_in, floating* grads) noexcept nogil:
    if floating is float:
        input_gradient4_float(c, g, hidden, n_in, grads)
    else:
        input_gradient4_double(c, g, hidden, n_in, grads)


cdef inline double skinny_block(Py_ssize_t n_in, Py_ssize_t hidden, Py_ssize_t n_out,
                                Activation activation, Output output, floating loss_parameter,
                                const floating* params, floating* grads,
                                const floating* w2t, floating* gw2t,
                                const floating* x, Py_ssize_t x_sample_stride,
                                Py_ssize_t x_feature_stride, const floating* y,
                                const floating* w, floating scale, bint want_loss,
                                Py_ssize_t mb, floating* acts, floating* pre,
                                floating* scratch, floating* coef,
                                const floating* ones) noexcept nogil:
    """Forward and backward over one block of mb samples: adds the block's gradient of W1, b1
    and b2 to grads (laid out as params), that of W2 to gw2t (W2 transposed, outputs x
    hidden), and returns its summed loss if asked.

    x[s * x_sample_stride + i * x_feature_stride] is sample s's input i; y the block's
    targets, samples x outputs; w its sample weights (NULL: all 1); scale 1 / the batch's
    weight sum; w2t W2 transposed. acts holds mb * (hidden + n_out) values, pre (NULL
    unless the activation's backward reads its input) and scratch mb * max(hidden, 3) each,
    coef 4 * SKINNY_MAX_IO and ones mb (all 1)."""
    cdef Py_ssize_t s, i, o, q
    cdef floating four[4]
    cdef Py_ssize_t b1_off = n_in * hidden, w2_off = b1_off + hidden
    cdef Py_ssize_t b2_off = w2_off + hidden * n_out
    cdef floating* a = acts
    cdef floating* d = acts + mb * hidden
    cdef floating total
    # Forward: each sample's pre-activation is its inputs' combination of W1's rows, plus b1
    # (after the sum, as the other steps add it), activated while the row is in L1.
    for s in range(mb):
        for i in range(n_in):
            coef[i] = x[s * x_sample_stride + i * x_feature_stride]
        _input_combination(coef, params, n_in, hidden, a + s * hidden)
        if pre != NULL:
            memcpy(pre + s * hidden, a + s * hidden, hidden * sizeof(floating))
        activate(a + s * hidden, 0, a + s * hidden, hidden, activation)
    # The logits, outputs x samples, as output_gradient reads them.
    for o in range(n_out):
        # Four samples per pass (dot4): four independent sums keep the adder busy, where one
        # dot of float32 is a single chain of vector additions.
        s = 0
        while s + 4 <= mb:
            dot4(w2t + o * hidden, a + s * hidden, hidden, hidden, four)
            for q in range(4):
                d[o * mb + s + q] = four[q] + params[b2_off + o]
            s += 4
        while s < mb:
            d[o * mb + s] = dot(a + s * hidden, w2t + o * hidden, hidden) + params[b2_off + o]
            s += 1
    cdef double loss = output_gradient(output, d, y, n_out, mb, 1, n_out, scale, want_loss,
                                       scratch, w, loss_parameter)
    # W2 and b2, from the hidden values before they are overwritten by their error.
    for o in range(n_out):
        row_combination(d + o * mb, 1, a, hidden, mb, 1, gw2t + o * hidden, hidden, True)
        row_sums(d + o * mb, 1, mb, &total)
        grads[b2_off + o] += total
    # The hidden layer's error: the outputs' errors through W2, times the activation's
    # derivative, written over the hidden values (scratch is free after the loss).
    for s in range(mb):
        row_combination(d + s, mb, w2t, hidden, n_out, 1, scratch + s * hidden, hidden, False)
    activation_backward(scratch, a, pre, mb * hidden, activation)
    # W1 (input i's values combine the rows of errors) and b1 (all of them, with weight 1):
    # four samples at a time, each error row read once for every gradient row.
    s = 0
    while s + 4 <= mb:
        for q in range(4):
            for i in range(n_in):
                coef[q * SKINNY_MAX_IO + i] = x[(s + q) * x_sample_stride + i * x_feature_stride]
        _input_gradient4(coef, a + s * hidden, hidden, n_in, grads)
        s += 4
    if s < mb:
        for i in range(n_in):
            row_combination(x + s * x_sample_stride + i * x_feature_stride, x_sample_stride,
                            a + s * hidden, hidden, mb - s, 1, grads + i * hidden, hidden, True)
        row_combination(ones, 1, a + s * hidden, hidden, mb - s, 1, grads + b1_off, hidden,
                        True)
    return loss
