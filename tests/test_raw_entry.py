"""Hostile input at the edges: malformed sparse matrices, objects whose .shape lies, outputs
that overlap inputs and bad values at the raw compiled entry points.

Each must end in a clear ValueError (or a correct result), never in a crash or a silent
wrong answer. Cases that crashed the interpreter run in a fresh one, a table per interpreter
(see ``_isolated``), so a segfault fails its tests instead of ending the run.
"""
import functools
import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import scipy.sparse as sp

import cnet
from cnet import _kernels, _train, engine, kernels, reference, registry
from cnet._layout import n_parameters
from cnet.spec import Network, Progress, Stopping, Validation

from _specs import specs

# --- a crash-proof harness ------------------------------------------------------------------

CHILD = """
import importlib.util, json, os, sys
sys.path.insert(0, os.path.dirname(sys.argv[1]))      # the tests' helpers (_specs)
spec = importlib.util.spec_from_file_location("raw_entry_cases", sys.argv[1])
cases = importlib.util.module_from_spec(spec)
spec.loader.exec_module(cases)
for name, case in list(getattr(cases, sys.argv[2])().items())[int(sys.argv[3]):]:
    print(json.dumps({"started": name}), flush=True)
    try:
        case()
        outcome = {"name": name, "error": None, "message": ""}
    except Exception as exc:
        outcome = {"name": name, "error": type(exc).__name__, "message": str(exc)[:300]}
    print(json.dumps(outcome), flush=True)
"""


@functools.lru_cache(maxsize=None)
def _run_isolated(table):
    """Run every case of ``table()`` (name -> callable) in a fresh interpreter importing the
    cnet this process imports; name -> (exception type name or None, message), or, for a
    case that killed its interpreter, ("crash", what it printed). After a crash the cases
    that follow run in a new interpreter."""
    root = Path(cnet.__file__).resolve().parent.parent
    outcomes = {}
    done = 0
    while True:
        result = subprocess.run([sys.executable, "-c", CHILD, __file__, table, str(done)],
                                cwd=root, capture_output=True, text=True, timeout=300)
        lines = [json.loads(line) for line in result.stdout.splitlines()
                 if line.startswith("{")]
        for line in lines:
            if "name" in line:
                outcomes[line["name"]] = (line["error"], line["message"])
        done += len(lines) // 2
        if result.returncode == 0:
            return outcomes
        if not lines or "started" not in lines[-1]:
            raise AssertionError(f"{table} failed outside its cases:\n{result.stderr[-3000:]}")
        outcomes[lines[-1]["started"]] = (
            "crash", f"exit {result.returncode}: {result.stderr[-2000:]}")
        done += 1


def _isolated(table, name):
    """The outcome of case ``name`` of ``table`` (see _run_isolated)."""
    outcome = _run_isolated(table)[name]
    if outcome[0] == "crash":
        pytest.fail(f"{name} crashed the interpreter ({outcome[1]})")
    return outcome


def _assert_refused(table, name, match):
    error, message = _isolated(table, name)
    assert error == "ValueError", f"{name}: {error}: {message}"
    assert match in message, f"{name}: {message!r} does not say {match!r}"


# --- 1. malformed scipy.sparse input --------------------------------------------------------

def _valid_matrix(fmt):
    dense = np.array([[1.0, 0, 2, 0], [0, 3, 0, 0], [4, 0, 5, 6], [0, 0, 0, 7],
                      [8, 9, 0, 0], [0, 1, 0, 2]])
    return sp.csr_matrix(dense).asformat(fmt)


def _corrupt(fmt, how):
    """A matrix of format fmt whose arrays were changed after construction, as the raw
    constructor (which checks little) lets them be."""
    X = _valid_matrix(fmt)
    if how == "index too large":
        (X.indices if fmt in ("csr", "csc", "bsr") else X.col)[1] = 10**6
    elif how == "index negative":
        (X.indices if fmt in ("csr", "csc") else X.row)[2] = -3
    elif how == "indptr past nnz":
        X.indptr[-1] = X.indices.size + 5
    elif how == "indptr decreasing":
        X.indptr[1] = X.indptr[2] + 1
    elif how == "indptr too short":
        X.indptr = X.indptr[:-1].copy()
    elif how == "shape lie":
        X._shape = (X.shape[0] + 7, X.shape[1] + 7)
    elif how == "NaN in data":
        X.data[1] = np.nan
    elif how == "inf in data":
        X.data[1] = -np.inf
    return X


