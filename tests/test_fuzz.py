"""Property-based fuzzing of the kernels, the training loop's raw entry points and the
estimators (hypothesis).

Every generated case must either give an independent computation's result (the numpy twin
in cnet.reference, numpy's dense product, the fit on the dense equivalent) or raise a
ValueError or TypeError; anything else (another exception, a wrong answer, NaN where the twin
has none) fails.

The hostile cases (raw compiled entry points, sparse matrices with corrupted structure,
ndarray subclasses whose ``.shape`` lies, ``out`` buffers overlapping an input) run under a
crash-detecting harness: hypothesis generates a batch of cases here, a worker process
(tests/_fuzz_worker.py) runs them, and a worker killed by a signal fails the test naming the
case it was running and the command that runs that case again. The older, in-process
properties of the public kernels and estimators follow them.

CNET_FUZZ_EXAMPLES sets the number of cases per test (unset: 150 for the in-process tests
and each harness test's CI sample below, about a minute in all on each compiled build the CPU
supports); ``scripts/fuzz.sh`` runs 20,000 per test on demand.
"""
import functools
import os
import pickle
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import warnings
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
import scipy.sparse as sp

import cnet
from cnet import kernels, reference

import _fuzz_worker as _worker
import registry_rows

EXAMPLES = int(os.environ.get("CNET_FUZZ_EXAMPLES", "150"))
FLOATS = (np.float32, np.float64)
# The cpu_variant fixture only selects a compiled build; nothing in it needs resetting between
# examples, so hypothesis's warning about function-scoped fixtures does not apply.
FUZZ = settings(max_examples=EXAMPLES, deadline=None, derandomize=True,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                       HealthCheck.function_scoped_fixture])

# Every property runs on each compiled build this CPU supports (conftest.cpu_variant).
pytestmark = pytest.mark.usefixtures("cpu_variant")


# --- the crash-detecting harness -------------------------------------------------------------

WORKER = Path(__file__).with_name("_fuzz_worker.py")
# Cases per harness test in CI, unless CNET_FUZZ_EXAMPLES says otherwise: the sparse fits are
# the slow ones (two fits each).
CI_CASES = {"kernels": 400, "raw_train": 300, "sparse": 300, "sparse_fit": 120}
# A worker that reports no progress for this long is hung on the case under way (valgrind,
# which runs the worker 20-50 times slower, raises it).
HANG_SECONDS = float(os.environ.get("CNET_FUZZ_HANG_SECONDS", "120"))
# A command the worker runs under (scripts/memcheck.sh: valgrind), split as the shell would.
WRAPPER = shlex.split(os.environ.get("CNET_FUZZ_WRAPPER", ""))
# Stop a test after this many crashes, and show this many failures of each kind: the first
# few name the bug (scripts/fuzz.sh raises it to see them all).
MAX_FAILURES = int(os.environ.get("CNET_FUZZ_MAX_FAILURES", "5"))


def _cases_for(test):
    return int(os.environ.get("CNET_FUZZ_EXAMPLES", CI_CASES[test]))


def _generate(strategy, n):
    """n cases drawn by hypothesis (derandomized, so every run draws the same ones)."""
    cases = []

    @settings(max_examples=n, deadline=None, derandomize=True, database=None,
              phases=[Phase.generate], suppress_health_check=list(HealthCheck))
    @given(strategy)
    def collect(case):
        cases.append(case)

    collect()
    return cases


def _worker_env():
    # The worker must import the cnet this test imported (installed, or built in place).
    env = dict(os.environ)
    root = str(Path(cnet.__file__).resolve().parent.parent)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (root, env.get("PYTHONPATH")) if p)
    return env


