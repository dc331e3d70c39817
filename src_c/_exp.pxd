# exp(x) for x <= 0, written so that the compiler can vectorize the loops that call it.
#
# The stable sigmoid and cross-entropy only ever need exp(-|z|), so the argument is never
# positive and the result never overflows. A libm call cannot be vectorized without
# -ffast-math, and in the loss loop it cost a fifth of the seed network's whole epoch.
#
# Method: x = k ln2 + r with k = round(x / ln2) and |r| <= ln2 / 2 (Cody-Waite: ln2 split in a
# high part with trailing zero bits, so k * LN2_HI is exact, and a low part); exp(r) by its
# Taylor polynomial, whose truncation error at |r| = ln2 / 2 is below half an ulp; then the
# power 2^k is assembled from its bit pattern. k is read from the bits of x / ln2 + SHIFT:
# adding 1.5 * 2^52 (2^23 in float) rounds to an integer and leaves that integer in the low
# mantissa bits. Accuracy: within 2 ulp of libm's exp over the whole range (tested).
#
# Below -708.39 (-87.33 in float) exp(x) is subnormal; 0 is returned there. NaN propagates.

from cython cimport floating
from libc.stdint cimport uint32_t, uint64_t
from libc.string cimport memcpy


cdef inline double _exp_nonpositive_double(double x) noexcept nogil:
    cdef double kd, r, r2, r4, p, scale
    cdef uint64_t bits
    cdef bint underflow = x < -708.39
    x = -708.39 if underflow else x
    kd = x * 1.4426950408889634 + 6755399441055744.0
    memcpy(&bits, &kd, sizeof(bits))
    kd = kd - 6755399441055744.0
    r = (x - kd * 0.6931471803691238) - kd * 1.9082149292705877e-10
    # Taylor coefficients 1/j!, evaluated by Estrin's scheme: independent pairs joined by
    # r^2, r^4, r^8, a dependency chain of 6 operations where Horner's would be 26.
    r2 = r * r
    r4 = r2 * r2
    p = ((1.0 + r) + r2 * (0.5 + r * 1.6666666666666666e-01)) + r4 * (
        (4.1666666666666664e-02 + r * 8.3333333333333332e-03)
        + r2 * (1.3888888888888889e-03 + r * 1.9841269841269841e-04)) + (r4 * r4) * (
        (2.4801587301587302e-05 + r * 2.7557319223985893e-06)
        + r2 * (2.7557319223985888e-07 + r * 2.5052108385441720e-08)
        + r4 * (2.0876756987868100e-09 + r * 1.6059043836821613e-10))
    bits = (bits + 1023) << 52
    memcpy(&scale, &bits, sizeof(scale))
    # Multiply first, then select: a multiply inside a branch keeps gcc from vectorizing.
    p = p * scale
    return 0.0 if underflow else p


cdef inline float _exp_nonpositive_float(float x) noexcept nogil:
    cdef float kd, r, r2, p, scale
    cdef uint32_t bits
    cdef bint underflow = x < -87.33
    x = <float>-87.33 if underflow else x
    kd = x * <float>1.44269504 + <float>12582912.0
    memcpy(&bits, &kd, sizeof(bits))
    kd = kd - <float>12582912.0
    r = (x - kd * <float>0.693145751953125) - kd * <float>1.428606765330187e-06
    r2 = r * r
    p = ((<float>1.0 + r) + r2 * (<float>0.5 + r * <float>1.6666667e-01)) + (r2 * r2) * (
        (<float>4.1666668e-02 + r * <float>8.3333338e-03)
        + r2 * (<float>1.3888889e-03 + r * <float>1.9841270e-04))
    bits = (bits + 127) << 23
    memcpy(&scale, &bits, sizeof(scale))
    p = p * scale
    return <float>0.0 if underflow else p


cdef inline floating exp_nonpositive(floating x) noexcept nogil:
    if floating is float:
        return _exp_nonpositive_float(x)
    else:
        return _exp_nonpositive_double(x)


cdef inline floating minus_abs(floating z) noexcept nogil:
    # -|z| in z's own type (libm's fabs would promote float to double and select the double
    # exp above for float data).
    return z if z <= 0 else -z