CORRUPTIONS = {   # how -> what the error must name
    "index too large": "outside", "index negative": "outside", "indptr past nnz": "indptr",
    "indptr decreasing": "indptr", "indptr too short": "indptr", "shape lie": "indptr",
    "NaN in data": "NaN", "inf in data": "NaN"}
MALFORMED = [(fmt, how) for fmt in ("csr", "csc") for how in CORRUPTIONS] + [
    ("coo", "index too large"), ("coo", "index negative"), ("coo", "NaN in data"),
    ("bsr", "index too large")]


def _fitted():
    X = _valid_matrix("csr")
    y = np.array([0, 1, 0, 1, 0, 1])
    return {
        "MLPClassifier": cnet.MLPClassifier((3,), max_iter=3, random_state=0).fit(X, y),
        "MLPRegressor": cnet.MLPRegressor(hidden_layer_sizes=(3,), max_iter=3,
                                          random_state=0).fit(X, y * 1.0),
        "NeuralNet": cnet.NeuralNet(layers=[4, 3, 1], iterations=3).fit(X, y),
    }


def _front_end_calls():
    """call name -> function of the malformed X."""
    y = np.array([0, 1, 0, 1, 0, 1])
    fitted = _fitted()
    valid = _valid_matrix("csr")
    calls = {
        "MLPClassifier.fit": lambda X: cnet.MLPClassifier((3,), max_iter=3).fit(X, y),
        "MLPRegressor.fit": lambda X: cnet.MLPRegressor(hidden_layer_sizes=(3,),
                                                        max_iter=3).fit(X, y * 1.0),
        "NeuralNet.fit": lambda X: cnet.NeuralNet(layers=[4, 3, 1], iterations=3).fit(X, y),
        "MLPClassifier.partial_fit": lambda X: cnet.MLPClassifier((3,)).partial_fit(
            X, y, classes=[0, 1]),
        "MLPRegressor.partial_fit": lambda X: cnet.MLPRegressor(
            hidden_layer_sizes=(3,)).partial_fit(X, y * 1.0),
        "MLPClassifier.fit(eval_set)": lambda X: cnet.MLPClassifier(
            (3,), max_iter=3).fit(valid, y, eval_set=(X, y)),
        "MLPRegressor.fit(eval_set)": lambda X: cnet.MLPRegressor(
            hidden_layer_sizes=(3,), max_iter=3).fit(valid, y * 1.0, eval_set=(X, y * 1.0)),
    }
    for model in ("MLPClassifier", "MLPRegressor", "NeuralNet"):
        calls[f"{model}.predict"] = lambda X, m=fitted[model]: m.predict(X)
        calls[f"{model}.score"] = lambda X, m=fitted[model]: m.score(X, y[:X.shape[0]])
    for model in ("MLPClassifier", "NeuralNet"):
        calls[f"{model}.predict_proba"] = lambda X, m=fitted[model]: m.predict_proba(X)
    return calls


FRONT_END_CALLS = ["MLPClassifier.fit", "MLPRegressor.fit", "NeuralNet.fit",
                   "MLPClassifier.partial_fit", "MLPRegressor.partial_fit",
                   "MLPClassifier.fit(eval_set)", "MLPRegressor.fit(eval_set)",
                   "MLPClassifier.predict", "MLPClassifier.score", "MLPRegressor.predict",
                   "MLPRegressor.score", "NeuralNet.predict", "NeuralNet.score",
                   "MLPClassifier.predict_proba", "NeuralNet.predict_proba"]


def front_end_cases():
    calls = _front_end_calls()
    return {f"{call} {fmt} {how}": functools.partial(calls[call], _corrupt(fmt, how))
            for call in FRONT_END_CALLS for fmt, how in MALFORMED}


@pytest.mark.parametrize("fmt,how", MALFORMED)
@pytest.mark.parametrize("call", FRONT_END_CALLS)
def test_front_ends_refuse_malformed_sparse_input(call, fmt, how):
    # Before scipy converts it (tocsr from CSC, sum_duplicates), which would crash.
    _assert_refused("front_end_cases", f"{call} {fmt} {how}", CORRUPTIONS[how])