def _run_worker(args, progress, log):
    """Run the worker until it exits or makes no progress for HANG_SECONDS; its return code,
    or None if it hung and was killed."""
    with open(log, "ab") as err:
        proc = subprocess.Popen([*WRAPPER, sys.executable, "-X", "faulthandler", str(WORKER),
                                 *args],
                                env=_worker_env(), stdout=err, stderr=err)
        last, seen = time.monotonic(), -1
        while proc.poll() is None:
            time.sleep(0.05)
            size = progress.stat().st_size if progress.exists() else 0
            if size != seen:
                last, seen = time.monotonic(), size
            elif time.monotonic() - last > HANG_SECONDS:
                proc.kill()
                proc.wait()
                return None
        return proc.returncode


def _how_it_ended(code):
    if code is None:
        return f"hung (no progress for {HANG_SECONDS} s)"
    if code < 0:
        return f"killed by {signal.Signals(-code).name}"
    return f"exited with status {code}"


def run_batch(cases, tmp_path, label):
    """Run cases in worker processes; fail naming every case that crashed, hung, gave a
    wrong answer or raised the wrong thing."""
    cases_file = tmp_path / f"{label}.pkl"
    progress = tmp_path / f"{label}.progress"
    log = tmp_path / f"{label}.log"
    with open(cases_file, "wb") as f:
        pickle.dump(cases, f)
    crashes, failures, first = [], [], 0
    while first < len(cases) and len(crashes) < MAX_FAILURES:
        code = _run_worker([str(cases_file), str(progress), str(first)], progress, log)
        lines = progress.read_text().splitlines()
        started = [int(line.split()[1]) for line in lines if line.startswith("start ")]
        finished = {int(line.split()[1]) for line in lines if not line.startswith("start ")}
        if code == 0:
            break
        under_way = [i for i in started if i not in finished and i >= first]
        if not under_way:
            crashes.append(f"the worker {_how_it_ended(code)} outside any case; log: {log}")
            break
        i = under_way[-1]
        # Heap corruption can surface a few cases after the one that caused it: say whether
        # this case crashes on its own.
        alone = _run_worker(["--replay", str(cases_file), str(i)], tmp_path / "none", log)
        again = ("and again when run alone" if alone != 0
                 else "but not when run alone (an earlier case in the batch may have "
                      "corrupted memory)")
        crashes.append(f"case {i}: the worker {_how_it_ended(code)} {again}\n"
                        f"  {_worker.describe(cases[i])}\n  reproduce: {{replay}} {i}")
        progress.open("a").write(f"crash {i}\n")
        first = i + 1
    lines = progress.read_text().splitlines()
    if crashes or any(line.startswith("fail ") for line in lines):
        # pytest deletes old temporary folders (other runs' too): the cases that the
        # reproduce commands read go where nothing cleans them up.
        kept = Path(tempfile.mkdtemp(prefix=f"cnet-fuzz-{label}-")) / cases_file.name
        shutil.copy(cases_file, kept)
        replay = (f"PYTHONPATH={_worker_env()['PYTHONPATH']} {sys.executable} {WORKER} "
                  f"--replay {kept}")
        crashes = [c.replace("{replay}", replay) for c in crashes]
    for line in lines:
        if line.startswith("fail "):
            _, i, why = line.split(" ", 2)
            failures.append(f"case {i}: {why}\n  {_worker.describe(cases[int(i)])}\n"
                            f"  reproduce: {replay} {i}")
    outcomes = Counter(line.split()[0] for line in lines if not line.startswith("start "))
    print(f"{label}: {len(cases)} cases: {dict(outcomes)}")
    assert not crashes + failures, (
        f"{len(crashes)} crash(es) and {len(failures)} other failure(s) in {len(cases)} cases "
        f"({dict(outcomes)}):\n" + "\n".join(crashes[:MAX_FAILURES] + failures[:MAX_FAILURES]))


def _float_array(draw, shape, dtype, low=-5.0, high=5.0):
    return draw(hnp.arrays(dtype, shape, elements=st.floats(low, high, width=32)))


