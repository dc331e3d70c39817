"""The worker process of tests/test_fuzz.py's crash-detecting harness.

The parent generates cases with hypothesis and pickles a batch of them to a file; this process
runs them one after another. Before each case it writes ``start <i>`` to a progress file, and
after it ``ok <i>``, ``refused <i>`` or ``fail <i> <why>``, flushing each line: when a case
kills the process (a segfault, an abort from a corrupted heap), the parent reads which case
was under way and names it, and the case can be run again on its own::

    python tests/_fuzz_worker.py --replay CASES.pkl INDEX

A case is a dict of plain numpy arrays and a few strings and numbers saying what to build from
them (a sparse matrix with corrupted structure, an ndarray subclass whose ``.shape`` lies, an
``out`` buffer overlapping an input): the hostile objects are built here, in the process that
may die of them. Every outcome must be a result equal to an independent computation (the
numpy twin in cnet.reference, numpy's dense product, the fit on the dense equivalent), with the
tolerance of ``_close``, or a ValueError/TypeError with a message; anything else is a failure.
"""
import pickle
import sys
import traceback
import warnings

import numpy as np
import scipy.sparse as sp

import cnet
from cnet import _cpu, kernels, reference, registry
from cnet import optimizer as optimizers
from cnet.spec import Network, Progress, Training

FLOATS = (np.float32, np.float64)


class Failure(Exception):
    """The code under test gave a wrong answer, accepted input it must refuse, or raised
    something other than ValueError/TypeError."""


class Lying(np.ndarray):
    """An ndarray whose ``.shape``, ``.strides``, ``.ndim`` or ``.dtype`` attribute claims
    something other than its buffer holds. The buffer protocol still exports the truth, so
    code that sizes its loops from the attribute reads or writes past the buffer."""

    def __getattribute__(self, name):
        claims = np.ndarray.__getattribute__(self, "__dict__").get("claims", {})
        if name in claims:
            return claims[name]
        return np.ndarray.__getattribute__(self, name)


def lying(array, **claims):
    """``array`` as a :class:`Lying` view making ``claims`` (attribute name to value)."""
    view = np.asarray(array).view(Lying)
    view.claims = claims
    return view


def truth(x):
    """A plain ndarray copy of x's real contents (whatever x's attributes claim)."""
    if isinstance(x, np.ndarray):
        return np.array(x.view(np.ndarray), copy=True)
    return x


def _close(got, expected, dtype, what, rtol=None):
    """Raise Failure unless got equals expected to within the dtype's tolerance: relative
    2e-4 for float32 and 1e-9 for float64, absolute that much of the largest expected value
    (sums of mixed signs cancel); NaN must be NaN in both."""
    got = np.asarray(got, dtype=np.float64)
    expected = np.asarray(expected, dtype=np.float64)
    if got.shape != expected.shape:
        raise Failure(f"{what}: shape {got.shape}, expected {expected.shape}")
    if rtol is None:
        rtol = 2e-4 if np.dtype(dtype) == np.float32 else 1e-9
    finite = expected[np.isfinite(expected)]
    scale = max(1.0, float(np.abs(finite).max())) if finite.size else 1.0
    ok = np.isclose(got, expected, rtol=rtol, atol=rtol * scale, equal_nan=True)
    if not ok.all():
        where = np.argwhere(~ok)[:3].tolist()
        raise Failure(f"{what}: wrong at {where}: got {got[~ok][:3]}, expected "
                      f"{expected[~ok][:3]} (rtol {rtol:g})")


def _call(fn, *args, **kwargs):
    """(True, result), or (False, exception) for a ValueError/TypeError that says something.
    Any other exception is a Failure."""
    try:
        return True, fn(*args, **kwargs)
    except (ValueError, TypeError) as exc:
        if not str(exc):
            raise Failure(f"{type(exc).__name__} without a message") from exc
        return False, exc
    except Failure:
        raise
    except Exception as exc:
        raise Failure(f"raised {type(exc).__name__}: {str(exc)[:300]}") from exc


