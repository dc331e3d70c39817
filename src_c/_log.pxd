# log(1 + e) for 0 <= e <= 1, written so that the loops calling it vectorize.
#
# The binary cross-entropy is log(1 + exp(-|z|)) + max(z, 0) - y z: the argument of the log
# lies in [0, 1]. libm's log1p is a call the compiler cannot vectorize without -ffast-math;
# with it, recording the loss every epoch nearly doubled the seed network's epoch.
#
# Method: log(1 + e) = 2 atanh(s) with s = e / (2 + e), an identity. s lies in [0, 1/3] and
# one division gives it to half an ulp without forming 1 + e, so a tiny e keeps its relative
# accuracy. atanh(s) = s (1 + u/3 + u^2/5 + ...) with u = s^2 <= 1/9: the series is summed
# to the term u^16/33 in double (u^8/17 in float), where the first omitted term is below
# 2^-56 (2^-27) of the sum, by Estrin's scheme (a short dependency chain). Accuracy: the
# roundings of 2 + e, of the division, of the series and of the last product add up to about
# 2 ulp relative, which is up to 5 ulp of the result where it sits just above a power of two
# (measured worst case 5 ulp in double, 4 in float; the test allows 6). The loss it serves is
# a sum of hundreds of such terms and is compared with the numpy twin at 1e-12. NaN propagates.

from cython cimport floating


cdef inline double _log1p_unit_double(double e) noexcept nogil:
    cdef double s = e / (2.0 + e)
    cdef double u = s * s
    cdef double u2 = u * u
    cdef double u4 = u2 * u2
    cdef double u8 = u4 * u4
    cdef double p = (
        ((1.0 + u * 3.33333333333333315e-01)
         + u2 * (2.00000000000000011e-01 + u * 1.42857142857142849e-01))
        + u4 * ((1.11111111111111105e-01 + u * 9.09090909090909116e-02)
                + u2 * (7.69230769230769273e-02 + u * 6.66666666666666657e-02))
        + u8 * (((5.88235294117647051e-02 + u * 5.26315789473684181e-02)
                 + u2 * (4.76190476190476164e-02 + u * 4.34782608695652162e-02))
                + u4 * ((4.00000000000000008e-02 + u * 3.70370370370370350e-02)
                        + u2 * (3.44827586206896547e-02 + u * 3.22580645161290314e-02)))
        + (u8 * u8) * 3.03030303030303039e-02)
    return (s + s) * p


cdef inline float _log1p_unit_float(float e) noexcept nogil:
    cdef float s = e / (<float>2.0 + e)
    cdef float u = s * s
    cdef float u2 = u * u
    cdef float u4 = u2 * u2
    cdef float p = (
        ((<float>1.0 + u * <float>3.33333333e-01)
         + u2 * (<float>2.00000000e-01 + u * <float>1.42857143e-01))
        + u4 * ((<float>1.11111111e-01 + u * <float>9.09090909e-02)
                + u2 * (<float>7.69230769e-02 + u * <float>6.66666667e-02)))
    return (s + s) * p


cdef inline floating log1p_unit(floating e) noexcept nogil:
    if floating is float:
        return _log1p_unit_float(e)
    else:
        return _log1p_unit_double(e)