# Lies an ndarray subclass can tell about itself: sizes larger and smaller than its buffer,
# other ranks, negative sizes, strides that point elsewhere, another dtype.
@st.composite
def lies(draw, shape):
    kind = draw(st.sampled_from(["shape", "shape", "shape", "strides", "dtype", "ndim"]))
    if kind == "shape":
        grow = draw(st.sampled_from([0, 1, 7, 1000, 10 ** 6]))
        side = draw(st.integers(0, max(len(shape) - 1, 0)))
        claimed = list(shape) or [1]
        claimed[side] = draw(st.sampled_from([claimed[side] + grow, 0, -1]))
        if draw(st.integers(0, 4)) == 0:
            claimed = claimed[:1] + [draw(st.integers(1, 9))] * 2
        return {"shape": tuple(claimed)}
    if kind == "strides":
        return {"strides": tuple(draw(st.sampled_from([0, 8, -8, 4096, 1 << 30]))
                                 for _ in shape)}
    if kind == "dtype":
        return {"dtype": np.dtype(draw(st.sampled_from([np.float32, np.float64, np.int64])))}
    return {"ndim": draw(st.sampled_from([0, 1, 2, 3]))}


def _resize(draw, shape):
    """Mostly shape itself; sometimes one side off by one (or empty)."""
    if draw(st.integers(0, 7)):
        return tuple(shape)
    shape = list(shape)
    side = draw(st.integers(0, len(shape) - 1))
    shape[side] = max(0, shape[side] + draw(st.sampled_from([-1, 1])))
    return tuple(shape)


RAW_ONLY = ["matmul_small", "matmul_blas", "exp_nonpositive", "log1p_unit", "matmul_uses_blas"]
KERNEL_NAMES = (["matmul", "bias_add", "bias_grad", "softmax", "sgd_update", "momentum_update",
                 "adam_update", "dropout_mask"] + _worker.ELEMENTWISE + _worker.BACKWARDS
                + _worker.LOSSES + _worker.GRADS)


@st.composite
def kernel_cases(draw, variant):
    """A kernel, raw or public, on float inputs of (mostly) fitting shapes; sometimes an input
    or out that lies about its shape, an out overlapping an input, a mismatched dtype."""
    api = draw(st.sampled_from(["raw", "public"]))
    name = draw(st.sampled_from(KERNEL_NAMES + (RAW_ONLY if api == "raw" else [])))
    dtype = np.dtype(draw(st.sampled_from(FLOATS)))
    r, c = draw(st.integers(1, 5)), draw(st.integers(1, 5))
    one_d = (draw(st.integers(1, 9)),)
    elementwise_shape = one_d if api == "raw" else (r, c)
    scalars, out_shape = (), None
    if name in ("matmul", "matmul_small", "matmul_blas"):
        m, k, n = r, c, draw(st.integers(1, 5))
        trans_a, trans_b = draw(st.booleans()), draw(st.booleans())
        shapes = [(k, m) if trans_a else (m, k), (n, k) if trans_b else (k, n)]
        out_shape, scalars = (m, n), (trans_a, trans_b)
    elif name == "bias_add":
        shapes, out_shape = [(r, c), (r,)], (r, c)
    elif name == "bias_grad":
        shapes, out_shape = [(r, c)], (r,)
    elif name in ("softmax",) or name in _worker.GRADS:
        shapes = [(r, c)] * (1 if name == "softmax" else 2)
        out_shape = (r, c)
    elif name in _worker.LOSSES:
        shapes = [(r, c)] * 2
    elif name in _worker.ELEMENTWISE + ["exp_nonpositive", "log1p_unit"]:
        shapes, out_shape = [elementwise_shape], elementwise_shape
    elif name in _worker.BACKWARDS:
        shapes, out_shape = [elementwise_shape] * 2, elementwise_shape
    elif name == "sgd_update":
        shapes, scalars = [one_d] * 2, (draw(st.sampled_from([0.1, -1.0, np.nan])),)
    elif name == "momentum_update":
        shapes = [one_d] * 3
        scalars = (0.1, draw(st.sampled_from([0.0, 0.9])), draw(st.booleans()))
    elif name == "adam_update":
        shapes, scalars = [one_d] * 4, (1e-3, 0.9, 0.999, 1e-8)
    elif name == "dropout_mask":
        shapes, out_shape = [], elementwise_shape
        scalars = (draw(st.sampled_from([0.0, 0.5, 0.99, 1.0, -0.5, np.nan])),
                   draw(st.integers(0, 2 ** 64 - 1)))
    else:   # matmul_uses_blas
        shapes = []
        scalars = tuple(draw(st.sampled_from([-1, 0, 1, 64, 2 ** 31, 2 ** 62])) for _ in "mnk")
    low, high = {"exp_nonpositive": (-50.0, 0.0), "log1p_unit": (0.0, 1.0)}.get(name, (-5, 5))
    inputs = [_float_array(draw, _resize(draw, shape), dtype, low, high) for shape in shapes]
    if name == "adam_update":
        inputs[3] = np.abs(inputs[3])
    if api == "raw" and inputs and draw(st.integers(0, 19)) == 0:
        inputs[0] = inputs[0].astype(np.float32 if dtype == np.float64 else np.float64)
    case = {"family": "kernel", "variant": variant, "api": api, "name": name,
            "dtype": dtype, "inputs": inputs, "scalars": scalars,
            "out_shape": None if out_shape is None else _resize(draw, out_shape)}
    if out_shape is not None and inputs and draw(st.integers(0, 2)) == 0:
        row = shapes[0][-1]
        case["alias"] = (draw(st.integers(0, len(inputs) - 1)),
                         draw(st.sampled_from([0, 0, 1, -1, row, -row])))
    if draw(st.integers(0, 3)) == 0:
        target = draw(st.integers(0, len(inputs)))
        shape = inputs[target].shape if target < len(inputs) else (out_shape or (1,))
        case["lies"] = {target: draw(lies(shape))}
    return case