def kernel_cases():
    g = np.ones((6, 2))
    b = np.ones((4, 2))
    cases = {}
    for fmt, how in MALFORMED:
        cases[f"sparse_matmul {fmt} {how}"] = functools.partial(
            kernels.sparse_matmul, _corrupt(fmt, how), b)
        cases[f"sparse_transpose_matmul {fmt} {how}"] = functools.partial(
            kernels.sparse_transpose_matmul, _corrupt(fmt, how), g)
    return cases


@pytest.mark.parametrize("fmt,how", MALFORMED)
@pytest.mark.parametrize("kernel", ["sparse_matmul", "sparse_transpose_matmul"])
def test_sparse_kernels_refuse_malformed_sparse_input(kernel, fmt, how):
    _assert_refused("kernel_cases", f"{kernel} {fmt} {how}", CORRUPTIONS[how])


def test_the_structure_check_changes_nothing_it_accepts():
    # scipy's check_format prunes and recasts the arrays it checks; this check only reads.
    X = _valid_matrix("csc")
    X.indices = X.indices.astype(np.int64)
    X.data = np.concatenate([X.data, [99.0]])      # unused room after indptr[-1]
    X.indices = np.concatenate([X.indices, [0]])
    arrays = [a.copy() for a in (X.data, X.indices, X.indptr)]
    net = cnet.NeuralNet(layers=[4, 3, 1], iterations=3, random_state=0).fit(
        X, [0, 1, 0, 1, 0, 1])
    for before, after in zip(arrays, (X.data, X.indices, X.indptr)):
        np.testing.assert_array_equal(before, after)
        assert before.dtype == after.dtype
    dense = cnet.NeuralNet(layers=[4, 3, 1], iterations=3, random_state=0).fit(
        X.toarray(), [0, 1, 0, 1, 0, 1])
    np.testing.assert_allclose(net.predict_proba(X), dense.predict_proba(X.toarray()),
                               rtol=1e-12)


# --- 2. objects whose .shape lies -----------------------------------------------------------

class LyingShape(np.ndarray):
    """An ndarray whose .shape (and so np.shape) says what ``lie`` says; its buffer, which
    the compiled code reads, has the true shape."""

    lie = None

    @property
    def shape(self):
        return self.lie


def _liar(array, lie):
    view = np.ascontiguousarray(array).view(LyingShape)
    view.lie = lie
    return view


def _wide_network():
    # One sample of 1 feature that claims 2**20: read as claimed, X would be 8 MiB long.
    layers = np.array([2**20, 1], dtype=np.intp)
    return layers, np.zeros(n_parameters(layers)), _liar(np.ones((4, 1)), (4, 2**20))


def lying_shape_cases():
    layers, params, X = _wide_network()
    Y = np.ones((4, 1))
    small = np.array([2, 3, 1], dtype=np.intp)
    small_params = np.full(n_parameters(small), 0.1)
    X_small = np.ones((4, 2))
    network = Network(layers, "relu", "logistic")
    small_network, adam = specs(small, "relu", "logistic", solver="adam", batch_size=1)
    adam.optimizer.state = _liar(np.zeros((2, 1)), (2, small_params.size))
    _, lying_validation = specs(small, "relu", "logistic", batch_size=4,
                                validation=Validation(_liar(np.ones((4, 1)), (4, 2)), Y))
    return {
        "train_epochs X": lambda: _train.train_epochs(
            params, network, specs(layers, "relu", "logistic", batch_size=4)[1], X, Y,
            Progress(), 1),
        "loss_and_gradient X": lambda: _train.loss_and_gradient(
            params, network, X, Y, np.empty_like(params)),
        "forward X": lambda: _train.forward(params, network, X, np.empty((4, 1))),
        "train_epochs state": lambda: _train.train_epochs(
            small_params.copy(), small_network, adam, X_small, Y, Progress(), 50),
        "train_epochs validation.X": lambda: _train.train_epochs(
            small_params.copy(), small_network, lying_validation, X_small, Y, Progress(), 1),
    }


@pytest.mark.parametrize("name,match", [
    ("train_epochs X", "1 features"), ("loss_and_gradient X", "1 features"),
    ("forward X", "1 features"), ("train_epochs state", "state must have shape"),
    ("train_epochs validation.X", "1 features")])
def test_raw_entry_points_take_sizes_from_the_buffer_not_from_shape(name, match):
    _assert_refused("lying_shape_cases", name, match)


# --- 3. outputs that overlap inputs ---------------------------------------------------------