def _twin(fn, *args, **kwargs):
    """(True, the numpy twin's answer on plain copies), or (False, the exception) where the
    twin cannot compute one (the input is inconsistent: then the compiled code must refuse
    it)."""
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        try:
            return True, fn(*args, **kwargs)
        except Exception as exc:
            return False, exc


# --- buffers that overlap -------------------------------------------------------------------

def overlapping(first, second_shape, shift, dtype):
    """(a, b): C-contiguous arrays of first's values and of shape second_shape, laid in one
    buffer with b starting ``shift`` elements after a (before it if negative)."""
    first = np.asarray(first, dtype=dtype)
    n_a, n_b = first.size, int(np.prod(second_shape))
    start_a, start_b = max(0, -shift), max(0, shift)
    buffer = np.zeros(max(start_a + n_a, start_b + n_b), dtype=dtype)
    a = buffer[start_a:start_a + n_a].reshape(first.shape)
    a[...] = first
    b = buffer[start_b:start_b + n_b].reshape(second_shape)
    return a, b


# --- sparse matrices with corrupted structure --------------------------------------------------

def build_sparse(case):
    """The sparse matrix a case describes: a valid matrix in case["format"], then its
    arrays or shape overwritten as case["corruption"] says, past scipy's constructor checks
    (as a raw constructor call with full_check off, or a later assignment, leaves them)."""
    dense = case["dense"]
    x = {"csr": sp.csr_matrix, "csc": sp.csc_matrix, "coo": sp.coo_matrix}[case["format"]](dense)
    if case.get("duplicates") and x.format != "coo" and x.nnz:
        # A valid, non-canonical matrix: one stored entry split in two halves.
        x.data = np.concatenate([x.data, x.data[:1] / 2])
        x.data[0] /= 2
        x.indices = np.concatenate([x.indices, x.indices[:1]])
        x.indptr = x.indptr.copy()
        x.indptr[1:] += 1
        order = np.concatenate([[x.nnz - 1], np.arange(x.nnz - 1)])
        # Entry 0's other half sits first in its row: move it there.
        x.data, x.indices = x.data[order], x.indices[order]
    kind, position, value = case["corruption"]
    # Which array each kind of corruption hits in each format.
    names = {"index": "col" if x.format == "coo" else "indices",
             "pointer": "row" if x.format == "coo" else "indptr", "data": "data"}
    if kind == "shape":
        x._shape = tuple(value)
    elif kind in names:
        array = getattr(x, names[kind]).copy()
        if array.dtype.kind in "iu" and not np.isfinite(value):
            array = array.astype(np.float64)    # NaN in integer data: as floats
        if array.size:
            array[position % array.size] = value
        setattr(x, names[kind], array)
    elif kind == "truncate":
        setattr(x, names["pointer"], getattr(x, names["pointer"])[:-1].copy())
    elif kind == "extend":
        x.data = np.concatenate([x.data, np.ones(1, dtype=x.data.dtype)])
    return x


def sparse_truth(x, finite=True):
    """The dense matrix x stands for, or None if x's structure is invalid or (if finite) a
    value is not finite: an independent check and conversion (plain loops), not scipy's."""
    try:
        n_rows, n_cols = (int(v) for v in x.shape)
    except (TypeError, ValueError):
        return None
    if n_rows < 0 or n_cols < 0 or finite and not np.isfinite(x.data).all():
        return None
    data = np.asarray(x.data, dtype=np.float64)
    dense = np.zeros((n_rows, n_cols))
    if x.format == "coo":
        row, col = np.asarray(x.row), np.asarray(x.col)
        if not (len(row) == len(col) == len(data)):
            return None
        for r, c, v in zip(row.tolist(), col.tolist(), data.tolist()):
            if not (0 <= r < n_rows and 0 <= c < n_cols):
                return None
            dense[r, c] += v
        return dense
    major, minor = (n_rows, n_cols) if x.format == "csr" else (n_cols, n_rows)
    indptr, indices = np.asarray(x.indptr).tolist(), np.asarray(x.indices).tolist()
    if len(indptr) != major + 1 or indptr[0] != 0 or len(indices) != len(data):
        return None
    if indptr[-1] > len(indices) or any(b < a for a, b in zip(indptr, indptr[1:])):
        return None
    for i in range(major):
        for p in range(indptr[i], indptr[i + 1]):
            j = indices[p]
            if not 0 <= j < minor:
                return None
            if x.format == "csr":
                dense[i, j] += data[p]
            else:
                dense[j, i] += data[p]
    return dense