@st.composite
def sparse_matrices(draw, n_rows=None, n_cols=None):
    """The parts of a sparse matrix for build_sparse: a dense matrix with zeros, a format,
    maybe duplicate entries, and one corruption of its arrays or shape (or none)."""
    n_rows = n_rows or draw(st.integers(1, 5))
    n_cols = n_cols or draw(st.integers(1, 5))
    dense = _float_array(draw, (n_rows, n_cols), np.float64)
    dense[draw(hnp.arrays(np.bool_, (n_rows, n_cols)))] = 0
    dtype = draw(st.sampled_from([np.float64, np.float32, np.int64]))
    kind = draw(st.sampled_from(["none", "none", "index", "index", "pointer", "pointer", "data",
                                 "shape", "truncate", "extend"]))
    position = draw(st.integers(0, 20))
    value = {
        "none": None,
        "index": draw(st.sampled_from([-1, -(10 ** 9), n_cols, n_rows, 10 ** 6, 2 ** 31 - 1])),
        "pointer": draw(st.sampled_from([-1, 0, 1, 10 ** 6, 2 ** 31 - 1, -(10 ** 9)])),
        "data": draw(st.sampled_from([np.nan, np.inf, -np.inf, 0.5])),
        "shape": (draw(st.integers(-1, 7)), draw(st.integers(-1, 7))),
        "truncate": None, "extend": None}[kind]
    return {"dense": dense.astype(dtype), "format": draw(st.sampled_from(["csr", "csc", "coo"])),
            "duplicates": draw(st.booleans()), "corruption": (kind, position, value)}


