"""Property-based fuzzing of the public kernels and estimators (hypothesis).

Every generated case must either give the numpy twin's result or raise a ValueError or
TypeError; anything else (another exception, a wrong answer, NaN where the twin has none)
fails. A crash of the compiled code kills the interpreter, which pytest's faulthandler
reports with a traceback, failing the run.

The number of examples per test comes from CNET_FUZZ_EXAMPLES (default 150: about 2,700 cases
over the 18 tests below in CI, on each compiled build the CPU supports); ``scripts/fuzz.sh``
runs 20,000 per kernel family on demand.
"""
import os
import warnings

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import cnet
from cnet import kernels, reference

EXAMPLES = int(os.environ.get("CNET_FUZZ_EXAMPLES", "150"))
# The cpu_variant fixture only selects a compiled build; nothing in it needs resetting between
# examples, so hypothesis's warning about function-scoped fixtures does not apply.
FUZZ = settings(max_examples=EXAMPLES, deadline=None, derandomize=True,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                       HealthCheck.function_scoped_fixture])

# Every property runs on each compiled build this CPU supports (conftest.cpu_variant).
pytestmark = pytest.mark.usefixtures("cpu_variant")

DTYPES = [np.bool_, np.int8, np.int16, np.int32, np.int64, np.uint8, np.float16, np.float32,
          np.float64, np.complex128, np.object_, np.str_]
EXTREMES = [0.0, -0.0, 1.0, -1.0, 1e300, -1e300, 1e38, -1e38, np.nan, np.inf, -np.inf]


@st.composite
def arrays(draw, ndim=2, max_side=5, shape=None):
    """Arrays of any dtype, odd values and memory layouts, read-only or not."""
    dtype = np.dtype(draw(st.sampled_from(DTYPES)))
    if shape is None:
        shape = tuple(draw(st.integers(0, max_side)) for _ in range(ndim))
    if dtype.kind in "OU":
        a = np.array(draw(st.lists(st.sampled_from(["a", 1, 2.5]), min_size=int(np.prod(shape)),
                                   max_size=int(np.prod(shape)))), dtype=dtype).reshape(shape)
    else:
        floats = st.one_of(st.floats(-10, 10), st.sampled_from(EXTREMES))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            values = draw(hnp.arrays(np.float64, shape, elements=floats))
            a = values.astype(dtype) if dtype.kind != "c" else values + 0j
    layout = draw(st.sampled_from(["C", "F", "strided", "readonly"]))
    if layout == "F":
        a = np.asfortranarray(a)
    elif layout == "strided" and a.ndim >= 1 and a.size:
        a = np.repeat(a, 2, axis=-1)[..., ::2]
    elif layout == "readonly":
        a = a.copy()
        a.setflags(write=False)
    return a


def _agrees_or_refuses(name, *args):
    """Call the kernel: a ValueError/TypeError is fine; a result must equal the twin's."""
    try:
        got = getattr(kernels, name)(*args)
    except (ValueError, TypeError) as exc:
        assert str(exc), "errors must say what is wrong"
        return
    converted = [np.ascontiguousarray(a, dtype=got.dtype if isinstance(got, np.ndarray)
                                      else np.float64) for a in args]
    with np.errstate(all="ignore"):
        expected = getattr(reference, name)(*converted)
    tol = 1e-4 if isinstance(got, np.ndarray) and got.dtype == np.float32 else 1e-10
    # NaN in the result (float32 overflow of valid finite inputs) must be NaN in both.
    np.testing.assert_allclose(got, expected, rtol=tol, atol=tol, equal_nan=True)


ELEMENTWISE = ["relu", "sigmoid", "tanh", "leaky_relu"]
BACKWARDS = ["relu_backward", "sigmoid_backward", "tanh_backward", "leaky_relu_backward"]
PAIRS = ["binary_cross_entropy_grad", "softmax_cross_entropy_grad", "squared_error_grad",
         "poisson_loss_grad"]