def _sparse_product(case):
    x = build_sparse(case)
    expected_x = sparse_truth(x)
    transpose = case["op"] == "sparse_transpose_matmul"
    other = case["other"]
    out = None
    if case.get("out_is_other"):
        out = other
    ok, got = _call(getattr(kernels, case["op"]), x, other, out=out)
    if not ok:
        return "refused"
    if expected_x is None:
        raise Failure(f"{case['op']} accepted an invalid sparse matrix")
    with np.errstate(all="ignore"):
        expected = (expected_x.T if transpose else expected_x) @ np.asarray(
            case["other_copy"], dtype=np.float64)
    _close(got, expected, got.dtype, case["op"])
    return "ok"


def _sparse_fit(case):
    """Fit (then predict) on a corrupted sparse matrix: refused if it is invalid, else the
    same model as the fit on its dense equivalent (rtol 1e-6: the sparse and dense paths sum
    in different orders)."""
    x = build_sparse(case)
    expected_x = sparse_truth(x)
    make = {"MLPClassifier": lambda: cnet.MLPClassifier(hidden_layer_sizes=(3,), max_iter=2,
                                                      random_state=0),
            "MLPRegressor": lambda: cnet.MLPRegressor(hidden_layer_sizes=(3,), max_iter=2,
                                                    random_state=0),
            "NeuralNet": lambda: cnet.NeuralNet(layers=[case["dense"].shape[1], 3, 1],
                                                iterations=2, random_state=0)}[case["op"]]
    y = case["y"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if case["stage"] == "predict":
            model = make().fit(case["dense"], y)
            ok, got = _call(model.predict, x)
            if not ok:
                return "refused"
            if expected_x is None:
                raise Failure(f"{case['op']}.predict accepted an invalid sparse matrix")
            _close(got, model.predict(expected_x), np.float64, "predict", rtol=1e-6)
            return "ok"
        ok, model = _call(make().fit, x, y)
        if not ok:
            return "refused"
        if expected_x is None:
            raise Failure(f"{case['op']}.fit accepted an invalid sparse matrix")
        ok_dense, dense_model = _call(make().fit, expected_x, y)
        if not ok_dense:
            raise Failure(f"fit accepted the sparse matrix but refused its dense "
                          f"equivalent: {dense_model}")
        probe = np.asarray(expected_x)
        score = "predict_proba" if hasattr(model, "predict_proba") else "predict"
        _close(getattr(model, score)(probe), getattr(dense_model, score)(probe), np.float64,
               f"{case['op']}.fit on sparse against dense", rtol=1e-6)
    return "ok"


def _raw_sparse(case):
    """The raw kernels on CSR arrays given directly (corrupted or not)."""
    raw = _cpu.module("_kernels")
    data, indices, indptr = case["data"], case["indices"], case["indptr"]
    other, out = case["other"], case["out"]
    if case.get("out_is_other"):
        out = other
    before = truth(other)
    transpose = case["op"] == "sparse_transpose_matmul"
    ok, _ = _call(getattr(raw, case["op"]), data, indices, indptr, other, out)
    if not ok:
        return "refused"
    n_rows = before.shape[0] if transpose else out.shape[0]
    n_cols = out.shape[0] if transpose else before.shape[0]
    x = sp.csr_matrix((n_rows, n_cols))
    x.data, x.indices, x.indptr = data, indices, indptr
    # The raw kernels leave finiteness to cnet.kernels: NaN in, NaN out.
    expected_x = sparse_truth(x, finite=False)
    if expected_x is None:
        raise Failure(f"raw {case['op']} accepted invalid CSR arrays")
    expected = (expected_x.T if transpose else expected_x) @ before.astype(np.float64)
    _close(out, expected, out.dtype, f"raw {case['op']}")
    return "ok"


# --- kernels ------------------------------------------------------------------------------------

# Each kernel's arguments before ``out`` (or the in-place ones), and how the raw one returns.
# Every hidden activation and output/loss pair of the registry: a new entry is fuzzed by itself.
ELEMENTWISE = list(registry.ACTIVATIONS)
BACKWARDS = [f"{name}_backward" for name in ELEMENTWISE]
LOSSES = [entry.loss_kernel for entry in registry.OUTPUT_LOSSES.values()]
GRADS = [f"{name}_grad" for name in LOSSES]


def _kernel(case):
    """One kernel, raw (``cnet._kernels`` of the active build) or public (``cnet.kernels``),
    on inputs that may be Lying views and an out that may overlap an input."""
    name, api, dtype = case["name"], case["api"], case["dtype"]
    inputs = [np.asarray(a) for a in case["inputs"]]
    scalars = tuple(case.get("scalars", ()))
    out_shape = case.get("out_shape")
    alias = case.get("alias")          # (input index, shift): out overlaps that input
    out = None
    if out_shape is not None:
        out = np.zeros(out_shape, dtype=dtype)
        if alias is not None and inputs:
            index, shift = alias
            index %= len(inputs)
            inputs[index], out = overlapping(inputs[index], out_shape, shift,
                                             inputs[index].dtype)
    copies = [truth(a) for a in inputs]
    for index, claims in case.get("lies", {}).items():
        if index < len(inputs):
            inputs[index] = lying(inputs[index], **claims)
        elif out is not None:
            out = lying(out, **claims)
    module = _cpu.module("_kernels") if api == "raw" else kernels
    fn = getattr(module, name)
    if name == "matmul_uses_blas":
        _call(fn, *scalars)
        return "ok"
    if name == "dropout_mask":
        if api == "raw":
            ok, _ = _call(fn, out, *scalars)
            got = out
        else:
            ok, got = _call(fn, out_shape, *scalars, dtype=dtype)
        if not ok:
            return "refused"
        if not 0 <= scalars[0] < 1:
            raise Failure(f"dropout_mask accepted rate {scalars[0]}")
        got = truth(got)
        _close(got, reference.dropout_mask(got.shape, scalars[0], scalars[1], got.dtype),
               got.dtype, name)
        return "ok"
    if name in ("sgd_update", "momentum_update", "adam_update"):
        ok, _ = _call(fn, *inputs, *scalars)
        if not ok:
            return "refused"
        done, _ = _twin(getattr(reference, name), *copies, *scalars)
        if not done:
            raise Failure(f"{api} {name} accepted inputs the numpy twin cannot use")
        # The twin updated its copies in place: compare every buffer both wrote (all but the
        # gradient, argument 1).
        for position, (got, want) in enumerate(zip(inputs, copies)):
            if position != 1:
                _close(truth(got), want, want.dtype, f"{api} {name} argument {position}")
        return "ok"
    transposes = dict(zip(("trans_a", "trans_b"), scalars)) if "matmul" in name else {}
    if name in LOSSES:
        ok, got = _call(fn, *inputs)
    elif api == "raw":
        ok, _ = _call(fn, *inputs, out, *scalars)
        got = out
    else:
        ok, got = _call(fn, *inputs, out=out, **transposes)
        if ok and out is not None and got is not out:
            raise Failure(f"{name} did not return the out it was given")
    if not ok:
        return "refused"
    twin = {"exp_nonpositive": np.exp, "log1p_unit": np.log1p}.get(name)
    if twin is None:
        twin = reference.matmul if "matmul" in name else getattr(reference, name)
    got = truth(got)
    # A loss comes back as a Python float: its precision is the inputs'.
    work = np.result_type(*copies) if name in LOSSES else got.dtype
    done, expected = _twin(twin, *[np.asarray(c, dtype=work) for c in copies], **transposes)
    if not done:
        raise Failure(f"{api} {name} accepted inputs the numpy twin cannot use")
    _close(got, expected, work, f"{api} {name}")
    return "ok"


# --- the training loop's entry points -----------------------------------------------------------

def _raw_train(case):
    """train_epochs, loss_and_gradient, forward or epoch_order of the active build on a small
    network, with the hostile variations the case names; the twin in cnet.reference decides."""
    train = _cpu.module("_train")
    entry = case["entry"]
    if entry == "epoch_order":
        seed, epoch, n = case["order"]
        ok, got = _call(train.epoch_order, seed, epoch, n)
        if not ok:
            return "refused"
        if n < 0:
            raise Failure(f"epoch_order accepted n = {n}")
        # The loop's epoch counter enters the keys modulo 2**64, as the twin's uint64 does.
        _close(got, reference.epoch_order(seed, epoch % 2 ** 64, n), np.float64,
               "epoch_order")
        return "ok"
    params, layers, X, Y = (np.array(case[k]) for k in ("params", "layers", "X", "Y"))
    activation, output = case["activation"], case["output"]
    sample_weight, dropout = case.get("sample_weight"), case.get("dropout", 0.0)
    tile = case.get("tile", 1)
    if tile > 1:
        # Many rows, sent as a few and a repeat count; a one-row X that lies stays one row.
        Y = np.tile(Y, (tile, 1))
        if X.shape[0] > 1:
            X = np.tile(X, (tile, 1))
        if sample_weight is not None:
            sample_weight = np.tile(sample_weight, tile)
    copies = {"params": truth(params), "X": truth(X), "Y": truth(Y),
              "sample_weight": truth(sample_weight)}
    if case.get("X_lies"):
        X = lying(X, **case["X_lies"])
    must_refuse = []
    if sample_weight is not None and sample_weight.size and (
            not np.isfinite(sample_weight).all() or (sample_weight < 0).any()
            or sample_weight.sum() <= 0):
        must_refuse.append(f"sample_weight {sample_weight}")
    if entry == "loss_and_gradient":
        if not 0 <= dropout < 1:
            must_refuse.append(f"dropout {dropout}")
        if X.size and not np.isfinite(copies["X"]).all():
            must_refuse.append("non-finite X")
        grad = np.zeros_like(params)
        if case.get("alias") == "grad_is_params":
            grad = params
        ok, loss = _call(lambda: train.loss_and_gradient(
            params, _network(layers, activation, output, params.dtype), X, Y, grad,
            sample_weight=sample_weight, dropout=dropout, dropout_seed=case["seed"],
            alpha=case["alpha"]))
        if not ok:
            return "refused"
        if must_refuse:
            raise Failure(f"loss_and_gradient accepted {must_refuse}")
        want_grad = np.zeros_like(copies["params"])
        done, want = _twin(lambda: reference.loss_and_gradient(
            copies["params"], _network(copies_layers(layers), activation, output,
                                       params.dtype), copies["X"], copies["Y"], want_grad,
            sample_weight=copies["sample_weight"], dropout=dropout, dropout_seed=case["seed"],
            alpha=case["alpha"]))
        if not done:
            raise Failure("loss_and_gradient accepted inputs the numpy twin cannot use")
        _close(loss, want, params.dtype, "loss")
        _close(grad, want_grad, params.dtype, "gradient")
        return "ok"
    if entry == "forward":
        out = np.zeros(case["out_shape"], dtype=params.dtype)
        if case.get("alias") == "out_is_X":
            out = X
        ok, _ = _call(lambda: train.forward(
            params, _network(layers, activation, output, params.dtype), X, out))
        if not ok:
            return "refused"
        want = np.zeros(np.shape(truth(out)), dtype=params.dtype)
        done, _ = _twin(lambda: reference.forward(
            copies["params"], _network(copies_layers(layers), activation, output,
                                       params.dtype), copies["X"], want))
        if not done or want.shape[0] != copies["X"].shape[0]:
            raise Failure("forward accepted inputs the numpy twin cannot use")
        _close(truth(out), want, params.dtype, "forward")
        return "ok"
    # train_epochs
    state = case.get("state")
    state_copy = truth(state)
    if state is not None and case.get("state_lies"):
        state = lying(state, **case["state_lies"])
    if not 0 <= dropout < 1:
        must_refuse.append(f"dropout {dropout}")

    def run(module, params, layers, X, Y, sample_weight, state):
        network = _network(layers, activation, output, params.dtype)
        optimizer = optimizers.make(case["solver"], params.size, params.dtype,
                                    case["learning_rate"],
                                    **({"momentum": case["momentum"], "nesterov": False}
                                       if case["solver"] == "sgd" else {}))
        optimizer.state = state
        training = Training(optimizer, batch_size=case["batch_size"],
                            shuffle=case["shuffle"], seed=case["seed"], loss_every=1,
                            alpha=case["alpha"], dropout=dropout, sample_weight=sample_weight)
        result = module.train_epochs(params, network, training, X, Y, Progress(),
                                     case["n_epochs"])
        return result + (optimizer.step_count,)

    ok, result = _call(run, train, params, layers, X, Y, sample_weight, state)
    if not ok:
        return "refused"
    if must_refuse:
        raise Failure(f"train_epochs accepted {must_refuse}")
    want_params = copies["params"].copy()
    # The loop refuses a state of the wrong shape even where it keeps none (plain SGD
    # without momentum or penalty), so the twin gets the same copy.
    done, want = _twin(run, reference, want_params, copies_layers(layers), copies["X"],
                       copies["Y"], copies["sample_weight"], state_copy)
    if isinstance(want, ZeroDivisionError):
        # A batch whose weights sum to zero: what it should do is issue 15's item 6, which
        # the twin does not define yet; here only the absence of a crash is checked.
        return "ok"
    if not done or np.shape(state_copy) != (2, params.size):
        raise Failure("train_epochs accepted inputs the numpy twin cannot use")
    # Thousands of steps (a many-row epoch of batch 1) accumulate rounding differences.
    steps = case["n_epochs"] * -(-copies["X"].shape[0] // case["batch_size"])
    rtol = (2e-3 if params.dtype == np.float32 else 1e-7) * (1 if steps <= 64 else 100)
    _close(params, want_params, params.dtype, "params after train_epochs", rtol=rtol)
    # Whole epochs, interrupted, stopped, and the optimizer's step count.
    if tuple(result[3:]) != tuple(want[3:]):
        raise Failure(f"train_epochs returned {result[3:]}, the twin {want[3:]}")
    return "ok"


def copies_layers(layers):
    return [int(u) for u in np.asarray(layers)]


def _network(layers, activation, output, dtype):
    """The spec's Network, or the ValueError/TypeError its checks raise (which _call and
    _twin report as a refusal)."""
    return Network(layers, activation, output, dtype=dtype)


FAMILIES = {"sparse_product": _sparse_product, "sparse_fit": _sparse_fit,
            "raw_sparse": _raw_sparse, "kernel": _kernel, "raw_train": _raw_train}


def run_case(case):
    """Run one case on the compiled build it names; returns "ok" or "refused", raises
    Failure otherwise."""
    with _cpu.using(case["variant"]), warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        try:
            return FAMILIES[case["family"]](case)
        except Failure:
            raise
        except Exception as exc:
            raise Failure(f"the harness itself raised {type(exc).__name__}: {exc}\n"
                          f"{traceback.format_exc(limit=4)}") from exc


def describe(case):
    """A short, readable account of a case, for failure messages."""
    with np.printoptions(threshold=40, edgeitems=3, precision=4):
        return ", ".join(f"{k}={v!r}" for k, v in case.items())


def main(argv):
    if argv[0] == "--replay":
        with open(argv[1], "rb") as f:
            case = pickle.load(f)[int(argv[2])]
        print(describe(case))
        print(run_case(case))
        return 0
    cases_file, progress_file, first = argv[0], argv[1], int(argv[2])
    with open(cases_file, "rb") as f:
        cases = pickle.load(f)
    with open(progress_file, "a", buffering=1) as progress:
        for i in range(first, len(cases)):
            progress.write(f"start {i}\n")
            progress.flush()
            try:
                outcome = run_case(cases[i])
            except Failure as exc:
                message = str(exc).replace("\n", " | ")
                progress.write(f"fail {i} {message}\n")
            else:
                progress.write(f"{outcome} {i}\n")
            progress.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