@st.composite
def sparse_cases(draw, variant):
    """A sparse product, public (any format) or raw (CSR arrays given directly)."""
    op = draw(st.sampled_from(["sparse_matmul", "sparse_transpose_matmul"]))
    square = draw(st.booleans())
    n = draw(st.integers(1, 5))
    matrix = draw(sparse_matrices(n, n if square else None))
    n_rows, n_cols = matrix["dense"].shape
    p = draw(st.integers(1, 3))
    dtype = np.dtype(draw(st.sampled_from(FLOATS)))
    other = _float_array(draw, _resize(draw, (n_rows if op.startswith("sparse_t") else n_cols,
                                              p)), dtype)
    out_is_other = square and draw(st.booleans())
    if draw(st.booleans()):
        case = dict(matrix, family="sparse_product", variant=variant, op=op, other=other,
                    other_copy=other.copy(), out_is_other=out_is_other)
        return case
    # Raw: the CSR arrays of the matrix, corrupted directly.
    x = sp.csr_matrix(matrix["dense"].astype(dtype))
    arrays = {"data": x.data.copy(), "indices": x.indices.astype(np.intp),
              "indptr": x.indptr.astype(np.intp)}
    kind, position, value = matrix["corruption"]
    name = {"index": "indices", "pointer": "indptr", "data": "data"}.get(kind)
    if name and arrays[name].size:
        arrays[name][position % arrays[name].size] = value
    elif kind == "truncate":
        arrays["indptr"] = arrays["indptr"][:-1]
    out_rows = n_cols if op.startswith("sparse_t") else n_rows
    out = np.zeros(_resize(draw, (out_rows, p)), dtype=dtype)
    return dict(arrays, family="raw_sparse", variant=variant, op=op, other=other, out=out,
                out_is_other=out_is_other and other.shape == out.shape)


@st.composite
def sparse_fit_cases(draw, variant):
    """fit (or predict after a dense fit) of an estimator or NeuralNet on a sparse matrix."""
    matrix = draw(sparse_matrices(draw(st.integers(2, 6))))
    op = draw(st.sampled_from(["MLPClassifier", "MLPRegressor", "NeuralNet"]))
    n = matrix["dense"].shape[0]
    y = (np.arange(n) % 2 if op != "MLPRegressor"
         else _float_array(draw, (n,), np.float64))
    return dict(matrix, family="sparse_fit", variant=variant, op=op, y=y,
                stage=draw(st.sampled_from(["fit", "predict"])))


# Targets of the kind each registry output/loss pair takes.
TARGETS = {output: functools.partial(registry_rows.targets, output=output)
           for output in registry_rows.OUTPUTS}