def _square(seed=0):
    return np.random.default_rng(seed).standard_normal((8, 8))


def _csr_parts(n_rows=8, n_cols=8):
    X = sp.random(n_rows, n_cols, density=0.4, format="csr", random_state=1)
    return (X, X.data.copy(), X.indices.astype(np.intp), X.indptr.astype(np.intp))


@pytest.mark.parametrize("kernel", ["matmul", "matmul_small", "matmul_blas"])
@pytest.mark.parametrize("alias", ["out=a", "out=b", "out overlaps a"])
def test_raw_matmul_refuses_an_out_that_overlaps_an_input(kernel, alias):
    # Before, the product was computed over its own operand as it was written: wrong values.
    a, b = _square(0), _square(1)
    backing = np.zeros(8 * 8 + 3)
    out = {"out=a": a, "out=b": b, "out overlaps a": backing[3:].reshape(8, 8)}[alias]
    if alias == "out overlaps a":
        a = backing[:64].reshape(8, 8)
        a[...] = _square(2)
    with pytest.raises(ValueError, match="shares memory"):
        getattr(_kernels, kernel)(a, b, out)


@pytest.mark.parametrize("alias", ["out=b", "out=data", "out=indices"])
def test_raw_sparse_matmul_refuses_an_out_that_overlaps_an_input(alias):
    X, data, indices, indptr = _csr_parts()
    b = _square(1)
    out = {"out=b": b, "out=data": data[:8].reshape(8, 1) if data.size >= 8 else None,
           "out=indices": indices[:8].view(np.float64).reshape(8, 1)}[alias]
    if alias != "out=b":
        b = b[:, :1].copy()
    with pytest.raises(ValueError, match="shares memory"):
        _kernels.sparse_matmul(data, indices, indptr, b, out)


@pytest.mark.parametrize("alias", ["out=g", "out=data"])
def test_raw_sparse_transpose_matmul_refuses_an_out_that_overlaps_an_input(alias):
    X, data, indices, indptr = _csr_parts()
    g = _square(1)
    out = g if alias == "out=g" else data[:8].reshape(8, 1)
    if alias != "out=g":
        g = g[:, :1].copy()
    with pytest.raises(ValueError, match="shares memory"):
        _kernels.sparse_transpose_matmul(data, indices, indptr, g, out)


def _shifted(values):
    """Two views of one buffer, the second one element on: an input and an out that overlap
    without being the same elements."""
    backing = np.concatenate([values, [0.0]])
    return backing[:-1], backing[1:]