@pytest.mark.parametrize("name", ELEMENTWISE + ["softmax", "bias_grad"])
@FUZZ
@given(data=st.data())
def test_fuzz_one_input_kernels(name, data):
    _agrees_or_refuses(name, data.draw(arrays()))


@pytest.mark.parametrize("name", BACKWARDS + PAIRS)
@FUZZ
@given(data=st.data())
def test_fuzz_two_input_kernels(name, data):
    a = data.draw(arrays())
    same = data.draw(st.booleans())   # mostly matching shapes, sometimes not
    b = data.draw(arrays(shape=a.shape if same else None))
    _agrees_or_refuses(name, a, b)


@FUZZ
@given(data=st.data())
def test_fuzz_matmul(data):
    a, b = data.draw(arrays()), data.draw(arrays())
    trans_a, trans_b = data.draw(st.booleans()), data.draw(st.booleans())
    try:
        got = kernels.matmul(a, b, trans_a=trans_a, trans_b=trans_b)
    except (ValueError, TypeError) as exc:
        assert str(exc)
        return
    ca, cb = (np.asarray(x, dtype=got.dtype) for x in (a, b))
    expected = reference.matmul(ca, cb, trans_a=trans_a, trans_b=trans_b)
    assert got.shape == expected.shape
    k = ca.shape[0] if trans_a else ca.shape[1]
    if np.abs(ca).max() * np.abs(cb).max() * k >= np.finfo(got.dtype).max / 4:
        # Products near the overflow threshold: whether a sum overflows depends on the
        # order of additions and on fused multiply-adds (numpy's BLAS uses them, the
        # portable loops do not), so both backends are right and may differ.
        return
    tol = 1e-4 if got.dtype == np.float32 else 1e-10
    np.testing.assert_allclose(got, expected, rtol=tol, atol=tol * np.abs(expected).max())


@FUZZ
@given(data=st.data())
def test_fuzz_bias_add(data):
    z = data.draw(arrays())
    bias = data.draw(arrays(ndim=1))
    _agrees_or_refuses("bias_add", z, bias)


@st.composite
def datasets(draw):
    """(X, y) of fuzzed content, mostly of matching lengths."""
    X = draw(arrays(max_side=6))
    n = X.shape[0] if X.ndim else 0
    labels = draw(st.sampled_from(["binary", "one class", "strings", "float", "multiclass"]))
    rng = np.random.default_rng(draw(st.integers(0, 1000)))
    if draw(st.integers(0, 9)) == 0:
        n = max(0, n - 1)   # length mismatch
    y = {"binary": rng.integers(0, 2, n), "one class": np.zeros(n, int),
         "strings": np.array(["a", "b"])[rng.integers(0, 2, n)],
         "float": rng.standard_normal(n), "multiclass": rng.integers(0, 3, n)}[labels]
    return X, y


def _fits_or_refuses(model, X, y):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            model.fit(X, y)
        except (ValueError, TypeError) as exc:
            assert str(exc)
            return
        try:
            out = model.predict(X)
        except ValueError as exc:   # outputs too large for the data: said, not returned
            assert "NaN or infinite" in str(exc)
            return
    assert len(out) == len(X)
    if out.dtype.kind == "f":
        assert np.isfinite(out).all()


@FUZZ
@given(data=datasets())
def test_fuzz_neural_net(data):
    X, y = data
    features = X.shape[1] if X.ndim == 2 else 1
    _fits_or_refuses(cnet.NeuralNet(layers=[max(features, 1), 3, 1], iterations=3,
                                     random_state=0), X, y)


@pytest.mark.parametrize("estimator", [cnet.MLPClassifier, cnet.MLPRegressor])
@FUZZ
@given(data=datasets())
def test_fuzz_estimators(estimator, data):
    X, y = data
    _fits_or_refuses(estimator((3,), max_iter=2, random_state=0), X, y)