@st.composite
def raw_train_cases(draw, variant):
    """train_epochs, loss_and_gradient, forward or epoch_order on a small network, with
    hostile variations: X or state lying about its shape, NaN in X, bad sample weights or
    dropout rates, grad or out aliasing params or X, parameter counts that do not fit."""
    entry = draw(st.sampled_from(["train_epochs", "train_epochs", "loss_and_gradient",
                                  "loss_and_gradient", "forward", "epoch_order"]))
    if entry == "epoch_order":
        return {"family": "raw_train", "variant": variant, "entry": entry,
                "order": (draw(st.integers(0, 2 ** 64 - 1)), draw(st.integers(-5, 5)),
                          draw(st.sampled_from([-1, 0, 1, 2, 7, 100, 2 ** 62])))}
    rng = np.random.default_rng(draw(st.integers(0, 2 ** 32 - 1)))
    dtype = np.dtype(draw(st.sampled_from(FLOATS)))
    layers = [draw(st.integers(1, 4)) for _ in range(draw(st.integers(2, 4)))]
    output = draw(st.sampled_from(sorted(TARGETS)))
    lie = draw(st.sampled_from([None, None, "any", "smaller", "smaller"]))
    # Mostly tiny; a lying X often has many rows, so that a loop sized by its .shape runs far
    # past its one-row buffer.
    n = draw(st.sampled_from([0, 1, 2, 3, 5, 8] + ([200_000] * 4 if lie == "smaller"
                                                   else [3000])))
    # Many rows are sent as 8 rows and a repeat count, which the worker tiles: 20,000 cases
    # of 200,000 rows would not fit in memory here.
    n_rows, tile = (n, 1) if n <= 8 else (8, n // 8)
    n_params = sum(a * b + b for a, b in zip(layers, layers[1:]))
    n_params += draw(st.sampled_from([0] * 9 + [-1, 1]))
    X = (rng.standard_normal((n_rows, layers[0])) * 2).astype(dtype)
    if draw(st.integers(0, 6)) == 0 and X.size:
        X.flat[draw(st.integers(0, X.size - 1))] = draw(st.sampled_from([np.nan, np.inf]))
    if draw(st.integers(0, 19)) == 0:
        X = X.astype(np.float32 if dtype == np.float64 else np.float64)
    weights = draw(st.sampled_from([None] * 6 + ["positive", "some zero", "all zero",
                                                 "negative", "nan", "inf", "short"]))
    sample_weight = None
    if weights is not None:
        sample_weight = rng.uniform(0.5, 2.0, max(0, n_rows - (weights == "short"))
                                    ).astype(dtype)
        if sample_weight.size:
            spot = rng.integers(0, sample_weight.size)
            sample_weight[spot] = {"positive": sample_weight[spot], "some zero": 0,
                                   "all zero": 0, "negative": -1, "nan": np.nan,
                                   "inf": np.inf, "short": 1}[weights]
            if weights == "all zero":
                sample_weight[:] = 0
    case = {"family": "raw_train", "variant": variant, "entry": entry,
            "params": (rng.standard_normal(max(n_params, 0)) * 0.5).astype(dtype),
            "layers": np.array(layers, dtype=np.intp), "X": X,
            "Y": TARGETS[output](rng, n_rows, layers[-1]).astype(dtype), "tile": tile,
            "activation": draw(st.sampled_from(registry_rows.ACTIVATIONS)),
            "output": output, "sample_weight": sample_weight,
            "dropout": draw(st.sampled_from([0.0] * 6 + [0.3, -0.1, 1.0, 1.5, np.nan])),
            "alpha": draw(st.sampled_from([0.0, 1e-3])), "seed": draw(st.integers(0, 1000))}
    if lie == "any":
        case["X_lies"] = draw(lies(X.shape))
    elif lie == "smaller" and X.size:
        # The attack that gets past every other check: a buffer with fewer rows or columns
        # than the shape it claims, which fits the network and Y.
        case["X_lies"] = {"shape": (n, X.shape[1])}
        rows = draw(st.booleans()) or X.shape[1] == 1
        case["X"] = np.ascontiguousarray(X[:1] if rows else X[:, :-1])
    if entry == "loss_and_gradient" and draw(st.integers(0, 9)) == 0:
        case["alias"] = "grad_is_params"
    if entry == "forward":
        case["out_shape"] = _resize(draw, (n, layers[-1]))
        if draw(st.integers(0, 9)) == 0:
            case["alias"] = "out_is_X"
    if entry == "train_epochs":
        solver = draw(st.sampled_from(["sgd", "adam"]))
        momentum = draw(st.sampled_from([0.0, 0.9]))
        case.update(solver=solver, momentum=momentum, learning_rate=0.1,
                    n_epochs=draw(st.integers(1, 2)), batch_size=draw(st.integers(1, 9)),
                    shuffle=draw(st.booleans()))
        state_shape = draw(st.sampled_from([(2, n_params)] * 4 + [(2, 1), (1, n_params),
                                                                   (3, n_params)]))
        case["state"] = np.zeros((max(state_shape[0], 0), max(state_shape[1], 0)), dtype=dtype)
        if draw(st.integers(0, 2)) == 0:
            case["state_lies"] = {"shape": (2, n_params)}
    return case


HARNESS = {"kernels": kernel_cases, "raw_train": raw_train_cases, "sparse": sparse_cases,
           "sparse_fit": sparse_fit_cases}


@pytest.mark.parametrize("test", sorted(HARNESS))
def test_fuzz_in_worker(test, cpu_variant, tmp_path):
    """Raw and public kernels, the training loop's raw entry points, sparse products and
    sparse fits, each case in a worker process: no crash, hang, wrong answer or stray
    exception."""
    cases = _generate(HARNESS[test](cpu_variant), _cases_for(test))
    run_batch(cases, tmp_path, f"{test}-{cpu_variant}")

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


ELEMENTWISE = registry_rows.FORWARDS
BACKWARDS = registry_rows.BACKWARDS
PAIRS = registry_rows.GRADS


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
