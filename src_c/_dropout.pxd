# Inverted dropout on raw buffers, with masks from a counter-based hash.
#
# Element e of a layer keeps its value, scaled by 1 / (1 - rate), when
# uniform(counter + e) >= rate, and is zeroed otherwise; uniform() maps splitmix64 of the
# counter to [0, 1) with 53 bits. The mask depends on (seed, counter) alone, so the backward
# pass regenerates it instead of storing it, and the numpy twin draws the same one.

from cython cimport floating
from libc.stdint cimport uint64_t


cdef inline uint64_t splitmix64(uint64_t x) noexcept nogil:
    x = x + <uint64_t>0x9E3779B97F4A7C15
    x = (x ^ (x >> 30)) * <uint64_t>0xBF58476D1CE4E5B9
    x = (x ^ (x >> 27)) * <uint64_t>0x94D049BB133111EB
    return x ^ (x >> 31)


cdef inline floating keep_factor(uint64_t counter, double rate, floating scale) noexcept nogil:
    # 0 for a dropped element, scale = 1 / (1 - rate) for a kept one.
    cdef double u = <double>(splitmix64(counter) >> 11) * (1.0 / 9007199254740992.0)
    return scale if u >= rate else 0


cdef inline void dropout_mask(floating* out, Py_ssize_t n, double rate,
                              uint64_t counter) noexcept nogil:
    cdef Py_ssize_t e
    cdef floating scale = <floating>(1 / (1 - rate))
    for e in range(n):
        out[e] = keep_factor(counter + <uint64_t>e, rate, scale)


cdef inline void dropout_forward(floating* a, Py_ssize_t n, double rate,
                                 uint64_t counter) noexcept nogil:
    # a *= mask, in place: the layer's output as the next layer sees it.
    cdef Py_ssize_t e
    cdef floating scale = <floating>(1 / (1 - rate))
    for e in range(n):
        a[e] = a[e] * keep_factor(counter + <uint64_t>e, rate, scale)


cdef inline void dropout_backward(floating* grad, floating* a, Py_ssize_t n, double rate,
                                  uint64_t counter) noexcept nogil:
    # grad *= mask (the gradient through the dropout), and a is turned back into the
    # activation's own output (a / mask where kept; dropped elements have grad 0, so what a
    # holds there does not matter), ready for the activation's backward pass.
    cdef Py_ssize_t e
    cdef floating scale = <floating>(1 / (1 - rate))
    cdef floating keep
    for e in range(n):
        keep = keep_factor(counter + <uint64_t>e, rate, scale)
        grad[e] = grad[e] * keep
        a[e] = a[e] * (1 - <floating>rate) if keep != 0 else 0


cdef inline uint64_t dropout_counter(uint64_t seed, Py_ssize_t epoch, Py_ssize_t batch_start,
                                     Py_ssize_t layer) noexcept nogil:
    # Where the counters of one layer in one batch start: far apart for different (epoch,
    # batch, layer), so that masks do not repeat.
    return (seed + <uint64_t>epoch * <uint64_t>0x9E3779B97F4A7C15
            + <uint64_t>batch_start * <uint64_t>0xD1B54A32D192ED03
            + <uint64_t>layer * <uint64_t>0x8CB92BA72F3D8DD7)