@pytest.mark.parametrize("call", [
    lambda x, out: _kernels.relu(x, out),
    lambda x, out: _kernels.sigmoid(x, out),
    lambda x, out: _kernels.tanh(x, out),
    lambda x, out: _kernels.leaky_relu(x, out),
    lambda x, out: _kernels.relu_backward(np.ones_like(x), x, out),
    lambda x, out: _kernels.tanh_backward(x, np.ones_like(x), out),
    lambda x, out: _kernels.bias_add(x.reshape(2, -1), np.ones(2), out.reshape(2, -1)),
    lambda x, out: _kernels.softmax(x.reshape(2, -1), out.reshape(2, -1)),
    lambda x, out: _kernels.squared_error_grad(np.ones((2, x.size // 2)), x.reshape(2, -1),
                                               out.reshape(2, -1)),
    lambda x, out: _kernels.binary_cross_entropy_grad(np.ones((2, x.size // 2)),
                                                      x.reshape(2, -1), out.reshape(2, -1)),
    lambda x, out: _kernels.bias_grad(x.reshape(4, -1), out[:4]),
    lambda x, out: _kernels.sgd_update(out, x, 0.1),
    lambda x, out: _kernels.momentum_update(np.ones_like(x), x, out, 0.1, 0.9),
    lambda x, out: _kernels.adam_update(np.ones_like(x), np.ones_like(x), x, out, 0.1, 0.9,
                                        0.999, 1e-8),
])
def test_raw_kernels_refuse_an_out_shifted_over_an_input(call):
    x, out = _shifted(np.linspace(-2, 2, 16))
    with pytest.raises(ValueError, match="shares memory"):
        call(x, out)


# Every registry activation (this file also runs in a child interpreter that has no tests/
# on its path, so the registry is read here rather than through registry_rows).
FORWARDS = list(registry.ACTIVATIONS)
BACKWARDS = [f"{name}_backward" for name in FORWARDS]


@pytest.mark.parametrize("position", [0, 1])
@pytest.mark.parametrize("name", FORWARDS + BACKWARDS)
def test_raw_activation_kernels_refuse_an_out_shifted_over_any_input(name, position):
    x, out = _shifted(np.linspace(-2, 2, 16))
    inputs = [x] if name in FORWARDS else [np.linspace(1, 2, 16)] * 2
    inputs[min(position, len(inputs) - 1)] = x
    with pytest.raises(ValueError, match="shares memory"):
        getattr(_kernels, name)(*inputs, out)


@pytest.mark.parametrize("name", FORWARDS)
def test_raw_elementwise_kernels_may_write_over_their_input(name):
    # Each element is read before it is written: out may be the input itself.
    z = np.linspace(-3, 3, 13)
    expected = getattr(reference, name)(z.copy())
    getattr(_kernels, name)(z, z)
    np.testing.assert_allclose(z, expected, rtol=1e-12)


@pytest.mark.parametrize("written_over", ["grad", "x"])
@pytest.mark.parametrize("name", FORWARDS)
def test_raw_backward_kernels_may_write_over_either_input(name, written_over):
    # The gradient through an activation, element by element: out may be grad itself, or
    # the output a (the input z for an activation whose backward reads it).
    rng = np.random.default_rng(3)
    grad, z = rng.standard_normal(13), rng.standard_normal(13)
    x = z if registry.ACTIVATIONS[name].backward_reads == "input" else getattr(reference, name)(z)
    expected = getattr(reference, f"{name}_backward")(grad, x)
    out = grad if written_over == "grad" else x
    getattr(_kernels, f"{name}_backward")(grad, x, out)
    np.testing.assert_allclose(out, expected, rtol=1e-12, atol=1e-15)


def test_kernels_sparse_products_refuse_an_out_that_is_an_input():
    X, *_ = _csr_parts()
    b = _square(1)
    with pytest.raises(ValueError, match="shares memory"):
        kernels.sparse_matmul(X, b, out=b)
    with pytest.raises(ValueError, match="shares memory"):
        kernels.sparse_transpose_matmul(X, b, out=b)


# --- 4. values the raw entry points refuse --------------------------------------------------

def _small_problem(sparse=False):
    rng = np.random.default_rng(0)
    layers = np.array([3, 4, 1], dtype=np.intp)
    X = rng.standard_normal((10, 3))
    X[rng.random(X.shape) < 0.4] = 0
    Y = (X[:, :1] > 0).astype(np.float64)
    params = rng.standard_normal(n_parameters(layers)) * 0.5
    return layers, params, sp.csr_matrix(X) if sparse else X, Y


def _with_nan(X):
    X = X.copy()
    if sp.issparse(X):
        X.data[0] = np.nan
    else:
        X[2, 1] = np.nan
    return X


BAD_WEIGHTS = {"negative": [1.0] * 9 + [-1.0], "NaN": [1.0] * 9 + [np.nan],
               "inf": [1.0] * 9 + [np.inf], "all zero": [0.0] * 10}
BAD_VALUES = (
    [(f"sample_weight {k}", {"sample_weight": np.array(v)}, "sample_weight")
     for k, v in BAD_WEIGHTS.items()]
    + [(f"dropout {d}", {"dropout": d}, "dropout") for d in (1.0, -0.1, 1.5, np.nan)]
    + [("NaN in X", {"nan": True}, "NaN"), ("inf in X", {"inf": True}, "NaN")])


def _call(entry, backend, sparse, nan=False, inf=False, **kw):
    layers, params, X, Y = _small_problem(sparse)
    if nan or inf:
        X = _with_nan(X)
        if inf:
            (X.data if sparse else X)[np.isnan(X.data if sparse else X)] = np.inf
    module = engine.get_backend(backend)
    network = Network(layers, "relu", "logistic")
    if entry == "loss_and_gradient":
        return module.loss_and_gradient(params, network, X, Y, np.empty_like(params), **kw)
    if entry == "forward":
        return module.forward(params, network, X, np.empty((10, 1)))
    # A dropout out of range is refused when the spec is made, for both backends at once.
    _, training = specs(layers, "relu", "logistic", batch_size=4, shuffle=True, **kw)
    return module.train_epochs(params, network, training, X, Y, Progress(), 2)


@pytest.mark.parametrize("sparse", [False, True])
@pytest.mark.parametrize("backend", ["cython", "numpy"])
@pytest.mark.parametrize("entry", ["loss_and_gradient", "train_epochs"])
@pytest.mark.parametrize("case,kw,match", BAD_VALUES, ids=[c for c, _, _ in BAD_VALUES])
def test_raw_entry_points_refuse_bad_values(entry, backend, sparse, case, kw, match):
    # Both backends refuse the same inputs with the same error, so their tables agree.
    with pytest.raises(ValueError, match=match):
        _call(entry, backend, sparse, **kw)


@pytest.mark.parametrize("sparse", [False, True])
@pytest.mark.parametrize("backend", ["cython", "numpy"])
def test_raw_forward_refuses_non_finite_x(backend, sparse):
    with pytest.raises(ValueError, match="NaN"):
        _call("forward", backend, sparse, nan=True)


@pytest.mark.parametrize("sparse", [False, True])
def test_weights_with_zeros_but_not_all_zero_still_train_as_the_twin(sparse):
    # Zero weights inside a valid weight vector are the front ends' business (class_weight,
    # zero-weight batches): the entry points take them as they are.
    weights = np.array([0.0, 0, 0, 1, 2, 0, 1, 0, 3, 1])
    results = []
    for backend in ("cython", "numpy"):
        layers, params, X, Y = _small_problem(sparse)
        losses = engine.get_backend(backend).train_epochs(
            params, *specs(layers, "relu", "logistic", batch_size=10, sample_weight=weights),
            X, Y, Progress(), 5)[0]
        results.append((params, losses))
    np.testing.assert_allclose(results[0][0], results[1][0], rtol=1e-10)
    np.testing.assert_allclose(results[0][1], results[1][1], rtol=1e-10)


def _overlapping_training_calls(backend):
    """Raw loop calls whose written arrays overlap another argument; name -> call."""
    module = engine.get_backend(backend)
    layers, params, X, Y = _small_problem()
    buffer = np.concatenate([params, X.ravel()])
    p_in_x = buffer[:params.size]                      # params, then X right after it
    x_after = buffer[params.size:].reshape(X.shape)
    x_over = buffer[1:1 + X.size].reshape(X.shape)     # X starting inside params

    network = Network(layers, "relu", "logistic")

    def train(params, X, state=None, solver="sgd", best_params=None):
        kw = {} if best_params is None else dict(
            stopping=Stopping("score", best_params=best_params),
            validation=Validation(X, Y, score="accuracy_threshold"))
        _, training = specs(layers, "relu", "logistic", batch_size=4, solver=solver, **kw)
        if state is not None:
            training.optimizer.state = state
        return module.train_epochs(params, network, training, X, Y, Progress(), 2)

    state = np.zeros((2, params.size))
    return {
        "forward out in params": lambda: module.forward(
            params, network, X, params[:10].reshape(10, 1)),
        "loss_and_gradient grad=params": lambda: module.loss_and_gradient(
            params, network, X, Y, params),
        "loss_and_gradient grad over X": lambda: module.loss_and_gradient(
            params, network, x_over, Y, p_in_x),
        "train_epochs params over X": lambda: train(p_in_x, x_over),
        "train_epochs best_params = params": lambda: train(params, X, best_params=params),
        "train_epochs state over params": lambda: train(state[1], X, state=state,
                                                        solver="adam"),
        "train_epochs params next to X": lambda: train(p_in_x, x_after),
    }


@pytest.mark.parametrize("backend", ["cython", "numpy"])
@pytest.mark.parametrize("name", ["forward out in params", "loss_and_gradient grad=params",
                                  "loss_and_gradient grad over X", "train_epochs params over X",
                                  "train_epochs best_params = params",
                                  "train_epochs state over params"])
def test_raw_loop_refuses_written_arrays_that_overlap_another(backend, name):
    # The loops write params, grad, out, the optimizer's state and the best parameters while
    # they read the rest: an overlap trained or predicted on values changing under them.
    with pytest.raises(ValueError, match="shares memory"):
        _overlapping_training_calls(backend)[name]()


@pytest.mark.parametrize("backend", ["cython", "numpy"])
def test_raw_loop_accepts_arrays_that_are_adjacent_but_apart(backend):
    # One buffer holding params and X side by side is fine: nothing overlaps.
    _overlapping_training_calls(backend)["train_epochs params next to X"]()
